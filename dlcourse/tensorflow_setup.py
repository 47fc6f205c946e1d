"""Starting TensorFlow the way dlcourse wants it, before anything imports it.

- Quietly: recent TensorFlow releases print CUDA probing and oneDNN notes from C++ at
  import, before TF_CPP_MIN_LOG_LEVEL applies; on a CPU machine they are noise in every
  command and notebook cell. Python errors still surface. DLCOURSE_TF_LOGS=1 shows them.
- With XLA's persistent compilation cache in the user cache dir, so that a batch shape
  compiled once on a machine is loaded, not compiled, by the next run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dlcourse.cache import cache_dir

_XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"


def start_tensorflow() -> None:
    """Import TensorFlow once, configured as above; does nothing if it is imported."""
    if "tensorflow" in sys.modules:
        return
    _keep_xla_compilations()
    if os.environ.get("DLCOURSE_TF_LOGS") == "1":
        import tensorflow  # noqa: F401

        return
    # 3: C++ errors too, which on a CPU are noise (a missing CUDA driver; XLA's cache
    # trying text before binary). Python errors are raised as always.
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
    # Its Python warnings too: predict then evaluate from a notebook printed one about
    # tf.function retracing, which a user can do nothing about.
    tf.get_logger().setLevel("ERROR")


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
