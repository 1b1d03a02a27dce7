"""Sphinx glue for the QKV book (loaded through `sphinx.local_extensions` in _config.yml).

- Thebe. sphinx-thebe, which Jupyter Book 1.x always loads, registers its inline configuration script
  twice on Sphinx 7 (a `const` declared twice is a console error on every page), its script names a CDN
  URL, and it appends to every page a `text/x-thebe-config` block naming its own example repository
  (binder-examples/jupyter-stacks-datascience). The book does not use Thebe (live code would need a CDN
  and a Binder kernel; the launch buttons cover that), so its scripts, style sheet and per-page
  configuration are all dropped here.
- Exercise ids. sphinx-exercise 1.2.1 wraps the body of every exercise and solution in a section with
  the fixed id "exercise-content" / "solution-content" (its own source marks this "TODO: should id be
  classes?"), so a chapter with four exercises has each id four times. Here they become classes, and
  the section gets an id made from its exercise's own label, which is unique.
- Hidden code cells. myst-nb writes `<summary aria-label="Toggle hidden content">` around a visible
  "Show code cell source": a name that does not contain the visible label (WCAG 2.5.3, axe
  label-content-name-mismatch). The summary is written here without that label, so its name is the
  text a reader sees.
- Theme templates. `templates/` (searched before the themes' own) overrides two pydata-sphinx-theme
  components for the same reason (the search field and the colour-mode button); see the comments in each.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from docutils import nodes

FIXED_IDS = {"exercise-content", "solution-content"}


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        kept = []
        for js in scripts:
            body = js.attributes.get("body", "") if hasattr(js, "attributes") else ""
            name = str(js.filename if hasattr(js, "filename") else js) or ""
            if "THEBE_JS_URL" in body or name.endswith("sphinx-thebe.js") or "sphinx-thebe.js?" in name:
                continue
            kept.append(js)
        context["script_files"] = kept
    css = context.get("css_files")
    if css:
        context["css_files"] = [c for c in css if "sphinx-thebe.css" not in str(getattr(c, "filename", c))]


def _no_thebe_page_config(app):
    """Disconnect sphinx-thebe's doctree-resolved handler, which appends the Thebe configuration block."""
    for listener in list(app.events.listeners.get("doctree-resolved", [])):
        handler = listener.handler
        if getattr(handler, "__module__", "").startswith("sphinx_thebe") and handler.__name__ == "update_thebe_context":
            app.disconnect(listener.id)


def _unique_exercise_ids(app, doctree, docname):
    for section in doctree.findall(nodes.section):
        fixed = [i for i in section["ids"] if i in FIXED_IDS]
        if not fixed:
            continue
        section["ids"] = [i for i in section["ids"] if i not in FIXED_IDS]
        section["classes"] += fixed
        owner = section.parent
        owner_ids = owner.get("ids", []) if isinstance(owner, nodes.Element) else []
        if owner_ids and not section["ids"]:
            section["ids"] = [f"{owner_ids[0]}-content"]


def _visit_hide_cell_input(self, node):
    classes = " ".join(node["classes"])
    self.body.append(f'<details class="admonition hide {classes}">\n')
    self.body.append("<summary>\n")
    self.body.append(f'<p class="collapsed admonition-title">{escape(node["prompt_show"])}</p>\n')
    self.body.append(f'<p class="expanded admonition-title">{escape(node["prompt_hide"])}</p>\n')
    self.body.append("</summary>\n")


def _depart_hide_cell_input(self, node):
    self.body.append("</details>\n")


def setup(app):
    from myst_nb.sphinx_ import HideCodeCellNode

    app.connect("html-page-context", _drop_thebe)
    app.connect("builder-inited", _no_thebe_page_config)
    app.connect("doctree-resolved", _unique_exercise_ids)
    app.add_node(HideCodeCellNode, override=True, html=(_visit_hide_cell_input, _depart_hide_cell_input))
    templates = str(Path(__file__).parent / "templates")
    app.connect("config-inited", lambda app, config: config.templates_path.insert(0, templates))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
