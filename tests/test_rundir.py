"""Run directories: created fresh, written atomically, read within bounds, held by one process."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dlcourse.config import VectorizeConfig
from dlcourse.data import TextVocabulary
from dlcourse import rundir
from dlcourse.errors import RunError
from dlcourse.rundir import (
    RunDir,
    create_run_dir,
    find_runs,
    latest_run,
    read_json,
    write_json,
    write_text,
)


def make_run(path, status="finished"):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("name: x\n")
    (path / "status.json").write_text(json.dumps({"status": status}))
    return path


def test_run_directories_are_never_reused(tmp_path, monkeypatch):
    # Two runs started in the same second: the clock is held still so the
    # second one must take the numbered name, whenever the suite runs.
    still = datetime(2026, 12, 1, 22, 8, 20, tzinfo=timezone.utc)

    class StillClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return still

    monkeypatch.setattr(rundir, "datetime", StillClock)
    first = create_run_dir(tmp_path, "same")
    second = create_run_dir(tmp_path, "same")
    third = create_run_dir(tmp_path, "same")
    assert first.name == "20261201-220820"
    assert [second.name, third.name] == ["20261201-220820-2", "20261201-220820-3"]
    assert first.parent == second.parent == third.parent


def test_unwritable_output_directory_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunError, match="Can't write runs to"):
        create_run_dir(blocker, "x")


def test_latest_run_without_runs_explains(tmp_path):
    with pytest.raises(RunError, match="No finished runs under"):
        latest_run(tmp_path)


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "status.json"
    write_json(path, {"status": "running"})

    class Unwritable:
        def __repr__(self):
            raise RuntimeError("disk gone")

    with pytest.raises(TypeError):
        write_json(path, {"status": Unwritable()})
    assert json.loads(path.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_folder_where_a_file_goes_is_named(tmp_path):
    # explain's feature_maps.png as a folder: IsADirectoryError from the rename.
    from matplotlib.figure import Figure

    (tmp_path / "feature_maps.png").mkdir()
    with pytest.raises(RunError, match="feature_maps.png: a folder is where this file goes"):
        write_text(tmp_path / "feature_maps.png", "x")
    with pytest.raises(RunError, match="feature_maps.png: a folder is where this file goes"):
        RunDir(tmp_path).save_figure(Figure(), "feature_maps")
    assert (tmp_path / "feature_maps.png").is_dir() and len(list(tmp_path.iterdir())) == 1


def test_json_is_standard_json_with_nan_written_as_null(tmp_path):
    write_json(tmp_path / "history.json", {"loss": [0.5, math.nan, math.inf]})
    text = (tmp_path / "history.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": [0.5, None, None]}


@pytest.mark.robustness("damaged runs")
@pytest.mark.parametrize(
    "content, message",
    [(b"{not json", "is not valid JSON"), (b"\xff\xfe", "is not UTF-8"),
     (b"[" * 100_000, "is not valid JSON")],
    ids=["garbage", "binary", "deeply-nested"],
)
def test_a_damaged_json_file_is_named(tmp_path, content, message):
    path = tmp_path / "metrics.json"
    path.write_bytes(content)
    with pytest.raises(RunError, match=message) as caught:
        read_json(path)
    assert str(path) in str(caught.value)

@pytest.mark.robustness("damaged runs")

def test_a_fifo_or_huge_file_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    with pytest.raises(RunError, match="not a regular file"):
        read_json(fifo)
    folder = tmp_path / "classes.json"
    folder.mkdir()  # fdopen alone would raise IsADirectoryError
    with pytest.raises(RunError, match="not a regular file"):
        read_json(folder)
    big = tmp_path / "history.json"
    big.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(RunError, match="larger than 100 bytes"):
        read_json(big, largest=100)


@pytest.mark.robustness("damaged runs")
@pytest.mark.parametrize(
    "name, content, message",
    [("classes.json", '{"a": 1}', "expected a JSON list of class names"),
     ("classes.json", "[1, 2]", "expected a JSON list of class names"),
     ("vocabulary.json", '{"tokens": "abc"}', "expected {\"tokens\""),
     ("vocabulary.json", '{"tokens": ["a"], "idf_weights": [1, 2]}', "expected {\"tokens\""),
     ("word_index.json", '{"the": "one"}', "mapping words to ranks from 1"),
     ("word_index.json", '{}', "mapping words to ranks from 1"),
     # Shifted by 3 into int32, 2**31 - 3 wrapped round to a negative word index.
     ("word_index.json", '{"good": 2147483645}', "mapping words to ranks from 1 to "
      "2,147,483,644"),
     ("history.json", '{"loss": [1, "x"]}', "per-epoch lists of numbers"),
     ("history.json", '{"loss": [1, 2], "val_loss": [1]}', r"different numbers of epochs \(loss 2, "
      r"val_loss 1\)"),
     ("status.json", "[]", "expected a JSON object"),
     ("status.json", '{"status": "finished", "epochs_completed": "x"}',
      "epochs_completed is 'x', where a whole number belongs"),
     ("data.json", '{"data_dir": 5}', "data_dir is 5, where a path"),
     ("data.json", '{"data_dir": ["a"]}', r"data_dir is \["),
     ("data.json", '{"data_dir": "/data", "source": 7}', "source is 7, where a path"),
     ("data.json", '{"data_dir": "\\u0000x"}', r'data_dir is "\\u0000x", where a path')],
)
def test_damaged_run_files_are_named_in_one_sentence(tmp_path, name, content, message):
    run = RunDir(make_run(tmp_path / "run"))
    (run.path / name).write_text(content)
    bags = VectorizeConfig(output_mode="multi_hot")
    reader = {"classes.json": run.read_classes,
              "vocabulary.json": lambda: run.read_vocabulary(bags),
              "word_index.json": run.read_word_index, "history.json": run.read_history,
              "status.json": run.read_status, "data.json": run.read_data_record}[name]
    with pytest.raises(RunError, match=message) as caught:
        reader()
    assert str(run.path / name) in str(caught.value)


def test_vocabulary_and_word_index_round_trip(tmp_path):
    run = RunDir(make_run(tmp_path / "run"))
    vocabulary = TextVocabulary(("[UNK]", "film", "plot"), (1.0, 0.5, 0.7))
    run.write_vocabulary(vocabulary)
    assert run.read_vocabulary(VectorizeConfig(output_mode="tf_idf")) == vocabulary
    sequences = VectorizeConfig(output_mode="int", output_sequence_length=5)
    run.write_vocabulary(TextVocabulary(("", "[UNK]", "film")))
    assert run.read_vocabulary(sequences).tokens == ("", "[UNK]", "film")
    # Sequences pad with index 0: a bag's vocabulary would shift every word by one.
    run.write_vocabulary(TextVocabulary(("[UNK]", "film")))
    with pytest.raises(RunError, match=r"its tokens start \['\[UNK\]', 'film'\], not with "
                                       r"\['', '\[UNK\]'\] as output_mode int's do"):
        run.read_vocabulary(sequences)
    run.write_word_index({"the": 1, "film": 19, "rare": 500}, num_words=100)
    assert run.read_word_index() == {"the": 1, "film": 19}  # rank + 3 must be < num_words


def test_find_runs_at_any_depth_but_not_inside_a_run(tmp_path):
    shallow = make_run(tmp_path / "imdb_lstm" / "20260101-000000")
    deep = make_run(tmp_path / "a" / "imdb_lstm" / "imdb_lstm" / "20260101-000001")
    make_run(shallow / "backup" / "not-a-run")
    assert set(find_runs(tmp_path)) == {shallow, deep}
    assert find_runs(deep) == [deep]


def test_the_backup_goes_in_one_rename_then_is_deleted(tmp_path):
    run = RunDir(make_run(tmp_path / "run"))
    (run.backup_dir / "epoch-1").mkdir(parents=True)
    run.remove_backup()
    assert not run.backup_dir.exists()
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []


def test_partial_files_of_a_killed_process_are_removed(tmp_path):
    run = RunDir(make_run(tmp_path / "run"))
    (run.path / ".partial-123-model.keras").write_bytes(b"half")
    (run.path / ".partial-removed-backup").mkdir()
    run.remove_partial_files()
    assert sorted(p.name for p in run.path.iterdir()) == ["config.yaml", "status.json"]


def test_a_second_process_cannot_hold_a_run_being_trained(tmp_path):
    run = RunDir(make_run(tmp_path / "run", status="running"))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from dlcourse.rundir import RunDir\n"
         f"with RunDir({str(run.path)!r}).training_lock('evaluated'):\n"
         "    print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        # What the holder does, not what the refused one would: a second evaluate was told
        # the run "is being trained".
        with pytest.raises(RunError, match=f"being evaluated by process {holder.pid} right now"):
            with run.training_lock():
                pass
        # A damaged lock file's words are not put in the message.
        (run.path / ".lock").write_text("12x evaluated\nError: forged")
        with pytest.raises(RunError, match="being trained by process another right now") as told:
            with run.training_lock():
                pass
        assert "forged" not in str(told.value)
    finally:
        holder.kill()
        holder.wait()
    # The kernel releases a killed holder's lock: the run is free again.
    with run.training_lock():
        assert (run.path / ".lock").read_text() == f"{os.getpid()} trained"


@pytest.mark.parametrize("lock", ["link", "hard link", "fifo", "folder"])
def test_a_lock_that_is_not_a_plain_file_is_refused_and_nothing_outside_is_written(
        tmp_path, lock):
    """A run someone sent, its .lock linked to a file of the user's: evaluate replaced the
    file with '18964 evaluated'; a pipe there was an OSError traceback."""
    run = RunDir(make_run(tmp_path / "run", status="finished"))
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n")
    {"link": lambda path: path.symlink_to(notes), "hard link": lambda path: os.link(notes, path),
     "fifo": os.mkfifo, "folder": Path.mkdir}[lock](run.path / ".lock")
    remove = "rm -r" if lock == "folder" else "rm"
    with pytest.raises(RunError, match=re.escape(
            f"{run.path / '.lock'} is not a plain file, as a lock is (a link, a pipe or a "
            f"folder); remove it ({remove} {run.path / '.lock'})")):
        with run.training_lock("evaluated"):
            pass
    assert notes.read_text() == "my precious notes\n"


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(RunError, match="is not a dlcourse run directory"):
        RunDir(tmp_path).require()
    # A mistyped one was "not a run directory (it has no config.yaml)", as if it were there.
    with pytest.raises(RunError, match="2026: no such run directory; `dlcourse runs` lists"):
        RunDir(tmp_path / "2026").require()

@pytest.mark.robustness("damaged runs")

def test_report_of_a_damaged_run_leaves_out_what_it_cannot_read(tmp_path):
    run = RunDir(make_run(tmp_path / "run", status="interrupted"))
    (run.path / "metrics.json").write_text("{broken")
    write_text(run.path / "history.json", '{"loss": [0.5]}')
    page = run.refresh_report().read_text()
    assert "interrupted" in page and "did not finish" in page and "<td>0.5000</td>" in page


@pytest.mark.robustness("damaged runs")
def test_a_report_shows_what_a_run_file_holds_as_text_never_as_markup(tmp_path):
    """A per-class support of '<script>...' ran in report.html; a precision of 'high', a
    reference metric that is a list and a confidence in quotes were tracebacks (after
    evaluation.json had been written)."""
    run = RunDir(make_run(tmp_path / "run"))
    script = "<script>alert(1)</script>"
    write_text(run.path / "metrics.json", json.dumps({
        "per_class": [{"class": 0, "precision": "high", "recall": 0.5, "f1": 0.5,
                       "support": script}, "not a record", {"class": [1]}],
        "reference": {"metric": ["x"], "measured": 0.5, "value": 0.9, "source": script},
        "test_accuracy": 0.5, "parameters": math.inf, "train_seconds": math.nan}))
    write_text(run.path / "misclassified.json", json.dumps([
        {"true_name": script, "predicted_name": "b", "confidence": "0.9", "text": script}]))
    write_text(run.path / "history.json", json.dumps({"loss": [0.5]}))
    page = run.refresh_report().read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<td>high</td>" in page and "<td>0.9</td>" in page and "<td>[1]</td>" in page
    assert "parameters" not in page and "training time" not in page  # Infinity, NaN: left out
    from dlcourse.comparison import collect_runs, format_table

    assert "Traceback" not in format_table(collect_runs([run.path]))


@pytest.mark.robustness("damaged runs")
def test_a_run_file_linked_outside_the_run_is_not_read(tmp_path):
    """A run someone sent, its summary.txt linked to a file of the user's: the report,
    which may be sent back, held that file."""
    run = RunDir(make_run(tmp_path / "run"))
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-TOKEN-abc123")
    (run.path / "summary.txt").symlink_to(secret)
    (run.path / "metrics.json").symlink_to(secret)
    page = run.refresh_report().read_text()
    assert "SECRET-TOKEN" not in page
    with pytest.raises(RunError, match=re.escape(f"{run.path / 'metrics.json'}: a link, where "
                                                 "the run file itself belongs")):
        run.read_metrics()


@pytest.mark.robustness("damaged runs")
def test_the_report_leaves_out_a_plot_or_config_far_too_large_to_be_one(tmp_path):
    # A 3 GB accuracy.png was read whole and inlined: evaluate took all the memory.
    run = RunDir(make_run(tmp_path / "run"))
    with open(run.plot_path("accuracy"), "wb") as sparse:
        sparse.truncate(rundir.LARGEST_PLOT_BYTES + 1)
    (run.path / "loss.png").write_bytes(b"\x89PNG small")
    os.mkfifo(run.plot_path("confusion_matrix"))
    with open(run.path / "config.yaml", "a") as config:
        config.write("#" * rundir.LARGEST_REPORT_TEXT_BYTES)
    record = run.record()
    assert record.images == {"loss": b"\x89PNG small"} and record.config_text is None
    assert os.path.getsize(run.refresh_report()) < 1 << 20


# --------------------------------------------------------------------------- crafted model files


def crafted_model(path, config_json: bytes | None = None, weights: bytes | None = None):
    """A .keras archive as Keras writes one, with its members replaced."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", config_json if config_json is not None else b"{}")
        if weights is not None:
            archive.writestr("model.weights.h5", weights)
    return path


MODEL_CONFIG = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer",
     "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input"}},
    {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2, "name": "dense"}},
]}}


@pytest.mark.robustness("damaged models")
@pytest.mark.parametrize(
    ("config_json", "weights", "message"),
    [
        (b" " * (17 << 20), None, "its config.json inflates to 17,825,792 bytes"),
        (json.dumps({"module": "keras.layers", "class_name": "NoSuchLayer", "config": {}}).encode(),
         None, "can't load this model"),
        (json.dumps(MODEL_CONFIG).encode(), b"this is not HDF5", "can't load this model"),
        (b"{not json", None, "can't load this model"),
    ],
    ids=["config-bomb", "unknown-class", "garbage-weights", "garbage-config"],
)
def test_crafted_model_files_are_refused_in_one_paragraph(tmp_path, config_json, weights, message):
    from helpers import ROOT

    run = make_run(tmp_path / "run")
    (run / "config.yaml").write_text((ROOT / "configs" / "mnist_cnn.yaml").read_text())
    crafted_model(run / "model.keras", config_json, weights)
    with pytest.raises(RunError) as caught:
        RunDir(run).load_model()  # what evaluate, predict and explain load the model with
    assert message in str(caught.value) and str(run / "model.keras") in str(caught.value)
    assert "\n" not in str(caught.value)

@pytest.mark.robustness("damaged models")

def test_a_model_file_inflating_to_gigabytes_is_refused_by_the_cli_in_bounded_memory(tmp_path, cases):
    from helpers import LARGEST_COMMAND_MB, ROOT, one_paragraph, run_measured

    run = make_run(tmp_path / "run")
    (run / "config.yaml").write_text((ROOT / "configs" / "mnist_cnn.yaml").read_text())
    crafted_model(run / "model.keras", b" " * (64 << 20))  # 64 MB of config.json, 64 KB zipped
    result, peak = run_measured("evaluate", run)
    assert one_paragraph(result) and "config.json inflates to" in result.stderr, result.stderr
    assert peak < LARGEST_COMMAND_MB
    cases.add(peak_mb=peak)


# --------------------------------------------------------------------------- damaged runs

DAMAGE = {
    "garbage": b"\x00\xffnot json",
    "empty": b"",
    "a list": b"[1, 2]",
    "a number": b"42",
    "deep": b"[" * 100_000,
    "null values": b'{"loss": [null, null], "val_accuracy": [null], "name": null}',
    "wrong types": b'{"loss": "x", "val_accuracy": {"a": 1}, "parameters": "many", "best_epoch": []}',
    "non-string name": b"name: [1, 2]\nmodel: {layers: 3}\n",
    # An int JSON reads but Python won't make; overrides that are no list; uneven epochs.
    "huge int": b'{"loss": [' + b"1" * 5000 + b"]}",
    # One JSON and Python read, but past a float: an OverflowError wherever it met one.
    "int past a float": b'{"loss": [0.5], "val_accuracy": [1' + b"0" * 400 + b'], '
                        b'"parameters": 1' + b"0" * 400 + b', "best_epoch": 2}',
    "wrong field types": b'{"status": "finished", "overrides": 5, "reduced": 5, '
                         b'"reference": {"metric": "best_val_accuracy", "measured": 0.5}}',
    "uneven epochs": b'{"accuracy": [0.1, 0.2], "val_accuracy": [0.3]}',
}
DAMAGED_FILES = ("config.yaml", "status.json", "metrics.json", "history.json")

@pytest.mark.robustness("damaged runs")

def test_runs_and_compare_list_damaged_runs_as_damaged_and_go_on(tmp_path, cases):
    from helpers import LARGEST_COMMAND_MB, run_measured

    root = tmp_path / "runs"
    good = make_run(root / "good" / "20260101-000000")
    with zipfile.ZipFile(good / "model.keras", "w") as archive:  # a model, as far as runs reads
        archive.writestr("config.json", "{}")
    (good / "history.json").write_text('{"loss": [0.5], "val_accuracy": [0.75]}')
    (good / "metrics.json").write_text('{"test_accuracy": 0.7, "parameters": 1234}')
    damaged = 0
    for name in DAMAGED_FILES:
        for kind, content in DAMAGE.items():
            run = make_run(root / "damaged" / f"{name}-{kind}".replace(" ", "_"))
            (run / name).write_bytes(content)
            damaged += 1
        fifo = make_run(root / "damaged" / f"{name}-fifo")
        (fifo / name).unlink(missing_ok=True)
        os.mkfifo(fifo / name)
        # A directory whose config.yaml or status.json is a FIFO is no run: it is passed by.
        damaged += name not in ("config.yaml", "status.json")
    # Its config.yaml lost, a run was left out of both listings without a word.
    lost = make_run(root / "damaged" / "config-lost")
    (lost / "history.json").write_text('{"loss": [0.5], "val_accuracy": [0.75]}')
    (lost / "config.yaml").unlink()
    damaged += 1
    for command in (["runs", root], ["compare", root, "--format", "csv"]):
        result, peak = run_measured(*command)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert peak < LARGEST_COMMAND_MB
        cases.add(0, peak_mb=peak)
        lines = [line for line in result.stdout.splitlines()[1:] if line]
        assert len(lines) == damaged + 1  # every run listed, the damaged ones too
        assert sum("damaged" in line for line in lines) >= damaged - 2 * len(DAMAGED_FILES)
        (good_line,) = [line for line in lines if str(good) in line]
        assert "finished" in good_line and "0.75" in good_line
        (lost_line,) = [line for line in lines if str(lost) in line]
        assert "damaged" in lost_line, lost_line
        assert f"{lost / 'config.yaml'} is missing" in result.stderr
        assert "an integer of 401 digits" in result.stderr
    cases.add(damaged)



def test_a_ctrl_c_as_a_folder_is_swapped_in_waits_for_the_swap(tmp_path, monkeypatch):
    """An export replaces its folder by two renames; a Ctrl-C between them removed the new
    folder and left the old one hidden, so the run had no export at all."""
    import signal

    from dlcourse import rundir

    target = tmp_path / "export" / "saved_model"
    target.mkdir(parents=True)
    (target / "old").write_text("old")
    replace = os.replace

    def pressed_after_the_first(source, destination):
        replace(source, destination)
        if str(destination).endswith(f"-old-{rundir._writer()}"):
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(rundir.os, "replace", pressed_after_the_first)
    # pytest-xdist's workers ignore SIGINT; a terminal's Python raises KeyboardInterrupt.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with rundir.directory_written_atomically(target) as staging:
                (staging / "new").write_text("new")
    finally:
        signal.signal(signal.SIGINT, before)
    # Heard once the new folder was in place, and the old one gone.
    assert [path.name for path in target.iterdir()] == ["new"]
    assert [path.name for path in target.parent.iterdir()] == ["saved_model"]


def test_an_export_clears_what_killed_writers_left_and_puts_a_hidden_old_one_back(tmp_path):
    """A SIGKILL during an export left its staging folder (megabytes) for good, and one
    between the swap's two renames left the old export hidden and no export at all."""
    import subprocess
    import sys

    from dlcourse import rundir

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    here, live = rundir._HOST, os.getppid()  # pytest's parent: alive while this runs
    dead = int(gone.stdout)
    target = tmp_path / "export" / "model[1]"  # a glob's characters, taken as they are
    target.parent.mkdir()
    kept = [f".partial-model[1]-{live}.{here}-live0",  # a live writer's, still writing
            f".partial-model[1]-{dead}.00000000-other",  # another machine's
            f".partial-model1-{dead}.{here}-abcdefgh",  # another target's, matching the glob
            f".partial-model[1]-v2-old-{dead}.{here}"]  # another target's
    for name, content in [(f".partial-model[1]-{dead}.{here}-abc_12", "staged"),
                          (f".partial-model[1]-old-{dead}.{here}", "old"),
                          *[(name, "not to touch") for name in kept]]:
        (target.parent / name).mkdir()
        (target.parent / name / "file").write_text(content)
    with rundir.directory_written_atomically(target) as staging:
        # Before the new export is in place, the hidden old one is the export again.
        assert (target / "file").read_text() == "old"
        (staging / "file").write_text("new")
    assert (target / "file").read_text() == "new"
    assert sorted(path.name for path in target.parent.iterdir()) == sorted([*kept, "model[1]"])
    # This process's own id on a leftover: a killed process's, given again (a container's
    # pid 1). Its hidden old folder blocked the swap with a traceback.
    (target.parent / f".partial-model[1]-old-{os.getpid()}.{here}").mkdir()
    with rundir.directory_written_atomically(target) as staging:
        (staging / "file").write_text("newer")
    assert (target / "file").read_text() == "newer"
    assert sorted(path.name for path in target.parent.iterdir()) == sorted([*kept, "model[1]"])
    # Hidden as exports named it before they named the host: put back where none is left.
    shutil.rmtree(target)
    (target.parent / f".partial-model[1]-old-{dead}").mkdir()
    (target.parent / f".partial-model[1]-old-{dead}" / "file").write_text("older")
    with rundir.directory_written_atomically(target) as staging:
        assert (target / "file").read_text() == "older"
        (staging / "file").write_text("newest")

def test_a_folder_of_status_and_metrics_files_is_no_run_to_write_around(tmp_path):
    """A run whose config.yaml is lost is listed as damaged; that looseness took a project
    folder holding a status.json and a metrics.json of its own for a run, and refused
    --output-dir, export and plot targets anywhere below it."""
    from dlcourse.rundir import check_outside_runs, enclosing_run, find_runs, latest_run

    project = tmp_path / "myproject"
    project.mkdir()
    (project / "status.json").write_text("{}")
    (project / "metrics.json").write_text("{}")
    check_outside_runs(project / "runs")  # no RunError
    assert enclosing_run(project / "runs") is None
    run = make_run(project / "runs" / "x" / "20260101-000000")
    (run / "model.keras").write_bytes(b"PK")
    # Listed, the folder is a damaged run and the search goes on below it.
    assert find_runs(tmp_path, config_lost=True) == [project, run]
    assert find_runs(tmp_path) == [run]
    # The latest run is one with a config: a newer one without is no run to evaluate.
    lost = make_run(project / "runs" / "x" / "20260102-000000")
    (lost / "model.keras").write_bytes(b"PK")
    (lost / "config.yaml").unlink()
    os.utime(lost / "status.json", (2e9, 2e9))
    assert latest_run(project / "runs") == run
