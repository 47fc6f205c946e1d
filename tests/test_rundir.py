"""Run directories: created fresh, written atomically, read within bounds, held by one process."""

import json
import math
import os
import subprocess
import sys

import pytest

from dlcourse.data import TextVocabulary
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


def test_run_directories_are_never_reused(tmp_path):
    first = create_run_dir(tmp_path, "same")
    second = create_run_dir(tmp_path, "same")
    assert first != second and first.parent == second.parent
    assert second.name.startswith(first.name)


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


def test_json_is_standard_json_with_nan_written_as_null(tmp_path):
    write_json(tmp_path / "history.json", {"loss": [0.5, math.nan, math.inf]})
    text = (tmp_path / "history.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": [0.5, None, None]}


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


def test_a_fifo_or_huge_file_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    with pytest.raises(RunError, match="not a regular file"):
        read_json(fifo)
    big = tmp_path / "history.json"
    big.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(RunError, match="larger than 100 bytes"):
        read_json(big, largest=100)


@pytest.mark.parametrize(
    "name, content, message",
    [("classes.json", '{"a": 1}', "expected a JSON list of class names"),
     ("classes.json", "[1, 2]", "expected a JSON list of class names"),
     ("vocabulary.json", '{"tokens": "abc"}', "expected {\"tokens\""),
     ("vocabulary.json", '{"tokens": ["a"], "idf_weights": [1, 2]}', "expected {\"tokens\""),
     ("word_index.json", '{"the": "one"}', "mapping words to positive ranks"),
     ("history.json", '{"loss": [1, "x"]}', "per-epoch lists of numbers"),
     ("status.json", "[]", "expected a JSON object")],
)
def test_damaged_run_files_are_named_in_one_sentence(tmp_path, name, content, message):
    run = RunDir(make_run(tmp_path / "run"))
    (run.path / name).write_text(content)
    reader = {"classes.json": run.read_classes, "vocabulary.json": run.read_vocabulary,
              "word_index.json": run.read_word_index, "history.json": run.read_history,
              "status.json": run.read_status}[name]
    with pytest.raises(RunError, match=message) as caught:
        reader()
    assert str(run.path / name) in str(caught.value)


def test_vocabulary_and_word_index_round_trip(tmp_path):
    run = RunDir(make_run(tmp_path / "run"))
    vocabulary = TextVocabulary(("", "[UNK]", "film"), (1.0, 1.0, 0.5))
    run.write_vocabulary(vocabulary)
    assert run.read_vocabulary() == vocabulary
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
         f"with RunDir({str(run.path)!r}).training_lock():\n"
         "    print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match=f"being trained by process {holder.pid} right now"):
            with run.training_lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    # The kernel releases a killed holder's lock: the run is free again.
    with run.training_lock():
        assert (run.path / ".lock").read_text() == str(os.getpid())


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(RunError, match="is not a dlcourse run directory"):
        RunDir(tmp_path).require()


def test_report_of_a_damaged_run_leaves_out_what_it_cannot_read(tmp_path):
    run = RunDir(make_run(tmp_path / "run", status="interrupted"))
    (run.path / "metrics.json").write_text("{broken")
    write_text(run.path / "history.json", '{"loss": [0.5]}')
    page = run.refresh_report().read_text()
    assert "interrupted" in page and "did not finish" in page and "<td>0.5000</td>" in page
