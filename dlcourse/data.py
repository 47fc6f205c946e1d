"""Datasets: where their files are found, how they are read safely, how they are prepared.

Sources are tried in order: `--data-dir`, then `DLCOURSE_DATA_DIR`, then Keras's own
cache and download. Files are in Keras's layout (`mnist.npz`, `imdb.npz`, `fashion-mnist/`,
`cifar-10-batches-py/`, `cifar-100-python/`), and preparation follows the lecture's code:
pixels scaled to [0, 1]; reviews mapped with Keras's IMDB conventions and padded with
`pad_sequences`' defaults. Image folders go through `image_dataset_from_directory`; raw
text is `dlcourse.text`'s.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import pickle
import string
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dlcourse.config import DataConfig
from dlcourse.errors import DataError

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# Keras's IMDB conventions: 0 pads, 1 starts a review, 2 replaces words outside
# num_words, and real words start at 3. The shuffle seed is the one load_data uses.
IMDB_START, IMDB_OOV, IMDB_INDEX_FROM, IMDB_SHUFFLE_SEED = 1, 2, 3, 113
IMDB_SPLITS = ("x_train", "y_train", "x_test", "y_test")
# Bump when the preparation changes, so that older cached arrays are not used.
IMDB_CACHE_VERSION = 1
# Reviews prepared at a time: enough to stay vectorised, few enough to stay small in memory.
IMDB_CHUNK = 2048
IMDB_CLASS_NAMES = ("negative", "positive")


# What a model's input is: images (float, H x W x C), word indices (int sequences for an
# Embedding) or bag-of-words vectors (one float per vocabulary entry, for Dense layers).
INPUT_KINDS = ("images", "word_indices", "bag_of_words")


@dataclass(frozen=True)
class TextVocabulary:
    """A fitted TextVectorization's vocabulary (and IDF weights for tf_idf), kept with a run
    so evaluation and prediction vectorise new text exactly as the training text was."""

    tokens: tuple[str, ...]
    idf_weights: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Dataset:
    """Prepared arrays of one dataset; labels are class indices, or numbers for regression."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: Path
    class_names: tuple[str, ...] = ()
    input_kind: str = "images"
    # The largest word index + 1 a model will see; None for images and bags of words.
    vocabulary_size: int | None = None
    # Raw-text datasets: the fitted vocabulary and the test texts as written.
    vocabulary: TextVocabulary | None = None
    test_texts: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def input_dtype(self) -> str:
        """The model's input dtype: bags of words are stored as float16 to halve their
        memory, but models take float32."""
        return "int32" if self.input_kind == "word_indices" else "float32"

    @property
    def is_text(self) -> bool:
        return self.input_kind != "images"


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


def load_dataset(
    config: DataConfig,
    data_dir: str | Path | None = None,
    *,
    vocabulary: TextVocabulary | None = None,
    task: str = "classification",
) -> Dataset:
    """Find, read and prepare the dataset a config names, limited to `config.limit`.

    Raw text is vectorised with `vocabulary` when given (a run's saved one), otherwise with
    a vocabulary fitted on the training split; its targets are numbers when `task` is
    regression (the loss decides: `Config.task`).
    """
    if config.dataset == "raw_text":
        from dlcourse.text import load_raw_text  # text builds on this module

        dataset = load_raw_text(config, data_dir, vocabulary, task == "regression")
    else:
        dataset = _LOADERS[config.dataset](config, data_dir)
    if config.limit is not None:
        dataset = _first(dataset, config.limit)
    return dataset


def _first(dataset: Dataset, limit: int) -> Dataset:
    return replace(
        dataset,
        x_train=dataset.x_train[:limit],
        y_train=dataset.y_train[:limit],
        x_test=dataset.x_test[:limit],
        y_test=dataset.y_test[:limit],
        test_texts=dataset.test_texts[:limit],
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


def find_paths(pattern: str, data_dir: str | Path | None, what: str) -> list[Path]:
    """Files or folders matching `pattern` (a path or a glob), sorted.

    A relative pattern is looked up under --data-dir, then DLCOURSE_DATA_DIR, then the
    current directory; the first directory where it matches wins.
    """
    if Path(pattern).is_absolute():
        searched = [Path(pattern).anchor]
        relative = str(Path(pattern).relative_to(Path(pattern).anchor))
    else:
        searched = [*candidate_dirs(data_dir), Path.cwd()]
        relative = pattern
    for directory in searched:
        matches = sorted(Path(match) for match in glob.glob(str(Path(directory) / relative)))
        if matches:
            return matches
    looked = ", ".join(str(directory) for directory in searched)
    raise DataError(
        f"No {what} matches {pattern!r} (looked in: {looked}). Pass --data-dir DIR, or "
        "set DLCOURSE_DATA_DIR, to the directory it is relative to, or give an absolute path."
    )


def find_folder(folder: str, data_dir: str | Path | None) -> Path | None:
    """A dataset folder in Keras's layout (e.g. cifar-10-batches-py), where Keras caches it too."""
    for directory in candidate_dirs(data_dir) + [keras_cache_dir()]:
        if (directory / folder).is_dir():
            return directory / folder
    return None


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
        classes = tuple(str(digit) for digit in range(10))
        return _image_dataset(name, arrays, path, classes, config.limit)

    return load


def _image_dataset(
    name: str,
    arrays: dict[str, np.ndarray],
    source: Path,
    class_names: Sequence[str],
    limit: int | None = None,
) -> Dataset:
    """Checked, scaled image arrays (x_train, y_train, x_test, y_test) as a Dataset.

    Only the first `limit` images of each split are scaled: a float copy of all of them
    would cost more memory than the images a smoke run trains on.
    """
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], np.asarray(arrays[f"y_{split}"]).reshape(-1)
        _check_images(source, split, images, labels, len(class_names))
        images, labels = images[:limit], labels[:limit]
        splits[split] = (_scaled_images(images), labels.astype("int64"))
    return Dataset(
        name=name,
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        num_classes=len(class_names),
        source=source,
        class_names=tuple(class_names),
    )


def _check_images(
    path: Path, split: str, images: np.ndarray, labels: np.ndarray, num_classes: int = 10
) -> None:
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise DataError(
            f"{path}: x_{split} has shape {images.shape}; expected (N, height, width) or "
            "(N, height, width, channels) with N > 0."
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
    _check_labels(path, split, labels, range(num_classes))


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
    """uint8 (N, H, W[, C]) -> float32 (N, H, W, C) in [0, 1], as the lecture prepares MNIST."""
    scaled = images.astype("float32")
    scaled /= 255.0  # in place: one float copy of the images in memory, not two
    return scaled[..., np.newaxis] if scaled.ndim == 3 else scaled


def _keras_load_data(name: str, folder: str, data_dir) -> tuple[dict[str, np.ndarray], Path]:
    """The dataset through `keras.datasets.<name>.load_data()`, which caches and downloads."""
    looked = ", ".join(str(d) for d in candidate_dirs(data_dir) + [keras_cache_dir()])
    missing = (
        f"Can't find the folder {folder} (looked in: {looked}). Pass --data-dir DIR, or set "
        f"DLCOURSE_DATA_DIR, to a directory holding {folder} in Keras's layout"
    )
    if os.environ.get("DLCOURSE_OFFLINE") == "1":
        raise DataError(f"{missing}. Downloading is off (DLCOURSE_OFFLINE=1).")
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as error:  # Keras raises bare Exception for network failures
        raise DataError(f"{missing}. Downloading it with Keras failed ({error}).") from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return arrays, keras_cache_dir()


FASHION_MNIST_FOLDER = "fashion-mnist"
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# IDX headers: a magic number (2049 labels, 2051 images), the count, and for images the size.
_IDX_LABELS, _IDX_IMAGES = 2049, 2051


def _load_fashion_mnist(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    folder = find_folder(FASHION_MNIST_FOLDER, data_dir)
    if folder is None:
        arrays, source = _keras_load_data("fashion_mnist", FASHION_MNIST_FOLDER, data_dir)
    else:
        arrays = {key: read_idx(folder / name) for key, name in FASHION_MNIST_FILES.items()}
        source = folder
    return _image_dataset(
        "fashion_mnist", arrays, source, FASHION_MNIST_CLASS_NAMES, config.limit
    )


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file (the MNIST format) as a uint8 array: labels (N,) or images (N, H, W)."""
    try:
        with gzip.open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; expected the 4 gzipped IDX files of Fashion-MNIST "
                        f"({', '.join(FASHION_MNIST_FILES.values())}).") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: can't read this gzip file ({error}). Is it complete?") from None
    magic = int.from_bytes(data[:4], "big") if len(data) >= 8 else None
    if magic not in (_IDX_LABELS, _IDX_IMAGES):
        raise DataError(f"{path}: not an IDX file (expected magic number 2049 or 2051).")
    header = 8 if magic == _IDX_LABELS else 16
    count = int.from_bytes(data[4:8], "big")
    shape = (count,)
    if magic == _IDX_IMAGES:
        shape = (count, int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big"))
    if len(data) != header + int(np.prod(shape)):
        raise DataError(f"{path}: the header promises shape {shape}, but the file's size "
                        "doesn't match. Is it complete?")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR10_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def _load_cifar10(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    folder = find_folder(CIFAR10_FOLDER, data_dir)
    if folder is None:
        arrays, source = _keras_load_data("cifar10", CIFAR10_FOLDER, data_dir)
    else:
        train = [read_cifar_batch(folder / f"data_batch_{n}", "labels") for n in range(1, 6)]
        test = read_cifar_batch(folder / "test_batch", "labels")
        arrays = {
            "x_train": np.concatenate([images for images, _ in train]),
            "y_train": np.concatenate([labels for _, labels in train]),
            "x_test": test[0],
            "y_test": test[1],
        }
        source = folder
    return _image_dataset("cifar10", arrays, source, CIFAR10_CLASS_NAMES, config.limit)


def _load_cifar100(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    """CIFAR-100 with its 100 fine labels (as Keras's default label_mode='fine')."""
    folder = find_folder(CIFAR100_FOLDER, data_dir)
    if folder is None:
        arrays, source = _keras_load_data("cifar100", CIFAR100_FOLDER, data_dir)
        names = tuple(str(label) for label in range(100))
    else:
        x_train, y_train = read_cifar_batch(folder / "train", "fine_labels")
        x_test, y_test = read_cifar_batch(folder / "test", "fine_labels")
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        source = folder
        names = _cifar100_names(folder / "meta")
    return _image_dataset("cifar100", arrays, source, names, config.limit)


def _read_cifar_pickle(path: Path) -> dict[str, object]:
    # CIFAR's files are Python 2 pickles of a dict with bytes keys; read them with the
    # array-only unpickler, never plain pickle.
    try:
        with open(path, "rb") as stream:
            content = _ArrayOnlyUnpickler(stream, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: missing from the CIFAR folder (Keras's layout).") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as error:
        raise DataError(f"{path}: can't read this CIFAR batch ({error}).") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(content).__name__}.")
    return {
        key.decode("latin-1") if isinstance(key, bytes) else str(key): value
        for key, value in content.items()
    }


def read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file: uint8 images (N, 32, 32, 3) and int64 labels (N,)."""
    content = _read_cifar_pickle(path)
    data, labels = content.get("data"), content.get(label_key)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: expected 'data' of shape (N, 3072) (32x32 RGB, channels first).")
    labels = np.asarray(labels if labels is not None else [], dtype="int64")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: expected one '{label_key}' entry per image.")
    images = data.astype("uint8").reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _cifar100_names(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return tuple(str(label) for label in range(100))
    names = _read_cifar_pickle(path).get("fine_label_names", [])
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


# The shuffle (and train/test split) of an image folder is fixed, so `evaluate` rebuilds
# the same test split the run was measured on.
IMAGE_FOLDER_SEED = 1337
IMAGE_FOLDER_TEST_SPLIT = 0.2


def _load_image_folder(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    """One sub-folder per class (Caltech-101/256 layout), read by image_dataset_from_directory.

    The test split is `test_path` when given, otherwise a fixed held-out fraction
    (`test_split`, default 0.2) of `path`. Images are resized to `image_size` and scaled to [0, 1].
    """
    import keras

    (root,) = find_paths(config.path, data_dir, "image folder")[:1]
    options = dict(
        image_size=tuple(config.image_size),
        color_mode=config.color_mode or "rgb",
        label_mode="int",
        batch_size=256,
        shuffle=True,
        seed=IMAGE_FOLDER_SEED,
        verbose=False,
    )
    try:
        if config.test_path is not None:
            (test_root,) = find_paths(config.test_path, data_dir, "test image folder")[:1]
            train = keras.utils.image_dataset_from_directory(root, **options)
            test = keras.utils.image_dataset_from_directory(
                test_root, class_names=train.class_names, **options
            )
        else:
            train, test = keras.utils.image_dataset_from_directory(
                root,
                validation_split=config.test_split or IMAGE_FOLDER_TEST_SPLIT,
                subset="both",
                **options,
            )
    except ValueError as error:
        raise DataError(f"{root}: can't read this image folder: {error}") from None
    x_train, y_train = _folder_arrays(train, root)
    x_test, y_test = _folder_arrays(test, config.test_path or root)
    return Dataset(
        name=Path(root).name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(train.class_names),
        source=Path(root),
        class_names=tuple(train.class_names),
    )


def _folder_arrays(images, where) -> tuple[np.ndarray, np.ndarray]:
    batches = [(np.asarray(x), np.asarray(y)) for x, y in images]
    if not batches:
        raise DataError(f"{where}: no images for this split; add images or change test_split.")
    x = np.concatenate([batch for batch, _ in batches]) / np.float32(255.0)
    return x.astype("float32"), np.concatenate([labels for _, labels in batches]).astype("int64")


# --------------------------------------------------------------------------- IMDB


def _load_imdb(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    path = find_file(IMDB_FILE, data_dir)
    splits = _prepared_imdb(path, config.num_words, config.maxlen)
    return Dataset(
        name="imdb",
        x_train=splits["x_train"],
        y_train=splits["y_train"],
        x_test=splits["x_test"],
        y_test=splits["y_test"],
        num_classes=2,
        source=path,
        class_names=IMDB_CLASS_NAMES,
        input_kind="word_indices",
        vocabulary_size=config.num_words,
    )


def _prepared_imdb(path: Path, num_words: int | None, maxlen: int) -> dict[str, np.ndarray]:
    """The padded splits, from the cache when this file was prepared so before.

    Unpickling 50,000 lists and preparing them takes seconds at every start; the cached
    arrays load in a fraction of one. The key holds the file's size and modification
    time, so a changed file is prepared again.
    """
    stat = path.stat()
    key = "|".join(
        str(part) for part in (IMDB_CACHE_VERSION, path.resolve(), stat.st_size,
                               stat.st_mtime_ns, num_words, maxlen)
    )
    cached = dlcourse_cache_dir() / f"imdb-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    try:
        with np.load(cached, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in IMDB_SPLITS}
    except (OSError, KeyError, ValueError):
        pass  # not cached yet, or a damaged file: prepare again
    splits = _prepare_imdb(path, num_words, maxlen)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, **splits)
        partial.replace(cached)
    except OSError:
        pass  # a read-only home: prepare again next time
    return splits


def _prepare_imdb(path: Path, num_words: int | None, maxlen: int) -> dict[str, np.ndarray]:
    arrays = read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(IMDB_SHUFFLE_SEED)
    splits = {}
    for split in ("train", "test"):  # order matters: both shuffles draw from one rng
        reviews, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_reviews(path, split, reviews, labels)
        order = np.arange(len(reviews))
        rng.shuffle(order)
        try:
            splits[f"x_{split}"] = imdb_sequences(reviews[order], num_words, maxlen)
        except ValueError as error:
            raise DataError(f"{path}: x_{split}: {error}") from None
        splits[f"y_{split}"] = labels[order].astype("int64")
    return splits


def dlcourse_cache_dir() -> Path:
    """Where prepared datasets are cached: DLCOURSE_CACHE_DIR, else the user cache dir.

    Never beside the data, which may be read-only (as in CI).
    """
    if os.environ.get("DLCOURSE_CACHE_DIR"):
        return Path(os.environ["DLCOURSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlcourse"


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
    front. The same as Keras's Python loops, without looping over 50,000 lists; done in
    chunks, because a pass over all of them at once needs several arrays of every token.
    """
    padded = np.zeros((len(reviews), maxlen), dtype="int32")
    for start in range(0, len(reviews), IMDB_CHUNK):
        padded[start:start + IMDB_CHUNK] = _padded_reviews(
            reviews[start:start + IMDB_CHUNK], num_words, maxlen
        )
    return padded


def _padded_reviews(reviews: np.ndarray, num_words: int | None, maxlen: int) -> np.ndarray:
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
    "fashion_mnist": _load_fashion_mnist,
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
    "image_folder": _load_image_folder,
    "imdb": _load_imdb,
}


def one_hot_if_needed(labels: np.ndarray, num_classes: int, loss: str) -> np.ndarray:
    """Categorical cross-entropy wants one-hot targets (the lecture's `to_categorical`)."""
    if loss == "categorical_crossentropy":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels
