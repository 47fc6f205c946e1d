"""The Python API as a notebook uses it: shipped configs by name, your own arrays in,
predictions and evaluation out, and the same one-paragraph refusals as the CLI."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

import dlcourse
from dlcourse.config import load_search_config
from dlcourse.errors import ConfigError, DataError, DlcourseError, ModelDataMismatch, RunError
from helpers import ROOT, invoke, one_paragraph

# Three classes of 8x8 "images" a tiny convnet tells apart: bright left, middle or right.
TINY_IMAGES = {
    "model.layers": [
        {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
        {"Flatten": {}},
        {"Dense": {"units": 3, "activation": "softmax"}},
    ],
    "fit.epochs": 4, "fit.batch_size": 8,
}


def three_stripes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    images = rng.integers(0, 40, (count, 8, 8), dtype=np.uint8)
    for image, label in zip(images, labels):
        image[:, label * 3:label * 3 + 2] = 255
    return images, labels


@pytest.fixture(scope="module")
def stripes_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("stripes")
    result = dlcourse.train("mnist_cnn", TINY_IMAGES, train=three_stripes(96, 0),
                            test=three_stripes(48, 1), class_names=["left", "middle", "right"],
                            output_dir=output)
    return result


def test_the_api_is_what_dir_lists():
    assert sorted(dir(dlcourse)) == sorted([
        "__version__", "configs", "evaluate", "export", "load_config", "lr_find", "predict",
        "resume", "resume_tuning", "train", "tune",
    ])


def test_configs_lists_every_shipped_config_and_each_loads_by_name():
    shipped = dlcourse.configs()
    names = {config["name"] for config in shipped}
    assert {"mnist_cnn", "imdb_lstm", "imdb_simplernn", "imdb_gru"} <= names
    for config in shipped:
        assert config["title"], config
    # By name, from a directory without configs/ (the test's temp dir): the shipped file.
    assert dlcourse.load_config("imdb_lstm").model.layers[1].name == "LSTM"
    assert dlcourse.load_config("configs/mnist_cnn.yaml", {"fit.epochs": 1}).fit.epochs == 1


def test_a_bare_name_is_the_shipped_config_beside_a_folder_of_that_name(tmp_path):
    # Inside runs/, mnist_cnn/ is the folder of that config's runs, not a config.
    (tmp_path / "mnist_cnn" / "20261206-101010").mkdir(parents=True)
    assert dlcourse.load_config("mnist_cnn").model.layers[0].name == "Conv2D"
    result = invoke("validate", "mnist_cnn")
    assert result.exit_code == 0 and "not a regular file" not in result.output, result.output


def test_a_dict_of_sections_is_a_config_as_a_file_is():
    """In a notebook a config is naturally a dict: it was a TypeError about paths."""
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "imdb_lstm.yaml").read_text())
    config = dlcourse.load_config(raw, {"fit.epochs": 2})
    assert config.name == "config" and config.fit.epochs == 2 and raw["fit"]["epochs"] == 10
    assert dlcourse.load_config({**raw, "name": "mine"}, smoke=True).data.limit == 256
    with pytest.raises(ConfigError, match=re.escape("<config dict>: model.layers[1].LSTM.unit: unknown argument of LSTM (did you mean 'units'?)")):
        dlcourse.load_config(raw, {"model.layers[1].LSTM": {"unit": 3}})
    with pytest.raises(ConfigError, match="a YAML file's path, a shipped config's name or a dict"):
        dlcourse.load_config(42)
    # NumPy's numbers are numbers; a value that is no data is named, not a TypeError.
    assert dlcourse.load_config(raw, {"fit.epochs": np.int64(3)}).fit.epochs == 3
    raw["fit"]["epochs"] = np.int64(4)
    assert dlcourse.load_config(raw).fit.epochs == 4
    raw["fit"]["epochs"] = re
    with pytest.raises(ConfigError, match=re.escape("<config dict>: fit.epochs is of type module; a config holds")):
        dlcourse.load_config(raw)


def test_python_overrides_are_named_as_python_gave_them_and_checked_as_data():
    """They spoke of --set, which a notebook has none of; a set or an array was a YAML
    RepresenterError, a dict or list holding itself a RecursionError, and a tuple of
    choices was refused as no list."""
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "imdb_lstm.yaml").read_text())
    file = ROOT / "configs" / "imdb_lstm.yaml"
    loop = []
    loop.append(loop)
    cases = [
        ({"fit.epochs": 0}, "fit.epochs: expected a value > 0, got 0 (from overrides['fit.epochs'] = 0)"),
        ({"fit.epoch": 1}, "overrides['fit.epoch']: the key 'fit.epoch' does not exist"),
        ({1: 3}, "overrides[1]: a key is a dotted text such as 'fit.epochs'"),
        ({"fit.epochs": {3}}, "overrides['fit.epochs'] is of type set; a config holds"),
        ({"fit.epochs": np.array([3])}, "overrides['fit.epochs'] is of type ndarray"),
        ({"fit.epochs": loop}, "overrides['fit.epochs'][0] is a dict or list that it is already inside of"),
    ]
    for overrides, says in cases:
        with pytest.raises(ConfigError, match=re.escape(says)):
            dlcourse.load_config(file, overrides)
    raw["model"]["itself"] = raw
    with pytest.raises(ConfigError, match=re.escape("<config dict>: model.itself is a dict or list that it")):
        dlcourse.load_config(raw)
    # A str Enum or an int subclass arrives as the plain value YAML can write.
    import enum

    class Loss(str, enum.Enum):
        BINARY = "binary_crossentropy"

    class Epochs(int):
        pass

    config = dlcourse.load_config(file, {"compile.loss": Loss.BINARY, "fit.epochs": Epochs(2)})
    assert type(config.compile.loss) is str and type(config.fit.epochs) is int
    search = load_search_config(ROOT / "configs" / "imdb_lstm_tune.yaml",
                                {"fit.batch_size": {"tune": "choice", "values": (32, 64)}})
    assert search.expressions[-1].values == (32, 64)


def test_a_run_that_is_no_path_is_one_sentence():
    """resume(5) and evaluate(3) were bare TypeErrors about os.PathLike; smoke="no" was
    taken for a smoke run."""
    for call in (dlcourse.resume, dlcourse.evaluate, dlcourse.export):
        with pytest.raises(RunError, match="A run is its directory's path or what train"):
            call(5)
    # Nor None, where a run is needed (evaluate's None is the latest run): pathlib's
    # TypeError, like those of output folders that are no path, named no argument.
    for call in (dlcourse.resume, dlcourse.export, lambda run: dlcourse.predict(run, ["a"])):
        with pytest.raises(RunError, match="A run is its directory's path or what train"):
            call(None)
    for call, says in (
            (lambda: dlcourse.evaluate(output_dir=5), "output_dir=5: expected a folder's path"),
            (lambda: dlcourse.train("mnist_cnn", output_dir=5), "output_dir=5: expected a"),
            (lambda: dlcourse.tune("imdb_lstm_tune", output_dir=[1]), "output_dir=[1]: expect"),
            # Shown as Python writes them: None was quoted, as if the string 'None'.
            (lambda: dlcourse.resume_tuning(None), "tune_dir=None: expected a tuning direc"),
            (lambda: dlcourse.train("mnist_cnn", smoke="no"), "smoke='no': expected True or")):
        with pytest.raises(DlcourseError, match=re.escape(says)):
            call()
    # Any os.PathLike is a path, as data_dir takes it (pytest's tmpdir, PurePosixPath).
    from pathlib import PurePosixPath

    with pytest.raises(RunError) as none_there:
        dlcourse.evaluate(output_dir=PurePosixPath("/nonexistent-runs"))
    assert "expected a folder's path" not in str(none_there.value)


def test_class_names_without_data_from_python_is_refused(tmp_path):
    """They name train=/test= data's classes; with a config's own data they were ignored."""
    with pytest.raises(TypeError, match=re.escape(
            "class_names names the classes of data given with train= and test=")):
        dlcourse.train("mnist_cnn", {"fit.epochs": 1}, class_names=["a", "b"], output_dir=tmp_path)
    # A regression's targets are numbers: the names were taken and ignored.
    with pytest.raises(TypeError, match=re.escape(
            "class_names names classes, but imdb_rating_regression is a regression (its loss "
            "is mean_squared_error)")):
        dlcourse.train("imdb_rating_regression", {"fit.epochs": 1}, class_names=["a", "b"],
                       train=(["good", "bad"], [9.0, 2.0]), test=(["fine"], [7.0]),
                       output_dir=tmp_path)


@pytest.mark.parametrize(("names", "message"), [
    (["a", "a", "b"], "class_names= names 'a' twice; each class needs its own name."),
    (["a", " ", "b"], "class_names[1]: ' ' is not a name; each class needs a name of "
                      "printable characters."),
    (["a", "b\nc", "d"], "class_names[1]: 'b\\nc' is not a name"),
    ("abc", "class_names='abc': expected a list of names, one per class"),
    # Keys became the names (an id2label dict's 0, 1, 2); a set's order differs per process.
    ({0: "left", 1: "middle", 2: "right"}, "class_names= is a dict; give a list of names in "
                                           "class order"),
    ({"left", "middle", "right"}, "class_names= is a set; give a list"),
])
def test_class_names_from_python_are_checked_as_the_configs_are(tmp_path, names, message):
    """Two classes named alike trained, then predict called the run damaged; a blank name
    or a string for the list trained too."""
    with pytest.raises(DataError, match=re.escape(message)):
        dlcourse.train("mnist_cnn", TINY_IMAGES, train=three_stripes(24, 0),
                       test=three_stripes(12, 1), class_names=names, output_dir=tmp_path)
    assert not (tmp_path / "mnist_cnn-custom").exists()


def test_a_data_dir_given_from_python_must_be_a_folder_as_on_the_command_line(
        trained, tmp_path, monkeypatch):
    # It was searched, found empty, and the run trained on DLCOURSE_DATA_DIR's data unsaid.
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "dta"
    interrupted = trained.copy("mnist", tmp_path / "copies")
    status = json.loads((interrupted / "status.json").read_text())
    (interrupted / "status.json").write_text(json.dumps({**status, "status": "interrupted"}))
    calls = {
        "train": lambda: dlcourse.train("mnist_cnn", data_dir=missing),
        "tune": lambda: dlcourse.tune("imdb_lstm_tune", data_dir=missing, smoke=True),
        "lr_find": lambda: dlcourse.lr_find("mnist_cnn", data_dir=missing),
        "evaluate": lambda: dlcourse.evaluate(trained["mnist"], data_dir=missing),
        "resume": lambda: dlcourse.resume(interrupted, data_dir=missing),
    }
    for name, call in calls.items():
        with pytest.raises(DataError) as caught:
            call()
        assert str(caught.value) == f"data_dir={str(missing)!r}: no such folder.", name
    with pytest.raises(DataError, match=r"data_dir=123: expected a folder's path"):
        dlcourse.train("mnist_cnn", data_dir=123)
    assert not (tmp_path / "runs").exists()


def test_an_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="imdb_lstm"):
        dlcourse.load_config("imdb_lsmt")


@pytest.mark.slow
def test_own_arrays_train_with_their_class_names(stripes_run):
    assert stripes_run.run_dir.parent.name == "mnist_cnn-custom"
    assert stripes_run.metrics["test_samples"] == 48
    # Stripes are easy: two epochs learn them well above chance (1/3).
    assert stripes_run.metrics["test_accuracy"] > 0.6
    record = (stripes_run.run_dir / "data.json").read_text()
    assert '"memory"' in record
    # Not MNIST: its report set the stripes' accuracy beside MNIST's published 0.991.
    assert stripes_run.metrics["other_data"] == ["data given from Python"]
    report = (stripes_run.run_dir / "report.html").read_text()
    assert "run on other data (data given from Python): test accuracy" in report
    assert "is not comparable with the published 0.991" in report


@pytest.mark.slow
def test_predict_takes_one_image_or_a_batch(stripes_run):
    images, labels = three_stripes(12, 2)
    batch = dlcourse.predict(stripes_run, images)
    assert len(batch) == 12
    assert {record["label"] for record in batch} <= {"left", "middle", "right"}
    # The stripes the run learned: most of the new ones are told apart.
    names = ["left", "middle", "right"]
    assert sum(record["label"] == names[label] for record, label in zip(batch, labels)) >= 8
    one = dlcourse.predict(stripes_run.run_dir, images[0])
    assert one[0]["probabilities"] == pytest.approx(batch[0]["probabilities"], abs=1e-5)
    assert one[0]["probability"] == max(one[0]["probabilities"].values())
    with_channel = dlcourse.predict(stripes_run, images[..., np.newaxis])
    assert with_channel[3]["label"] == batch[3]["label"]
    # Trained from uint8 arrays, scaled to 0-1: pixels of 0-255 in another dtype are not.
    assert not any("warnings" in record for record in batch)
    unscaled = dlcourse.predict(stripes_run, images.astype("float32"))
    assert "pixels go up to 255" in unscaled[0]["warnings"][0]


@pytest.mark.slow
def test_predict_refuses_an_array_of_another_shape(stripes_run):
    # The shape as given, not with the channel axis predict adds to grayscale arrays.
    with pytest.raises(DataError, match=r"The array is \(2, 9, 9\), but the model takes \(N, 8, 8, 1\)"):
        dlcourse.predict(stripes_run, np.zeros((2, 9, 9), dtype=np.uint8))


@pytest.mark.slow
def test_predict_tells_a_review_given_to_an_image_run_what_the_run_reads(stripes_run):
    # It said only "A wonderful film: no such image file.", which the command line explains.
    with pytest.raises(DataError, match=r"A wonderful film: no such image file.* This run's "
                                        r"model reads pictures \(mnist\), not texts"):
        dlcourse.predict(stripes_run, "A wonderful film")


@pytest.mark.slow
def test_predict_reads_a_path_given_to_a_text_run_as_a_file_of_reviews(trained, tmp_path):
    # As `dlcourse predict RUN reviews.txt` does; the path itself was classified as a review.
    (tmp_path / "reviews.txt").write_text("a fine film\n\nboring\n")
    records = dlcourse.predict(trained["imdb_lstm"], tmp_path / "reviews.txt")
    assert [record["input"] for record in records] == ["a fine film", "boring"]
    assert dlcourse.predict(trained["imdb_lstm"], "reviews.txt")[0]["input"] == "reviews.txt"
    # From Python, nothing given is said without the command line's '-' for stdin.
    with pytest.raises(DataError, match=re.escape(
            "Nothing to predict: give texts, pictures or an array of inputs.")):
        dlcourse.predict(trained["imdb_lstm"], [])


@pytest.mark.slow
def test_evaluate_needs_the_test_arrays_again_and_reproduces_the_run(stripes_run):
    with pytest.raises(RunError, match=r"test=\(x_test, y_test\)"):
        dlcourse.evaluate(stripes_run)
    x, y = three_stripes(48, 1)
    with pytest.raises(DataError, match=r"test=\(x, y\): x is \(48, 9, 8, 1\), but .* takes "
                                        r"\(N, 8, 8, 1\): give arrays shaped"):
        dlcourse.evaluate(stripes_run, test=(np.pad(x, ((0, 0), (0, 1), (0, 0))), y))
    # Named as given: these said train=, an argument evaluate hasn't got.
    for test, says in (((x, y[:40]), "test=(x, y): 48 inputs but 40 targets"),
                       ([1, 2, 3], "test= must be (inputs, targets)"),
                       ((x, y.astype(float) + 0.5), "test=(x, y): the targets must be class indices"),
                       ((x, y + 3), "is not one of the 3 classes (0: 'left', 1: 'middle'")):
        with pytest.raises(DataError, match=re.escape(says)):
            dlcourse.evaluate(stripes_run, test=test)
    # uint8 trained, so pixels of 0-1; float ones of 0-255 were evaluated as they came.
    with pytest.raises(DataError, match=re.escape(
            "test=(x, y): the pixels go up to 255, but ")) as caught:
        dlcourse.evaluate(stripes_run, test=(x.astype("float32"), y))
    assert "model learned pixels scaled to 0-1: scale them as its training images" in str(caught.value)
    again = dlcourse.evaluate(stripes_run, test=(x, y))
    assert again["test_accuracy"] == pytest.approx(stripes_run.metrics["test_accuracy"], abs=1e-6)
    assert "<table" in again._repr_html_() and "test accuracy" in again._repr_html_()


@pytest.mark.slow
def test_export_checks_a_run_from_arrays_on_the_test_arrays_given_again(stripes_run, tmp_path):
    with pytest.raises(RunError, match=r"dlcourse.export\(.*test=\(x_test, y_test\)"):
        dlcourse.export(stripes_run, output=tmp_path / "sm")
    exported = dlcourse.export(stripes_run, output=tmp_path / "sm", test=three_stripes(48, 1))
    assert all(check.passed for check in exported.checks) and exported.checks[0].inputs == 48


@pytest.mark.slow
def test_a_result_shows_itself_in_a_notebook(stripes_run):
    html = stripes_run._repr_html_()
    assert "mnist_cnn-custom" in html and "data:image/png;base64," in html
    frame = stripes_run.history_frame()
    assert list(frame.index) == [1, 2, 3, 4] and "val_accuracy" in frame.columns
    assert frame["loss"].tolist() == stripes_run.history["loss"]


@pytest.mark.slow
def test_the_cli_refuses_a_python_data_run_in_one_paragraph(stripes_run):
    result = invoke("evaluate", stripes_run.run_dir)
    assert result.exit_code == 2
    assert one_paragraph(result) and "dlcourse.evaluate(" in result.output


@pytest.mark.slow
def test_arrays_that_do_not_fit_the_model_are_one_error(tmp_path):
    x, y = three_stripes(20, 0)
    with pytest.raises(DataError, match="3 inputs but 20 targets|inputs but"):
        dlcourse.train("mnist_cnn", TINY_IMAGES, train=(x[:3], y), test=(x, y),
                       output_dir=tmp_path)
    with pytest.raises(DataError, match="test="):
        dlcourse.train("mnist_cnn", TINY_IMAGES, train=(x, y), output_dir=tmp_path)
    # The shipped mnist_cnn ends in Dense(10): 3 named classes don't fit it.
    digits = np.zeros((20, 28, 28), dtype=np.uint8)
    with pytest.raises(ModelDataMismatch, match=r"layers\[7\].Dense.*set its units to 3"):
        dlcourse.train("mnist_cnn", {"fit.epochs": 1}, train=(digits, y), test=(digits, y),
                       class_names=["a", "b", "c"], output_dir=tmp_path)
    # Its pooling stack needs more than 8x8 pixels: Keras's reason, without its noise.
    with pytest.raises(ModelDataMismatch, match=r"MaxPooling2D can't take its input") as error:
        dlcourse.train("mnist_cnn", {"fit.epochs": 1}, train=(x, y), test=(x, y),
                       output_dir=tmp_path)
    assert "\x1b[" not in str(error.value) and "Arguments received" not in str(error.value)
    assert not (tmp_path / "mnist_cnn-custom").exists() or not any(
        (run / "model.keras").exists() for run in (tmp_path / "mnist_cnn-custom").iterdir()
    )


def test_a_run_name_is_checked_like_a_config_name(tmp_path):
    x, y = three_stripes(20, 0)
    with pytest.raises(ConfigError, match="name"):
        dlcourse.train("mnist_cnn", TINY_IMAGES, train=(x, y), test=(x, y), name="../up",
                       output_dir=tmp_path)


def test_a_ctrl_c_while_an_epoch_is_saved_leaves_status_and_history_agreeing(tmp_path,
                                                                             monkeypatch):
    from dlcourse.rundir import RunDir

    write_history, calls = RunDir.write_history, []

    def press_ctrl_c_as_the_second_epoch_is_saved(self, history):
        calls.append(len(history["loss"]))
        if len(calls) == 2:  # epoch 2 is in the recorder, not yet on disk
            raise KeyboardInterrupt
        write_history(self, history)

    monkeypatch.setattr(RunDir, "write_history", press_ctrl_c_as_the_second_epoch_is_saved)
    train, test = three_stripes(32, 0), three_stripes(16, 1)
    with pytest.raises(KeyboardInterrupt) as interrupt:
        dlcourse.train("mnist_cnn", TINY_IMAGES, train=train, test=test, output_dir=tmp_path)
    (run_dir,) = (tmp_path / "mnist_cnn-custom").iterdir()
    # Arrays from Python: the call to resume with gives them again (without, it was refused).
    assert (f"continue it with dlcourse.resume('{run_dir.absolute()}', train=(x_train, y_train), "
            "test=(x_test, y_test))") in str(interrupt.value)
    status = json.loads((run_dir / "status.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert status["status"] == "interrupted"
    assert status["epochs_completed"] == len(history["loss"]) == 2


@pytest.mark.slow
def test_a_stopped_python_data_run_resumes_with_the_same_arrays(tmp_path, monkeypatch):
    from dlcourse.callbacks import EpochRecorder

    record_epoch = EpochRecorder.on_epoch_begin

    def press_ctrl_c_at_the_third_epoch(self, epoch, logs=None):
        record_epoch(self, epoch, logs)
        if epoch == 2:
            raise KeyboardInterrupt

    train, test = three_stripes(64, 0), three_stripes(32, 1)
    with monkeypatch.context() as patch:
        patch.setattr(EpochRecorder, "on_epoch_begin", press_ctrl_c_at_the_third_epoch)
        with pytest.raises(KeyboardInterrupt):
            dlcourse.train("mnist_cnn", TINY_IMAGES, train=train, test=test, output_dir=tmp_path)
    (run_dir,) = (tmp_path / "mnist_cnn-custom").iterdir()
    with pytest.raises(RunError, match=r"train=\(x_train, y_train\), test=\(x_test, y_test\)"):
        dlcourse.resume(run_dir)
    # Other training arrays were learned from too, silently.
    other = three_stripes(64, 5)
    with pytest.raises(DataError, match=re.escape(
            f"train=(x, y): these are not the arrays {run_dir} was trained on so far")):
        dlcourse.resume(run_dir, train=other, test=test)
    resumed = dlcourse.resume(run_dir, train=train, test=test)
    assert len(resumed.history["loss"]) == 4 and resumed.metrics["test_samples"] == 32


def test_a_tf_data_split_is_read_within_bounds(monkeypatch):
    """A .repeat()ed dataset was read forever, memory growing (3 GB in 30 s)."""
    import tensorflow as tf

    from dlcourse.config import DataConfig
    from dlcourse.data import memory

    x, y = three_stripes(40, 0)
    config = DataConfig(dataset="mnist")
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    assert memory.dataset_from_memory(config, batched, (x, y)).x_train.shape[0] == 40
    with pytest.raises(DataError, match=re.escape("train=: the tf.data.Dataset repeats forever")):
        memory.dataset_from_memory(config, batched.repeat(), (x, y))
    monkeypatch.setattr(memory, "LARGEST_SPLIT", 30)  # unknown length: read up to the bound
    unknown = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda image, label: True)
    with pytest.raises(DataError, match="gives more than 30 examples"):
        memory.dataset_from_memory(config, unknown, (x[:20], y[:20]))


@pytest.mark.slow
def test_a_dict_configs_result_still_finds_its_run_after_the_notebook_changes_directory(
        data_dir, tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    # A notebook's config: a dict of the file's sections.
    raw = yaml.safe_load((ROOT / "configs" / "mnist_cnn.yaml").read_text())
    result = dlcourse.train(raw, {"fit.epochs": 1, "data.limit": 32}, data_dir=data_dir,
                            output_dir="runs")  # relative, as a notebook's default is
    assert result.run_dir.is_absolute() and result.run_dir.parent == tmp_path / "runs" / "config"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert "test_accuracy" in dlcourse.evaluate(result)
    # A copy elsewhere is named by its config, not its new folder, and held absolute.
    copy = shutil.copytree(result.run_dir, tmp_path / "elsewhere" / "copy_r2")
    again = dlcourse.evaluate("copy_r2", data_dir=data_dir)
    assert again.run_dir == copy and repr(again).startswith(f"<EvaluationResult config in {copy}")


@pytest.mark.slow
def test_own_word_indices_predict_as_arrays_and_say_whose_words_text_is_mapped_with(
        tmp_path, monkeypatch, capsys):
    """Without IMDB's word index beside them (offline), predict refused even the arrays;
    with it, raw text was mapped with IMDB's ranks onto one's own token ids, unsaid."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 50, (32, 40)), np.arange(32) % 2
    tiny = {"fit.epochs": 1, "data.maxlen": 40, "data.num_words": 50,
            "model.layers[0].Embedding.input_dim": 50}
    result = dlcourse.train("imdb_lstm", tiny, train=(x, y), test=(x, y),
                            output_dir=tmp_path / "offline")
    assert ("Warning: predict takes padded word indices (from Python) on this run, but not "
            "raw text: ") in capsys.readouterr().err
    assert len(dlcourse.predict(result, x[:2])) == 2
    with pytest.raises(RunError, match="has no word_index.json"):
        dlcourse.predict(result, ["a fine film"])
    keras_home = tmp_path / "keras_home"
    (keras_home / "datasets").mkdir(parents=True)
    (keras_home / "datasets" / "imdb_word_index.json").write_text('{"fine": 1, "film": 2}')
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    dlcourse.train("imdb_lstm", tiny, train=(x, y), test=(x, y), output_dir=tmp_path / "online")
    assert ("Note: `dlcourse predict` maps raw text to words with IMDB's word index "
            "(imdb_word_index.json): right only if your arrays hold IMDB's word ranks") \
        in capsys.readouterr().err


@pytest.mark.slow
def test_pictures_are_read_as_the_runs_own_images_were_light_or_dark(tmp_path):
    """An MNIST config trained on one's own dark-on-light scans read a picture file as
    MNIST's digits were made (inverted, cut out, centred): the same pixels as a file and
    as an array got other answers."""
    from PIL import Image

    (x, y), (x_test, y_test) = three_stripes(96, 0), three_stripes(48, 1)
    result = dlcourse.train("mnist_cnn", TINY_IMAGES, train=(255 - x, y),
                            test=(255 - x_test, y_test), output_dir=tmp_path)
    record = json.loads((result.run_dir / "data.json").read_text())
    assert record["dark_background"] is False
    paths = []
    for index in range(4):
        paths.append(tmp_path / f"scan{index}.png")
        Image.fromarray(255 - x_test[index]).save(paths[-1])
    from_files = dlcourse.predict(result, [str(path) for path in paths])
    from_arrays = dlcourse.predict(result, 255 - x_test[:4])
    assert [p["probabilities"] for p in from_files] == [
        pytest.approx(p["probabilities"], abs=1e-5) for p in from_arrays]


@pytest.mark.slow
def test_evaluate_holds_pixels_to_the_scale_training_held_its_splits_to(tmp_path):
    """Floats up to 1.3 trained beside a test split within 0-1 (training refuses only past
    2); evaluating that same test split was then refused as another scale."""
    (x, y), (x_test, y_test) = three_stripes(48, 0), three_stripes(24, 1)
    train, test = (x / 255 * 1.3, y), (x_test / 255, y_test)
    result = dlcourse.train("mnist_cnn", {**TINY_IMAGES, "fit.epochs": 1}, train=train,
                            test=test, output_dir=tmp_path)
    again = dlcourse.evaluate(result, test=test)
    assert again["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)
