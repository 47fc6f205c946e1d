"""Optional features and the pip extra each needs: one paragraph when it is missing."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

from dlcourse.errors import DlcourseError

# A source checkout (`pip install -e .`, `make install`) has its pyproject.toml here.
SOURCE_FOLDER = Path(__file__).resolve().parent.parent

# What each extra brings, by the modules it must make importable.
EXTRAS = {
    "onnx": ("export", ("onnx", "tf2onnx", "onnxruntime")),
    "litert": ("export", ("ai_edge_litert",)),
    "serve": ("serve", ("fastapi", "uvicorn", "multipart", "fastapi_offline")),
    "mlflow": ("mlflow", ("mlflow",)),
}


class MissingExtra(DlcourseError):
    """An optional feature was asked for without the packages it needs."""


def require(feature: str, purpose: str) -> None:
    """Raise MissingExtra naming the extra to install if `feature`'s modules are missing."""
    extra, modules = EXTRAS[feature]
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(
            f"{purpose} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed. Install the extra: {install_line(extra)}."
        )


def install_line(extra: str) -> str:
    """The pip command that adds `extra` to this installation: from the source folder when
    dlcourse runs from one, where `pip install 'dlcourse[...]'` would look for dlcourse on
    the package index instead."""
    if (SOURCE_FOLDER / "pyproject.toml").is_file():
        return f"pip install -e {shlex.quote(f'{SOURCE_FOLDER}[{extra}]')}"
    return f"pip install 'dlcourse[{extra}]'"
