"""Loading the dataset a config names: its family's loader, then `data.limit`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from dlcourse.config import DataConfig, family
from dlcourse.config.sections import one_hot_labels
from dlcourse.data.dataset import Dataset, TextVocabulary
from dlcourse.data.image_folder import image_files, image_root, load_image_folder
from dlcourse.data.files import find_file, find_paths, fingerprint, found, home_expanded
from dlcourse.data.images import (
    KERAS_FOLDERS, MNIST_FILE, check_offline_findable, load_cifar10, load_cifar100,
    load_fashion_mnist, load_mnist,
)
from dlcourse.data.imdb import IMDB_FILE, load_imdb
from dlcourse.data.text import ACLIMDB_CLASS_FOLDERS, check_splits_apart, load_raw_text
from dlcourse.errors import DataError

_LOADERS: dict[str, Callable[[DataConfig, str | Path | None], Dataset]] = {
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "image_folder": load_image_folder,
    "imdb": load_imdb,
}


def load_dataset(
    config: DataConfig,
    data_dir: str | Path | None = None,
    *,
    vocabulary: TextVocabulary | None = None,
    task: str = "classification",
    test_only: bool = False,
) -> Dataset:
    """Find, read and prepare the dataset a config names, limited to `config.limit`.

    Files are looked for in `data_dir`, else the config's `data.dir`, then
    DLCOURSE_DATA_DIR and Keras's cache. Raw text is vectorised with `vocabulary` when
    given (a run's saved one), otherwise with
    a vocabulary fitted on the training split; its targets are numbers when `task` is
    regression (the loss decides: `Config.task`). `test_only`, for a trained run's
    commands: raw text reads its test split alone (as both splits); other data is read
    whole, as its loaders read one file or folder for both.
    """
    data_dir = data_dir if data_dir is not None else config.dir
    if config.dataset == "raw_text":
        dataset = load_raw_text(config, data_dir, vocabulary, task == "regression", test_only)
    elif config.dataset == "image_folder":
        dataset = load_image_folder(config, data_dir, learning=not test_only)
    else:
        dataset = _LOADERS[config.dataset](config, data_dir)
    if config.limit is not None:
        dataset = first(dataset, config.limit)
    return dataset


def check_findable(config: DataConfig, data_dir: str | Path | None = None, *,
                   test_only: bool = False) -> None:
    """Raise the DataError `load_dataset` would raise for files it can't find, reading
    none of them: a check without TensorFlow, so `train` says so before its seconds-long
    start. A missing Keras dataset is only certain offline (DLCOURSE_OFFLINE=1); online
    the loader tries Keras's download. `test_only` as for load_dataset."""
    data_dir = data_dir if data_dir is not None else config.dir
    if config.dataset == "raw_text":
        if config.format is not None and test_only:
            find_paths(config.test, data_dir, f"{config.format} text")
        elif config.format is not None:  # which needs both splits (the config's check)
            check_splits_apart(config, data_dir)
    elif config.dataset == "image_folder":
        if config.path is not None:
            image_root(config.path, data_dir, "data.path")
        if config.test_path is not None:
            image_root(config.test_path, data_dir, "data.test_path")
    elif os.environ.get("DLCOURSE_OFFLINE") == "1":
        if config.dataset == "imdb":
            find_file(IMDB_FILE, data_dir)
        else:
            check_offline_findable(config.dataset, data_dir)


def check_held_in(config: DataConfig, data_dir: str | Path, *, test_only: bool = False) -> None:
    """`data_dir` itself holds the data `config` names. Loading falls back to other places
    (DLCOURSE_DATA_DIR, Keras's cache, the current directory), which suits training; but a
    command pointed at other data (`evaluate RUN --data-dir DIR`) that silently read the
    training copy from elsewhere would report the wrong data's score as the asked one's.
    `test_only` as for load_dataset: raw text's data.train needn't be there."""
    if family(config.dataset).paths:
        for key, pattern in config.own_paths().items():
            if test_only and key == "data.train":
                continue
            if (where := Path(home_expanded(pattern))).is_absolute():
                if where.is_relative_to(Path(data_dir).absolute()):
                    continue  # held there: --data-dir names the data where it is
                raise DataError(f"{key} is the absolute path {pattern}, which --data-dir "
                                f"{data_dir} can't change: leave --data-dir out, or give "
                                "one holding that path, to use that data; or train a run "
                                "whose config names it relative to a data directory.")
            if found(pattern, data_dir, "data")[0] != Path(data_dir):
                raise DataError(f"{data_dir} holds nothing matching {key} ({pattern}); "
                                "it was found elsewhere, which is not the data asked for.")
        return
    held = {"mnist": MNIST_FILE.filename, "imdb": IMDB_FILE.filename, **KERAS_FOLDERS}
    if config.dataset in held and not (Path(data_dir) / held[config.dataset]).exists():
        raise DataError(f"{data_dir} holds no {held[config.dataset]}, the {config.dataset} data "
                        "the run needs in Keras's layout; it would be read from elsewhere, "
                        "which is not the data asked for.")


def first(dataset: Dataset, limit: int) -> Dataset:
    """The first `limit` examples of each split."""
    return replace(
        dataset,
        x_train=dataset.x_train[:limit],
        y_train=dataset.y_train[:limit],
        x_test=dataset.x_test[:limit],
        y_test=dataset.y_test[:limit],
        test_texts=dataset.test_texts[:limit],
    )


def one_hot_if_needed(labels: np.ndarray, num_classes: int, loss: str) -> np.ndarray:
    """Categorical cross-entropy wants one-hot targets (the lecture's `to_categorical`), as
    every loss of one output per class does."""
    if one_hot_labels(loss, num_classes):
        return np.eye(num_classes, dtype="float32")[labels]
    return labels


# What data.json says of a run trained on data given from Python, which it doesn't keep.
MEMORY_KIND = "memory"


def own_files(config: DataConfig, data_dir: str | Path | None) -> tuple[Path | None, list[Path]] | None:
    """(the directory relative paths matched in, every file or folder matched) for the
    families read from the config's own paths (raw text, image folders); else None."""
    patterns = list(config.own_paths().values())
    if not patterns:
        return None
    found_in, read = None, []
    for pattern in patterns:
        directory, matches = found(pattern, data_dir, "data")
        if found_in is None and not Path(home_expanded(pattern)).is_absolute():
            found_in = directory
        read += matches
    return found_in, read


def data_fingerprint(config: DataConfig, path: Path) -> list[int]:
    """files.fingerprint of what the loader reads at `path`: in a folder, its images or its
    reviews alone, so a README or notes put beside them (or aclImdb's 50,000 unlabelled
    reviews) are no change to the data, and aren't walked."""
    if path.is_dir() and config.dataset == "image_folder":
        return fingerprint(path, image_files(path))
    if path.is_dir() and config.format == "aclimdb":
        return fingerprint(path, [review for name in ACLIMDB_CLASS_FOLDERS
                                  for review in (path / name).glob("*.txt")])
    return fingerprint(path)


def data_record(config: DataConfig, data_dir: str | Path | None, dataset: Dataset) -> dict:
    """Where a run's data came from, so later commands on the run find it again and can
    tell whether it changed: the directory it was found in (the current one, for your own
    files found there) and a fingerprint of each file or folder read (files.fingerprint)."""
    chosen = data_dir if data_dir is not None else config.dir or os.environ.get("DLCOURSE_DATA_DIR")
    read = [Path(dataset.source)]
    if (own := own_files(config, chosen)) is not None:
        # Where later commands look: it may be the current directory.
        found_in, read = own
        chosen = found_in or chosen
    try:
        files = {str(path.resolve()): data_fingerprint(config, path) for path in read}
    except OSError:  # data given from Python: no file
        return {"data_dir": None, "source": None}
    return {"data_dir": str(Path(home_expanded(str(chosen))).resolve()) if chosen else None,
            "source": dataset.recorded_source, "files": files}
