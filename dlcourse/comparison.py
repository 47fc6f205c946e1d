"""Runs side by side: one summary row per run directory, as a table or a plot.

Reads only the files a run wrote (JSON and YAML), so `dlcourse runs` and `dlcourse
compare` answer without importing TensorFlow.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from dlcourse.config.sections import REGRESSION_LOSSES
from dlcourse.errors import RunError
from dlcourse.reports import curves_together_figure, finite_number
from dlcourse.rundir import HISTORY_FILE, RunDir, enclosing_run, find_runs, written_atomically
from dlcourse.terminal import printable_line
from dlcourse.tune_dir import is_tuning_dir


@dataclass(frozen=True)
class RunSummary:
    """The headline facts of one run, read from its directory."""

    run_dir: Path
    config: str
    model: str
    status: str
    parameters: int | None
    epochs: int
    # "accuracy" for classification, "mae" for regression: what best_val and test measure.
    measure: str
    best_val: float | None
    best_epoch: int | None
    test: float | None
    seconds_per_epoch: float | None
    val_curve: list[float]
    # What the command line changed in the run's config file (`--set` items, --smoke).
    overrides: tuple[str, ...] = ()
    # The epoch whose weights EarlyStopping restored, which `test` measures; None: the last.
    saved_epoch: int | None = None
    # Why the run is listed as damaged: each unreadable file, in one sentence.
    problems: tuple[str, ...] = ()
    # fit.validation: test (the MNIST slide's): its best val is the test split's.
    validated_on_test: bool = False

    @property
    def label(self) -> str:
        """How the run is named beside others: its config, and what was changed in it."""
        return f"{self.config} ({' '.join(self.overrides)})" if self.overrides else self.config


def _measure(config: dict, history: dict, metrics: dict) -> str:
    """accuracy for a classifier, mae for a regression, as its loss says: a classifier
    that logged no accuracy (metrics: [AUC]), or whose files were damaged, read as a
    regression. Without a readable loss, what was logged decides."""
    loss = (config.get("compile") or {}).get("loss") if isinstance(config, dict) else None
    if isinstance(loss, str):
        return "mae" if loss in REGRESSION_LOSSES else "accuracy"
    return "accuracy" if "val_accuracy" in history or "test_accuracy" in metrics else "mae"


def summarise(run_dir: Path) -> RunSummary:
    """The run's headline facts; a damaged file leaves its facts out and says so in status."""
    run = RunDir(run_dir)
    problems: list[str] = []

    def read(reader, empty):
        try:
            return reader()
        except RunError as error:
            problems.append(str(error))
            return empty

    config = read(run.read_raw_config, {})
    metrics = read(run.read_metrics, {})
    status = read(run.read_status, {})
    history = read(run.read_history, {})
    if not problems and status.get("status") == "finished" and not _a_model_archive(run.model_path):
        # Listed as damaged without a word of why: its model gone or cut short.
        what = "is not a Keras model archive" if run.model_path.exists() else "is missing"
        problems.append(f"{run.model_path} {what}: the run finished, but evaluate and "
                        "predict can't use it.")
    measure = _measure(config, history, metrics)
    curve = [value for value in history.get(f"val_{measure}", []) if value is not None]
    if measure == "accuracy" and any(not 0 <= value <= 1 for value in curve if value == value):
        # 1e308 printed 300 digits and stopped the plot in a matplotlib traceback.
        wrong = next(value for value in curve if value == value and not 0 <= value <= 1)
        problems.append(f"{run.path / HISTORY_FILE}: val_accuracy holds {wrong:.4g}, not an "
                        "accuracy in [0, 1].")
        curve = []
    best = (max if measure == "accuracy" else min)(curve) if curve else None
    best_epoch = _number(metrics.get("best_epoch"), int)
    if best_epoch is None and curve:  # an unfinished run: read its history
        best_epoch = curve.index(best) + 1
    name = config.get("name")
    return RunSummary(
        run_dir=run_dir,
        config=name if isinstance(name, str) else run_dir.parent.name,
        model="-".join(_layer_names(config)),
        status="damaged" if problems else _status(run, status),
        parameters=_number(metrics.get("parameters"), int),
        epochs=len(history.get("loss", [])),
        measure=measure,
        best_val=best,
        best_epoch=best_epoch,
        test=_number(metrics.get(f"test_{measure}"), float),
        seconds_per_epoch=_number(metrics.get("seconds_per_epoch"), float),
        val_curve=curve,
        overrides=_changes(status, metrics),
        saved_epoch=_number(metrics.get("restored_epoch"), int),
        problems=tuple(problems),
        validated_on_test=_validated_on_test(config),
    )


def _validated_on_test(config: Any) -> bool:
    fit = config.get("fit") if isinstance(config, dict) else None
    return isinstance(fit, dict) and fit.get("validation") == "test"


# Said below a table with a run marked TEST_MARK.
TEST_MARK = "on test"
ON_TEST_SPLIT = (f"'{TEST_MARK}': validated on the test split (fit.validation: test, as the "
                 "slide does): its best val figure is the test split's best of any epoch, "
                 "optimistic beside validation on held-out training data.")


def _changes(status: dict[str, Any], metrics: dict[str, Any]) -> tuple[str, ...]:
    """What the command line changed in the config file (`--set` items, --smoke); for a run
    reduced in its file itself (a copy with data.limit, fewer epochs), that it is: it was
    listed as a full run beside the others."""
    given = tuple(map(str, overrides)) if isinstance(
        overrides := status.get("overrides"), list) else ()
    keys = {item.split("=")[0] for item in given}
    reduced = metrics.get("reduced")
    # What the file reduced, beside what the command line did (told there already).
    in_file = [str(item).split(" (")[0] for item in reduced if isinstance(item, str)
               and not item.startswith("--smoke") and item.split("=")[0] not in keys] \
        if isinstance(reduced, list) else []
    # Data from Python is in no --set item: runs listed it as a run of the config's data.
    other = metrics.get("other_data")
    python = isinstance(other, list) and any(
        isinstance(item, str) and not item.startswith("data.") for item in other)
    return (given + (("reduced:", *in_file) if in_file else ())
            + (("other data: from Python",) if python else ()))


def _status(run: RunDir, status: dict[str, Any]) -> str:
    """status.json's word, but 'killed' for a run it says is running that no process on this
    machine holds: a SIGKILL or a power cut leaves no chance to write it (one trained on
    another host may well be running, and keeps its word)."""
    said = str(status.get("status", "unknown"))
    if said == "running" and status.get("host") == platform.node() and run.is_held() is False:
        return "killed"
    return said


def _a_model_archive(path: Path) -> bool:
    """A .keras file is a zip archive: one that is missing, no regular file (a FIFO would
    hang the reading) or cut short is no model. Its end is read, not its weights."""
    try:
        return path.is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def _number(value: Any, kind: type) -> Any:
    """A figure read from a run, or None where the file holds something else (Infinity
    too: int() of it was an OverflowError)."""
    if not finite_number(value):
        return None
    return kind(value)


def _layer_names(config: dict) -> list[str]:
    layers = (config.get("model") or {}).get("layers") if isinstance(config.get("model"), dict) else None
    names = []
    for layer in layers if isinstance(layers, list) else []:
        name = layer if isinstance(layer, str) else next(iter(layer), "?") if isinstance(layer, dict) else "?"
        arguments = layer.get(name) if isinstance(layer, dict) else None
        inner = arguments.get("layer") if isinstance(arguments, dict) else None
        if isinstance(inner, dict) and inner:
            name = f"{name}({next(iter(inner))})"
        names.append(str(name))
    return names


def collect_runs(paths: Sequence[str | Path]) -> list[RunSummary]:
    """Summaries of the given run directories, or of every run under given directories."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunError(f"{path}: not a folder; compare takes run directories, or folders "
                           "of them (such as runs/)." if path.exists() else
                           f"{path}: no such directory.")
        found = find_runs(path, config_lost=True)
        if not found and is_tuning_dir(path):
            raise RunError(f"{path}: a tuning directory, whose trials are no runs: its "
                           "trials.md ranks them; compare the runs trained from its "
                           "best_config.yaml.")
        if not found:
            raise RunError(f"{path}: not a run directory, and no runs were found under it.")
        runs.extend(found)
    # A run given twice (runs/a and runs/a/, or runs/ and a run under it) is listed once.
    unique: dict[Path, Path] = {}
    for run in runs:
        unique.setdefault(run.resolve(), run)
    return [summarise(run) for run in unique.values()]


# Accuracy columns hold plain numbers; a regression run's are marked "MAE".
COLUMNS = ("config", "overrides", "model", "parameters", "epochs", "best val acc (epoch)",
           "test acc", "s/epoch", "status", "run")
# For spreadsheets: one plain number per column, the measure named in a column of its own.
CSV_COLUMNS = ("config", "overrides", "model", "parameters", "epochs", "measure", "best_val",
               "best_epoch", "test", "seconds_per_epoch", "status", "run", "validated_on")


def table_rows(summaries: Sequence[RunSummary]) -> list[list[str]]:
    return [
        [
            summary.config,
            " ".join(summary.overrides) or "-",
            summary.model,
            _text(summary.parameters),
            str(summary.epochs),
            f"{_marked(summary, summary.best_val)} ({summary.best_epoch})"
            + (f" {TEST_MARK}" if summary.validated_on_test else "")
            if summary.best_val is not None else "-",
            _marked(summary, summary.test)
            + (f" (epoch {summary.saved_epoch})" if summary.saved_epoch else ""),
            _text(summary.seconds_per_epoch, "{:.1f}"),
            summary.status,
            str(summary.run_dir),
        ]
        for summary in summaries
    ]


def csv_rows(summaries: Sequence[RunSummary]) -> list[list[str]]:
    def plain(value: Any) -> str:
        return "" if value is None else repr(value) if isinstance(value, float) else str(value)

    return [
        [summary.config, " ".join(summary.overrides), summary.model, plain(summary.parameters),
         str(summary.epochs), summary.measure, plain(summary.best_val), plain(summary.best_epoch),
         plain(summary.test), plain(summary.seconds_per_epoch), summary.status,
         str(summary.run_dir), _validated_on(summary)]
        for summary in summaries
    ]


def _validated_on(summary: RunSummary) -> str:
    """The CSV's validated_on: test, held-out, or nothing for a run without validation."""
    if summary.best_val is None:
        return ""
    return "test" if summary.validated_on_test else "held-out"


def _marked(summary: RunSummary, value: float | None) -> str:
    text = _text(value)
    return f"MAE {text}" if summary.measure == "mae" and value is not None else text


def format_table(summaries: Sequence[RunSummary], style: str = "terminal") -> str:
    """The comparison table as aligned text or Markdown, or CSV of plain numbers."""
    if style == "csv":
        return format_rows(CSV_COLUMNS, csv_rows(summaries), style)
    return format_rows(COLUMNS, table_rows(summaries), style)


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[str]], style: str) -> str:
    """A table of text cells as aligned text ('terminal'), Markdown, CSV or HTML."""
    if style == "html":
        from html import escape

        head = "".join(f"<th>{escape(column)}</th>" for column in columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"
    rows = [[printable_line(cell) for cell in row] for row in rows]
    if style == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buffer.getvalue()
    if style == "markdown":
        lines = ["| " + " | ".join(map(_markdown_cell, columns)) + " |",
                 "|" + " --- |" * len(columns)]
        lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [list(columns), *rows]
    ) + "\n"


def _markdown_cell(text: str) -> str:
    """Text as it reads in a Markdown table: a `|` ends no cell, `<` starts no HTML tag,
    and `*x*` or a backtick in an override's value is no markup. (`_` inside names and
    `[0]` in paths are none either, and stay as they are, readable in the raw table.)"""
    return re.sub(r"([\\|*`])", r"\\\1", text).replace("<", "&lt;")


def _text(value: Any, pattern: str = "{:.4f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return pattern.format(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def plot_validation_accuracy(summaries: Sequence[RunSummary], path: Path) -> Path | None:
    """The runs' validation-accuracy curves on one plot, like the lecture's
    SimpleRNN-against-LSTM figure (validation MAE when only regression runs are compared).
    Returns None when no run has a validation curve."""
    measure = plotted_measure(summaries)
    curves = [s for s in summaries if s.val_curve and s.measure == measure]
    labelled = dict(zip(_curve_labels(curves), (summary.val_curve for summary in curves)))
    if not labelled:
        return None
    label = "validation accuracy" if measure == "accuracy" else "validation MAE"
    format = check_plot_target(path)
    figure = curves_together_figure(labelled, label)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_atomically(path) as temporary:
            figure.savefig(temporary, dpi=100, format=format,
                           metadata={"Title": COMPARE_SIGNATURE})
    except OSError as error:
        raise RunError(f"--plot {path}: can't write the plot there ({error.strerror or error}).") from None
    return path


def _curve_labels(curves: Sequence[RunSummary]) -> list[str]:
    """A label per curve, each told apart: the config and overrides, then the run's folder
    name where two share them, then its path where that repeats too (two copies of one
    run in folders a/ and b/ drew one curve, the other dropped without a word). Escaped
    as the table's cells are: a folder name that isn't UTF-8 made matplotlib raise."""
    labels = [summary.label for summary in curves]
    for more in (lambda s: s.run_dir.name, lambda s: str(s.run_dir)):
        labels = [label if labels.count(label) == 1 else f"{summary.label} {more(summary)}"
                  for label, summary in zip(labels, curves)]
    return [printable_line(label) for label in labels]


def plotted_measure(summaries: Sequence[RunSummary]) -> str:
    """What the plot draws: validation accuracy if any run has its curve, else MAE."""
    drawn = [summary for summary in summaries if summary.val_curve]
    return "accuracy" if any(s.measure == "accuracy" for s in drawn) or not drawn else "mae"


def not_plotted(summaries: Sequence[RunSummary]) -> list[str]:
    """'label (why)' of each run the plot leaves out: a validation curve of the other
    measure, off its y axis, or none at all."""
    measure = plotted_measure(summaries)
    return [f"{summary.label} (another measure)" if summary.val_curve
            else f"{summary.label} (no validation curve)"
            for summary in summaries if not summary.val_curve or summary.measure != measure]


PLOT_FORMATS = ("png", "pdf", "svg")
# How each format's files begin, to tell an earlier plot (replaced) from anything else.
PLOT_STARTS = {"png": (b"\x89PNG",), "pdf": (b"%PDF",), "svg": (b"<?xml", b"<svg")}


# What the plots a command may replace are signed with (their metadata's Title), by
# command: --plot replaces an earlier comparison, never a tuning's scores.png or a photo.
COMPARE_SIGNATURE = "dlcourse compare"
LR_FIND_SIGNATURE = "dlcourse lr-find"


def check_plot_target(path: Path, option: str = "--plot",
                      signature: str = COMPARE_SIGNATURE) -> str:
    """The format --plot writes `path` in, once it is checked: it replaces an earlier plot
    of the same command (signed with `signature`; "Matplotlib": any plot it drew, for a
    plot known otherwise to be the command's), never another file (a typo can name one),
    and never writes into a run, whose files are its own (its accuracy.png is a plot too)."""
    if path.is_dir():
        raise RunError(f"{option} {path}: that is a folder; give the plot a file name in it, "
                       f"such as {path / 'plot.png'}.")
    if os.path.lexists(path) and not path.is_file():  # /dev/null was replaced by a PNG
        raise RunError(f"{option} {path}: that exists and is not a file (a device, a named "
                       "pipe or a link to nothing); give the plot a file name.")
    format = plot_format(path, option)
    if (folder := enclosing_run(path.resolve().parent)) is not None:
        raise RunError(f"{option} {path}: that is inside the run directory {folder}, whose "
                       "files are the run's own; write the plot elsewhere.")
    # Before the work whose plot it is: lr-find's whole range test was lost to a traceback
    # from a read-only folder. The folder the plot's name is in, not a link's target's:
    # the write replaces the link.
    folder = path.absolute().parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent  # the folders below it are made
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):  # a file: said later
        raise RunError(f"{option} {path}: {folder} can't be written (read-only, or not "
                       "yours); give the plot a place you can write.")
    if not path.is_file():
        return format  # nothing there
    try:
        start, end = _edges(path)
    except OSError:
        return format  # unreadable: the write says why
    if not start.startswith(PLOT_STARTS[format]):
        raise RunError(f"{option} {path}: that file exists and is not a {format.upper()} image, "
                       "so it isn't an earlier plot to replace; give another name.")
    # Matplotlib writes the Title near a PNG's or an SVG's start, at a PDF's end.
    mark = signature.encode()
    if mark not in start and mark not in end:  # a photo, a figure of the user's, a tuning's plot
        raise RunError(f"{option} {path}: that {format.upper()} image exists and is not a plot "
                       f"`{signature.split()[-1]}` drew (or one from before dlcourse signed "
                       "its plots, 2026-12-07), so it isn't an earlier plot to replace; give "
                       "another name, or remove it.")
    return format


def _edges(path: Path, edge: int = 16 << 10) -> tuple[bytes, bytes]:
    """A file's first and last `edge` bytes: its format's start, and where savefig writes
    a plot's metadata."""
    with open(path, "rb") as drawn:
        start = drawn.read(edge)
        drawn.seek(max(0, os.fstat(drawn.fileno()).st_size - edge))
        return start, drawn.read(edge)


def plot_format(path: Path, option: str = "--plot") -> str:
    """The image format a plot path asks for by its suffix (PNG when it has none)."""
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in PLOT_FORMATS:
        raise RunError(f"{option} {path}: can't draw a .{suffix} file; use a .png, .pdf or .svg name.")
    return suffix
