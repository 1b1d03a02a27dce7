"""The launch check: every chapter runs on a fresh Colab-like and a fresh Binder-like environment.

Readers press the rocket on a chapter page and run it on Colab or Binder. The local build pins every
package, so it cannot see an install that breaks when a version moves. This check builds both
environments from nothing, as a reader meets them (short of the network), from a clone of the committed
repository (commit first: uncommitted changes are not checked):

Colab-like  A virtual environment of Colab's Python with the packages a Colab runtime has preinstalled
            (scripts/colab_runtime.txt). Each chapter is copied alone into a fresh folder standing in for
            /content, and executed with `google.colab` present, so its own first cell (the set-up cell)
            runs exactly as on Colab: clone the repository, `%pip install` qkv and the data packages,
            resolving everything not preinstalled to the newest version the metadata allows. Two words of
            the cell are replaced: the repository URL (by the local clone) and /content (by that folder).
            Then the glued numbers are compared with the pins, and every widget view shown must be in the
            widget state the notebook saves (what a static page or Colab's widget manager renders).
Binder-like A Python 3.11 virtual environment built as repo2docker builds it from binder/ (its
            requirements.txt, then postBuild), with the local torch 2.13.0 CPU wheel standing in for
            PyTorch's CPU index. Each chapter executes in the clone's book/ folder, alone, and its kernel's
            peak memory must stay under Binder's 2 GB.

Writes bench/launch.json (versions that differ from requirements.txt's pins, numbers that moved, each
chapter's time and peak memory) and exits non-zero naming what failed. With --if-changed it does nothing
when its inputs (binder/, the set-up cell, pyproject.toml, requirements.txt, the Colab package list, this
script) are unchanged since the last passing run recorded in bench/launch.json, and runs only the pages that
are new to _toc.yml or whose notebook changed since that run (their results are merged into the record);
`.ci/run` calls it so.

Usage: python scripts/launch_check.py [--if-changed] [--only colab|binder] [--chapters 01_word_vectors,...]
       (make launch-check; QKV_LAUNCH_KEEP=folder keeps the executed notebooks there)
"""

from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import nbformat
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "notebooks"))
from test_notebooks import check_pins, glued_values  # noqa: E402

from booktoc import chapter_notebooks, repository_url  # noqa: E402

RESULTS = ROOT / "bench" / "launch.json"
INPUTS = ["binder", "book/_templates/setup_cell.py", "pyproject.toml", "requirements.txt",
          "scripts/colab_runtime.txt", "scripts/launch_check.py"]
BINDER_MEMORY_MB = 2048
KEEP = Path(os.environ["QKV_LAUNCH_KEEP"]) if os.environ.get("QKV_LAUNCH_KEEP") else None  # executed notebooks
TIMEOUT = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FAKE_COLAB = """\
# Added by scripts/launch_check.py: what makes the set-up cell take its Colab branch.
import sys, types
_google, _colab, _output = (types.ModuleType(n) for n in ("google", "google.colab", "google.colab.output"))
_output.enable_custom_widget_manager = lambda: None
# anywidget reads the URL of Colab's widget manager from here to tag its views (Colab's own name for it)
_output._widgets = types.SimpleNamespace(_installed_url="https://colab.research.google.com/stand-in/manager.min.js")
_colab.output, _google.colab = _output, _colab
sys.modules.update({"google": _google, "google.colab": _colab, "google.colab.output": _output})
"""


def say(message: str) -> None:
    print(f"launch-check: {message}", flush=True)


# pyproject.toml tables that pip never reads: editing the linters' or the test runners' settings does not
# change what a reader's install resolves, so it does not call for the (fifteen-minute) launch check.
DEV_TOOLS = ("pytest", "ruff", "mutmut", "coverage")


def install_relevant(file: Path) -> bytes:
    """The bytes of an input that can change a reader's install (pyproject.toml without DEV_TOOLS' tables)."""
    if file.name != "pyproject.toml":
        return file.read_bytes()
    table = tomllib.loads(file.read_text())
    for tool in DEV_TOOLS:
        table.get("tool", {}).pop(tool, None)
    return json.dumps(table, sort_keys=True).encode()


def inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(file.relative_to(ROOT).as_posix().encode())
                digest.update(install_relevant(file))
    return digest.hexdigest()[:16]


def notebook_hashes(chapters: list[Path]) -> dict[str, str]:
    """Each page's notebook, hashed: a page added to _toc.yml or edited since the last passing run is run again."""
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in chapters}


def run(cmd: list[str], **kwargs) -> str:
    """Run a command; on failure raise with its last lines of output (pip's resolver errors end there)."""
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def find_python(version: str) -> str:
    """A python3.X that runs: on PATH (a pyenv shim there may not), else a pyenv build of it."""
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    raise RuntimeError(f"Python {version} is needed (python{version} on PATH or a pyenv build); set "
                       f"{'BINDER' if version == '3.11' else 'COLAB'}_PYTHON=/path/to/python{version}")


def make_venv(python: str, path: Path) -> Path:
    say(f"creating a fresh virtual environment with {run([python, '--version']).strip()} in {path.name}")
    run([python, "-m", "venv", str(path)])
    run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return path / "bin" / "python"


def freeze(python: Path) -> dict[str, str]:
    out = run([str(python), "-m", "pip", "list", "--format=json"])
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def kernelspec(jupyter_dir: Path, name: str, python: Path) -> None:
    spec = jupyter_dir / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name, "language": "python",
        "env": {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}}))  # the debugger's frozen-modules note, on every start


def execute(nb, cwd: Path, kernel: str) -> dict:
    """Run every cell in a fresh kernel; wall time, the kernel's peak memory, the first error."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name=kernel, resources={"metadata": {"path": str(cwd)}})
    peak, error, start = {"rss": 0}, None, time.perf_counter()
    with client.setup_kernel():
        proc = psutil.Process(client.km.provisioner.process.pid)
        stop = threading.Event()

        def poll():  # the kernel and its children (pip, git), every 50 ms
            while not stop.is_set():
                try:
                    peak["rss"] = max(peak["rss"], sum(p.memory_info().rss for p in [proc, *proc.children(True)]))
                except psutil.Error:
                    pass
                stop.wait(0.05)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            client.set_widgets_metadata()  # the widget state a saved notebook (and a static page) carries
            # An error while displaying a result (a widget's _repr_mimebundle_, say) does not fail the cell.
            shown = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
            if shown:
                error = f"an error output while displaying: {shown[0].get('ename')}: {shown[0].get('evalue')}"
        except CellExecutionError as exc:
            error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc).strip().splitlines()[-1])[:300]  # no colour codes
        finally:
            stop.set()
            watcher.join()
    return {"seconds": round(time.perf_counter() - start, 1), "peak_mb": round(peak["rss"] / 2**20), "error": error}


def widget_check(nb) -> dict:
    views = {out["data"][WIDGET_VIEW]["model_id"] for cell in nb.cells for out in cell.get("outputs", [])
             if WIDGET_VIEW in out.get("data", {})}
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return {"views": len(views), "views_missing_from_state": len(views - set(state))}


def colab(tmp: Path, clone: Path, chapters: list[Path]) -> dict:
    wanted = [line.split("#")[0].strip() for line in (ROOT / "scripts" / "colab_runtime.txt").read_text().splitlines()]
    version = next(w.split("==")[1] for w in wanted if w.startswith("python=="))
    python = make_venv(os.environ.get("COLAB_PYTHON") or find_python(version), tmp / "colab-venv")
    say("installing what a Colab runtime has preinstalled (scripts/colab_runtime.txt; torch is the large one)")
    run([str(python), "-m", "pip", "install", "--quiet", *[w for w in wanted if w and not w.startswith("python==")]])
    jupyter = tmp / "colab-jupyter"
    kernelspec(jupyter, "colab-like", python)
    os.environ["JUPYTER_PATH"] = f"{jupyter}{os.pathsep}{os.environ.get('JUPYTER_PATH', '')}"
    results = {"python": run([str(python), "--version"]).split()[-1], "chapters": {}}
    for path in chapters:
        content = tmp / f"content-{path.stem}"  # a fresh /content for every chapter
        content.mkdir()
        nb = nbformat.read(clone / "book" / path.name, as_version=4)
        nb.cells[0].source = (nb.cells[0].source.replace(repository_url(), f"file://{clone}")
                              .replace("/content", str(content)))
        nb.cells.insert(0, nbformat.v4.new_code_cell(FAKE_COLAB))
        say(f"Colab-like: {path.name} ...")
        result = execute(nb, content, "colab-like")
        result["pins_moved"] = [] if result["error"] else check_pins(path, glued_values(nb))
        result.update(widget_check(nb))
        results["chapters"][path.stem] = result
        if KEEP:
            nbformat.write(nb, KEEP / f"colab-{path.name}")
        say(f"Colab-like: {path.name}: {result}")
    versions = freeze(python)
    results["differs_from_pins"] = {name: {"pinned": want, "colab": versions[name]}
                                    for name, want in pinned().items()
                                    if name in versions and versions[name].split("+")[0] != want.split("+")[0]}
    return results


def binder(tmp: Path, clone: Path, chapters: list[Path]) -> dict:
    python = make_venv(os.environ.get("BINDER_PYTHON") or find_python("3.11"), tmp / "binder-venv")
    reqs = clone / "binder" / "requirements.txt"
    local = reqs.with_name("requirements.local.txt")  # beside it, so that `-r ../requirements.txt` still resolves
    # PyTorch's CPU index is not reachable here; the same torch 2.13.0+cpu wheel lies on this machine's disk.
    local.write_text("".join(line + "\n" for line in reqs.read_text().splitlines()
                             if not line.startswith("--extra-index-url")))
    say("installing binder/requirements.txt (repo2docker's first step)")
    run([str(python), "-m", "pip", "install", "--quiet", "-r", str(local)])
    say("running binder/postBuild (repo2docker's second step)")
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    run(["bash", "binder/postBuild"], cwd=clone, env=env)
    jupyter = tmp / "binder-jupyter"
    kernelspec(jupyter, "binder-like", python)
    os.environ["JUPYTER_PATH"] = f"{jupyter}{os.pathsep}{os.environ.get('JUPYTER_PATH', '')}"
    results = {"python": run([str(python), "--version"]).split()[-1], "memory_limit_mb": BINDER_MEMORY_MB,
               "chapters": {}}
    for path in chapters:
        nb = nbformat.read(clone / "book" / path.name, as_version=4)
        say(f"Binder-like: {path.name} ...")
        result = execute(nb, clone / "book", "binder-like")
        result["pins_moved"] = [] if result["error"] else check_pins(path, glued_values(nb))
        result.update(widget_check(nb))
        results["chapters"][path.stem] = result
        if KEEP:
            nbformat.write(nb, KEEP / f"binder-{path.name}")
        say(f"Binder-like: {path.name}: {result}")
    return results


def failures(results: dict) -> list[str]:
    found = []
    for where in ("colab", "binder"):
        for name, r in results.get(where, {}).get("chapters", {}).items():
            if r["error"]:
                found.append(f"{where}: {name} raised {r['error']}")
            found += [f"{where}: {name}: pin moved: {p}" for p in r["pins_moved"]]
            if r.get("views_missing_from_state"):
                missing = r["views_missing_from_state"]
                found.append(f"{where}: {name}: {missing} widget views missing from the saved state")
            if where == "binder" and r["peak_mb"] > BINDER_MEMORY_MB:
                found.append(f"binder: {name} peaked at {r['peak_mb']} MB, over Binder's {BINDER_MEMORY_MB} MB")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--if-changed", action="store_true", help="skip when the inputs match the last passing run")
    parser.add_argument("--only", choices=["colab", "binder"])
    parser.add_argument("--chapters", help="comma-separated notebook stems (default: every page in _toc.yml)")
    args = parser.parse_args(argv)
    current = inputs_hash()
    chapters = chapter_notebooks()
    hashes = notebook_hashes(chapters)
    last = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merge = False  # run only some pages and keep the last passing run's results for the others
    if args.if_changed and last.get("inputs_hash") == current and last.get("passed"):
        seen = last.get("notebook_hashes", {})
        stale = [p for p in chapters if seen.get(p.stem) != hashes[p.stem]]
        if not stale:
            say(f"inputs and pages unchanged since the passing run of {last['date']} (hash {current}); not run")
            return 0
        say(f"inputs unchanged since the passing run of {last['date']}; pages new or changed since: "
            f"{', '.join(p.stem for p in stale)}; running those")
        chapters, merge = stale, True
    elif args.if_changed:
        say("inputs changed since the last passing run (or it failed); running")
    if args.chapters:
        chapters = [p for p in chapters if p.stem in args.chapters.split(",")]
    commit = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).strip()
    if run(["git", "status", "--porcelain", "--", *INPUTS, "book"], cwd=ROOT).strip():
        say(f"note: uncommitted changes are not checked; checking commit {commit}")
    # Every page of _toc.yml as it is now: the ones not run this time passed at these hashes last time.
    results = {"date": datetime.date.today().isoformat(), "commit": commit, "inputs_hash": current,
               "notebook_hashes": hashes}
    with tempfile.TemporaryDirectory(prefix="qkv-launch-") as tmp_name:
        tmp = Path(tmp_name)
        clone = tmp / "qkv"
        run(["git", "clone", "--quiet", str(ROOT), str(clone)])
        try:
            if args.only in (None, "colab"):
                results["colab"] = colab(tmp, clone, chapters)
            if args.only in (None, "binder"):
                results["binder"] = binder(tmp, clone, chapters)
        except RuntimeError as exc:
            results["setup_error"] = str(exc)
    problems = failures(results) + ([f"set-up failed: {results['setup_error']}"] if "setup_error" in results else [])
    complete = args.only is None and not args.chapters
    for where in ("colab", "binder"):  # each page's result says which commit it ran at (a merged record mixes them)
        for result in results.get(where, {}).get("chapters", {}).values():
            result["commit"] = commit
    if merge and complete:  # the pages run now, on top of the last passing run's record of the others in _toc.yml
        for where in ("colab", "binder"):
            if where in results:
                kept = {k: v for k, v in last[where]["chapters"].items() if k in hashes}
                results[where]["chapters"] = {**kept, **results[where]["chapters"]}
    results["passed"] = complete and not problems
    if complete or not RESULTS.exists():
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        say(f"wrote {os.path.relpath(RESULTS, ROOT)}")
    for where in ("colab", "binder"):
        if where in results:
            say(f"{where}: Python {results[where]['python']}")
            for name, r in results[where]["chapters"].items():
                say(f"  {name:28s} {r['seconds']:6.1f} s {r['peak_mb']:6d} MB  {'ok' if not r['error'] else 'FAILED'}")
    for name, v in results.get("colab", {}).get("differs_from_pins", {}).items():
        say(f"colab resolves {name} {v['colab']} (pinned {v['pinned']})")
    for problem in problems:
        print(f"launch-check: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
