"""Checks on the repository itself: clean notebooks, the shared set-up cell, a complete table of contents."""

from __future__ import annotations

import subprocess

import nbformat
import pytest

from booktoc import ROOT, chapter_notebooks, setup_cell, toc_sources

SETUP_CELL = setup_cell()


def tracked_notebooks():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines() if line]


def all_notebooks():
    # Tracked notebooks plus any chapter notebook not committed yet: both must be clean.
    return sorted(set(tracked_notebooks()) | set(chapter_notebooks()))


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_chapter_starts_with_the_setup_cell(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code", f"{path.name}: the first cell must be the set-up code cell"
    assert first.source.strip() == SETUP_CELL, (
        f"{path.name}: first cell differs from book/_templates/setup_cell.py with _config.yml's repository URL "
        "(scripts/new_chapter.py --sync rewrites it)")
    assert "qkv-setup" in first.metadata.get("tags", []), f"{path.name}: the set-up cell lacks the 'qkv-setup' tag"


def test_every_toc_page_exists_and_has_content():
    pages = toc_sources()
    assert pages, "_toc.yml lists no pages"
    for page in pages:
        text = page.read_text()
        assert len(text) > 400, f"{page.name}: looks like a placeholder ({len(text)} characters)"


def test_book_sources_are_all_in_the_toc():
    listed = set(toc_sources())
    pages = {p for p in (ROOT / "book").rglob("*") if p.suffix in (".md", ".ipynb") and not any(part.startswith((".", "_")) for part in p.relative_to(ROOT / "book").parts)}  # noqa: E501
    assert pages <= listed, f"pages in book/ missing from _toc.yml: {sorted(str(p) for p in pages - listed)}"


def test_every_data_file_of_qkv_is_in_its_wheel():
    # An editable install reads src/qkv directly, so a file missing from package-data only breaks a real install
    # (Colab's, from git): palette.json was missing, and every chapter stopped at its first qkv import there.
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["qkv"]
    package = ROOT / "src" / "qkv"
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    missing = [f for f in data if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, f"pyproject.toml [tool.setuptools.package-data] leaves out {missing}"
