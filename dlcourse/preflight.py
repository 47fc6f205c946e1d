"""What a command can check before TensorFlow starts.

Importing TensorFlow takes seconds. A mistake that needs none of it (a directory that is
not a run, a run that can't be resumed, a place runs can't be written, a damaged model
file, a run's data gone or changed) is reported at once, before that wait. Nothing here imports TensorFlow or Keras.
The commands check the same things again where they act; this only makes the answer fast.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from dlcourse import extras
from dlcourse.config import Config, DataConfig
from dlcourse.data import check_findable
from dlcourse.data.files import check_given_dir, find_paths, fingerprint, home_expanded
from dlcourse.data.loading import MEMORY_KIND, check_held_in, data_fingerprint, own_files
from dlcourse.errors import DataError, DlcourseError, RunError
from dlcourse.model_file import check_archive
from dlcourse.rundir import (
    CONFIG_FILE, EXPORT_FILES, LARGEST_MODEL_CONFIG_BYTES, RESUMABLE_STATUSES, RunDir,
    check_outside_runs, clear_what_dead_writers_left, enclosing_run, is_run_dir,
)

EXPORT_FORMATS = tuple(EXPORT_FILES)


def writable_output(output_dir: str | Path, name: str) -> None:
    """Runs could be written under `output_dir`/`name`: its nearest existing folder is a
    folder, on a file system that is not read-only. Nothing is created (a later mistake
    leaves no trace). Permissions are left to the write itself: some file systems (FUSE,
    CIFS) allow what their mode bits seem to refuse."""
    check_outside_runs(output_dir)
    parent = Path(output_dir) / name
    try:
        existing = _nearest_existing(parent)
        if not existing.is_dir():
            reason = "Not a directory"
        elif os.statvfs(existing).f_flag & os.ST_RDONLY:
            reason = "Read-only file system"
        else:
            return
    except OSError:
        return  # a folder we can't even look into: the write says why, as it always did
    raise RunError(f"Can't write runs to {parent} ({reason}). "
                   "Choose another place with --output-dir or output.dir.")


def _nearest_existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists (a dangling link counts: it is
    in the way of a folder all the same)."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def finished_run(run_dir: str | Path) -> RunDir:
    """The run a command reads, with a config that loads and a model file whose archive
    is sound (Keras's safe mode still checks its content on loading). A run without a
    model is told as the command itself would: under the run's lock, so one still
    training says so, and what a killed process half-wrote goes."""
    run = RunDir(run_dir).require()
    if not run.has_model():
        with run.training_lock("checked"):
            run.remove_partial_files()
            run.require_model()
    run.read_config()
    check_archive(run.model_path, LARGEST_MODEL_CONFIG_BYTES)
    return run


def export_target(run: RunDir, format: str, output: str | Path | None) -> Path:
    """Where `export` writes `format`, once it is known and its extra installed: `output`,
    or the run's own export folder. An export replaces an earlier export, never a folder
    of something else (the run itself, say)."""
    if format not in EXPORT_FORMATS:
        raise DlcourseError(f"Unknown export format {format!r}; choose one of "
                            f"{', '.join(EXPORT_FORMATS)}.")
    if format != "saved_model":
        extras.require(format, f"Exporting to {'ONNX' if format == 'onnx' else 'LiteRT'}")
    target = Path(output).resolve() if output is not None else run.export_dir(format)
    home, where = run.path.resolve(), target.resolve()
    if output is None and not where.is_relative_to(home):
        # A run someone sent, its export/ linked to the user's deployed model: replaced by
        # this run's, though no --output named it.
        raise RunError(f"{target} leads to {where}, outside the run (a link in its folder), "
                       "and an export without --output is written into the run itself; "
                       "remove the link, or name that folder with --output to replace it.")
    if home.is_relative_to(where):
        raise RunError(f"--output {output}: that folder holds the run {run.path} itself; give "
                       "--output a new folder.")
    own = where == run.export_dir(format).resolve()  # this run's folder for the format
    if where.is_relative_to(home) and not own:
        raise RunError(f"--output {output}: that is inside the run {run.path}, whose files are "
                       "its own; leave --output out to write its export folder, or give "
                       "another folder.")
    # Another run's folder is that run's: its own export there was replaced by this model.
    other = enclosing_run(where)
    if other is not None and other != home:
        raise RunError(f"--output {output}: that is inside another run, {other}, whose files "
                       "are its own; give a folder outside any run.")
    # Its own export folder is dlcourse's, whichever version wrote it; but not a user's
    # file put there, which replacing the folder would delete (export_strays, below).
    _check_writable(target.parent, f"the export to {target}")  # so the checks below can look
    # A killed export's hidden old folder is put back first, so the checks below see it.
    clear_what_dead_writers_left(target)
    replaceable = run.is_export(target) or own
    if target.exists() and (not target.is_dir() or any(target.iterdir()) and not replaceable):
        raise RunError(f"{target} exists and is not an earlier export; give --output a "
                       "new folder, or an export's folder to replace it.")
    earlier = run.export_format(target) if target.is_dir() else None
    if earlier is not None and earlier != format:  # the folder is replaced whole
        raise RunError(f"{target} holds an export as {earlier}, which exporting as {format} "
                       "would replace; give --output another folder, or remove that one first.")
    if target.is_dir() and (strays := run.export_strays(target)):
        shown = ", ".join(strays[:5]) + (f" and {len(strays) - 5} more" if len(strays) > 5 else "")
        raise RunError(f"{target} holds {shown}, which no export wrote, and a new export "
                       "replaces the folder whole: move them out first, or give --output a "
                       "new folder.")
    return target


def _check_writable(folder: Path, what: str) -> None:
    """A file can be written in `folder`, or in the folder nearest it that exists (the
    export makes the rest): else one paragraph now, rather than an OSError's traceback
    once the export has been computed. Nothing is left behind."""
    try:
        above = _nearest_existing(folder)
        if not above.is_dir():
            raise NotADirectoryError(0, f"{above} is a file, not a folder")
        tempfile.TemporaryFile(dir=above).close()
    except OSError as error:
        raise RunError(f"Can't write {what} ({error.strerror or error}). Choose another "
                       "folder with --output.") from None


def resumable_run(run_dir: str | Path, config: Config | None = None) -> None:
    """A run `resume` can continue, or a RunError saying why not. Under the run's lock, as
    resume does it: what a killed process left half-written goes first, whatever the
    answer, so a refused run is left as clean as a resumed one."""
    run = RunDir(run_dir).require()
    with run.training_lock("checked"):
        run.remove_partial_files()
        resumable_config(run, config)


def resumable_config(run: RunDir, config: Config | None = None) -> Config:
    """The saved config of a run that can be resumed; RunError says why one can't.

    `config`, when given, must be the run's own config: a resumed run continues the
    same experiment, so anything else is refused rather than silently mixed.
    """
    run.require()
    _check_status(run, run.read_status())
    saved = run.read_config()
    if config is not None and config != saved:
        differences = "; ".join(_differences(saved.model_dump(), config.model_dump()))
        raise RunError(
            f"Can't resume {run.path} with a different config ({differences}). A resumed "
            "run continues its own config.yaml; leave out CONFIG, or train a new run."
        )
    return saved


def _check_status(run: RunDir, status: dict[str, Any]) -> None:
    outcome = status.get("status")
    if outcome == "finished":
        raise RunError(f"{run.path} has already finished; there is nothing to resume.")
    if outcome == "diverged":
        raise RunError(
            f"{run.path} diverged; resuming it would diverge again. Lower "
            "compile.optimizer.learning_rate and train a new run."
        )
    if outcome not in RESUMABLE_STATUSES:
        raise RunError(f"{run.path}: status.json says {outcome!r}, which is not a state a "
                       "run can be resumed from.")


def _differences(saved: Any, given: Any, path: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(given, dict):
        found = []
        for key in list(saved) + [key for key in given if key not in saved]:
            found += _differences(saved.get(key), given.get(key), f"{path}.{key}" if path else key)
        return found
    if saved != given:
        return [f"{path or 'config'}: {saved!r} in the run, {given!r} here"]
    return []


# --------------------------------------------------------------------------- a run's data


def findable_data(run: RunDir, data_dir: str | Path | None, command: str) -> str | Path | None:
    """The data directory `command` (evaluate, explain, export) reads `run`'s data from,
    once its data is checked to be there, and unchanged: `data_dir`, or the recorded one.
    Handing it on spares the command checking again (fingerprinting a folder of photos).
    A run trained on data given from Python keeps none: told, with what to give instead.
    A `data_dir` given must hold the data itself, not have it found elsewhere (for raw
    text only its test split, which is all these commands read)."""
    check_given_dir(data_dir)
    if run.read_data_record().get("kind") == MEMORY_KIND:
        raise python_data_refused(run, command)
    config = run.read_config().data
    if data_dir is not None:  # first: an absolute data.path can't be looked for in data_dir
        check_held_in(config, data_dir, test_only=True)
    checked = recorded_data_dir(run, data_dir, test_only=True)
    check_findable(config, checked, test_only=True)
    return checked


def python_data_refused(run: RunDir, command: str) -> RunError:
    """What `command` says of a run trained on data given from Python, without it again."""
    again = {
        "evaluate": f"dlcourse.evaluate({str(run.path)!r}, test=(x_test, y_test))",
        "resume": f"dlcourse.resume({str(run.path)!r}, train=(x_train, y_train), "
                  "test=(x_test, y_test))",
        "export": f"dlcourse.export({str(run.path)!r}, test=(x_test, y_test)), to check "
                  "the export on them",
    }
    return RunError(
        f"{run.path} was trained on data given from Python, which a run directory doesn't "
        f"keep, so `{command}` has no data to read. "
        + (f"From Python, give it again: {again[command]}." if command in again
           else "`predict` takes new inputs, and dlcourse.evaluate(run, test=...) the test split.")
    )


def repeated_data_dir(config_file: str | Path, config: Config,
                      given: str | Path | None) -> str | Path | None:
    """The data directory for `dlcourse train RUN_DIR/config.yaml`, which repeats a run:
    a typed --data-dir; else, unless the config names an absolute data.dir, the folder
    the run was trained from while it is there (before DLCOURSE_DATA_DIR, which the CLI
    hands over as --data-dir: a repeat on the environment's other data was silent). A
    run's config.yaml doesn't record --data-dir, so without this the repeat looked
    elsewhere and failed offline. Unlike evaluate, a new run needs no check that the data
    is unchanged: it measures what it trains on, and records it. A run trained on data
    given from Python is refused: its config's dataset is not what it learnt from."""
    typed = given is not None and str(given) != os.environ.get("DLCOURSE_DATA_DIR")
    named = config.data.dir
    resolved = Path(config_file).resolve()  # through a link to a run's config.yaml
    folder = resolved.parent
    if typed or (named and Path(named).is_absolute()) or resolved.name != CONFIG_FILE \
            or not is_run_dir(folder):
        return given
    record = RunDir(folder).read_data_record()
    if record.get("kind") == MEMORY_KIND:
        raise RunError(
            f"{folder} was trained on data given from Python, not on its config's dataset: "
            f"repeat it with dlcourse.train({str(Path(config_file))!r}, train=..., test=...) "
            "and the same arrays."
        )
    recorded = record.get("data_dir")
    if recorded and Path(recorded).is_dir():
        return recorded
    if recorded:
        print(f"Note: {folder} was trained on data in {recorded}, which is no longer there; "
              "looking for it as the config says.", file=sys.stderr)
    return given


def recorded_data_dir(run: RunDir, given: str | Path | None, *,
                      test_only: bool = False) -> str | Path | None:
    """The data directory for a command on `run`: `given` (--data-dir) if any, else the
    one the run was trained from, checked to still hold the same data. `test_only`: the
    command reads the test split alone, so raw text's training files may have moved."""
    if given is not None:
        return given
    record = run.read_data_record()
    recorded_files = _recorded_files(record)
    if not recorded_files:
        return record.get("data_dir")
    config = run.read_config().data
    if test_only:
        test_files = _test_files(config, record.get("data_dir"))
        recorded_files = {source: recorded for source, recorded in recorded_files.items()
                          if not _training_file_alone(config, source, record.get("data_dir"),
                                                      test_files)}
    for source, recorded in recorded_files.items():
        path = Path(source)
        if not path.exists():
            if named := _named_absolutely(config, source):
                raise RunError(
                    f"{run.path} was trained on {source}, which is no longer there. Its config "
                    f"names it by the absolute path {named}, which --data-dir can't change: "
                    "put the data back there (a link to where it is now will do)."
                )
            raise RunError(
                f"{run.path} was trained on {source}, which is no longer there. Pass "
                "--data-dir DIR (data_dir=... in Python) to a directory holding that data."
            )
        # A record from before 2026-12-06 counted every file of a folder, read or not:
        # walked only when the loader's own files differ, as aclImdb's unsup/ is large.
        if recorded != data_fingerprint(config, path) and recorded != whole_fingerprint(path):
            # A config's absolute path is kept whatever --data-dir says: a folder holding it
            # is the one that takes it as it is now.
            anyway = (f"--data-dir {path.parent} to use it" if _named_absolutely(config, source)
                      else "--data-dir DIR to use it, or another copy,")
            raise RunError(
                f"{source} has changed since {run.path} was trained on it (its files, sizes "
                "or dates differ), so it may no longer be the data the run was trained and "
                f"measured on. Pass {anyway} anyway."
            )
    if "files" in record:  # a record from before 2026-12 has no list to compare with
        # A command reading the test split alone looks for new test files alone.
        looked = config.model_copy(update={"train": None}) if test_only else config
        _check_no_new_matches(run, looked, record.get("data_dir"), recorded_files)
    return record.get("data_dir")


def _test_files(config: DataConfig, data_dir: str | None) -> set[str] | None:
    """Raw text's test files as the loader finds them now (resolved); None: none found,
    or other data."""
    if config.dataset != "raw_text" or config.test is None:
        return None
    try:
        return {str(path.resolve()) for path in find_paths(config.test, data_dir, "data")}
    except (DataError, OSError):
        return None


def _training_file_alone(config: DataConfig, source: str, data_dir: str | None,
                         test_files: set[str] | None) -> bool:
    """`source` is one of raw text's training files (data.train matches it where the run
    found its data), and no test file, as the loader finds them (`test_files`): evaluate
    never reads it. Any doubt, such as test files not found: it is checked."""
    if test_files is None or source in test_files or config.train is None:
        return False

    def matches(pattern: str) -> bool:
        where = Path(home_expanded(pattern))
        where = where if where.is_absolute() or data_dir is None else Path(data_dir) / where
        return fnmatch.fnmatch(source, str(where))

    return matches(config.train) and not matches(config.test)


def _named_absolutely(config: DataConfig, source: str) -> str | None:
    """'data.path (/photos)' when the config names `source` by an absolute path (or a
    pattern of one, data.train: /data/train-*.jsonl)."""
    for key, pattern in config.own_paths().items():
        where = home_expanded(pattern)
        if Path(where).is_absolute() and (
                Path(source) == Path(where) or fnmatch.fnmatch(source, where)):
            return f"{key} ({pattern})"
    return None


def whole_fingerprint(path: Path) -> list[int]:
    """A folder's fingerprint as records before 2026-12-06 took it: every file in it."""
    return fingerprint(path) if path.is_dir() else []


def _check_no_new_matches(run: RunDir, config: DataConfig, data_dir: str | None,
                          recorded: dict[str, list[int]]) -> None:
    """A file that a config's pattern (data.train: train-*.jsonl) matches now but didn't in
    training would be read too: the data changed as surely as if a file had."""
    try:
        own = own_files(config, data_dir)
    except DataError:
        return  # nothing matches at all: the command's own reading says so
    if own is None:
        return  # a Keras dataset: one file, checked above
    if new := sorted({str(path.resolve()) for path in own[1]} - set(recorded)):
        raise RunError(
            f"{new[0]} matches the config's data paths now, but wasn't there when {run.path} "
            "was trained, so its data would differ. Pass --data-dir DIR to use it anyway, "
            "or move the new file away."
        )


def _recorded_files(record: dict) -> dict[str, list[int]]:
    """The fingerprints a data.json holds; one written before them (until 2026-12)
    recorded its source file's size and date alone."""
    files = record.get("files")
    if isinstance(files, dict):
        return {str(path): value for path, value in files.items()}
    source = record.get("source")
    if source and Path(source).is_file():
        return {source: [1, record.get("size"), record.get("mtime_ns")]}
    return {}
