"""dlcourse's version, and when the work a run times began."""

import contextlib
import functools
import time

__version__ = "0.1.0"
# When this process started importing dlcourse: the CLI times a run's first epoch from
# here, so that imports and loading the data count too.
STARTED = time.perf_counter()
_STARTS: list[float] = []


def run_started() -> float:
    """The start of a run's time to its first epoch: the process's for the CLI, the call's
    from Python (a notebook's kernel may be hours old; its runs counted its age)."""
    return _STARTS[-1] if _STARTS else STARTED


def timed(function):
    """Times the runs `function` makes from its call, unless an outer caller (the CLI)
    already set where they start."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        with timed_from(time.perf_counter()):
            return function(*args, **kwargs)

    return wrapped


@contextlib.contextmanager
def timed_from(start: float):
    _STARTS.append(_STARTS[-1] if _STARTS else start)
    try:
        yield
    finally:
        _STARTS.pop()
