"""Run directories: the one module that knows a run's files, with a reader and a writer each.

A run lives in `<output dir>/<config name>/<UTC time>/`. Directories are created with an
exclusive mkdir, so two runs started in the same second get different names and no
earlier run is ever overwritten. Every file is written to a temporary name, flushed to
disk and renamed, so a kill at any moment leaves either the old file or the new one,
never half of one. Every file is read within a size bound and only if it is a regular
file, and a damaged one is reported by name.

Nothing here imports TensorFlow; the model is loaded through Keras only when asked for.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import platform
import re
import shlex
import shutil
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from dlcourse.config import Config, VectorizeConfig, load_config
from dlcourse.config.safe_yaml import parse, yaml_problem
from dlcourse.data.dataset import TextVocabulary, first_repeated, parsed_vocabulary
from dlcourse.data.imdb import WORD_INDEX_EXPECTED, is_word_index
from dlcourse.data.loading import MEMORY_KIND
from dlcourse.interrupts import signals_deferred
from dlcourse.errors import RunError
from dlcourse.model_file import load_model_file
from dlcourse.safe_files import read_file
from dlcourse.reports import RunRecord, render_report

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
HISTORY_TABLE = "history.csv"
EVALUATION_FILE = "evaluation.json"
# How many evaluations before the latest evaluation.json keeps (their figures alone).
KEPT_EVALUATIONS = 100
DATA_RECORD_FILE = "data.json"
CLASSES_FILE = "classes.json"
VOCABULARY_FILE = "vocabulary.json"
WORD_INDEX_FILE = "word_index.json"
MISTAKES_FILE = "misclassified.json"
LARGEST_ERRORS_FILE = "largest_errors.json"
SUMMARY_FILE = "summary.txt"
REPORT_FILE = "report.html"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tensorboard"
# `dlcourse export` writes each format into its own folder here, with a README.
EXPORT_DIR = "export"
EXPORT_README = "README.md"
# What marks a folder as an export, which a later export may replace whole: a README.md
# alone is in half the folders of a course.
EXPORT_MARKER = ".dlcourse-export"
# All an export wrote before it had the mark: a SavedModel's files, ONNX's, LiteRT's, its README.
_OLD_EXPORT_ENTRIES = frozenset({EXPORT_README, "saved_model.pb", "fingerprint.pb", "variables",
                                 "assets", "model.onnx", "model.tflite"})
_BROWSER_CLUTTER = frozenset({"Thumbs.db", "desktop.ini"})
EXPORT_FILES = {"saved_model": "", "onnx": "model.onnx", "litert": "model.tflite"}
LOCK_FILE = ".lock"
# Which MLflow run tracks this one, so a resumed run goes on logging to it.
TRACKING_FILE = "mlflow.json"
# Plots, by what they show.
PLOTS = {
    "accuracy": "accuracy.png",
    "mae": "mae.png",
    "loss": "loss.png",
    "confusion_matrix": "confusion_matrix.png",
    "misclassified": "misclassified.png",
    # `dlcourse evaluate`'s own, beside training's (its data may differ).
    "evaluation_confusion_matrix": "evaluation_confusion_matrix.png",
    "evaluation_misclassified": "evaluation_misclassified.png",
    "feature_maps": "feature_maps.png",
}
# A cluster's workers keep their backups beside the runs, one folder per worker, since a
# backup must outlive the run directory a restarted cluster creates again.
CLUSTER_BACKUPS_DIR = ".cluster-backups"
# Written files are renamed into place from names starting with this.
PARTIAL_PREFIX = ".partial-"
# The largest JSON file of a run that is read back (a word index is 1 MB).
LARGEST_JSON_BYTES = 64 << 20
# What a model.keras's config.json may inflate to; the lecture's models are a few KB.
LARGEST_MODEL_CONFIG_BYTES = 16 << 20
# What a report inlines: its plots are 20-300 KB, config.yaml and summary.txt a few KB. A
# file far past that (a run dir someone sent, a disk error) is left out of the report; a
# 3 GB accuracy.png took all of the machine's memory.
LARGEST_PLOT_BYTES = 16 << 20
LARGEST_REPORT_TEXT_BYTES = 1 << 20


# --------------------------------------------------------------------------- atomic files


def _check_no_folder_at(path: Path) -> None:
    """A file is renamed onto `path`: a folder there (a run dir someone edited) gave
    IsADirectoryError's traceback once the work was done."""
    if path.is_dir() and not path.is_symlink():
        raise RunError(f"{path}: a folder is where this file goes; move the folder, and run "
                       "the command again.")


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same directory, flushed
    to disk, then renamed."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    _check_no_folder_at(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{PARTIAL_PREFIX}{path.name}.")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; runs are meant to be shared
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A temporary path (with `path`'s suffix, as Keras and matplotlib want) to write to;
    flushed and renamed onto `path` when the block ends, removed if it fails."""
    temporary = path.with_name(f"{PARTIAL_PREFIX}{os.getpid()}-{path.name}")
    _check_no_folder_at(path)
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        # On a read-only file system the unlink failed too, and its error hid the write's.
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def directory_written_atomically(target: Path) -> Iterator[Path]:
    """A folder to fill that replaces `target` only once it is complete: an interrupted
    writer leaves `target` as it was, and a PARTIAL_PREFIX folder beside it, which the
    next writer of `target` clears once the process that left it is gone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_what_dead_writers_left(target)
    staging = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{target.name}-{_writer()}-",
                                    dir=target.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp's folder is private; a run's are not
    old = None
    try:
        yield staging
        # Between the two renames there is no `target`: a Ctrl-C there removed the new
        # folder and left the old one hidden. It waits for the swap's end.
        with signals_deferred():
            if target.exists():
                old = target.with_name(f"{PARTIAL_PREFIX}{target.name}-old-{_writer()}")
                os.replace(target, old)
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and target.exists():  # swapped: the old one is done with
            shutil.rmtree(old, ignore_errors=True)


def clear_what_dead_writers_left(target: Path) -> None:
    """A killed writer's folders beside `target` (its staging folder, or the old `target`
    it had moved aside): removed once the process that left them is gone, and an old
    `target` put back where the kill came between the swap's two renames and left none.
    Only this machine's are judged (a folder shared with others holds their live ones),
    and this process's own are a killed process's whose id it was given again."""
    prefix = f"{PARTIAL_PREFIX}{target.name}-"
    try:
        names = [entry.name for entry in os.scandir(target.parent)
                 if entry.name.startswith(prefix)]  # not a glob: the name may hold [ or *
    except OSError:
        return  # no folder yet, or unreadable: the write says why
    for name in names:
        rest, path = name[len(prefix):], target.parent / name
        if (before := re.fullmatch(r"old-(\d+)", rest)) and not target.exists() \
                and not _process_alive(int(before[1])):
            os.replace(path, target)  # named so before 2026-12-07: put back, nothing removed
            continue
        old = re.fullmatch(r"old-(\d+)\.([0-9a-f]{8})", rest)
        writer = old or re.fullmatch(r"(\d+)\.([0-9a-f]{8})-[^-]+", rest)
        if writer is None or writer[2] != _HOST:
            continue
        pid = int(writer[1])
        if pid != os.getpid() and _process_alive(pid):
            continue
        if old and not target.exists():
            os.replace(path, target)
        else:
            shutil.rmtree(path, ignore_errors=True)


# This machine, in the names of partial folders: a process id means nothing elsewhere.
_HOST = hashlib.blake2b(platform.node().encode(), digest_size=4).hexdigest()


def _writer() -> str:
    return f"{os.getpid()}.{_HOST}"


def _export_mark(folder: Path) -> list[str]:
    """The lines of an export's mark: "FORMAT export of RUN", then what it wrote; none for
    a folder without a readable one."""
    try:
        data = read_file(folder / EXPORT_MARKER, 1 << 16, RunError, "export mark")
    except RunError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def _export_marked(folder: Path) -> tuple[str | None, str | None]:
    """(format, run) of the export in `folder` as its mark's first line says them: "FORMAT
    export of RUN"; (None, None) without one."""
    first = next(iter(_export_mark(folder)), "")
    if " export of " not in first:
        return None, None
    format, run = first.split(" export of ", 1)
    return format, run


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # another user's
    return True



@contextlib.contextmanager
def held(lock: Path, busy: str, doing: str = "") -> Iterator[None]:
    """`lock` held by this process alone while in the block; a second one gets a RunError
    of `busy` at once, its {holder} the holding process's id and {doing} what the holder
    said it is doing (its `doing`, written beside its id). An OS lock (flock) is released
    by the kernel whatever ends the process, so a folder whose holder was killed is free
    again, and no reused process id can block it."""
    descriptor = _lock_file(lock)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        said = os.read(descriptor, 64).decode("ascii", "replace").split()
        os.close(descriptor)
        # Words read from the run's folder: a damaged lock file must not write the message.
        holder = said[0] if said and said[0].isdigit() else "another"
        told = said[1] if len(said) == 2 and said[1].isalpha() else doing
        raise RunError(busy.replace("{holder}", holder).replace("{doing}", told)) from None
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()} {doing}".strip().encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _lock_file(lock: Path) -> int:
    """The lock file, opened to write, never through a link: a run someone sent could hold
    a .lock linked to a file of the user's, which the lock's id then replaced."""
    remove = "rm -r" if lock.is_dir() and not lock.is_symlink() else "rm"
    refused = RunError(f"{lock} is not a plain file, as a lock is (a link, a pipe or a "
                       f"folder); remove it ({remove} {shlex.quote(str(lock))}) and run again.")
    try:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise refused from None
        raise
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode) or status.st_nlink > 1:  # a hard link: a file elsewhere
        os.close(descriptor)
        raise refused
    return descriptor


def _same_layers(model, names: Sequence[str]) -> bool:
    """Whether `model`'s layers are of the Keras classes `names` give, in order (an alias
    such as Convolution2D is its class)."""
    import keras

    from dlcourse.layers import OWN_LAYERS

    classes = [OWN_LAYERS.get(name) or getattr(keras.layers, name, None) for name in names]
    return len(model.layers) == len(classes) and all(
        type(layer) is wanted for layer, wanted in zip(model.layers, classes))




def weight_bytes(model) -> int:
    """What saving `model` takes on disk, about: its weights and its optimizer's state."""
    variables = list(model.weights)
    if getattr(model, "optimizer", None) is not None and model.optimizer.built:
        variables += list(model.optimizer.variables)
    return sum(int(math.prod(v.shape)) * 4 for v in variables)


def ensure_free_space(directory: Path, needed: int) -> None:
    """Refuse to start a write the disk can't hold. HDF5 (Keras's weights files) can crash
    the process when the disk fills in the middle of a write; checking first turns that
    into an ordinary error the run can report."""
    margin = 1 << 20
    free = shutil.disk_usage(directory).free
    if free < needed + margin:
        raise OSError(errno.ENOSPC, f"only {free:,} bytes free, {needed + margin:,} needed",
                      str(directory))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    """JSON as the standard has it: NaN and infinities are written as null."""
    write_text(path, json.dumps(_finite(data), indent=2, default=_jsonable, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _finite(value.tolist())
    return value


def _jsonable(value: Any) -> Any:
    raise TypeError(f"can't write {type(value).__name__} to JSON")


def read_json(path: Path, largest: int = LARGEST_JSON_BYTES, folder: str = "run directory") -> Any:
    """A JSON file of a run (or of another `folder` of dlcourse's, a tuning directory);
    RunError naming it if it is missing, too large or damaged."""
    return _parsed(path, read_run_text(path, largest, folder), folder)


def read_run_text(path: Path, largest: int = LARGEST_JSON_BYTES,
                  folder: str = "run directory") -> str:
    if not path.exists():
        raise RunError(f"{path} is missing; is {path.parent} a dlcourse {folder}?")
    # Not through a link: a run someone sent, its summary.txt linked to a file of the
    # user's, put that file in the report it would be sent back with.
    data = read_file(path, largest, RunError, "run file", links=False)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path} is not UTF-8 text; is the {folder} damaged?") from None


# No figure of a run has more digits than a float holds: a file that gives one (1 and 400
# zeros) was an OverflowError in runs and compare, wherever it met a float.
LONGEST_INTEGER_DIGITS = 300


def _run_integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > LONGEST_INTEGER_DIGITS:
        raise ValueError(f"an integer of {digits:,} digits, more than any figure of a run")
    return int(text)


def _parsed(path: Path, text: str, folder: str) -> Any:
    try:
        return json.loads(text, parse_int=_run_integer)
    except (ValueError, RecursionError) as error:  # ValueError: also an int of 4,300+ digits
        raise RunError(f"{path} is not valid JSON ({error}); is the {folder} damaged?") from None


# --------------------------------------------------------------------------- run directories


def create_run_dir(output_dir: str | Path, name: str) -> Path:
    """Make a fresh, empty run directory and return it. Fails early if it can't be written."""
    check_outside_runs(output_dir)
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


def check_outside_runs(output_dir: str | Path) -> None:
    """Runs are written outside any run: one written into another was among its files,
    and `runs` and `compare`, which stop at the first run directory, never listed it."""
    if (run := enclosing_run(Path(output_dir))) is not None:
        raise RunError(f"{output_dir}: that is inside the run directory {run}, whose files are "
                       "its own; choose another place with --output-dir or output.dir.")


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / STATUS_FILE).is_file()


def _config_lost(path: Path) -> bool:
    """A run whose config.yaml is gone: its status beside what training wrote. Listed (as
    damaged) by `runs` and `compare`, which dropped it unsaid; nothing else takes it for a
    run: a project folder holding a status.json and a metrics.json of its own is none."""
    return (path / STATUS_FILE).is_file() and not (path / CONFIG_FILE).exists() and any(
        (path / name).is_file() for name in (HISTORY_FILE, METRICS_FILE, MODEL_FILE))


def enclosing_run(path: Path) -> Path | None:
    """The nearest run directory that is `path` or holds it, or None: a run's files are
    its own, and nothing else writes among them."""
    path = path.resolve()
    return next((folder for folder in (path, *path.parents) if is_run_dir(folder)), None)


def read_config_mapping(path: Path, folder: str = "run directory") -> dict[str, Any]:
    """A config a run or a search saved, as plain data; RunError for a file that is not
    one. Any YAML problem, a Python tag included, makes the file unreadable, not fatal."""
    text = read_run_text(path, folder=folder)
    try:
        raw = parse(text)
    except Exception as error:
        raise RunError(f"{path}: not valid YAML: {yaml_problem(error, text)}") from None
    if not isinstance(raw, dict):
        raise RunError(f"{path}: not a config mapping.")
    return raw


# Folders inside a run that are never runs themselves: not worth searching.
_INSIDE_A_RUN = frozenset({BACKUP_DIR, TENSORBOARD_DIR})
DEEPEST_SEARCH = 8


def find_runs(root: str | Path, *, config_lost: bool = False) -> list[Path]:
    """Run directories at or under `root`, at any depth up to DEEPEST_SEARCH, oldest first;
    with `config_lost`, runs whose config.yaml is gone too (for listing them as damaged)."""
    root = Path(root)
    found = []
    for directory, subdirectories, _ in os.walk(root):
        path = Path(directory)
        if is_run_dir(path):
            found.append(path)
            subdirectories[:] = []  # a run holds no runs
            continue
        if config_lost and _config_lost(path):
            found.append(path)  # and searched on: it may be no run, only files so named
        depth = len(path.relative_to(root).parts)
        subdirectories[:] = sorted(
            name for name in subdirectories
            if depth < DEEPEST_SEARCH and name not in _INSIDE_A_RUN and not name.startswith(".")
        )
    return sorted(found, key=_started)


def _started(path: Path) -> tuple[float, str]:
    try:
        return (path / STATUS_FILE).stat().st_mtime, str(path)
    except OSError:
        return 0.0, str(path)


def latest_run(root: str | Path) -> Path:
    runs = [run for run in find_runs(root) if (run / MODEL_FILE).is_file()]
    if not runs:
        raise RunError(
            f"No finished runs under {root}. Train one first, e.g. "
            "`dlcourse train configs/mnist_cnn.yaml`, or pass RUN_DIR."
        )
    return runs[-1]


def cluster_backup_dir(output_dir: str | Path, name: str, task: str) -> Path:
    """Where one worker of a cluster keeps its backup (`task` is e.g. 'worker-1')."""
    return Path(output_dir) / name / CLUSTER_BACKUPS_DIR / task


# The states of a run that stopped before its end, which --resume continues.
RESUMABLE_STATUSES = ("running", "interrupted", "failed")


def _from_python(record: Mapping[str, Any]) -> bool:
    """Whether data.json is of data given from Python (runs before its `kind` had no
    source)."""
    return record.get("kind") == MEMORY_KIND or bool(record) and record.get("source") is None


def _recorded_largest_pixel(record: Mapping[str, Any]) -> float | None:
    """data.json's largest pixel of arrays from Python, where it holds a number."""
    largest = record.get("largest_pixel")
    return float(largest) if _is_number(largest) else None


class RunDir:
    """One run directory: every file it holds, read and written here only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def require(self) -> RunDir:
        """This run, or a RunError if the directory is not one."""
        if not self.path.exists():
            raise RunError(f"{self.path}: no such run directory; `dlcourse runs` lists the runs "
                           "under runs/.")
        if not self.path.is_dir() or not (self.path / CONFIG_FILE).is_file():
            raise RunError(
                f"{self.path} is not a dlcourse run directory (it has no {CONFIG_FILE}); "
                "pass the directory a `dlcourse train` wrote."
            )
        return self

    # ---------------------------------------------------------------- config and status

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    def write_config(self, config: Config) -> None:
        write_text(self.config_path, config.to_yaml())

    def read_config(self) -> Config:
        """The resolved config the run saved, validated as any config is."""
        self.require()
        return load_config(self.path / CONFIG_FILE)

    def read_raw_config(self) -> dict[str, Any]:
        """The saved config as plain data, for listing runs without validating them."""
        return read_config_mapping(self.path / CONFIG_FILE)

    def write_status(self, status: Mapping[str, Any], *, in_place_if_full: bool = False) -> None:
        """status.json, atomically; with `in_place_if_full`, rewritten in place when the disk
        has no room for a new file (a full disk is when a run must still say it failed)."""
        try:
            write_json(self.path / STATUS_FILE, dict(status))
        except OSError as error:
            if not in_place_if_full or error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            text = json.dumps(_finite(dict(status)), allow_nan=False).encode("utf-8")
            with open(self.path / STATUS_FILE, "r+b") as handle:
                handle.write(text)
                handle.truncate()

    def read_status(self) -> dict[str, Any]:
        status = read_json(self.path / STATUS_FILE)
        if not isinstance(status, dict):
            raise RunError(f"{self.path / STATUS_FILE}: expected a JSON object.")
        # The keys every reader trusts: "finished" with epochs_completed "x" was listed.
        for key, kind in (("status", str), ("epochs_completed", int)):
            if key in status and (type(status[key]) is not kind):
                raise RunError(f"{self.path / STATUS_FILE}: {key} is {str(status[key])[:40]!r}, "
                               f"where {'a word' if kind is str else 'a whole number'} belongs; "
                               "is the run directory damaged?")
        return status

    def is_held(self) -> bool | None:
        """Whether a process holds the run now (training, resuming, evaluating it), asked
        without taking the lock or creating its file (`runs` may read a folder it can't
        write); None where that can't be told (a lock file this user can't open, a pipe
        put in its place, a file system without locks)."""
        try:  # O_NONBLOCK: a pipe named .lock would otherwise wait for a writer
            descriptor = os.open(self.path / LOCK_FILE, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False  # never locked: no process ever trained it here
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        except OSError:
            return None
        finally:
            os.close(descriptor)  # and with it the shared lock, if it was taken

    @contextlib.contextmanager
    def training_lock(self, doing: str = "trained") -> Iterator[None]:
        """Hold this run for one process that writes it (training, resuming, evaluating);
        a second one is refused at once (see `held`), told what the first is `doing`."""
        with held(self.path / LOCK_FILE, f"{self.path} is being {{doing}} by process "
                  "{holder} right now; wait for it, or stop it first.", doing):
            yield

    # ---------------------------------------------------------------- model

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def has_model(self) -> bool:
        return self.model_path.is_file()

    def save_model(self, model) -> None:
        ensure_free_space(self.path, weight_bytes(model))
        with written_atomically(self.model_path) as temporary:
            model.save(temporary)

    def require_model(self) -> RunDir:
        """This run, or a RunError if it has no model file (it did not finish)."""
        if not self.require().has_model():
            raise RunError(f"{self.path} has no {MODEL_FILE}: {self._why_no_model()}")
        return self

    def _why_no_model(self) -> str:
        """What became of a run without a model, and for a stopped one how to finish it:
        the way on was said only when training stopped. (A run that a live process holds
        is told so before this, by the commands that take its lock.)"""
        try:
            status = self.read_status()
        except RunError:
            return "the run did not finish (see its status.json)."
        word, done = status.get("status"), status.get("epochs_completed")
        epochs = f" after {done} epoch{'s' if done != 1 else ''}" if isinstance(done, int) else ""
        if word == "finished":  # training saved it: it was deleted, moved or replaced since
            what = ("is no file now" if self.model_path.exists()
                    else "has been deleted or moved since")
            return (f"the run finished{epochs}, but its {MODEL_FILE} {what}; put it back, or "
                    "train the config again.")
        if word not in RESUMABLE_STATUSES:
            return f"the run did not finish ({word or 'no status'}{epochs}; see its status.json)."
        what = {"interrupted": "was stopped", "failed": "failed",
                "running": "was killed (its status.json still says running)"}[word]
        try:
            from_python = _from_python(self.read_data_record())
        except RunError:
            from_python = False
        how = (f"dlcourse.resume({str(self.path)!r}, train=(x_train, y_train), "
               "test=(x_test, y_test))" if from_python
               else f"`dlcourse train --resume {self.path}`")
        return f"the run {what}{epochs}; {how} finishes it, from its last finished epoch."

    def load_model(self):
        """The run's model.keras, loaded with Keras's safe mode (no code from the file runs),
        with the layers its config.yaml describes: one copied from another run of the same
        input shape was evaluated and explained as this run's, without a word."""
        model = load_model_file(self.require_model().model_path, LARGEST_MODEL_CONFIG_BYTES)
        described = [spec.name for spec in self.read_config().model.layers]
        if not _same_layers(model, described):
            built = [type(layer).__name__ for layer in model.layers]
            raise RunError(f"{self.model_path}: its layers ({', '.join(built)}) are not those "
                           f"config.yaml describes ({', '.join(described)}); is the run "
                           "directory damaged (a model from another run)?")
        return model

    # ---------------------------------------------------------------- history and metrics

    def write_history(self, history: Mapping[str, Sequence[float]]) -> None:
        """history.json and history.csv: one row per epoch, every metric plus its wall time."""
        write_json(self.path / HISTORY_FILE, dict(history))
        columns = list(history)
        epochs = len(next(iter(history.values()), []))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", *columns])
        for epoch in range(epochs):
            writer.writerow([epoch + 1, *(history[column][epoch] for column in columns)])
        write_text(self.path / HISTORY_TABLE, buffer.getvalue())

    def read_history(self) -> dict[str, list[float | None]]:
        """The history saved so far ({} before the first epoch), checked to be columns of numbers."""
        path = self.path / HISTORY_FILE
        if not path.exists():
            return {}
        history = read_json(path)
        if not isinstance(history, dict) or not all(
            isinstance(key, str) and isinstance(values, list)
            and all(value is None or _is_number(value) for value in values)
            for key, values in history.items()
        ):
            raise RunError(f"{path}: expected a JSON object of per-epoch lists of numbers.")
        if len({len(values) for values in history.values()}) > 1:
            counts = ", ".join(f"{key} {len(values)}" for key, values in history.items())
            raise RunError(f"{path}: its lists hold different numbers of epochs ({counts}); is "
                           "the run directory damaged?")
        return history

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        write_json(self.path / METRICS_FILE, dict(metrics))

    def read_metrics(self) -> dict[str, Any]:
        return self._optional_object(METRICS_FILE)

    @property
    def evaluation_path(self) -> Path:
        return self.path / EVALUATION_FILE

    def write_evaluation(self, evaluation: Mapping[str, Any]) -> None:
        """The latest evaluation, with the ones before it under "earlier" (newest first,
        without their mistakes): one on other data replaced the one before, lost."""
        try:
            previous = self.read_evaluation()
        except RunError:  # a damaged file holds nothing to keep
            previous = {}
        earlier = previous.pop("earlier", [])
        if not isinstance(earlier, list):
            earlier = []
        # Its figures, not its mistakes or per-class tables (CIFAR-100's are 100x100).
        previous = {key: value for key, value in previous.items()
                    if not isinstance(value, (list, dict))}
        kept = ([previous] if previous else []) + [item for item in earlier
                                                  if isinstance(item, dict)]
        write_json(self.evaluation_path,
                   {**evaluation, "earlier": kept[:KEPT_EVALUATIONS]})

    def read_evaluation(self) -> dict[str, Any]:
        return self._optional_object(EVALUATION_FILE)

    def write_mistakes(self, mistakes: list[dict[str, Any]], *, regression: bool) -> None:
        """The most confidently wrong test examples (the largest errors for regression)."""
        write_json(self.path / (LARGEST_ERRORS_FILE if regression else MISTAKES_FILE), mistakes)

    def read_mistakes(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(most confidently wrong, largest errors): whichever the run has, the other empty."""
        return (self._optional_list(MISTAKES_FILE), self._optional_list(LARGEST_ERRORS_FILE))

    def write_data_record(self, record: Mapping[str, Any]) -> None:
        write_json(self.path / DATA_RECORD_FILE, dict(record))

    def read_data_record(self) -> dict[str, Any]:
        """Where the run's data came from ({} for runs written before it was recorded)."""
        record = self._optional_object(DATA_RECORD_FILE)
        for key in ("data_dir", "source", "kind"):
            value = record.get(key)
            # A NUL is no path: the file system's calls raised ValueError on it.
            if value is not None and (not isinstance(value, str) or "\0" in value):
                raise RunError(f"{self.path / DATA_RECORD_FILE}: {key} is {json.dumps(value)[:80]}, "
                               "where a path (a string) or null belongs; is the run directory "
                               "damaged?")
        return record

    def learned_light_on_dark(self) -> bool:
        """Whether the run's images were light on dark (as MNIST's): false only for arrays
        from Python that data.json records on light backgrounds (one's own scans)."""
        try:
            return self.read_data_record().get("dark_background") is not False
        except RunError:
            return True

    def learned_pixels_within_one(self) -> bool:
        """Whether the model learned pixels of 0-1: as dlcourse loads image files, and as
        arrays from Python were where data.json records it (floats are taken as they come;
        integers are scaled, only uint8 before 2026-12-07; a run from before that record
        doesn't say)."""
        try:
            record = self.read_data_record()
        except RunError:
            return True
        if _from_python(record):
            largest = _recorded_largest_pixel(record)
            return largest is not None and largest <= 1.0
        return True

    def learned_largest_pixel(self) -> float | None:
        """The largest pixel the model learned from: 1 for image files (read as 0-1),
        data.json's for arrays from Python; None where that isn't recorded."""
        try:
            record = self.read_data_record()
        except RunError:
            return None
        return _recorded_largest_pixel(record) if _from_python(record) else 1.0

    def write_summary(self, summary: str) -> None:
        write_text(self.path / SUMMARY_FILE, summary)

    def read_text_file(self, name: str) -> str | None:
        """config.yaml or summary.txt as text, for reports; None if absent or unreadable."""
        try:
            return read_run_text(self.path / name, LARGEST_REPORT_TEXT_BYTES)
        except RunError:
            return None

    # ---------------------------------------------------------------- what predict needs

    def write_classes(self, names: Sequence[str]) -> None:
        write_json(self.path / CLASSES_FILE, list(names))

    def read_classes(self) -> tuple[str, ...] | None:
        path = self.path / CLASSES_FILE
        if not path.exists():
            return None
        names = read_json(path)
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise RunError(f"{path}: expected a JSON list of class names.")
        if (twice := first_repeated(names)) is not None:
            raise RunError(f"{path}: names the class {twice!r} twice; is the run directory "
                           "damaged?")
        return tuple(names)

    def write_vocabulary(self, vocabulary: TextVocabulary) -> None:
        write_json(self.path / VOCABULARY_FILE,
                   {"tokens": list(vocabulary.tokens), "idf_weights": vocabulary.idf_weights})

    def read_vocabulary(self, settings: VectorizeConfig) -> TextVocabulary:
        """The vocabulary fitted in training, so text is vectorised as the model learned it,
        checked to be one for the run's data.vectorize `settings`."""
        path = self.path / VOCABULARY_FILE
        if not path.exists():
            raise RunError(f"{path} is missing: the run's fitted vocabulary is needed to "
                           "vectorise text as in training.")
        vocabulary = parsed_vocabulary(read_json(path), settings)
        if isinstance(vocabulary, str):
            raise RunError(f"{path}: {vocabulary}; is the run directory damaged?")
        return vocabulary

    def write_word_index(self, word_index: Mapping[str, int], num_words: int | None) -> None:
        """The words a model can see (rank + 3 < num_words), for `predict` on raw reviews."""
        limit = float("inf") if num_words is None else num_words - 3
        write_json(self.path / WORD_INDEX_FILE,
                   {word: rank for word, rank in word_index.items() if rank < limit})

    def read_word_index(self) -> dict[str, int]:
        path = self.path / WORD_INDEX_FILE
        if not path.exists():
            raise RunError(
                f"{self.path} has no {WORD_INDEX_FILE}: no IMDB word index "
                "(imdb_word_index.json) was found when it trained, so raw text can't be mapped "
                "to the word indices it learned; padded word indices (from Python) still are "
                "predicted."
            )
        index = read_json(path)
        if not is_word_index(index):
            raise RunError(f"{path}: expected {WORD_INDEX_EXPECTED}; is the run directory damaged?")
        return index

    # ---------------------------------------------------------------- plots and the report

    def plot_path(self, plot: str) -> Path:
        return self.path / PLOTS[plot]

    def save_figure(self, figure, plot: str) -> Path:
        """A matplotlib figure as the run's `plot` PNG, written atomically."""
        path = self.plot_path(plot)
        with written_atomically(path) as temporary:
            figure.savefig(temporary, dpi=100)
        return path

    def plot_images(self) -> dict[str, bytes]:
        """The PNGs this run has, by plot name, for the report to inline."""
        images = {}
        for plot in PLOTS:
            path = self.plot_path(plot)
            if path.exists():
                with contextlib.suppress(RunError):
                    images[plot] = read_file(path, LARGEST_PLOT_BYTES, RunError, "plot")
        return images

    @property
    def report_path(self) -> Path:
        return self.path / REPORT_FILE

    def refresh_report(self) -> Path:
        """report.html, rendered anew from what the run holds now."""
        write_text(self.report_path, render_report(self.record()))
        return self.report_path

    def record(self) -> RunRecord:
        """What the report shows; a damaged file leaves its part out rather than failing."""
        def tolerant(read, empty):
            try:
                return read()
            except RunError:
                return empty

        wrong, errors = tolerant(self.read_mistakes, ([], []))
        return RunRecord(
            title=self.path.parent.name,
            location=str(self.path),
            status=tolerant(self.read_status, {}),
            metrics=tolerant(self.read_metrics, {}),
            history=tolerant(self.read_history, {}),
            evaluation=tolerant(self.read_evaluation, {}),
            wrong=wrong,
            errors=errors,
            class_names=tolerant(self.read_classes, None) or (),
            config_text=self.read_text_file(CONFIG_FILE),
            summary_text=self.read_text_file(SUMMARY_FILE),
            validation_on_test=_validates_on_test(tolerant(self.read_raw_config, {})),
            images=self.plot_images(),
        )

    # ---------------------------------------------------------------- backup and logs

    @property
    def backup_dir(self) -> Path:
        return self.path / BACKUP_DIR

    def write_tracking(self, record: Mapping[str, Any]) -> None:
        write_json(self.path / TRACKING_FILE, record)

    def read_tracking(self) -> dict[str, Any]:
        """Which MLflow run, on which store, tracks this run (empty if none does). An odd
        value was resumed as no record: a new MLflow run, or a store looked for anew."""
        record = self._optional_object(TRACKING_FILE)
        for key in ("mlflow_run_id", "tracking_uri") if record else ():
            value = record.get(key)
            if not isinstance(value, str) or not value.strip():
                raise RunError(f"{self.path / TRACKING_FILE}: its {key} is {value!r}, not the "
                               "MLflow run it names; is the run directory damaged?")
        return record

    def export_dir(self, format: str) -> Path:
        return self.path / EXPORT_DIR / format

    @staticmethod
    def is_export(folder: Path) -> bool:
        """An earlier export's folder (anywhere: --output), which an export may replace:
        one with the mark, or (written before the mark, 2026-12-06) one holding only what
        an export writes, its README saying so."""
        if (folder / EXPORT_MARKER).is_file():
            return True
        readme = folder / EXPORT_README
        try:
            with open(readme, "rb") as stream:
                said = b"Exported by `dlcourse export`" in stream.read(1000)
        except OSError:
            return False
        return said and all(entry.name in _OLD_EXPORT_ENTRIES for entry in folder.iterdir())

    @staticmethod
    def export_format(folder: Path) -> str | None:
        """The format of the export in `folder`, as its mark says (None: no mark, or an
        unreadable one)."""
        return _export_marked(folder)[0]

    @staticmethod
    def export_source(folder: Path) -> str | None:
        """The run whose export `folder` holds, as its mark says (None: no mark)."""
        return _export_marked(folder)[1]

    @staticmethod
    def export_strays(folder: Path) -> list[str]:
        """What an export folder holds that no export wrote (a user's notes put beside the
        model): replacing the export would delete it. The mark lists what was written
        (older marks, none: then what any export writes)."""
        written = set(_export_mark(folder)[1:])
        written = (written or set(_OLD_EXPORT_ENTRIES)) | {EXPORT_MARKER, EXPORT_README}
        # What a file browser or Jupyter leaves by looking (.DS_Store, .ipynb_checkpoints,
        # Thumbs.db) is nobody's work.
        return sorted(entry.name for entry in folder.iterdir() if entry.name not in written
                      and not entry.name.startswith(".") and entry.name not in _BROWSER_CLUTTER)

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD_DIR

    def remove_backup(self) -> None:
        """Remove the backup in an order no kill can turn into a resumable state: renamed
        away in one step (atomic), then deleted."""
        if not self.backup_dir.exists():
            return
        removed = self.path / f"{PARTIAL_PREFIX}removed-{BACKUP_DIR}"
        shutil.rmtree(removed, ignore_errors=True)
        os.replace(self.backup_dir, removed)
        shutil.rmtree(removed, ignore_errors=True)

    def remove_partial_files(self) -> None:
        """What a killed or failed process left half-written: never part of the run."""
        for path in [*self.path.glob(f"{PARTIAL_PREFIX}*"),
                     *self.backup_dir.glob(f"{PARTIAL_PREFIX}*")]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- helpers

    def _optional_object(self, name: str) -> dict[str, Any]:
        path = self.path / name
        if not path.exists():
            return {}
        value = read_json(path)
        if not isinstance(value, dict):
            raise RunError(f"{path}: expected a JSON object; is the run directory damaged?")
        return value

    def _optional_list(self, name: str) -> list[dict[str, Any]]:
        path = self.path / name
        if not path.exists():
            return []
        value = read_json(path)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise RunError(f"{path}: expected a JSON list of objects; is the run directory damaged?")
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validates_on_test(raw: dict[str, Any]) -> bool:
    fit = raw.get("fit")
    return isinstance(fit, dict) and fit.get("validation") == "test"
