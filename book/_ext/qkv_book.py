"""Sphinx glue for the QKV book (loaded through `sphinx.local_extensions` in _config.yml).

sphinx-thebe, which Jupyter Book 1.x always loads, registers its inline configuration script twice on
Sphinx 7 (a `const` declared twice is a console error on every page), and its script names a CDN
URL. The book does not use Thebe (live code would need a CDN and a Binder kernel; the launch buttons
cover that), so its scripts are dropped from every page here.
"""

from __future__ import annotations


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    kept = []
    for js in scripts:
        body = js.attributes.get("body", "") if hasattr(js, "attributes") else ""
        name = str(js.filename if hasattr(js, "filename") else js) or ""
        if "THEBE_JS_URL" in body or name.endswith("sphinx-thebe.js") or "sphinx-thebe.js?" in name:
            continue
        kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
