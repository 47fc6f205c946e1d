"""A missing optional extra is one paragraph that says what to install, and how."""

import importlib.util

import pytest

from dlcourse import extras

from helpers import ROOT


def test_a_missing_module_names_the_extra_and_the_pip_line_of_this_checkout(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastapi" else real(name, *a))
    with pytest.raises(extras.MissingExtra) as error:
        extras.require("serve", "dlcourse serve")
    # This dlcourse runs from its source folder: the index has no dlcourse to install.
    assert str(error.value) == (
        "dlcourse serve needs fastapi, which is not installed. Install the extra: "
        f"pip install -e '{ROOT}[serve]'."
    )


def test_an_installed_package_names_the_extra_on_the_index(monkeypatch, tmp_path):
    monkeypatch.setattr(extras, "SOURCE_FOLDER", tmp_path)  # site-packages: no pyproject.toml
    assert extras.install_line("export") == "pip install 'dlcourse[export]'"


def test_present_modules_pass():
    extras.require("mlflow", "--track mlflow")
