"""A missing optional extra names the pip line that installs it where dlcourse runs from
(test_export, test_serving and test_tracking check each command's refusal)."""

from dlcourse import extras

from helpers import ROOT


def test_a_source_checkout_installs_the_extra_from_itself():
    # The package index has no dlcourse: `pip install 'dlcourse[serve]'` would fail here.
    assert extras.install_line("serve") == f"pip install -e '{ROOT}[serve]'"


def test_an_installed_package_names_the_extra_on_the_index(monkeypatch, tmp_path):
    monkeypatch.setattr(extras, "SOURCE_FOLDER", tmp_path)  # site-packages: no pyproject.toml
    assert extras.install_line("export") == "pip install 'dlcourse[export]'"
