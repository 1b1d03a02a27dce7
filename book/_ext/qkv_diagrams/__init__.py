"""The ``{diagram}`` directive: the book's diagrams, drawn by Python and inlined into the page as SVG.

Usage, in a Markdown cell or a MyST page::

    ```{diagram} architecture
    :highlight: multi-head
    :alt: The Transformer, with multi-head attention highlighted
    ```

Options: ``:highlight:`` (architecture only: names of ``figures.HIGHLIGHTS``, separated by commas),
``:alt:`` (replaces the diagram's own title as its accessible name), ``:caption:`` (a line of text
under it) and ``:class:``.

Why Python and inline SVG (and not Graphviz): the diagrams of this book are matrices with shapes,
vectors on axes and a hand-placed copy of the paper's figure, which a graph layout engine cannot
place; Graphviz would also be one more system program for `make book`, it emits SVG with fixed
colours (black text, white background) that ignore the dark theme, and Sphinx's graphviz extension
embeds it as an ``<object>``/``<img>``, so its links and text are outside the page. Here each
diagram is a function in ``figures.py``, its text is real page text (sharp, found by search), its
colours are the palette's or the theme's (CSS custom properties), and the links of the architecture
map are checked against the book's documents at build time.

The links are resolved per page: the directive checks (while reading) that every document in
``figures.LINKS`` exists and is in the table of contents, and the SVG is rendered when the page is
resolved, with links relative to that page.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import figures, svg

HERE = Path(__file__).parent
logger = logging.getLogger(__name__)


def render(name, uid, highlight=(), links=None, alt=None):
    """The inline ``<svg>`` of diagram ``name``, its ids prefixed by ``uid``.

    >>> render("scaling-chain", uid="d1").startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    True
    """
    if name not in figures.DIAGRAMS:
        raise KeyError(f"unknown diagram {name!r}; known: {', '.join(figures.DIAGRAMS)}")
    fn = figures.DIAGRAMS[name]
    drawing = fn(highlight=highlight, links=links) if name == "architecture" else fn()
    if alt:
        drawing.title = alt
    # A map with links keeps them reachable: role="img" would hide its links from assistive technology.
    return drawing.svg(uid, role="group" if name == "architecture" else "img")


class diagram(nodes.General, nodes.Element):
    """Placeholder for a diagram until the page is resolved (then replaced by its raw SVG)."""


class DiagramDirective(SphinxDirective):
    required_arguments = 1
    has_content = False
    option_spec = {
        "highlight": directives.unchanged,
        "alt": directives.unchanged,
        "caption": directives.unchanged,
        "class": directives.class_option,
    }

    def run(self):
        name = self.arguments[0]
        if name not in figures.DIAGRAMS:
            raise self.error(f"diagram: unknown diagram {name!r}; known: {', '.join(figures.DIAGRAMS)}")
        highlight = [h.strip() for h in self.options.get("highlight", "").split(",") if h.strip()]
        if highlight and name != "architecture":
            raise self.error(f"diagram {name!r}: only the architecture map takes :highlight:")
        unknown = [h for h in highlight if h not in figures.HIGHLIGHTS]
        if unknown:
            raise self.error(f"diagram: unknown :highlight: {unknown}; choose from {', '.join(figures.HIGHLIGHTS)}")
        if name == "architecture":
            missing = {k: doc for k, doc in figures.LINKS.items() if doc and doc not in self.env.found_docs}
            if missing:
                raise self.error(
                    f"diagram architecture: figures.LINKS names documents that are not in the book: {missing}"
                )
        for source in (svg.__file__, figures.__file__):  # re-read this page when a diagram's source changes
            self.env.note_dependency(source)
        node = diagram(
            name=name,
            highlight=highlight,
            alt=self.options.get("alt"),
            caption=self.options.get("caption"),
            classes=self.options.get("class", []),
            serial=self.env.new_serialno("qkv-diagram"),
        )
        self.set_source_info(node)
        return [node]


def _resolve(app, doctree, docname):
    env = app.builder.env
    html = app.builder.format == "html"
    for node in list(doctree.findall(diagram)):
        if not html:
            node.replace_self(nodes.paragraph(text=node["alt"] or node["name"]))
            continue
        links = {}
        if node["name"] == "architecture":
            for key, doc in figures.LINKS.items():
                if not doc:
                    continue
                if doc not in env.all_docs:
                    logger.error(f"diagram architecture: link {key!r} -> {doc!r}: no such document", location=node)
                    continue
                title = env.titles[doc].astext() if doc in env.titles else doc
                links[key] = (app.builder.get_relative_uri(docname, doc), f"explained in {title}")
        uid = f"qkv-diagram-{node['name']}-{node['serial']}"
        markup = render(node["name"], uid, node["highlight"], links, node["alt"])
        classes = " ".join(["qkv-diagram", *node["classes"]])
        caption = f"<figcaption>{escape(node['caption'])}</figcaption>" if node["caption"] else ""
        raw = f'<figure class="{classes}" data-diagram="{node["name"]}">{markup}{caption}</figure>'
        node.replace_self(nodes.raw("", raw, format="html"))


def _skip(self, node):
    raise nodes.SkipNode


def setup(app):
    app.add_node(
        diagram, html=(_skip, None), latex=(_skip, None), text=(_skip, None), man=(_skip, None), texinfo=(_skip, None)
    )
    app.add_directive("diagram", DiagramDirective)
    app.connect("doctree-resolved", _resolve)
    app.add_css_file("qkv-diagrams.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
