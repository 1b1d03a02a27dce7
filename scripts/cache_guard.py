"""Drop the book's execution cache when what the notebooks read changed since the last build.

Jupyter-cache re-executes a notebook only when the notebook's own code changes. A chapter's outputs
also depend on `qkv` (a widget's front end, a model, a loader) and the appendix on bench/results.json,
so after an edit to either the cached outputs would be stale. This script keeps a hash of those
files in _build/.qkv-source-hash; when it differs, it removes the execution cache and Sphinx's saved
environment (so every page is read, and every notebook executed, again). `make book` and `make test`
run it before building.

Usage: python scripts/cache_guard.py
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
STAMP = BUILD / ".qkv-source-hash"


# What the notebooks read besides their own code.
INPUTS = [ROOT / "src" / "qkv", ROOT / "bench" / "results.json"]


def source_hash() -> str:
    digest = hashlib.sha256()
    files = [p for root in INPUTS for p in ([root] if root.is_file() else sorted(root.rglob("*")))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def main() -> int:
    new = source_hash()
    old = STAMP.read_text().strip() if STAMP.exists() else None
    if old != new:
        stale = [BUILD / ".jupyter_cache", BUILD / ".doctrees"]
        if old is not None or any(p.exists() for p in stale):
            print("cache_guard: src/qkv or bench/results.json changed since the last build; every notebook will be executed again")  # noqa: E501
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        BUILD.mkdir(exist_ok=True)
        STAMP.write_text(new + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
