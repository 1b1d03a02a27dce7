"""Create a chapter notebook that starts with the shared set-up cell, or rewrite that cell everywhere.

Usage: python scripts/new_chapter.py book/my_chapter.ipynb "My chapter title"
       python scripts/new_chapter.py --sync    # after editing book/_templates/setup_cell.py or the repository URL

The set-up cell is book/_templates/setup_cell.py with `{repository_url}` replaced by `repository.url` from
_config.yml, the one place the URL is written (the launch buttons read it there too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from booktoc import chapter_notebooks, setup_cell  # noqa: E402


def new_chapter(path: Path, title: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell(setup_cell())
    setup.metadata["tags"] = ["qkv-setup", "remove-cell"]
    nb.cells = [setup, nbformat.v4.new_markdown_cell(f"# {title}\n")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def sync() -> int:
    """Rewrite the first cell of every chapter in _toc.yml from the template; says which changed."""
    for path in chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        if first.cell_type != "code" or "qkv-setup" not in first.metadata.get("tags", []):
            print(f"new_chapter: {path.name} does not start with a 'qkv-setup' cell; fix it by hand", file=sys.stderr)
            return 1
        if first.source.strip() != setup_cell():
            # Edit the JSON itself rather than nbformat.write, which would also renumber and reorder the rest.
            raw = json.loads(path.read_text())
            raw["cells"][0]["source"] = setup_cell().splitlines(keepends=True)
            path.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n")
            print(f"new_chapter: rewrote the set-up cell of {path.name}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "--sync":
        return sync()
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
