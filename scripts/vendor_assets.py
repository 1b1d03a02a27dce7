"""Copy the front-end files the built book serves itself from web/node_modules into book/_vendor.

`npm ci` in web/ installs exact versions from web/package-lock.json; this script then copies only the
files the pages load (Sphinx publishes book/_vendor under _build/html/_static/vendor/). Nothing here
is committed: the lockfile is the pinned source. A file is rewritten only when its bytes changed, so a
second run leaves the tree (and Sphinx's incremental build) untouched.

Usage: python scripts/vendor_assets.py
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "web" / "node_modules"
VENDOR = ROOT / "book" / "_vendor" / "vendor"

# (source under node_modules, destination under book/_vendor/vendor, glob patterns; None = the file)
MANIFEST = [
    ("requirejs/require.js", "require.js", None),
    ("anywidget/dist/index.js", "anywidget/index.js", None),
    # The widgets HTML manager for ipywidgets 8.1 and the Font Awesome fonts its CSS points at.
    ("@jupyter-widgets/html-manager/dist", "html-manager", ["embed-amd.js", "*.woff2", "*.woff", "*.ttf", "*.eot", "*.svg"]),  # noqa: E501
    # MathJax 3: the TeX-to-CHTML component, its fonts, and the pieces it loads on demand
    # (TeX extensions, the menu, accessibility and speech) so no reader action reaches a CDN.
    ("mathjax/es5", "mathjax", ["tex-chtml.js", "input/**/*", "output/chtml/**/*", "output/chtml.js", "ui/**/*", "a11y/**/*", "sre/**/*", "adaptors/**/*", "core.js", "loader.js", "startup.js"]),  # noqa: E501
]
# Edits to a copied file: (destination, text, replacement, times the text must occur). The widgets HTML
# manager validates a page's saved widget state with Ajv, built with Ajv's default options, under which
# compiling the widget-state schema (its buffer paths allow `"type": ["string", "number"]`) logs
# "strict mode: use allowUnionTypes to allow union type keyword ..." as a console warning on every
# widget page, once per Ajv instance (two in the bundle). Allowing union types, as that schema needs,
# is what `new Ajv({allowUnionTypes: true})` does; the validation itself is unchanged.
PATCHES = [
    ("html-manager/embed-amd.js", "e.opts.allowUnionTypes||", "true||", 2),
]
LICENSES = ["requirejs/LICENSE", "anywidget/LICENSE", "@jupyter-widgets/html-manager/LICENSE", "mathjax/LICENSE"]


def patched(src: Path, dst: Path) -> bytes | None:
    """The bytes of `src` with the PATCHES for `dst` applied, or None when none applies to it."""
    edits = [(old, new, times) for name, old, new, times in PATCHES if dst == VENDOR / name]
    if not edits:
        return None
    text = src.read_text(encoding="utf-8")
    for old, new, times in edits:
        if text.count(old) != times:
            raise SystemExit(f"vendor_assets: expected {times} x {old!r} in {src}, found {text.count(old)}: "
                             "update PATCHES for this version")
        text = text.replace(old, new)
    return text.encode("utf-8")


def copy_if_changed(src: Path, dst: Path) -> bool:
    data = patched(src, dst)
    if data is not None:
        if dst.exists() and dst.read_bytes() == data:
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        return True
    if dst.exists() and filecmp.cmp(src, dst, shallow=False):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return True


def main() -> int:
    if not MODULES.is_dir():
        print(f"vendor_assets: {MODULES} is missing; run `npm ci` in web/ first", file=sys.stderr)
        return 1
    wanted: dict[Path, Path] = {}
    for src, dst, patterns in MANIFEST:
        src_path = MODULES / src
        if patterns is None:
            wanted[VENDOR / dst] = src_path
            continue
        for pattern in patterns:
            for f in src_path.glob(pattern):
                if f.is_file() and not f.name.endswith(".map"):
                    wanted[VENDOR / dst / f.relative_to(src_path)] = f
    for lic in LICENSES:
        src_path = MODULES / lic
        if src_path.exists():
            wanted[VENDOR / "licenses" / (lic.split("/")[-2] + "-LICENSE")] = src_path
    missing = [str(s) for s in wanted.values() if not s.exists()]
    if missing:
        print("vendor_assets: missing from web/node_modules: " + ", ".join(missing), file=sys.stderr)
        return 1
    changed = sum(copy_if_changed(src, dst) for dst, src in wanted.items())
    # Remove files a previous manifest copied but this one no longer wants.
    stale = [p for p in VENDOR.rglob("*") if p.is_file() and p not in wanted]
    for p in stale:
        p.unlink()
    size = sum(p.stat().st_size for p in wanted)
    print(f"vendor_assets: {len(wanted)} files ({size / 1e6:.1f} MB) in {VENDOR.relative_to(ROOT)}, "
          f"{changed} updated, {len(stale)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
