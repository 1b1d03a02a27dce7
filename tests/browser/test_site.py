"""Every page of the built book, as a reader meets it: at 1280 and 390 px, in light and dark mode.

One test per (width, mode) opens every page listed in _toc.yml in one browser context and fails on:
a console error or warning, a request that leaves the site, a page wider than the window, a display
equation or output block wider than its column without a scroll container of its own, a formula that is
a Tab stop, a figure without real alt text, a duplicate element id, a sidebar toggle that does not open
(or, where the sidebar starts open, close and re-open) its sidebar, and whatever axe-core reports
(colour contrast of the pages, widgets and diagrams included), less the short, explained lists below.

axe-core comes from web/node_modules (a devDependency in web/package.json that vendor_assets.py never
copies into the site); it is injected into each page by the test. Screenshots of every page, and a
JSON report of what axe found, are written to _build/screenshots/ (page-width-mode.png).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from booktoc import ROOT, toc_sources

PAGES = [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in toc_sources()]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDTHS = (1280, 390)
MODES = ("light", "dark")

# axe-core rules that do not apply to this book, each with the reason. Keep this short and specific.
AXE_RULES_NOT_APPLICABLE: dict[str, str] = {}

# Failures this test knows about and tolerates: (page, check, CSS scope of the offending elements) ->
# reason. The check is an axe rule id or one of this file's own checks ("img-alt"). Empty: every page
# passes every check. An entry that no longer matches anything fails the test, so it cannot go stale.
KNOWN_OWNED_ELSEWHERE: dict[tuple[str, str, str], str] = {}

# One evaluate() that measures everything the checks need, after the page has settled.
MEASURE = r"""() => {
  const visible = e => e.checkVisibility() && e.getBoundingClientRect().width > 0;
  const describe = e => {
    const id = e.id ? '#' + e.id : '';
    const sec = e.closest('section[id]');
    return e.tagName.toLowerCase() + id + (sec ? ' in #' + sec.id : '') + ' "' + (e.textContent || '').trim().slice(0, 40) + '"';
  };
  const column = document.querySelector('article.bd-article') || document.querySelector('main');
  const col = column.getBoundingClientRect();
  const wide = [];
  const blocks = document.querySelectorAll(
    'mjx-container[display="true"], .cell_output > *, div.output, .cell_output table, article table, article pre');
  for (const e of blocks) {
    if (!visible(e) || e.closest('.qkv-widget')) continue;  // a widget's own layout is its front end's
    let scroller = null;
    for (let n = e; n && n !== column; n = n.parentElement) {
      const ox = getComputedStyle(n).overflowX;
      if (ox === 'auto' || ox === 'scroll') { scroller = n; break; }
    }
    if (scroller) {
      const r = scroller.getBoundingClientRect();
      const cs = getComputedStyle(scroller);
      const scrolls = scroller.scrollWidth > scroller.clientWidth + 1;
      const bar = scroller.offsetHeight - scroller.clientHeight - parseFloat(cs.borderTopWidth) - parseFloat(cs.borderBottomWidth);
      if (r.right > col.right + 1 || r.left < col.left - 1) wide.push('scroll box wider than the column: ' + describe(e));
      else if (!scrolls) continue;
      // Printed output is quoted by the prose: it wraps, it never hides part of a line.
      else if (e.matches('.cell_output pre, .cell_output pre *')) wide.push('output scrolls sideways instead of wrapping: ' + describe(e));
      // Equations and output tables: phones draw overlay scrollbars (invisible until one scrolls), so
      // these need a cue of their own: the scroll shadow (a background attached "local", qkv.css).
      else if (scroller.matches('mjx-container, .cell_output .output') && !cs.backgroundAttachment.includes('local'))
        wide.push('scrolls sideways with no visible cue (scroll shadow): ' + describe(e));
      else if (bar < 2) wide.push('scrolls sideways with no scrollbar drawn: ' + describe(e));
    } else {
      const r = e.getBoundingClientRect();
      if (e.scrollWidth > e.clientWidth + 1 || r.right > col.right + 1)
        wide.push(`cut off (${e.scrollWidth}px in ${e.clientWidth}px): ` + describe(e));
    }
  }
  // Table cells need room between them, or the numbers run together ("1.2e-071.7e-04").
  for (const t of document.querySelectorAll('.cell_output table')) {
    const tight = [...t.querySelectorAll('td, th')].filter(c => {
      const cs = getComputedStyle(c);
      return parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight) < 4;
    });
    if (tight.length) wide.push(`${tight.length} table cells without padding: ` + describe(t));
  }
  const ids = {};
  for (const e of document.querySelectorAll('[id]')) ids[e.id] = (ids[e.id] || 0) + 1;
  const imgs = [...document.querySelectorAll('img')].map(i => ({
    alt: i.getAttribute('alt'), src: i.getAttribute('src') || '', hidden: i.getAttribute('aria-hidden') === 'true',
    scopes: SCOPES.filter(s => i.closest(s)),
  }));
  return {
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    wide,
    duplicate_ids: Object.entries(ids).filter(([, n]) => n > 1).map(([id, n]) => `${id} (${n}x)`),
    // Only a display equation that scrolls sideways may be a Tab stop (book/_assets/qkv-math.js).
    math_tab_stops: [...document.querySelectorAll('mjx-container')].filter(m => m.hasAttribute('tabindex') && m.tabIndex >= 0
      && !(m.dataset.qkvScroll === '1' && m.scrollWidth > m.clientWidth + 1)).length,
    imgs,
    theme: document.documentElement.dataset.theme,
  };
}"""

AXE_RUN = r"""async (scopes) => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  const find = t => { try { return typeof t === 'string' ? document.querySelector(t) : null; } catch { return null; } };
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => {
    const el = find(n.target[0]);
    return {target: n.target.join(' '), html: n.html.slice(0, 160), scopes: el ? scopes.filter(s => el.closest(s)) : []};
  })}));
}"""

SIDEBAR_OPEN = r"""(kind) => {
  for (const sel of [`#pst-${kind}-sidebar-modal[open]`, `#pst-${kind}-sidebar`]) {
    const e = document.querySelector(sel);
    if (!e || !e.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    const r = e.getBoundingClientRect();
    if (r.width < 50 || r.right <= 0 || r.left >= innerWidth) continue;
    const link = [...e.querySelectorAll('a')].find(a => a.checkVisibility() && a.getBoundingClientRect().width > 0);
    if (link) return true;
  }
  return false;
}"""

_USED: set = set()  # KNOWN_OWNED_ELSEWHERE entries that matched, over the tests of this run
_RAN: set = set()

HASHLIKE = re.compile(r"(^|/)[0-9a-f]{12,}\.(png|svg|jpe?g|gif|webp)$|\.(png|svg|jpe?g|gif|webp)$", re.I)


def _page_html(page_path: str) -> str:
    path = HTML / page_path
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _settle(page, page_path: str) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true")
    if WIDGET_MIME in _page_html(page_path):
        page.wait_for_function(
            f"""() => [...document.querySelectorAll('.cell_output:has(script[type="{WIDGET_MIME}"])')]
                     .every(o => o.querySelector('.lm-Widget'))""", timeout=20_000)
    page.evaluate("() => document.fonts.ready.then(() => true)")


def _known(page_path: str, check: str, scopes: list[str], used: set, text: str = "") -> bool:
    for key in KNOWN_OWNED_ELSEWHERE:
        if key[0] == page_path and key[1] == check and (key[2] in scopes or (check == "console" and key[2] in text)):
            used.add(key)
            return True
    return False


def _check_toggle(page, kind: str) -> list[str]:
    """Click the visible toggle of the primary/secondary sidebar; it must open the sidebar (or, where the
    sidebar starts open, close it and open it again on a second click)."""
    toggles = page.locator(f".{kind}-toggle:visible")
    if toggles.count() == 0:
        if kind == "primary":
            return ["no visible primary sidebar toggle"]
        return []  # no secondary sidebar on this page or at this width
    toggle = toggles.first
    def click_until(open_: bool) -> bool:
        toggle.click()
        try:
            page.wait_for_function(f"() => ({SIDEBAR_OPEN})('{kind}') === {str(open_).lower()}", timeout=1500)
            return True
        except Exception:  # playwright's TimeoutError: the sidebar did not change
            return False

    problems = []
    if page.evaluate(SIDEBAR_OPEN, kind):
        if not click_until(False):
            problems.append(f"{kind} sidebar toggle: the open sidebar did not close when clicked")
        elif not click_until(True):
            problems.append(f"{kind} sidebar toggle: the sidebar did not open again on a second click")
    elif not click_until(True):
        problems.append(f"{kind} sidebar toggle: clicking it does not open the {kind} sidebar")
    if page.evaluate(f"() => !!document.querySelector('#pst-{kind}-sidebar-modal[open]')"):
        page.keyboard.press("Escape")
        page.wait_for_function(f"() => !document.querySelector('#pst-{kind}-sidebar-modal[open]')", timeout=1500)
    return problems


@pytest.fixture(scope="module")
def reader_browser(browser_type, browser_type_launch_args):
    """Chromium as a reader runs it: Playwright's headless default --hide-scrollbars is dropped, so a
    box that scrolls shows whether it draws a scrollbar (and screenshots show what a reader sees)."""
    browser = browser_type.launch(**browser_type_launch_args, ignore_default_args=["--hide-scrollbars"])
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make setup` (npm ci in web/)", pytrace=False)
    return str(AXE)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_at_width_and_mode(reader_browser, book_url, axe_source, width, mode):
    host = urlsplit(book_url).netloc
    offsite: list[str] = []
    context = reader_browser.new_context(viewport={"width": width, "height": 900}, color_scheme=mode)
    context.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
    context.route("**/*", lambda route: route.continue_()
                  if urlsplit(route.request.url).netloc == host or route.request.url.startswith(("data:", "blob:"))
                  else (offsite.append(route.request.url), route.abort()))
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
    page.on("response", lambda r: console.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    scopes = sorted({key[2] for key in KNOWN_OWNED_ELSEWHERE if key[1] != "console"})
    problems: list[str] = []
    report: dict[str, dict] = {}
    used: set = set()
    for page_path in PAGES:
        console.clear()
        offsite.clear()
        page.goto(book_url + page_path, wait_until="load")
        _settle(page, page_path)
        found: list[str] = []
        m = page.evaluate(MEASURE.replace("SCOPES", json.dumps(scopes)))
        if m["theme"] != mode:
            found.append(f"html[data-theme] is {m['theme']!r}, not {mode!r}")
        if m["overflow"] > 0:
            found.append(f"the page scrolls sideways by {m['overflow']}px")
        found += m["wide"]
        found += [f"duplicate id {d}" for d in m["duplicate_ids"]]
        if m["math_tab_stops"]:
            found.append(f"{m['math_tab_stops']} formulas are Tab stops")
        for img in m["imgs"]:
            alt = (img["alt"] or "").strip()
            if img["hidden"] or (alt and not HASHLIKE.search(alt)):
                continue
            if not _known(page_path, "img-alt", img["scopes"], used):
                found.append(f"figure without real alt text: src={img['src']!r} alt={img['alt']!r}")
        page.add_script_tag(path=axe_source)
        violations = page.evaluate(AXE_RUN, scopes)
        for v in violations:
            if v["id"] in AXE_RULES_NOT_APPLICABLE:
                continue
            for node in v["nodes"]:
                if not _known(page_path, v["id"], node["scopes"], used):
                    found.append(f"axe {v['id']} ({v['impact']}): {v['help']}: {node['target']} {node['html']}")
        page.screenshot(path=str(SHOTS / f"{Path(page_path).stem}-{width}-{mode}.png"), full_page=True)
        found += _check_toggle(page, "primary")
        found += _check_toggle(page, "secondary")
        found += [c for c in console if not _known(page_path, "console", [], used, c)]
        found += [f"request to another host: {u}" for u in offsite]
        report[page_path] = {"axe": {v["id"]: len(v["nodes"]) for v in violations}, "problems": found}
        problems += [f"{page_path} @{width}px {mode}: {p}" for p in found]
    context.close()
    out = SHOTS / "axe-report.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous[f"{width}-{mode}"] = report
    out.write_text(json.dumps(previous, indent=1, sort_keys=True))
    _USED.update(used)
    _RAN.add((width, mode))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])


def test_known_owned_elsewhere_is_current():
    """Runs after the four tests above: an entry that matched nothing in any width and mode is stale."""
    if len(_RAN) < len(WIDTHS) * len(MODES):
        pytest.skip("needs every (width, mode) test of this file in the same run")
    stale = [k for k in KNOWN_OWNED_ELSEWHERE if k not in _USED]
    assert not stale, f"KNOWN_OWNED_ELSEWHERE entries that no longer match anything (remove them): {stale}"
