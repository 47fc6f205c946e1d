"""The checks commands make before TensorFlow starts: told at once, and TensorFlow never
imported for a mistake it isn't needed to see."""

import re
import zipfile

import pytest
import yaml

from dlcourse.data.files import fingerprint
from dlcourse.errors import RunError
from dlcourse.preflight import finished_run, resumable_config, resumable_run, writable_output

from helpers import ROOT, run_with_config, without_tensorflow

MNIST = ROOT / "configs" / "mnist_cnn.yaml"


def test_a_folder_that_can_be_made_passes_and_nothing_is_created(tmp_path):
    writable_output(tmp_path / "not" / "yet", "mnist_cnn")
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_told_with_the_runs_folder(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(RunError, match=r"Can't write runs to .*a-file/runs/mnist_cnn \(Not a "
                                       r"directory\)\. Choose another place with --output-dir"):
        writable_output(tmp_path / "a-file" / "runs", "mnist_cnn")


def test_runs_are_not_written_inside_a_run(tmp_path):
    """A run or a search written into another run was among its files, and `runs` and
    `compare` never listed it."""
    from dlcourse.config import load_config
    from dlcourse.rundir import create_run_dir

    (tmp_path / "runs" / "mnist_cnn").mkdir(parents=True)
    run = run_with_config(tmp_path / "runs" / "mnist_cnn" / "1", load_config(MNIST))
    run.write_status({"status": "finished"})
    for output in (run.path, run.path / "more"):
        with pytest.raises(RunError, match=re.escape(
                f"{output}: that is inside the run directory {run.path}, whose files are its own")):
            writable_output(output, "mnist_cnn")
        with pytest.raises(RunError, match="inside the run directory"):
            create_run_dir(output, "imdb_lstm_tune-tune")  # as tune makes its directory
    assert sorted(path.name for path in run.path.iterdir()) == ["config.yaml", "status.json"]
    writable_output(tmp_path / "runs", "mnist_cnn")  # beside it: fine


def stopped_run(tmp_path, status: str):
    from dlcourse.config import load_config

    run = run_with_config(tmp_path / "run", load_config(MNIST))
    run.write_status({"status": status})
    return run


@pytest.mark.parametrize(("status", "message"), [
    ("finished", "has already finished; there is nothing to resume"),
    ("diverged", "diverged; resuming it would diverge again"),
    ("exploded", "status.json says 'exploded', which is not a state"),
])
def test_a_run_that_cannot_be_resumed_says_why(tmp_path, status, message):
    with pytest.raises(RunError, match=message):
        resumable_config(stopped_run(tmp_path, status))


def test_a_stopped_run_is_resumable_with_its_own_config_only(tmp_path):
    from dlcourse.config import load_config

    run = stopped_run(tmp_path, "interrupted")
    assert resumable_config(run) == load_config(MNIST)
    with pytest.raises(RunError, match=r"different config \(fit.epochs: 5 in the run, 3 here\)"):
        resumable_config(run, load_config(MNIST, {"fit.epochs": 3}))


def test_a_run_without_a_model_or_with_a_broken_one_is_told(tmp_path):
    run = stopped_run(tmp_path, "interrupted")
    (run.path / ".partial-history.json.x1").write_text("{")
    # A stopped run was "did not finish (see its status.json)": not how to go on.
    with pytest.raises(RunError, match=re.escape(
            f"{run.path} has no model.keras: the run was stopped; `dlcourse train --resume "
            f"{run.path}` finishes it, from its last finished epoch.")):
        finished_run(run.path)
    assert not list(run.path.glob(".partial*"))  # what a killed process left goes, as before
    run.write_status({"status": "interrupted", "epochs_completed": 1})
    with pytest.raises(RunError, match="the run was stopped after 1 epoch; `dlcourse train"):
        finished_run(run.path)
    run.write_status({"status": "failed", "epochs_completed": 2})
    with pytest.raises(RunError, match=re.escape(
            f"has no model.keras: the run failed after 2 epochs; `dlcourse train --resume "
            f"{run.path}` finishes it")):
        finished_run(run.path)
    run.write_status({"status": "running"})  # killed: no process holds it
    with pytest.raises(RunError, match=re.escape(
            "the run was killed (its status.json still says running); `dlcourse train")):
        finished_run(run.path)
    run.write_status({"status": "diverged", "epochs_completed": 2})
    with pytest.raises(RunError, match=re.escape(
            "the run did not finish (diverged after 2 epochs; see its status.json).")):
        finished_run(run.path)
    # Finished, its model deleted since: "did not finish (finished ...)" contradicted itself.
    run.write_status({"status": "finished", "epochs_completed": 5})
    with pytest.raises(RunError, match=re.escape(
            "has no model.keras: the run finished after 5 epochs, but its model.keras has been "
            "deleted or moved since")):
        finished_run(run.path)
    run.model_path.mkdir()  # a folder in its place is no deleted file
    with pytest.raises(RunError, match="the run finished after 5 epochs, but its model.keras is "
                                       "no file now"):
        finished_run(run.path)
    run.model_path.rmdir()
    # Trained on data from Python, which --resume can't read again.
    (run.path / "data.json").write_text('{"kind": "memory", "source": null}')
    run.write_status({"status": "interrupted"})
    with pytest.raises(RunError, match=re.escape(
            f"the run was stopped; dlcourse.resume({str(run.path)!r}, train=(x_train, "
            "y_train), test=(x_test, y_test)) finishes it")):
        finished_run(run.path)
    (run.path / "data.json").unlink()
    run.write_status({"status": "interrupted"})
    with run.training_lock():  # another process training it is what it is told
        with pytest.raises(RunError, match="is being trained by process"):
            finished_run(run.path)
    run.model_path.write_bytes(b"not a zip")
    with pytest.raises(RunError, match="model.keras: can't load this model"):
        finished_run(run.path)
    with zipfile.ZipFile(run.model_path, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(RunError, match="not a Keras model file"):
        finished_run(run.path)


def test_mistakes_are_told_without_importing_tensorflow(tmp_path):
    """Each command's mistake that needs no model is its one-paragraph error, with exit 2,
    in a process that never imported TensorFlow (it takes seconds)."""
    bad = yaml.safe_load(MNIST.read_text())
    bad["fit"]["epochs"] = "many"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "a-file").write_text("not a folder")
    finished = stopped_run(tmp_path, "finished").path
    without_tensorflow([(arguments, 2, message) for arguments, message in [
        (["train", tmp_path / "bad.yaml"], "fit.epochs"),
        (["train", ROOT / "configs" / "imdb_lstm_tune.yaml"], "dlcourse tune"),
        *(([command, tmp_path / "bad.yaml"], "fit.epochs") for command in ("tune", "summary")),
        (["train", MNIST, "--output-dir", tmp_path / "a-file" / "runs"], "Can't write runs to"),
        (["train", "--resume", finished], "has already finished"),
        (["train", "--resume", tmp_path / "nothing"], "nothing: no such run directory; `dlcourse runs`"),
        *(([command, tmp_path], "is not a dlcourse run directory")
          for command in ("evaluate", "explain", "export", "serve")),
        (["predict", finished, "a review"], "has no model.keras"),
        (["evaluate", "--output-dir", tmp_path / "none"], "No finished runs under"),
    ]])


def test_mistakes_of_a_finished_run_are_told_without_importing_tensorflow(tmp_path):
    """A finished text run (its model file an archive that passes the preflight): what
    predict reads, a damaged config, an export over the run itself, a config with nothing
    to tune, and the run's data gone were told only after TensorFlow's start."""
    from dlcourse.config import load_config

    run = run_with_config(tmp_path / "run", load_config(ROOT / "configs" / "imdb_lstm.yaml"))
    run.write_status({"status": "finished"})
    with zipfile.ZipFile(run.model_path, "w") as archive:
        archive.writestr("config.json", "{}")
    gone = tmp_path / "gone" / "imdb.npz"
    run.write_data_record({"data_dir": str(gone.parent), "source": str(gone),
                           "files": {str(gone): [1, 17_309_985, 1]}})
    (tmp_path / "latin1.txt").write_bytes("a caf\xe9 review".encode("latin-1"))
    (tmp_path / "latin1.json").write_text('{"notes": "mine, beside latin1.png"}')
    (tmp_path / "mnist.npz").write_bytes(b"found, never read: each mistake comes first")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("status.json", "model.keras"):
        (damaged / name).write_bytes((run.path / name).read_bytes())
    (damaged / "config.yaml").write_text((run.path / "config.yaml").read_text()[:150])
    digits = run_with_config(tmp_path / "digits", load_config(MNIST))
    digits.write_status({"status": "finished"})
    digits.model_path.write_bytes(run.model_path.read_bytes())
    (tmp_path / "empty.png").write_bytes(b"")
    without_tensorflow([(arguments, 2, message) for arguments, message in [
        (["predict", run.path, tmp_path / "missing.txt"], "missing.txt: no such file"),
        (["predict", run.path, "a review", " "], "Input 2 is an empty text"),
        (["predict", digits.path, tmp_path / "empty.png"], "empty.png: not an image this model "
         "can take (no image format recognised)"),
        (["predict", digits.path, "some text"], "some text: no such image file"),
        (["predict", run.path, tmp_path / "latin1.txt"], "latin1.txt: not UTF-8 text"),
        (["evaluate", damaged], "config.yaml"),
        (["export", run.path, "--output", run.path], "that folder holds the run"),
        # An OSError's traceback once the export was computed.
        (["export", run.path, "--output", tmp_path / "latin1.txt" / "export"],
         f"Can't write the export to {tmp_path / 'latin1.txt' / 'export'} ({tmp_path / 'latin1.txt'} is a file, not a folder)"),
        (["export", run.path, "--output", "/proc/export"], "Can't write the export to /proc/export"),
        # lr-find: a format matplotlib can't draw failed after the whole test, and a name
        # in a run replaced its metrics.json with the curve.
        (["lr-find", MNIST, "--data-dir", tmp_path, "--output", tmp_path / "curve.txt"], "can't draw a .txt file"),
        (["lr-find", MNIST, "--data-dir", tmp_path, "--output", run.path / "metrics.png"], "inside the run directory"),
        (["lr-find", MNIST, "--data-dir", tmp_path, "--output", tmp_path / "latin1.png"], "is not an earlier curve"),
        (["tune", MNIST], "searches no values, so there is nothing to tune"),
        # "not a regular file", of a run directory given as the config.
        (["train", run.path], f"is a run directory, not a config: repeat the run with "
                              f"`dlcourse train {run.path / 'config.yaml'}`"),
        *(([command, run.path], f"was trained on {gone}, which is no longer there")
          for command in ("evaluate", "explain", "export")),
        (["evaluate", run.path, "--data-dir", tmp_path], f"{tmp_path} holds no imdb.npz"),
    ]])


def test_a_refused_resume_still_removes_what_a_killed_process_half_wrote(tmp_path):
    # Killed while writing the report of a finished run: the refusal cleans as resume does.
    run = stopped_run(tmp_path, "finished")
    (run.path / ".partial-report.html.x1").write_text("<html")
    with pytest.raises(RunError, match="has already finished"):
        resumable_run(run.path)
    assert not list(run.path.glob(".partial*"))


def test_data_dir_given_to_a_finished_run_must_hold_the_data_itself(tmp_path, monkeypatch):
    """`evaluate RUN --data-dir DIR` points at other data. When DIR lacked it, the data was
    read from the current directory, DLCOURSE_DATA_DIR or Keras's cache: the training copy,
    its score reported as DIR's."""
    from dlcourse.config import load_config
    from dlcourse.config.loading import validate
    from dlcourse.errors import DataError
    from dlcourse.preflight import findable_data

    here, other = tmp_path / "here", tmp_path / "other"
    for folder in (here, other):
        folder.mkdir()
    (here / "test.csv").write_text("text,label\nfine,pos\n")
    (other / "train.csv").write_text("text,label\nfine,pos\n")
    raw = yaml.safe_load((ROOT / "configs" / "imdb_fasttext.yaml").read_text())
    raw["data"].update(dataset="raw_text", format="csv", train="train.csv", test="test.csv")
    raw["name"] = "own_text"
    text_run = run_with_config(tmp_path / "text_run", validate(raw))
    monkeypatch.chdir(here)
    with pytest.raises(DataError, match=re.escape(
            f"{other} holds nothing matching data.test (test.csv); it was found elsewhere")):
        findable_data(text_run, other, "evaluate")
    (other / "test.csv").write_text("text,label\nfine,pos\n")
    assert findable_data(text_run, other, "evaluate") == other

    mnist_run = run_with_config(tmp_path / "mnist_run", load_config(ROOT / "configs" / "mnist_cnn.yaml"))
    (here / "mnist.npz").write_bytes(b"found through DLCOURSE_DATA_DIR")
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(here))
    with pytest.raises(DataError, match=re.escape(f"{other} holds no mnist.npz")):
        findable_data(mnist_run, other, "evaluate")
    assert findable_data(mnist_run, here, "evaluate") == here


def test_a_runs_config_trained_again_reads_the_data_the_run_recorded(tmp_path, monkeypatch,
                                                                     capsys):
    """`train RUN/config.yaml` from elsewhere: a relative data.dir (or none, with
    --data-dir given to training) named another folder there, or Keras's cache."""
    from dlcourse.config import load_config
    from dlcourse.preflight import repeated_data_dir

    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    (data / "mnist.npz").write_bytes(b"the run's data")
    monkeypatch.delenv("DLCOURSE_DATA_DIR", raising=False)
    for named in (None, "data"):
        config = load_config(MNIST, {"data.dir": named})
        run = run_with_config(tmp_path / f"run-{named}", config)
        run.write_status({"status": "finished"})
        run.write_data_record({"data_dir": str(data), "source": str(data / "mnist.npz"),
                               "files": {str(data / "mnist.npz"): fingerprint(data / "mnist.npz")}})
        monkeypatch.chdir(tmp_path)  # not where training ran: ./data is not there
        assert repeated_data_dir(run.config_path, config, None) == str(data)
        assert repeated_data_dir(run.config_path, config, "given") == "given"
        # A config that is no run's, or an absolute data.dir, keeps the usual order.
        (tmp_path / "mine.yaml").write_text(run.config_path.read_text())
        assert repeated_data_dir(tmp_path / "mine.yaml", config, None) is None
    absolute = load_config(MNIST, {"data.dir": str(tmp_path)})
    assert repeated_data_dir(run.config_path, absolute, None) is None
    # DLCOURSE_DATA_DIR reaches the CLI as --data-dir: the run's own data still comes first.
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(tmp_path))
    assert repeated_data_dir(run.config_path, config, str(tmp_path)) == str(data)
    (tmp_path / "link.yaml").symlink_to(run.config_path)
    assert repeated_data_dir(tmp_path / "link.yaml", config, None) == str(data)
    monkeypatch.delenv("DLCOURSE_DATA_DIR")
    # A new run measures what it trains on: changed data is no reason to look elsewhere,
    # but a folder gone is (Keras's cache, a download, or the usual "can't find").
    (data / "mnist.npz").write_bytes(b"other data, another size")
    assert repeated_data_dir(run.config_path, config, None) == str(data)
    (data / "mnist.npz").unlink()
    data.rmdir()
    assert repeated_data_dir(run.config_path, config, None) is None
    assert f"trained on data in {data}, which is no longer there" in capsys.readouterr().err
    # Trained on arrays from Python: its config's dataset is not what it learnt from.
    run.write_data_record({"kind": "memory", "data_dir": None, "source": None})
    with pytest.raises(RunError, match=r"data given from Python, .* train=\.\.\., test=\.\.\."):
        repeated_data_dir(run.config_path, config, None)


def test_data_named_by_an_absolute_path_and_moved_is_told_what_helps(tmp_path):
    """--data-dir can't move an absolute data.path: the advice to pass one went in a
    circle ("No image folder matches /photos (looked in: /)")."""
    from dlcourse.config.loading import validate
    from dlcourse.errors import DataError
    from dlcourse.preflight import findable_data

    from helpers import write_image_folder

    photos = write_image_folder(tmp_path / "photos", classes=2, per_class=2, size=8)
    run = run_with_config(tmp_path / "run", validate({
        "name": "own", "data": {"dataset": "image_folder", "path": str(photos),
                                "image_size": [8, 8]},
        "model": {"layers": ["Flatten", {"Dense": {"units": 2, "activation": "softmax"}}]},
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
        "fit": {"epochs": 1}}))
    run.write_data_record({"data_dir": None, "source": str(photos),
                           "files": {str(photos): fingerprint(photos)}})
    photos.rename(tmp_path / "moved")
    with pytest.raises(RunError, match=re.escape(
            f"names it by the absolute path data.path ({photos}), which --data-dir can't "
            "change: put the data back there")):
        findable_data(run, None, "evaluate")
    with pytest.raises(DataError, match=re.escape(f"data.path is the absolute path {photos}")):
        findable_data(run, tmp_path / "moved", "evaluate")
    # Changed where it is: the advice names the folder that holds it, which --data-dir
    # takes (it told to pass --data-dir, which then told to leave it out).
    (tmp_path / "moved").rename(photos)
    (photos / "class_000" / "new.png").write_bytes((photos / "class_000" / "0.png").read_bytes())
    with pytest.raises(RunError, match=re.escape(
            f"{photos} has changed since {run.path} was trained on it (its files, sizes or dates "
            f"differ), so it may no longer be the data the run was trained and measured on. Pass "
            f"--data-dir {tmp_path} to use it anyway.")):
        findable_data(run, None, "evaluate")
    assert findable_data(run, tmp_path, "evaluate") == tmp_path
    # Another file gone, one the config names relatively: --data-dir is the way.
    run.write_data_record({"data_dir": str(tmp_path), "source": str(photos),
                           "files": {str(tmp_path / "gone.png"): [1, 1, 1]}})
    with pytest.raises(RunError, match="Pass --data-dir DIR"):
        findable_data(run, None, "evaluate")


def test_commands_that_read_the_test_split_alone_need_no_training_file(tmp_path):
    """evaluate, explain and export read raw text's test file alone, but refused a run
    whose training file had moved away; resume, which trains, still needs it."""
    from dlcourse.config.loading import validate
    from dlcourse.preflight import findable_data, recorded_data_dir

    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "test"):
        (data / f"{split}.csv").write_text("text,label\na good film,1\na bad film,0\n")
    run = run_with_config(tmp_path / "run", validate({
        "name": "own", "data": {"dataset": "raw_text", "format": "csv", "train": "train.csv",
                                "test": "test.csv",
                                "vectorize": {"max_tokens": 10, "output_mode": "multi_hot"}},
        "model": {"layers": [{"Dense": {"units": 1, "activation": "sigmoid"}}]},
        "compile": {"optimizer": "adam", "loss": "binary_crossentropy"},
        "fit": {"epochs": 1}}))
    run.write_data_record({"data_dir": str(data), "source": str(data), "files": {
        str(data / name): fingerprint(data / name) for name in ("train.csv", "test.csv")}})
    (data / "train.csv").rename(tmp_path / "train.csv")
    assert findable_data(run, None, "evaluate") == str(data)
    with pytest.raises(RunError, match=re.escape(f"trained on {data / 'train.csv'}, which is "
                                                 "no longer there")):
        recorded_data_dir(run, None)  # as resume asks
    (data / "test.csv").write_text("text,label\nanother film,1\n")
    with pytest.raises(RunError, match=re.escape(f"{data / 'test.csv'} has changed since")):
        findable_data(run, None, "evaluate")
    # A test file data.train's glob matches too, named literally as the loader takes it:
    # it was taken for a training file, and its changes went unchecked.
    held = data / "held"
    held.mkdir()
    (held / "test[1].csv").write_text("text,label\na good film,1\n")
    run.write_config(validate({**yaml.safe_load(run.config_path.read_text()), "data": {
        **yaml.safe_load(run.config_path.read_text())["data"],
        "train": "*.csv", "test": "held/test[1].csv"}}))
    run.write_data_record({"data_dir": str(data), "source": str(data), "files": {
        str(held / "test[1].csv"): fingerprint(held / "test[1].csv")}})
    (held / "test[1].csv").write_text("text,label\na changed film,0\n")
    with pytest.raises(RunError, match=re.escape("test[1].csv has changed since")):
        findable_data(run, None, "evaluate")
