"""The backup a run keeps while it trains, and resuming from it.

After every epoch the model's weights, the optimizer's state and the random-number
states of its layers (Dropout's SeedGenerators, which Keras's own BackupAndRestore leaves
out), and what the config's callbacks have counted (EarlyStopping's wait and best epoch,
with that epoch's weights) are written to a new folder `RUN_DIR/backup/epoch-<N>/`,
which appears by one atomic rename only once all of it is on disk. The previous epoch's folder is kept too.
A kill at any moment therefore leaves complete backups only; resuming checks the newest
one (its weights load, its optimizer has taken as many steps as the epochs need) and
falls back to the one before, and never trains on from fresh weights when epochs were
done. With `deterministic: true` a resumed run ends exactly where an uninterrupted one
would have ended.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlcourse.callbacks import best_weights, callback_states, set_callback_states
from dlcourse.errors import RunError, one_line
from dlcourse.rundir import PARTIAL_PREFIX, RunDir, ensure_free_space, weight_bytes
from dlcourse.safe_files import read_file, regular_file

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"
# EarlyStopping's weights of its best epoch, for the config's callback at that index.
BEST_WEIGHTS_FILE = "best-weights-{}.npz"
# A backup's state is a few numbers a layer: a file larger than this is not one.
LARGEST_STATE_BYTES = 16 << 20
KEPT_BACKUPS = 2
_EPOCH_FOLDER = re.compile(r"^epoch-(\d+)$")


class RunBackup(keras.callbacks.Callback):
    """Writes the backup at the end of every epoch, with the state of the config's
    callbacks (`watched`: EarlyStopping's counters and best weights, ReduceLROnPlateau's
    counters); on a resumed run it sets that state back once Keras has reset it.

    It must come after the watched callbacks in fit's list, so that it saves what they
    concluded at the same epoch's end, and restores after they reset.
    """

    # Backups are per epoch: saying so lets Keras dispatch batches without waiting for
    # each one's logs.
    async_safe = True

    def __init__(self, run: RunDir, watched: list | None = None, restored: Restored | None = None):
        super().__init__()
        self.run = run
        self.watched = watched or []
        self.restored = restored

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.restored is not None and self.restored.source is not None:
            set_callback_states(self.watched, self.restored.callback_states,
                                self.restored.best_weights)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        save_backup(self.model, self.run.backup_dir, epoch + 1, self.watched)


def save_backup(model: keras.Model, backup_dir: Path, epochs_done: int,
                watched: list | None = None) -> Path:
    backup_dir.mkdir(exist_ok=True)
    kept = best_weights(watched or [])
    ensure_free_space(backup_dir, weight_bytes(model) * (1 + len(kept)))
    final = backup_dir / f"epoch-{epochs_done}"
    partial = backup_dir / f"{PARTIAL_PREFIX}epoch-{epochs_done}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    model.save_weights(partial / WEIGHTS_FILE)
    state = {
        "epochs": epochs_done,
        "optimizer_steps": int(model.optimizer.iterations.numpy()),
        "seed_states": [v.numpy().tolist() for v in _seed_variables(model)],
        "callbacks": callback_states(watched or []),
    }
    written = [WEIGHTS_FILE, STATE_FILE]
    for index, weights in kept.items():
        name = BEST_WEIGHTS_FILE.format(index)
        np.savez(partial / name, *weights)
        written.append(name)
    (partial / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    for name in written:
        _fsync(partial / name)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    _fsync(backup_dir)
    for older in sorted(_backups(backup_dir), reverse=True)[KEPT_BACKUPS:]:
        shutil.rmtree(older[1], ignore_errors=True)
    return final


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _backups(backup_dir: Path) -> list[tuple[int, Path]]:
    if not backup_dir.is_dir():
        return []
    found = []
    for path in backup_dir.iterdir():
        match = _EPOCH_FOLDER.match(path.name)
        if match and path.is_dir():
            found.append((int(match[1]), path))
    return found


def _seed_variables(model: keras.Model) -> list[Any]:
    # In the model's own order, not by layer name: a backup of a run started before each
    # model was named afresh holds names (dropout_3, ...) that depended on what else its
    # process had built.
    weights = {id(weight) for weight in model.weights}
    return [v for v in model.variables if id(v) not in weights and v is not model.optimizer.iterations]


@dataclass(frozen=True)
class Restored:
    epochs: int
    source: Path | None
    callback_states: list = field(default_factory=list)
    best_weights: dict = field(default_factory=dict)

    @property
    def stopped_early(self) -> bool:
        """EarlyStopping had ended the fit before the process stopped: resuming must not
        train on, only finish (restore the best weights, evaluate, save)."""
        return any(state.get("stopped_epoch", 0) > 0 for state in self.callback_states)


def restore(model: keras.Model, run: RunDir, epochs_recorded: int, steps_per_epoch: int | None,
            watched: list | None = None) -> Restored:
    """Load the newest consistent backup into `model`; the epochs it had done.

    `epochs_recorded` is how many epochs the run's history holds: with more than the
    first epoch done and no usable backup, resuming would quietly throw that work away
    (and, were it to skip the epochs, save untrained weights), so it is refused instead.
    """
    problems = []
    for epochs, path in sorted(_backups(run.backup_dir), reverse=True):
        try:
            return _load(model, path, epochs, steps_per_epoch, watched)
        # BadZipFile, EOFError: a best-weights file cut short; MemoryError: one whose
        # header claims more than the memory (each a traceback, the older backup unused).
        except (OSError, ValueError, KeyError, TypeError, RecursionError, RunError,
                zipfile.BadZipFile, EOFError, MemoryError) as error:
            problems.append(f"{path.name}: {one_line(error, 200)}")
    if epochs_recorded <= 1 and not problems:
        # Stopped in its first epoch, or before that epoch's backup was complete (the
        # history is saved first): starting again loses nothing but that one epoch.
        return Restored(0, None)
    found = "; ".join(problems) or "there is no backup"
    raise RunError(
        f"{run.path} can't be resumed: it recorded {epochs_recorded} finished epoch(s), but "
        f"no backup of them can be restored ({found}). Resuming would start from untrained "
        "weights, so train it again instead."
    )


def resumed_line(run: RunDir, restored: Restored, epochs_recorded: int, epochs: int) -> str:
    """What a resumed run says before it trains: from which epoch, and which recorded
    epochs it trains again because their backup was not complete (the kill came while it
    was written). Said, because the history those epochs had is rewritten."""
    done = restored.epochs
    if restored.stopped_early:
        start = f"Finishing {run.path}: EarlyStopping had ended its training after epoch {done}."
    elif restored.source is None:
        start = f"Resuming {run.path} from the start"
    else:
        start = f"Resuming {run.path} after epoch {done} of {epochs}, from its backup"
    if restored.stopped_early:
        return start
    if done >= epochs_recorded:
        return start + "."
    again = (f"epoch {done + 1} is" if epochs_recorded == done + 1
             else f"epochs {done + 1}-{epochs_recorded} are")
    return (f"{start}: no backup of epoch {epochs_recorded} could be restored, so {again} "
            "trained again.")


def _load(model: keras.Model, path: Path, epochs: int, steps_per_epoch: int | None,
          watched: list | None) -> Restored:
    # Bounded, and only from regular files: a pipe in their place hung the resume.
    state = json.loads(read_file(path / STATE_FILE, LARGEST_STATE_BYTES, RunError, "backup state"))
    if not isinstance(state, dict) or state.get("epochs") != epochs:
        raise RunError("its state doesn't match its folder")
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(regular_file(path / WEIGHTS_FILE, RunError, "backup weights"))
    steps = int(model.optimizer.iterations.numpy())
    if steps != state.get("optimizer_steps") or (
        steps_per_epoch and steps != epochs * steps_per_epoch
    ):
        raise RunError(f"its optimizer took {steps} steps, not the {epochs} epochs' worth")
    variables = _seed_variables(model)
    states = state.get("seed_states")
    if not isinstance(states, list) or len(states) != len(variables):
        raise RunError("it has no random-number state for this model's layers")
    for variable, saved in zip(variables, states):
        variable.assign(np.asarray(saved, dtype=variable.dtype))
    return Restored(epochs, path, *_callback_state(path, state, watched or []))


def _callback_state(path: Path, state: dict, watched: list) -> tuple[list, dict]:
    """The saved state of the config's callbacks; RunError if it doesn't fit them."""
    states = state.get("callbacks", [])
    if not isinstance(states, list) or len(states) != len(watched) or not all(
        isinstance(s, dict) and all(isinstance(v, (int, float)) for v in s.values())
        for s in states
    ):
        raise RunError("its callback state doesn't match fit.callbacks")
    weights = {}
    for index in range(len(watched)):
        file = path / BEST_WEIGHTS_FILE.format(index)
        if file.exists() or file.is_symlink():
            # Plain arrays only: allow_pickle=False, so the file can't hold code.
            with np.load(regular_file(file, RunError, "best weights"), allow_pickle=False) as saved:
                weights[index] = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    return states, weights

