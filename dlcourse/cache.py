"""Where dlcourse keeps what it can compute again: DLCOURSE_CACHE_DIR, else the user cache.

Never beside the data or the package, which may be read-only (as in CI). Whatever is
cached here only saves time: a damaged or missing file is computed again.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("DLCOURSE_CACHE_DIR"):
        return Path(os.environ["DLCOURSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlcourse"
