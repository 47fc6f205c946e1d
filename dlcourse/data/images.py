"""Image datasets in Keras's layout: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Pixels are scaled to [0, 1] as the lecture prepares MNIST, and labels are checked to be
class indices before anything trains.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from dlcourse.config import DataConfig
from dlcourse.config.datasets import (
    CIFAR10_CLASS_NAMES,
    DIGITS,
    FASHION_MNIST_CLASS_NAMES,
)
from dlcourse.data.dataset import Dataset, check_labels
from dlcourse.data.files import (
    LARGEST_ARRAY_BYTES,
    PASS_DATA_DIR,
    ArrayOnlyUnpickler,
    DatasetFile,
    candidate_dirs,
    find_file,
    find_folder,
    keras_cache_dir,
    read_bounded,
    read_npz,
    regular_file,
)
from dlcourse.errors import DataError

MNIST_FILE = DatasetFile(
    "mnist.npz",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    "x_train (60000, 28, 28) uint8, y_train, x_test, y_test",
)
SPLITS = ("x_train", "y_train", "x_test", "y_test")


def load_mnist(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    path = find_file(MNIST_FILE, data_dir)
    arrays = read_npz(path, SPLITS)
    return image_dataset("mnist", arrays, path, DIGITS, config.limit)


def image_dataset(
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
    train_shape, test_shape = arrays["x_train"].shape[1:], arrays["x_test"].shape[1:]
    if train_shape != test_shape:
        raise DataError(
            f"{source}: the training images are {'x'.join(map(str, train_shape))} but the test "
            f"images {'x'.join(map(str, test_shape))}; a model takes one image size."
        )
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], np.asarray(arrays[f"y_{split}"]).reshape(-1)
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
    check_labels(path, split, labels, range(num_classes))


def _scaled_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W[, C]) -> float32 (N, H, W, C) in [0, 1], as the lecture prepares MNIST."""
    scaled = images.astype("float32")
    scaled /= 255.0  # in place: one float copy of the images in memory, not two
    return scaled[..., np.newaxis] if scaled.ndim == 3 else scaled


def _keras_load_data(name: str, folder: str, data_dir) -> tuple[dict[str, np.ndarray], Path]:
    """The dataset through `keras.datasets.<name>.load_data()`, which caches and downloads."""
    looked = ", ".join(str(d) for d in candidate_dirs(data_dir) + [keras_cache_dir()])
    missing = (
        f"Can't find the folder {folder} (looked in: {looked}). {PASS_DATA_DIR}, or set "
        f"DLCOURSE_DATA_DIR, to a directory holding {folder} in Keras's layout "
        f"({FOLDER_FILES[folder]})"
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
# IDX headers: a magic number (2049 labels, 2051 images), the count, and for images the size.
_IDX_LABELS, _IDX_IMAGES = 2049, 2051


def load_fashion_mnist(config: DataConfig, data_dir: str | Path | None) -> Dataset:
    folder = find_folder(FASHION_MNIST_FOLDER, data_dir)
    if folder is None:
        arrays, source = _keras_load_data("fashion_mnist", FASHION_MNIST_FOLDER, data_dir)
    else:
        arrays = {key: read_idx(folder / name) for key, name in FASHION_MNIST_FILES.items()}
        source = folder
    return image_dataset(
        "fashion_mnist", arrays, source, FASHION_MNIST_CLASS_NAMES, config.limit
    )


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file (the MNIST format) as a uint8 array: labels (N,) or images (N, H, W)."""
    if not path.exists():
        raise DataError(f"{path}: missing; expected the 4 gzipped IDX files of Fashion-MNIST "
                        f"({', '.join(FASHION_MNIST_FILES.values())}).")
    try:
        with gzip.open(regular_file(path), "rb") as stream:
            data = read_bounded(stream, LARGEST_ARRAY_BYTES, path, "this IDX file")
    except (OSError, EOFError, zlib.error) as error:
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
# What each folder holds, as Keras's download unpacks it: said when it is missing.
FOLDER_FILES = {
    FASHION_MNIST_FOLDER: ", ".join(FASHION_MNIST_FILES.values()),
    CIFAR10_FOLDER: "data_batch_1 to data_batch_5, test_batch, batches.meta",
    CIFAR100_FOLDER: "train, test, meta",
}


def load_cifar10(config: DataConfig, data_dir: str | Path | None) -> Dataset:
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
    return image_dataset("cifar10", arrays, source, CIFAR10_CLASS_NAMES, config.limit)


def load_cifar100(config: DataConfig, data_dir: str | Path | None) -> Dataset:
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
    return image_dataset("cifar100", arrays, source, names, config.limit)


# The datasets Keras keeps as a folder, by `data.dataset`.
KERAS_FOLDERS = {"fashion_mnist": FASHION_MNIST_FOLDER, "cifar10": CIFAR10_FOLDER,
                 "cifar100": CIFAR100_FOLDER}


def check_offline_findable(dataset: str, data_dir: str | Path | None) -> None:
    """With downloading off, the DataError loading `dataset` would raise for its missing
    file or folder, without reading anything (and without Keras)."""
    if dataset == "mnist":
        find_file(MNIST_FILE, data_dir)
    elif dataset in KERAS_FOLDERS and find_folder(KERAS_FOLDERS[dataset], data_dir) is None:
        _keras_load_data(dataset, KERAS_FOLDERS[dataset], data_dir)


def _read_cifar_pickle(path: Path) -> dict[str, object]:
    # CIFAR's files are Python 2 pickles of a dict with bytes keys; read them with the
    # array-only unpickler, never plain pickle.
    if not path.exists():
        raise DataError(f"{path}: missing from the CIFAR folder (Keras's layout).")
    try:
        with open(regular_file(path), "rb") as stream:
            pickled = read_bounded(stream, LARGEST_ARRAY_BYTES, path, "this CIFAR batch")
        content = ArrayOnlyUnpickler(io.BytesIO(pickled), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, MemoryError) as error:
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
    if not path.exists():
        return tuple(str(label) for label in range(100))
    names = _read_cifar_pickle(path).get("fine_label_names", [])
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


