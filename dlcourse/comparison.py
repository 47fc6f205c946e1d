"""Runs side by side: one summary row per run directory, as a table or a plot.

Reads only the files a run wrote (JSON and YAML), so `dlcourse runs` and `dlcourse
compare` answer without importing TensorFlow.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from dlcourse.errors import RunError
from dlcourse.rundir import CONFIG_FILE, HISTORY_FILE, METRICS_FILE, STATUS_FILE, find_runs


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


def summarise(run_dir: Path) -> RunSummary:
    config = _read(run_dir / CONFIG_FILE, yaml.safe_load) or {}
    metrics = _read(run_dir / METRICS_FILE, json.loads) or {}
    status = _read(run_dir / STATUS_FILE, json.loads) or {}
    history = _read(run_dir / HISTORY_FILE, json.loads) or {}
    measure = "accuracy" if "val_accuracy" in history or "test_accuracy" in metrics else "mae"
    curve = history.get(f"val_{measure}", [])
    best = (max if measure == "accuracy" else min)(curve) if curve else None
    best_epoch = metrics.get("best_epoch")
    if best_epoch is None and curve:  # an unfinished run: read its history
        best_epoch = curve.index(best) + 1
    return RunSummary(
        run_dir=run_dir,
        config=config.get("name", run_dir.parent.name),
        model="-".join(_layer_names(config)),
        status=status.get("status", "unknown"),
        parameters=metrics.get("parameters"),
        epochs=len(history.get("loss", [])),
        measure=measure,
        best_val=best,
        best_epoch=best_epoch,
        test=metrics.get(f"test_{measure}"),
        seconds_per_epoch=metrics.get("seconds_per_epoch"),
        val_curve=curve,
    )


def _read(path: Path, parse) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _layer_names(config: dict) -> list[str]:
    layers = (config.get("model") or {}).get("layers") or []
    names = []
    for layer in layers:
        name = layer if isinstance(layer, str) else next(iter(layer), "?")
        arguments = layer.get(name) if isinstance(layer, dict) else None
        inner = (arguments or {}).get("layer") if isinstance(arguments, dict) else None
        if isinstance(inner, dict) and inner:
            name = f"{name}({next(iter(inner))})"
        names.append(name)
    return names


def collect_runs(paths: Sequence[str | Path]) -> list[RunSummary]:
    """Summaries of the given run directories, or of every run under given directories."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunError(f"{path}: no such directory.")
        found = find_runs(path)
        if not found:
            raise RunError(f"{path}: not a run directory, and no runs were found under it.")
        runs.extend(found)
    return [summarise(run) for run in runs]


# Accuracy columns hold plain numbers; a regression run's are marked "MAE".
COLUMNS = ("config", "model", "parameters", "epochs", "best val acc (epoch)", "test acc",
           "s/epoch", "status", "run")


def table_rows(summaries: Sequence[RunSummary]) -> list[list[str]]:
    return [
        [
            summary.config,
            summary.model,
            _text(summary.parameters),
            str(summary.epochs),
            f"{_marked(summary, summary.best_val)} ({summary.best_epoch})"
            if summary.best_val is not None else "-",
            _marked(summary, summary.test),
            _text(summary.seconds_per_epoch, "{:.1f}"),
            summary.status,
            str(summary.run_dir),
        ]
        for summary in summaries
    ]


def _marked(summary: RunSummary, value: float | None) -> str:
    text = _text(value)
    return f"MAE {text}" if summary.measure == "mae" and value is not None else text


def format_table(summaries: Sequence[RunSummary], style: str = "terminal") -> str:
    """The comparison table as aligned text, Markdown, or CSV."""
    return format_rows(COLUMNS, table_rows(summaries), style)


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[str]], style: str) -> str:
    """A table of text cells as aligned text ('terminal'), Markdown, or CSV."""
    if style == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buffer.getvalue()
    if style == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [list(columns), *rows]
    ) + "\n"


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
    from dlcourse.reports import plot_curves_together

    measure = "accuracy" if any(s.measure == "accuracy" for s in summaries) else "mae"
    curves = [s for s in summaries if s.val_curve and s.measure == measure]
    names = [summary.config for summary in curves]
    labelled = {
        summary.config if names.count(summary.config) == 1
        else f"{summary.config} ({summary.run_dir.name})": summary.val_curve
        for summary in curves
    }
    label = "validation accuracy" if measure == "accuracy" else "validation MAE"
    return plot_curves_together(labelled, label, path) if labelled else None
