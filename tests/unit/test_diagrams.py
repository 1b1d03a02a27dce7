"""The book's diagrams (book/_ext/qkv_diagrams): well-formed SVG, the palette's colours only, accessible,
and an architecture map whose links point at pages of the table of contents."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

import pytest

from booktoc import ROOT, toc_sources

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from qkv_diagrams import render  # noqa: E402
from qkv_diagrams.figures import DIAGRAMS, HIGHLIGHTS, LINKS  # noqa: E402
from qkv_diagrams.svg import PALETTE, plain, rich  # noqa: E402

NS = {"svg": "http://www.w3.org/2000/svg"}
ALLOWED = {c.lower() for c in PALETTE["roles"].values()} | {"none", "currentcolor"}
COLOUR_ATTRS = ("fill", "stroke", "color", "stop-color")


def parse(markup):
    return ET.fromstring(markup)


def colours_of(root):
    """Every colour an element sets, by attribute or in its style (var(...) values stripped to their fallback)."""
    found = []
    for node in root.iter():
        for attr in COLOUR_ATTRS:
            if attr in node.attrib:
                found.append(node.attrib[attr])
        for decl in filter(None, (node.attrib.get("style") or "").split(";")):
            prop, _, value = decl.partition(":")
            if prop.strip() in COLOUR_ATTRS:
                found.append(value.strip())
    return found


def check_colour(value):
    v = value.strip().lower()
    if v.startswith("var(--"):  # a CSS custom property: its fallback must be a neutral ink/paper grey
        m = re.fullmatch(r"var\(--qkv-[a-z]+,\s*(#[0-9a-f]{6})\)", v)
        assert m, f"{value}: CSS variables must be var(--qkv-..., #fallback)"
        return
    assert v in ALLOWED, f"{value} is not a palette colour, currentColor or a CSS variable"


@pytest.mark.parametrize("name", list(DIAGRAMS))
def test_diagram_is_well_formed_accessible_svg_in_the_palette(name):
    markup = render(name, uid="t")
    root = parse(markup)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["role"] in ("img", "group")
    title = root.find("svg:title", NS)
    assert title is not None and title.text and root.attrib["aria-labelledby"].split()[0] == title.attrib["id"]
    assert root.find("svg:desc", NS).text
    x0, y0, w, h = map(float, root.attrib["viewBox"].split())
    assert w > 100 and h > 50 and float(root.attrib["width"]) == w  # natural size = view box; CSS scales it down
    assert root.attrib["style"].startswith("color:var(--qkv-ink")
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts and all(t.strip() for t in texts), "every label is real, non-empty text"
    for value in colours_of(root):
        check_colour(value)
    ids = [n.attrib["id"] for n in root.iter() if "id" in n.attrib]
    assert all(i.startswith("t-") for i in ids) and len(ids) == len(set(ids))


def test_two_renders_on_one_page_have_distinct_ids():
    a, b = parse(render("architecture", uid="a")), parse(render("architecture", uid="b"))
    ids = lambda r: {n.attrib["id"] for n in r.iter() if "id" in n.attrib}  # noqa: E731
    assert not ids(a) & ids(b)


def test_text_markup_subscripts_return_to_the_baseline():
    root = parse(f'<text xmlns="http://www.w3.org/2000/svg">{rich("W_Q x d_{model}^T y", 10)}</text>')
    shifts = [float(t.attrib.get("dy", 0)) for t in root.iter("{http://www.w3.org/2000/svg}tspan")]
    assert abs(sum(shifts)) < 1e-9 or shifts[-1] != 0
    assert plain("d_{model}") == "dmodel" and "".join(root.itertext()) == "WQ x dmodelT y"


def test_text_markup_backslash_escapes_an_underscore():
    text = r"masked\_fill(~mask) q_i"
    root = parse(f'<text xmlns="http://www.w3.org/2000/svg">{rich(text, 10)}</text>')
    assert "".join(root.itertext()) == plain(text) == "masked_fill(~mask) qi"
    assert root.text == "masked_fill(~mask) q"  # the escaped underscore is literal text, not a subscript


def test_architecture_links_point_at_pages_of_the_table_of_contents():
    docs = {p.relative_to(ROOT).with_suffix("").as_posix() for p in toc_sources()}
    linked = {k: d for k, d in LINKS.items() if d}
    assert linked, "the map links nothing"
    missing = {k: d for k, d in linked.items() if d not in docs}
    assert not missing, f"LINKS points at documents not in _toc.yml: {missing}"
    root = parse(render("architecture", uid="m"))
    hrefs = {a.attrib["href"] for a in root.iter("{http://www.w3.org/2000/svg}a")}
    assert hrefs == {d.split("/")[-1] + ".html" for d in linked.values()}
    for a in root.iter("{http://www.w3.org/2000/svg}a"):
        assert a.find("svg:title", NS).text, "every link has an accessible name"


def test_unlinked_blocks_are_drawn_without_a_link():
    root = parse(render("architecture", uid="m"))
    blocks = {g.attrib["data-block"]: g.tag.rsplit("}", 1)[-1] for g in root.iter() if "data-block" in g.attrib}
    assert set(blocks) >= {k for k in LINKS if k != "residual"}
    for key, tag in blocks.items():
        assert tag == ("a" if LINKS.get(key) else "g"), key


@pytest.mark.parametrize("name", list(HIGHLIGHTS))
def test_every_highlight_lights_something(name):
    plain_map = render("architecture", uid="m")
    lit = render("architecture", uid="m", highlight=[name])
    assert lit != plain_map and PALETTE["roles"]["highlight"] in lit


def test_unknown_diagram_is_named():
    with pytest.raises(KeyError, match="unknown diagram"):
        render("nope", uid="x")


def test_sinusoid_clocks_turn_at_the_frequencies_of_qkv_s_encoding():
    import torch
    from qkv_diagrams.figures import sinusoid_clocks  # noqa: F401  (rendered by name below)

    from qkv.positional import sinusoidal_encoding

    pe = sinusoidal_encoding(2, 8, dtype=torch.float64)
    # Position 1's angle in each pair is that pair's frequency: atan2(sin, cos).
    omegas = torch.atan2(pe[1, 0::2], pe[1, 1::2]).tolist()
    text = "".join(parse(render("sinusoid-clocks", uid="c")).itertext())
    for i, w in enumerate(omegas):
        assert f"ω{i} = {w:g} rad" in text
    # The drawing says which d_model it is drawn for (the chapter's own tables use a larger one).
    assert "drawn for dmodel = 8: 4 hands" in text
    assert "d_model = 8" in parse(render("sinusoid-clocks", uid="c")).find(".//{*}title").text


def test_positions_in_attention_names_the_four_methods():
    text = "".join(parse(render("positions-in-attention", uid="p")).itertext())
    for name in ("absolute", "relative", "RoPE", "ALiBi"):
        assert name in text
