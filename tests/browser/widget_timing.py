"""How fast the static widgets redraw after a control changes, in Chromium.

Shared by tests/browser/test_widgets.py (which asserts each redraw fits in one frame) and
scripts/bench.py (which reports the figures in the appendix "Running this book").
"""

from __future__ import annotations

import statistics

FRAME_MS = 1000 / 60
GALLERY = "book/gallery.html"

# One control per widget, and the values to move it through (the ends included).
REDRAWS = {
    "softmax": (".qkv-softmax", '[data-control="d_k"]', "range", ["19", "0", "11", "15", "19", "3"]),
    "attention": (".qkv-attention", '[data-control="layer"]', "range", ["6", "1", "3", "4", "6", "2"]),
    "positional": (".qkv-positional", '[data-control="position"]', "range", ["63", "0", "20", "40", "63", "5"]),
    "masks": (".qkv-masks", '[data-control="length-1"]', "range", ["0", "5", "1", "4", "2", "3"]),
    "norms": (".qkv-norms", '[data-control="position"]', "range", ["5", "1", "3", "2", "4", "1"]),
}

MEASURE = """async ([selector, control, values]) => {
  const input = document.querySelector(selector).querySelector(control);
  const widget = input.closest(".qkv-widget");
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const work = [], frames = [];
  for (const value of values) {
    await frame();                         // start at the beginning of a frame
    const t0 = performance.now();
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    widget.getBoundingClientRect();        // force style and layout of the new drawing
    work.push(performance.now() - t0);
    await frame();                         // the next frame: on time if the redraw fit in this one
    frames.push(performance.now() - t0);
  }
  return { work, frames };
}"""


def redraw_timings(page) -> dict:
    """Median and worst redraw time per widget on an open gallery page, in milliseconds."""
    results = {}
    for name, (selector, control, _, values) in REDRAWS.items():
        runs = page.evaluate(MEASURE, [selector, control, values * 2])
        results[name] = {
            "median_ms": round(statistics.median(runs["work"]), 2),
            "max_ms": round(max(runs["work"]), 2),
            "median_to_next_frame_ms": round(statistics.median(runs["frames"]), 2),
        }
    return results


def measure_redraws(html_root) -> dict:
    """Serve `html_root` on localhost, open the gallery in Debian's Chromium and time every widget."""
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html_root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"])  # noqa: E501
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
            page.goto(url + GALLERY)
            page.locator(".qkv-widget").nth(len(REDRAWS) - 1).wait_for(state="visible", timeout=20_000)
            results = redraw_timings(page)
            browser.close()
    finally:
        server.shutdown()
    return results
