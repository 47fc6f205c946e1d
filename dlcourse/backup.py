"""Backups of a fit in progress, and the checks that let a stopped run be resumed.

Every run keeps Keras's `BackupAndRestore` checkpoint in `RUN_DIR/backup/` while it
trains. A run that was killed, interrupted or failed can then continue from its last
finished epoch in the same directory, and with `deterministic: true` it ends exactly
where an uninterrupted run would have ended.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlcourse.config import Config, load_config
from dlcourse.errors import RunError
from dlcourse.rundir import CONFIG_FILE, HISTORY_FILE, STATUS_FILE, is_run_dir, read_json, write_json

BACKUP_DIR = "backup"
SEED_STATES_FILE = "seed_states.json"
RESUMABLE = ("running", "interrupted", "failed")


class RunBackup(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore, plus the random-number state it leaves out.

    Keras backs up the weights, the optimizer's state and the epoch, but not the states
    of the layers' SeedGenerators (Dropout, recurrent dropout). Without them a resumed
    run would draw different dropout masks from an uninterrupted one. Those states are
    kept here for the last two epochs, because Keras's own files are written one after
    the other and a kill between them leaves the backup one epoch behind.
    """

    # Backups are per epoch: the per-batch hook Keras's class has does nothing here, and
    # saying so lets Keras dispatch batches without waiting for each one's logs.
    async_safe = True

    def __init__(self, run_dir: Path):
        # Keep two checkpoints so a file half-written by a kill isn't the only one, and
        # keep them after fit: the run is finished only once model.keras is saved.
        super().__init__(run_dir / BACKUP_DIR, double_checkpoint=True, delete_checkpoint=False)
        self._seed_states_path = run_dir / BACKUP_DIR / SEED_STATES_FILE
        self._first_epoch = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._first_epoch and epoch > 0:
            self._check_optimizer_reached(epoch)
            self._restore_seed_states(epoch)
        self._first_epoch = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._save_seed_states(epoch + 1)  # before Keras's files, so they never lack it
        super().on_epoch_end(epoch, logs)

    def _check_optimizer_reached(self, epoch: int) -> None:
        steps = self.params.get("steps")
        iterations = int(self.model.optimizer.iterations.numpy())
        if steps and iterations != epoch * steps:
            raise RunError(
                f"{self.backup_dir}: the backup's epoch ({epoch}) and its optimizer "
                f"({iterations} steps, {steps} per epoch) disagree; it was probably being "
                "written when the run stopped. This run can't be resumed; train it again."
            )

    def _seed_variables(self) -> list[Any]:
        # In the model's own order: layer names (dropout_3, ...) depend on what else the
        # process built before, so they can differ between the stopped and resumed run.
        weights = {id(weight) for weight in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _save_seed_states(self, epoch: int) -> None:
        saved = _read_seed_states(self._seed_states_path)
        states = [v.numpy().tolist() for v in self._seed_variables()]
        kept = {key: value for key, value in saved.items() if int(key) == epoch - 1}
        self._seed_states_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self._seed_states_path, {**kept, str(epoch): states})

    def _restore_seed_states(self, epoch: int) -> None:
        states = _read_seed_states(self._seed_states_path).get(str(epoch))
        variables = self._seed_variables()
        if states is None or len(states) != len(variables):
            raise RunError(
                f"{self.backup_dir} has no random-number state for epoch {epoch} of this "
                "model; this run can't be resumed exactly. Train it again."
            )
        for variable, state in zip(variables, states):
            variable.assign(np.asarray(state, dtype=variable.dtype))


def _read_seed_states(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def resumable_config(run_dir: Path, config: Config | None = None) -> Config:
    """The saved config of a run that can be resumed; RunError says why one can't.

    `config`, when given, must be the run's own config: a resumed run continues the
    same experiment, so anything else is refused rather than silently mixed.
    """
    if not is_run_dir(run_dir):
        raise RunError(
            f"{run_dir} is not a dlcourse run directory (it needs {CONFIG_FILE} and "
            f"{STATUS_FILE}); pass the directory a `dlcourse train` wrote."
        )
    status = read_json(run_dir / STATUS_FILE)
    _check_status(run_dir, status)
    saved = load_config(run_dir / CONFIG_FILE)
    if config is not None and config != saved:
        differences = "; ".join(_differences(saved.model_dump(), config.model_dump()))
        raise RunError(
            f"Can't resume {run_dir} with a different config ({differences}). A resumed "
            "run continues its own config.yaml; leave out CONFIG, or train a new run."
        )
    return saved


def _check_status(run_dir: Path, status: dict[str, Any]) -> None:
    outcome = status.get("status")
    if outcome == "finished":
        raise RunError(f"{run_dir} has already finished; there is nothing to resume.")
    if outcome == "diverged":
        raise RunError(
            f"{run_dir} diverged; resuming it would diverge again. Lower "
            "compile.optimizer.learning_rate and train a new run."
        )
    if outcome not in RESUMABLE:
        raise RunError(f"{run_dir / STATUS_FILE}: unknown status {outcome!r}.")
    if outcome == "running" and _still_running(status):
        raise RunError(
            f"{run_dir} is still being trained by process {status['pid']} on this machine. "
            "Stop that process first, or wait for it."
        )


def _still_running(status: dict[str, Any]) -> bool:
    # A run killed outright (SIGKILL, power loss) still says "running"; its process is gone.
    if status.get("host") != platform.node() or not isinstance(status.get("pid"), int):
        return False
    try:
        os.kill(status["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _differences(saved: Any, given: Any, path: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(given, dict):
        found = []
        for key in list(saved) + [key for key in given if key not in saved]:
            found += _differences(saved.get(key), given.get(key), f"{path}.{key}" if path else key)
        return found
    if saved != given:
        return [f"{path or 'config'}: {saved!r} in the run, {given!r} here"]
    return []


def previous_history(run_dir: Path) -> dict[str, list[float]]:
    """The history a stopped run saved; the recorder cuts it to the epochs restored."""
    if not (run_dir / HISTORY_FILE).is_file():
        return {}
    return read_json(run_dir / HISTORY_FILE)
