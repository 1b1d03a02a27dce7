"""The benchmark's own logic: page weights and the budget check (scripts/bench.py)."""

import importlib.util

import pytest

from booktoc import ROOT

spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_page_weight_counts_own_images_but_not_shared_static_files(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_images").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(b"x" * 2**20)  # 1 MiB: the page's own figure
    (tmp_path / "_static" / "theme.js").write_bytes(b"x" * 2**21)  # 2 MiB: shared by every page
    html = '<img src="../_images/fig.png"><script src="../_static/theme.js"></script><a href="other.html">'
    (tmp_path / "book" / "page.html").write_text(html)
    (tmp_path / "book" / "other.html").write_bytes(b"x" * 2**22)
    weight = bench.page_weights(tmp_path, ["book/page.html"])["book/page.html"]
    assert weight == pytest.approx(1 + len(html) / 2**20, abs=1e-3)


def test_within_budget_reports_nothing():
    results = {
        "notebooks": {"book/a.ipynb": {"seconds": 30.0, "peak_mb": 900.0}},
        "build": {"clean_seconds": 100.0, "rebuild_seconds": 5.0},
        "pages_mb": {"book/a.html": 0.5},
    }
    assert bench.over_budget(results) == []


def test_every_exceeded_budget_is_named():
    results = {
        "notebooks": {"book/slow.ipynb": {"seconds": 95.0, "peak_mb": 1600.0}},
        "build": {"clean_seconds": 700.0, "rebuild_seconds": 61.0},
        "pages_mb": {"book/heavy.html": 3.5},
    }
    failures = bench.over_budget(results)
    assert failures == [
        "slow.ipynb: 95.0 s > 90.0 s",
        "slow.ipynb: peak 1600.0 MB > 1536.0 MB",
        "clean build: 700.0 s > 600.0 s",
        "rebuild: 61.0 s > 60.0 s",
        "book/heavy.html: 3.5 MB > 3.0 MB",
    ]


def test_committed_results_hold_every_budget():
    import json

    results = json.loads((ROOT / "bench" / "results.json").read_text())
    assert results["budget_failures"] == bench.over_budget(results) == []
