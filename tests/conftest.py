"""Test-suite wide set-up: mark the browser tests so `make test` can run them after the build."""

import pytest


def pytest_collection_modifyitems(config, items):
    # Everything under tests/browser drives the built book, so `make test` can run it after the build.
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
