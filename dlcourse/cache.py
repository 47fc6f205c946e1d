"""Where dlcourse keeps what it can compute again: DLCOURSE_CACHE_DIR, else the user cache.

Never beside the data or the package, which may be read-only (as in CI). Whatever is
cached here only saves time: a damaged or missing file is computed again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable


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
