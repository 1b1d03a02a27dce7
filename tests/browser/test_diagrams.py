"""The diagrams page in Chromium, at a desktop and a phone width, in the light and the dark theme.

Every diagram must be there, drawn (a box larger than zero), inside the text column, and its text must
contrast with what is behind it (the page, or a tinted box over the page) by at least 4.5:1, WCAG AA
for normal text. The step-through widget's "next" button and slider must move the step and show
qkv's numbers. Screenshots go to _build/screenshots/diagrams-*.png.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from booktoc import ROOT
from qkv.widgets import AttentionStepThrough

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from qkv_diagrams import figures as diagram_figures  # noqa: E402

PAGE = "book/diagrams.html"
SHOTS = ROOT / "_build" / "screenshots"
MIN_CONTRAST = 4.5

# For every <text> of every diagram: its colour, and the colour behind its centre: the topmost filled
# shape under it composited (with its fill-opacity) over the page's background.
CONTRASTS_JS = r"""
() => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, a, base) => top.slice(0, 3).map((v, i) => v * a + base[i] * (1 - a));
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  let page = parse(getComputedStyle(document.body).backgroundColor);
  if (!page || page[3] === 0) page = parse(getComputedStyle(document.documentElement).backgroundColor);
  if (!page || page[3] === 0) page = [255, 255, 255, 1];
  const out = [];
  document.querySelectorAll(".qkv-diagram svg text").forEach((t) => {
    const box = t.getBoundingClientRect();
    if (box.width === 0) return;
    const cx = box.left + box.width / 2, cy = box.top + box.height / 2;
    let behind = page.slice(0, 3);
    const under = document.elementsFromPoint(cx, cy).filter((e) => ["rect", "circle", "path"].includes(e.tagName)
      && e.closest("svg") === t.closest("svg"));
    // Composite from the bottom up: the tints of stacked shapes add.
    for (const shape of under.reverse()) {
      const s = getComputedStyle(shape), fill = parse(s.fill);
      if (!fill || s.fill === "none") continue;
      behind = over(fill, Number(s.fillOpacity) * fill[3], behind);
    }
    const s = getComputedStyle(t), ink = parse(s.fill);
    out.push({ text: t.textContent, ratio: ratio(over(ink, Number(s.fillOpacity) * ink[3] * Number(s.opacity), behind), behind),
               diagram: t.closest("figure").dataset.diagram });
  });
  return out;
}
"""


def open_page(page, book_url, width, theme):
    page.set_viewport_size({"width": width, "height": 900})
    page.add_init_script(f"localStorage.setItem('mode', '{theme}'); localStorage.setItem('theme', '{theme}');")
    page.goto(book_url + PAGE)
    page.wait_for_load_state("networkidle")
    page.evaluate(
        f"document.documentElement.dataset.theme = '{theme}'; document.documentElement.dataset.mode = '{theme}'"
    )
    page.locator(".qkv-stepthrough").wait_for(state="visible", timeout=20_000)
    assert page.evaluate("document.documentElement.dataset.theme") == theme


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_diagrams_fit_the_column_and_their_text_contrasts(page, page_log, book_url, width, theme):
    open_page(page, book_url, width, theme)
    figures = page.locator("figure.qkv-diagram")
    names = figures.evaluate_all("fs => fs.map(f => f.dataset.diagram)")
    assert set(names) >= {
        "architecture",
        "embedding-lookup",
        "apple-2d",
        "attention-flow",
        "one-token",
        "scaling-chain",
        "multi-head",
    }
    column = page.locator("article.bd-article").bounding_box() or page.locator("main").bounding_box()
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The sticky header and the back-to-top button would cover an element's screenshot.
    page.add_style_tag(
        content=".bd-header, .bd-header-article, .header-article, .skip-link, #pst-back-to-top { visibility: hidden !important; }"
    )
    for i in range(figures.count()):
        fig = figures.nth(i)
        fig.scroll_into_view_if_needed()
        svg = fig.locator("svg")
        box = svg.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"{names[i]}: not drawn ({box})"
        assert box["x"] >= column["x"] - 1 and box["x"] + box["width"] <= column["x"] + column["width"] + 1, (
            f"{names[i]} at {width}px: {box} leaves the column {column}"
        )
        assert box["width"] <= width
        assert svg.evaluate("s => s.querySelectorAll('text').length") > 3
        fig.screenshot(path=str(SHOTS / f"diagrams-{width}-{theme}-{i:02d}-{names[i]}.png"))
    low = [c for c in page.evaluate(CONTRASTS_JS) if c["ratio"] < MIN_CONTRAST]
    assert not low, f"text below {MIN_CONTRAST}:1 at {width}px, {theme}: " + "; ".join(
        f"{c['diagram']}: {c['text']!r} {c['ratio']:.2f}" for c in low[:8]
    )
    page.locator(".qkv-stepthrough").screenshot(path=str(SHOTS / f"diagrams-{width}-{theme}-stepthrough.png"))
    page.screenshot(path=str(SHOTS / f"diagrams-{width}-{theme}.png"), full_page=True)
    assert page_log["offsite"] == [] and page_log["failed"] == [] and page_log["errors"] == [], page_log


def test_the_map_links_to_the_chapters(page, page_log, book_url):
    open_page(page, book_url, 1280, "light")
    hrefs = (
        page.locator("figure[data-diagram=architecture]")
        .first.locator("a")
        .evaluate_all("as => as.map(a => a.href.baseVal ?? a.href)")
    )
    linked = {doc.rsplit("/", 1)[-1] + ".html" for doc in diagram_figures.LINKS.values() if doc}
    assert {h.rsplit("/", 1)[-1] for h in hrefs} == linked and "04_multi_head.html" in linked
    page.locator("figure[data-diagram=architecture] a[data-block=multi-head]").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("04_multi_head.html")


def test_stepthrough_next_and_slider_move_the_step_and_show_qkvs_numbers(page, page_log, book_url):
    open_page(page, book_url, 390, "light")
    widget = page.locator(".qkv-stepthrough")
    step = lambda: int(widget.locator('[data-readout="step"]').get_attribute("data-value"))  # noqa: E731
    assert step() == 0
    assert widget.locator('[data-matrix="Q"] td[data-value]').count() == 0
    widget.locator('[data-control="next"]').click()
    assert step() == 1
    assert widget.locator('[data-matrix="Q"] td[data-value]').count() == 8
    assert widget.locator('[data-matrix="weights"] td[data-value]').count() == 0
    slider = widget.locator('[data-control="step"]')
    slider.focus()
    slider.press("End")
    assert step() == 5 and widget.locator('[data-control="next"]').is_disabled()
    expected = AttentionStepThrough().matrices()
    for name in ("weights", "output"):
        shown = widget.locator(f'[data-matrix="{name}"] td[data-value]').evaluate_all(
            "tds => tds.map(td => Number(td.dataset.value))"
        )
        np.testing.assert_allclose(np.array(shown).reshape(expected[name].shape), expected[name], atol=1e-12)
        text = widget.locator(f'[data-matrix="{name}"] td[data-value]').first.text_content()
        assert text == f"{expected[name].flat[0]:.2f}"
    widget.locator('[data-control="previous"]').click()
    assert step() == 4 and widget.locator('[data-matrix="output"] td[data-value]').count() == 0
    assert "NaN" not in widget.text_content()
    assert page_log["errors"] == [], page_log["errors"]
