"""Ctrl-C and SIGTERM held back or ignored for a block, and the handlers put back after."""

import signal

import pytest

from dlcourse.interrupts import handlers_set, signals_deferred, signals_ignored


@pytest.fixture
def ctrl_c_raises():
    # pytest-xdist's workers ignore SIGINT; a terminal's Python raises KeyboardInterrupt.
    with handlers_set({signal.SIGINT: signal.default_int_handler}):
        yield


def test_a_second_ctrl_c_while_a_stop_is_written_is_ignored(ctrl_c_raises):
    """A second Ctrl-C cut off an interrupted search's last writes: it said 'running',
    with no best config (and a run its status, before)."""
    written = []
    with signals_ignored():
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
        written.append("status")
    assert written == ["status"]
    with pytest.raises(KeyboardInterrupt):  # the handler before is back
        signal.raise_signal(signal.SIGINT)


def test_a_ctrl_c_held_back_is_delivered_after_the_block(ctrl_c_raises):
    written = []
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            signal.raise_signal(signal.SIGINT)
            written.append("both renames")
    assert written == ["both renames"]
