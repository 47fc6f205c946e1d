"""What a tuning run shows people: the trials as tables, scores against values, the best
config as commented YAML. Everything here renders what it is given and returns it;
dlcourse.tune_dir writes it. Nothing here trains or imports TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from dlcourse.comparison import format_rows
from dlcourse.config import Config, SearchExpression
from dlcourse.reports import literal, new_figure


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a search: the values it tried and the validation score they reached."""

    trial_id: str
    status: str
    score: float | None
    best_epoch: int | None
    values: dict[str, Any]

    @property
    def number(self) -> str:
        """The trial as KerasTuner's log counts it ("Running Trial #1" is trial_id "0")."""
        return str(int(self.trial_id) + 1) if self.trial_id.isdigit() else self.trial_id

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED" and _finite(self.score)


def ranked(trials: Sequence[TrialRecord], direction: str) -> list[TrialRecord]:
    """Completed trials best first, then the others (running, failed) by trial id."""
    done = sorted(
        (trial for trial in trials if trial.completed),
        key=lambda trial: -trial.score if direction == "max" else trial.score,
    )
    return done + sorted(
        (trial for trial in trials if not trial.completed), key=lambda trial: trial.trial_id
    )


def trials_table(
    trials: Sequence[TrialRecord],
    expressions: Sequence[SearchExpression],
    objective: str,
    direction: str,
    style: str = "terminal",
) -> str:
    """The trials sorted by score, one column per searched value."""
    columns = ["rank", "trial #", objective, "epoch", *(e.path for e in expressions), "status"]
    rows = [
        [
            str(rank) if trial.completed else "-",
            trial.number,
            f"{trial.score:.4f}" if _finite(trial.score) else "-",
            str(trial.best_epoch) if trial.best_epoch is not None else "-",
            *(_value_text(trial.values.get(e.path)) for e in expressions),
            trial.status.lower(),
        ]
        for rank, trial in enumerate(ranked(trials, direction), start=1)
    ]
    return format_rows(columns, rows, style)


def trials_record(
    trials: Sequence[TrialRecord], objective: str, direction: str
) -> dict[str, Any]:
    """What trials.json holds: the trials best first, with the objective they were ranked by."""
    return {
        "objective": objective,
        "direction": direction,
        "trials": [asdict(trial) for trial in ranked(trials, direction)],
    }


def scores_figure(
    trials: Sequence[TrialRecord],
    expressions: Sequence[SearchExpression],
    objective: str,
):
    """One panel per searched value: each completed trial's score against the value it tried."""
    done = [trial for trial in trials if trial.completed]
    if not done or not expressions:
        return None
    columns = min(len(expressions), 3)
    rows = math.ceil(len(expressions) / columns)
    figure = new_figure(figsize=(4.2 * columns, 3.4 * rows))
    axes = figure.subplots(rows, columns, squeeze=False, sharey=True)
    for panel, expression in zip(axes.flat, expressions):
        values = [trial.values.get(expression.path) for trial in done]
        scores = [trial.score for trial in done]
        if expression.kind == "choice":
            # Choices are categories: place them in their listed order.
            positions = {value: index for index, value in enumerate(expression.values)}
            panel.set_xticks(range(len(expression.values)),
                             [literal(str(value)) for value in expression.values])
            values = [positions.get(value, math.nan) for value in values]
        elif expression.sampling == "log":
            panel.set_xscale("log")
        panel.plot(values, scores, "bo")
        panel.set_xlabel(expression.path, fontsize=8)
        panel.set_ylabel(objective)
    for panel in list(axes.flat)[len(expressions):]:
        panel.set_visible(False)
    figure.suptitle(f"{objective} of each trial against the values it tried")
    figure.tight_layout()
    return figure


def best_config_text(config: Config, header: Sequence[str]) -> str:
    """The best trial's config as plain YAML, behind a comment saying where it came from."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return comment + config.to_yaml()


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
