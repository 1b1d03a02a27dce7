"""The five widgets of the gallery page, in the static book with no kernel and the network cut.

Each test moves every control of one widget (the ends of every slider included), mostly from the
keyboard, and checks that the drawing changed, that the readouts equal what qkv computes in Python for
the same setting, that no "NaN" is shown and that the console stays clean. The last tests measure the
redraw time after a control change and the page weight, and write both to _build/widget-metrics.json.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from booktoc import ROOT
from qkv.positional import sinusoidal_encoding
from qkv.saturation import saturation
from qkv.widgets import D_K_CHOICES, MaskPlayground, NormStatistics

from .widget_timing import FRAME_MS, REDRAWS, redraw_timings

GALLERY = "book/gallery.html"
HTML = ROOT / "_build" / "html"
METRICS = ROOT / "_build" / "widget-metrics.json"
PAGE_STATE_LIMIT = 500_000  # bytes of saved widget data per page
PAGE_LIMIT = 3_000_000  # the gallery page, vendored assets excluded


@pytest.fixture
def gallery(page, page_log, book_url):
    page.goto(book_url + GALLERY)
    page.locator(".qkv-widget").nth(5).wait_for(state="visible", timeout=20_000)
    yield page
    assert page_log["offsite"] == [] and page_log["failed"] == [], (page_log["offsite"], page_log["failed"])
    assert page_log["errors"] == [], page_log["errors"]


def check_clean(widget):
    """No "NaN" anywhere in the widget: not in its text (tooltips included), not in an attribute."""
    text = widget.evaluate("e => e.textContent")
    assert "NaN" not in text and "undefined" not in text and "Infinity" not in text, text
    # (A data: URL is base64, where "NaN" can occur by chance: it is not text the widget shows.)
    bad = widget.evaluate("""e => [...e.querySelectorAll('*')].flatMap(n => [...n.attributes]
        .filter(a => /NaN|undefined|Infinity/.test(a.value) && !a.value.startsWith('data:'))
        .map(a => n.tagName + ' ' + a.name + '=' + a.value))""")
    assert bad == [], bad[:5]


def slide(control, steps=None, key=None):
    """Operate a range input from the keyboard: Home, then ArrowRight `steps` times (or just `key`)."""
    control.focus()
    if key is not None:
        control.press(key)
        return
    control.press("Home")
    for _ in range(steps):
        control.press("ArrowRight")


def drawing(widget, name):
    return widget.locator(f'[data-drawing="{name}"]').evaluate("e => e.innerHTML")


def readout(widget, name):
    return widget.locator(f'[data-readout="{name}"]').text_content()


def number(text):
    match = re.search(r"[-−]?\d+(\.\d+)?(e[-+]?\d+)?", text)
    assert match, f"no number in {text!r}"
    return float(match.group(0).replace("−", "-"))


# ---------------------------------------------------------------------------------------------- widget 1


def check_softmax_readouts(widget, d_k, scaled, n):
    expected = saturation(d_k, n, scaled=scaled, seed=0)
    assert widget.locator('[data-control="d_k"] ~ output').text_content() == str(d_k)
    spread = expected.logits.std(unbiased=False).item()
    for name, value in (("max-prob", expected.max_prob), ("entropy", expected.entropy),
                        ("jacobian", expected.jacobian_max), ("spread", spread)):
        cell = widget.locator(f'[data-readout="{name}"]')
        shown, full = number(cell.text_content()), float(cell.get_attribute("data-value"))
        # The browser's full-precision value equals Python's; the text rounds it to 4 digits.
        assert math.isclose(full, value, rel_tol=1e-9, abs_tol=1e-300), (name, d_k, scaled, n, full, value)
        assert math.isclose(shown, value, rel_tol=6e-4, abs_tol=0), (name, d_k, scaled, n, shown, value)


def test_softmax_saturation_readouts_equal_qkv_softmax(gallery):
    widget = gallery.locator(".qkv-softmax")
    dk, scaled, keys = (widget.locator(f'[data-control="{c}"]') for c in ("d_k", "scaled", "num_keys"))
    check_softmax_readouts(widget, 64, True, 16)  # as saved
    before = drawing(widget, "bars")

    slide(dk, key="End")  # d_k = 1024, from the keyboard
    check_softmax_readouts(widget, 1024, True, 16)
    assert drawing(widget, "bars") != before
    scaled.focus()
    scaled.press("Space")  # scaling off: saturated
    check_softmax_readouts(widget, 1024, False, 16)
    assert number(readout(widget, "max-prob")) > 0.999
    slide(keys, key="End")  # 32 keys
    check_softmax_readouts(widget, 1024, False, 32)
    slide(keys, key="Home")  # one key: probability 1, entropy 0, Jacobian 0
    check_softmax_readouts(widget, 1024, False, 1)
    assert readout(widget, "entropy").startswith("0 ") and readout(widget, "jacobian") == "0"
    check_clean(widget)
    slide(dk, key="Home")  # d_k = 1
    check_softmax_readouts(widget, 1, False, 1)
    for index, n, flip in ((1, 7, True), (11, 2, False), (19, 32, True), (15, 5, False)):
        slide(dk, index)
        slide(keys, n - 1)
        if flip:
            scaled.click()
        check_softmax_readouts(widget, D_K_CHOICES[index], scaled.is_checked(), n)
        check_clean(widget)


# ---------------------------------------------------------------------------------------------- widget 2


@pytest.fixture(scope="module")
def minilm():
    from qkv.pretrained import DataPackageNotFoundError, load_minilm

    try:
        return load_minilm()
    except DataPackageNotFoundError as error:  # pragma: no cover - the book's environment has it
        pytest.skip(str(error))


def shown_heatmap(widget):
    return np.array(widget.locator('[data-drawing="heatmap"] rect').evaluate_all(
        "cells => cells.map(c => Number(c.dataset.weight))"))


def check_focus_readout(widget, weights, index, side="q"):
    """The note lists the three largest weights from (or into) the focused token, as in `weights`."""
    note = readout(widget, "focus")
    found = [(int(k) - 1, float(v)) for k, v in re.findall(r"\((?:key|query) (\d+)\) (\d\.\d\d)", note)]
    row = weights[index] if side == "q" else weights[:, index]
    top = np.argsort(-row, kind="stable")[:3]
    assert len(found) == min(3, len(row)), note
    for (j, shown), expected_j in zip(found, top):
        assert abs(shown - row[j]) <= 0.006 and abs(row[j] - row[expected_j]) <= 0.006, (note, row)


def test_attention_map_shows_minilm_and_follows_focus(gallery, minilm):
    widget = gallery.locator(".qkv-attention").first
    example, layer, head = (widget.locator(f'[data-control="{c}"]') for c in ("example", "layer", "head"))
    sentences = [o.get_attribute("value") for o in example.locator("option").all()]
    labels = example.locator("option").all_text_contents()
    tokens, weights = minilm.attentions(labels[0])
    # it opens on the head the page's text names (found by measurement there), in layer 1 of 6
    opened = int(head.input_value())
    assert widget.locator('[data-control="layer"] ~ output').text_content() == "1 of 6" and opened >= 0
    np.testing.assert_allclose(shown_heatmap(widget), weights[0, opened].numpy().ravel(), atol=2e-5)
    head.select_option("-1")  # the mean over the heads
    np.testing.assert_allclose(shown_heatmap(widget), weights[0].mean(0).numpy().ravel(), atol=2e-5)

    before = drawing(widget, "heatmap")
    slide(layer, key="End")
    assert widget.locator('[data-control="layer"] ~ output').text_content() == "6 of 6"
    assert drawing(widget, "heatmap") != before
    np.testing.assert_allclose(shown_heatmap(widget), weights[5].mean(0).numpy().ravel(), atol=2e-5)
    head.select_option("11")
    np.testing.assert_allclose(shown_heatmap(widget), weights[5, 11].numpy().ravel(), atol=2e-5)
    head.focus()
    head.press("Home")  # back to the mean, from the keyboard
    assert head.input_value() == "-1"
    slide(layer, key="Home")
    head.select_option("0")
    np.testing.assert_allclose(shown_heatmap(widget), weights[0, 0].numpy().ravel(), atol=2e-5)

    # Tab reaches the tokens (one stop per row of tokens); the arrow keys move between them, and the
    # lines and the note follow the focus.
    lines_before = drawing(widget, "lines")
    head.focus()
    gallery.keyboard.press("Tab")
    active = lambda: gallery.evaluate("[document.activeElement.dataset.side, document.activeElement.dataset.index]")  # noqa: E731
    assert active() == ["q", "0"]
    assert drawing(widget, "lines") != lines_before
    w = weights[0, 0].numpy()
    check_focus_readout(widget, w, 0)
    gallery.keyboard.press("ArrowDown")
    gallery.keyboard.press("ArrowDown")
    assert active() == ["q", "2"]
    check_focus_readout(widget, w, 2)
    gallery.keyboard.press("ArrowDown")
    check_focus_readout(widget, w, 3)
    gallery.keyboard.press("ArrowRight")  # over to the key of the same index
    assert gallery.evaluate("document.activeElement.dataset.side") == "k"
    check_focus_readout(widget, w, 3, side="k")
    # Hover does the same with the mouse; only lines from the hovered token stay visible.
    widget.locator('.qkv-token[data-side="q"][data-index="1"]').hover()
    opacities = np.array(widget.locator('[data-drawing="lines"] line').evaluate_all(
        "ls => ls.map(l => Number(l.getAttribute('stroke-opacity')))")).reshape(len(tokens), len(tokens))
    assert (opacities[[i for i in range(len(tokens)) if i != 1]] == 0).all() and opacities[1].sum() > 0.9

    for value, label in zip(sentences[1:], labels[1:]):  # every example
        example.select_option(value)
        tokens, weights = minilm.attentions(label)
        assert widget.locator('[data-drawing="heatmap"] rect').count() == len(tokens) ** 2
        np.testing.assert_allclose(shown_heatmap(widget), weights[0, 0].numpy().ravel(), atol=2e-5)
        check_clean(widget)


def test_attention_map_cross_attention_has_two_token_lists(gallery):
    widget = gallery.locator(".qkv-attention").nth(1)
    queries = widget.locator('.qkv-token[data-side="q"]').all_text_contents()
    keys = widget.locator('.qkv-token[data-side="k"]').all_text_contents()
    assert "kitten" in queries and "cat" in keys and len(queries) != len(keys)
    assert widget.locator('[data-drawing="heatmap"] rect').count() == len(queries) * len(keys)
    weights = shown_heatmap(widget).reshape(len(queries), len(keys))
    assert all(weights[i].argmax() == i - 1 for i in range(1, len(keys)))  # the previous-position head
    widget.locator('[data-control="layer"]').focus()
    widget.locator('[data-control="layer"]').press("End")
    assert not np.allclose(shown_heatmap(widget).reshape(weights.shape), weights)
    check_clean(widget)


# ---------------------------------------------------------------------------------------------- widget 3


def test_positional_explorer_every_method_and_slider_end(gallery):
    widget = gallery.locator(".qkv-positional")
    method, d_model, position = (widget.locator(f'[data-control="{c}"]') for c in ("method", "d_model", "position"))
    table = lambda: widget.locator('[data-drawing="table"] image').get_attribute("href")  # noqa: E731

    def check_sinusoidal(d, p):
        pe = sinusoidal_encoding(64, d, dtype=torch.float64)
        cos = lambda a, b: (pe[a] @ pe[b] / (pe[a].norm() * pe[b].norm())).item()  # noqa: E731
        assert abs(number(readout(widget, "next")) - cos(p, p + 1)) < 2e-3 if p < 63 else readout(widget, "next") == "—"
        assert abs(number(readout(widget, "norm")) - pe[p].norm().item()) < 2e-3

    check_sinusoidal(64, 8)
    image = table()
    slide(d_model, key="Home")
    assert widget.locator('[data-control="d_model"] ~ output').text_content() == "8" and table() != image
    check_sinusoidal(8, 8)
    vector = drawing(widget, "vector")
    slide(position, key="End")
    assert drawing(widget, "vector") != vector
    check_sinusoidal(8, 63)
    assert readout(widget, "far") == "—"  # position 79 does not exist: a dash, never NaN
    slide(position, key="Home")
    slide(d_model, key="End")
    check_sinusoidal(64, 0)
    check_clean(widget)

    for name in ("rope", "alibi", "learned", "sinusoidal"):
        image = table()
        method.select_option(name)
        assert table() != image, name
        slide(position, key="End")
        slide(position, key="Home")
        slide(position, 5)
        if name == "alibi":
            assert d_model.is_disabled()
            assert number(readout(widget, "next")) == -0.5  # head 1's slope is 1/2
            assert number(readout(widget, "far")) == -2.5
        else:
            assert not math.isnan(number(readout(widget, "next")))
        if name == "rope":  # RoPE: the similarity to the next position is the same from every position
            first = readout(widget, "next")
            slide(position, 40)
            assert readout(widget, "next") == first
        check_clean(widget)


# ---------------------------------------------------------------------------------------------- widget 4


def shown_weights(widget, b):
    cells = widget.locator(f'[data-drawing="sequence-{b}"] rect[data-weight]').evaluate_all(
        "cs => cs.map(c => [Number(c.dataset.i), Number(c.dataset.j), c.dataset.weight])")
    out = np.zeros((5, 5))
    for i, j, w in cells:
        out[i, j] = np.nan if w == "x" else float(w)
    return out


def check_masks(widget, lengths, causal, mask_queries, fill, dtype, scale):
    reference = MaskPlayground(lengths=lengths, causal=causal, mask_queries=mask_queries, fill=fill, dtype=dtype,
                               logit_scale=scale)
    expected = reference.weights().numpy()
    mask = reference.mask().numpy()
    for b in range(3):
        np.testing.assert_allclose(shown_weights(widget, b), expected[b], atol=0.5 / 32767 + 1e-6)
        allowed = widget.locator(f'[data-drawing="sequence-{b}"] rect[data-allowed]').evaluate_all(
            "cs => cs.map(c => Number(c.dataset.allowed))")
        assert allowed == mask[b].astype(int).ravel().tolist()
    return readout(widget, "verdict")


def test_mask_playground_shows_where_each_setting_breaks(gallery):
    widget = gallery.locator(".qkv-masks")
    lengths = [widget.locator(f'[data-control="length-{b}"]') for b in range(3)]
    causal, queries = widget.locator('[data-control="causal"]'), widget.locator('[data-control="mask_queries"]')
    fill, dtype, scale = (widget.locator(f'[data-control="{c}"]') for c in ("fill", "dtype", "logit_scale"))

    verdict = check_masks(widget, (5, 3, 0), False, False, "-inf", "float32", 1)
    assert "5 rows are not a number: every key is masked" in verdict
    assert widget.locator('[data-drawing="sequence-2"] text').filter(has_text="✕").count() >= 25
    fill.select_option("-1e9")
    assert "spread their weight over masked keys" in check_masks(widget, (5, 3, 0), False, False, "-1e9", "float32", 1)
    dtype.select_option("float16")
    verdict = check_masks(widget, (5, 3, 0), False, False, "-1e9", "float16", 1)
    assert "−1e9 overflows float16 and is stored as −∞" in verdict and "not a number" in verdict
    assert "masked_fill" in verdict and "overflow" in verdict
    dtype.select_option("bfloat16")
    assert "stored as −9.982e8" in check_masks(widget, (5, 3, 0), False, False, "-1e9", "bfloat16", 1)

    before = drawing(widget, "sequence-2")
    slide(lengths[2], key="End")  # no sequence is empty any more
    assert "every row keeps its weight" in check_masks(widget, (5, 3, 5), False, False, "-1e9", "bfloat16", 1)
    assert drawing(widget, "sequence-2") != before
    fill.select_option("-1000")
    scale.select_option("1000")  # large scores, small fill: weight leaks onto the padding
    verdict = check_masks(widget, (5, 3, 5), False, False, "-1000", "bfloat16", 1000)
    assert "leak weight onto masked keys" in verdict or "leaks weight onto masked keys" in verdict
    scale.select_option("100000")
    dtype.select_option("float16")  # the scores themselves overflow float16
    assert "a score overflowed float16" in check_masks(widget, (5, 3, 5), False, False, "-1000", "float16", 100000)
    check_clean(widget)

    scale.select_option("1")
    causal.focus()
    causal.press("Space")
    slide(lengths[0], key="Home")  # an empty sequence, causal
    slide(lengths[1], 1)  # a sequence of length 1
    check_masks(widget, (0, 1, 5), True, False, "-1000", "float16", 1)
    queries.click()  # padded queries masked too: rows with no key
    verdict = check_masks(widget, (0, 1, 5), True, True, "-1000", "float16", 1)
    assert "spread" in verdict
    slide(lengths[0], key="End")
    check_masks(widget, (5, 1, 5), True, True, "-1000", "float16", 1)
    # The summary table picks a fill value and dtype with one click (or Enter).
    button = widget.locator('button[data-fill="-inf"][data-dtype="float32"]')
    button.focus()
    button.press("Enter")
    verdict = check_masks(widget, (5, 1, 5), True, True, "-inf", "float32", 1)
    assert "not a number" in verdict and fill.input_value() == "-inf"
    check_clean(widget)


# ---------------------------------------------------------------------------------------------- widget 5


def test_norm_statistics_highlights_shared_statistics(gallery):
    widget = gallery.locator(".qkv-norms")
    padding = widget.locator('[data-control="padding"]')
    batch, position, feature = (widget.locator(f'[data-control="{c}"]') for c in ("batch", "position", "feature"))
    reference = NormStatistics(lengths=(5, 3, 2))

    def check(b, t, f, padded):
        block = reference.blocks["padded" if padded else "full"]
        for norm, mean, std, out in (("layer", block["ln_mean"][b][t], block["ln_std"][b][t], block["ln_out"][b][t][f]),
                                     ("batch", block["bn_mean"][f], block["bn_std"][f], block["bn_out"][b][t][f])):
            assert number(readout(widget, f"{norm}-mean")) == pytest.approx(mean, abs=6e-4)
            assert number(readout(widget, f"{norm}-std")) == pytest.approx(std, abs=6e-4)
            assert number(readout(widget, f"{norm}-out")) == pytest.approx(out, abs=6e-4)
        group = lambda norm, pad="": f'[data-drawing="{norm}"] rect[data-group="1"]{pad}'  # noqa: E731
        assert widget.locator(group("layer")).count() == 4
        assert widget.locator(group("batch")).count() == 15
        assert widget.locator(group("batch", '[data-pad="1"]')).count() == (5 if padded else 0)

    check(0, 1, 2, True)
    before = drawing(widget, "batch")
    slide(feature, key="End")
    assert drawing(widget, "batch") != before
    check(0, 1, 3, True)
    slide(batch, key="End")
    slide(position, key="End")  # a padding element of sequence 3
    check(2, 4, 3, True)
    assert "is padding" in readout(widget, "note")
    padding.focus()
    padding.press("Space")
    check(2, 4, 3, False)
    slide(batch, key="Home")
    slide(position, key="Home")
    slide(feature, key="Home")
    check(0, 0, 0, False)
    padding.click()
    check(0, 0, 0, True)
    widget.locator('[data-drawing="layer"] rect.qkv-cell').nth(3 * 4 * 5 - 1).click()  # the last cell: by mouse
    check(2, 4, 3, True)
    check_clean(widget)


# ---------------------------------------------------------------------------------------------- speed, size, fit


def update_metrics(key, value):
    metrics = json.loads(METRICS.read_text()) if METRICS.exists() else {}
    metrics[key] = value
    METRICS.write_text(json.dumps(metrics, indent=2, sort_keys=True))


def test_redraw_fits_in_one_frame(gallery):
    results = redraw_timings(gallery)
    for selector, *_ in REDRAWS.values():
        check_clean(gallery.locator(selector).first)
    update_metrics("redraw", results)
    print("\nredraw after a control change (Chromium):", json.dumps(results, indent=1))
    slow = {name: r for name, r in results.items() if r["median_ms"] >= FRAME_MS}
    assert not slow, f"redraws longer than one frame ({FRAME_MS:.1f} ms): {slow}"


def test_page_weight(gallery, book_url):
    html = (HTML / GALLERY).read_text(encoding="utf-8")
    state = json.loads(re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>',
                                 html, re.S).group(1))
    per_widget = {}
    for model in state["state"].values():
        if model["model_name"] == "AnyModel":
            name = model["state"]["_anywidget_id"].rsplit(".", 1)[-1]
            key = name if name not in per_widget else f"{name} (2)"
            per_widget[key] = len(json.dumps(model))
    total_state = len(json.dumps(state))
    # What the browser loads for this page, outside the vendored libraries (require.js, the widget
    # manager, MathJax, fonts), which every widget page shares.
    sizes = {}
    gallery.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if r.ok else None)
    gallery.reload()
    gallery.locator(".qkv-widget").nth(5).wait_for(state="visible", timeout=20_000)
    gallery.wait_for_load_state("networkidle")
    own = sum(size for url, size in sizes.items() if "/_static/vendor/" not in url)
    page_only = sum(size for url, size in sizes.items() if "/_static/" not in url)  # HTML, widget modules
    everything = sum(sizes.values())
    weight = {"html_bytes": len(html.encode()), "saved_widget_state_bytes": total_state,
              "per_widget_state_bytes": per_widget, "loaded_page_only_bytes": page_only,
              "loaded_excluding_vendor_bytes": own, "loaded_including_vendor_bytes": everything}
    update_metrics("page_weight", weight)
    print("\ngallery page weight:", json.dumps(weight, indent=1))
    assert len(per_widget) == 6
    assert all(size < PAGE_STATE_LIMIT for size in per_widget.values()), per_widget
    assert total_state < PAGE_STATE_LIMIT, total_state
    assert own < PAGE_LIMIT, own


def test_widgets_fit_a_phone_width_page(browser, book_url, offsite_requests):
    context = browser.new_context(viewport={"width": 375, "height": 800}, device_scale_factor=2)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(book_url)
                  else (offsite_requests.append(route.request.url), route.abort()))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(book_url + GALLERY)
    page.locator(".qkv-widget").nth(5).wait_for(state="visible", timeout=20_000)
    overflow = page.evaluate("""() => [...document.querySelectorAll('.qkv-widget')]
        .filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.className)""")
    assert overflow == [], f"widgets wider than a phone screen: {overflow}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert errors == [] and offsite_requests == []
    context.close()


# ---------------------------------------------------------------------------------------------- theme, keyboard, phone

CONTRAST = """(node) => {
  // WCAG contrast of the node's text colour against the first opaque background behind it.
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let back = null;
  for (let e = node; e && !back; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) back = c.slice(0, 3);
  }
  back = back || [255, 255, 255];
  const [a, b] = [luminance(rgba(getComputedStyle(node).color)), luminance(back)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def open_gallery(page, book_url, theme):
    page.add_init_script(f"localStorage.setItem('theme', '{theme}'); localStorage.setItem('mode', '{theme}');")
    page.goto(book_url + GALLERY)
    page.locator(".qkv-widget").nth(5).wait_for(state="visible", timeout=20_000)
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    return page


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_widget_text_is_readable_in_either_theme_and_panels_sit_side_by_side(page, page_log, book_url, theme):
    page.set_viewport_size({"width": 1280, "height": 900})
    open_gallery(page, book_url, theme)
    for selector in (".qkv-widget h3", ".qkv-widget .qkv-legend", ".qkv-widget dd"):
        for node in page.locator(selector).all():
            if node.is_visible():
                ratio = node.evaluate(CONTRAST)
                assert ratio >= 4.5, (theme, selector, node.text_content(), ratio)
    for name in (".qkv-norms", ".qkv-masks", ".qkv-attention"):
        panels = page.locator(name).first.locator(".qkv-panel")
        first, second = panels.nth(0).bounding_box(), panels.nth(1).bounding_box()
        assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"] + first["width"] - 1, (theme, name)
    assert page_log["errors"] == [], page_log["errors"]


def test_widget_text_is_at_least_10_px_on_a_phone(browser, book_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(book_url) else route.abort())
    page = context.new_page()
    page.goto(book_url + GALLERY)
    page.locator(".qkv-widget").nth(5).wait_for(state="visible", timeout=20_000)
    page.wait_for_timeout(300)  # the resize observers have run
    small = page.evaluate("""() => [...document.querySelectorAll('.qkv-widget svg text')].flatMap((t) => {
        const svg = t.ownerSVGElement, width = svg.getBoundingClientRect().width;
        if (!width || !t.textContent) return [];
        const px = parseFloat(getComputedStyle(t).fontSize) * width / svg.viewBox.baseVal.width;
        return px < 10 ? [`${svg.dataset.drawing}: "${t.textContent}" ${px.toFixed(1)} px`] : [];
    })""")
    assert small == [], small[:8]
    html = page.evaluate("""() => [...document.querySelectorAll('.qkv-widget *')]
        .filter((e) => e.childNodes.length && [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())
                       && !(e instanceof SVGElement) && e.getClientRects().length)
        .map((e) => parseFloat(getComputedStyle(e).fontSize)).filter((px) => px < 10)""")
    assert html == [], html[:8]
    context.close()


def test_norm_cells_can_be_picked_from_the_keyboard(gallery):
    widget = gallery.locator(".qkv-norms")
    grid = widget.locator('[data-drawing="layer"] rect.qkv-cell')
    feature = lambda: widget.locator('[data-control="feature"] ~ output').text_content()  # noqa: E731
    position = lambda: widget.locator('[data-control="position"] ~ output').text_content()  # noqa: E731
    # One cell per grid is in the Tab order: the picked one (sequence 1, position 2, feature 3).
    assert widget.locator('[data-drawing="layer"] rect.qkv-cell[tabindex="0"]').count() == 1
    widget.locator('[data-control="feature"]').focus()
    gallery.keyboard.press("Tab")
    assert gallery.evaluate("document.activeElement.getAttribute('aria-pressed')") == "true"
    gallery.keyboard.press("ArrowRight")  # focus moves; the pick waits for Enter
    assert (position(), feature()) == ("2", "3")
    gallery.keyboard.press("Enter")
    assert (position(), feature()) == ("2", "4")
    gallery.keyboard.press("ArrowDown")
    gallery.keyboard.press("ArrowDown")
    gallery.keyboard.press(" ")
    assert (position(), feature()) == ("4", "4")
    assert grid.nth(3 * 4 + 3).get_attribute("aria-pressed") == "true"
    gallery.keyboard.press("ArrowRight")  # on into the next sequence
    gallery.keyboard.press("Enter")
    assert widget.locator('[data-control="batch"] ~ output').text_content() == "2" and feature() == "1"
    check_clean(widget)


def test_mask_table_current_cell_and_focus_ring_look_different(gallery):
    widget = gallery.locator(".qkv-masks")
    current = widget.locator("td.qkv-current")
    button = current.locator("button")
    widget.locator('[data-control="logit_scale"]').focus()
    for _ in range(20):  # Tab into the summary table, to the current cell's button
        gallery.keyboard.press("Tab")
        if gallery.evaluate("document.activeElement.closest('td') && document.activeElement.closest('td').classList"
                            ".contains('qkv-current')"):
            break
    focus = button.evaluate("b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineColor]")
    assert focus[0] != "none"
    marker = current.evaluate("""td => { const s = getComputedStyle(td);
        return s.outlineStyle !== 'none' ? s.outlineColor : s.boxShadow; }""")
    assert focus[1] not in marker, (focus, marker)


def test_no_console_warnings_on_widget_pages(page, page_log, book_url):
    warnings = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(book_url + GALLERY)
    page.locator(".qkv-widget").nth(5).wait_for(state="visible", timeout=20_000)
    page.wait_for_load_state("networkidle")
    assert warnings == [], warnings


def test_positional_learned_table_is_not_washed_out_by_one_outlier(gallery):
    widget = gallery.locator(".qkv-positional")
    widget.locator('[data-control="method"]').select_option("learned")
    heights = np.array(widget.locator('[data-drawing="vector"] rect').evaluate_all(
        "rs => rs.map(r => Number(r.getAttribute('height')))"))
    half = (190 - 8 - 34) / 2  # the vector chart's half height, from 0 to the end of the scale
    assert len(heights) == 384 and np.median(heights) > 0.1 * half, np.median(heights)
    assert heights.max() <= half + 1e-6  # clipped to the chart
    legend = readout(widget, "range")
    assert "clipped" in legend and "99th percentile" in legend, legend
    check_clean(widget)


def test_positional_readouts_name_only_existing_positions_and_heads_count_from_1(gallery):
    widget = gallery.locator(".qkv-positional")
    method, position = widget.locator('[data-control="method"]'), widget.locator('[data-control="position"]')

    def named_positions():
        labels = " ".join(t for t in widget.locator("dl.qkv-readouts dt").all_text_contents())
        return [int(n) for n in re.findall(r"position (\d+)", labels)]

    for name in ("sinusoidal", "rope", "learned", "alibi"):
        method.select_option(name)
        slide(position, key="End")
        assert all(n <= 63 for n in named_positions()), (name, named_positions())
        slide(position, key="Home")
        assert 1 in named_positions() or name == "alibi"
    # ALiBi's heads are numbered from 1, in the heatmap as in the readouts and the slope chart.
    method.select_option("alibi")
    rows = widget.locator('[data-drawing="table"] text[text-anchor="end"]').all_text_contents()
    assert rows == ["1", "8"], rows
    assert "head 8" in " ".join(widget.locator("dl.qkv-readouts dt").all_text_contents())
