"""Shared fixtures: small datasets in Keras's layout, and an isolated environment.

Tests never download: DLCOURSE_OFFLINE is set and Keras's cache points at a temp dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
REAL_DATA_DIR = os.environ.get("DLCOURSE_DATA_DIR")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("DLCOURSE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def write_mnist(directory: Path, train: int = 96, test: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = directory / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        y_train=np.arange(train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        y_test=np.arange(test, dtype=np.uint8) % 10,
    )
    return path


def random_reviews(rng: np.random.Generator, count: int) -> np.ndarray:
    reviews = np.empty(count, dtype=object)
    for index in range(count):
        length = int(rng.integers(0, 60))
        reviews[index] = [int(word) for word in rng.integers(1, 20000, length)]
    return reviews


def write_imdb(directory: Path, train: int = 96, test: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = directory / "imdb.npz"
    np.savez(
        path,
        x_train=random_reviews(rng, train),
        y_train=np.arange(train, dtype=np.int64) % 2,
        x_test=random_reviews(rng, test),
        y_test=np.arange(test, dtype=np.int64) % 2,
    )
    (directory / "imdb_word_index.json").write_text(json.dumps({"the": 1, "and": 2, "a": 3}))
    return path


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A directory with tiny mnist.npz, imdb.npz and imdb_word_index.json."""
    directory = tmp_path / "data"
    directory.mkdir()
    write_mnist(directory)
    write_imdb(directory)
    return directory


def is_tunable(path: Path) -> bool:
    """Whether a shipped config searches values (trained through `dlcourse tune`)."""
    from dlcourse.search_space import load_search_config

    return bool(load_search_config(path).expressions)
