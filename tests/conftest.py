"""Test-suite wide set-up: mark the browser tests so `make test` can run them after the build."""

import os

import pytest
import torch
from hypothesis import Phase, settings

# `make mutation` runs the tests once per mutant (QKV_MUTATION=1): a property test that a mutant breaks must fail at
# once, not spend minutes shrinking its counterexample. The examples tried are the same; only shrinking is skipped.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate])
if os.environ.get("QKV_MUTATION"):
    settings.load_profile("mutation")
    # mutmut forks one process per mutant from a process that has already run torch: a forked child that inherits
    # torch's thread pool can hang (it did: the "timeouts" of the first runs slept at 0% CPU). One thread avoids it.
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    # Everything under tests/browser drives the built book, so `make test` can run it after the build.
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


# The bug gallery (qkv.bugs): `--qkv-bug NAME` turns one classic bug on in qkv for the whole run, before the test
# modules are collected (they bind qkv's functions at import), so that a test can be shown to catch it.
def pytest_addoption(parser):
    parser.addoption("--qkv-bug", default=None, metavar="NAME", help="run the tests with the bug NAME of qkv.bugs on")


def pytest_configure(config):
    name = config.getoption("--qkv-bug")
    if name:
        from qkv import bugs

        switch = bugs.enabled(name)
        switch.__enter__()
        config.add_cleanup(lambda: switch.__exit__(None, None, None))
