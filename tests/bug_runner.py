"""Run tests with bugs of qkv.bugs on or off, many runs in one interpreter (torch is imported once).

``python -m tests.bug_runner NODE=BUG NODE= ...`` (an empty BUG: the correct code) runs ``pytest NODE
--qkv-bug BUG`` for each pair in turn and prints one JSON line: ``[[exit status, failure line, last summary
line, exception type], ...]`` (the type of the first exception a test raised, "" when none did: a bug counts
as caught only if its test fails with an AssertionError, not if it crashes).
The test modules are dropped from ``sys.modules`` between runs, so that each run imports them afresh
with the bug of that run on (tests/conftest.py turns it on before collection). Used, through
:func:`run_in_subprocess`, by tests/unit/test_bugs.py and by the appendix page "A gallery of classic bugs".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


class _FirstException:
    """A pytest plugin that records the type and first line of the first exception a test raises."""

    def __init__(self):
        self.typename, self.message = "", ""

    def pytest_exception_interact(self, node, call, report):
        if not self.typename and call.excinfo is not None:
            self.typename = call.excinfo.typename
            self.message = (str(call.excinfo.value).strip().splitlines() or [""])[0]


def run(pairs):
    results = []
    for node, bug in pairs:
        for name in [m for m in sys.modules if m == "tests" or (m.startswith("tests.") and m != __name__)]:
            del sys.modules[name]
        args = [node, "-q", "-x", "--tb=line", "--color=no", "-p", "no:cacheprovider",
                "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        if bug:
            args += ["--qkv-bug", bug]
        out = io.StringIO()
        first = _FirstException()
        with contextlib.redirect_stdout(out):
            status = int(pytest.main(args, plugins=[first]))
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        failure = next((line for line in lines if line.startswith("E ") or "Error" in line
                        or re.search(r"\.py:\d+: ", line)), "")
        if first.typename:
            failure = f"{first.typename}: {first.message}"
        results.append([status, failure.strip()[:300], lines[-1] if lines else "", first.typename])
    return results


def run_in_subprocess(pairs):
    """:func:`run` in a fresh interpreter (so no bug or test module of the caller's process leaks in):
    ``[[exit status, failure line, summary line, exception type], ...]`` for each ``(node, bug)`` (bug None:
    the correct code). Raises with the runner's output if it did not report."""
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "tests.bug_runner", *(f"{node}={bug or ''}" for node, bug in pairs)]
    done = subprocess.run(command, cwd=root, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=600)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BUG_RUNNER ")), None)
    if line is None:
        raise RuntimeError(f"tests.bug_runner failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("BUG_RUNNER "))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    pairs = [arg.split("=", 1) for arg in sys.argv[1:]]
    print("BUG_RUNNER " + json.dumps(run(pairs)))
