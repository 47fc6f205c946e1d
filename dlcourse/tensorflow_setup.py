"""Starting TensorFlow the way dlcourse wants it, before anything imports it.

- Quietly: recent TensorFlow releases print CUDA probing and oneDNN notes from C++ at
  import, before TF_CPP_MIN_LOG_LEVEL applies; on a CPU machine they are noise in every
  command and notebook cell. Python errors still surface. DLCOURSE_TF_LOGS=1 shows them.
- With XLA's persistent compilation cache in the user cache dir, so that a batch shape
  compiled once on a machine is loaded, not compiled, by the next run.
- Without scikit-learn until it is used: Keras imports its scikit-learn wrappers at
  import, and with them scikit-learn and pandas (installed for KerasTuner's Bayesian
  search), about a third of `import keras` that no command but such a search needs.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

from dlcourse.cache import cache_dir

_XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"


def start_tensorflow() -> None:
    """Import TensorFlow once, configured as above. If it is imported (a notebook's
    `import keras` before dlcourse), only the XLA cache is set: TensorFlow reads its XLA
    flags at the first compile, not at import, so the cache still applies."""
    _keep_xla_compilations()
    if "tensorflow" in sys.modules:
        return
    with _keras_wrappers_loaded_on_use():
        _import_tensorflow()


def _import_tensorflow() -> None:
    if os.environ.get("DLCOURSE_TF_LOGS") == "1":
        import tensorflow  # noqa: F401

        return
    # 3: C++ errors too, which on a CPU are noise (a missing CUDA driver; XLA's cache
    # trying text before binary). Python errors are raised as always. TensorFlow reads it
    # as it starts, so it is put back after: the processes a notebook starts (`!python
    # my_script.py`) keep TensorFlow's errors.
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing logs too, once
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        if level is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    # Its Python warnings too: predict then evaluate from a notebook printed one about
    # tf.function retracing, which a user can do nothing about.
    tf.get_logger().setLevel("ERROR")


class _LoadedOnUse(importlib.abc.MetaPathFinder):
    """Finds the module `name` as Python would, to be run when first used: the Python
    docs' LazyLoader recipe, for a module that a package imports but few use."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, name, path, target=None):
        if name != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def _keras_wrappers_loaded_on_use():
    """`keras.wrappers` (SKLearnClassifier ...) works as always, once used; until then
    neither it nor scikit-learn is imported."""
    finder = _LoadedOnUse("keras.wrappers")
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def xla_cache_dir() -> Path:
    """Where XLA keeps the shapes it compiled."""
    return cache_dir() / "xla"


def _keep_xla_compilations() -> None:
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if _XLA_CACHE_FLAG in flags:
        return  # the user chose a place
    directory = xla_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: XLA compiles as it always did
    os.environ["TF_XLA_FLAGS"] = f"{flags} {_XLA_CACHE_FLAG}={directory}".strip()
