"""The callbacks every dlcourse fit runs: the per-epoch history, and the stop on divergence.

None of them acts per batch, so Keras needn't wait for each batch's logs.
"""

from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np

from dlcourse.version import STARTED


class EpochRecorder(keras.callbacks.Callback):
    """Keeps every metric of every epoch plus its wall and CPU time, and hands them to
    `save` as each epoch ends, so an interrupted or crashed run still has its history on
    disk. The CPU time (all the process's threads) is what an epoch cost the machine: on
    a shared virtual machine, wall time also holds what other guests took from the cores.

    A resumed run passes the history it had; it is cut to the epochs the backup restored
    (the history of an epoch is saved just before its backup, so it can be one ahead).
    """

    def __init__(self, save: Callable[[dict], None] | None = None,
                 history: dict[str, list[float]] | None = None):
        super().__init__()
        self.save = save
        self.history: dict[str, list[float]] = history or {}
        self._started = self._started_cpu = 0.0
        self._last_end: float | None = None
        self._last_end_cpu: float | None = None
        # From the start of the process, so it counts imports and loading the data too.
        self.seconds_to_first_epoch: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for values in self.history.values():
            del values[epoch:]
        # An epoch's time runs from the end of the one before, so it includes what the
        # callbacks after this one did then (the backup's save): all that an epoch costs.
        self._started = self._last_end or time.perf_counter()
        self._started_cpu = self._last_end_cpu or time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_end, self._last_end_cpu = time.perf_counter(), time.process_time()
        times = {"epoch_seconds": self._last_end - self._started}
        if epoch == 0 or "epoch_cpu_seconds" in self.history:  # not in runs from before it
            times["epoch_cpu_seconds"] = self._last_end_cpu - self._started_cpu
        for key, value in {**(logs or {}), **times}.items():
            self.history.setdefault(key, []).append(float(value))
        if self.save is not None:
            self.save(self.history)
        if self.seconds_to_first_epoch is None:
            self.seconds_to_first_epoch = time.perf_counter() - STARTED


class StopIfDiverged(keras.callbacks.Callback):
    """Stops fit at the end of an epoch whose loss is NaN or infinite.

    Keras's TerminateOnNaN checks every batch, and any per-batch callback makes Keras
    wait for each batch's logs: a few percent of a small model's epoch.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not np.isfinite((logs or {}).get("loss", 0.0)):
            self.model.stop_training = True
