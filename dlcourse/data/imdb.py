"""IMDB as Keras's word indices: prepared as `imdb.load_data` then `pad_sequences` do,
and raw reviews mapped to the same indices for `predict`.

Keras's conventions: 0 pads, 1 starts a review, 2 replaces words outside num_words, and
real words start at 3; both splits are shuffled with the seed load_data uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
from pathlib import Path
from typing import Sequence

import numpy as np

from dlcourse.cache import cache_file, keep, used
from dlcourse.config import DataConfig
from dlcourse.config.datasets import SENTIMENTS
from dlcourse.data.dataset import (
    LARGEST_PADDED_BYTES, Dataset, check_labels, check_padded_fits, word_index_rows,
)
from dlcourse.data.files import DatasetFile, find_file, read_bounded, read_npz, regular_file
from dlcourse.errors import DataError
from dlcourse.safe_files import opened_file

IMDB_START, IMDB_OOV, IMDB_INDEX_FROM, IMDB_SHUFFLE_SEED = 1, 2, 3, 113
IMDB_SPLITS = ("x_train", "y_train", "x_test", "y_test")
# Bump when the preparation changes, so that older cached arrays are not used.
IMDB_CACHE_VERSION = 1
# Reviews prepared at a time: enough to stay vectorised, few enough to stay small in memory.
IMDB_CHUNK = 2048
# The official word index is 1.6 MB.
LARGEST_WORD_INDEX_BYTES = 64 << 20

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


def load_imdb(config: DataConfig, data_dir: str | Path | None) -> Dataset:
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
        class_names=SENTIMENTS,
        input_kind="word_indices",
        vocabulary_size=word_index_rows(config.num_words, splits["x_train"], splits["x_test"]),
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
    cached = cache_file("imdb", hashlib.sha256(key.encode()).hexdigest()[:20], ".npz")
    splits = _read_cached_splits(cached, num_words, maxlen)
    if splits is not None:
        used(cached)
        return splits
    splits = _prepare_imdb(path, num_words, maxlen)
    keep(cached, lambda partial: np.savez(partial, **splits))
    return splits


def _read_cached_splits(cached: Path, num_words: int | None, maxlen: int
                        ) -> dict[str, np.ndarray] | None:
    """The cached padded splits, or None where there are none or they aren't what preparing
    gives (a cut file was a BadZipFile traceback, ranks past num_words TensorFlow's, a
    header claiming 745 GB numpy's MemoryError, and a pipe hung)."""
    try:
        with opened_file(cached, DataError, "cache") as stream:
            if os.fstat(stream.fileno()).st_size > LARGEST_PADDED_BYTES + (16 << 20):
                return None
            with np.load(stream, allow_pickle=False) as arrays:
                splits = {name: arrays[name] for name in IMDB_SPLITS}
    # Whatever a damaged file raises (a pipe's DataError, numpy's MemoryError): prepare again.
    except Exception:
        return None
    for split in ("train", "test"):
        x, y = splits[f"x_{split}"], splits[f"y_{split}"]
        if not (x.dtype == np.int32 and x.ndim == 2 and x.shape[1] == maxlen and len(x)
                and y.dtype == np.int64 and y.shape == (len(x),)):
            return None
        if x.min() < 0 or num_words is not None and x.max() >= num_words \
                or not np.isin(y, (0, 1)).all():
            return None
    return splits


def _prepare_imdb(path: Path, num_words: int | None, maxlen: int) -> dict[str, np.ndarray]:
    arrays = read_npz(path, IMDB_SPLITS)
    for split in ("train", "test"):
        _check_reviews(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"])
    reviews = [review for split in ("train", "test") for review in arrays[f"x_{split}"]]
    # Every review is padded (data.limit is taken from the prepared, cached splits); with
    # its start token, a review is one longer than its words.
    check_padded_fits("data.maxlen", maxlen, len(reviews), str(path),
                      lambda: 1 + max(map(_length, reviews)))
    rng = np.random.RandomState(IMDB_SHUFFLE_SEED)
    splits = {}
    for split in ("train", "test"):  # order matters: both shuffles draw from one rng
        reviews, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        order = np.arange(len(reviews))
        rng.shuffle(order)
        try:
            splits[f"x_{split}"] = imdb_sequences(reviews[order], num_words, maxlen)
        except ValueError as error:
            raise DataError(f"{path}: x_{split}: {error}") from None
        splits[f"y_{split}"] = labels[order].astype("int64")
    return splits


def _length(review) -> int:
    try:
        return len(review)
    except TypeError:  # not a list of ranks: told as such where the reviews are padded
        return 0


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
    check_labels(path, split, labels, range(2))


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


# A rank is shifted by IMDB_INDEX_FROM into an int32 word index: one past that wrapped round
# (a word read as another). An empty index stopped predict in a max() of nothing.
HIGHEST_RANK = 2**31 - 1 - IMDB_INDEX_FROM
WORD_INDEX_EXPECTED = f"a JSON object mapping words to ranks from 1 to {HIGHEST_RANK:,}"


def is_word_index(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(rank, int) and not isinstance(rank, bool) and 0 < rank <= HIGHEST_RANK
        for rank in value.values())


def load_word_index(data_dir: str | Path | None = None) -> dict[str, int]:
    """IMDB's word -> frequency rank mapping (rank 1 is the most frequent word)."""
    path = find_file(IMDB_WORD_INDEX_FILE, data_dir)
    try:
        with open(regular_file(path), "rb") as stream:
            text = read_bounded(stream, LARGEST_WORD_INDEX_BYTES, path, "the word index")
        index = json.loads(text.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise DataError(f"{path}: can't read the word index ({error}).") from None
    if not is_word_index(index):
        raise DataError(f"{path}: expected {WORD_INDEX_EXPECTED}.")
    return index


# IMDB's tokenisation, as the dataset was built: lower case, punctuation other than the
# apostrophe becomes a space, then split on whitespace.
_PUNCTUATION_TO_SPACE = str.maketrans({mark: " " for mark in string.punctuation if mark != "'"})


# The same in RE2, for a TensorFlow graph (an exported model): the punctuation above, and
# every character Python's str.split() splits on, become a space.
PUNCTUATION_OR_SPACE_RE2 = (
    "[" + "".join("\\" + mark for mark in string.punctuation if mark != "'")
    + "\\t\\n\\x0b\\f\\r\\x1c-\\x1f\\x85\\p{Z}]"
)


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


