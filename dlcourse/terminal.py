"""Text from outside (a review, a run someone sent) as a terminal or a table shows it."""

from __future__ import annotations


def printable_line(text: str) -> str:
    """`text` as one line of plain characters. A newline would break a row, a terminal's
    escape sequence recolour, retitle or rewrite the screen, and a bidirectional control
    reorder what the row shows: those are shown escaped, as Python writes them."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1]
                   for char in " ".join(text.split()))
