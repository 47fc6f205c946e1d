"""What a run's results look like for people: figures of its curves, confusion matrix and
mistakes, the expected-against-measured sentence, and report.html.

Everything here renders what it is given and returns it (matplotlib Figures, text); the
run directory (dlcourse.rundir) decides where it goes. Nothing here trains, evaluates or
reads a file.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

History = Mapping[str, Sequence[float]]
# The curves drawn per run: accuracy for classification, mean absolute error for regression.
CURVES = (("accuracy", "accuracy"), ("mae", "mean absolute error"), ("loss", "loss"))
# Up to this many classes a confusion matrix labels every cell; beyond it (CIFAR-100,
# Caltech-101) the colours alone stay readable, and thousands of labels take longer to
# draw than the training run.
LABELLED_CLASSES = 20


def new_figure(**options):
    """A figure of its own, not pyplot's global state: nothing to close, safe in threads."""
    from matplotlib.figure import Figure

    return Figure(**options)


def literal(text: str) -> str:
    """Text drawn as it is written: matplotlib reads what lies between two '$' as maths
    ("$$" or "$10_$20", class names of price tiers), and a string it can't parse stopped
    the run at its end, when its plots were drawn."""
    return text.replace("$", r"\$")


def _whole_epochs(axes) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def curve_figures(history: History, validation: str = "Validation",
                  restored_epoch: int | None = None) -> dict[str, Any]:
    """accuracy (mae for regression) and loss against epochs, as the lecture draws them:
    training values as dots ('bo'), validation values as a line ('b'), named `validation`
    (say "Test split" when the config validates on it). `restored_epoch`, whose weights
    EarlyStopping kept, is marked with a dotted line."""
    figures = {}
    for metric, title in CURVES:
        if metric not in history:
            continue
        epochs = range(1, len(history[metric]) + 1)
        figure = new_figure(figsize=(6, 4))
        axes = figure.subplots()
        axes.plot(epochs, history[metric], "bo", label=f"Training {title}")
        if f"val_{metric}" in history:
            axes.plot(epochs, history[f"val_{metric}"], "b", label=f"{validation} {title}")
        if restored_epoch:
            axes.axvline(restored_epoch, color="grey", linestyle=":",
                         label=f"saved model (epoch {restored_epoch})")
        axes.set_title(f"Training and validation {title}")
        _whole_epochs(axes)
        axes.set_ylabel(title)
        axes.legend()
        # Margins that fit the tick labels of accuracies and losses, rather than
        # tight_layout measuring them: a third of the figure's cost, in every run.
        figure.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.91)
        figures[metric] = figure
    return figures


# A legend of more curves than this goes beside the plot, in columns of LEGEND_ROWS.
LEGEND_INSIDE_MOST, LEGEND_ROWS = 6, 25
# With matplotlib's ten colours, 40 curves are told apart, by their line's style, or by
# their marker where a run of one epoch draws no line.
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def curves_together_figure(curves: Mapping[str, Sequence[float]], metric: str):
    """One line per labelled curve, per epoch: for comparing runs. Past ten curves the
    colours repeat (matplotlib's cycle has ten), so each ten gets its own line style, and
    the legend of many goes beside the plot: over it, 15 runs hid their own lines."""
    beside = len(curves) > LEGEND_INSIDE_MOST
    columns = -(-len(curves) // LEGEND_ROWS)
    figure = new_figure(figsize=(7 + (3 * columns if beside else 0), 4.5))
    axes = figure.subplots()
    for index, (label, values) in enumerate(curves.items()):
        look = index // 10 % len(LINE_STYLES)
        axes.plot(range(1, len(values) + 1), values, marker=MARKERS[look], markersize=3,
                  color=f"C{index % 10}", linestyle=LINE_STYLES[look], label=literal(label))
    axes.set_title(metric.capitalize())
    _whole_epochs(axes)
    axes.set_ylabel(metric)
    if beside:
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small", ncols=columns)
    else:
        axes.legend()
    figure.tight_layout()
    return figure


def learning_rate_figure(rates: Sequence[float], losses: Sequence[float],
                         smoothed: Sequence[float], suggestion: float, rule: str):
    """The range test's loss against the learning rate (log axis): each batch's loss
    faint, the smoothed loss bold, the suggested rate as a line."""
    figure = new_figure(figsize=(7, 4.5))
    axes = figure.subplots()
    axes.plot(rates, losses, color="#bbbbbb", linewidth=0.8, label="loss of each batch")
    axes.plot(rates, smoothed, color="#1f77b4", linewidth=2, label="smoothed loss")
    axes.axvline(suggestion, color="#d62728", linestyle="--",
                 label=f"suggested {suggestion:.3g} ({rule})")
    axes.set_xscale("log")
    # Past the divergence, the losses would squash the curve that matters into a line.
    if smoothed:
        axes.set_ylim(min(min(smoothed), min(losses)) * 0.9, smoothed[0] * 1.5)
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss")
    axes.set_title("Learning-rate range test")
    axes.legend()
    figure.tight_layout()
    return figure


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str]):
    """Counts, true classes down, predicted classes across."""
    count = len(class_names)
    class_names = [literal(name) for name in class_names]
    size = min(12.0, max(3.5, 0.55 * count + 2))
    figure = new_figure(figsize=(size, size))
    axes = figure.subplots()
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
    return figure


def wrong_images_figure(images: Sequence, wrong: Sequence[Mapping[str, Any]],
                        class_names: Sequence[str]):
    """The most confidently wrong test images, with what was predicted."""
    columns = min(6, len(images)) or 1
    rows = -(-len(images) // columns) or 1
    class_names = [literal(name) for name in class_names]
    figure = new_figure(figsize=(1.8 * columns, 2.3 * rows))
    # Fixed margins, not a layout engine: measuring every title to place a grid of
    # images cost more than drawing them (every run's evaluation draws this).
    grid = figure.subplots(rows, columns, squeeze=False, gridspec_kw=dict(
        left=0.02, right=0.98, bottom=0.02, top=1 - 0.8 / (2.3 * rows), hspace=0.5,
        wspace=0.1))
    for axes in grid.flat:
        axes.axis("off")
    for axes, image, item in zip(grid.flat, images, wrong):
        axes.imshow(image.squeeze(), cmap="gray", interpolation="nearest")  # cmap: not RGB
        axes.set_title(
            f"true {class_names[item['true']]}\npred {class_names[item['predicted']]} "
            f"({item['confidence']:.2f})",
            fontsize=8,
        )
    figure.suptitle("Most confidently wrong (test split)", fontsize=10)
    return figure


def feature_maps_figure(maps):
    """Each channel of one image's (height, width, channels) feature maps, in a grid.

    Bright pixels are where that filter found its pattern in the image. The grid is one
    image (each channel scaled to its own range, as imshow would) in one axes: a grid of
    32 or 64 axes took a second to lay out and draw.
    """
    import numpy as np

    height, width, channels = maps.shape
    columns = min(channels, 8)
    rows = -(-channels // columns)
    gap, label = max(1, width // 12), max(4, height // 4)  # label: room for the number
    cell_w, cell_h = width + gap, height + label
    mosaic = np.full((rows * cell_h, columns * cell_w - gap), np.nan)
    figure = new_figure(figsize=(1.5 * columns, 1.5 * rows + 0.4))
    axes = figure.add_axes((0.01, 0.01, 0.98, 1 - 0.5 / (1.5 * rows + 0.4)))
    for channel in range(channels):
        row, column = divmod(channel, columns)
        values = maps[:, :, channel].astype(float)
        low, high = float(values.min()), float(values.max())
        top, left = row * cell_h + label, column * cell_w
        mosaic[top:top + height, left:left + width] = (
            (values - low) / (high - low) if high > low else 0.0)
        axes.text(left + width / 2, top - 0.5, str(channel), ha="center", va="bottom",
                  fontsize=8)
    axes.imshow(mosaic, cmap="viridis", interpolation="nearest", aspect="equal")
    axes.axis("off")
    figure.suptitle("First Conv2D's feature maps of the first test image")
    return figure


# --------------------------------------------------------------------------- sentences

METRIC_LABELS = {
    "best_val_accuracy": "best validation accuracy",
    "test_accuracy": "test accuracy",
    "best_val_mae": "best validation MAE",
    "test_mae": "test MAE",
}


def other_data_run(metrics: Mapping[str, Any]) -> str | None:
    """'run on other data (data.train=mine.csv)' for a run on other examples than its
    config file's, or None."""
    other = metrics.get("other_data")
    if other and not isinstance(other, list):
        other = [other]
    return f"run on other data ({', '.join(map(str, other))})" if other else None


def reduced_run(metrics: Mapping[str, Any]) -> str | None:
    """'reduced run (data.limit=2000, ...)' for a run smaller than its config, or None."""
    reduced = metrics.get("reduced")
    if reduced and not isinstance(reduced, list):
        reduced = [reduced]
    return f"reduced run ({', '.join(map(str, reduced))})" if reduced else None


def expected_against_measured(metrics: Mapping[str, Any]) -> str | None:
    """'best validation accuracy 0.8840, the lecture's slide ...: 0.89', or None; for a run
    smaller than its config (--smoke, data.limit, fewer epochs), that it is not comparable."""
    reference = metrics.get("reference")
    # metrics.json is a file a user can edit: a comparison it can't make is left out.
    if not isinstance(reference, Mapping) or not all(
            isinstance(reference.get(key), (int, float)) and not isinstance(reference[key], bool)
            for key in ("measured", "value")):
        return None
    metric = reference.get("metric")
    label = METRIC_LABELS.get(metric, metric) if isinstance(metric, str) else str(metric)
    if reduced := other_data_run(metrics) or reduced_run(metrics):
        # A bare difference would read as a failure to reproduce the published figure.
        return (
            f"{reduced}: {label} {reference['measured']:.4f} is not comparable with the "
            f"published {reference['value']} ({reference.get('source')})"
        )
    difference = reference["measured"] - reference["value"]
    return (
        f"{label} {reference['measured']:.4f} — {reference.get('source')}: {reference['value']} "
        f"({difference:+.4f})"
    )


# --------------------------------------------------------------------------- report.html


@dataclass(frozen=True)
class RunRecord:
    """Everything report.html shows, as read from a run directory."""

    title: str
    location: str
    status: Mapping[str, Any]
    metrics: Mapping[str, Any]
    history: History
    evaluation: Mapping[str, Any]
    wrong: Sequence[Mapping[str, Any]]
    errors: Sequence[Mapping[str, Any]]
    class_names: Sequence[str]
    config_text: str | None
    summary_text: str | None
    # The config validates on the test split each epoch (the lecture's MNIST notebook).
    validation_on_test: bool = False
    # PNGs by plot name (accuracy, loss, confusion_matrix, misclassified, ...).
    images: Mapping[str, bytes] = field(default_factory=dict)


def render_report(record: RunRecord) -> str:
    """report.html: one self-contained page (images inlined) that tells a run's whole story."""
    return _ReportPage(record).render()


class _ReportPage:
    def __init__(self, record: RunRecord):
        self.record = record
        self.metrics = record.metrics

    def render(self) -> str:
        record = self.record
        name = self.metrics.get("config") or record.title
        sections = [
            f"<h1>{_e(name)}</h1>",
            f"<p class=muted>{_e(record.location)} · status "
            f"<b>{_e(record.status.get('status', '?'))}</b>"
            f" · started {_e(record.status.get('started', '?'))}</p>",
            self._headline(),
            self._curves(),
            self._confusion(self.metrics.get("per_class"), "confusion_matrix"),
            self._mistakes(self.record.wrong, "misclassified"),
            self._largest_errors(self.record.errors),
            self._evaluated_again(),
            self._epochs(),
            self._text("Config", record.config_text),
            self._text("Model", record.summary_text),
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
.reduced {{ background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; }}
details summary {{ cursor: pointer; color: #345; }}
</style></head><body>
{body}
</body></html>
"""

    def _headline(self) -> str:
        metrics = self.metrics
        if not metrics:
            return "<p>This run has no metrics.json (it did not finish).</p>"
        lines = []
        reduced = metrics.get("reduced")
        if reduced:
            lines.append(
                f"<p class=reduced>A reduced run ({_e(', '.join(map(str, reduced)))}): a check "
                "that everything works, not a result to compare with published ones.</p>"
            )
        comparison = expected_against_measured(metrics)
        if comparison:
            lines.append(f"<p class=big>Expected against measured: <b>{_e(comparison)}</b></p>")
        rows = [
            ("test accuracy", _number(metrics.get("test_accuracy"))),
            ("test loss", _number(metrics.get("test_loss"))),
            ("best validation accuracy", _number(metrics.get("best_val_accuracy"))),
            ("test MAE", _number(metrics.get("test_mae"))),
            ("best validation MAE", _number(metrics.get("best_val_mae"))),
            ("baseline test MAE (always the training mean)",
             _number(metrics.get("baseline_test_mae"))),
            ("best epoch", metrics.get("best_epoch")),
            ("saved model and test figures from", _restored(metrics)),
            ("epochs", metrics.get("epochs")),
            ("parameters", _count(metrics.get("parameters"))),
            ("training time", _seconds(metrics.get("train_seconds"))),
            ("time per epoch (median)", _seconds(metrics.get("seconds_per_epoch"))),
            ("samples per second", _count(metrics.get("samples_per_second"))),
            ("training / test samples",
             f"{_count(metrics.get('train_samples'))} / {_count(metrics.get('test_samples'))}"),
        ]
        evaluation = self.record.evaluation
        if evaluation:
            measure = "accuracy" if "test_accuracy" in evaluation else "mae"
            rows.append((f"re-evaluated {evaluation.get('evaluated', '')}: test {measure}",
                         _number(evaluation.get(f"test_{measure}"))))
        table = "".join(
            f"<tr><th>{_e(label)}</th><td>{_e(_format(value))}</td></tr>"
            for label, value in rows if value is not None
        )
        lines.append(f"<h2>Results</h2><table>{table}</table>")
        return "\n".join(lines)

    def _curves(self) -> str:
        images = [self._image(metric) for metric, _ in CURVES]
        images = [image for image in images if image]
        if not images:
            return ""
        note = ""
        if self.record.validation_on_test:
            note = ("<p class=muted>The validation line is the test split (the config's "
                    "fit.validation: test, as the lecture's notebook does): the same examples "
                    "the test accuracy is measured on, so nothing is chosen by it.</p>")
        return "<h2>Training curves</h2>" + note + "<div class=row>" + "".join(images) + "</div>"

    def _confusion(self, per_class, image: str, heading: str = "<h2>Test split: per class</h2>") -> str:
        if not per_class:
            return ""
        names = dict(enumerate(self.record.class_names))
        rows = "".join(
            f"<tr><td>{_e(_class_name(names, item.get('class')))}</td>"
            f"<td>{_cell(item.get('precision'))}</td><td>{_cell(item.get('recall'))}</td>"
            f"<td>{_cell(item.get('f1'))}</td><td>{_cell(item.get('support'), '{}')}</td></tr>"
            for item in _records(per_class)
        )
        table = ("<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
                 f"<th>support</th></tr>{rows}</table>")
        return (f"{heading}<div class=row>"
                f"{self._image(image)}<div>{table}</div></div>")

    def _mistakes(self, wrong, image: str, heading: str = "<h2>Most confidently wrong</h2>") -> str:
        if not wrong:
            return ""
        if any("text" in item for item in _records(wrong)):
            rows = "".join(
                f"<tr><td>{_e(str(item.get('true_name')))}</td>"
                f"<td>{_e(str(item.get('predicted_name')))}</td>"
                f"<td>{_cell(item.get('confidence'), '{:.3f}')}</td>"
                f"<td class=text>{_long_text(str(item.get('text', '')))}</td></tr>"
                for item in _records(wrong)
            )
            return (heading + "<table><tr><th>true</th><th>predicted</th><th>confidence</th>"
                    f"<th>{_e(self._text_heading())}</th></tr>{rows}</table>")
        return heading + self._image(image)

    def _text_heading(self) -> str:
        """IMDB runs show reviews decoded from word indices; raw-text runs the texts as read."""
        source = str(self.metrics.get("data_source", ""))
        return "review (decoded from word indices)" if source.endswith(".npz") else "text"

    def _largest_errors(self, errors, heading: str = "<h2>Largest errors (test split)</h2>") -> str:
        if not errors:
            return ""
        rows = "".join(
            f"<tr><td>{_cell(item.get('true'), '{:.2f}')}</td>"
            f"<td>{_cell(item.get('predicted'), '{:.2f}')}</td>"
            f"<td>{_cell(item.get('error'), '{:.2f}')}</td>"
            f"<td class=text>{_long_text(item.get('text', ''))}</td></tr>"
            for item in _records(errors)
        )
        return (f"{heading}<table><tr><th>true</th><th>predicted</th>"
                f"<th>error</th><th>text</th></tr>{rows}</table>")

    def _evaluated_again(self) -> str:
        """What `dlcourse evaluate` measured, beside (never over) what training did: it may
        have read other data."""
        evaluation = self.record.evaluation
        if not evaluation:
            return ""
        mistakes = evaluation.get("mistakes") or []
        regression = "per_class" not in evaluation
        parts = [
            self._confusion(evaluation.get("per_class"), "evaluation_confusion_matrix", "<h3>Per class</h3>"),
            self._largest_errors(mistakes, "<h3>Largest errors</h3>") if regression else
            self._mistakes(mistakes, "evaluation_misclassified", "<h3>Most confidently wrong</h3>"),
        ]
        return (f"<h2>Evaluated again</h2><p class=muted>By <code>dlcourse evaluate</code>, "
                f"{_e(evaluation.get('evaluated', '?'))}, on {_e(evaluation.get('data_source', '?'))}. "
                "The sections above are from training.</p>" + "".join(parts)
                + _earlier_evaluations(evaluation.get("earlier")))

    def _epochs(self) -> str:
        history = self.record.history
        if not history:
            return ""
        columns = list(history)
        header = "".join(f"<th>{_e(column)}</th>" for column in ["epoch", *columns])
        count = len(next(iter(history.values())))
        rows = "".join(
            "<tr>" + f"<td>{epoch + 1}</td>" + "".join(
                f"<td>{_e(_format(history[column][epoch]))}</td>" for column in columns
            ) + "</tr>"
            for epoch in range(count)
        )
        return f"<h2>Per epoch</h2><table><tr>{header}</tr>{rows}</table>"

    def _text(self, title: str, text: str | None) -> str:
        if text is None:
            return ""
        return f"<h2>{_e(title)}</h2><pre>{_e(text)}</pre>"

    def _versions(self) -> str:
        versions = self.metrics.get("versions")
        if not isinstance(versions, Mapping):
            return ""
        text = ", ".join(f"{name} {version}" for name, version in versions.items())
        return f"<p class=muted>{_e(text)}; data: {_e(self.metrics.get('data_source', '?'))}</p>"

    def _image(self, plot: str) -> str:
        data = self.record.images.get(plot)
        if data is None:
            return ""
        encoded = base64.b64encode(data).decode("ascii")
        return f'<img alt="{_e(plot)}" src="data:image/png;base64,{encoded}">'


def _records(items: Any) -> list[Mapping[str, Any]]:
    """The records of a list read from a run's file; anything else in it is left out."""
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _cell(value: Any, pattern: str = "{:.4f}") -> str:
    """A number as `pattern` writes it; anything else a run's file holds (edited, or from
    someone else), as escaped text: a support of '<script>' ran in the report."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pattern.format(value)
    return _e(str(value))


def _class_name(names: Mapping[int, str], index: Any) -> str:
    if type(index) is int and index in names:
        return names[index]
    return str(index)


def _format(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _restored(metrics: Mapping[str, Any]) -> str | None:
    epoch = metrics.get("restored_epoch")
    return f"epoch {epoch}, restored by {metrics.get('restored_by')}" if epoch else None


def _number(value: Any) -> str | None:
    """A metric, to four places: 0.8774."""
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def finite_number(value: Any) -> bool:
    """A number a run's file holds that can be shown as one: Infinity in an edited
    metrics.json was an OverflowError traceback (after evaluation.json was written)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _count(value: Any) -> str | None:
    """A count as people read it: 93,322."""
    if not finite_number(value):
        return None
    return f"{round(value):,}"


def _seconds(value: Any) -> str | None:
    """Seconds as people read them: 70.9 s, 4 min 25 s."""
    if not finite_number(value):
        return None
    if value < 120:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {round(value % 60)} s"


# A text in a table is cut here, the rest one click away: whole reviews made pages of
# mistakes thousands of pixels long.
SHOWN_CHARACTERS = 300


def _long_text(text: Any) -> str:
    text = str(text)
    if len(text) <= SHOWN_CHARACTERS:
        return _e(text)
    cut = text[:SHOWN_CHARACTERS].rsplit(" ", 1)[0]
    return f"<details><summary>{_e(cut)} …</summary>{_e(text)}</details>"


def _e(text: Any) -> str:
    return html.escape(str(text))


# --------------------------------------------------------------------------- in a notebook


# The figures a run is summed up by: (as a notebook's table names them, the metric).
HEADLINE = (("test accuracy", "test_accuracy"), ("test MAE", "test_mae"),
            ("test loss", "test_loss"), ("best validation accuracy", "best_val_accuracy"))


def result_repr(kind: str, name: str, location: str, summary: str) -> str:
    """A result as print() and a text frontend show it: one line of what it is, where,
    and its headline. A dataclass's own repr ran to thousands of characters (a confusion
    matrix, a whole config, 200 learning rates)."""
    return f"<{kind} {name} in {location}: {summary}>"


def figures_text(metrics: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`keys`' figures to four places, those `metrics` has: 'test_accuracy 0.9840, ...'."""
    return ", ".join(f"{key} {_number(metrics.get(key))}" for key in keys
                     if _number(metrics.get(key)) is not None)


def result_html(title: str, location: str, metrics: Mapping[str, Any],
                images: Mapping[str, bytes]) -> str:
    """A result as a notebook cell shows it: the headline figures, expected against
    measured, and the curves."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{_e(label)}</th><td>{_e(value)}</td></tr>"
        for label, value in (
            *((label, _number(metrics.get(key))) for label, key in HEADLINE),
            ("best epoch", metrics.get("best_epoch")),
            ("parameters", _count(metrics.get("parameters"))),
            ("training time", _seconds(metrics.get("train_seconds"))),
        ) if value is not None
    )
    comparison = expected_against_measured(metrics)
    sentence = f"<p><b>Expected against measured:</b> {_e(comparison)}</p>" if comparison else ""
    pictures = "".join(
        f'<img style="max-width:48%" alt="{plot}" src="data:image/png;base64,'
        f'{base64.b64encode(images[plot]).decode("ascii")}">'
        for plot in ("accuracy", "mae", "loss") if plot in images
    )
    return (f"<div><h3>{_e(title)}</h3><p style='color:#666'>{_e(location)}</p>"
            f"<table>{rows}</table>{sentence}<div>{pictures}</div></div>")


def lines_html(title: str, lines: Sequence[str], image: bytes | None) -> str:
    """A result told in lines, with its plot, as a notebook cell shows it."""
    text = "".join(f"<p>{_e(line)}</p>" for line in lines)
    picture = (f'<img style="max-width:60%" alt="plot" src="data:image/png;base64,'
               f'{base64.b64encode(image).decode("ascii")}">' if image else "")
    return f"<div><h3>{_e(title)}</h3>{text}{picture}</div>"


def _earlier_evaluations(earlier: Any) -> str:
    """The evaluations before the latest, newest first: when, on what, and the figure."""
    rows = []
    for item in earlier if isinstance(earlier, list) else []:
        if not isinstance(item, Mapping):
            continue
        measure = "accuracy" if "test_accuracy" in item else "mae"
        rows.append(f"<tr><td>{_e(item.get('evaluated', '?'))}</td>"
                    f"<td>{_e(item.get('data_source', '?'))}</td>"
                    f"<td>test {measure} {_e(_number(item.get(f'test_{measure}')) or '?')}</td></tr>")
    if not rows:
        return ""
    return ("<h3>Earlier evaluations</h3><table><tr><th>evaluated</th><th>on</th>"
            f"<th>result</th></tr>{''.join(rows)}</table>")
