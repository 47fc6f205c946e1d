"""Raw text: reviews read from files (aclImdb folders, JSON lines, CSV) or given as Python
lists, and vectorised with `keras.layers.TextVectorization`.

The vocabulary is fitted (`adapt`) on the training split only and travels with the run,
so `evaluate` and `predict` turn new text into exactly the arrays the model learned on.
Both splits are shuffled with a fixed seed, as Keras's IMDB loader does: files are often
sorted by class, and Keras's validation_split takes the last fraction unshuffled.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import json
import re
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from dlcourse.cache import cache_file, keep, used
from dlcourse.config import DataConfig, VectorizeConfig
from dlcourse.config.datasets import SENTIMENTS
from dlcourse.config.keras_catalog import installed_keras_version
from dlcourse.data.dataset import (
    Dataset, TextVocabulary, check_padded_fits, classes_text, parsed_vocabulary,
)
from dlcourse.data.files import find_paths, read_bounded, regular_file
from dlcourse.errors import DataError
from dlcourse.safe_files import read_file

TEXT_SHUFFLE_SEED = 113
VECTORIZE_BATCH = 512
# What the two splits' bags of words may take in memory (float16 rows; fitting may hold
# about four times that, see execution.KERAS_ARRAY_COPIES), and what TensorFlow's
# vectorising of one batch may (float32 and int64 rows, a few copies): without
# max_tokens, 2,000 reviews' trigrams are bags 624,573 wide, and took 20 GB.
# imdb_bow_bigrams' are 2 GB.
LARGEST_BAG_BYTES = 4 << 30
# A vocabulary of 2^20 long n-grams; a cached file larger than this is not one.
LARGEST_CACHED_VOCABULARY_BYTES = 256 << 20
BAG_BATCH_BYTES = 64 << 20
# From how many texts preparing them is slow enough to say what is happening.
PROGRESS_TEXTS = 5000
# Bump when what the vocabulary cache holds changes.
VOCABULARY_CACHE_VERSION = 1
ACLIMDB_CLASS_FOLDERS = ("neg", "pos")  # label 0 negative, 1 positive, as IMDB's labels
# Bounds: a text file of a dataset once decompressed (the IMDB files are 3 MB), one review
# of aclImdb, and the number of classes labels may name.
LARGEST_TEXT_FILE_BYTES = 256 << 20
LARGEST_REVIEW_BYTES = 1 << 20
MOST_CLASSES = 10_000
# From how many classes labels mostly used once are taken for another field than the label.
MANY_CLASSES = 20


def load_raw_text(
    config: DataConfig,
    data_dir: str | Path | None,
    vocabulary: TextVocabulary | None = None,
    regression: bool = False,
    test_only: bool = False,
) -> Dataset:
    """Read the train and test texts a config names and vectorise them. `test_only`, for a
    trained run's `vocabulary`: only the test split, which evaluating reads (as both)."""
    if config.format is None:
        raise DataError(
            "data.format is not set: this config takes texts given from Python "
            "(dlcourse.train(config, train=(texts, labels), test=...)). Set data.format, "
            "data.train and data.test to read files."
        )
    if test_only and vocabulary is None:
        raise ValueError("test_only evaluates a trained run: give its vocabulary")
    if not test_only:
        check_splits_apart(config, data_dir)
    splits, places = {}, {}
    wanted = ("test",) if test_only else ("train", "test")
    for split in wanted:
        pattern = getattr(config, split)
        *splits[split], places[split] = read_texts(config, pattern, data_dir)
        if not splits[split][0]:
            paths = places[split].paths
            raise DataError(
                f"{_listed(paths)}: no texts for the {'training' if split == 'train' else 'test'} "
                f"split (data.{split}: {pattern}); {'it holds' if len(paths) == 1 else 'they hold'}"
                f" no {'rows below the header' if config.format == 'csv' else 'records'}."
            )
    source = places[wanted[0]].paths[0]
    class_names = config.class_names
    if config.format == "aclimdb" and config.target_field == "label" and class_names is None:
        class_names = list(SENTIMENTS)
    train = splits["test"] if test_only else splits["train"]
    return text_dataset(
        config, train, splits["test"], vocabulary=vocabulary,
        source=source.parent, class_names=class_names, regression=regression,
        place=lambda split, index: places["test" if test_only else split][index],
        learning=not test_only,
    )


def text_dataset(
    config: DataConfig,
    train: tuple[Sequence[str], Sequence[Any]],
    test: tuple[Sequence[str], Sequence[Any]],
    *,
    vocabulary: TextVocabulary | None = None,
    source: Path | str = "<python>",
    class_names: Sequence[str] | None = None,
    regression: bool = False,
    place: Callable[[str, int], str] = lambda split, index: f"{split} targets[{index}]",
    learning: bool = True,
) -> Dataset:
    """A Dataset from (texts, targets) pairs: the Python-API path, also used for files.

    Targets are class labels (integers 0..K-1, or strings, numbered in sorted order) or,
    with `regression`, numbers. The vocabulary is fitted on the training texts unless given.
    `place(split, index)` says where a target was read, to name a wrong one. `learning`
    False: `train` is no training split (evaluation gives its test data as both).
    """
    given = class_names or config.class_names
    same = train is test  # evaluating: the test split given as both, vectorised once
    check_targets(train[1], test[1], given, regression, place)
    if learning and not regression:
        check_learnable(train[1], test[1], given, place)
    train_texts, train_targets, train_order = _shuffled(*train, limit=config.limit)
    test_texts, test_targets, test_order = _shuffled(*test, limit=config.limit)
    if not train_texts or not test_texts:
        raise DataError(f"{source}: no texts in the {'test' if train_texts else 'training'} split.")
    if regression:
        y_train = np.asarray(train_targets, dtype="float32")
        y_test = np.asarray(test_targets, dtype="float32")
        names: tuple[str, ...] = ()
    else:
        names = _class_names(train_targets, test_targets, given)
        y_train, y_test = _class_indices(train_targets, names), _class_indices(test_targets, names)
    settings = config.vectorize or VectorizeConfig()
    if vocabulary is None:
        vectorizer, fitted = fitted_vectorizer(settings, train_texts)
    else:
        vectorizer, fitted = vectorizer_from(settings, vocabulary), vocabulary
    int_mode = settings.output_mode == "int"
    many = len(test_texts) if same else len(train_texts) + len(test_texts)
    if not int_mode:
        _check_bag_fits(len(fitted.tokens), many, settings.max_tokens)
    else:
        splits = (test_texts,) if same else (train_texts, test_texts)
        check_padded_fits("data.vectorize.output_sequence_length",
                          settings.output_sequence_length, many, "the dataset",
                          lambda: max(len(tokens_of(text, settings))
                                      for texts in splits for text in texts))
    if many >= PROGRESS_TEXTS:
        _say(f"Vectorising {many:,} texts ...")
    x_test = vectorize(vectorizer, test_texts, settings)
    x_train = x_test if same else vectorize(vectorizer, train_texts, settings)
    if int_mode:
        splits = [("test", x_test, test_texts, test_order)]
        if not same:
            splits.insert(0, ("train", x_train, train_texts, train_order))
        for split, x, texts, order in splits:
            _check_each_keeps_a_word(x, texts, split, order, place, settings)
    return Dataset(
        name="raw_text",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(names),
        source=Path(source),
        class_names=names,
        input_kind="word_indices" if int_mode else "bag_of_words",
        vocabulary_size=len(fitted.tokens) if int_mode else None,
        vocabulary=fitted,
        test_texts=tuple(test_texts),
    )


def _shuffled(texts, targets, limit: int | None) -> tuple[list[str], list[Any], np.ndarray]:
    """The texts and targets in the shuffled order, and that order (where each came from)."""
    if len(texts) != len(targets):
        raise DataError(f"{len(texts)} texts but {len(targets)} targets; expected one per text.")
    order = np.random.RandomState(TEXT_SHUFFLE_SEED).permutation(len(texts))[:limit]
    return [str(texts[i]) for i in order], [targets[i] for i in order], order


def _check_each_keeps_a_word(x: np.ndarray, texts: Sequence[str], split: str,
                             order: np.ndarray, place: Callable[[str, int], str],
                             settings: VectorizeConfig) -> None:
    """Every text of index sequences keeps a word once standardised. One that keeps none
    ('!!!', ':-)', an empty aclImdb file) is padding alone: the masked average of a
    fastText model divides by zero, and training stopped as if its learning rate had
    made the loss NaN."""
    if not (empty := np.flatnonzero(~x.any(axis=1))).size:
        return
    row = empty[np.argmin(order[empty])]  # the first as read, not as shuffled
    more = f" ({empty.size:,} such texts in the {split} split)" if empty.size > 1 else ""
    raise DataError(
        f"{place(split, int(order[row]))}: the text {_shown(texts[row])} keeps no word once "
        f"standardised (data.vectorize.standardize: {settings.standardize}), so the model "
        f"would read padding alone{more}; remove it, or give it words."
    )


def check_targets(train: Sequence[Any], test: Sequence[Any], given: Sequence[str] | None,
                  regression: bool, place: Callable[[str, int], str]) -> None:
    """Targets a model can learn: numbers for a regression; else class labels that are
    all names (in data.class_names, when given) or all integers 0, 1, ... The first wrong
    one is named where it was read, with its value."""
    if regression:
        if (found := _first(train, test, lambda value: not _is_number(value))) is not None:
            split, index, value = found
            raise DataError(f"{place(split, index)}: the target {_shown(value)} is not a number "
                            "the model's float32 targets hold (finite, at most 3.4e38 in "
                            "size); a regression loss needs numbers, e.g. a 1-10 rating.")
        return
    labels = (str, int, float, np.integer, np.floating)
    if (found := _first(train, test, lambda value: not isinstance(value, labels))) is not None:
        raise DataError(f"{place(*found[:2])}: the label {_shown(found[2])} is neither a name nor an "
                        "integer 0, 1, ...")
    # pandas reads a missing label as NaN (in a column of names too): named before the
    # class count (each NaN is its own set member) and the names-or-numbers check.
    if found := _first(train, test, _is_nan):
        raise DataError(f"{place(*found[:2])}: the label is missing (NaN): every text needs a "
                        "label; drop or fill the rows without one (and give a numbered "
                        "column as integers, .astype(int)).")
    named = (lambda value: isinstance(value, str) and lone_surrogate(value) is not None)
    if found := _first(train, test, named):
        raise DataError(f"{place(*found[:2])}: the label holds the escape "
                        f"{lone_surrogate(found[2])}, half of a UTF-16 pair, which is not "
                        "a character; a class's name must be text.")
    controlled = (lambda value: isinstance(value, str) and CONTROL_CHARACTERS.search(value) is not None)
    if found := _first(train, test, controlled):
        # A newline split each prediction over two lines; an escape coloured the terminal.
        raise DataError(f"{place(*found[:2])}: the label {_shown(found[2])} holds the control "
                        f"character {CONTROL_CHARACTERS.search(found[2]).group()!r}; a class's name is "
                        "printed in reports and predictions: write it without one.")
    if len(values := set(train) | set(test)) > MOST_CLASSES:
        raise DataError(f"the labels name {len(values):,} classes; at most {MOST_CLASSES:,} "
                        "are supported. Is data.target the label field?")
    names = [value for value in values if isinstance(value, str)]
    if names and len(names) < len(values):
        name = _first(train, test, lambda value: isinstance(value, str))
        number = _first(train, test, lambda value: not isinstance(value, str))
        here, there = place(*name[:2]), place(*number[:2])
        if there.startswith(file := here.rsplit(", line ", 1)[0] + ", "):
            there = there[len(file):]  # "line 3" of the same file
        # A spreadsheet's empty cell, written out as NaN: most likely a missing label.
        missing = (" (a missing value, as a spreadsheet writes one?)"
                   if name[2].strip().lower() in ("nan", "na", "n/a", "null", "none") else "")
        raise DataError(f"{here}: the label is the name {_shown(name[2])}{missing}, but {there} "
                        f"has the number {_shown(number[2])}; labels are either all names or all "
                        "integers 0, 1, ...")
    if names:
        if twins := _twins(train, test):
            (first, second), how = twins, _how_they_differ(twins[0][2], twins[1][2])
            raise DataError(f"{place(*second[:2])}: the label {_shown(second[2])} differs from "
                            f"{_shown(first[2])} ({place(*first[:2])}) only by {how}, so the two "
                            "would be classes of their own; write each class's name one way "
                            "(in a CSV, no space after the comma).")
        if given and (found := _first(train, test, lambda value: value not in given)):
            raise DataError(f"{place(*found[:2])}: the label {_shown(found[2])} is not one of "
                            f"the classes {list(given)} (data.class_names, class_names= from "
                            "Python, or a trained run's); name the classes as the labels do.")
        return
    problems = (
        (lambda value: not _is_integer(value) and not _is_whole(value), "is not an integer: "
         "class labels are integers 0, 1, 2 and so on, or names."),
        # pandas writes a column of integers as 0.0, 1.0 once it held a NaN.
        (lambda value: not _is_integer(value), "is not an integer: class labels are integers "
         "0, 1, 2 and so on, or names; write the column as integers (.astype(int) in pandas)."),
        (lambda value: value < 0, "is negative: labels number classes 0, 1, 2 and so on."),
        (lambda value: value >= MOST_CLASSES, "is too large: labels number classes from 0, "
         f"and at most {MOST_CLASSES:,} classes are supported. Is data.target the label field?"),
    )
    for wrong, why in problems:
        if (found := _first(train, test, wrong)) is not None:
            raise DataError(f"{place(*found[:2])}: the label {_shown(found[2])} {why}")
    if given and (found := _first(train, test, lambda value: value >= len(given))) is not None:
        raise DataError(f"{place(*found[:2])}: the label {found[2]} is not one of the "
                        f"{classes_text(given)}.")


def check_learnable(train: Sequence[Any], test: Sequence[Any], given: Sequence[str] | None,
                    place: Callable[[str, int], str]) -> None:
    """Classes (checked by check_targets) a classifier can learn from the training split:
    two at least; integers naming them alone numbered from 0 where they are exactly 1 to
    K; names that are labels, not texts. Each was trained on without a word, or the
    model's outputs blamed. A test label training never has is said, not refused: a small
    sample of many classes (MNIST's first ten) is like that too."""
    seen = set(train)
    if len(seen) == 1:
        raise DataError(f"{place('train', 0)}: every training label is {_shown(train[0])}, "
                        "and a classifier needs at least two classes to tell apart.")
    _check_not_texts(train, seen, given, place)
    numbers = sorted({value for value in seen | set(test) if not isinstance(value, str)})
    if numbers and not given and numbers == list(range(1, len(numbers) + 1)):
        first = _first(train, test, lambda value: value == 1)
        raise DataError(f"{place(*first[:2])}: labels are numbered from 0; these run 1 to "
                        f"{len(numbers)}, so class 0 has no examples: subtract 1 from each.")
    if (found := _first((), test, lambda value: value not in seen)) is not None:
        _say(f"Warning: {place(*found[:2])}: the label {_shown(found[2])} is in the test split "
             "but never in training, so the model can't predict it and its test examples "
             "count as wrong. Is it a mistake in the label?")


def _check_not_texts(train: Sequence[Any], seen: set, given: Sequence[str] | None,
                     place: Callable[[str, int], str]) -> None:
    """Names mostly used once are texts in the label field (swapped columns). Not numbers
    (a small sample of CIFAR-100's classes is like that) nor names the config lists."""
    if given or len(seen) <= MANY_CLASSES or not all(isinstance(value, str) for value in seen):
        return
    once = sum(count == 1 for count in Counter(train).values())
    if once > len(seen) / 2:
        raise DataError(f"{place('train', 0)}: the training labels name {len(seen):,} classes "
                        f"among {len(train):,} examples, {once:,} of them used once (this one "
                        f"{_shown(train[0])}): are these the labels? Texts and labels may be "
                        "swapped, or data.target names another field.")


# Characters no label's name holds: C0 and C1 controls, DEL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _twins(train: Sequence[str], test: Sequence[str]):
    """The first two labels, in reading order, that differ only by case or surrounding
    spaces (' pos' and 'pos', 'Pos' and 'pos'), each as (split, index, value); or None."""
    seen: dict[str, tuple[str, int, str]] = {}
    for split, targets in (("train", train), ("test", test)):
        for index, value in enumerate(targets):
            first = seen.setdefault(value.strip().casefold(), (split, index, value))
            if first[2] != value:
                return first, (split, index, value)
    return None


def _how_they_differ(one: str, other: str) -> str:
    if one.strip() == other.strip():
        return "spaces around it"
    return "case" if one.casefold() == other.casefold() else "case and spaces around it"


def _shown(value: Any) -> str:
    """A value as a message quotes it: a whole review or a 400-digit number is cut; a
    NumPy number as the number it is (1, not np.int64(1))."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        text = repr(value)
    except ValueError:  # an integer of over 4,300 digits
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _first(train: Sequence[Any], test: Sequence[Any], wrong: Callable[[Any], bool]):
    """(split, index, value) of the first target, in reading order, that is `wrong`."""
    for split, targets in (("train", train), ("test", test)):
        for index, value in enumerate(targets):
            if wrong(value):
                return split, index, value
    return None


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and value != value


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and float(value).is_integer()


def _is_number(value: Any) -> bool:
    """A number the model's float32 targets hold: 1e300 or 10**400 would be inf."""
    if not (_is_integer(value) or isinstance(value, (float, np.floating))):
        return False
    try:
        with np.errstate(over="ignore"):
            return bool(np.isfinite(np.float32(value)))
    except OverflowError:
        return False


def _class_names(train, test, given: Sequence[str] | None) -> tuple[str, ...]:
    """The class names of checked labels (see check_targets)."""
    values = set(train) | set(test)
    if all(isinstance(value, str) for value in values):
        return tuple(given) if given else tuple(sorted(values))
    count = max(max(values) + 1, 2, len(given or ()))
    if given and len(given) != count:
        raise DataError(f"data.class_names names {len(given)} classes, but labels go up to {count - 1}.")
    return tuple(given) if given else tuple(str(label) for label in range(count))


def _class_indices(targets, names: tuple[str, ...]) -> np.ndarray:
    if targets and isinstance(targets[0], str):
        position = {name: index for index, name in enumerate(names)}
        return np.asarray([position[target] for target in targets], dtype="int64")
    return np.asarray(targets, dtype="int64")


# --------------------------------------------------------------------------- reading files


class Places:
    """Where each text of a split was read, "<file>, line <n>", kept as one list of line
    numbers per file rather than a string per text."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, int, list[int] | None]] = []  # (path, first, lines)

    def add(self, path: Path, first: int, lines: list[int] | None) -> None:
        self._files.append((path, first, lines))

    @property
    def paths(self) -> list[Path]:
        return [path for path, _, _ in self._files]

    def __getitem__(self, index: int) -> str:
        path, first, lines = next(file for file in reversed(self._files) if file[1] <= index)
        return f"{path}, line {lines[index - first]}" if lines else str(path)


def check_splits_apart(config: DataConfig, data_dir: str | Path | None) -> None:
    """No file is read for both splits (data.train: '*.jsonl' beside data.test: b.jsonl):
    a test split the model trained on measures nothing, and nothing said so."""
    what = f"{config.format} text"
    train = {path.resolve(): path for path in find_paths(config.train, data_dir, what)}
    both = [path for path in find_paths(config.test, data_dir, what) if path.resolve() in train]
    if both:
        raise DataError(
            f"{_listed(both)}: matched by both data.train ({config.train}) and data.test "
            f"({config.test}); the model would be tested on what it trained on. Give the "
            "splits files of their own."
        )


def read_texts(config: DataConfig, pattern: str, data_dir) -> tuple[list[str], list[Any], Places]:
    """(texts, targets, where each was read) of one split, from every file or folder the
    pattern matches."""
    texts: list[str] = []
    targets: list[Any] = []
    places = Places()
    for path in find_paths(pattern, data_dir, f"{config.format} text"):
        if config.format == "aclimdb":
            more = _read_aclimdb(path, config.target_field)
            places.add(path, len(texts), None)
        else:
            *more, lines = _read_records(
                path, config.format, config.text_field or "text", config.target_field
            )
            places.add(path, len(texts), lines)
        texts += more[0]
        targets += more[1]
    return texts, targets, places


def _listed(paths: Sequence[Path]) -> str:
    return str(paths[0]) if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more"


def _read_aclimdb(folder: Path, target: str) -> tuple[list[str], list[Any]]:
    """aclImdb's layout: <split>/pos/*.txt and <split>/neg/*.txt, files named <id>_<rating>.txt."""
    if target not in ("label", "rating"):
        raise DataError(f"data.target for aclimdb is label or rating, not {target!r}.")
    texts: list[str] = []
    targets: list[Any] = []
    for label, name in enumerate(ACLIMDB_CLASS_FOLDERS):
        files = sorted((folder / name).glob("*.txt"))
        for file in files:
            texts.append(_read_text_file(file))
            targets.append(label if target == "label" else _rating(file))
    if not texts:
        raise DataError(f"{folder}: no reviews in pos/*.txt or neg/*.txt (aclImdb's layout).")
    _say_what_aclimdb_leaves_out(folder)
    return texts, targets


def _say_what_aclimdb_leaves_out(folder: Path) -> None:
    """A third class folder (neutral/) or reviews named *.TXT were left out unsaid."""
    read = {*ACLIMDB_CLASS_FOLDERS, "unsup"}  # unsup/: aclImdb's unlabelled reviews
    left = [f"{entry.name}/" for entry in sorted(folder.iterdir())
            if entry.is_dir() and entry.name not in read and not entry.name.startswith(".")]
    for name in ACLIMDB_CLASS_FOLDERS:
        if (folder / name).is_dir():
            left += [f"{name}/{entry.name}" for entry in sorted((folder / name).iterdir())
                     if entry.suffix != ".txt" and not entry.name.startswith(".")]
    if left:
        shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
        _say(f"Warning: {folder} holds what aclImdb's layout doesn't read ({shown}): only "
             "pos/*.txt and neg/*.txt are reviews; the rest is left out.")


def _read_text_file(path: Path) -> str:
    try:
        with open(regular_file(path), "rb") as stream:
            text = read_bounded(stream, LARGEST_REVIEW_BYTES, path, "this review").decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: can't read this review ({error}).") from None
    if not text.strip():  # trained on as a review of no words, as CSV and JSON lines refuse
        raise DataError(f"{path}: an empty review; remove the file or give it a text.")
    return text


def _rating(path: Path) -> int:
    try:
        return int(path.stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        raise DataError(f"{path}: expected a name <id>_<rating>.txt to read the rating from.") from None


def _read_whole_text(path: Path) -> str:
    """A text file (gzipped when it ends in .gz), decompressed within a bound."""
    try:
        with open(regular_file(path), "rb") as raw:
            stream = gzip.open(raw, "rb") if path.suffix.lower() == ".gz" else raw
            data = read_bounded(stream, LARGEST_TEXT_FILE_BYTES, path, "text file")
        return data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except gzip.BadGzipFile:
        raise DataError(f"{path}: named .gz, but not gzip-compressed; rename it without .gz "
                        "if it is plain text, or compress it.") from None
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: can't read this file ({error}). Is it complete?") from None
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: not UTF-8 text ({error.reason} at byte "
                        f"{error.start}); save the file as UTF-8.") from None


def _read_records(path: Path, fmt: str, text_field: str,
                  target: str | None) -> tuple[list, list, list]:
    """JSON lines or CSV: one record per text, with the text and the target as fields, and
    the line each was read from. Without a `target` (texts to predict) only the texts.

    Every record is checked here, before anything trains: the fields present, the text a
    string, the target a label (a non-empty string or an integer) or a number.
    """
    fields = (text_field,) if target is None else (text_field, target)
    texts, targets, lines = [], [], []
    stream = io.StringIO(_read_whole_text(path), newline="")
    try:
        if fmt == "csv":
            records = _csv_records(stream, path, fields)
        else:
            records = ((n, _json_record(path, n, line))
                       for n, line in enumerate(stream, 1) if line.strip())
        for line, record in records:
            where = f"{path}, line {line}"
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object with {_fields(fields)}, got "
                                f"{_shown(record)}.")
            if any(field not in record for field in fields):
                raise DataError(f"{where}: expected {_fields(fields)}.")
            if fmt == "csv" and None in record.values():
                raise DataError(f"{where}: fewer columns than the header names.")
            if fmt == "csv" and None in record:
                # Most often a comma in an unquoted text, which moved the label along.
                raise DataError(f"{where}: more columns than the header names (also "
                                f"{record[None]!r}); quote a text that holds a comma.")
            texts.append(text_of(record[text_field], where, text_field))
            if target is not None:
                value = _csv_value(record[target]) if fmt == "csv" else record[target]
                targets.append(_target_of(value, where, target))
            lines.append(line)
    except csv.Error as error:
        raise DataError(f"{path}: can't read this {fmt} file ({error}).") from None
    return texts, targets, lines


def texts_in_records(path: Path, fmt: str, text_field: str) -> list[str]:
    """The texts of a CSV or JSON lines file (gzipped when it ends in .gz), from their
    `text_field`, checked as training checks them; other fields, a label too, are left."""
    return _read_records(path, fmt, text_field, None)[0]


def _fields(fields: tuple[str, ...]) -> str:
    """'the fields 'text' and 'label' (data.text_field, data.target)', or for one field
    'the field 'text' (data.text_field)': which config keys name them."""
    keys = ("data.text_field", "data.target")[:len(fields)]
    return (f"the field{'s' if len(fields) > 1 else ''} {' and '.join(map(repr, fields))} "
            f"({', '.join(keys)})")


def _check_header(path: Path, line: int, header: list[str], fields: tuple[str, ...]) -> None:
    """The header names the text's and the target's columns; else it says what it names,
    and where it reads as one column, which separator the file may use instead."""
    if all(field in header for field in fields):
        return
    if not header:
        raise DataError(f"{path}: empty; expected a header naming {_fields(fields)}, then a "
                        "row per text.")
    separator = next((mark for mark in (";", "\t", "|") if len(header) == 1 and mark in header[0]),
                     None)
    hint = (f" It reads as one column: are the columns separated by {separator!r} rather than "
            "commas? Save it as comma-separated." if separator else "")
    raise DataError(f"{path}, line {max(line, 1)}: the header's columns are {_shown(header)}; "
                    f"expected {_fields(fields)}." + hint)


def _csv_records(stream, path: Path, fields: tuple[str, ...]):
    """(line, record) of each CSV row, as csv.DictReader makes them (extra fields under
    None, missing ones None), the line being where the row starts: a quoted text may span
    several lines, and blank lines are skipped. A header naming a column twice is refused:
    which of the two is the label would be a guess; so is one without `fields`."""
    # csv's default field limit (131,072 characters) refused a long review that JSON lines
    # take; the file as a whole is bounded (LARGEST_TEXT_FILE_BYTES) already. The limit is
    # the process's: put back after, for a notebook's own csv reading.
    limit = csv.field_size_limit(max(csv.field_size_limit(), LARGEST_TEXT_FILE_BYTES))
    start = 1
    try:
        # strict: a quote opened and never closed as CSV closes one took the rows after it
        # into its text without a word (or, at the file's end, lost the row's label).
        reader = csv.reader(stream, strict=True)
        header = next(reader, None) or []
        if twice := sorted({name for name in header if header.count(name) > 1}):
            raise DataError(f"{path}, line {reader.line_num}: the header names the column "
                            f"{twice[0]!r} twice; give each column its own name.")
        _check_header(path, reader.line_num, header, fields)
        start = reader.line_num + 1
        for row in reader:
            if row:
                record: dict[Any, Any] = dict(zip(header, row))
                record.update(dict.fromkeys(header[len(row):]))
                if len(row) > len(header):
                    record[None] = row[len(header):]
                yield start, record
            start = reader.line_num + 1
    except csv.Error as error:
        if "expected after" not in str(error) and "unexpected end of data" not in str(error):
            raise
        raise DataError(f"{path}, line {start}: a quoted text starting here isn't closed as "
                        f"CSV closes one ({error}, line {reader.line_num}); a quote inside a "
                        'quoted text is written twice ("").') from None
    finally:
        csv.field_size_limit(limit)


def _json_record(path: Path, line: int, text: str) -> Any:
    def each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # json keeps the last of a key given twice, without a word: which text or label
        # was meant is a guess, as for a CSV header naming a column twice.
        keys = [key for key, _ in pairs]
        if twice := sorted({key for key in keys if keys.count(key) > 1}):
            raise DataError(f"{path}, line {line}: the key {twice[0]!r} is given twice in one "
                            "object; keep one.")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=each_key_once)
    except (ValueError, RecursionError) as error:
        # ValueError beside JSONDecodeError: an integer of over 4,300 digits. RecursionError:
        # a line nested thousands deep; json gives no position for either.
        raise DataError(f"{path}, line {line}: not valid JSON ({error}).") from None


def text_of(value: Any, where: str, field: str) -> str:
    """`value` if it is a text dlcourse can vectorise; else a DataError naming `where`."""
    if value is None or isinstance(value, float) and value != value or (
            type(value).__name__ == "NAType"):  # None, NaN, pandas's NA: an empty cell
        raise DataError(f"{where}: the text ({field!r}) is missing ({_shown(value)}); drop the "
                        "row or give it a text.")
    if isinstance(value, bytes):  # what tfds.as_numpy gives
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{where}: the text ({field!r}) is bytes that are not UTF-8; "
                            "decode it to a str first.") from None
    if not isinstance(value, str):
        raise DataError(f"{where}: the text ({field!r}) is {_shown(value)}; expected a string.")
    if (surrogate := lone_surrogate(value)) is not None:
        raise DataError(f"{where}: the text ({field!r}) holds the escape {surrogate}, half "
                        "of a UTF-16 pair, which is not a character; remove it.")
    if not value.strip():  # an empty CSV cell: pandas's NaN, refused above, from csv ''
        raise DataError(f"{where}: the text ({field!r}) is empty; drop the row or give it a "
                        "text.")
    return value


def lone_surrogate(text: str) -> str | None:
    """The first `\\udXXX` escape JSON let through that is no character on its own
    (TensorFlow's strings are UTF-8, which can't hold it), as it was written; or None."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as error:
        return f"\\u{ord(text[error.start]):04x}"


def _target_of(value: Any, where: str, field: str) -> Any:
    """A label (string or integer) or a number (regression); the class names and the
    numbers are checked against the task once both splits are read."""
    if isinstance(value, str) and not value.strip():
        raise DataError(f"{where}: the {field!r} field is empty; every text needs its label.")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(
            f"{where}: the {field!r} field is {_shown(value)}; expected a label (a name or an "
            "integer) or a number."
        )
    if isinstance(value, float) and not np.isfinite(value):
        raise DataError(f"{where}: the {field!r} field is {_shown(value)}; expected a finite number.")
    return value


def _csv_value(value: str) -> Any:
    """CSV fields are strings; numbers among them become numbers, as JSON's would be
    (not Python's "1_000", which a label "1_0" would otherwise become: 10)."""
    if "_" in value or not value.isascii():  # "1_0", or Arabic-Indic "١", read as 1 by int()
        return value
    for kind in (int, float):
        try:
            number = kind(value)
        except ValueError:
            continue
        # "NaN", "inf", "Infinity" are names here (a class may be called NaN); a number
        # column holding one is told by the targets' check, naming the row.
        return value if kind is float and not math.isfinite(number) else number
    return value


# --------------------------------------------------------------------------- vectorising


def new_vectorizer(settings: VectorizeConfig):
    import keras

    return keras.layers.TextVectorization(**settings.keras_arguments())


def fitted_vectorizer(settings: VectorizeConfig, texts: Sequence[str]):
    """(TextVectorization, vocabulary) adapted to `texts`, the training split only.

    Adapting is the slow part of preparing text (45 s for IMDB's 800,000 most frequent
    1-3-grams on 2 cores), and `summary`, `lr-find`, `tune` and every new run of the same
    config adapt to the same texts again. So the vocabulary is kept in the cache, under
    a hash of the texts themselves, the settings and the Keras version: other texts or
    settings miss it, and a damaged file is fitted again.
    """
    cached = cache_file("text-vocabulary", _vocabulary_key(settings, texts), ".json")
    vocabulary = _read_cached_vocabulary(cached, settings)
    if vocabulary is not None:
        used(cached)
        return vectorizer_from(settings, vocabulary), vocabulary
    talk = len(texts) >= PROGRESS_TEXTS
    if talk:
        _say(f"Fitting the vocabulary ({_described(settings)}) on {len(texts):,} training "
             "texts; it is kept in the cache for the next run on these texts ...")
    started = time.perf_counter()
    vectorizer = fit_vectorizer(settings, texts)
    vocabulary = vocabulary_of(vectorizer, settings)
    if talk:
        _say(f"... {len(vocabulary.tokens):,} entries in {time.perf_counter() - started:.0f} s.")
    saved = json.dumps({"tokens": list(vocabulary.tokens), "idf_weights": vocabulary.idf_weights})
    keep(cached, lambda partial: partial.write_text(saved, encoding="utf-8"))
    return vectorizer, vocabulary


def _described(settings: VectorizeConfig) -> str:
    unit = "characters" if settings.split == "character" else "words"
    grams = f"{unit} and their n-grams up to {settings.ngrams}" if (settings.ngrams or 1) > 1 else unit
    most = f", the {settings.max_tokens:,} most frequent" if settings.max_tokens else ""
    return f"{grams}{most}"


def _vocabulary_key(settings: VectorizeConfig, texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{VOCABULARY_CACHE_VERSION}|{installed_keras_version()}|".encode())
    digest.update(settings.model_dump_json().encode())
    for text in texts:
        digest.update(b"\0" + text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:24]


def _read_cached_vocabulary(path: Path, settings: VectorizeConfig) -> TextVocabulary | None:
    """The cached vocabulary, or None when there is none or it isn't one of `settings`'
    (checked as a run's is: a file of three words trained a run that knew nothing, and a
    pipe there hung)."""
    try:
        raw = json.loads(read_file(path, LARGEST_CACHED_VOCABULARY_BYTES, DataError,
                                   "cached vocabulary").decode("utf-8"))
    except (DataError, ValueError, RecursionError):
        return None
    vocabulary = parsed_vocabulary(raw, settings)
    return None if isinstance(vocabulary, str) else vocabulary


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fit_vectorizer(settings: VectorizeConfig, texts: Sequence[str]):
    """A TextVectorization adapted to `texts` (the training split only)."""
    import tensorflow as tf

    vectorizer = new_vectorizer(settings)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(VECTORIZE_BATCH))
    return vectorizer


def vectorizer_from(settings: VectorizeConfig, vocabulary: TextVocabulary):
    """A TextVectorization with a saved vocabulary, vectorising as the fitted one did."""
    vectorizer = new_vectorizer(settings)
    vectorizer.set_vocabulary(
        list(vocabulary.tokens),
        idf_weights=list(vocabulary.idf_weights) if vocabulary.idf_weights else None,
    )
    return vectorizer


def vocabulary_of(vectorizer, settings: VectorizeConfig) -> TextVocabulary:
    idf = None
    if settings.output_mode == "tf_idf":
        # Keras has no public getter for the fitted IDF weights; they live on the lookup layer.
        idf = tuple(float(w) for w in np.asarray(vectorizer._lookup_layer.idf_weights))
    return TextVocabulary(tuple(str(token) for token in vectorizer.get_vocabulary()), idf)


def _check_bag_fits(width: int, texts: int, max_tokens: int | None) -> None:
    """The bags of words fit in memory: told before they are made."""
    if (size := texts * width * 2) > LARGEST_BAG_BYTES:
        fewer = (f"a max_tokens below its {max_tokens:,}" if max_tokens
                 else "data.vectorize.max_tokens (the shipped configs keep 20,000)")
        raise DataError(
            f"data.vectorize: {texts:,} texts as bags of {width:,} tokens are "
            f"{size / 2**20:,.0f} MB of float16, more than the {LARGEST_BAG_BYTES >> 20:,} MB "
            f"the two splits may take. Set {fewer}, use fewer texts (data.limit), or "
            "output_mode: int with an Embedding."
        )


def vectorize(vectorizer, texts: Sequence[str], settings: VectorizeConfig) -> np.ndarray:
    """Texts -> int32 index sequences, or float16 bag-of-words rows (half the memory of
    float32; counts stay exact up to 2048), in batches to bound TensorFlow's memory: of
    fewer texts where the bag is wide."""
    dtype = "int32" if settings.output_mode == "int" else "float16"
    batch_size = VECTORIZE_BATCH
    if settings.output_mode != "int":
        batch_size = max(1, min(VECTORIZE_BATCH, BAG_BATCH_BYTES // (8 * vectorizer.vocabulary_size())))
    # Filled in place: concatenating the batches would hold every row twice at the end,
    # gigabytes for a large bag of n-grams.
    rows = None
    for start in range(0, len(texts), batch_size):
        batch = np.asarray(vectorizer(list(texts[start:start + batch_size])))
        if rows is None:
            rows = np.empty((len(texts), *batch.shape[1:]), dtype)
        rows[start:start + len(batch)] = batch
    return rows


# TextVectorization's punctuation, as Keras strips it.
_KERAS_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')


def tokens_of(text: str, settings: VectorizeConfig) -> list[str]:
    """The words (or characters) TextVectorization makes of `text`, before n-grams."""
    if settings.standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.lower()
    if settings.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _KERAS_PUNCTUATION.sub("", text)
    return list(text) if settings.split == "character" else text.split()
