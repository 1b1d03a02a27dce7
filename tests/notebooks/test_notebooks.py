"""Every chapter notebook runs top to bottom in a fresh kernel, and the numbers its prose quotes are pinned.

The notebook is executed exactly as the book build executes it (jupyter-cache's executor, the chapter's
folder as working directory, the timeout from _config.yml). A cell that raises fails the test with
the notebook's name, the cell's number and the error. A notebook that succeeds is stored in the book's
execution cache (_build/.jupyter_cache), so the `make test` build that follows reuses it instead of
running every notebook a second time.

Numbers in the prose are never typed: a cell computes them and hands them to the text with myst-nb's
`glue("name", value, display=False)`, and the Markdown shows them with {glue:text}`name:.2f`. After the
run, every glued number is compared with tests/notebooks/pins/<notebook>.json, which must list exactly
the names the notebook glues: {"name": {"value": 0.6005, "abs": 0.001}} (or a string value, compared
exactly). So a change that moves a quoted number fails here, and no quoted number escapes a pin.
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

from booktoc import ROOT, chapter_notebooks

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TIMEOUT = CONFIG["execute"]["timeout"]
CACHE = ROOT / "_build" / ".jupyter_cache"
PINS = Path(__file__).parent / "pins"


def _failed_cell(nb) -> str:
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return f"code cell {number} ({first_line!r}) raised {out['ename']}: {out['evalue']}"
    return "no cell recorded an error output"


def glued_values(nb) -> dict:
    """The values a notebook glued, by name (myst-nb stores them as outputs tagged `scrapbook`)."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                # display=False stores the value under "application/papermill.record/text/plain"
                text = next((v for k, v in out.get("data", {}).items() if k.endswith("text/plain")), "")
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[name] = text
    return values


def check_pins(path, glued: dict) -> list[str]:
    pin_file = PINS / f"{path.stem}.json"
    pins = json.loads(pin_file.read_text()) if pin_file.exists() else {}
    problems = []
    for name in sorted(set(glued) - set(pins)):
        problems.append(f"{name} = {glued[name]!r} is glued into the prose but not pinned in {pin_file.name}")
    for name in sorted(set(pins) - set(glued)):
        problems.append(f"{name} is pinned in {pin_file.name} but the notebook no longer glues it")
    for name in sorted(set(pins) & set(glued)):
        pin, got = pins[name], glued[name]
        if isinstance(pin["value"], str):
            if got != pin["value"]:
                problems.append(f"{name}: got {got!r}, pinned {pin['value']!r}")
        elif not isinstance(got, (int, float)) or abs(got - pin["value"]) > pin.get("abs", 0.0):
            problems.append(f"{name}: got {got!r}, pinned {pin['value']} ± {pin.get('abs', 0.0)}")
    return problems


@pytest.mark.notebook
@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=TIMEOUT, allow_errors=False)
    seconds = time.perf_counter() - start
    if result.err is not None:
        pytest.fail(f"{path.relative_to(ROOT)}: {_failed_cell(nb)}", pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs were recorded"
    problems = check_pins(path, glued_values(nb))
    assert not problems, f"{path.name}: numbers quoted in the prose moved:\n  " + "\n  ".join(problems)
    # The same record the book build would have written after executing this notebook.
    cache = get_cache(str(CACHE))
    cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}), check_validity=False, overwrite=True
    )
    assert cache.match_cache_notebook(nbformat.read(path, as_version=4)) is not None
