"""Helpers the tests share: tiny datasets in Keras's layout, and ways to run dlcourse.

Test modules import from here, never from each other; fixtures live in conftest.py.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
REAL_DATA_DIR = os.environ.get("DLCOURSE_DATA_DIR")
# What TensorFlow's C++ side prints at start-up (absl's "I0000 00:00:..." prefixes, the
# oneDNN note, CUDA probing). dlcourse hides it unless DLCOURSE_TF_LOGS=1.
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |oneDNN custom operations|cuInit|Unable to register cu|"
                         r"computation placer|TF-TRT|This TensorFlow binary is optimized",
                         re.MULTILINE)


def interruptible() -> None:
    """Popen's preexec_fn for a child the test will Ctrl-C. A shell starts background
    jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored, so tests run
    from a background job (nohup, some CI runners) would send a signal nobody hears."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def train_until_first_epoch_then_ctrl_c(command, environment, runs: Path, cwd=None) -> str:
    """Start `dlcourse train` as a process, Ctrl-C it once an epoch is written under
    `runs`, check it exits 130, and return its stderr."""
    # PYTHONFAULTHANDLER: a child still running a minute after its Ctrl-C is sent SIGABRT,
    # on which Python prints every thread's stack, so that a hang says where it hung.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**environment, "PYTHONFAULTHANDLER": "1"},
                               preexec_fn=interruptible, cwd=cwd)
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/*/history.json")):
        assert process.poll() is None and time.monotonic() < deadline, "no epoch finished"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        stdout, stderr = process.communicate()
        raise AssertionError(f"still running 60 s after Ctrl-C; it printed:\n{stdout[-3000:]}"
                             f"\nand on SIGABRT:\n{stderr[-6000:]}") from None
    assert process.returncode == 130, stderr
    return stderr


def write_mnist(directory: Path, train: int = 96, test: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = directory / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        y_train=np.arange(train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        y_test=np.arange(test, dtype=np.uint8) % 10,
    )
    return path


def random_reviews(rng: np.random.Generator, count: int) -> np.ndarray:
    reviews = np.empty(count, dtype=object)
    for index in range(count):
        length = int(rng.integers(0, 60))
        reviews[index] = [int(word) for word in rng.integers(1, 20000, length)]
    return reviews


def write_imdb(directory: Path, train: int = 96, test: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = directory / "imdb.npz"
    np.savez(
        path,
        x_train=random_reviews(rng, train),
        y_train=np.arange(train, dtype=np.int64) % 2,
        x_test=random_reviews(rng, test),
        y_test=np.arange(test, dtype=np.int64) % 2,
    )
    (directory / "imdb_word_index.json").write_text(json.dumps({"the": 1, "and": 2, "a": 3}))
    return path


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped IDX file as Fashion-MNIST ships them: magic 2051 images, 2049 labels."""
    magic = 2051 if array.ndim == 3 else 2049
    header = b"".join(int(n).to_bytes(4, "big") for n in (magic, *array.shape))
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(directory: Path, train: int = 60, test: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = directory / "fashion-mnist"
    folder.mkdir()
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    return folder


def write_cifar_batch(path: Path, count: int, label_key: str, classes: int, rng) -> None:
    """A CIFAR batch as Keras's download holds it: a pickled dict with bytes keys.

    Protocol 4: the real files are Python 2 pickles; protocol 2 from Python 3 would wrap
    bytes in _codecs.encode, which the restricted unpickler rightly refuses.
    """
    content = {
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
        label_key.encode(): [int(label) for label in np.arange(count) % classes],
    }
    path.write_bytes(pickle.dumps(content, protocol=4))


def write_cifar10(directory: Path, per_batch: int = 12, test: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = directory / "cifar-10-batches-py"
    folder.mkdir()
    for number in range(1, 6):
        write_cifar_batch(folder / f"data_batch_{number}", per_batch, "labels", 10, rng)
    write_cifar_batch(folder / "test_batch", test, "labels", 10, rng)
    return folder


def write_cifar100(directory: Path, train: int = 200, test: int = 100, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = directory / "cifar-100-python"
    folder.mkdir()
    write_cifar_batch(folder / "train", train, "fine_labels", 100, rng)
    write_cifar_batch(folder / "test", test, "fine_labels", 100, rng)
    names = [f"class{index}".encode() for index in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}, protocol=4))
    return folder


WORDS = ("good", "bad", "film", "plot", "great", "awful", "the", "a", "acting", "boring")


def random_review_records(rng, split: str, label: int, count: int) -> list[dict]:
    records = []
    for index in range(count):
        words = rng.choice(WORDS, int(rng.integers(3, 40)))
        rating = int(rng.integers(7, 11) if label else rng.integers(1, 5))
        records.append({"split": split, "label": label, "id": index, "rating": rating,
                        "text": " ".join(words) + (" Great!" if label else " Awful.")})
    return records


def write_imdb_text(directory: Path, per_file: int = 24, seed: int = 0) -> Path:
    """imdb_text/aclImdb_{train,test}_{pos,neg}_00.jsonl.gz, as in the real data folder."""
    rng = np.random.default_rng(seed)
    folder = directory / "imdb_text"
    folder.mkdir()
    for split in ("train", "test"):
        for label, name in ((1, "pos"), (0, "neg")):
            lines = [json.dumps(r) for r in random_review_records(rng, split, label, per_file)]
            with gzip.open(folder / f"aclImdb_{split}_{name}_00.jsonl.gz", "wt") as stream:
                stream.write("\n".join(lines) + "\n")
    return folder


def write_image_folder(folder: Path, classes: int, per_class: int = 2, size: int = 12,
                       seed: int = 0) -> Path:
    """One sub-folder of small PNGs per class, the Caltech-101/256 layout."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label in range(classes):
        (folder / f"class_{label:03d}").mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"class_{label:03d}" / f"{index}.png")
    return folder


def predicted_widths(monkeypatch) -> list[int]:
    """The sequence length of every `predict_in_slices` call evaluation makes from now on:
    whether the test split was predicted cut to length groups or padded."""
    from dlcourse import evaluation

    widths, predict = [], evaluation.predict_in_slices

    def recording(model, x, batch_size):
        widths.append(x.shape[1])
        return predict(model, x, batch_size)

    monkeypatch.setattr(evaluation, "predict_in_slices", recording)
    return widths


def is_tunable(path: Path) -> bool:
    """Whether a shipped config searches values (trained through `dlcourse tune`)."""
    from dlcourse.config import load_search_config

    return bool(load_search_config(path).expressions)


def invoke(*args, **kwargs):
    """The CLI in this process (fast: TensorFlow is imported once per test session)."""
    from dlcourse.cli import main

    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False, **kwargs)


def dlcourse_command(*args):
    """A real `dlcourse` process running this checkout's package, from any directory."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )}
    return [sys.executable, "-m", "dlcourse", *map(str, args)], environment


def run_dlcourse(*args, **kwargs):
    """A real process, to check exit statuses and that no traceback is printed."""
    command, environment = dlcourse_command(*args)
    return subprocess.run(command, capture_output=True, text=True, env=environment, **kwargs)


def without_tensorflow(commands) -> None:
    """Run each (arguments, exit status, text in its output) through the CLI in one fresh
    process, and check each and that the process never imported TensorFlow or Keras."""
    script = (
        "import sys; from click.testing import CliRunner; from dlcourse.cli import main\n"
        f"for arguments, status, message in {[(list(map(str, a)), s, m) for a, s, m in commands]!r}:\n"
        "    result = CliRunner().invoke(main, arguments)\n"
        "    assert result.exit_code == status, (arguments, result.output)\n"
        "    assert message in result.output and 'Traceback' not in result.output, "
        "(arguments, result.output)\n"
        "assert 'tensorflow' not in sys.modules and 'keras.src' not in sys.modules\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr


def run_with_config(path: Path, config):
    """A run directory holding `config` (resolved, as train saves it) and nothing else
    yet: what the commands that read a run's config (and not its model) need."""
    from dlcourse.rundir import RunDir

    path.mkdir()
    run = RunDir(path)
    run.write_config(config)
    return run


TIMES = ("epoch_seconds", "epoch_cpu_seconds")


def history_without_times(run_dir: Path) -> dict:
    history = json.loads((run_dir / "history.json").read_text())
    return {key: values for key, values in history.items() if key not in TIMES}


def write_data_dir(directory: Path) -> Path:
    """A directory with a tiny file of every dataset the shipped configs read, in its layout."""
    directory.mkdir(parents=True, exist_ok=True)
    write_mnist(directory)
    write_imdb(directory)
    write_fashion_mnist(directory)
    write_cifar10(directory)
    write_imdb_text(directory)
    # configs/image_folder_example.yaml expects Caltech-101's 102 classes.
    write_image_folder(directory / "101_ObjectCategories", classes=102)
    return directory


# Where the real data is (CI), each shipped config whose dataset it holds is smoke-tested
# on a tiny subset of it; the others, and every config elsewhere, on the tiny files the
# tests write.
REAL_DATASETS = {"mnist": "mnist.npz", "imdb": "imdb.npz", "raw_text": "imdb_text"}


def real_data_for(config: Path) -> str | None:
    import yaml

    dataset = yaml.safe_load(config.read_text())["data"]["dataset"]
    if REAL_DATA_DIR and (Path(REAL_DATA_DIR) / REAL_DATASETS.get(dataset, "-")).exists():
        return REAL_DATA_DIR
    return None


def run_measured(*args, timeout: float = 120):
    """`dlcourse ARGS` as a real process: (its CompletedProcess, its peak memory in MB),
    and never a hang: past `timeout` seconds it is killed and the test fails."""
    import tempfile
    import threading

    command, environment = dlcourse_command(*args)
    hung = threading.Event()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=environment)
        timer = threading.Timer(timeout, lambda: (hung.set(), process.kill()))
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)  # wait4: the child's own peak memory
        timer.cancel()
        assert not hung.is_set(), f"dlcourse {' '.join(map(str, args))} hung for {timeout} s"
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(command, os.waitstatus_to_exitcode(status),
                                             out.read(), err.read())
    return result, usage.ru_maxrss / 1024  # Linux gives kilobytes


LARGEST_COMMAND_MB = 2048


def one_paragraph(result) -> bool:
    """A user's mistake, reported as the CLI promises: exit 2, one 'Error:' paragraph.
    `result` is a finished process or click's in-process Result."""
    text = result.stderr.strip()
    status = getattr(result, "returncode", getattr(result, "exit_code", None))
    return (status == 2 and "Traceback" not in text and text.startswith("Error:")
            and "\nError:" not in text and "\n\n" not in text)


# --------------------------------------------------------------------------- a served run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`dlcourse serve RUN_DIR` in its own process, until stopped."""

    def __init__(self, run_dir: Path, *options, host: str = "127.0.0.1"):
        self.port = free_port()
        command, environment = dlcourse_command("serve", run_dir, "--host", host,
                                                "--port", self.port, *options)
        self.process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()
            try:
                if self.call("GET", "/health") == (200, {"status": "ok"}):
                    return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("the server did not answer /health within 120 s")

    def call(self, method: str, path: str, body: bytes | None = None,
             content_type: str = "application/json"):
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers={"Content-Type": content_type} if body else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, _decoded(response.read(), response.headers)
        except urllib.error.HTTPError as error:
            return error.code, _decoded(error.read(), error.headers)

    def post(self, data) -> tuple[int, dict]:
        return self.call("POST", "/predict", json.dumps(data).encode())

    def stop(self, presses: int = 1) -> tuple[int, str, str]:
        """Ctrl-C, `presses` times a tenth of a second apart."""
        for press in range(presses):
            if press:
                time.sleep(0.1)
            self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


def _decoded(data: bytes, headers):
    if headers.get_content_type() == "application/json":
        return json.loads(data)
    return data.decode()
