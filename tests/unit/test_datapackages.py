"""qkv.datapackages: finding an installed data package's folder, and saying what to install when it is missing."""

from __future__ import annotations

import sys

import pytest

from qkv.datapackages import DataPackageNotFoundError, package_data_dir, require_module


def test_missing_package_names_the_pip_command():
    with pytest.raises(DataPackageNotFoundError, match="^the data package 'no_such_data_package' is not installed; "
                                                       "install it with: pip install no-such$") as info:
        package_data_dir("no_such_data_package", "data", "pip install no-such")
    assert isinstance(info.value, ModuleNotFoundError) and info.value.name == "no_such_data_package"


def test_package_without_the_data_folder(tmp_path, monkeypatch):
    (tmp_path / "fake_data_pkg").mkdir()
    (tmp_path / "fake_data_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DataPackageNotFoundError, match="has no 'data' folder.*--force-reinstall"):
        package_data_dir("fake_data_pkg", "data", "pip install fake-data-pkg")


def test_missing_reader_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if not installed
    with pytest.raises(DataPackageNotFoundError, match="^'pyarrow.parquet' is needed to read the data files; "
                                                       "install it with: pip install pyarrow$"):
        require_module("pyarrow.parquet", "pip install pyarrow")
