import io

from dlcourse.terminal import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_redrawn_in_place_on_a_terminal_and_ends_its_line(monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    progress = Progress(3000, "inputs predicted")
    for done in (1024, 2048, 3000):
        progress.update(done)
        if done == 1024:  # a warning then: on a line of its own, not run on from the count
            progress.clear()
            progress.stream.write("Warning\n")
    progress.close()
    assert progress.stream.getvalue() == (
        "\r1,024 of 3,000 inputs predicted (34%)\r\x1b[KWarning\n"
        "\r2,048 of 3,000 inputs predicted (68%)\r3,000 of 3,000 inputs predicted (100%)\n")


def test_progress_in_a_log_waits_its_interval_and_says_nothing_of_work_done_at_once(
        monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    slow = Progress(3000, "inputs predicted")
    slow.update(1024)  # before EVERY seconds have passed: no line yet
    slow.last -= Progress.EVERY
    slow.update(2048)
    slow.update(3000)  # the end of a job that had said how far it got
    assert slow.stream.getvalue() == ("2,048 of 3,000 inputs predicted (68%)\n"
                                      "3,000 of 3,000 inputs predicted (100%)\n")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    quick = Progress(1024, "inputs predicted")
    quick.update(1024)
    quick.close()
    assert quick.stream.getvalue() == ""
