"""Where dlcourse keeps what it can compute again: DLCOURSE_CACHE_DIR, else the user cache.

Never beside the data or the package, which may be read-only (as in CI). Whatever is
cached here only saves time: a damaged or missing file is computed again. So the cache
is kept to a size (DLCOURSE_CACHE_MB, 2 GiB by default): writing a file removes the
least recently used others beyond it. A search over `data.maxlen` writes IMDB's padded
arrays, 100 MB, for each value it tries. XLA's folder is TensorFlow's, and left alone.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Callable

DEFAULT_LIMIT_MB = 2048


def cache_dir() -> Path:
    if os.environ.get("DLCOURSE_CACHE_DIR"):
        return Path(os.environ["DLCOURSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlcourse"


def keep(path: Path, write: Callable[[Path], None]) -> None:
    """Put a file in the cache whole or not at all: `write` fills a partial file beside
    `path`, which is then renamed onto it, so a reader never sees half a file. A cache
    that can't be written (a read-only home) costs only time: it is computed again."""
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        partial.replace(path)
    except OSError:
        with contextlib.suppress(OSError):  # nothing to remove where nothing could be written
            partial.unlink(missing_ok=True)
        return
    _make_room(path, limit_bytes())


def used(path: Path) -> None:
    """Mark a cached file as just read, so that making room removes others first."""
    with contextlib.suppress(OSError):
        os.utime(path)


def limit_bytes() -> int:
    """How large the cache's own files may grow, from DLCOURSE_CACHE_MB. A value that is
    not a number of megabytes is said and the default used: only a cache hangs on it."""
    value = os.environ.get("DLCOURSE_CACHE_MB", str(DEFAULT_LIMIT_MB))
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = math.nan
    if not megabytes >= 0:
        print(f"Warning: DLCOURSE_CACHE_MB={value!r} is not a number of megabytes (such as "
              f"{DEFAULT_LIMIT_MB}); the cache is kept to {DEFAULT_LIMIT_MB} MB.", file=sys.stderr)
        megabytes = DEFAULT_LIMIT_MB
    return int(megabytes * 2**20)


def _make_room(kept: Path, limit: int) -> None:
    """Remove the least recently used files beside `kept` until the files fit `limit`.
    `kept` stays, and so do folders and the partial files other processes are writing;
    a file another process is reading stays readable to it (it is only unlinked)."""
    try:
        files = [(entry.stat(), entry) for entry in kept.parent.iterdir()
                 if entry.is_file() and not entry.name.startswith(".")]
    except OSError:
        return
    total = sum(stat.st_size for stat, _ in files)
    for stat, entry in sorted(files, key=lambda item: item[0].st_mtime_ns):
        if total <= limit:
            return
        if entry == kept:
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            total -= stat.st_size
