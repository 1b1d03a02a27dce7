"""Every public function and class of qkv has a docstring with a runnable example.

pytest runs those examples as doctests (--doctest-modules in pyproject.toml); this test makes sure
there is one to run. Argument-checking helpers (qkv.checks, qkv.widgets._common) are plumbing, not
API the chapters teach, and are left out.
"""

import importlib
import inspect
import pkgutil

import qkv

PLUMBING = {"qkv.checks", "qkv.widgets._common"}


def public_objects():
    for info in pkgutil.walk_packages(qkv.__path__, "qkv."):
        if info.name in PLUMBING:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ == module.__name__:
                yield f"{info.name}.{name}", obj


def test_there_are_public_objects_to_check():
    assert len(dict(public_objects())) > 50


def test_every_public_object_has_a_doctest_example():
    missing = [name for name, obj in public_objects() if ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"public objects without a docstring example: {missing}"
