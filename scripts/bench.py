"""Measure the book: build times, every chapter's time and memory, page weights, qkv against PyTorch.

Usage: python scripts/bench.py [--skip-build] [--skip-browser] [--out bench/results.json]

Writes a machine-readable results file (default bench/results.json, committed so that the appendix
page "Running this book" can show the figures of the last run) and prints a human summary. Exits
non-zero, naming the offender, when a budget is exceeded:

- every chapter notebook under 90 s and 1.5 GB peak memory (RSS of its kernel) when executed alone;
- a clean build (all notebooks executed) under 10 minutes; a rebuild with nothing changed under 60 s;
- no page over 3 MB, not counting the vendored files every page shares (book/_vendor, the theme).

The clean build runs into a temporary output folder (`jupyter-book build --path-output`), so the
reader's own _build and its execution cache are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers: the table-of-contents reader, the widget timer
from tests.booktoc import chapter_notebooks, toc_sources  # noqa: E402

BUDGETS = {
    "notebook_seconds": 90.0,
    "notebook_peak_mb": 1536.0,
    "clean_build_seconds": 600.0,
    "rebuild_seconds": 60.0,
    "page_mb": 3.0,
}


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "os": platform.platform(terse=True),
    }


# --- chapter notebooks -----------------------------------------------------------------------------

def run_notebook(path: Path, timeout: int) -> dict:
    """Execute one notebook in a fresh kernel; wall time and the kernel's peak RSS (VmHWM)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})  # noqa: E501
    peak = {"rss": 0}
    start = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        proc = psutil.Process(pid)
        stop = threading.Event()

        def poll():  # VmHWM is the kernel's own high-water mark; polling adds any child processes
            while not stop.is_set():
                try:
                    rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
                    peak["rss"] = max(peak["rss"], rss)
                except psutil.Error:
                    pass
                stop.wait(0.05)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        hwm = 0
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            m = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            hwm = int(m.group(1)) * 1024 if m else 0
        stop.set()
        watcher.join()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "peak_mb": round(max(hwm, peak["rss"]) / 2**20, 1)}


# --- builds and pages ------------------------------------------------------------------------------

def build(output: Path) -> float:
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--warningiserror", "--keep-going", "--path-output", str(output)]  # noqa: E501
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"bench: the book build failed ({' '.join(cmd)})")
    return round(seconds, 2)


SHARED = ("_static/",)  # the theme's and the vendored files, shared by every page


def page_weights(html_root: Path, pages: list[str] | None = None) -> dict:
    """MB of each page (default: those in _toc.yml): its HTML plus its own images and downloads."""
    if pages is None:
        pages = [source.relative_to(ROOT).with_suffix(".html").as_posix() for source in toc_sources()]
    weights = {}
    for rel in pages:
        html_path = html_root / rel
        html = html_path.read_text(encoding="utf-8")
        total = html_path.stat().st_size
        for ref in set(re.findall(r'(?:src|href)="([^"#?]+)', html)):
            if "://" in ref or ref.startswith(("data:", "mailto:")):
                continue
            target = (html_path.parent / ref).resolve()
            rel_target = target.relative_to(html_root.resolve()).as_posix() if target.is_relative_to(html_root.resolve()) else ""  # noqa: E501
            if rel_target.startswith(SHARED) or target.suffix == ".html" or not target.is_file():
                continue
            total += target.stat().st_size
        weights[rel] = round(total / 2**20, 3)
    return weights


def site_mb(html_root: Path) -> float:
    return round(sum(p.stat().st_size for p in html_root.rglob("*") if p.is_file()) / 2**20, 1)


# --- qkv against PyTorch ---------------------------------------------------------------------------

def compare_with_torch() -> list[dict]:
    """Forward+backward time of qkv's modules over PyTorch's, same weights, a few sizes (CPU, float32)."""
    import torch
    import torch.nn.functional as F
    from torch.utils import benchmark

    from qkv import attention, rnn

    torch.manual_seed(0)
    rows = []

    def timeit(fn) -> float:
        return benchmark.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=0.5).median

    def fwd_bwd(module_call, inputs):
        def fn():
            out = module_call(*inputs)
            out = out[0] if isinstance(out, tuple) else out
            out.sum().backward()
        return fn

    for batch, length, d_model, heads in [(8, 64, 128, 4), (32, 128, 256, 8)]:
        x = torch.randn(batch, length, d_model, requires_grad=True)
        q = torch.randn(batch, heads, length, d_model // heads, requires_grad=True)
        ours = timeit(fwd_bwd(lambda t: attention.scaled_dot_product_attention(t, t, t), [q]))
        ref = timeit(fwd_bwd(lambda t: F.scaled_dot_product_attention(t, t, t), [q]))
        rows.append({"what": "scaled dot-product attention", "size": f"B{batch} H{heads} L{length} d{d_model // heads}", "qkv_ms": ours * 1e3, "torch_ms": ref * 1e3})  # noqa: E501

        ref_mha = torch.nn.MultiheadAttention(d_model, heads, batch_first=True)
        our_mha = attention.MultiHeadAttention.from_torch(ref_mha)
        ours = timeit(fwd_bwd(lambda t: our_mha(t, t, t), [x]))  # noqa: B023 (timed at once, in this iteration)
        ref = timeit(fwd_bwd(lambda t: ref_mha(t, t, t, need_weights=True, average_attn_weights=False), [x]))  # noqa: B023 (timed at once, in this iteration)
        rows.append({"what": "multi-head attention", "size": f"B{batch} L{length} d{d_model} h{heads}", "qkv_ms": ours * 1e3, "torch_ms": ref * 1e3})  # noqa: E501

    for batch, length, size in [(16, 32, 64), (32, 64, 128)]:
        x = torch.randn(batch, length, size, requires_grad=True)
        for name, ours_cls, ref_cls in [("LSTM", rnn.LSTM, torch.nn.LSTM), ("GRU", rnn.GRU, torch.nn.GRU)]:
            ref_mod = ref_cls(size, size, num_layers=2, batch_first=True)
            our_mod = ours_cls(size, size, num_layers=2)
            our_mod.load_state_dict(ref_mod.state_dict())
            ours = timeit(fwd_bwd(our_mod, [x]))
            ref = timeit(fwd_bwd(ref_mod, [x]))
            rows.append({"what": f"{name} (2 layers)", "size": f"B{batch} L{length} h{size}", "qkv_ms": ours * 1e3, "torch_ms": ref * 1e3})  # noqa: E501
    for row in rows:
        row["qkv_ms"] = round(row["qkv_ms"], 3)
        row["torch_ms"] = round(row["torch_ms"], 3)
        row["ratio"] = round(row["qkv_ms"] / row["torch_ms"], 2)
    return rows


# --- widgets in Chromium ---------------------------------------------------------------------------

def widget_redraws(html_root: Path) -> dict:
    """Redraw time of each static widget after a control changes (tests/browser/widget_timing.py)."""
    from tests.browser.widget_timing import measure_redraws

    return measure_redraws(html_root)


# --- budgets ---------------------------------------------------------------------------------------

def over_budget(results: dict, budgets: dict = BUDGETS) -> list[str]:
    """Every measurement in `results` that exceeds its budget, as a line naming the offender."""
    failures = []
    for notebook, r in results.get("notebooks", {}).items():
        name = Path(notebook).name
        if r["seconds"] > budgets["notebook_seconds"]:
            failures.append(f"{name}: {r['seconds']} s > {budgets['notebook_seconds']} s")
        if r["peak_mb"] > budgets["notebook_peak_mb"]:
            failures.append(f"{name}: peak {r['peak_mb']} MB > {budgets['notebook_peak_mb']} MB")
    build = results.get("build", {})
    if build.get("clean_seconds", 0) > budgets["clean_build_seconds"]:
        failures.append(f"clean build: {build['clean_seconds']} s > {budgets['clean_build_seconds']} s")
    if build.get("rebuild_seconds", 0) > budgets["rebuild_seconds"]:
        failures.append(f"rebuild: {build['rebuild_seconds']} s > {budgets['rebuild_seconds']} s")
    for page, mb in results.get("pages_mb", {}).items():
        if mb > budgets["page_mb"]:
            failures.append(f"{page}: {mb} MB > {budgets['page_mb']} MB")
    return failures


# --- main ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--skip-build", action="store_true", help="skip the clean build and the rebuild")
    parser.add_argument("--skip-browser", action="store_true", help="skip the widget redraw timings")
    args = parser.parse_args(argv)

    results: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "budgets": BUDGETS}

    print("bench: chapter notebooks, one at a time in a fresh kernel", flush=True)
    import yaml

    timeout = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
    results["notebooks"] = {}
    for path in chapter_notebooks():
        r = run_notebook(path, timeout)
        results["notebooks"][path.relative_to(ROOT).as_posix()] = r
        print(f"  {path.name:40s} {r['seconds']:7.1f} s  {r['peak_mb']:7.0f} MB", flush=True)

    html_root = ROOT / "_build" / "html"
    if not args.skip_build:
        with tempfile.TemporaryDirectory(prefix="qkv-bench-") as tmp:
            print("bench: clean build (every notebook executed)", flush=True)
            clean = build(Path(tmp))
            print(f"  {clean} s\nbench: rebuild with nothing changed", flush=True)
            rebuild = build(Path(tmp))
            print(f"  {rebuild} s", flush=True)
            results["build"] = {"clean_seconds": clean, "rebuild_seconds": rebuild}
            html_root = Path(tmp) / "_build" / "html"
            results["site_mb"] = site_mb(html_root)
            results["pages_mb"] = page_weights(html_root)
            if not args.skip_browser:
                results["widget_redraw_ms"] = widget_redraws(html_root)
    elif html_root.exists():
        results["site_mb"] = site_mb(html_root)
        results["pages_mb"] = page_weights(html_root)
        if not args.skip_browser:
            results["widget_redraw_ms"] = widget_redraws(html_root)
    print("bench: qkv against PyTorch (forward + backward, CPU, float32)", flush=True)
    results["qkv_vs_torch"] = compare_with_torch()
    for row in results["qkv_vs_torch"]:
        print(f"  {row['what']:30s} {row['size']:22s} qkv {row['qkv_ms']:8.2f} ms  torch {row['torch_ms']:8.2f} ms  x{row['ratio']}")  # noqa: E501

    failures = results["budget_failures"] = over_budget(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"bench: wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if failures:
        print("bench: BUDGET EXCEEDED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("bench: all budgets hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
