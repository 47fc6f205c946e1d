"""The learning-rate range test (Smith 2015, "Cyclical learning rates"; fastai's lr_find).

From the model's initial weights, train one batch at a time while the learning rate rises
exponentially from `start` to `end`, and record each batch's loss. The loss first barely
moves (the rate is too small), then falls fastest, then turns and blows up (too large).
A good rate lies where it falls fastest: the steepest descent of the smoothed loss, or,
by the older rule, a tenth of the rate at its minimum. Nothing is saved into a run or a
config; the curve goes to a PNG and a JSON beside it.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import keras
import numpy as np

from dlcourse import reports
from dlcourse.comparison import LR_FIND_SIGNATURE, plot_format
from dlcourse.config import Config
from dlcourse.config.sections import LearningRateSchedule
from dlcourse.errors import ConfigError
from dlcourse.execution import one_hot_if_needed, validation_cut
from dlcourse.rundir import write_text, written_atomically

# The loss is smoothed by an exponential average over about this fraction of the steps:
# fastai's fixed 0.98 averages over 50 steps, which over 100-200 steps lags the curve by
# a decade of rates or more and moves the minimum past the divergence. The test stops
# once the smoothed loss is this many times its lowest (fastai's rule).
SMOOTHED_FRACTION = 0.05
DIVERGED = 4.0


# RangeTest.rate_key of a config whose schedule has no one rate to set.
REPLACES_SCHEDULE = "schedule"


# Training examples below which the loss curve is mostly the noise of the few.
FEW_EXAMPLES = 100


@dataclass(frozen=True)
class RangeTest:
    """What the range test measured and what it suggests."""

    learning_rates: list[float]
    losses: list[float]
    smoothed: list[float]
    steepest: float | None
    minimum_over_10: float
    suggestion: float
    rule: str  # "steepest descent" or "minimum / 10"
    stopped: str  # why the test ended
    plot: str | None = None  # the PNG, once written (not part of its own JSON)
    # What the suggestion sets: a schedule's initial rate keeps the config's schedule (a
    # constant rate in its place replaced it, unsaid).
    rate_key: str = "compile.optimizer.learning_rate"

    def set_line(self) -> str:
        key = ("compile.optimizer.learning_rate" if self.rate_key == REPLACES_SCHEDULE
               else self.rate_key)
        return f"--set {key}={self.suggestion:.3g}"

    def __repr__(self) -> str:
        return reports.result_repr(
            "RangeTest", f"of {len(self.learning_rates)} steps", self.plot or "memory",
            f"suggested learning rate {self.suggestion:.3g} ({self.rule})")

    def _repr_html_(self) -> str:
        """In a notebook: what the command prints, and the curve."""
        plot = Path(self.plot) if self.plot else None
        return reports.lines_html("Learning-rate range test", describe(self).splitlines(),
                                  plot.read_bytes() if plot is not None and plot.is_file() else None)


def with_learning_rate(config: Config, rate: float) -> Config:
    """`config` with a plain learning rate, which the test can raise batch by batch (a
    schedule would set it itself)."""
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["compile"]["optimizer"]["learning_rate"] = rate
    return Config.model_validate(raw)


def _shuffled_batches(count: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index batches of `size` over passes through `count` examples, each pass shuffled,
    made as they are taken: every pass a test needed, made at once, took memory without
    bound (a batch size of 2**31 - 1 grew by 200 MB a second)."""
    order = np.empty(0, dtype=np.int64)
    while True:
        while len(order) < size:
            order = np.concatenate([order, rng.permutation(count)])
        batch, order = order[:size], order[size:]
        yield batch


def range_test(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int, *,
               start: float = 1e-7, end: float = 10.0, steps: int = 200, seed: int = 0,
               progress: bool = False) -> RangeTest:
    """Train `model` on batches of (x, y), the rate rising from `start` to `end` over
    `steps` batches, then put its weights back as they were."""
    _check_range(start, end)
    initial = model.get_weights()
    optimizer_initial = [v.numpy() for v in model.optimizer.variables] if model.optimizer.built else None
    batches = _shuffled_batches(len(x), min(batch_size, len(x)), np.random.default_rng(seed))
    smoothing = 1 - 1 / max(1.0, SMOOTHED_FRACTION * steps)
    rates, losses, smoothed = [], [], []
    average, lowest, stopped = 0.0, math.inf, f"reached {end:g} after {steps} steps"
    try:
        for step in range(steps):
            rate = start * (end / start) ** (step / max(steps - 1, 1))
            model.optimizer.learning_rate = rate
            batch = next(batches)
            loss = float(np.asarray(model.train_on_batch(x[batch], y[batch], return_dict=True)["loss"]))
            rates.append(rate)
            losses.append(loss)
            if not math.isfinite(loss):
                stopped = f"the loss became {loss} at {rate:.3g}"
                break
            average = smoothing * average + (1 - smoothing) * loss
            smoothed.append(average / (1 - smoothing ** (step + 1)))
            lowest = min(lowest, smoothed[-1])
            if progress and step % 20 == 0:
                print(f"  step {step + 1}/{steps}: learning rate {rate:.2e}, loss {loss:.4f}",
                      file=sys.stderr, flush=True)
            if step > 10 and smoothed[-1] > DIVERGED * lowest:
                stopped = f"the loss passed {DIVERGED:g}x its lowest at {rate:.3g}"
                break
    finally:
        model.set_weights(initial)
        if optimizer_initial is not None:
            for variable, value in zip(model.optimizer.variables, optimizer_initial):
                variable.assign(value)
    return _suggest(rates[:len(smoothed)], losses[:len(smoothed)], smoothed, stopped)


def _check_range(start: float, end: float) -> None:
    if not 0 < start < end:
        raise ConfigError(f"lr-find needs 0 < start < end: got start {start:g} and end {end:g}.")
    if not math.isfinite(end / start):  # the rates between would be inf from the 2nd step
        raise ConfigError(f"lr-find's range from {start:g} to {end:g} spans more than a float "
                          "holds; a range test spans a few decades (the default is 1e-07 to 10).")


def _suggest(rates: list[float], losses: list[float], smoothed: list[float],
             stopped: str) -> RangeTest:
    if len(smoothed) < 5:
        raise ConfigError(
            f"The range test stopped after {len(smoothed)} steps ({stopped}): too few to "
            "suggest a rate. Lower --start."
        )
    lowest = int(np.argmin(smoothed))
    minimum_over_10 = rates[lowest] / 10
    steepest = None
    if lowest >= 3:
        # The slope of the smoothed loss against log(rate), before its minimum; the first
        # tenth is left out, where the smoothing is still settling.
        skip = max(1, lowest // 10)
        slopes = np.gradient(np.asarray(smoothed[:lowest + 1]), np.log(rates[:lowest + 1]))
        steepest = rates[skip + int(np.argmin(slopes[skip:lowest]))]
    if steepest is not None and steepest < rates[lowest]:
        suggestion, rule = steepest, "steepest descent"
    else:
        suggestion, rule = minimum_over_10, "minimum / 10"
    return RangeTest(rates, losses, smoothed, steepest, minimum_over_10, suggestion, rule, stopped)


def find_learning_rate(config: Config, data_dir: str | Path | None = None, *,
                       output: str | Path, start: float = 1e-7,
                       end: float = 10.0, steps: int = 200) -> RangeTest:
    """Run the range test for `config` on its training data (without its validation
    split), and write the plot and the curve; the result knows the plot's path."""
    from dlcourse.preparation import prepare
    from dlcourse.training import as_in_a_fresh_process

    _check_range(start, end)
    if steps < 10:
        raise ConfigError(f"lr-find needs at least 10 steps, got {steps}")
    rate_key = _rate_key(config)
    config = with_learning_rate(config, start)
    with as_in_a_fresh_process(config):
        prepared = prepare(config, data_dir)
        dataset = prepared.dataset
        x = dataset.x_train
        y = one_hot_if_needed(dataset.y_train, dataset.num_classes, config.compile.loss)
        if config.fit.validation_split is not None:
            cut = validation_cut(len(x), config.fit.validation_split)
            x, y = x[:cut], y[:cut]
        print(f"Range test of {config.name}: {steps} batches of "
              f"{min(config.fit.batch_size, len(x))}, "
              f"learning rate {start:g} to {end:g}.", file=sys.stderr, flush=True)
        if len(x) < FEW_EXAMPLES:  # 3 reviews: a rate "suggested" from the noise
            print(f"Warning: {len(x)} training examples are few for a range test: the loss "
                  "follows their noise as much as the rate, so the suggestion may mean "
                  "little. Use more data (a data.limit of thousands).", file=sys.stderr,
                  flush=True)
        result = range_test(prepared.model, x, y, config.fit.batch_size, start=start, end=end,
                            steps=steps, seed=config.seed, progress=True)
    path = Path(output)  # checked by dlcourse.lr_find before TensorFlow started
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = reports.learning_rate_figure(result.learning_rates, result.losses, result.smoothed,
                                          result.suggestion, result.rule)
    # Each written whole, then renamed: a Ctrl-C as they were written emptied the plot of
    # the run before, which the next lr-find then refused to replace.
    with written_atomically(path) as temporary:  # named with no suffix: PNG, as it says
        figure.savefig(temporary, format=plot_format(path, "--output"),
                       metadata={"Title": LR_FIND_SIGNATURE})
    write_text(path.with_suffix(".json"),
               json.dumps({"config": config.name, **_curve(result)}, indent=1) + "\n")
    return replace(result, plot=str(path), rate_key=rate_key)


def _rate_key(config: Config) -> str:
    """The key a suggested rate goes to: a schedule's peak, its warmup's target where it
    warms up (its initial rate is then where the warmup starts), else its initial rate.
    A schedule of neither (PiecewiseConstantDecay's values) is replaced, and said so."""
    rate = config.compile.optimizer.learning_rate
    if not isinstance(rate, LearningRateSchedule):
        return "compile.optimizer.learning_rate"
    arguments = rate.keras_arguments()
    for key in ("warmup_target", "initial_learning_rate"):
        if arguments.get(key) is not None and (key != "warmup_target"
                                               or arguments.get("warmup_steps")):
            return f"compile.optimizer.learning_rate.{key}"
    return REPLACES_SCHEDULE


def _curve(result: RangeTest) -> dict:
    """The JSON beside the plot: everything measured, not where the plot went."""
    return {key: value for key, value in asdict(result).items() if key != "plot"}


def describe(result: RangeTest) -> str:
    """What the command prints: the suggestion, the rule behind it, and how to use it."""
    path = Path(result.plot) if result.plot else None  # None: not written (range_test's)
    other = (f"; a tenth of the minimum's rate is {result.minimum_over_10:.3g}"
             if result.rule == "steepest descent" else "")
    curve = f" The curve: {path} (and {path.with_suffix('.json').name} beside it)." if path else ""
    return "\n".join([
        f"Suggested learning rate: {result.suggestion:.3g} ({result.rule}{other}).",
        f"The test ended: {result.stopped}.{curve}",
        f"Train with it: {result.set_line()}" + (
            " (a constant rate, in place of the config's schedule)"
            if result.rate_key == REPLACES_SCHEDULE else ""),
    ])
