"""The documents can't rot: the config reference is what the schema gives, and every
Python snippet of the README and docs/ runs (on tiny data, trained for one epoch)."""

import re

import pytest

import dlcourse
from dlcourse.config.reference import render

from helpers import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def test_the_config_reference_is_generated_from_the_schema():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == render(), (
        "docs/config.md is stale: python -m dlcourse.config.reference > docs/config.md"
    )


def snippets():
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for number, match in enumerate(SNIPPET.finditer(text), start=1):
            indent = len(match[1])
            code = "\n".join(line[indent:] for line in match[2].splitlines())
            found.append(pytest.param(code, id=f"{document.name}-{number}"))
    return found


def test_the_documents_have_snippets():
    assert len(snippets()) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("code", snippets())
def test_each_python_snippet_runs(code, data_dir, monkeypatch, tmp_path):
    # The snippets train the lecture's models on the real data; here the same calls run
    # on the tests' tiny files for one epoch, so a wrong name or argument fails at once.
    code = code.replace('"../shared/data"', repr(str(data_dir)))
    code = code.replace('"configs/', f'"{ROOT / "configs"}/')
    for name in ("train", "tune"):
        monkeypatch.setattr(dlcourse, name, _small(getattr(dlcourse, name)))
    _draw_a_digit(tmp_path / "digit.png")  # what the snippets predict on
    texts = ["a great film", "an awful film"] * 8
    namespace = {"train_texts": texts, "train_labels": [1, 0] * 8,
                 "test_texts": texts, "test_labels": [1, 0] * 8}
    exec(compile(code, "<snippet>", "exec"), namespace)


def _small(function):
    def small(config, overrides=None, **kwargs):
        if isinstance(config, str):
            overrides = {**(overrides or {}), "data.limit": 32, "fit.epochs": 1}
        return function(config, overrides, **kwargs)

    return small


def _draw_a_digit(path):
    import numpy as np
    from PIL import Image

    picture = np.full((40, 40), 255, dtype=np.uint8)
    picture[8:32, 18:22] = 0  # a dark "1" on white paper, as a photo of one would be
    Image.fromarray(picture).save(path)


def test_the_annotated_config_of_the_instructors_guide_is_the_shipped_one():
    import yaml

    text = (ROOT / "docs" / "instructors.md").read_text()
    shown = re.search(r"```yaml\n(# IMDB LSTM.*?)```", text, re.DOTALL)[1]
    shipped = (ROOT / "configs" / "imdb_lstm.yaml").read_text()
    assert yaml.safe_load(shown) == yaml.safe_load(shipped)
