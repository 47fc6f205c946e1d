"""The `dlcourse` command: argument parsing only; each command calls one library function.

TensorFlow is imported inside the commands that train or evaluate, so `--help` and
`validate` answer at once.
"""

from __future__ import annotations

import contextlib
import math
import shlex
import signal
import sys
import time
from pathlib import Path

import click

import dlcourse
from dlcourse.errors import DlcourseError, ResumableInterrupt
from dlcourse.interrupts import handlers_set
from dlcourse.version import STARTED, timed_from


def _an_existing_folder(ctx: click.Context, param: click.Parameter, value: Path | None):
    """A --data-dir typed on the command line names a folder that is there: a misspelt one
    was searched, then Keras's cache and download were tried, and the error named neither
    the typo nor the folder (DLCOURSE_DATA_DIR's is left to the loader's own search)."""
    typed = ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE
    if typed and value is not None and not value.is_dir():
        raise click.BadParameter(f"{value}: no such folder.", ctx, param)
    return value


DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DLCOURSE_DATA_DIR",
    callback=_an_existing_folder,
    help="Directory holding datasets in Keras's layout (mnist.npz, imdb.npz). "
    "Default: $DLCOURSE_DATA_DIR, then Keras's cache and download.",
)
OUTPUT_DIR = click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where run directories go (default: the config's output.dir, 'runs').",
)
SET = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set fit.epochs=1 (repeatable).",
)
CONFIG = click.argument("config", type=click.Path(path_type=Path))


class FiniteRange(click.FloatRange):
    """click's FloatRange, without the nan and inf it lets through: `serve --max-body-mb
    inf` was an OverflowError traceback, and `nan` a ValueError."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _import_tensorflow_quietly() -> None:
    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()


def _finished_run(run_dir: Path) -> None:
    """RUN_DIR checked before TensorFlow starts: a mistake is told at once, not after the
    seconds its import takes. Then TensorFlow, for the command's own work."""
    from dlcourse.preflight import finished_run

    finished_run(run_dir)
    _import_tensorflow_quietly()


class Group(click.Group):
    """Reports user mistakes as one paragraph and exit status 2, without a traceback."""

    def invoke(self, ctx: click.Context):
        terminated = []
        _CTRL_C_HEARD.clear()
        try:
            with _sigterm_as_ctrl_c(terminated), _ctrl_c_heard():
                result = super().invoke(ctx)
            if _CTRL_C_HEARD:
                # Python swallowed it (raised in a garbage collector's callback, "Exception
                # ignored in ..."): the command ran on to its end, and exited 0.
                raise KeyboardInterrupt
            return result
        except DlcourseError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt as interrupt:
            how = "Terminated (SIGTERM)" if terminated else "Interrupted"
            if isinstance(interrupt, ResumableInterrupt):  # a run's or a search's
                click.echo(f"{how}. {interrupt.so_far.capitalize()} in {interrupt.path}; "
                           f"continue it with `{interrupt.command}`.", err=True)
            else:
                click.echo(f"{how}.", err=True)
            sys.exit(143 if terminated else 130)


# The Ctrl-Cs the running command heard (a server clears them: Ctrl-C is how it stops).
_CTRL_C_HEARD: list[float] = []


@contextlib.contextmanager
def _ctrl_c_heard():
    """Ctrl-C raises KeyboardInterrupt, as Python's own handler does, and is noted in
    _CTRL_C_HEARD, so that one Python swallowed still ends the command as interrupted."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # Ctrl-C is meant to be ignored, or is handled by another
        return

    def handler(signum, frame):
        _CTRL_C_HEARD.append(time.monotonic())
        raise KeyboardInterrupt

    handler.raises_keyboard_interrupt = True  # for training's own, which chains to it
    with handlers_set({signal.SIGINT: handler}):
        yield


@contextlib.contextmanager
def _sigterm_as_ctrl_c(terminated: list):
    """SIGTERM (`kill`, `timeout`, a batch scheduler's end of time) ends a command as Ctrl-C
    does: a run says it was interrupted and how to resume it, where Python's default left
    its status.json saying "running". Appends to `terminated` when it came."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield  # SIGTERM is meant to be ignored
        return

    def handler(signum, frame):
        now = time.monotonic()
        if terminated and now - terminated[-1] < 1:
            return  # `timeout` signals the process and its group: one interrupt is enough
        terminated.append(now)  # a later SIGTERM acts again, should this one be swallowed
        # As Ctrl-C does now: a search defers it to the epoch's end (an interrupt inside
        # TensorFlow's iterator came out as a failed trial), even where Ctrl-C is ignored.
        callbacks = sys.modules.get("dlcourse.callbacks")  # imported once a fit is near
        deferring = callbacks.InterruptAtEpochEnd.deferring if callbacks else []
        on_ctrl_c = deferring[-1].interrupt if deferring else signal.getsignal(signal.SIGINT)
        if not callable(on_ctrl_c):
            raise KeyboardInterrupt
        on_ctrl_c(signal.SIGINT, frame)

    with handlers_set({signal.SIGTERM: handler}):
        yield


@click.group(cls=Group)
@click.version_option(dlcourse.__version__, prog_name="dlcourse")
def main() -> None:
    """Train and evaluate the lecture's models from YAML configs."""


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@SET
@DATA_DIR
@OUTPUT_DIR
@click.option("--smoke", is_flag=True,
              help="256 examples and 1 epoch (data.limit=256, fit.epochs=1): a quick check.")
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue this killed, interrupted or failed run from its last finished epoch, "
    "with its saved config (CONFIG may be left out; if given it must be the same).",
)
@click.option(
    "--strategy",
    type=click.Choice(["none", "mirrored", "multi_worker"]),
    help="Data-parallel training (distribution.strategy): mirrored over this machine's "
    "devices, or multi_worker over the cluster in $TF_CONFIG.",
)
@click.option("--track", type=click.Choice(["mlflow"]),
              help="Log the run to MLflow (output.mlflow; the store defaults to ./mlruns).")
@click.option("--tensorboard", is_flag=True,
              help="Also write TensorBoard logs into the run (output.tensorboard); view them "
              "with `tensorboard --logdir runs`.")
def train(config, overrides, data_dir, output_dir, smoke, resume_dir, strategy,
          track, tensorboard) -> None:
    """Train the model CONFIG describes, evaluate it on the test split, write a run directory.

    CONFIG is a YAML file, or a shipped config's name (`dlcourse configs` lists them).
    """
    # dlcourse.train and .resume check what they can before they start TensorFlow.
    from dlcourse.config import parse_overrides

    if resume_dir is None and config is None:
        raise click.UsageError("Missing argument 'CONFIG' (or --resume RUN_DIR).")
    if resume_dir is not None and output_dir is not None:
        raise click.UsageError("--output-dir can't move a resumed run; it stays in RUN_DIR.")
    if config is None and (overrides or smoke or strategy or tensorboard or track):
        raise click.UsageError(
            "--set, --smoke, --strategy, --track and --tensorboard change CONFIG; a resumed run "
            "keeps its own."
        )
    parse_overrides(overrides)  # a malformed one is told before anything starts
    # Kept as typed, for the run's record: `execution.speedups=off` was recorded `=false`.
    given = [*overrides, *([f"distribution.strategy={strategy}"] if strategy else []),
             *(["output.tensorboard=true"] if tensorboard else [])]
    # A run's first epoch is timed from the process's start: imports count too.
    with timed_from(STARTED):
        if resume_dir is not None:
            result = dlcourse.resume(resume_dir, config, given, data_dir=data_dir, smoke=smoke)
        else:
            result = dlcourse.train(config, given, data_dir=data_dir, output_dir=output_dir,
                                    smoke=smoke, track=track)
    if not result.is_chief:
        click.echo("\nTraining finished; the chief wrote the run directory and its report.")
        return
    metrics = result.metrics
    click.echo(f"\nRun written to {_shown(result.run_dir)}")
    for key in ("test_accuracy", "test_mae", "test_loss", "best_val_accuracy", "best_val_mae",
                "best_epoch", "baseline_test_mae"):
        if key in metrics:
            click.echo(f"  {key}: {_number(metrics[key])}")
    from dlcourse.reports import expected_against_measured, reduced_run

    from dlcourse.terminal import printable_line

    comparison = expected_against_measured(metrics)
    if comparison:  # its source is the config's text: a terminal's escapes are shown escaped
        click.echo(f"  expected against measured: {printable_line(comparison)}")
    elif metrics.get("reduced"):  # a config without a published figure is reduced as well
        click.echo(f"  {reduced_run(metrics)}: not a run on all the data for all its epochs")
    from dlcourse.rundir import RunDir

    click.echo(f"Report: {_shown(RunDir(result.run_dir).report_path)}")


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
# tune_dir.MOST_TRIALS, written out: the CLI imports no module of the search to start.
@click.option("--trials", type=click.IntRange(min=1, max=10_000),
              help="How many value sets to try (random, bayesian; default 10).")
@click.option("--algorithm", type=click.Choice(["random", "bayesian", "hyperband"]),
              default="random", show_default=True, help="KerasTuner's search algorithm.")
@SET
@DATA_DIR
@OUTPUT_DIR
@click.option("--smoke", is_flag=True, help="2 tiny trials of 1 epoch: a quick check for CI.")
@click.option("--track", type=click.Choice(["mlflow"]),
              help="Log the search and each trial to MLflow (the store defaults to ./mlruns).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Continue the interrupted tuning run in this directory.")
def tune(config, trials, algorithm, overrides, data_dir, output_dir, smoke, track,
         resume_dir) -> None:
    """Search the values CONFIG leaves open ({tune: int|float|choice, ...}) with KerasTuner.

    Trials are scored on the validation split. Writes runs/<name>-tune/<time>/ with every
    trial (trials.json, .csv, .md), scores.png and best_config.yaml for `dlcourse train`.
    """
    given = click.get_current_context().get_parameter_source
    if (config is None) == (resume_dir is None):
        raise click.UsageError("Give either CONFIG or --resume TUNE_DIR.")
    if resume_dir is not None:
        options = {"trials": "--trials", "algorithm": "--algorithm", "overrides": "--set",
                   "output_dir": "--output-dir", "smoke": "--smoke", "track": "--track"}
        changed = [option for name, option in options.items()
                   if given(name) == click.core.ParameterSource.COMMANDLINE]
        if changed:
            raise click.UsageError(
                f"--resume continues a run with its own settings; drop {', '.join(changed)}."
            )
    # dlcourse.tune checks the config and the data before it starts TensorFlow.
    if resume_dir is not None:
        result = dlcourse.resume_tuning(resume_dir, data_dir=data_dir)
    else:
        result = dlcourse.tune(config, list(overrides), algorithm=algorithm, trials=trials,
                               data_dir=data_dir, output_dir=output_dir, smoke=smoke,
                               track=track)
    from dlcourse.tune_dir import BEST_CONFIG_FILE
    from dlcourse.tuning_report import trials_table

    click.echo(f"\nTrials, best first ({result.objective}):")
    click.echo(trials_table(result.trials, result.expressions, result.objective,
                            result.direction), nl=False)
    if result.ended_early:
        click.echo(result.ended_early)
    click.echo(f"Tuning written to {_shown(result.tune_dir)}")
    if result.best_config is not None:
        click.echo(f"Best config: {_shown(result.tune_dir) / BEST_CONFIG_FILE}")
        click.echo(f"Train it:    dlcourse train {_shown(result.tune_dir) / BEST_CONFIG_FILE}")


@main.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@DATA_DIR
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to look for the latest run when RUN_DIR is left out (default: runs).")
def evaluate(run_dir, data_dir, output_dir) -> None:
    """Reload RUN_DIR's model and evaluate it on the test split (default: the latest run)."""
    from dlcourse.preflight import findable_data, finished_run
    from dlcourse.rundir import RunDir, latest_run

    which = ""
    if run_dir is None:
        run_dir, which = latest_run(output_dir or "runs"), "the most recent run: "
    # A mistake is told alone, before TensorFlow starts; then what takes seconds to minutes.
    data_dir = findable_data(finished_run(run_dir), data_dir, "evaluate")
    click.echo(f"Evaluating {which}{run_dir} on its test split ...", err=True)
    _import_tensorflow_quietly()
    from dlcourse.evaluation import evaluate_run

    result = evaluate_run(run_dir, data_dir=data_dir)
    for key, value in result.metrics.items():
        click.echo(f"  {key}: {_number(value)}")
    click.echo(f"Written to {RunDir(result.run_dir).evaluation_path}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--samples",
    default=8,
    show_default=True,
    type=click.IntRange(min=1, max=256),
    help="How many test inputs to recompute (at most 256).",
)
@DATA_DIR
def explain(run_dir, samples, data_dir) -> None:
    """Recompute RUN_DIR's predictions in NumPy with the lecture's formulas; compare with Keras."""
    from dlcourse.preflight import findable_data, finished_run

    data_dir = findable_data(finished_run(run_dir), data_dir, "explain")  # before TensorFlow
    click.echo(f"Recomputing {samples} test inputs of {run_dir} in NumPy ...", err=True)
    _import_tensorflow_quietly()
    from dlcourse.explanation import explain_run

    result = explain_run(run_dir, samples, data_dir)
    click.echo(f"{result.samples} test inputs through the NumPy reference, layer by layer:")
    width = max(len(layer.path) for layer in result.layers)
    for layer in result.layers:
        # T: a time axis as long as each sequence, which differs between them.
        shape = "x".join("T" if size is None else str(size) for size in layer.output_shape)
        click.echo(
            f"  {layer.path:<{width}}  {shape:>12}  "
            f"max |reference - Keras| {layer.max_abs_difference:.2e}"
        )
    click.echo(f"Largest difference from model.predict: {result.max_abs_difference:.2e}")
    if result.feature_maps is not None:
        click.echo(f"First Conv2D's feature maps: {result.feature_maps}")


@main.command()
@CONFIG
@SET
def validate(config: Path, overrides) -> None:
    """Check CONFIG against the schema without training (no TensorFlow needed), and where
    the config fixes its data's shapes (MNIST, CIFAR, IMDB), that its model takes them."""
    from dlcourse.api import validate as validated

    search = validated(config, overrides)
    loaded = search.config
    click.echo(f"{config}: valid ({loaded.data.dataset}, {len(loaded.model.layers)} layers)")
    if search.expressions:
        count = len(search.expressions)
        click.echo(f"Searches {count} value{'s' if count != 1 else ''} (`dlcourse tune {config}`):")
        for expression in search.expressions:
            click.echo(f"  {expression.path}: {expression.describe()}")


@main.command()
@CONFIG
@SET
@DATA_DIR
def summary(config: Path, overrides, data_dir) -> None:
    """Build CONFIG's model and print its layers, shapes and parameter counts.

    MNIST, Fashion-MNIST, CIFAR and IMDB word indices have shapes the config alone fixes,
    so their summary needs no data; raw text and image folders are read to learn theirs.
    The speed-ups `train` would use are named below it (docs/speed.md).
    """
    from dlcourse.api import model_summary_of  # it starts TensorFlow after reading CONFIG

    text, plan = model_summary_of(config, overrides, data_dir=data_dir)
    click.echo(text, nl=False)
    click.echo(f"Execution: {plan}")


@main.command("lr-find")
@CONFIG
@SET
@DATA_DIR
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The plot (PNG); the curve goes beside it as JSON. "
              "Default: CONFIG's name + -lr-find.png, here.")
@click.option("--start", type=FiniteRange(min=0, min_open=True), default=1e-7,
              show_default=True, help="The first learning rate.")
@click.option("--end", type=FiniteRange(min=0, min_open=True), default=10.0,
              show_default=True, help="The last learning rate.")
@click.option("--steps", type=click.IntRange(*dlcourse.api.LR_FIND_STEPS), default=200,
              show_default=True, help="Batches over which the rate rises.")
def lr_find(config: Path, overrides, data_dir, output, start, end, steps) -> None:
    """Find a learning rate for CONFIG with the range test (Smith 2015, fastai's lr_find).

    From the model's initial weights, the rate rises exponentially from --start to --end
    over --steps training batches while the loss is recorded. It plots loss against rate,
    suggests the rate where the loss falls fastest, and prints the --set line that trains
    with it. No run and no config is changed.
    """
    from dlcourse.api import lr_find as find  # it starts TensorFlow after reading CONFIG

    result = find(config, overrides, data_dir=data_dir, output=output, start=start, end=end,
                  steps=steps)
    from dlcourse.lr_finder import describe

    click.echo(describe(result))
    # The data it was given, too: copied without it, the line failed offline.
    given = ["--data-dir", str(data_dir)] if data_dir is not None else []
    command = ["dlcourse", "train", str(config), *given, *(f"--set={o}" for o in overrides)]
    click.echo(f"  {shlex.join(command)} {result.set_line()}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--text", "as_text", is_flag=True,
              help="Every INPUT is a review, even one that reads like a file name.")
@click.option("--no-preprocess", is_flag=True,
              help="Pictures: only resize them, without MNIST's cropping and centring.")
def predict(run_dir: Path, inputs, as_json: bool, as_text: bool, no_preprocess: bool) -> None:
    """Predict with RUN_DIR's model on new INPUTS.

    For text models each INPUT is a review, a file with one review per line, a CSV or
    JSON lines file (its text column, as training reads it), or '-' to read reviews from
    stdin. For image models each INPUT is a PNG or JPEG file; a digit
    for an MNIST model is cut out and centred as MNIST's digits were. Regression models
    (e.g. a review's rating) print the predicted number.
    """
    import json
    import textwrap

    from dlcourse.preflight import finished_run
    from dlcourse.prediction_inputs import collect_inputs
    from dlcourse.terminal import Progress, printable_line

    finished_run(run_dir)
    items = collect_inputs(run_dir, inputs, as_text=as_text, stdin=sys.stdin)
    _import_tensorflow_quietly()
    from dlcourse.prediction import Predictor

    predictor, number = Predictor(run_dir), 0
    # On a terminal the results show the progress; written to a file, this line does.
    progress = Progress(len(items), "inputs predicted", quiet=sys.stdout.isatty())
    try:
        for chunk in predictor.predict_in_chunks(items, preprocess=not no_preprocess):
            for prediction in chunk:
                number += 1
                for warning in prediction.warnings:
                    progress.clear()
                    click.echo(f"Warning (input {number}): {printable_line(warning)}.", err=True)
                if as_json:  # one array, written as json.dumps(..., indent=2) writes it
                    record = textwrap.indent(json.dumps(prediction.as_dict(), indent=2), "  ")
                    click.echo(("[\n" if number == 1 else ",\n") + record, nl=False)
                else:
                    click.echo(_prediction_line(prediction))
            progress.update(number)
    finally:
        progress.close()
        if as_json and number:  # a picture unreadable in a later chunk: what came before
            click.echo("\n]")  # is still one JSON array


def _prediction_line(prediction) -> str:
    from dlcourse.terminal import printable_line

    shown = printable_line(prediction.input)  # a review's control characters, escaped
    shown = shown if len(shown) <= 70 else shown[:67] + "..."
    known = (f"  [knows {prediction.known_words} of {prediction.words} words]"
             if prediction.words is not None else "")
    if prediction.value is not None:
        return f"predicted {prediction.value:.2f}  {shown}{known}"
    label = printable_line(prediction.label)  # a class's name, from the run's classes.json
    if "positive" in prediction.probabilities:
        positive = prediction.probabilities["positive"]
        return f"P(positive) {positive:.3f}  {label:8}  {shown}{known}"
    top = ", ".join(f"{printable_line(name)}: {p:.3f}" for name, p in prediction.top)
    return f"{shown}  ->  {label}  ({top}){known}"


@main.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "format_", type=click.Choice(["saved_model", "onnx", "litert"]),
              default="saved_model", show_default=True, help="The artifact to write.")
@click.option("--output", type=click.Path(path_type=Path),
              help="The folder to write (default: RUN_DIR/export/FORMAT).")
@DATA_DIR
def export(run_dir: Path, format_: str, output: Path | None, data_dir) -> None:
    """Export RUN_DIR's model for other runtimes, checked on its first test inputs.

    A SavedModel of a text run takes raw strings; ONNX and LiteRT take what the model
    takes. ONNX and LiteRT need the extra: pip install 'dlcourse[export]'.
    """
    from dlcourse.preflight import export_target, findable_data, finished_run

    checked = finished_run(run_dir)  # each told before TensorFlow starts
    export_target(checked, format_, output)
    data_dir = findable_data(checked, data_dir, "export")
    click.echo(f"Exporting {run_dir} as {format_} ...", err=True)
    _import_tensorflow_quietly()
    from dlcourse.exporting import export_run

    result = export_run(run_dir, format_, output=output, data_dir=data_dir)
    for check in result.checks:
        click.echo(f"Check {check.line()}")
    for note in result.notes:
        click.echo(f"Note: {note}.")
    click.echo(f"Takes {result.takes}.")
    click.echo(f"Written to {result.path} (see its README.md)")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; 0.0.0.0 lets other machines in.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="The port to listen on.")
# From 1 KB, and 0.1 s: less refused every request (1e-9 MB was "over 0 bytes").
@click.option("--max-body-mb", default=8.0, show_default=True,
              type=FiniteRange(min=0.001), help="Largest request body.")
@click.option("--max-inputs", default=64, show_default=True, type=click.IntRange(min=1),
              help="Most texts or pictures in one request.")
@click.option("--max-connections", default=64, show_default=True, type=click.IntRange(min=1),
              help="Most connections at once; more are answered 503 (each may hold a body).")
@click.option("--receive-seconds", default=120.0, show_default=True,
              type=FiniteRange(min=0.1),
              help="A request must arrive whole within this, or its connection is closed.")
def serve(run_dir: Path, host: str, port: int, max_body_mb: float, max_inputs: int,
          max_connections: int, receive_seconds: float) -> None:
    """Serve RUN_DIR's model over HTTP: POST /predict, a demo page at /, docs at /docs.

    Needs the extra: pip install 'dlcourse[serve]'.
    """
    _finished_run(run_dir)
    from dlcourse.serving import Limits, serve as serve_run

    limits = Limits(body_bytes=int(max_body_mb * (1 << 20)), inputs=max_inputs,
                    connections=max_connections, receive_seconds=receive_seconds)
    serve_run(run_dir, host=host, port=port, limits=limits, say=click.echo)
    _CTRL_C_HEARD.clear()  # uvicorn stopped on it, as a server should: not an interruption
    # Its requests in progress answered first: said, where the server ended without a word.
    click.echo(f"Stopped serving {run_dir}.", err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "style", type=click.Choice(["terminal", "markdown", "csv"]),
              default="terminal", show_default=True, help="Table format.")
@click.option("--plot", type=click.Path(path_type=Path),
              help="Also draw the runs' validation curves into this PNG, PDF or SVG file.")
def compare(paths, style: str, plot: Path | None) -> None:
    """Compare runs: RUN_DIRs, or directories searched for runs at any depth."""
    from dlcourse.comparison import (
        check_plot_target, collect_runs, format_table, not_plotted, plot_validation_accuracy,
    )

    if plot is not None:
        check_plot_target(plot)  # before the table: a refused --plot prints nothing
    summaries = collect_runs(paths)
    click.echo(format_table(summaries, style), nl=False)
    _tell_test_validation(summaries, style)
    _tell_damaged(summaries)
    if plot is not None:
        if plot_validation_accuracy(summaries, plot):
            click.echo(f"Validation curves: {plot}", err=style != "terminal")
            if left := not_plotted(summaries):
                click.echo(f"Not drawn: {', '.join(left)}", err=style != "terminal")
        else:
            click.echo("No run has a validation curve to draw.", err=True)


def _tell_damaged(summaries) -> None:
    from dlcourse.terminal import printable_line

    for summary in summaries:
        for problem in summary.problems:  # it names the folder, which may hold escapes
            click.echo(f"Damaged: {printable_line(problem)}", err=True)


@main.command()
@click.argument("directory", required=False, default="runs",
                type=click.Path(file_okay=False, path_type=Path))
def runs(directory: Path) -> None:
    """List the runs under DIRECTORY (default: runs) with their status and results."""
    from dlcourse.comparison import collect_runs, format_table

    summaries = collect_runs([directory])
    click.echo(format_table(summaries), nl=False)
    _tell_test_validation(summaries)
    _tell_damaged(summaries)


def _tell_test_validation(summaries, style: str = "terminal") -> None:
    """Below the table it explains; a CSV says it in its validated_on column."""
    from dlcourse.comparison import ON_TEST_SPLIT

    if style != "csv" and any(summary.validated_on_test and summary.best_val is not None
                              for summary in summaries):
        click.echo(f"\n{ON_TEST_SPLIT}")


@main.command()
def configs() -> None:
    """List the configs that ship with dlcourse; train any of them by name, from anywhere."""
    from dlcourse.config.shipped import shipped_configs

    shipped = shipped_configs()
    width = max(len(config.name) for config in shipped)
    for config in shipped:
        click.echo(f"{config.name:{width}}  {config.title}")
        if config.expected:
            click.echo(f"{'':{width}}  expected: {config.expected}")
    click.echo(f"\nTrain one: dlcourse train {shipped[0].name}   (files in {shipped[0].path.parent})")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the config format (for editors' YAML validation)."""
    import json

    from dlcourse.config import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _shown(path: Path) -> Path:
    """`path` as the user would type it from here: relative under the current folder."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
