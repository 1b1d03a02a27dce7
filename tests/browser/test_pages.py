"""Every page of the built book loads offline, cleanly, with its math and widgets rendered."""

from __future__ import annotations

import pytest

from booktoc import ROOT, toc_sources

PAGES = [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in toc_sources()]


def _source_html(page_path: str) -> str:
    """The built page's HTML ("" when it is not built: test_page_loads_offline_without_errors fails then)."""
    path = ROOT / "_build" / "html" / page_path
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.parametrize("page_path", PAGES)
def test_page_loads_offline_without_errors(page, page_log, book_url, page_path):
    page.goto(book_url + page_path, wait_until="load")
    page.wait_for_load_state("networkidle")
    assert page.locator("main h1").count() >= 1, f"{page_path}: no heading rendered"
    assert page_log["offsite"] == [], f"{page_path}: requests to other hosts: {page_log['offsite']}"
    assert page_log["failed"] == [], f"{page_path}: failed requests: {page_log['failed']}"
    assert page_log["errors"] == [], f"{page_path}: console errors: {page_log['errors']}"


MATH_PAGES = [p for p in PAGES if 'class="math' in _source_html(p)]


@pytest.mark.parametrize("page_path", MATH_PAGES)
def test_math_is_rendered_by_mathjax(page, page_log, book_url, page_path):
    page.goto(book_url + page_path)
    page.wait_for_load_state("networkidle")
    html = _source_html(page_path)
    page.locator("mjx-container").first.wait_for(state="attached", timeout=10_000)
    # Every math node becomes a MathJax container, and none is left as raw TeX with an error.
    assert page.locator("mjx-container").count() >= html.count('class="math')
    assert page.locator("mjx-merror").count() == 0, f"{page_path}: MathJax reported a TeX error"
    assert page_log["errors"] == [], page_log["errors"]


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_PAGES = [p for p in PAGES if WIDGET_MIME in _source_html(p)]


def test_some_page_has_math():
    assert MATH_PAGES, "no built page holds math; the MathJax test would test nothing"


def test_some_page_has_a_widget():
    assert WIDGET_PAGES, "no built page holds a widget view; the widget tests would test nothing"


@pytest.mark.parametrize("page_path", WIDGET_PAGES)
def test_widgets_are_rendered_without_a_kernel(page, page_log, book_url, page_path):
    page.goto(book_url + page_path)
    expected = _source_html(page_path).count(f'type="{WIDGET_MIME}"')
    # The HTML manager renders each saved view as a Lumino widget next to the view's script tag.
    rendered = page.locator(".cell_output .lm-Widget")
    rendered.first.wait_for(state="visible", timeout=15_000)
    page.wait_for_load_state("networkidle")
    outputs_with_view = page.locator(f'.cell_output:has(script[type="{WIDGET_MIME}"])')
    assert outputs_with_view.count() == expected
    for i in range(expected):
        assert outputs_with_view.nth(i).locator(".lm-Widget").count() >= 1, f"{page_path}: widget view {i} not rendered"
    assert page_log["offsite"] == [] and page_log["failed"] == [], (page_log["offsite"], page_log["failed"])
    assert page_log["errors"] == [], page_log["errors"]
