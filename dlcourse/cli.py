"""The `dlcourse` command: argument parsing only; each command calls one library function.

TensorFlow is imported inside the commands that train or evaluate, so `--help` and
`validate` answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import dlcourse
from dlcourse.errors import DlcourseError

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DLCOURSE_DATA_DIR",
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


class Group(click.Group):
    """Reports user mistakes as one paragraph and exit status 2, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DlcourseError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=Group)
@click.version_option(dlcourse.__version__, prog_name="dlcourse")
def main() -> None:
    """Train and evaluate the lecture's models from YAML configs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@SET
@DATA_DIR
@OUTPUT_DIR
@click.option("--smoke", is_flag=True, help="Tiny subset and 1 epoch: a quick check for CI.")
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue this killed, interrupted or failed run from its last finished epoch, "
    "with its saved config (CONFIG may be left out; if given it must be the same).",
)
def train(config, overrides, data_dir, output_dir, smoke, resume_dir) -> None:
    """Train the model CONFIG describes, evaluate it on the test split, write a run directory."""
    from dlcourse.config import parse_overrides

    if resume_dir is None and config is None:
        raise click.UsageError("Missing argument 'CONFIG' (or --resume RUN_DIR).")
    if resume_dir is not None and output_dir is not None:
        raise click.UsageError("--output-dir can't move a resumed run; it stays in RUN_DIR.")
    if config is None and (overrides or smoke):
        raise click.UsageError("--set and --smoke change CONFIG; a resumed run keeps its own.")
    parsed = parse_overrides(overrides)
    if resume_dir is not None:
        result = dlcourse.resume(resume_dir, config, parsed, data_dir=data_dir, smoke=smoke)
    else:
        result = dlcourse.train(
            config, parsed, data_dir=data_dir, output_dir=output_dir, smoke=smoke
        )
    metrics = result.metrics
    click.echo(f"\nRun written to {result.run_dir}")
    for key in ("test_accuracy", "test_loss", "best_val_accuracy", "best_epoch"):
        if key in metrics:
            click.echo(f"  {key}: {_number(metrics[key])}")
    reference = metrics.get("reference")
    if reference:
        click.echo(
            f"  reference: {reference['metric']} {reference['value']} ({reference['source']})"
        )


@main.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@DATA_DIR
@OUTPUT_DIR
def evaluate(run_dir, data_dir, output_dir) -> None:
    """Reload RUN_DIR's model and evaluate it on the test split (default: the latest run)."""
    from dlcourse.evaluation import evaluate_run
    from dlcourse.rundir import latest_run

    if run_dir is None:
        run_dir = latest_run(output_dir or "runs")
        click.echo(f"Evaluating the most recent run: {run_dir}")
    result = evaluate_run(run_dir, data_dir=data_dir)
    for key, value in result.metrics.items():
        click.echo(f"  {key}: {_number(value)}")
    click.echo(f"Written to {result.run_dir / 'evaluation.json'}")


@main.command()
@CONFIG
@SET
def validate(config: Path, overrides) -> None:
    """Check CONFIG against the schema without training (no TensorFlow needed)."""
    from dlcourse.config import load_config

    loaded = load_config(config, overrides)
    click.echo(f"{config}: valid ({loaded.data.dataset}, {len(loaded.model.layers)} layers)")


@main.command()
@CONFIG
@SET
@DATA_DIR
def summary(config: Path, overrides, data_dir) -> None:
    """Build CONFIG's model for its dataset and print its layers and parameter counts."""
    from dlcourse.config import load_config
    from dlcourse.data import load_dataset
    from dlcourse.models import build_model, signature_of
    from dlcourse.training import model_summary

    loaded = load_config(config, overrides)
    model = build_model(loaded, signature_of(load_dataset(loaded.data, data_dir), loaded))
    click.echo(model_summary(model), nl=False)


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
