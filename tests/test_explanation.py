"""Trained models recomputed with the NumPy reference, through the API and the CLI.

Each shipped config's smoke run is explained in tests/test_cli.py, beside its other checks."""

import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import dlcourse
from dlcourse.explanation import UnsupportedLayer, reference_layer

from helpers import ROOT, invoke

TINY = {"data.limit": 32, "fit.epochs": 1}


@pytest.mark.slow
def test_explain_command_prints_each_layer_and_the_difference(data_dir, trained, tmp_path):
    run_dir = trained.copy("imdb_lstm", tmp_path)
    result = invoke("explain", run_dir, "--samples", 3, "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    # What it does is said before TensorFlow's start; the answer goes to stdout.
    assert result.stderr == f"Recomputing 3 test inputs of {run_dir} in NumPy ...\n"
    assert result.stdout.startswith("3 test inputs through the NumPy reference")
    assert "model.layers[1].LSTM" in result.output
    difference = float(result.output.split("model.predict: ")[1].split()[0])
    assert difference <= 1e-4


@pytest.mark.slow
def test_explain_on_a_read_only_run_prints_its_recomputation_and_says_of_the_picture(
        data_dir, trained, tmp_path, read_only):
    """A course's runs shared read-only: the feature maps' write was a traceback, and the
    recomputation, printed after it, was lost."""
    run_dir = read_only(trained.copy("mnist", tmp_path))
    result = invoke("explain", run_dir, "--samples", 2, "--data-dir", data_dir)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert result.stdout.startswith("2 test inputs through the NumPy reference")
    assert f"Warning: the feature maps can't be written to {run_dir} (Read-only file " \
        "system); the recomputation is not affected." in result.stderr
    assert not list(run_dir.glob(".partial*")) and not (run_dir / "feature_maps.png").exists()


@pytest.mark.slow
def test_explain_names_a_layer_the_reference_does_not_implement(data_dir, tmp_path):
    layers = [
        "Flatten",
        {"BatchNormalization": {}},
        {"Dense": {"units": 10, "activation": "softmax"}},
    ]
    run = dlcourse.train(
        ROOT / "configs" / "mnist_cnn.yaml",
        {**TINY, "data.limit": 16, "model.layers": layers},
        data_dir=data_dir,
        output_dir=tmp_path / "runs",
    )
    result = invoke("explain", run.run_dir, "--data-dir", data_dir)
    assert result.exit_code == 2
    # Keras numbers layer names per process, so other tests' layers may come first.
    assert re.search(r"model\.layers\[1\]\.BatchNormalization \('batch_normalization(_\d+)?'\)",
                     result.output)
    assert "has no BatchNormalization layer" in result.output
    assert not (run.run_dir / "feature_maps.png").exists()


def test_unsupported_layers_and_settings_are_refused_by_name():
    bidirectional = keras.layers.Bidirectional(keras.layers.LSTM(2))
    bidirectional.build((1, 3, 4))
    with pytest.raises(UnsupportedLayer, match=r"layers\[2\].Bidirectional .*no Bidirectional"):
        reference_layer(bidirectional, 2)

    dilated = keras.layers.Conv2D(2, 3, dilation_rate=2)
    dilated.build((1, 9, 9, 1))
    with pytest.raises(UnsupportedLayer, match=r"dilation_rate=\(1, 1\), but it has"):
        reference_layer(dilated, 0)

    elu = keras.layers.Dense(3, activation="elu")
    elu.build((1, 4))
    with pytest.raises(UnsupportedLayer, match=r"model.layers\[0\].Dense.activation: .*'elu'"):
        reference_layer(elu, 0)


def test_a_supported_layer_is_computed_with_its_own_weights_and_settings():
    layer = keras.layers.Conv2D(3, 2, strides=2, padding="same", activation="tanh")
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(x))
    step = reference_layer(layer, 0)
    assert np.max(np.abs(step(x) - expected)) <= 1e-5


def test_explain_refuses_a_directory_that_is_not_a_run(tmp_path):
    result = invoke("explain", tmp_path)
    assert result.exit_code == 2
    assert "is not a dlcourse run directory" in result.output


def test_help_for_explain_does_not_import_tensorflow():
    # Run from the checkout's root so that this checkout's dlcourse is the one imported.
    script = (
        "import sys; from click.testing import CliRunner; from dlcourse.cli import main; "
        "print(CliRunner().invoke(main, ['explain', '--help']).output); "
        "print(any(name.split('.')[0] in ('tensorflow', 'keras') for name in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "Usage: main explain [OPTIONS] RUN_DIR" in output
    assert output.splitlines()[-1] == "False"


def test_samples_are_bounded_before_anything_is_read(tmp_path):
    """Every layer's output for every sample is held at once: 10,000 took 5.9 GB."""
    from dlcourse.errors import DlcourseError
    from dlcourse.explanation import explain_run

    with pytest.raises(DlcourseError, match="explain recomputes 1 to 256 test inputs"):
        explain_run(tmp_path, samples=10_000)
    result = invoke("explain", tmp_path, "--samples", 10_000)
    assert result.exit_code == 2 and "1<=x<=256" in result.output


@pytest.mark.parametrize("unroll", [False, True])
def test_each_layer_runs_as_keras_computes_it_at_every_length(unroll):
    """Layers run as graphs (eagerly an LSTM looped in Python a step at a time); after two
    lengths the graph takes any length, which an unrolled layer can't, so it stays eager."""
    from dlcourse.explanation import _as_graph

    layer = keras.layers.LSTM(3, unroll=unroll)
    rng = np.random.default_rng(0)
    call = _as_graph(layer)
    for length in (2, 5, 3, 7):
        x = rng.normal(size=(1, length, 4)).astype("float32")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(call(x)),
                                   keras.ops.convert_to_numpy(layer(x)), atol=1e-6)
