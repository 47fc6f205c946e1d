import gzip
import json
import os
import re
import io
import pickle
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from dlcourse.config import DataConfig, load_search_config
from dlcourse.data import check_findable, imdb, load_dataset
from dlcourse.data.files import read_npz
from dlcourse.data.imdb import imdb_sequences
from dlcourse.errors import DataError, ModelDataMismatch

from helpers import (
    CONFIGS, ROOT, random_reviews, write_cifar10, write_cifar100, write_fashion_mnist, write_image_folder,
    write_imdb_text,
    write_imdb, write_mnist,
)


def keras_reference(reviews, num_words, maxlen):
    """Keras's own loops from imdb.load_data, then pad_sequences: the behaviour to match."""
    mapped = [[1] + [word + 3 for word in review] for review in reviews]
    mapped = [[word if word < num_words else 2 for word in review] for review in mapped]
    return keras.utils.pad_sequences(mapped, maxlen=maxlen)


@pytest.mark.parametrize("maxlen", [1, 7, 30, 100])
def test_imdb_sequences_match_keras_loops_and_pad_sequences(maxlen):
    reviews = random_reviews(np.random.default_rng(1), 50)
    reviews[3] = []  # an empty review still gets its start token
    expected = keras_reference(reviews, 10000, maxlen)
    actual = imdb_sequences(reviews, 10000, maxlen)
    assert actual.dtype == np.int32
    np.testing.assert_array_equal(actual, expected)


def test_imdb_sequences_in_chunks_match_one_pass(monkeypatch):
    reviews = random_reviews(np.random.default_rng(2), 50)
    monkeypatch.setattr(imdb, "IMDB_CHUNK", 7)
    np.testing.assert_array_equal(imdb_sequences(reviews, 300, 25), keras_reference(reviews, 300, 25))


def test_prepared_imdb_is_cached_per_num_words_and_maxlen(data_dir, fresh_cache, tmp_path,
                                                          monkeypatch):
    config = DataConfig(dataset="imdb", num_words=1000, maxlen=20)
    first = load_dataset(config, data_dir)
    cached = list((tmp_path / "cache").glob("imdb-*.npz"))
    assert len(cached) == 1
    with monkeypatch.context() as patch:
        patch.setattr(imdb, "read_npz", lambda *args: pytest.fail("read the raw file again"))
        again = load_dataset(config, data_dir)
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.y_test, first.y_test)
    load_dataset(DataConfig(dataset="imdb", num_words=1000, maxlen=30), data_dir)
    assert len(list((tmp_path / "cache").glob("imdb-*.npz"))) == 2


def test_a_damaged_or_unwritable_cache_is_only_slower(data_dir, fresh_cache, tmp_path,
                                                      monkeypatch):
    config = DataConfig(dataset="imdb", num_words=1000, maxlen=20)
    expected = load_dataset(config, data_dir).x_train
    (cached,) = (tmp_path / "cache").glob("imdb-*.npz")
    cached.write_bytes(b"not an npz")
    np.testing.assert_array_equal(load_dataset(config, data_dir).x_train, expected)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(blocked / "cache"))
    np.testing.assert_array_equal(load_dataset(config, data_dir).x_train, expected)


def test_imdb_sequences_keep_every_word_without_num_words():
    reviews = np.empty(1, dtype=object)
    reviews[0] = [5, 50000]
    np.testing.assert_array_equal(imdb_sequences(reviews, None, 4), [[0, 1, 8, 50003]])


def test_mnist_from_a_directory_in_keras_layout(data_dir):
    dataset = load_dataset(DataConfig(dataset="mnist"), data_dir)
    assert dataset.x_train.shape == (96, 28, 28, 1) and dataset.x_train.dtype == np.float32
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0
    assert dataset.x_test.shape == (48, 28, 28, 1)
    assert dataset.num_classes == 10 and not dataset.is_text
    assert dataset.source == data_dir / "mnist.npz"


def test_imdb_from_a_directory_is_shuffled_like_keras(data_dir):
    dataset = load_dataset(DataConfig(dataset="imdb", num_words=1000, maxlen=20), data_dir)
    raw = np.load(data_dir / "imdb.npz", allow_pickle=True)  # our own test file
    order = np.arange(96)
    rng = np.random.RandomState(113)
    rng.shuffle(order)
    np.testing.assert_array_equal(dataset.y_train, raw["y_train"][order])
    np.testing.assert_array_equal(dataset.x_train, keras_reference(raw["x_train"][order], 1000, 20))
    assert dataset.is_text and dataset.input_shape == (20,) and dataset.num_classes == 2


def test_limit_takes_the_first_examples_of_each_split(data_dir):
    dataset = load_dataset(DataConfig(dataset="mnist", limit=10), data_dir)
    assert len(dataset.x_train) == len(dataset.y_train) == 10
    assert len(dataset.x_test) == 10


def test_environment_variable_is_a_source(data_dir, monkeypatch):
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(data_dir))
    assert load_dataset(DataConfig(dataset="mnist")).source == data_dir / "mnist.npz"


def test_missing_data_offline_says_what_where_and_how(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset(DataConfig(dataset="imdb", num_words=100, maxlen=10), tmp_path / "empty")
    message = str(caught.value)
    assert "Can't find imdb.npz" in message
    assert str(tmp_path / "empty") in message and "keras_home" in message
    assert "--data-dir" in message and "DLCOURSE_DATA_DIR" in message


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.robustness("damaged data")
def test_pickled_code_in_an_npz_is_refused(tmp_path, capsys):
    path = tmp_path / "imdb.npz"
    payload = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        payload, {"descr": "|O", "fortran_order": False, "shape": (1,)}
    )
    payload.write(pickle.dumps(Exploit()))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", payload.getvalue())
    with pytest.raises(DataError, match="refusing to load 'builtins.print'"):
        read_npz(path, ("x_train",))
    assert "must never run" not in capsys.readouterr().out


@pytest.mark.robustness("damaged data")
def test_truncated_npz_names_the_file(tmp_path):
    path = write_mnist(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=f"{path}: can't read this .npz file"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_missing_array_names_the_key(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="no array 'y_train' in this file"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_labels_out_of_range_are_refused(tmp_path):
    np.savez(
        tmp_path / "mnist.npz",
        x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.array([0, 12], np.uint8),
        x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([0, 1], np.uint8),
    )
    with pytest.raises(DataError, match=r"y_train must hold integer class labels 0-9; y_train\[1\] is 12\.$"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)
    # A negative label (classes numbered from -1) says that labels count from 0.
    np.savez(
        tmp_path / "mnist.npz",
        x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.array([0, 1], np.int8),
        x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([-1, 1], np.int8),
    )
    with pytest.raises(DataError, match=re.escape(
            "y_test[0] is -1. Class labels count from 0: shift yours (y - y.min()).")):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_wrong_image_shape_is_refused(tmp_path):
    np.savez(
        tmp_path / "mnist.npz",
        x_train=np.zeros((2, 784), np.uint8), y_train=np.array([0, 1], np.uint8),
        x_test=np.zeros((2, 784), np.uint8), y_test=np.array([0, 1], np.uint8),
    )
    with pytest.raises(DataError, match=r"x_train has shape \(2, 784\)"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_imdb_label_count_mismatch_is_refused(tmp_path):
    write_imdb(tmp_path, train=10)
    arrays = dict(np.load(tmp_path / "imdb.npz", allow_pickle=True))
    arrays["y_train"] = arrays["y_train"][:5]
    np.savez(tmp_path / "imdb.npz", **arrays)
    with pytest.raises(DataError, match="y_train has 5 labels for 10 reviews"):
        load_dataset(DataConfig(dataset="imdb", num_words=100, maxlen=10), tmp_path)


def test_reviews_padded_past_the_memory_are_refused_before_they_are_made(tmp_path, monkeypatch,
                                                                        fresh_cache):
    """data.maxlen 1,048,576 asked numpy for 98 GB (every review is padded, --smoke too)."""
    write_imdb(tmp_path, train=10, test=4)
    arrays = np.load(tmp_path / "imdb.npz", allow_pickle=True)
    longest = 1 + max(len(review) for split in ("x_train", "x_test") for review in arrays[split])
    monkeypatch.setattr("dlcourse.data.dataset.LARGEST_PADDED_BYTES", 14 * 4 * 1000)
    load_dataset(DataConfig(dataset="imdb", num_words=100, maxlen=1000), tmp_path)
    with pytest.raises(DataError, match=re.escape(
            f"data.maxlen 1,001 pads the 14 texts of {tmp_path / 'imdb.npz'} to 0.0 GB of "
            f"indices, more than the 0 GB they may take. The longest has {longest:,} tokens: "
            "so a data.maxlen above that only adds padding")):
        load_dataset(DataConfig(dataset="imdb", num_words=100, maxlen=1001, limit=2), tmp_path)


def test_imdb_without_num_words_needs_an_embedding_row_for_its_rarest_word(tmp_path,
                                                                            fresh_cache):
    """Every word is kept: an Embedding of 1,000 rows was TensorFlow's 'indices[0,1] = 28489
    is not in [0, 1000)' traceback in the first step."""
    from dlcourse.config import load_config
    from dlcourse.data import signature_of
    from dlcourse.model_checks import check_embedding_fits

    write_imdb(tmp_path, train=10, test=4)
    config = load_config(ROOT / "configs" / "imdb_lstm.yaml",
                         ["data.num_words=null", "model.layers[0].Embedding.input_dim=3"])
    dataset = load_dataset(config.data, tmp_path)
    rows = 1 + max(dataset.x_train.max(), dataset.x_test.max())
    with pytest.raises(ModelDataMismatch, match=re.escape(
            "input_dim is 3, but the vocabulary of every word in the data (data.num_words is "
            f"not set) is {rows}")):
        check_embedding_fits(config, signature_of(dataset, config))


def mnist_arrays(**changes):
    arrays = {
        "x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.array([0, 1, 2, 3], np.uint8),
        "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.array([0, 1], np.uint8),
    }
    return {**arrays, **changes}


def imdb_arrays(tmp_path, **changes):
    write_imdb(tmp_path, train=10, test=4)
    return {**np.load(tmp_path / "imdb.npz", allow_pickle=True), **changes}  # our own file


def reviews_of(*reviews):
    array = np.empty(len(reviews), dtype=object)
    array[:] = [list(review) for review in reviews]
    return array


@pytest.mark.robustness("damaged data")
@pytest.mark.parametrize(
    ("dataset", "changes", "message"),
    [
        ("mnist", {"x_train": np.zeros((0, 28, 28), np.uint8), "y_train": np.zeros(0, np.uint8)},
         "x_train has shape (0, 28, 28); expected (N, height, width) or (N, height, width, channels) with N > 0"),
        ("mnist", {"y_test": np.array([0.0, 1.0])},
         "y_test must hold integer class labels 0-9, found float64 values"),
        ("mnist", {"y_train": np.array(list("0123"))},
         "y_train must hold integer class labels 0-9, found <U1 values"),
        ("mnist", {"x_train": np.full((4, 28, 28), "7")},
         "x_train holds <U1 values; expected uint8 pixels 0-255"),
        ("mnist", {"x_test": np.zeros((2, 28, 28), np.float32)},
         "x_test holds float32 values; expected uint8 pixels 0-255"),
        ("imdb", {"x_test": reviews_of(), "y_test": np.zeros(0, np.int64)},
         "x_test must be a non-empty list of reviews"),
        ("imdb", {"y_train": np.arange(10) % 2 * 1.0},
         "y_train must hold integer class labels 0-1, found float64 values"),
        ("imdb", {"x_train": np.array(["a great film"] * 10)},
         "x_train must be a non-empty list of reviews, each a list of integer word ranks; "
         "found <U12 values"),
        ("imdb", {"x_train": reviews_of(*[["great", "film"]] * 10)},
         "x_train: IMDB reviews must be lists of integer word ranks"),
        ("imdb", {"x_train": reviews_of(*[[4, 1.5]] * 10)},
         "x_train: IMDB reviews must be lists of integer word ranks"),
    ],
    ids=["mnist-empty", "mnist-float-labels", "mnist-string-labels", "mnist-string-images",
         "mnist-float-images", "imdb-empty", "imdb-float-labels", "imdb-strings",
         "imdb-word-strings", "imdb-float-ranks"],
)
def test_empty_or_wrongly_typed_arrays_are_refused_naming_the_file(
    tmp_path, dataset, changes, message
):
    if dataset == "mnist":
        arrays, config = mnist_arrays(**changes), DataConfig(dataset="mnist")
    else:
        arrays = imdb_arrays(tmp_path, **changes)
        config = DataConfig(dataset="imdb", num_words=100, maxlen=10)
    path = tmp_path / f"{dataset}.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as caught:
        load_dataset(config, tmp_path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


# --------------------------------------------------------------------------- colour and fashion


def test_cifar10_from_keras_batches(tmp_path):
    write_cifar10(tmp_path, per_batch=4, test=6)
    dataset = load_dataset(DataConfig(dataset="cifar10"), tmp_path)
    assert dataset.x_train.shape == (20, 32, 32, 3) and dataset.x_test.shape == (6, 32, 32, 3)
    assert dataset.x_train.dtype == np.float32 and dataset.x_train.max() <= 1.0
    assert dataset.num_classes == 10 and dataset.class_names[0] == "airplane"
    # Channels-first rows of 3072 bytes become height x width x RGB.
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as stream:
        raw = pickle.load(stream)  # our own test file
    np.testing.assert_allclose(
        dataset.x_train[0, :, :, 1], raw[b"data"][0, 1024:2048].reshape(32, 32) / 255.0
    )


def test_cifar100_uses_fine_labels_and_their_names(tmp_path):
    write_cifar100(tmp_path, train=120, test=100)
    dataset = load_dataset(DataConfig(dataset="cifar100"), tmp_path)
    assert dataset.num_classes == 100 and dataset.class_names[7] == "class7"
    assert dataset.y_train.max() == 99 and dataset.input_shape == (32, 32, 3)


@pytest.mark.robustness("damaged data")
def test_cifar_pickle_with_code_is_refused(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(pickle.dumps({b"data": Exploit()}, protocol=4))
    with pytest.raises(DataError, match="refusing to load 'builtins.print'"):
        load_dataset(DataConfig(dataset="cifar100"), tmp_path)


def test_fashion_mnist_from_gzipped_idx_files(tmp_path):
    write_fashion_mnist(tmp_path, train=20, test=10)
    dataset = load_dataset(DataConfig(dataset="fashion_mnist"), tmp_path)
    assert dataset.x_train.shape == (20, 28, 28, 1) and dataset.x_test.shape == (10, 28, 28, 1)
    assert dataset.class_names[9] == "Ankle boot"


@pytest.mark.robustness("damaged data")
def test_fashion_mnist_file_that_is_not_idx(tmp_path):
    folder = write_fashion_mnist(tmp_path, train=4, test=4)
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as stream:
        stream.write(b"\x00" * 32)
    with pytest.raises(DataError, match="not an IDX file"):
        load_dataset(DataConfig(dataset="fashion_mnist"), tmp_path)


def test_missing_cifar_offline_says_where_it_looked(tmp_path):
    with pytest.raises(DataError, match="Can't find the folder cifar-10-batches-py"):
        load_dataset(DataConfig(dataset="cifar10"), tmp_path)


# --------------------------------------------------------------------------- image folders


def test_image_folder_holds_out_a_fixed_test_fraction(tmp_path, capsys):
    write_image_folder(tmp_path / "photos", classes=3, per_class=10, size=8)
    config = DataConfig(dataset="image_folder", path="photos", image_size=(16, 16),
                        color_mode="grayscale", test_split=0.3)
    first = load_dataset(config, tmp_path)
    # Keras's "Using 9 files for validation" named dlcourse's test split wrongly.
    assert "files for" not in capsys.readouterr().out
    assert first.x_train.shape == (21, 16, 16, 1) and first.x_test.shape == (9, 16, 16, 1)
    assert first.class_names == ("class_000", "class_001", "class_002")
    assert 0.0 <= first.x_train.min() and first.x_train.max() <= 1.0
    again = load_dataset(config, tmp_path)  # evaluate must see the same test split
    np.testing.assert_array_equal(first.x_test, again.x_test)


def _photos_with(tmp_path, name, make):
    folder = write_image_folder(tmp_path / name, classes=2, per_class=4, size=8)
    make(folder / "class_001")
    return folder


def _save_as(fmt, mode="RGB"):
    from PIL import Image

    def make(folder):
        Image.new(mode, (8, 8)).save(folder / f"odd.{fmt.lower()}", fmt)
    return make


@pytest.mark.parametrize("make, color_mode, says", [
    # Keras listed a named pipe and TensorFlow waited for ever to read it.
    (lambda folder: os.mkfifo(folder / "zz.png"), "rgb", "zz.png: not a regular file"),
    (lambda folder: (folder / "gone.png").symlink_to(folder / "nowhere.png"), "rgb",
     "gone.png: a link to nothing (its target is gone)"),
    # The rest failed naming the folder, not the file.
    (lambda folder: Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png")).write_bytes(
        (folder / "0.png").read_bytes()), "rgb", "its name is not UTF-8"),
    (_save_as("JPEG"), "rgba", "odd.jpeg: a JPEG image, which TensorFlow can't decode as data.color_mode rgba"),
    (_save_as("GIF"), "grayscale", "odd.gif: a GIF image"),
    (_save_as("GIF"), "rgba", "odd.gif: a GIF image, which TensorFlow can't decode as data.color_mode rgba"),
    (_save_as("BMP"), "grayscale", "odd.bmp: a BMP image"),
    (_save_as("JPEG", "CMYK"), "grayscale", "odd.jpeg: a CMYK JPEG image"),
    # Found after Keras failed, by decoding as it does: PIL reads these.
    (_save_as("BMP", "1"), "rgb", "odd.bmp: TensorFlow can't decode this image as rgb"),
    (lambda folder: (folder / "cut.png").write_bytes((folder / "0.png").read_bytes()[:-40]), "rgb",
     "cut.png: TensorFlow can't decode this image as rgb"),
    # Read by Keras as the class's images: trained on twice, and perhaps tested on.
    (lambda folder: (folder / ".ipynb_checkpoints").mkdir() or shutil.copy(
        folder / "0.png", folder / ".ipynb_checkpoints" / "0-checkpoint.png"), "rgb",
     "class_001/.ipynb_checkpoints: a hidden folder inside the class folder 'class_001', whose "
     "images (such as 0-checkpoint.png) Keras would read as that class"),
], ids=["fifo", "dangling-link", "non-utf8-name", "jpeg-rgba", "gif-grayscale", "gif-rgba",
        "bmp-grayscale", "cmyk-grayscale", "one-bit-bmp", "truncated-png", "hidden-in-a-class"])
def test_what_keras_lists_but_cannot_read_is_named_before_it_tries(tmp_path, make, color_mode, says):
    _photos_with(tmp_path, "photos", make)
    config = DataConfig(dataset="image_folder", path="photos", image_size=(8, 8),
                        color_mode=color_mode)
    with pytest.raises(DataError, match=re.escape(says)):
        load_dataset(config, tmp_path)


def test_pictures_keras_leaves_out_are_told(tmp_path, capsys):
    from PIL import Image

    photos = write_image_folder(tmp_path / "photos", classes=2, per_class=4, size=8)
    for index in range(3):
        Image.new("RGB", (8, 8)).save(photos / "class_001" / f"extra{index}.webp")
    load_dataset(DataConfig(dataset="image_folder", path="photos", image_size=(8, 8)), tmp_path)
    assert (f"Warning: {photos} holds pictures Keras doesn't read (3 .webp); they are left out"
            in capsys.readouterr().err)
    # Downloads without a suffix: 8 of 10 pictures of a class were left out unsaid. A
    # README without one is no picture.
    photos = write_image_folder(tmp_path / "downloads", classes=2, per_class=4, size=8)
    for index in range(2):
        Image.new("RGB", (8, 8)).save(photos / "class_001" / f"download{index}", "PNG")
    (photos / "class_000" / "README").write_text("my notes")
    load_dataset(DataConfig(dataset="image_folder", path="downloads", image_size=(8, 8)), tmp_path)
    assert (f"Warning: {photos} holds pictures Keras doesn't read (2 without a suffix); they "
            "are left out. Name them .png or .jpg, as they are, to train on them."
            in capsys.readouterr().err)


def test_an_image_folders_fingerprint_counts_the_images_keras_reads(tmp_path):
    """A README or a spreadsheet beside the photos is no change to the data."""
    from dlcourse.data.loading import data_fingerprint

    write_image_folder(tmp_path / "photos", classes=2, per_class=3, size=8)
    config = DataConfig(dataset="image_folder", path="photos", image_size=(8, 8))
    before = data_fingerprint(config, tmp_path / "photos")
    assert before[0] == 6
    (tmp_path / "photos" / "README.md").write_text("where the photos came from")
    (tmp_path / "photos" / "class_000" / "labels.csv").write_text("file,label\n")
    assert data_fingerprint(config, tmp_path / "photos") == before
    shutil.copy(next((tmp_path / "photos" / "class_000").glob("*.png")),
                tmp_path / "photos" / "class_000" / "more.png")
    assert data_fingerprint(config, tmp_path / "photos")[0] == 7


def test_an_image_folder_too_large_for_memory_once_resized_is_refused_first(tmp_path,
                                                                             monkeypatch):
    """data.image_size [4096, 4096] validated, and loading took memory without bound: 28
    tiny files at [1024, 1024] peaked at 2.1 GB, all of Caltech-101 would need 100 GB."""
    import dlcourse.data.image_folder as image_folder

    write_image_folder(tmp_path / "photos", classes=3, per_class=10, size=8)
    config = DataConfig(dataset="image_folder", path="photos", image_size=(4096, 4096))
    decoded = []
    monkeypatch.setattr(image_folder, "_folder_arrays",
                        lambda *arguments: decoded.append(arguments))
    with pytest.raises(DataError, match=re.escape(
            "data.image_size: 30 images of 4096x4096 pixels are 5.6 GB of float32, more than "
            "the 4 GB a folder's images may take in memory. Set a smaller data.image_size")):
        load_dataset(config, tmp_path)
    assert not decoded
    limited = DataConfig(dataset="image_folder", path="photos", image_size=(4096, 4096), limit=5)
    with pytest.raises(DataError, match="data.limit doesn't lower this: it takes its examples "
                                        "once they are read"):
        load_dataset(limited, tmp_path)
    # Below the bound, large images are decoded a few to a batch, not 256 (3.2 GB).
    monkeypatch.undo()
    config = DataConfig(dataset="image_folder", path="photos", image_size=(512, 768),
                        color_mode="grayscale")
    dataset = load_dataset(config, tmp_path)
    assert dataset.x_train.shape == (24, 512, 768, 1) and dataset.x_train.dtype == np.float32
    assert 0 <= dataset.x_test.min() and dataset.x_test.max() <= 1 and dataset.x_test.max() > 0.5
    assert sorted(np.concatenate([dataset.y_train, dataset.y_test])) == sorted([0, 1, 2] * 10)


def test_image_folder_with_a_test_folder(tmp_path):
    write_image_folder(tmp_path / "train", classes=2, per_class=4, size=8)
    write_image_folder(tmp_path / "test", classes=2, per_class=2, size=8, seed=1)
    config = DataConfig(dataset="image_folder", path=str(tmp_path / "train"),
                        test_path=str(tmp_path / "test"), image_size=(8, 8))
    dataset = load_dataset(config)
    assert dataset.x_train.shape == (8, 8, 8, 3) and dataset.x_test.shape == (4, 8, 8, 3)


def test_a_test_folder_that_is_the_training_folder_is_refused(tmp_path):
    """The same folder, by its name, with '..' or through a link, trained and reported
    test accuracy on the training images without a word."""
    write_image_folder(tmp_path / "base", classes=2, per_class=4, size=8)
    (tmp_path / "link").symlink_to(tmp_path / "base")
    for test_path, how in [("base", "is"), ("base/../base", "is"), ("link", "is"),
                           ("base/class_000", "overlaps")]:
        config = DataConfig(dataset="image_folder", path="base", test_path=test_path,
                            image_size=(8, 8))
        with pytest.raises(DataError, match=re.escape(
                f"data.test_path ({test_path}) {how} data.path's folder (base); the model "
                "would be tested on images it trained on")):
            load_dataset(config, tmp_path)
        if how == "is":  # a run trained so before is still evaluated, as it learnt
            assert len(load_dataset(config, tmp_path, test_only=True).y_test) == 8
    # A hidden folder inside it is no class Keras reads: a test folder of its own.
    write_image_folder(tmp_path / "base" / ".test", classes=2, per_class=2, size=8)
    config = DataConfig(dataset="image_folder", path="base", test_path="base/.test",
                        image_size=(8, 8))
    assert len(load_dataset(config, tmp_path).y_test) == 4


def test_a_test_folder_with_other_classes_is_refused_naming_it(tmp_path):
    """An extra class's test images were dropped without a word; a missing class was
    Keras's message about class_names, put on the training folder."""
    write_image_folder(tmp_path / "train", classes=2, per_class=4, size=8)
    write_image_folder(tmp_path / "test", classes=3, per_class=2, size=8, seed=1)
    config = DataConfig(dataset="image_folder", path=str(tmp_path / "train"),
                        test_path=str(tmp_path / "test"), image_size=(8, 8))
    with pytest.raises(DataError, match=re.escape(
            f"{tmp_path / 'test'}: holds the class folder 'class_002', which the training folder "
            "lacks (class_000, class_001)")):
        load_dataset(config)
    for name in ("class_002", "class_001"):
        shutil.rmtree(tmp_path / "test" / name)
    with pytest.raises(DataError, match=re.escape(
            f"{tmp_path / 'test'}: lacks the class folder 'class_001' of the training folder")):
        load_dataset(config)
    (tmp_path / "test" / "class_001").mkdir()  # empty: no test images of that class
    assert load_dataset(config).y_test.tolist() == [0, 0]


def test_an_image_folder_is_one_folder_not_a_file_or_a_glob_of_several(tmp_path):
    """A glob matching two folders was read as its first, unsaid; a file was a traceback
    (NotADirectoryError). Both are told before TensorFlow starts, as while loading."""
    write_image_folder(tmp_path / "imgs", classes=2, per_class=2, size=8)
    write_image_folder(tmp_path / "imgs2", classes=3, per_class=2, size=8)
    (picture,) = (tmp_path / "imgs" / "class_000").glob("*0.png")
    cases = [
        ({"path": "imgs*"}, f"data.path: 'imgs*' matches 2 folders ({tmp_path / 'imgs'}, "
                            f"{tmp_path / 'imgs2'}); an image folder is one folder"),
        ({"path": "imgs", "test_path": "imgs*"}, "data.test_path: 'imgs*' matches 2 folders"),
        ({"path": str(picture)}, f"data.path: {picture} is a file; an image folder is a folder "
                                 "holding one sub-folder of images per class."),
    ]
    for settings, message in cases:
        config = DataConfig(dataset="image_folder", image_size=(8, 8), **settings)
        for check in (check_findable, load_dataset):
            with pytest.raises(DataError, match=re.escape(message)):
                check(config, tmp_path)


def test_a_path_from_the_home_folder_is_read_there(tmp_path, monkeypatch):
    """A shell leaves the ~ of `--set data.path=~/photos` alone, and it was looked up as a
    folder named '~' under the data directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_image_folder(tmp_path / "home" / "photos", classes=2, per_class=4, size=8)
    config = DataConfig(dataset="image_folder", path="~/photos", image_size=(8, 8))
    assert config.path == "~/photos"  # kept as written: each user's home, a shared config
    check_findable(config, tmp_path / "elsewhere")
    assert len(load_dataset(config, tmp_path / "elsewhere").y_train) == 7
    # data.dir too: the folder relative paths are looked up in.
    in_dir = DataConfig(dataset="image_folder", dir="~", path="photos", image_size=(8, 8))
    check_findable(in_dir)
    assert len(load_dataset(in_dir).y_train) == 7


def test_a_path_whose_name_holds_glob_characters_is_itself(tmp_path):
    """'photos[1]' and 'train[2024].jsonl' read as globs matching no such name: "No image
    folder matches", though it was there."""
    write_image_folder(tmp_path / "photos[1]", classes=2, per_class=3, size=8)
    config = DataConfig(dataset="image_folder", path="photos[1]", image_size=(8, 8))
    check_findable(config, tmp_path)
    assert load_dataset(config, tmp_path).class_names == ("class_000", "class_001")
    record = '{"text": "a good film", "label": 1}\n{"text": "a dull film", "label": 0}\n'
    for name in ("train[2024].jsonl", "test[2024].jsonl"):
        (tmp_path / name).write_text(record)
    text = DataConfig(dataset="raw_text", format="jsonl", train=str(tmp_path / "train[2024].jsonl"),
                      test="test[2024].jsonl", vectorize={"output_mode": "multi_hot"})
    check_findable(text, tmp_path)
    assert len(load_dataset(text, tmp_path).x_train) == 2


def test_missing_image_folder_says_where_it_looked(tmp_path):
    config = DataConfig(dataset="image_folder", path="nowhere", image_size=(8, 8))
    with pytest.raises(DataError, match="No image folder matches 'nowhere'"):
        load_dataset(config, tmp_path)
    # An absolute path: passing --data-dir, as the message for a relative one says, can't help.
    config = DataConfig(dataset="image_folder", path=str(tmp_path / "gone"), image_size=(8, 8))
    with pytest.raises(DataError, match=re.escape(
            f"No image folder matches '{tmp_path / 'gone'}', an absolute path, which --data-dir "
            "and DLCOURSE_DATA_DIR don't change")):
        load_dataset(config, tmp_path)


# --------------------------------------------------------------------------- damaged and hostile data


@pytest.mark.robustness("damaged data")
def test_an_array_claiming_more_memory_than_a_dataset_takes_is_refused_unread(tmp_path):
    path = tmp_path / "mnist.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**7, 10**7)}
    )
    with zipfile.ZipFile(path, "w") as archive:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            archive.writestr(f"{key}.npy", header.getvalue())
    with pytest.raises(DataError, match=r"claims shape \(10000000, 10000000\)"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_a_member_inflating_past_the_bound_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    from dlcourse.data import files

    write_mnist(tmp_path)
    monkeypatch.setattr(files, "LARGEST_ARRAY_BYTES", 10_000)  # a zip bomb, in small
    with pytest.raises(DataError, match="inflates to 75,392 bytes, more than the 10,000"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_flipped_bytes_inside_an_npz_member_are_named(tmp_path):
    path = write_mnist(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo("x_train.npy").header_offset + 200
    for position in range(offset, offset + 64):
        data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"{path}: can't read this .npz file"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_a_dataset_file_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "mnist.npz")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


@pytest.mark.robustness("damaged data")
def test_test_images_of_another_size_than_training_are_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", **mnist_arrays(x_test=np.zeros((2, 32, 32), np.uint8)))
    with pytest.raises(DataError, match="training images are 28x28 but the test images 32x32"):
        load_dataset(DataConfig(dataset="mnist"), tmp_path)


def raw_text_config(**settings):
    return DataConfig(dataset="raw_text", vectorize={"output_mode": "multi_hot", "max_tokens": 20},
                      **settings)


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n")


@pytest.mark.robustness("damaged data")
@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"text": "good", "label": [1]}], "line 1: the 'label' field is [1]; expected a label"),
        ([{"text": "good", "label": 1}, {"text": 3, "label": 0}],
         "line 2: the text ('text') is 3; expected a string"),
        ([{"text": "bad", "label": 0}, {"text": "good", "label": 10**12}],
         "train.jsonl, line 2: the label 1000000000000 is too large: labels number classes "
         "from 0, and at most 10,000"),
        ([{"text": "good", "label": 1}, {"text": "meh", "label": 0.5}],
         "train.jsonl, line 2: the label 0.5 is not an integer"),
        ([{"text": "good", "label": 1}, {"text": "meh", "label": -1}],
         "train.jsonl, line 2: the label -1 is negative"),
        ([{"text": "good", "label": 1}, {"text": "bad", "label": "neg"}],
         "train.jsonl, line 2: the label is the name 'neg', but line 1 has the "
         "number 1; labels are either all names or all integers"),
        ([{"text": "good", "label": 1}, {"text": "bad", "label": 0}, {"text": "so", "label": "5"}],
         "train.jsonl, line 3: the target '5' is not a number the model's float32 targets hold"),
        # float32 targets: 1e300 would be inf, 10**400 an OverflowError traceback.
        ([{"text": "good", "label": 1}, {"text": "so", "label": 1e300}],
         "train.jsonl, line 2: the target 1e+300 is not a number the model's float32 targets hold"),
        ([{"text": "good", "label": 1}, {"text": "so", "label": 10**400}],
         "train.jsonl, line 2: the target 1" + "0" * 56 + "... is not a number the model's float32 targets hold"),
        ([{"text": "good", "label": "pos"}, {"text": "bad", "label": "\ud800"}],
         "train.jsonl, line 2: the label holds the escape \\ud800"),
    ],
    ids=["label-list", "text-number", "huge-label", "float-label", "negative-label",
         "names-and-numbers", "regression-text", "regression-1e300", "regression-10**400",
         "surrogate-label"],
)
def test_bad_records_are_named_by_file_and_line_before_training(tmp_path, records, message):
    """Each label is checked as read; the rest once both splits are, still named by the
    line that holds the first wrong one."""
    write_jsonl(tmp_path / "train.jsonl", records)
    write_jsonl(tmp_path / "test.jsonl", [{"text": "fine", "label": 0}])
    config = raw_text_config(format="jsonl", train="train.jsonl", test="test.jsonl")
    with pytest.raises(DataError, match=re.escape(message)):
        load_dataset(config, tmp_path, task="regression" if "target" in message else "classification")


@pytest.mark.robustness("damaged data")
def test_a_label_outside_the_class_names_is_named_where_it_is_written(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "good", "label": "pos"}])
    write_jsonl(tmp_path / "test.jsonl", [{"text": "fine", "label": "pos"},
                                          {"text": "meh", "label": "neutral"}])
    config = raw_text_config(format="jsonl", train="train.jsonl", test="test.jsonl",
                             class_names=["neg", "pos"])
    with pytest.raises(DataError, match=re.escape(
            "test.jsonl, line 2: the label 'neutral' is not one of the classes ['neg', 'pos']")):
        load_dataset(config, tmp_path)


@pytest.mark.robustness("damaged data")
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("text,label\ngood film,1\nbad film\n", "train.csv, line 3: fewer columns than the header names"),
        ("text,label\ngood film,1\nbad film,\n", "train.csv, line 3: the 'label' field is empty"),
        ("text,label\ngood film,1\nbad, dull film,0\n",
         "train.csv, line 3: more columns than the header names (also ['0'])"),
        # Python's int() reads "1_0" as 10.
        ("text,label\ngood film,1\nbad film,1_0\n",
         "train.csv, line 3: the label is the name '1_0', but line 2 has the number 1"),
        ('text,label\n"good\n\nfilm",1\nbad film,x\n', "train.csv, line 5: the label is the name 'x'"),
        ("text,label\ngood film,1\n\nbad film,x\n", "train.csv, line 4: the label is the name 'x'"),
        ("text,label,label\ngood film,junk,1\n", "train.csv, line 1: the header names the "
         "column 'label' twice"),
        # int() reads the Arabic-Indic digit one as 1.
        ("text,label\ngood film,1\nbad film,\u0661\n",
         "train.csv, line 3: the label is the name '\u0661', but line 2 has the number 1"),
        # Named the folder ("no texts in the training split"), not the file.
        ("text,label\n\n", "train.csv: no texts for the training split (data.train: "
         "train.csv); it holds no rows below the header."),
        # Named the byte alone, in a file read by lines.
        ("text,label\ngood film,1\nbad caf\xe9,0\n".encode("latin-1"),
         "train.csv, line 3: not UTF-8 text (invalid continuation byte at byte 30)"),
    ],
    ids=["missing-column", "empty-label", "extra-column", "underscore", "multi-line-text",
         "blank-line", "twice-named", "arabic-indic-digit", "header-only", "latin-1"],
)
def test_csv_rows_with_missing_values_are_named(tmp_path, rows, message):
    (tmp_path / "train.csv").write_bytes(rows if isinstance(rows, bytes) else rows.encode())
    (tmp_path / "test.csv").write_text("text,label\nfine,0\n")
    config = raw_text_config(format="csv", train="train.csv", test="test.csv")
    with pytest.raises(DataError, match=re.escape(message)):
        load_dataset(config, tmp_path)


@pytest.mark.robustness("damaged data")
def test_a_text_file_inflating_past_the_bound_is_refused(tmp_path, monkeypatch):
    from dlcourse.data import text

    write_imdb_text(tmp_path, per_file=30)
    monkeypatch.setattr(text, "LARGEST_TEXT_FILE_BYTES", 1000)  # a gzip bomb, in small
    config = raw_text_config(format="jsonl", train="imdb_text/aclImdb_train_*.jsonl.gz",
                             test="imdb_text/aclImdb_test_*.jsonl.gz")
    with pytest.raises(DataError, match="larger than 1,000 bytes once read"):
        load_dataset(config, tmp_path)


@pytest.mark.robustness("damaged data")
def test_an_image_folder_of_one_class_or_a_truncated_image_is_refused(tmp_path):
    write_image_folder(tmp_path / "one", classes=1, per_class=4, size=8)
    config = DataConfig(dataset="image_folder", path="one", image_size=(8, 8))
    with pytest.raises(DataError, match="holds 1 class folder"):
        load_dataset(config, tmp_path)
    write_image_folder(tmp_path / "two", classes=2, per_class=4, size=32)
    broken = tmp_path / "two" / "class_001" / "1.png"
    broken.write_bytes(broken.read_bytes()[:80])
    config = DataConfig(dataset="image_folder", path="two", image_size=(8, 8))
    with pytest.raises(DataError, match=re.escape(str(broken))):
        load_dataset(config, tmp_path)


@pytest.mark.robustness("damaged data")
def test_an_image_whose_header_claims_gigapixels_is_refused_by_name(tmp_path):
    """PIL's own DecompressionBombError, past 179 megapixels, escaped as a traceback."""
    write_image_folder(tmp_path / "photos", classes=2, per_class=3, size=8)
    bomb = tmp_path / "photos" / "class_000" / "bomb.png"
    bomb.write_bytes(png_claiming(20_000, 20_000))
    config = DataConfig(dataset="image_folder", path="photos", image_size=(8, 8))
    with pytest.raises(DataError, match=re.escape(
            f"{bomb}: more than the 50,000,000 pixels an image may have; resize it first.")):
        load_dataset(config, tmp_path)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (its pixel data is one byte's worth)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))


@pytest.mark.robustness("damaged data")
def test_an_image_folder_is_checked_as_keras_reads_it(tmp_path, monkeypatch):
    """Keras reads a class folder's sub-folders too, and counts an empty class folder as a
    class: the first skipped the size check, the second trained a class with no image."""
    from dlcourse.data import image_folder

    write_image_folder(tmp_path / "photos", classes=2, per_class=3, size=8)
    write_image_folder(tmp_path / "photos" / "class_001" / "more", classes=1, size=16)
    nested = tmp_path / "photos" / "class_001" / "more" / "class_000" / "0.png"
    monkeypatch.setattr(image_folder, "LARGEST_PIXELS", 100)  # 8x8 fits, 16x16 doesn't
    config = DataConfig(dataset="image_folder", path="photos", image_size=(8, 8))
    with pytest.raises(DataError, match=re.escape(f"{nested}: 16x16")):
        load_dataset(config, tmp_path)
    monkeypatch.undo()
    shutil.rmtree(tmp_path / "photos" / "class_001" / "more")
    (tmp_path / "photos" / "class_002").mkdir()
    with pytest.raises(DataError, match=re.escape(
            f"{tmp_path / 'photos' / 'class_002'}: a class folder with no images")):
        load_dataset(config, tmp_path)
    # A hidden folder (a notebook's checkpoints) is no class, to Keras or to the checks.
    (tmp_path / "photos" / "class_002").rename(tmp_path / "photos" / ".ipynb_checkpoints")
    assert load_dataset(config, tmp_path).class_names == ("class_000", "class_001")
    # Too few images for a test split: Keras said "No training images found".
    write_image_folder(tmp_path / "few", classes=2, per_class=2, size=8)
    few = DataConfig(dataset="image_folder", path="few", image_size=(8, 8))
    with pytest.raises(DataError, match="4 images, and a test split of 0.2 of them holds none"):
        load_dataset(few, tmp_path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_a_missing_dataset_is_told_before_loading_in_the_loaders_own_words(path, tmp_path):
    # Offline (as every test is): `train` checks this before TensorFlow starts.
    config = load_search_config(path).config.data
    nothing = tmp_path / "nothing"
    nothing.mkdir()  # a folder that is not there is told as such (test_api.py)
    with pytest.raises(DataError) as early:
        check_findable(config, nothing)
    with pytest.raises(DataError) as loading:
        load_dataset(config, nothing)
    assert str(early.value) == str(loading.value)
    assert str(nothing) in str(early.value)
    # What to pass, from Python too, and for a folder what it holds.
    assert "data_dir= from Python" in str(early.value) or config.dataset == "image_folder"
    if config.dataset == "fashion_mnist":
        assert "holding fashion-mnist in Keras's layout (train-images-idx3-ubyte.gz, " \
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz" in str(early.value)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_shipped_dataset_in_its_layout_is_found(path, data_dir):
    check_findable(load_search_config(path).config.data, data_dir)


@pytest.mark.robustness("damaged data")
@pytest.mark.parametrize("text, says", [
    ("[" * 100_000 + "]" * 100_000, "can't read the word index"),
    ('["the", "a"]', "expected a JSON object mapping words to ranks from 1"),
])
def test_a_damaged_word_index_is_named(tmp_path, text, says):
    """Nested thousands deep, it was a RecursionError traceback."""
    (tmp_path / "imdb_word_index.json").write_text(text)
    with pytest.raises(DataError, match=f"imdb_word_index.json: {says}"):
        imdb.load_word_index(tmp_path)


def digits_from_python(count: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 8, 8), dtype=np.uint8), np.arange(count) % 2


@pytest.mark.parametrize("train, test, says", [
    (lambda x: x.astype("int64") + 100, lambda x: x,
     "train=(x, y): the images are int64 pixels, which are read as 0-255 and scaled by 1/255, "
     "but image 0 holds "),
    (lambda x: x, lambda x: x.astype("float32"),
     "test=(x, y): the float32 pixels go up to 255, but train's uint8 pixels (scaled by 1/255) "
     "lie within 0 to 1, so the model would be tested on another scale"),
    (lambda x: x.astype("float32"), lambda x: x.astype("float32") / 255,
     "train=(x, y): the float32 pixels go up to 255, but test's float32 pixels lie within 0 to 1"),
], ids=["int64-above-255", "uint8-train-float-255-test", "float-255-train-float-1-test"])
def test_pixels_from_python_on_another_scale_are_refused(train, test, says):
    """Each was trained or tested on a scale the other split, evaluate and predict don't use."""
    from dlcourse.data.memory import dataset_from_memory

    x, y = digits_from_python()
    with pytest.raises(DataError, match=re.escape(says)):
        dataset_from_memory(DataConfig(dataset="mnist"), (train(x), y), (test(x), y))


@pytest.mark.parametrize("images, says", [
    (lambda x: x.astype("complex64"), "real numbers; got complex64 of shape (20, 8, 8, 1)"),
    (lambda x: x.astype("float64") * 1e300, "the images hold 2.55e+302, beyond the float32"),
], ids=["complex", "beyond-float32"])
def test_images_from_python_no_float32_holds_are_named(images, says, recwarn):
    """Complex pixels were cast with NumPy's ComplexWarning printed first; float64 pixels
    beyond float32's range were called 'NaN or infinite'."""
    from dlcourse.data.memory import dataset_from_memory

    x, y = digits_from_python()
    with pytest.raises(DataError, match=re.escape(says)):
        dataset_from_memory(DataConfig(dataset="mnist"), (images(x), y), (images(x), y))
    assert not [str(warning.message) for warning in recwarn], "warned before refusing"


def test_integer_pixels_from_python_are_scaled_as_uint8_ones_are():
    """int64 pixels (a pandas CSV's) were trained on as 0-255, while evaluate and predict
    of uint8 arrays or pictures gave the model 0-1: silently wrong predictions."""
    from dlcourse.data.memory import dataset_from_memory

    x, y = digits_from_python()
    as_uint8 = dataset_from_memory(DataConfig(dataset="mnist"), (x, y), (x, y))
    as_int64 = dataset_from_memory(DataConfig(dataset="mnist"), (x.astype("int64"), y),
                                   (x.astype("int64"), y))
    np.testing.assert_array_equal(as_int64.x_train, as_uint8.x_train)
    assert as_int64.x_train.max() <= 1.0
    # Floats are taken as given: standardized ones (mean 0, std 1) in both splits are no
    # two scales, though one split reaches above 1.
    standardized = ((x - x.mean()) / x.std()).astype("float32")
    dataset = dataset_from_memory(DataConfig(dataset="mnist"), (standardized, y),
                                  (standardized[:5] * 0.5, y[:5]))
    assert dataset.x_train.max() > 1 and dataset.x_test.min() < 0


@pytest.mark.parametrize("splits, says", [
    (lambda x, y: ((x, np.ones(20, int)), (x, y), ["a", "b"]),
     "train targets[0]: every training label is 1, and a classifier needs at least two classes"),
    (lambda x, y: ((x, y + 1), (x, y + 1), None),
     "train targets[0]: labels are numbered from 0; these run 1 to 2, so class 0 has no examples"),
    (lambda x, y: ((x, y.astype(float)), (x, y), None),
     "the targets must be class indices 0, 1, ... (one integer per example); got float64 of "
     "shape (20,); give them as integers, y.astype(int)."),
    (lambda x, y: (([np.zeros((28, 28), np.uint8), np.zeros((32, 32), np.uint8)], [0, 1]), (x, y),
                   None),
     "train=(x, y): the inputs are not one array: their shapes differ ((28, 28), (32, 32)); "
     "give inputs of one shape (images of one size"),
    # Nested ragged lists were NumPy's traceback from the message's own np.shape.
    (lambda x, y: (([[[1, 2], [3]], [[1], [2]]], [0, 1]), (x, y), None),
     "train=(x, y): the inputs are not one array: their shapes differ ("),
    (lambda x, y: (((image for image in x), y), (x, y), None),
     "train=(x, ...): the inputs are a generator; expected a NumPy array or a list of inputs, "
     "one per example (list(...) reads a generator into one)."),
    (lambda x, y: ((x, None), (x, y), None),
     "train=(..., y): the targets are None; expected a NumPy array or a list of targets"),
    # Binarised images, (x > 127).astype(int): scaled as 0-255 pixels they were 0 and 0.004.
    (lambda x, y: ((x, y), ((x > 127).astype(int), y), None),
     "test=(x, y): the images are int64 of 0 and 1; integer pixels are read as 0-255"),
], ids=["one-class-named", "labels-from-1", "float-labels", "ragged-images", "nested-ragged",
        "generator", "no-labels", "integer-masks"])
def test_labels_and_images_from_python_a_model_cannot_learn_are_refused(splits, says):
    """Each trained without a word (one class, a class only tested, class 0 empty), was a
    NumPy traceback, or (float labels) gave no way out."""
    from dlcourse.data.memory import dataset_from_memory

    train, test, class_names = splits(*digits_from_python())
    with pytest.raises(DataError, match=re.escape(says)):
        dataset_from_memory(DataConfig(dataset="mnist"), train, test, class_names=class_names)


def test_a_small_sample_of_classes_is_taken_and_a_class_only_tested_is_said(capsys):
    """MNIST's first ten training and test labels (5 0 4 1 9 2 1 3 1 4; 7 2 1 0 4 ...) were
    refused: 7 is only tested. A sample is like that; it is said, not refused. Labels
    from 1 are refused only where they are exactly 1 to K (class 0 then has nothing)."""
    from dlcourse.data.memory import dataset_from_memory

    x, y = digits_from_python()
    train = (x[:10], np.array([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]))
    test = (x[:10], np.array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]))
    dataset = dataset_from_memory(DataConfig(dataset="mnist"), train, test)
    assert dataset.num_classes == 10
    assert ("Warning: test targets[0]: the label 7 is in the test split but never in training, "
            "so the model can't predict it") in capsys.readouterr().err
    skipping_zero = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])  # 1 to 9, not all of them
    assert dataset_from_memory(DataConfig(dataset="mnist"), (x[:10], skipping_zero),
                               (x[:10], skipping_zero)).num_classes == 10


def test_labels_from_python_as_a_column_or_booleans_are_class_indices():
    """(N, 1), as keras.datasets.cifar10 gives labels, and booleans (df.label == "pos")
    were refused."""
    from dlcourse.data.memory import dataset_from_memory, test_split_from_memory

    x, y = digits_from_python()
    for labels in (y.reshape(-1, 1), y.astype(bool)):
        dataset = dataset_from_memory(DataConfig(dataset="mnist"), (x, labels), (x, labels))
        assert dataset.y_train.tolist() == y.tolist() and dataset.num_classes == 2
    # Evaluating: test data of one class is no training split, and is taken.
    assert test_split_from_memory(DataConfig(dataset="mnist"), (x, np.ones(20, int)),
                                  class_names=("a", "b")).y_test.tolist() == [1] * 20


def test_the_environments_data_folder_is_left_to_the_search_however_it_is_written(
        tmp_path, monkeypatch):
    """The CLI hands DLCOURSE_DATA_DIR over as a Path, which drops './' and a trailing '/':
    compared as text, a missing one was refused, though it is one place among others."""
    from dlcourse.data import check_given_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLCOURSE_DATA_DIR", "./not-yet/")
    check_given_dir(Path("./not-yet/"))
    with pytest.raises(DataError, match=re.escape("data_dir='elsewhere': no such folder.")):
        check_given_dir(Path("elsewhere"))


def test_word_indices_from_python_are_as_long_as_data_maxlen():
    """Padded to 200 for a config of maxlen 500, they trained, the run's config said 500,
    and predict called the run damaged."""
    from dlcourse.data.memory import dataset_from_memory

    config = DataConfig(dataset="imdb", num_words=100, maxlen=50)
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 100, (8, 50)), np.arange(8) % 2
    assert dataset_from_memory(config, (x, y), (x, y)).x_train.shape == (8, 50)
    with pytest.raises(DataError, match=re.escape(
            "train=(x, y): the sequences are 20 long, but data.maxlen is 50: pad them to it "
            "(keras.utils.pad_sequences(x, maxlen=50)), or set data.maxlen to 20.")):
        dataset_from_memory(config, (x[:, :20], y), (x, y))
