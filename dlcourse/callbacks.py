"""The callbacks every dlcourse fit runs: the per-epoch history, the stop on divergence, and
Ctrl-C's.

None of them acts per batch, so Keras needn't wait for each batch's logs.
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Callable

import keras
import numpy as np

from dlcourse.interrupts import handlers_set, settable
from dlcourse.version import run_started


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
        # From the start of the process (the CLI's) or of the call (Python's), so it counts
        # imports and loading the data too.
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
            self.seconds_to_first_epoch = time.perf_counter() - run_started()

    def whole_epochs(self) -> dict[str, list[float]]:
        """The history cut to the epochs every column has: a Ctrl-C can land while an
        epoch's values are being appended, or before `save` wrote them."""
        kept = min((len(values) for values in self.history.values()), default=0)
        for values in self.history.values():
            del values[kept:]
        return self.history


class StopIfDiverged(keras.callbacks.Callback):
    """Stops fit at the end of an epoch whose loss is NaN or infinite.

    Keras's TerminateOnNaN checks every batch, and any per-batch callback makes Keras
    wait for each batch's logs: a few percent of a small model's epoch.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not np.isfinite((logs or {}).get("loss", 0.0)):
            self.model.stop_training = True


# What each config callback has counted so far: Keras resets these when fit begins, so a
# resumed run sets them back from its backup (dlcourse.backup), or it would forget how
# long it had waited for an improvement and which epoch was best.
_COUNTERS = {
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
}


def config_callbacks(config) -> list[keras.callbacks.Callback]:
    """The Keras callbacks the config lists under fit.callbacks, built from its checked
    arguments (dlcourse.config.callbacks refuses any that write files or run code)."""
    return [getattr(keras.callbacks, spec.name)(**spec.args) for spec in config.fit.callbacks]


def callback_states(callbacks: list[keras.callbacks.Callback]) -> list[dict[str, float]]:
    """Each callback's counters as plain numbers, integers staying integers (JSON keeps
    the difference, so they are set back as they were)."""
    return [
        {name: _plain_number(getattr(callback, name))
         for name in _COUNTERS.get(type(callback).__name__, ())
         if getattr(callback, name, None) is not None}
        for callback in callbacks
    ]


def _plain_number(value) -> int | float:
    """A Python int or float from what a callback holds (NumPy scalars included)."""
    value = value.item() if isinstance(value, np.generic) else value
    return value if isinstance(value, int) else float(value)


def best_weights(callbacks: list[keras.callbacks.Callback]) -> dict[int, list[np.ndarray]]:
    """EarlyStopping's kept weights of its best epoch, by the callback's position."""
    return {index: callback.best_weights for index, callback in enumerate(callbacks)
            if getattr(callback, "best_weights", None) is not None}


def set_callback_states(callbacks: list[keras.callbacks.Callback], states: list[dict[str, float]],
                        weights: dict[int, list[np.ndarray]]) -> None:
    for index, (callback, state) in enumerate(zip(callbacks, states)):
        for name, value in state.items():
            setattr(callback, name, value)
        if index in weights:
            callback.best_weights = weights[index]


def restored_epoch(callbacks: list[keras.callbacks.Callback]) -> dict[str, object]:
    """Which epoch's weights EarlyStopping put back at the end of fit (restore_best_weights),
    for metrics.json; empty when the last epoch's weights are the model's."""
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.restore_best_weights \
                and callback.best_weights is not None:
            return {"restored_epoch": int(callback.best_epoch) + 1,
                    "restored_by": f"EarlyStopping (best {callback.monitor})"}
    return {}


class CtrlCEndsTheFit(keras.callbacks.Callback):
    """Ctrl-C ends a run's fit at once, as Python's own handler does, and also where Python
    swallowed it: a KeyboardInterrupt raised inside a garbage collector's callback is
    dropped ("Exception ignored in ..."), and the run trained on through every epoch left
    (a test's child went on for a minute after its Ctrl-C). So the handler also asks the
    fit to stop after its batch, and this callback, first in the fit's list, raises the
    interrupt at the epoch's end: before the epoch it cut short is recorded as a whole one.
    """

    def __init__(self):
        super().__init__()
        self.requested = False
        self._raising = signal.default_int_handler

    @contextlib.contextmanager
    def heard(self):
        """This handler for Ctrl-C while the fit runs, in front of Python's own or the
        CLI's (not where Ctrl-C is ignored, nor where a search has one of its own)."""
        current = signal.getsignal(signal.SIGINT)
        if not (current is signal.default_int_handler
                or getattr(current, "raises_keyboard_interrupt", False)):
            yield
            return
        self._raising = current
        with handlers_set({signal.SIGINT: self.interrupt}):
            yield

    def interrupt(self, signum, frame) -> None:
        self.requested = True
        if self.model is not None:
            self.model.stop_training = True
        self._raising(signum, frame)  # raises KeyboardInterrupt

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._raise_if_requested()

    def on_train_end(self, logs=None) -> None:
        self._raise_if_requested()

    def _raise_if_requested(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


class InterruptAtEpochEnd(keras.callbacks.Callback):
    """Ctrl-C during a fit, taken where Python code runs rather than inside TensorFlow.

    A KeyboardInterrupt raised while TensorFlow is inside its data iterator can come out
    as another error (`ValueError: None values not supported`); KerasTuner then records a
    failed trial and goes on searching. While `deferred()` holds, the first Ctrl-C only
    asks the running fit to stop after its batch, and this callback raises the interrupt
    at the epoch's end. A second Ctrl-C, or one outside a fit, interrupts at once.

    `deferring` holds the ones in force, for SIGTERM: the CLI hands it here too, also where
    Ctrl-C is ignored (a job started with `&` by a script), so it never raises at a point
    where Python swallows it (a weakref's callback), leaving the search running.
    """

    deferring: list[InterruptAtEpochEnd] = []

    def __init__(self):
        super().__init__()
        self.requested = False
        self._fitting = None

    @contextlib.contextmanager
    def deferred(self):
        if not settable():
            yield  # a handler can't be set here
            return
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # Ctrl-C meant to be
        InterruptAtEpochEnd.deferring.append(self)
        try:
            with handlers_set({} if ignored else {signal.SIGINT: self.interrupt}):
                yield
        finally:
            InterruptAtEpochEnd.deferring.remove(self)

    def interrupt(self, signum, frame) -> None:
        """Stop the fit after its batch; or, a second time or between fits, at once. Asked
        for either way, so that an interrupt Python swallowed still ends the next fit."""
        if self.requested or self._fitting is None:
            self.requested = True
            raise KeyboardInterrupt
        self.requested = True
        self._fitting.stop_training = True

    def on_train_begin(self, logs=None) -> None:
        self._fitting = self.model
        self._raise_if_requested()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._raise_if_requested()

    def on_train_end(self, logs=None) -> None:
        self._fitting = None
        self._raise_if_requested()

    def _raise_if_requested(self) -> None:
        if self.requested:
            self._fitting = None
            raise KeyboardInterrupt
