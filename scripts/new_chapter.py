"""Create a chapter notebook that starts with the shared set-up cell.

Usage: python scripts/new_chapter.py book/my_chapter.ipynb "My chapter title"
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SETUP_CELL = (ROOT / "book" / "_templates" / "setup_cell.py").read_text().strip()


def new_chapter(path: Path, title: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell(SETUP_CELL)
    setup.metadata["tags"] = ["qkv-setup", "remove-cell"]
    nb.cells = [setup, nbformat.v4.new_markdown_cell(f"# {title}\n")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, title = Path(argv[1]), argv[2]
    if path.exists():
        print(f"new_chapter: {path} exists; not overwriting", file=sys.stderr)
        return 1
    nbformat.write(new_chapter(path, title), path)
    print(f"new_chapter: wrote {path}; add it to _toc.yml once it holds real content")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
