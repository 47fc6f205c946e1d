"""Files a run leaves for people: history tables, curves, the model summary, metrics.

Everything here only writes what it is given; nothing trains or evaluates.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

from dlcourse.rundir import HISTORY_FILE, METRICS_FILE, write_json, write_text

History = Mapping[str, Sequence[float]]


def write_history(run_dir: Path, history: History) -> None:
    """history.json and history.csv: one row per epoch, every metric plus its wall time."""
    write_json(run_dir / HISTORY_FILE, dict(history))
    columns = list(history)
    epochs = len(next(iter(history.values()), []))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for epoch in range(epochs):
        writer.writerow([epoch + 1, *(history[column][epoch] for column in columns)])
    write_text(run_dir / "history.csv", buffer.getvalue())


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    write_json(run_dir / METRICS_FILE, dict(metrics))


def write_summary(run_dir: Path, summary: str) -> None:
    write_text(run_dir / "summary.txt", summary)


def plot_curves(run_dir: Path, history: History) -> list[Path]:
    """accuracy.png and loss.png, drawn as the lecture draws them.

    Training values are dots ('bo') and validation values a line ('b'), per epoch.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    written = []
    for metric, title in (("accuracy", "accuracy"), ("loss", "loss")):
        if metric not in history:
            continue
        epochs = range(1, len(history[metric]) + 1)
        figure, axes = pyplot.subplots(figsize=(6, 4))
        axes.plot(epochs, history[metric], "bo", label=f"Training {title}")
        if f"val_{metric}" in history:
            axes.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {title}")
        axes.set_title(f"Training and validation {title}")
        axes.set_xlabel("epoch")
        axes.set_ylabel(title)
        axes.legend()
        figure.tight_layout()
        path = run_dir / f"{metric}.png"
        partial = path.with_name(f".{path.stem}.partial.png")
        figure.savefig(partial, dpi=100)
        pyplot.close(figure)
        partial.replace(path)
        written.append(path)
    return written
