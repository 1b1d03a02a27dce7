"""Where the book is and which pages `_toc.yml` lists (shared by the test groups)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _toc_entries(node) -> list[str]:
    """Every `file:`/`root:` entry of a jb-book table of contents, in reading order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                found.extend(_toc_entries(child))
    return found


def toc_sources() -> list[Path]:
    """The source file (.md or .ipynb) of every page listed in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    sources = []
    for entry in _toc_entries(toc):
        matches = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb") if (ROOT / f"{entry}{ext}").exists()]
        if len(matches) != 1:
            raise FileNotFoundError(f"_toc.yml: entry {entry!r} matches {len(matches)} files (expected one .md or .ipynb)")  # noqa: E501
        sources.append(matches[0])
    return sources


def repository_url() -> str:
    """The repository's URL, written once: `repository.url` in _config.yml."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def setup_cell() -> str:
    """The set-up cell every chapter starts with: book/_templates/setup_cell.py with the repository URL filled in."""
    template = (ROOT / "book" / "_templates" / "setup_cell.py").read_text().strip()
    return template.replace("{repository_url}", repository_url())


def chapter_notebooks() -> list[Path]:
    return [p for p in toc_sources() if p.suffix == ".ipynb"]
