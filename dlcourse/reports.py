"""Files a run leaves for people: history tables, curves, the model summary, metrics.

Everything here only writes what it is given; nothing trains or evaluates.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from dlcourse.rundir import CLASSES_FILE, HISTORY_FILE, METRICS_FILE, write_json, write_text

History = Mapping[str, Sequence[float]]
LARGEST_ERRORS_FILE = "largest_errors.json"
# The curves drawn per run: accuracy for classification, mean absolute error for regression.
CURVES = (("accuracy", "accuracy"), ("mae", "mean absolute error"), ("loss", "loss"))


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


def agg_pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    from matplotlib import pyplot

    return pyplot


def save_figure(figure, path: Path) -> Path:
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    figure.savefig(partial, dpi=100)
    agg_pyplot().close(figure)
    partial.replace(path)
    return path


def _whole_epochs(axes) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_curves(run_dir: Path, history: History) -> list[Path]:
    """accuracy.png (mae.png for regression) and loss.png, drawn as the lecture draws them.

    Training values are dots ('bo') and validation values a line ('b'), per epoch.
    """
    pyplot = agg_pyplot()
    written = []
    for metric, title in CURVES:
        if metric not in history:
            continue
        epochs = range(1, len(history[metric]) + 1)
        figure, axes = pyplot.subplots(figsize=(6, 4))
        axes.plot(epochs, history[metric], "bo", label=f"Training {title}")
        if f"val_{metric}" in history:
            axes.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {title}")
        axes.set_title(f"Training and validation {title}")
        _whole_epochs(axes)
        axes.set_ylabel(title)
        axes.legend()
        figure.tight_layout()
        written.append(save_figure(figure, run_dir / f"{metric}.png"))
    return written


def plot_curves_together(curves: Mapping[str, Sequence[float]], metric: str, path: Path) -> Path:
    """One line per labelled curve, per epoch: for comparing runs."""
    figure, axes = agg_pyplot().subplots(figsize=(7, 4.5))
    for label, values in curves.items():
        axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    axes.set_title(metric.capitalize())
    _whole_epochs(axes)
    axes.set_ylabel(metric)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(figure, path)


LABELLED_CLASSES = 20


def plot_confusion_matrix(
    run_dir: Path, matrix: Sequence[Sequence[int]], class_names: Sequence[str]
) -> Path:
    """confusion_matrix.png: counts, true classes down, predicted classes across.

    Up to LABELLED_CLASSES classes each cell shows its count and each class its name;
    beyond that (CIFAR-100, Caltech-101) the colours alone stay readable, and drawing
    thousands of labels would take longer than the training run.
    """
    pyplot = agg_pyplot()
    count = len(class_names)
    size = min(12.0, max(3.5, 0.55 * count + 2))
    figure, axes = pyplot.subplots(figsize=(size, size))
    image = axes.imshow(matrix, cmap="Blues")
    if count <= LABELLED_CLASSES:
        highest = max(max(row) for row in matrix) or 1
        for row, counts in enumerate(matrix):
            for column, cell in enumerate(counts):
                colour = "white" if cell > highest / 2 else "black"
                axes.text(column, row, str(cell), ha="center", va="center", color=colour,
                          fontsize=8)
        ticks = range(count)
        axes.set_xticks(ticks, class_names, rotation=45 if count > 10 else 0)
        axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix (test split)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    return save_figure(figure, run_dir / "confusion_matrix.png")


def plot_wrong_images(run_dir: Path, images: Sequence, wrong: Sequence[Mapping[str, Any]],
                      class_names: Sequence[str]) -> Path:
    """misclassified.png: the most confidently wrong test images, with what was predicted."""
    pyplot = agg_pyplot()
    columns = min(6, len(images)) or 1
    rows = -(-len(images) // columns) or 1
    figure, grid = pyplot.subplots(rows, columns, figsize=(1.8 * columns, 2.3 * rows),
                                   squeeze=False, layout="constrained")
    for axes in grid.flat:
        axes.axis("off")
    for axes, image, item in zip(grid.flat, images, wrong):
        axes.imshow(image.squeeze(), cmap="gray")  # the colour map is ignored for RGB
        axes.set_title(
            f"true {class_names[item['true']]}\npred {class_names[item['predicted']]} "
            f"({item['confidence']:.2f})",
            fontsize=8,
        )
    figure.suptitle("Most confidently wrong (test split)", fontsize=10)
    return save_figure(figure, run_dir / "misclassified.png")


def write_evaluation_detail(
    run_dir: Path,
    evaluation,
    class_names: Sequence[str],
    images: Sequence | None = None,
    texts: Sequence[str] | None = None,
    plots: bool = True,
) -> None:
    """confusion_matrix.png, misclassified.json, and misclassified.png for images; for
    regression only largest_errors.json."""
    if evaluation.is_regression:
        errors = list(evaluation.wrong)
        if texts is not None:
            errors = [{**item, "text": text} for item, text in zip(errors, texts)]
        write_json(run_dir / LARGEST_ERRORS_FILE, errors)
        return
    if plots:
        plot_confusion_matrix(run_dir, evaluation.confusion_matrix, class_names)
    wrong = [
        {**item, "true_name": class_names[item["true"]],
         "predicted_name": class_names[item["predicted"]]}
        for item in evaluation.wrong
    ]
    if texts is not None:
        wrong = [{**item, "text": text} for item, text in zip(wrong, texts)]
    write_json(run_dir / "misclassified.json", wrong)
    if images is not None and len(images):
        plot_wrong_images(run_dir, images, wrong, class_names)


# --------------------------------------------------------------------------- report.html

METRIC_LABELS = {
    "best_val_accuracy": "best validation accuracy",
    "test_accuracy": "test accuracy",
    "best_val_mae": "best validation MAE",
    "test_mae": "test MAE",
}


def expected_against_measured(metrics: Mapping[str, Any]) -> str | None:
    """'best validation accuracy 0.8840, the lecture's slide ...: 0.89', or None."""
    reference = metrics.get("reference")
    if not reference or reference.get("measured") is None:
        return None
    label = METRIC_LABELS.get(reference["metric"], reference["metric"])
    difference = reference["measured"] - reference["value"]
    return (
        f"{label} {reference['measured']:.4f} — {reference['source']}: {reference['value']} "
        f"({difference:+.4f})"
    )


def write_report(run_dir: Path) -> Path:
    """report.html: one self-contained page (images inlined) that tells a run's whole story."""
    page = _ReportPage(run_dir)
    write_text(run_dir / "report.html", page.render())
    return run_dir / "report.html"


class _ReportPage:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.metrics = _read_json_if_present(run_dir / METRICS_FILE) or {}
        self.status = _read_json_if_present(run_dir / "status.json") or {}
        self.history = _read_json_if_present(run_dir / HISTORY_FILE) or {}
        self.evaluation = _read_json_if_present(run_dir / "evaluation.json")
        self.wrong = _read_json_if_present(run_dir / "misclassified.json") or []
        self.errors = _read_json_if_present(run_dir / LARGEST_ERRORS_FILE) or []

    def render(self) -> str:
        name = self.metrics.get("config") or self.run_dir.parent.name
        sections = [
            f"<h1>{_e(name)}</h1>",
            f"<p class=muted>{_e(str(self.run_dir))} · status <b>{_e(self.status.get('status', '?'))}</b>"
            f" · started {_e(self.status.get('started', '?'))}</p>",
            self._headline(),
            self._curves(),
            self._confusion(),
            self._mistakes(),
            self._largest_errors(),
            self._epochs(),
            self._text_file("Config", "config.yaml"),
            self._text_file("Model", "summary.txt"),
            self._versions(),
        ]
        body = "\n".join(section for section in sections if section)
        return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{_e(name)} · dlcourse report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }} td.text {{ text-align: left; max-width: 650px; }}
pre {{ background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }}
img {{ max-width: 100%; }} .row img {{ max-width: 48%; }} .muted {{ color: #666; }} .big {{ font-size: 1.25em; }}
.row {{ display: flex; gap: 1em; flex-wrap: wrap; }}
</style></head><body>
{body}
</body></html>
"""

    def _headline(self) -> str:
        metrics = self.metrics
        if not metrics:
            return "<p>This run has no metrics.json (it did not finish).</p>"
        lines = []
        comparison = expected_against_measured(metrics)
        if comparison:
            lines.append(f"<p class=big>Expected against measured: <b>{_e(comparison)}</b></p>")
        rows = [
            ("test accuracy", metrics.get("test_accuracy")),
            ("test loss", metrics.get("test_loss")),
            ("best validation accuracy", metrics.get("best_val_accuracy")),
            ("test MAE", metrics.get("test_mae")),
            ("best validation MAE", metrics.get("best_val_mae")),
            ("baseline test MAE (always the training mean)", metrics.get("baseline_test_mae")),
            ("best epoch", metrics.get("best_epoch")),
            ("epochs", metrics.get("epochs")),
            ("parameters", metrics.get("parameters")),
            ("training time (s)", metrics.get("train_seconds")),
            ("time per epoch (s, median)", metrics.get("seconds_per_epoch")),
            ("samples per second", metrics.get("samples_per_second")),
            ("training / test samples",
             f"{metrics.get('train_samples')} / {metrics.get('test_samples')}"),
        ]
        if self.evaluation:
            measure = "accuracy" if "test_accuracy" in self.evaluation else "mae"
            rows.append((f"re-evaluated {self.evaluation.get('evaluated', '')}: test {measure}",
                         self.evaluation.get(f"test_{measure}")))
        table = "".join(
            f"<tr><th>{_e(label)}</th><td>{_e(_format(value))}</td></tr>"
            for label, value in rows if value is not None
        )
        lines.append(f"<h2>Results</h2><table>{table}</table>")
        return "\n".join(lines)

    def _curves(self) -> str:
        images = [self._image(f"{metric}.png") for metric, _ in CURVES]
        images = [image for image in images if image]
        if not images:
            return ""
        return "<h2>Training curves</h2><div class=row>" + "".join(images) + "</div>"

    def _confusion(self) -> str:
        per_class = self.metrics.get("per_class")
        if not per_class:
            return ""
        names = self._class_names()
        rows = "".join(
            f"<tr><td>{_e(names.get(item['class'], str(item['class'])))}</td>"
            f"<td>{item['precision']:.4f}</td><td>{item['recall']:.4f}</td>"
            f"<td>{item['f1']:.4f}</td><td>{item['support']}</td></tr>"
            for item in per_class
        )
        table = ("<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
                 f"<th>support</th></tr>{rows}</table>")
        return ("<h2>Test split: per class</h2><div class=row>"
                f"{self._image('confusion_matrix.png')}<div>{table}</div></div>")

    def _class_names(self) -> dict[int, str]:
        names = _read_json_if_present(self.run_dir / CLASSES_FILE) or []
        return dict(enumerate(names))

    def _mistakes(self) -> str:
        if not self.wrong:
            return ""
        heading = "<h2>Most confidently wrong</h2>"
        if any("text" in item for item in self.wrong):
            rows = "".join(
                f"<tr><td>{_e(item['true_name'])}</td><td>{_e(item['predicted_name'])}</td>"
                f"<td>{item['confidence']:.3f}</td><td class=text>{_e(item['text'])}</td></tr>"
                for item in self.wrong
            )
            return (heading + "<table><tr><th>true</th><th>predicted</th><th>confidence</th>"
                    f"<th>{_e(self._text_heading())}</th></tr>{rows}</table>")
        return heading + self._image("misclassified.png")

    def _text_heading(self) -> str:
        """IMDB runs show reviews decoded from word indices; raw-text runs the texts as read."""
        source = str(self.metrics.get("data_source", ""))
        return "review (decoded from word indices)" if source.endswith(".npz") else "text"

    def _largest_errors(self) -> str:
        if not self.errors:
            return ""
        rows = "".join(
            f"<tr><td>{item['true']:.2f}</td><td>{item['predicted']:.2f}</td>"
            f"<td>{item['error']:.2f}</td><td class=text>{_e(item.get('text', ''))}</td></tr>"
            for item in self.errors
        )
        return ("<h2>Largest errors (test split)</h2><table><tr><th>true</th><th>predicted</th>"
                f"<th>error</th><th>text</th></tr>{rows}</table>")

    def _epochs(self) -> str:
        if not self.history:
            return ""
        columns = list(self.history)
        header = "".join(f"<th>{_e(column)}</th>" for column in ["epoch", *columns])
        count = len(next(iter(self.history.values())))
        rows = "".join(
            "<tr>" + f"<td>{epoch + 1}</td>" + "".join(
                f"<td>{self.history[column][epoch]:.4f}</td>" for column in columns
            ) + "</tr>"
            for epoch in range(count)
        )
        return f"<h2>Per epoch</h2><table><tr>{header}</tr>{rows}</table>"

    def _text_file(self, title: str, name: str) -> str:
        path = self.run_dir / name
        if not path.is_file():
            return ""
        return f"<h2>{_e(title)}</h2><pre>{_e(path.read_text(encoding='utf-8'))}</pre>"

    def _versions(self) -> str:
        versions = self.metrics.get("versions")
        if not versions:
            return ""
        text = ", ".join(f"{name} {version}" for name, version in versions.items())
        return f"<p class=muted>{_e(text)}; data: {_e(self.metrics.get('data_source', '?'))}</p>"

    def _image(self, name: str) -> str:
        path = self.run_dir / name
        if not path.is_file():
            return ""
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<img alt="{_e(name)}" src="data:image/png;base64,{encoded}">'


def _read_json_if_present(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _format(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _e(text: Any) -> str:
    return html.escape(str(text))
