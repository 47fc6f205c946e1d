"""Reading a file that may be anything: only a regular file, and only up to a bound.

A FIFO would hang a read (and even its opening), a device never end, and a huge or
decompressing file exhaust memory; each is refused as the caller's kind of error, in one
sentence naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from dlcourse.errors import DlcourseError


def read_file(path: Path, largest: int, error: type[DlcourseError], what: str, *,
              links: bool = True) -> bytes:
    """All of `path`, if it is a regular file of at most `largest` bytes (and, without
    `links`, not a link: a run's own files are in it)."""
    with opened_file(path, error, what, links=links) as stream:
        return read_bounded(stream, largest, path, what, error)


def opened_file(path: Path, error: type[DlcourseError], what: str, *,
                links: bool = True) -> BinaryIO:
    """`path` opened to read, if it is a regular file (and, without `links`, not a link),
    for readers that stream it: a pipe is refused, never waited on."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (0 if links else os.O_NOFOLLOW))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}.") from None
    except OSError as failure:
        if failure.errno == errno.ELOOP and not links:
            raise error(f"{path}: a link, where the {what} itself belongs; copy the file "
                        "there in its place.") from None
        raise error(f"{path}: can't read the {what} ({failure.strerror}).") from None
    # Checked before fdopen, which itself raises IsADirectoryError on a folder.
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise error(f"{path}: not a regular file (a pipe, device or folder); give the "
                    f"{what} as an ordinary file.")
    return os.fdopen(descriptor, "rb")


def read_bounded(stream: BinaryIO, largest: int, path: Path, what: str,
                 error: type[DlcourseError]) -> bytes:
    """All of `stream`, refused before it passes `largest` bytes (decompression included)."""
    data = stream.read(largest + 1)
    if len(data) > largest:
        raise error(f"{path}: the {what} is larger than {largest:,} bytes once read, far "
                    "more than one of its kind holds; is it the right file?")
    return data


def regular_file(path: Path, error: type[DlcourseError], what: str) -> Path:
    """`path` if it is a regular file, for readers that open it themselves."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise error(f"{path}: a link to nothing (its target is gone); give the {what} itself.") from None
        raise error(f"{path}: no such {what}.") from None
    except OSError as failure:
        raise error(f"{path}: can't read the {what} ({failure.strerror}).") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path}: not a regular file (a pipe, device or folder); give the "
                    f"{what} as an ordinary file.")
    return path
