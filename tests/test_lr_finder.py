"""The learning-rate range test: on a problem whose good rates are known from theory, and
as the command a user runs (a plot, a suggestion, the --set line, and nothing changed)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from dlcourse.lr_finder import range_test
from helpers import ROOT, invoke, one_paragraph, write_mnist


def test_on_least_squares_it_suggests_a_rate_below_where_gradient_descent_diverges():
    # Linear least squares on standard normal inputs: the loss's Hessian is 2I, so
    # gradient descent converges for rates below 2 / 2 = 1 and diverges above; fastest
    # around 0.5. The test must stop near 1 and suggest a rate that learns, below it.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32") + 0.1 * rng.standard_normal(4096)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate=1e-6), "mse")
    before = [w.copy() for w in model.get_weights()]
    result = range_test(model, x, y, 128, start=1e-5, end=100, steps=150)
    diverged_at = result.learning_rates[-1]
    assert 0.5 < diverged_at < 5, result.stopped
    assert 0.01 <= result.suggestion < 1, (result.suggestion, result.rule)
    assert result.suggestion < diverged_at
    # It leaves the model as it found it.
    for kept, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(kept, now)
    # And the suggestion does learn: a few epochs at it take the loss near the noise.
    model.optimizer.learning_rate = result.suggestion
    fitted = model.fit(x, y, batch_size=128, epochs=3, verbose=0).history["loss"][-1]
    assert fitted < 0.05


@pytest.mark.slow
def test_the_command_plots_suggests_and_prints_the_line_to_train_with(tmp_path):
    write_mnist(tmp_path, train=256, test=32)
    config = ROOT / "configs" / "mnist_cnn.yaml"
    before = config.read_text()
    plot = tmp_path / "out" / "lr.png"
    result = invoke("lr-find", config, "--data-dir", tmp_path, "--output", plot,
                    "--steps", "40", "--set", "fit.batch_size=16")
    assert result.exit_code == 0, result.output
    curve = json.loads(plot.with_suffix(".json").read_text())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(curve["learning_rates"]) == len(curve["losses"]) >= 5
    assert curve["learning_rates"] == sorted(curve["learning_rates"])
    assert "plot" not in curve and f". The curve: {plot} (and lr.json beside it)" in result.output
    assert re.search(r"^The test ended: (reached|the loss) ", result.output, re.MULTILINE)
    suggested = float(re.search(r"learning_rate=([0-9.e+-]+)", result.output)[1])
    assert suggested == pytest.approx(curve["suggestion"], rel=1e-2)
    assert f"--data-dir {tmp_path} --set=fit.batch_size=16 --set compile.optimizer." \
        "learning_rate=" in result.output
    assert config.read_text() == before and not (tmp_path / "runs").exists()
    assert "are few for a range test" not in result.output  # 256 examples (192 trained on)
    few = invoke("lr-find", config, "--data-dir", tmp_path, "--output", plot, "--steps", "10",
                 "--set", "data.limit=12")
    assert few.exit_code == 0, few.output
    assert ("Warning: 12 training examples are few for a range test: the loss follows their "
            "noise as much as the rate") in few.stderr


def test_a_range_test_shows_its_suggestion_and_plot_in_a_notebook_and_a_line_in_print(
        tmp_path):
    """Its repr was three lists of 200 floats, and a notebook showed no plot."""
    from dlcourse.lr_finder import RangeTest

    (tmp_path / "lr.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    rates = [1e-7 * 1.1 ** step for step in range(200)]
    result = RangeTest(rates, [2.3] * 200, [2.3] * 200, 1.2e-3, 4e-4, 1.2e-3,
                       "steepest descent", "reached 10 after 200 steps", str(tmp_path / "lr.png"))
    assert repr(result) == (f"<RangeTest of 200 steps in {tmp_path}/lr.png: suggested learning "
                            "rate 0.0012 (steepest descent)>")
    html = result._repr_html_()
    assert "Suggested learning rate: 0.0012 (steepest descent" in html
    assert "compile.optimizer.learning_rate=0.0012" in html
    assert 'src="data:image/png;base64,iVBORw0KGgo' in html


def test_a_start_above_the_end_is_refused_in_one_paragraph(tmp_path):
    result = invoke("lr-find", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir",
                    tmp_path, "--start", "1", "--end", "0.1")
    assert one_paragraph(result) and "start" in result.stderr, result.stderr


@pytest.mark.parametrize(("arguments", "says"), [
    ({"steps": "30"}, "lr_find: steps='30'; expected a whole number of batches from 10 to "
                      "100,000."),
    ({"steps": 30.5}, "lr_find: steps=30.5; expected a whole number"),
    ({"steps": 10**9}, "lr_find: steps=1000000000; expected"),
    ({"start": None}, "lr_find: start=None; expected a learning rate above 0."),
    ({"end": float("nan")}, "lr_find: end=nan; expected a learning rate above 0."),
])
def test_range_test_numbers_from_python_are_checked_as_the_command_line_checks_them(
        tmp_path, arguments, says):
    """"30" and 30.5 steps were TypeErrors inside the test, after TensorFlow started and
    the data was read; a billion steps had no bound (its permutations are made first)."""
    import dlcourse
    from dlcourse.errors import ConfigError

    write_mnist(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(says)):
        dlcourse.lr_find("mnist_cnn", data_dir=tmp_path, **arguments)


@pytest.mark.slow
def test_numpy_numbers_are_range_test_numbers(tmp_path, monkeypatch):
    import dlcourse

    write_mnist(tmp_path)
    result = dlcourse.lr_find("mnist_cnn", {"fit.batch_size": 16}, data_dir=tmp_path,
                              output=tmp_path / "curve.png", steps=np.int64(12),
                              start=np.float32(1e-4), end=np.float64(1.0))
    assert len(result.learning_rates) >= 5 and result.learning_rates[0] == pytest.approx(1e-4)

    # A Ctrl-C as the next plot is written: the plot and curve before stay whole (the
    # plot was left empty, and the next lr-find refused to replace it as no PNG).
    import matplotlib.figure

    before = {path: path.read_bytes() for path in (tmp_path / "curve.png", tmp_path / "curve.json")}
    with monkeypatch.context() as patch:
        def pressed(figure, target, *args, **kwargs):
            Path(target).write_bytes(b"")
            raise KeyboardInterrupt

        patch.setattr(matplotlib.figure.Figure, "savefig", pressed)
        with pytest.raises(KeyboardInterrupt):
            dlcourse.lr_find("mnist_cnn", {"fit.batch_size": 16}, data_dir=tmp_path,
                             output=tmp_path / "curve.png", steps=12)
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(path.name for path in tmp_path.iterdir() if "curve" in path.name) == [
        "curve.json", "curve.png"]
    # A plot from before plots were signed, beside its curve, is still an earlier plot:
    # the default name of every earlier lr-find was refused after the upgrade.
    import matplotlib.pyplot

    figure = matplotlib.pyplot.figure()
    figure.savefig(tmp_path / "curve.png")  # unsigned, as dlcourse drew it before
    matplotlib.pyplot.close(figure)
    dlcourse.lr_find("mnist_cnn", {"fit.batch_size": 16}, data_dir=tmp_path,
                     output=tmp_path / "curve.png", steps=12)
    # A name with no suffix is a PNG, as --output says: Matplotlib added .png to the
    # temporary file, whose rename then failed with a traceback, leaving it behind.
    dlcourse.lr_find("mnist_cnn", {"fit.batch_size": 16}, data_dir=tmp_path,
                     output=tmp_path / "plain", steps=12)
    assert (tmp_path / "plain").read_bytes().startswith(b"\x89PNG")
    assert not list(tmp_path.glob(".partial-*"))


def test_a_batch_larger_than_the_data_takes_the_data_once_in_bounded_memory():
    """Every pass through the data the test would need was made up front: a batch size of
    2**31 - 1 grew the process by 200 MB a second until it was killed."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = x.sum(axis=1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), "mse")
    tracemalloc.start()
    # 2**20: the passes made up front are 40 MB of indices (2**31 - 1 would take them all).
    result = range_test(model, x, y, 2**20, start=1e-4, end=1e-2, steps=5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result.losses) == 5 and peak < 10 << 20, peak
    # The batches are the shuffled passes, in order, whatever their size.
    from dlcourse.lr_finder import _shuffled_batches

    batches = _shuffled_batches(10, 4, np.random.default_rng(1))
    taken = np.concatenate([next(batches) for _ in range(5)])
    passes = np.random.default_rng(1)
    expected = np.concatenate([passes.permutation(10) for _ in range(2)])
    np.testing.assert_array_equal(taken, expected)


def test_a_range_past_what_a_float_holds_is_refused_and_a_schedule_kept():
    """1e-300 to 1e300 stopped at its 2nd step, the rate inf, with 'Lower --start'; and the
    suggestion for a config with a schedule replaced the schedule by a constant rate."""
    from dlcourse.config import load_config
    from dlcourse.errors import ConfigError
    from dlcourse.lr_finder import _rate_key

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), "mse")
    x = np.zeros((8, 2), "float32")
    with pytest.raises(ConfigError, match="range from 1e-300 to 1e[+]300 spans more than a float"):
        range_test(model, x, x[:, 0], 4, start=1e-300, end=1e300, steps=10)
    scheduled = load_config(ROOT / "configs" / "mnist_cnn_sgd_momentum.yaml")
    assert _rate_key(scheduled) == "compile.optimizer.learning_rate.initial_learning_rate"
    assert _rate_key(load_config(ROOT / "configs" / "mnist_cnn.yaml")) == \
        "compile.optimizer.learning_rate"
    # A warmup's target is its peak; a schedule of no one rate is replaced, and said so.
    warm = load_config(ROOT / "configs" / "mnist_cnn.yaml", [
        "compile.optimizer.learning_rate={schedule: CosineDecay, initial_learning_rate: 0.0, "
        "decay_steps: 1000, warmup_steps: 100, warmup_target: 0.1}"])
    assert _rate_key(warm) == "compile.optimizer.learning_rate.warmup_target"
    steps = load_config(ROOT / "configs" / "mnist_cnn.yaml", [
        "compile.optimizer.learning_rate={schedule: PiecewiseConstantDecay, boundaries: [100], "
        "values: [0.1, 0.01]}"])
    from dlcourse.lr_finder import REPLACES_SCHEDULE, describe

    assert _rate_key(steps) == REPLACES_SCHEDULE
    result = range_test(model, np.ones((64, 2), "float32"), np.ones(64, "float32"), 8,
                        start=1e-4, end=1e-1, steps=10)
    said = describe(replace(result, rate_key=REPLACES_SCHEDULE))
    assert said.endswith("Train with it: --set compile.optimizer.learning_rate="
                         f"{result.suggestion:.3g} (a constant rate, in place of the config's "
                         "schedule)")


def test_an_infinite_learning_rate_is_a_usage_error_naming_the_option():
    # It was "lr_find: start=inf; expected a learning rate above 0", and inf is above 0.
    result = invoke("lr-find", ROOT / "configs" / "mnist_cnn.yaml", "--start", "inf")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--start': 'inf' is not a finite number" in result.output


def test_a_plot_into_a_read_only_folder_is_refused_before_the_range_test(data_dir, tmp_path,
                                                                         read_only):
    # After the whole range test, it was a traceback, and the measured curve was lost.
    folder = tmp_path / "shared"
    folder.mkdir()
    read_only(folder)
    result = invoke("lr-find", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", data_dir,
                    "--output", folder / "sub" / "lr.png")
    assert one_paragraph(result), result.output
    assert f"--output {folder / 'sub' / 'lr.png'}: {folder} can't be written" in result.output
    assert "step" not in result.output  # nothing trained
