"""Text from outside (a review, a run someone sent) as a terminal or a table shows it."""

from __future__ import annotations

import time


def printable_line(text: str) -> str:
    """`text` as one line of plain characters. A newline would break a row, a terminal's
    escape sequence recolour, retitle or rewrite the screen, and a bidirectional control
    reorder what the row shows: those are shown escaped, as Python writes them."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1]
                   for char in " ".join(text.split()))


class Progress:
    """"12,288 of 25,000 inputs predicted (49%)" on standard error, for long work whose
    own output goes elsewhere: redrawn in place on a terminal, and in a log or a pipe one
    line at most every EVERY seconds. Nothing for work done in one step."""

    EVERY = 10.0

    def __init__(self, total: int, what: str, *, quiet: bool = False):
        import sys

        self.total, self.what, self.stream = total, what, sys.stderr
        self.quiet, self.drawn, self.last = quiet, False, time.monotonic()
        self.in_place = self.stream.isatty()

    def update(self, done: int) -> None:
        if self.quiet or done >= self.total and not self.drawn:
            return  # finished before a first line was due: the output says it all
        line = f"{done:,} of {self.total:,} {self.what} ({done / self.total:.0%})"
        if self.in_place:
            self.stream.write(f"\r{line}")
        elif time.monotonic() - self.last >= self.EVERY or done >= self.total:
            self.stream.write(f"{line}\n")
            self.last = time.monotonic()
        else:
            return
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Before other lines on standard error: the line redrawn in place is wiped, so
        they don't run on from it, and the next update draws it below them."""
        if self.drawn and self.in_place:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        if self.drawn and self.in_place:
            self.stream.write("\n")
            self.stream.flush()
