"""Optional features and the pip extra each needs: one paragraph when it is missing."""

from __future__ import annotations

import importlib.util

from dlcourse.errors import DlcourseError

# What each extra brings, by the modules it must make importable.
EXTRAS = {
    "onnx": ("export", ("onnx", "tf2onnx", "onnxruntime")),
    "litert": ("export", ("ai_edge_litert",)),
    "serve": ("serve", ("fastapi", "uvicorn", "multipart")),
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
            f"not installed. Install the extra: pip install 'dlcourse[{extra}]'."
        )
