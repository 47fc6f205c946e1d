"""Starting TensorFlow: quietly, and without importing what no command needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, TF_LOG_LINE


def test_scikit_learn_is_imported_only_when_keras_wrappers_are_used():
    """Keras imports its scikit-learn wrappers, and scikit-learn with them, at import: a
    third of `import keras` in every command. They still work when used."""
    script = (
        "import json, sys\n"
        "import numpy as np\n"
        "from dlcourse.tensorflow_setup import start_tensorflow\n"
        "start_tensorflow()\n"
        "import keras\n"
        "before = 'sklearn' in sys.modules\n"
        "def model(X, y):\n"
        "    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation='softmax')])\n"
        "    m.compile(loss='categorical_crossentropy')\n"
        "    return m\n"
        "x, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2\n"
        "classifier = keras.wrappers.SKLearnClassifier(model=model, fit_kwargs={'verbose': 0})\n"
        "labels = classifier.fit(x, y).predict(x)\n"
        "print(json.dumps({'before': before, 'after': 'sklearn' in sys.modules,\n"
        "                  'labels': sorted(set(labels.tolist()) | {0, 1})}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"before": False, "after": True, "labels": [0, 1]}


def test_tensorflow_python_warnings_are_hidden_too(tmp_path):
    # Predict, then evaluate, from a notebook printed TensorFlow's retracing warning. The
    # C++ logs stay hidden after start-up too (XLA's cache, written then read), though the
    # variable that hides them is put back for the processes a notebook starts.
    script = ("import os\nfrom dlcourse.tensorflow_setup import start_tensorflow\n"
              "start_tensorflow()\nimport tensorflow as tf\n"
              "print('TF_CPP_MIN_LOG_LEVEL' in os.environ)\n"
              "for n in range(1, 9):\n    tf.function(lambda x: x * 2)(tf.zeros((n,)))\n"
              "for _ in range(2):\n"
              "    tf.function(lambda x: tf.nn.relu(x) * 3, jit_compile=True)(tf.ones(5))\n")
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "DLCOURSE_CACHE_DIR": str(tmp_path / "cache")}
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    environment.pop("TF_XLA_FLAGS", None)  # a worker's own names the session's cache
    for _ in range(2):  # the second reads what the first wrote to XLA's cache
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                env=environment, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "retracing" not in result.stderr and "WARNING" not in result.stderr, result.stderr
        assert not TF_LOG_LINE.search(result.stderr), result.stderr
        assert result.stdout.strip() == "False"
    assert list((tmp_path / "cache" / "xla").iterdir())


def test_tensorflow_logs_come_back_with_dlcourse_tf_logs():
    # The other side of the quiet test: this TensorFlow does print at start-up, so
    # finding none of it above means dlcourse hid it.
    environment = {**os.environ, "DLCOURSE_TF_LOGS": "1",
                   "PYTHONPATH": str(ROOT)}
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, "-c", "from dlcourse.tensorflow_setup import start_tensorflow\n"
         "start_tensorflow()\nimport tensorflow as tf\ntf.constant(1.0) + 1"],
        env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if not TF_LOG_LINE.search(result.stderr):
        pytest.skip("this TensorFlow build prints nothing at start-up on this machine")


def test_the_xla_cache_applies_when_tensorflow_was_imported_first(tmp_path):
    """A notebook's `import keras` before dlcourse imports TensorFlow first: XLA still
    keeps what it compiles, or every run in that kernel compiled all its shapes again."""
    script = ("import tensorflow as tf\n"
              "from dlcourse.tensorflow_setup import start_tensorflow, xla_cache_dir\n"
              "start_tensorflow()\n"
              "tf.function(lambda x: tf.sin(x) * 2, jit_compile=True)(tf.ones((3,)))\n"
              "print(sorted(p.name for p in xla_cache_dir().iterdir()))\n")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "DLCOURSE_CACHE_DIR": str(tmp_path)}
    environment.pop("TF_XLA_FLAGS", None)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "XLA_CPU_JIT" in result.stdout, result.stdout
