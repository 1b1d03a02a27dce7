"""The bug gallery's switches (qkv.bugs): each bug's named test fails with the bug on and passes with it off.

So no bug in the gallery can silently stop being caught: if a test is weakened, or a refactor moves the
lines a bug replaces (``enabled`` then raises BugDetached), this file fails. Each check runs the named
test in a fresh interpreter (``--qkv-bug`` of tests/conftest.py turns the bug on before collection).
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from qkv import bugs
from tests.bug_runner import run_in_subprocess


def run_pairs(pairs):
    """(exit status, exception type) of ``pytest node --qkv-bug bug`` for each ``(node, bug)`` (None: off)."""
    return [(status, typename) for status, _, _, typename in run_in_subprocess(pairs)]


@pytest.fixture(scope="module")
def outcomes():
    """``{(bug, on): (exit status, exception type)}``: every bug on, each distinct test off once, in two processes."""
    jobs = {(name, True): (bug.test, name) for name, bug in bugs.BUGS.items()}
    jobs.update({(name, False): (bug.test, None) for name, bug in bugs.BUGS.items()})
    distinct = list(dict.fromkeys(jobs.values()))
    halves = [distinct[0::2], distinct[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_pairs, halves))
    status = {job: code for half, codes in zip(halves, results) for job, code in zip(half, codes)}
    return {key: status[job] for key, job in jobs.items()}


@pytest.mark.parametrize("name", sorted(bugs.BUGS))
def test_each_bug_is_caught_by_its_test_and_the_correct_code_passes_it(name, outcomes):
    # Caught means an assertion failed: a test that crashes (an error, a wrong call) would also exit with status 1.
    assert outcomes[(name, True)] == (1, "AssertionError"), f"{name}: {bugs.BUGS[name].test} does not fail an " \
        f"assertion with the bug on: {outcomes[(name, True)]}"
    assert outcomes[(name, False)] == (0, ""), f"{name}: {bugs.BUGS[name].test} fails on the correct code"


@pytest.mark.parametrize("name", sorted(bugs.BUGS))
def test_each_bug_changes_its_target_and_is_undone_on_exit(name):
    correct, buggy = bugs.buggy_source(name)
    assert correct != buggy and bugs.diff(name).count("\n-") + bugs.diff(name).count("\n+") >= 2
    module, owner, attr, original = bugs._resolve(bugs.BUGS[name].target)
    with bugs.enabled(name):
        swapped = bugs._resolve(bugs.BUGS[name].target)[3]
        assert swapped is not original and swapped.__qkv_bug__ == name
    assert bugs._resolve(bugs.BUGS[name].target)[3] is original and not bugs._active


def test_importers_see_the_bug_and_get_the_original_back():
    import qkv.transformer
    from qkv.masks import causal_mask

    with bugs.enabled("causal-mask-inverted"):
        assert torch.equal(qkv.transformer.causal_mask(3), torch.ones(3, 3, dtype=torch.bool).triu())
    assert qkv.transformer.causal_mask is causal_mask and torch.equal(causal_mask(3), causal_mask(3).tril())


def test_a_detached_bug_fails_loudly_and_one_bug_per_target():
    detached = bugs.Bug("gone", "qkv.masks:causal_mask", (("no such line", "x"),), "", "", "")
    bugs.BUGS["gone"] = detached
    try:
        with pytest.raises(bugs.BugDetached, match="occurs 0 times"), bugs.enabled("gone"):
            pass
    finally:
        del bugs.BUGS["gone"]
    with bugs.enabled("causal-mask-inverted"):
        with pytest.raises(RuntimeError, match="already has bug 'causal-mask-inverted' on"):
            with bugs.enabled("causal-mask-off-by-one"):
                pass
    with pytest.raises(ValueError, match="name: expected one of"):
        bugs.diff("no-such-bug")


def test_a_module_imported_while_a_bug_is_on_gets_the_original_back():
    import types

    with bugs.enabled("causal-mask-inverted"):
        late = types.ModuleType("late_importer")
        exec("from qkv.masks import causal_mask", late.__dict__)  # noqa: S102 - an import during the switch
        sys.modules["late_importer"] = late
        assert late.causal_mask(2)[0, 1]
    try:
        assert not late.causal_mask(2)[0, 1]
    finally:
        del sys.modules["late_importer"]
