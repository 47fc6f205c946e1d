"""Data given from Python: NumPy arrays, tf.data Datasets, lists of texts or a pandas
DataFrame, made into the same checked Dataset that files give.

What a file's data is checked for, arrays are checked for too (shapes, label types and
ranges), and the model's fit to them is checked by the builder as for any dataset, so a
3-class `y` for a 10-unit softmax is one paragraph before training.
"""

from __future__ import annotations

from typing import AbstractSet, Any, Callable, Mapping, Sequence

import numpy as np

from dlcourse.config import DataConfig, family
from dlcourse.data.dataset import (
    Dataset, TextVocabulary, check_labels, classes_text, word_index_rows,
)
from dlcourse.data.loading import first
from dlcourse.data.text import CONTROL_CHARACTERS, check_learnable, text_dataset, text_of
from dlcourse.errors import DataError

SOURCE = "<python>"
# The most examples a split from Python may hold before it is called a mistake.
LARGEST_SPLIT = 10_000_000
LARGEST_SPLIT_BYTES = 4 << 30
_INFINITE = -1  # tf.data.INFINITE_CARDINALITY, without importing TensorFlow for it
# A split's pixels reaching above this are not on the 0-1 scale of one lying within 0-1.
FAR_ABOVE_ONE = 2.0


def dataset_from_memory(
    config: DataConfig,
    train: Any,
    test: Any,
    *,
    class_names: Sequence[str] | None = None,
    regression: bool = False,
    vocabulary: TextVocabulary | None = None,
    place: Callable[[str, int], str] = lambda split, index: f"{split} targets[{index}]",
    learning: bool = True,
) -> Dataset:
    """A Dataset of `train` and `test`, each (inputs, targets) or a tf.data Dataset of
    such pairs, or (raw-text configs) a DataFrame with the config's text and target columns.
    `data.limit` (smoke runs) keeps the first examples of each, as for files. `learning`
    False: `train` is no training split, and its classes aren't checked as a fit's."""
    if test is None:
        raise DataError("train=... needs test=... too: the run is evaluated on its test split.")
    if class_names is not None:
        class_names = _checked_class_names(class_names)
    if config.dataset == "raw_text":
        test_texts = _texts(config, test, "test")  # test first: see test_split_from_memory
        return text_dataset(config, _texts(config, train, "train"), test_texts,
                            class_names=class_names, regression=regression, vocabulary=vocabulary,
                            place=place, learning=learning)
    dataset = _arrays_dataset(config, train, test, class_names, regression, place, learning)
    return first(dataset, config.limit) if config.limit else dataset


def test_split_from_memory(config: DataConfig, test: Any, **known: Any) -> Dataset:
    """A Dataset whose test split is `test`, for evaluating a trained run on data given
    from Python (its train split is the same data: evaluation never reads it). `known`
    holds what the run fixed: its class names and, for raw text, its vocabulary.
    dataset_from_memory checks test before train, and texts' labels are placed in test,
    so a mistake is told of `test=`."""
    return dataset_from_memory(config, test, test, **known, learning=False,
                               place=lambda _split, index: f"test targets[{index}]")


def _arrays_dataset(config: DataConfig, train: Any, test: Any,
                    class_names: Sequence[str] | None, regression: bool,
                    place: Callable[[str, int], str], learning: bool) -> Dataset:
    # Test before train throughout: evaluating gives its test data as both.
    (x_test, y_test), (x_train, y_train) = _pair(test, "test"), _pair(train, "train")
    inputs = family(config.dataset).inputs
    if inputs == "images":
        given = {"test": x_test.dtype, "train": x_train.dtype}
        x_test, x_train = _images(x_test, "test"), _images(x_train, "train")
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DataError(f"train's images are {x_train.shape[1:]} but test's {x_test.shape[1:]}; "
                            "a model takes one image size.")
        _check_same_scale(x_train, x_test, given)
    else:
        x_test = _sequences(x_test, "test", config.num_words, config.maxlen)
        x_train = _sequences(x_train, "train", config.num_words, config.maxlen)
    if regression:
        y_test, y_train = _numbers(y_test, "test"), _numbers(y_train, "train")
        names: tuple[str, ...] = ()
    else:
        y_test, y_train = _class_labels(y_test, "test"), _class_labels(y_train, "train")
        names = _class_names(y_train, y_test, class_names)
        for split, labels in (("test", y_test), ("train", y_train)):
            check_labels(f"{split}=(x, y)", split, labels, range(len(names)))
        if learning:
            check_learnable(y_train.tolist(), y_test.tolist(), class_names, place)
        y_train, y_test = y_train.astype("int64"), y_test.astype("int64")
    return Dataset(
        name="custom",
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        num_classes=len(names), source=SOURCE, class_names=names,
        input_kind="images" if inputs == "images" else "word_indices",
        vocabulary_size=(None if inputs == "images"
                         else word_index_rows(config.num_words, x_train, x_test)),
    )


def _pair(split: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if _is_tf_dataset(split):
        split = _from_tf_dataset(split, name)
    if not (isinstance(split, (tuple, list)) and len(split) == 2):
        raise DataError(f"{name}= must be (inputs, targets), e.g. {name}=(x_{name}, y_{name}), "
                        "or a tf.data.Dataset of such pairs.")
    x, y = _array(split[0], name, "x", "inputs"), _array(split[1], name, "y", "targets")
    if len(x) != len(y):
        raise DataError(f"{name}=(x, y): {len(x)} inputs but {len(y)} targets; expected one each.")
    if not 0 < len(x) <= LARGEST_SPLIT:
        raise DataError(f"{name}=(x, y) holds {len(x)} examples; expected 1 to {LARGEST_SPLIT:,}.")
    return x, y


def _array(part: Any, name: str, letter: str, what: str) -> np.ndarray:
    """One part of a split as an array: a generator, None or a list of arrays of several
    shapes was a TypeError or ValueError traceback from NumPy."""
    _check_sized(part, f"{name}=({letter}, ...)" if letter == "x" else f"{name}=(..., {letter})",
                 what)
    try:
        return np.asarray(part)
    except ValueError:  # "inhomogeneous shape"
        shapes = sorted({_shape(item) for item in part}, key=str)
        hint = {"x": " (images of one size; word indices padded, keras.utils.pad_sequences)",
                "y": " (one target each)"}[letter]
        raise DataError(f"{name}=(x, y): the {what} are not one array: their shapes differ "
                        f"({', '.join(map(str, shapes[:3]))}{', ...' if len(shapes) > 3 else ''}); "
                        f"give {what} of one shape{hint}.") from None


def _shape(item: Any) -> Any:
    try:
        return np.shape(item)
    except ValueError:  # itself of several shapes
        return "ragged"


def _check_sized(part: Any, where: str, what: str, needs: str = "__len__") -> None:
    """A split is read whole: None, or for arrays a generator (no length), is no split."""
    if part is None or not hasattr(part, needs):
        reading = " (list(...) reads a generator into one)" if hasattr(part, "__iter__") else ""
        given = "None" if part is None else f"a {type(part).__name__}"
        raise DataError(f"{where}: the {what} are {given}; expected a NumPy array or a list of "
                        f"{what}, one per example{reading}.")


def _is_tf_dataset(value: Any) -> bool:
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "as_numpy_iterator")


def _from_tf_dataset(dataset: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) elements of a tf.data Dataset, batched or not, as two arrays. Read within
    LARGEST_SPLIT examples: a `.repeat()`ed dataset never ends, and memory would fill."""
    if int(dataset.cardinality()) == _INFINITE:
        raise DataError(f"{name}=: the tf.data.Dataset repeats forever (.repeat()), so it can't "
                        "be read whole; give it without .repeat(): fit.epochs repeats it.")
    xs, ys, count, held = [], [], 0, 0
    for element in dataset.as_numpy_iterator():
        if not (isinstance(element, tuple) and len(element) == 2):
            raise DataError(f"{name}=: a tf.data.Dataset must give (inputs, targets) pairs.")
        xs.append(element[0])
        ys.append(element[1])
        count += len(element[1]) if np.ndim(element[1]) >= 1 else 1
        held += np.asarray(element[0]).nbytes + np.asarray(element[1]).nbytes
        if count > LARGEST_SPLIT or held > LARGEST_SPLIT_BYTES:
            raise DataError(f"{name}=: the tf.data.Dataset gives more than {LARGEST_SPLIT:,} "
                            f"examples or {LARGEST_SPLIT_BYTES >> 30} GB; expected a split that "
                            "fits in memory (one that ends: no .repeat()).")
    if not xs:
        raise DataError(f"{name}=: the tf.data.Dataset is empty.")
    batched = np.ndim(ys[0]) >= 1 and np.ndim(xs[0]) > 1 and len(xs[0]) == len(ys[0])
    stack = np.concatenate if batched else np.stack
    return stack(xs), stack(ys)


def _images(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., np.newaxis]  # (N, H, W) grayscale
    # Complex numbers are numbers to NumPy: cast, they lost their imaginary part with
    # NumPy's warning printed first.
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{name}=(x, y): images must be (N, height, width) or (N, height, "
                        f"width, channels) real numbers; got {x.dtype} of shape {x.shape}.")
    if np.issubdtype(x.dtype, np.integer):
        return scaled_pixels(x, f"{name}=(x, y)")
    if not np.isfinite(x).all():
        raise DataError(f"{name}=(x, y): the images hold NaN or infinite values.")
    if x.size and (largest := float(np.abs(x).max())) > float(np.finfo(np.float32).max):
        raise DataError(f"{name}=(x, y): the images hold {largest:.3g}, beyond the float32 "
                        "numbers a model computes with; scale them first.")
    return x.astype("float32")


def scaled_pixels(x: np.ndarray, where: str) -> np.ndarray:
    """Integer pixels of 0-255 (uint8, or int64 as pandas reads a CSV's) scaled to 0-1, as
    the lecture scales them and dlcourse scales image files: only uint8 was, and a model
    trained on int64 0-255 was evaluated and asked on 0-1. Integer 0/1 (binarised digits,
    masks) is refused: scaled so, it is 0 and 0.004, and predictions were wrong unsaid."""
    if x.size and x.max() == 1 and x.min() == 0:
        raise DataError(f"{where}: the images are {x.dtype} of 0 and 1; integer pixels are "
                        "read as 0-255 and scaled by 1/255, which would make them 0 and 0.004. "
                        "Give 0/1 images as floats, x.astype('float32').")
    if x.size and (x.min() < 0 or x.max() > 255):
        bad = (x < 0) | (x > 255)
        image = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        raise DataError(f"{where}: the images are {x.dtype} pixels, which are read as 0-255 and "
                        f"scaled by 1/255, but image {image} holds {x[image][bad[image]].flat[0]}; "
                        "give pixels of 0 to 255, or floats scaled as you mean them.")
    return x.astype("float32") / 255.0


def _check_same_scale(x_train: np.ndarray, x_test: np.ndarray, given: dict[str, Any]) -> None:
    """Both splits on one scale: uint8 training and float 0-255 test images were tested on
    pixels 255 times brighter than learned, without a word. Only a split lying within 0-1
    beside one reaching far above 1 is refused; standardized floats (mean 0) pass."""
    largest = {"train": float(x_train.max()), "test": float(x_test.max())}
    within = {"train": 0 <= x_train.min() and largest["train"] <= 1,
              "test": 0 <= x_test.min() and largest["test"] <= 1}
    for split, other, used in (("train", "test", "tested"), ("test", "train", "trained")):
        if within[split] and largest[other] > FAR_ABOVE_ONE:
            scaled = " (scaled by 1/255)" if np.issubdtype(given[split], np.integer) else ""
            raise DataError(f"{other}=(x, y): the {given[other]} pixels go up to "
                            f"{largest[other]:g}, but {split}'s {given[split]} pixels{scaled} lie "
                            f"within 0 to 1, so the model would be {used} on another scale; give "
                            "both splits alike (both uint8 0-255, or both floats scaled the same "
                            "way).")


def _sequences(x: np.ndarray, name: str, num_words: int | None, maxlen: int | None) -> np.ndarray:
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"{name}=(x, y): word-index data must be (N, length) integers, padded; "
                        f"got {x.dtype} of shape {x.shape}.")
    # Trained at another length, the run's config said data.maxlen, and predict called it
    # damaged: the model took sequences of the arrays' length.
    if maxlen is not None and x.shape[1] != maxlen:
        raise DataError(f"{name}=(x, y): the sequences are {x.shape[1]:,} long, but data.maxlen "
                        f"is {maxlen:,}: pad them to it (keras.utils.pad_sequences(x, "
                        f"maxlen={maxlen})), or set data.maxlen to {x.shape[1]}.")
    # TensorFlow's InvalidArgumentError in the middle of training, otherwise.
    if x.size and (x.min() < 0 or num_words is not None and x.max() >= num_words):
        bad = int(x.min() if x.min() < 0 else x.max())
        raise DataError(f"{name}=(x, y): holds the word index {bad}, outside 0 to "
                        f"{'...' if num_words is None else num_words - 1} (data.num_words).")
    return x.astype("int32")


def _numbers(y: np.ndarray, name: str) -> np.ndarray:
    if not _one_column(y.shape):
        raise DataError(f"{name}=(x, y): a regression here predicts one number per example, "
                        f"so the targets must be (N,) or (N, 1); got shape {y.shape}.")
    try:
        return y.astype("float32").reshape(len(y))
    except (TypeError, ValueError):
        raise DataError(f"{name}=(x, y): the targets must be numbers for a regression loss.") from None


def _class_labels(y: np.ndarray, split: str) -> np.ndarray:
    """Class indices, one per example: (N, 1) as keras.datasets.cifar10 gives them, and
    booleans (df.label == "pos") as 0 and 1, were refused."""
    if y.dtype == bool:
        y = y.astype("int64")
    if _one_column(y.shape):
        y = y.reshape(len(y))
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        whole = np.issubdtype(y.dtype, np.floating) and bool(np.all(np.mod(y, 1) == 0))
        raise DataError(f"{split}=(x, y): the targets must be class indices 0, 1, ... (one "
                        f"integer per example); got {y.dtype} of shape {y.shape}"
                        + ("; give them as integers, y.astype(int)." if whole else "."))
    return y


def _checked_class_names(given: Any) -> list[str]:
    """class_names= as the config's data.class_names is checked: one distinct, printable
    name per class. A name given twice trained, then predict called the run damaged."""
    if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
        raise DataError(f"class_names={given!r}: expected a list of names, one per class "
                        "(e.g. ['negative', 'positive']).")
    if isinstance(given, (Mapping, AbstractSet)):  # an id2label dict named classes by its keys
        raise DataError(f"class_names= is a {type(given).__name__}; give a list of names in "
                        "class order, class 0's first (for a dict of ids to names: "
                        "[names[i] for i in sorted(names)]).")
    names = [str(name) if isinstance(name, (int, np.integer)) else name for name in given]
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip() or CONTROL_CHARACTERS.search(name):
            raise DataError(f"class_names[{index}]: {name!r} is not a name; each class needs "
                            "a name of printable characters.")
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise DataError(f"class_names= names {twice[0]!r} twice; each class needs its own name.")
    return names


def _class_names(y_train: np.ndarray, y_test: np.ndarray, given: Sequence[str] | None) -> tuple[str, ...]:
    count = int(max(y_train.max(), y_test.max())) + 1
    if given is not None:
        for split, labels in (("test", y_test), ("train", y_train)):
            if (past := np.flatnonzero(labels >= len(given))).size:
                raise DataError(f"{split}=(x, y): the label {labels[past[0]]} at targets[{past[0]}] "
                                f"is not one of the {classes_text(given)}.")
        return tuple(str(name) for name in given)
    return tuple(str(index) for index in range(max(count, 2)))


def _texts(config: DataConfig, split: Any, name: str) -> tuple[list[str], list[Any]]:
    """(texts, targets) from (texts, targets) or a DataFrame with the config's columns."""
    if hasattr(split, "columns"):  # a pandas DataFrame, without importing pandas
        text_field, target = config.text_field or "text", config.target_field
        missing = [column for column in (text_field, target) if column not in split.columns]
        if missing:
            raise DataError(f"{name}=: the DataFrame has no column {missing[0]!r} (data.text_field "
                            f"{text_field!r}, data.target {target!r}); it has {list(split.columns)}.")
        texts = [text_of(text, f"{name}= row {row}", text_field)
                 for row, text in zip(split.index, split[text_field])]
        return texts, list(split[target])
    if not (isinstance(split, (tuple, list)) and len(split) == 2):
        raise DataError(f"{name}= must be (texts, targets) or a DataFrame with the text and target "
                        "columns.")
    texts, targets = split
    if isinstance(texts, (str, bytes)):  # iterated, it was one text per character
        raise DataError(f"{name}=(texts, targets): the texts are one string; give a list of "
                        f"texts, e.g. {name}=([{texts[:20]!r}{'...' if len(texts) > 20 else ''}], "
                        "[label]).")
    texts = [text_of(text, f"{name} texts[{index}]", "text") for index, text in enumerate(texts)]
    targets = [int(target) if isinstance(target, (bool, np.bool_)) else target  # df.label == "pos"
               for target in _one_per_text(targets, name)]
    if len(texts) != len(targets):
        raise DataError(f"{name}=(texts, targets): {len(texts)} texts but {len(targets)} "
                        "targets; expected one per text.")
    return texts, targets


def _one_per_text(targets: Any, name: str) -> list[Any]:
    """A list of targets, one per text; (N, 1) arrays, as Keras takes for one output, too."""
    _check_sized(targets, f"{name}=(texts, targets)", "targets", needs="__iter__")
    shape = getattr(targets, "shape", None)
    if shape is None or len(shape) <= 1:
        return list(targets)
    if not _one_column(shape):
        raise DataError(f"{name}=(texts, targets): one target per text, so (N,) or (N, 1); "
                        f"got shape {tuple(shape)}.")
    return np.asarray(targets).reshape(len(targets)).tolist()


def _one_column(shape: Any) -> bool:
    """(N,), (N, 1), (N, 1, 1): one target per example, as Keras takes for one output."""
    return all(size == 1 for size in tuple(shape)[1:])
