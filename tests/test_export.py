"""dlcourse export: each format loads in its own runtime and predicts as the run's model."""

import json
import site
import subprocess
import sys

import numpy as np
import pytest

from dlcourse import exporting
from dlcourse.errors import DlcourseError
from dlcourse.prediction import predict_run

from helpers import invoke

pytestmark = pytest.mark.slow

REVIEWS = [
    "A wonderful, moving film -- the acting was great!",
    "Boring.  Awful plot; the WORST film...",
    "good " * 700,  # longer than maxlen: the last words are kept, as in training
    "Ünïcödé café, naïve résumé\u00a0and\ttabs\x0bhere",
    "bad",
    ":-)",  # no word once standardised: one unknown word to both, as predict gives it
]


# The LSTM reads IMDB's word indices; the NaiveBayesBag run raw text's n-grams, through
# a layer of dlcourse's own that the SavedModel must carry as a plain graph.
@pytest.mark.parametrize("run", ["imdb_lstm", "naive_bayes"])
def test_a_text_savedmodel_reads_raw_strings_without_dlcourse(trained, tmp_path, run):
    result = exporting.export_run(trained[run], "saved_model", output=tmp_path / "sm")
    assert [check.passed for check in result.checks] == [True, True]
    assert "raw texts" in result.takes
    # A Python that can import TensorFlow but not dlcourse: site-packages without the
    # .pth files that make the checkout importable.
    script = (
        "import sys, json; sys.path[:0] = json.loads(sys.argv[1]);"
        "import importlib.util; assert importlib.util.find_spec('dlcourse') is None;"
        "import tensorflow as tf; model = tf.saved_model.load(sys.argv[2]);"
        "print(json.dumps(model.serve(tf.constant(json.loads(sys.argv[3]))).numpy().tolist()))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", script, json.dumps(site.getsitepackages()),
         str(result.path), json.dumps(REVIEWS)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    exported = np.array(json.loads(done.stdout.splitlines()[-1]))[:, 0]
    expected = [p.probabilities["positive"] for p in predict_run(trained[run], REVIEWS)]
    np.testing.assert_allclose(exported, expected, atol=1e-5)
    readme = (result.path / "README.md").read_text()
    assert "tf.saved_model.load" in readme and "passed:" in readme


def test_a_bag_of_words_savedmodel_carries_the_runs_vectorizer(trained, tmp_path):
    result = exporting.export_run(trained["bow"], "saved_model", output=tmp_path / "sm")
    import tensorflow as tf

    loaded = tf.saved_model.load(str(result.path))
    texts = ["the film was good", "an awful boring plot"]
    exported = loaded.serve(tf.constant(texts)).numpy()
    expected = [[p.probabilities[name] for name in sorted(p.probabilities)]
                for p in predict_run(trained["bow"], texts)]
    if exported.shape[-1] == 1:
        expected = [[row[1]] for row in expected]
    np.testing.assert_allclose(exported, expected, atol=1e-5)


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_numeric_formats_load_in_their_runtime(trained, tmp_path, format):
    result = exporting.export_run(trained["mnist"], format, output=tmp_path / format)
    (check,) = result.checks
    assert check.passed and check.inputs > 0
    model_file = result.path / exporting.EXPORT_FILES[format]
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype="float32")
    import keras

    expected = keras.saving.load_model(trained["mnist"] / "model.keras").predict(images, verbose=0)
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(model_file))
        got = session.run(None, {session.get_inputs()[0].name: images})[0]
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(model_file))
        interpreter.allocate_tensors()
        rows = []
        for image in images:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
        got = np.concatenate(rows)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_text_onnx_export_says_it_takes_word_indices(trained, tmp_path):
    result = invoke("export", trained["imdb_lstm"], "--format", "onnx",
                    "--output", tmp_path / "onnx")
    assert result.exit_code == 0, result.output
    assert "passed: onnxruntime" in result.output
    assert "can't carry string processing" in result.output
    readme = (tmp_path / "onnx" / "README.md").read_text()
    assert "word indices" in readme
    # Its example is a review's encoding, run as written: zeros alone are padding, which a
    # fastText model's masked average makes NaN.
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "x[0, " in example and "'A wonderful, moving film.', as `dlcourse predict`" in example
    import contextlib
    import io
    import os

    printed, here = io.StringIO(), os.getcwd()
    os.chdir(tmp_path / "onnx")
    try:
        with contextlib.redirect_stdout(printed):
            exec(example, {})
    finally:
        os.chdir(here)
    assert "nan" not in printed.getvalue() and "[[" in printed.getvalue(), printed.getvalue()


def test_the_default_folder_is_in_the_run_and_an_export_replaces_the_last(trained, tmp_path):
    run = trained.copy("mnist", tmp_path)
    first = exporting.export_run(run, "saved_model")
    assert first.path == run / "export" / "saved_model"
    again = exporting.export_run(run, "saved_model")
    assert again.path == first.path and not list((run / "export").glob(".partial-*"))
    assert not [note for note in again.notes if "replaces" in note]  # its own export
    # Another run's export at --output is replaced as any export is, and said: the model
    # deployed from there was replaced by another without a word.
    deployed = exporting.export_run(run, "saved_model", output=tmp_path / "deployed").path
    other = trained.copy("mnist", tmp_path / "other")
    replaced = exporting.export_run(other, "saved_model", output=deployed)
    assert f"this replaces the export of {run.resolve()} that was in {deployed}" \
        in replaced.notes
    # A file no export wrote is a user's: replacing the folder deleted it without a word.
    (first.path / ".DS_Store").write_bytes(b"\0")  # a file browser's, left by looking: no work
    (first.path / "notes.txt").write_text("what I measured")
    refused = invoke("export", run)
    assert refused.exit_code == 2 and "holds notes.txt, which no export wrote" in refused.output
    assert (first.path / "notes.txt").read_text() == "what I measured"


def test_an_export_that_fails_its_check_writes_nothing(trained, tmp_path, monkeypatch):
    monkeypatch.setattr(exporting, "TOLERANCE", -1.0)
    with pytest.raises(exporting.ExportCheckFailed, match="Nothing was written"):
        exporting.export_run(trained["mnist"], "saved_model", output=tmp_path / "sm")
    assert not (tmp_path / "sm").exists() and not list(tmp_path.glob(".partial-*"))


def test_a_folder_of_something_else_is_not_replaced(trained, tmp_path, monkeypatch):
    """A README.md was taken for an export's mark: a course folder holding one, and the
    run being exported, was replaced by the export."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    (tmp_path / "mine" / "README.md").write_text("# My coursework")
    result = invoke("export", trained["mnist"], "--output", tmp_path / "mine")
    assert result.exit_code == 2 and "not an earlier export" in result.output
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work"
    run = trained.copy("mnist", tmp_path / "course")
    monkeypatch.chdir(tmp_path / "course")
    for output, says in ((".", "holds the run"), (tmp_path / "course", "holds the run"),
                         (run / "history", "inside the run")):
        refused = invoke("export", run, "--output", output)
        assert refused.exit_code == 2 and says in refused.output, refused.output
    assert (run / "model.keras").is_file() and not (run / "history").exists()
    exported = exporting.export_run(run, "saved_model", output=tmp_path / "sm")
    assert exporting.export_run(run, "saved_model", output=exported.path).path == exported.path
    # Another format's export there is not replaced: the SavedModel was lost without a word.
    refused = invoke("export", run, "--format", "onnx", "--output", exported.path)
    assert refused.exit_code == 2 and (f"{exported.path} holds an export as saved_model, which "
                                       "exporting as onnx would replace") in refused.output
    assert (exported.path / "saved_model.pb").is_file()
    # One written before the mark (its README and a SavedModel's files) is an export too.
    (exported.path / ".dlcourse-export").unlink()
    assert exporting.export_run(run, "saved_model", output=exported.path).path == exported.path
    # Another format's folder in the run's export/ is not this format's to replace.
    exporting.export_run(run, "saved_model")
    refused = invoke("export", run, "--format", "onnx", "--output", run / "export" / "saved_model")
    assert refused.exit_code == 2 and "inside the run" in refused.output, refused.output
    # Nor another run's: an MNIST export replaced an IMDB run's own export, exit 0.
    other = trained.copy("imdb_lstm", tmp_path / "other")
    exporting.export_run(other, "saved_model")
    readme = (other / "export" / "saved_model" / "README.md").read_text()
    for output in (other / "export" / "saved_model", other / "new", other):
        refused = invoke("export", run, "--output", output)
        assert refused.exit_code == 2, refused.output
        assert f"that is inside another run, {other}" in refused.output, refused.output
    assert (other / "export" / "saved_model" / "README.md").read_text() == readme
    assert not (other / "new").exists()


def test_a_runs_export_folder_linked_elsewhere_is_not_written_through(trained, tmp_path):
    """A run someone sent, its export/ linked to the user's deployed model: exporting it
    without --output replaced that model with this run's."""
    run = trained.copy("mnist", tmp_path / "sent")
    deployed = tmp_path / "deploy"
    exporting.export_run(run, "saved_model", output=deployed / "saved_model")
    mark = (deployed / "saved_model" / ".dlcourse-export").read_text()
    (run / "export").symlink_to(deployed)
    refused = invoke("export", run)
    assert refused.exit_code == 2, refused.output
    assert (f"{run / 'export' / 'saved_model'} leads to {deployed / 'saved_model'}, outside the "
            "run (a link in its folder)") in refused.output
    assert (deployed / "saved_model" / ".dlcourse-export").read_text() == mark


def test_a_missing_runtime_names_the_extra(trained, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(DlcourseError, match=r"onnxruntime.*Install the extra: pip install .*\[export\]'\."):
        exporting.export_run(trained["mnist"], "onnx", output=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_the_check_scales_the_difference_by_the_outputs_size():
    """A regression's rating of 8 is held to the digits a probability is: float32 summed
    in another order moved a TF-IDF regression's output by 1.7e-5, past a fixed 1e-5."""
    near = exporting.Check("onnxruntime", 1, exporting._difference([[8.0007], [0.1]], [[8.0], [0.1]]))
    assert near.passed and "/ (1 + |model.predict|)" in near.line()
    assert not exporting.Check("x", 1, exporting._difference([[0.5003]], [[0.5]])).passed


@pytest.mark.slow
def test_a_test_text_longer_than_predict_takes_is_left_out_of_the_check(tmp_path):
    """Training takes a text of a million characters; the export's check put the run's own
    test texts through predict's bound, and refused in predict's words ("Input 9 is ...")."""
    import dlcourse

    texts = ["a good film", "an awful film", "good acting", "awful plot"] * 4
    labels = [1, 0, 1, 0] * 4
    test = (["good " * 230_000, *texts[1:]], labels)
    run = dlcourse.train("imdb_bow_bigrams", {"fit.epochs": 1, "output.plots": False},
                         train=(texts, labels), test=test, output_dir=tmp_path / "runs")
    result = exporting.export_run(run.run_dir, "saved_model", output=tmp_path / "sm", test=test)
    assert all(check.passed for check in result.checks)
    (from_texts,) = [check for check in result.checks if check.inputs == len(texts) - 1]
    assert from_texts.max_difference <= exporting.TOLERANCE
