"""What a prepared dataset is: its arrays, classes and input kind, and the signature a
model is built against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from dlcourse.config import Config, VectorizeConfig, family
from dlcourse.errors import DataError

_KIND_WORDS = {
    "images": "images",
    "word_indices": "word-index sequences",
    "bag_of_words": "bag-of-words vectors",
}


@dataclass(frozen=True)
class TextVocabulary:
    """A fitted TextVectorization's vocabulary (and IDF weights for tf_idf), kept with a run
    so evaluation and prediction vectorise new text exactly as the training text was."""

    tokens: tuple[str, ...]
    idf_weights: tuple[float, ...] | None = None


# Texts padded to one length are held whole, both splits at once, as int32: a maxlen far
# past the longest review (data.maxlen 1,048,576 asked numpy for 98 GB) filled the memory.
LARGEST_PADDED_BYTES = 2 << 30


def check_padded_fits(key: str, length: int, texts: int, source: str,
                      longest: Callable[[], int]) -> None:
    """`texts` padded to `length` tokens fit in memory: told before they are made, with
    `longest()`, the most tokens a text has."""
    if (size := texts * length * 4) > LARGEST_PADDED_BYTES:
        most = longest()
        advice = (f"so a {key} above that only adds padding" if length > most
                  else f"give a shorter {key}")
        raise DataError(
            f"{key} {length:,} pads the {texts:,} texts of {source} to {size / 2**30:,.1f} GB "
            f"of indices, more than the {LARGEST_PADDED_BYTES >> 30} GB they may take. The "
            f"longest has {most:,} tokens: {advice}; the lecture uses 500.")


def word_index_rows(num_words: int | None, *splits: np.ndarray) -> int:
    """The rows an Embedding needs for these word indices: num_words, or without it (every
    word kept) the largest index the splits hold, plus one."""
    return num_words or 1 + int(max(split.max(initial=0) for split in splits))


def parsed_vocabulary(saved: Any, settings: VectorizeConfig) -> TextVocabulary | str:
    """A saved vocabulary ({"tokens": [...], "idf_weights": [...] or null}, from a run or
    the cache) that is one of `settings`' TextVectorization, or what is wrong with it."""
    tokens = saved.get("tokens") if isinstance(saved, dict) else None
    weights = saved.get("idf_weights") if isinstance(saved, dict) else None
    if not (isinstance(tokens, list) and all(isinstance(token, str) for token in tokens)) or (
        weights is not None and not (isinstance(weights, list) and len(weights) == len(tokens)
                                     and all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                             for w in weights))
    ):
        return 'expected {"tokens": [strings], "idf_weights": [numbers] or null}'
    if (twice := first_repeated(tokens)) is not None:
        return f"holds the token {twice!r} twice"
    if problem := _vocabulary_problem(tokens, weights, settings):
        return problem
    return TextVocabulary(tuple(tokens), tuple(float(w) for w in weights) if weights else None)


def _vocabulary_problem(tokens: list[str], weights: list | None,
                        settings: VectorizeConfig) -> str | None:
    """What keeps `tokens` from being the vocabulary of `settings`' TextVectorization, as
    Keras's set_vocabulary would refuse it (with a traceback) or take it silently wrong:
    its reserved tokens first, a word after them, no more than max_tokens, and IDF weights
    exactly for tf_idf."""
    reserved = reserved_tokens(settings.output_mode)
    if not tokens:
        return "it holds no token"
    if tuple(tokens[:len(reserved)]) != reserved:
        return (f"its tokens start {tokens[:len(reserved)]}, not with {list(reserved)} as "
                f"output_mode {settings.output_mode}'s do")
    if len(tokens) == len(reserved):
        return "it holds no word"
    if settings.max_tokens is not None and len(tokens) > settings.max_tokens:
        return (f"it holds {len(tokens):,} tokens, more than the config's "
                f"data.vectorize.max_tokens, {settings.max_tokens:,}")
    if (weights is not None) != (settings.output_mode == "tf_idf"):
        return (f"idf_weights is {'set' if weights is not None else 'null'}, but output_mode "
                f"is {settings.output_mode}")
    return None


def first_repeated(items: Sequence[str]) -> str | None:
    """The first item met a second time, in one pass (a vocabulary holds 20,000 tokens)."""
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def reserved_tokens(output_mode: str) -> tuple[str, ...]:
    """What TextVectorization's vocabulary starts with: the padding's '' for sequences of
    indices, then '[UNK]' for the words it doesn't know (bags have no padding)."""
    return ("", "[UNK]") if output_mode == "int" else ("[UNK]",)


def shape_text(dims: tuple, batch: bool | int | None = False) -> str:
    """A model's or an array's per-example shape for people: (28, 28, 1), with `any` for a
    free size and, with `batch`, N in front: (N, any); a fixed batch (LiteRT's 1) shows
    as its number."""
    front = [] if batch is False else ["N" if batch is True or batch is None else str(batch)]
    return "(" + ", ".join([*front, *("any" if size is None else str(size) for size in dims)]) + ")"


def classes_text(names: Sequence[str], count: int = 0) -> str:
    """"2 classes (0: 'neg', 1: 'pos')": the classes a label or an output width is measured
    against, named with their indices so labels that differ by case or a space (own data)
    show. Classes named by their own index (MNIST's), or `count` classes without names,
    need no list."""
    names = names or tuple(map(str, range(count)))
    if tuple(map(str, names)) == tuple(map(str, range(len(names)))):
        return f"{len(names)} classes"
    shown = ", ".join(f"{index}: {str(name)!r}" for index, name in enumerate(names[:12]))
    return f"{len(names)} classes ({shown}{', ...' if len(names) > 12 else ''})"


def output_widths(num_classes: int | None) -> tuple[int, ...]:
    """The outputs a trained model of these classes may give: one number for a regression
    (None), one sigmoid or two softmax for two classes, else one per class."""
    if num_classes is None:
        return (1,)
    return (1, 2) if num_classes == 2 else (num_classes,)


@dataclass(frozen=True)
class Dataset:
    """Prepared arrays of one dataset; labels are class indices, or numbers for regression.

    `input_kind` is images (float, H x W x C), word_indices (int sequences, for an
    Embedding) or bag_of_words (one float per vocabulary entry, for Dense layers).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: Path | str
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

    @property
    def recorded_source(self) -> str:
        """Where the data came from, as a run records it: a file or folder absolute, as
        data.json's data_dir is (a relative --data-dir was recorded as typed, true only
        from where it was typed); data given from Python as it is named."""
        return str(self.source.resolve()) if isinstance(self.source, Path) else str(self.source)


@dataclass(frozen=True)
class DataSignature:
    """What the model builder needs to know about the data: input shape, dtype and kind,
    and the number of classes."""

    name: str
    input_shape: tuple[int, ...]
    dtype: str
    num_classes: int
    vocabulary_size: int | None = None
    input_kind: str | None = None
    # What bounds the word indices, as the error message names it.
    vocabulary_origin: str = "data.num_words"
    # Known once the data is read: named where a model's output doesn't fit them.
    class_names: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        if self.input_kind:
            return self.input_kind
        return "word_indices" if self.dtype.startswith("int") else "images"

    def describe_input(self) -> str:
        shape = "x".join(str(size) for size in self.input_shape)
        return f"{self.name} gives {_KIND_WORDS[self.kind]} of shape {shape} ({self.dtype})"


def signature_of(dataset: Dataset, config: Config) -> DataSignature:
    """The DataSignature of a loaded dataset under a config's preprocessing."""
    origin = "data.num_words"
    if config.data.num_words is None and dataset.input_kind == "word_indices":
        origin = "the vocabulary of every word in the data (data.num_words is not set)"
    if dataset.vocabulary is not None:
        origin = "the vocabulary fitted on the training texts (data.vectorize.max_tokens)"
    return DataSignature(
        name=dataset.name,
        input_shape=dataset.input_shape,
        dtype=dataset.input_dtype,
        num_classes=dataset.num_classes,
        vocabulary_size=dataset.vocabulary_size,
        input_kind=dataset.input_kind,
        vocabulary_origin=origin,
        class_names=tuple(dataset.class_names or ()),
    )


def signature_from_config(config: Config) -> DataSignature | None:
    """The signature of a dataset whose shapes and classes the config alone fixes (MNIST,
    CIFAR, IMDB word indices), without reading it; None where only the data can tell."""
    data = config.data
    described = family(data.dataset)
    if described.image_shape is not None and described.num_classes is not None:
        return DataSignature(data.dataset, described.image_shape, "float32",
                             described.num_classes)
    if described.inputs == "word_indices":
        return DataSignature(data.dataset, (data.maxlen,), "int32", described.num_classes,
                             vocabulary_size=data.num_words, input_kind="word_indices")
    return None


def check_labels(path: Path | str, split: str, labels: np.ndarray, classes: range) -> None:
    """Integer class labels within `classes`; float labels would be truncated to classes
    without a word, so they are refused too."""
    expected = f"{path}: y_{split} must hold integer class labels {classes.start}-{classes.stop - 1}"
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{expected}, found {labels.dtype} values.")
    outside = np.flatnonzero((labels < classes.start) | (labels >= classes.stop))
    if outside.size:
        value = labels[outside[0]]
        # The range was read from the labels themselves: -1, 0, 1 asked for 0-1 of 3 classes.
        counting = " Class labels count from 0: shift yours (y - y.min())." if value < 0 else ""
        raise DataError(f"{expected}; y_{split}[{outside[0]}] is {value}"
                        + (f" ({outside.size:,} labels are outside)." if outside.size > 1 else ".")
                        + counting)
