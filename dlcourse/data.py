"""Datasets: where their files are found, how they are read safely, how they are prepared.

Sources are tried in order: `--data-dir`, then `DLCOURSE_DATA_DIR`, then Keras's own
cache and download. Files are in Keras's layout (`mnist.npz`, `imdb.npz`), and
preparation follows the lecture's code: pixels scaled to [0, 1]; reviews mapped with
Keras's IMDB conventions and padded with `pad_sequences`' defaults.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import string
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dlcourse.config import DataConfig
from dlcourse.errors import DataError

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# Keras's IMDB conventions: 0 pads, 1 starts a review, 2 replaces words outside
# num_words, and real words start at 3. The shuffle seed is the one load_data uses.
IMDB_START, IMDB_OOV, IMDB_INDEX_FROM, IMDB_SHUFFLE_SEED = 1, 2, 3, 113
IMDB_CLASS_NAMES = ("negative", "positive")


@dataclass(frozen=True)
class Dataset:
    """Prepared arrays of one dataset; labels are class indices."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: Path
    class_names: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_text(self) -> bool:
        return np.issubdtype(self.x_train.dtype, np.integer)


@dataclass(frozen=True)
class DatasetFile:
    """A file of a dataset in Keras's layout, and where Keras downloads it from."""

    filename: str
    sha256: str
    description: str


MNIST_FILE = DatasetFile(
    "mnist.npz",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    "x_train (60000, 28, 28) uint8, y_train, x_test, y_test",
)
IMDB_FILE = DatasetFile(
    "imdb.npz",
    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "x_train, x_test: object arrays of word-rank lists; y_train, y_test: 0/1 labels",
)

IMDB_WORD_INDEX_FILE = DatasetFile(
    "imdb_word_index.json",
    "bfafd718b763782e994055a2d397834f",  # Keras checks this one with MD5
    "a JSON object mapping each word to its frequency rank",
)


def load_dataset(config: DataConfig, data_dir: str | Path | None = None) -> Dataset:
    """Find, read and prepare the dataset a config names, limited to `config.limit`."""
    loader = _LOADERS[config.dataset]
    dataset = loader(config, data_dir)
    if config.limit is not None:
        dataset = _first(dataset, config.limit)
    return dataset


def _first(dataset: Dataset, limit: int) -> Dataset:
    return Dataset(
        name=dataset.name,
        x_train=dataset.x_train[:limit],
        y_train=dataset.y_train[:limit],
        x_test=dataset.x_test[:limit],
        y_test=dataset.y_test[:limit],
        num_classes=dataset.num_classes,
        source=dataset.source,
        class_names=dataset.class_names,
    )


# --------------------------------------------------------------------------- finding files


def candidate_dirs(data_dir: str | Path | None) -> list[Path]:
    """The local directories searched, in order, before Keras's download."""
    dirs = [Path(data_dir)] if data_dir else []
    if os.environ.get("DLCOURSE_DATA_DIR"):
        dirs.append(Path(os.environ["DLCOURSE_DATA_DIR"]))
    return dirs


def keras_cache_dir() -> Path:
    """Keras's download cache, honouring KERAS_HOME as Keras does."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def find_file(file: DatasetFile, data_dir: str | Path | None) -> Path:
    """Return a local path to `file`, downloading it through Keras as a last resort."""
    searched = candidate_dirs(data_dir) + [keras_cache_dir()]
    for directory in searched:
        if (directory / file.filename).is_file():
            return directory / file.filename
    if os.environ.get("DLCOURSE_OFFLINE") != "1":
        downloaded = _download(file)
        if downloaded is not None:
            return downloaded
    looked = ", ".join(str(directory) for directory in searched)
    raise DataError(
        f"Can't find {file.filename} (looked in: {looked}; downloading it failed or is off). "
        f"Pass --data-dir DIR, or set DLCOURSE_DATA_DIR, to a directory holding "
        f"{file.filename} in Keras's layout ({file.description}); or connect to the internet "
        f"so Keras can download it from {KERAS_ORIGIN}{file.filename}."
    )


def _download(file: DatasetFile) -> Path | None:
    import keras

    try:
        path = keras.utils.get_file(
            fname=file.filename,
            origin=KERAS_ORIGIN + file.filename,
            file_hash=file.sha256,
            cache_subdir="datasets",
        )
    except Exception:  # Keras raises bare Exception for network failures
        return None
    return Path(path)


# --------------------------------------------------------------------------- reading npz safely

# Rebuilding a numpy object array from its pickle needs these globals and nothing else;
# anything more in a file (os.system, eval, ...) is an attack and is refused.
_ALLOWED_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")


def _read_npy(stream: io.BytesIO) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    if version[0] == 1:
        _, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:  # versions 2 and 3 share the header layout
        _, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = _ArrayOnlyUnpickler(stream).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"expected an array, found {type(array).__name__}")
    return array


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays of an .npz file; object arrays only through a restricted unpickler."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            for key in keys:
                if f"{key}.npy" not in members:
                    found = ", ".join(sorted(m.removesuffix(".npy") for m in members)) or "none"
                    raise DataError(
                        f"{path}: no array '{key}' in this file (it has: {found}); "
                        f"expected Keras's layout with {', '.join(keys)}."
                    )
                with archive.open(f"{key}.npy") as member:
                    arrays[key] = _read_npy(io.BytesIO(member.read()))
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, pickle.UnpicklingError) as error:
        raise DataError(f"{path}: can't read this .npz file ({error}). Is it complete?") from None
    return arrays


# --------------------------------------------------------------------------- images


def _load_mnist_like(name: str, file: DatasetFile) -> Callable[[DataConfig, object], Dataset]:
    def load(config: DataConfig, data_dir: str | Path | None) -> Dataset:
        path = find_file(file, data_dir)
        arrays = read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
        splits = {}
        for split in ("train", "test"):
            images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
            _check_images(path, split, images, labels)
            splits[split] = (_scaled_images(images), labels.astype("int64"))
        return Dataset(
            name=name,
            x_train=splits["train"][0],
            y_train=splits["train"][1],
            x_test=splits["test"][0],
            y_test=splits["test"][1],
            num_classes=10,
            source=path,
            class_names=tuple(str(digit) for digit in range(10)),
        )

    return load


def _check_images(path: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.ndim != 3 or images.shape[0] == 0:
        raise DataError(
            f"{path}: x_{split} has shape {images.shape}; expected (N, height, width) with N > 0."
        )
    # Scaling divides by 255, which is right only for Keras's 8-bit pixels.
    if images.dtype != np.uint8:
        raise DataError(
            f"{path}: x_{split} holds {images.dtype} values; expected uint8 pixels 0-255."
        )
    if labels.shape != (images.shape[0],):
        raise DataError(
            f"{path}: y_{split} has shape {labels.shape} but x_{split} holds "
            f"{images.shape[0]} images; expected one label per image."
        )
    _check_labels(path, split, labels, range(10))


def _check_labels(path: Path, split: str, labels: np.ndarray, classes: range) -> None:
    # Float labels would be truncated to classes without a word; refuse them instead.
    if (
        not np.issubdtype(labels.dtype, np.integer)
        or labels.min() < classes.start
        or labels.max() >= classes.stop
    ):
        raise DataError(
            f"{path}: y_{split} must hold integer class labels {classes.start}-"
            f"{classes.stop - 1}, found {labels.dtype} values."
        )


def _scaled_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> float32 (N, H, W, 1) in [0, 1], as the lecture prepares MNIST."""
    return (images.astype("float32") / 255.0)[..., np.newaxis]


# --------------------------------------------------------------------------- IMDB


def _load_imdb(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    path = find_file(IMDB_FILE, data_dir)
    arrays = read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(IMDB_SHUFFLE_SEED)
    splits = {}
    for split in ("train", "test"):  # order matters: both shuffles draw from one rng
        reviews, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_reviews(path, split, reviews, labels)
        order = np.arange(len(reviews))
        rng.shuffle(order)
        try:
            sequences = imdb_sequences(reviews[order], config.num_words, config.maxlen)
        except ValueError as error:
            raise DataError(f"{path}: x_{split}: {error}") from None
        splits[split] = (sequences, labels[order].astype("int64"))
    return Dataset(
        name="imdb",
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        num_classes=2,
        source=path,
        class_names=IMDB_CLASS_NAMES,
    )


def _check_reviews(path: Path, split: str, reviews: np.ndarray, labels: np.ndarray) -> None:
    if reviews.ndim != 1 or len(reviews) == 0 or reviews.dtype.kind in "USV":
        raise DataError(
            f"{path}: x_{split} must be a non-empty list of reviews, each a list of integer "
            f"word ranks; found {reviews.dtype} values of shape {reviews.shape}."
        )
    if labels.shape != reviews.shape:
        raise DataError(
            f"{path}: y_{split} has {labels.shape[0] if labels.ndim else 0} labels for "
            f"{len(reviews)} reviews; expected one label per review."
        )
    _check_labels(path, split, labels, range(2))


def imdb_sequences(reviews: np.ndarray, num_words: int | None, maxlen: int) -> np.ndarray:
    """Keras's `imdb.load_data` mapping followed by `pad_sequences(maxlen=...)`, vectorised.

    Each review of word ranks becomes [1] + [rank + 3 ...], ranks at or above num_words
    become 2, and the result is cut to its last `maxlen` tokens or padded with zeros in
    front. The same as Keras's Python loops, without looping over 50,000 lists.
    """
    not_ranks = ValueError("IMDB reviews must be lists of integer word ranks >= 0")
    try:
        lengths = np.fromiter(
            (len(review) for review in reviews), dtype=np.int64, count=len(reviews)
        )
        # Read as floats first: straight to int64, numpy would truncate 1.5 to 1 silently.
        ranks = np.fromiter(
            (word for review in reviews for word in review), dtype=np.float64, count=lengths.sum()
        )
    except (TypeError, ValueError):
        raise not_ranks from None
    if not (np.isfinite(ranks).all() and (ranks == np.floor(ranks)).all() and (ranks >= 0).all()):
        raise not_ranks
    words = ranks.astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    tokens = np.insert(words + IMDB_INDEX_FROM, starts, IMDB_START)
    lengths = lengths + 1
    if num_words is not None:
        tokens[tokens >= num_words] = IMDB_OOV
    row = np.repeat(np.arange(len(reviews)), lengths)
    position = np.arange(len(tokens)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    column = maxlen - np.repeat(lengths, lengths) + position
    kept = column >= 0
    padded = np.zeros((len(reviews), maxlen), dtype="int32")
    padded[row[kept], column[kept]] = tokens[kept]
    return padded


def load_word_index(data_dir: str | Path | None = None) -> dict[str, int]:
    """IMDB's word -> frequency rank mapping (rank 1 is the most frequent word)."""
    path = find_file(IMDB_WORD_INDEX_FILE, data_dir)
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: can't read the word index ({error}).") from None
    if not isinstance(index, dict) or not all(
        isinstance(rank, int) and rank > 0 for rank in index.values()
    ):
        raise DataError(f"{path}: expected a JSON object mapping words to positive ranks.")
    return index


# IMDB's tokenisation, as the dataset was built: lower case, punctuation other than the
# apostrophe becomes a space, then split on whitespace.
_PUNCTUATION_TO_SPACE = str.maketrans({mark: " " for mark in string.punctuation if mark != "'"})


def tokenize_review(text: str) -> list[str]:
    return text.lower().translate(_PUNCTUATION_TO_SPACE).split()


def encode_reviews(
    texts: Sequence[str], word_index: dict[str, int], num_words: int | None, maxlen: int
) -> np.ndarray:
    """Raw reviews -> the padded word-index arrays a model trained on IMDB takes.

    Words are ranked with the word index, then mapped exactly as the training data was
    (start token, rank + 3, OOV for rare words); words the index doesn't know are OOV.
    """
    unknown = num_words if num_words is not None else max(word_index.values()) + 1
    reviews = np.empty(len(texts), dtype=object)
    for position, text in enumerate(texts):
        reviews[position] = [word_index.get(word, unknown) for word in tokenize_review(text)]
    sequences = imdb_sequences(reviews, num_words, maxlen)
    if num_words is None:
        sequences[sequences >= unknown + IMDB_INDEX_FROM] = IMDB_OOV
    return sequences


def decode_reviews(sequences: np.ndarray, word_index: dict[str, int]) -> list[str]:
    """Word indices back to text, as Keras's docs decode IMDB: rank = index - 3, '?' for OOV."""
    words = {rank + IMDB_INDEX_FROM: word for word, rank in word_index.items()}
    return [
        " ".join(words.get(int(index), "?") for index in sequence if index > IMDB_START)
        for sequence in sequences
    ]


_LOADERS: dict[str, Callable[[DataConfig, str | Path | None], Dataset]] = {
    "mnist": _load_mnist_like("mnist", MNIST_FILE),
    "imdb": _load_imdb,
}


def one_hot_if_needed(labels: np.ndarray, num_classes: int, loss: str) -> np.ndarray:
    """Categorical cross-entropy wants one-hot targets (the lecture's `to_categorical`)."""
    if loss == "categorical_crossentropy":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels
