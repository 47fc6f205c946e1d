"""Run directories: a new one for every run, files written atomically, runs found again.

A run lives in `<output dir>/<config name>/<UTC time>/`. Directories are created with an
exclusive mkdir, so two runs started in the same second get different names and no
earlier run is ever overwritten. Every file is written to a temporary name and renamed,
so a kill at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlcourse.errors import RunError

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
CLASSES_FILE = "classes.json"


def create_run_dir(output_dir: str | Path, name: str) -> Path:
    """Make a fresh, empty run directory and return it. Fails early if it can't be written."""
    parent = Path(output_dir) / name
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            run_dir = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            try:
                run_dir.mkdir()
            except FileExistsError:
                continue
            write_text(run_dir / ".write-test", "")
            (run_dir / ".write-test").unlink()
            return run_dir
    except OSError as error:
        raise RunError(
            f"Can't write runs to {parent} ({error.strerror or error}). "
            "Choose another place with --output-dir or output.dir."
        ) from None
    raise RunError(f"{parent}: too many runs started in the same second.")


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same directory, then rename."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; runs are meant to be shared
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"can't write {type(value).__name__} to JSON")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path} is missing; is {path.parent} a dlcourse run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunError(f"{path} is not valid JSON ({error}).") from None


def temporary_path(path: Path) -> Path:
    """A sibling name to save to before renaming onto `path` (keeps the suffix Keras wants)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def load_run_config(run_dir: str | Path):
    """The resolved config a run saved; a RunError naming `run_dir` if it isn't a run."""
    from dlcourse.config import load_config

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a dlcourse run directory (it has no {CONFIG_FILE}).")
    return load_config(path)


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / STATUS_FILE).is_file()


def find_runs(root: str | Path) -> list[Path]:
    """Run directories under `root` (a run itself, `root/<time>` or `root/<name>/<time>`),
    oldest first."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    runs = [path for pattern in ("*", "*/*") for path in root.glob(pattern) if is_run_dir(path)]
    return sorted(runs, key=lambda path: (path / STATUS_FILE).stat().st_mtime)


def latest_run(root: str | Path) -> Path:
    runs = [run for run in find_runs(root) if (run / MODEL_FILE).is_file()]
    if not runs:
        raise RunError(
            f"No finished runs under {root}. Train one first, e.g. "
            "`dlcourse train configs/mnist_cnn.yaml`, or pass RUN_DIR."
        )
    return runs[-1]
