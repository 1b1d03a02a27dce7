"""Every chapter notebook runs top to bottom in a fresh kernel.

The notebook is executed exactly as the book build executes it (jupyter-cache's executor, the chapter's
folder as working directory, the timeout from _config.yml). A cell that raises fails the test with
the notebook's name, the cell's number and the error. A notebook that succeeds is stored in the book's
execution cache (_build/.jupyter_cache), so the `make test` build that follows reuses it instead of
running every notebook a second time.
"""

from __future__ import annotations

import time

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


def _failed_cell(nb) -> str:
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return f"code cell {number} ({first_line!r}) raised {out['ename']}: {out['evalue']}"
    return "no cell recorded an error output"


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
    # The same record the book build would have written after executing this notebook.
    cache = get_cache(str(CACHE))
    cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}), check_validity=False, overwrite=True
    )
    assert cache.match_cache_notebook(nbformat.read(path, as_version=4)) is not None
