"""Ctrl-C and SIGTERM: handlers set for the length of a block, and the two held back.

Only the main thread may set Python's signal handlers and mask; in another (a notebook's
worker thread) these do nothing, and Python's own handling stays.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator, Mapping


def settable() -> bool:
    """Whether this thread may set signal handlers."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handlers_set(handlers: Mapping[int, Any]) -> Iterator[None]:
    """Each signal's handler set for the block, and the one before put back after: one set
    outside Python, which `signal.signal` gives as None, as the default."""
    if not settable():
        yield
        return
    previous = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back until the block ends, then delivered: not lost."""
    if not settable():
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored for the moment in which something interrupted writes how
    it ended: a second one, pressed or sent by an impatient scheduler, cut that write off
    and left it saying "running". It is stopping already, which is what they ask; a write
    that hangs (a dead network disk) is then ended by SIGKILL only."""
    with handlers_set({signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}):
        yield
