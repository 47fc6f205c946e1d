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
import stat as statlib
import sys
import time
from pathlib import Path
from typing import Callable

DEFAULT_LIMIT_MB = 2048
# What the cache holds: IMDB's padded arrays, fitted text vocabularies, Keras's layer catalog.
KINDS = ("imdb", "text-vocabulary", "keras-catalog")
# A partial file this old was left by a write that was killed, not one still going on.
PARTIAL_FILE_SECONDS = 24 * 3600


def cache_dir() -> Path:
    if os.environ.get("DLCOURSE_CACHE_DIR"):
        return Path(os.environ["DLCOURSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlcourse"


def cache_file(kind: str, key: str, suffix: str) -> Path:
    """Where the cache keeps one file of `kind` (one of KINDS): `<kind>-<key><suffix>`.
    Only files so named are ever removed to make room, whatever else shares the folder."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}")
    return cache_dir() / f"{kind}-{key}{suffix}"


def keep(path: Path, write: Callable[[Path], None]) -> None:
    """Put a file in the cache whole or not at all: `write` fills a partial file beside
    `path`, which is then renamed onto it, so a reader never sees half a file. A cache
    that can't be written (a read-only home) costs only time: it is computed again."""
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        partial.replace(path)
    except BaseException as error:  # Ctrl-C too: no partial file left behind
        with contextlib.suppress(OSError):  # nothing to remove where nothing could be written
            partial.unlink(missing_ok=True)
        if isinstance(error, OSError):
            return
        raise
    _make_room(path, limit_bytes())


def used(path: Path) -> None:
    """Mark a cached file as just read, so that making room removes others first."""
    with contextlib.suppress(OSError):
        os.utime(path)


def limit_bytes() -> int:
    """How large the cache's own files may grow, from DLCOURSE_CACHE_MB (inf: no limit).
    A value that is not a number of megabytes is said and the default used: only a
    cache hangs on it."""
    value = os.environ.get("DLCOURSE_CACHE_MB", str(DEFAULT_LIMIT_MB))
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = math.nan
    if megabytes == math.inf:
        return sys.maxsize
    if not megabytes >= 0:
        print(f"Warning: DLCOURSE_CACHE_MB={value!r} is not a number of megabytes (such as "
              f"{DEFAULT_LIMIT_MB}, or inf); the cache is kept to {DEFAULT_LIMIT_MB} MB.",
              file=sys.stderr)
        megabytes = DEFAULT_LIMIT_MB
    return int(megabytes * 2**20)


def _make_room(kept: Path, limit: int) -> None:
    """Remove the least recently used cache files beside `kept` until they fit `limit`.
    `kept` stays, and so does anything not named by `cache_file`; a partial file only
    when it is a day old (a write killed outright). A file another process is reading
    stays readable to it: it is only unlinked."""
    stale = time.time() - PARTIAL_FILE_SECONDS
    files = []
    try:
        entries = list(kept.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        try:
            stat = entry.lstat()
        except OSError:  # removed meanwhile
            continue
        if not _is_cache_file(entry.name) or not _is_regular(stat):
            continue
        if entry.name.startswith("."):
            if stat.st_mtime < stale:
                with contextlib.suppress(OSError):
                    entry.unlink()
            continue
        files.append((stat, entry))
    total = sum(stat.st_size for stat, _ in files)
    for stat, entry in sorted(files, key=lambda item: (item[0].st_mtime_ns, item[1].name)):
        if total <= limit:
            return
        if entry == kept:
            continue
        try:
            entry.unlink()
        except FileNotFoundError:
            pass  # another process made room first: the file is gone all the same
        except OSError:
            continue
        total -= stat.st_size


def _is_cache_file(name: str) -> bool:
    return name.lstrip(".").startswith(tuple(f"{kind}-" for kind in KINDS))


def _is_regular(stat: os.stat_result) -> bool:
    return statlib.S_ISREG(stat.st_mode)
