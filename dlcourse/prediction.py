"""Predictions of a trained run on new inputs: review texts, or pictures.

Inputs are prepared exactly as the run's training data was: IMDB reviews are tokenised as
IMDB was and mapped with the word index saved in the run; raw-text runs go through a
TextVectorization holding the vocabulary fitted in training; pictures are made into the
dataset's kind of image (dlcourse.data.photos). Regression runs predict a number.

Each prediction says what a person should know about its input: how many of a text's
words the model knows, and warnings when most are unknown or a picture is blank. Empty
texts are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from dlcourse.config import Config, family
from dlcourse.data import output_widths, shape_text
from dlcourse.data.memory import scaled_pixels
from dlcourse.data.imdb import encode_reviews, tokenize_review
from dlcourse.data.photos import read_as_trained, read_picture
from dlcourse.data.text import tokens_of, vectorize, vectorizer_from
from dlcourse.errors import DataError, DlcourseError, RunError
from dlcourse.evaluation import class_scores
from dlcourse.models import embedding_rows
from dlcourse.prediction_inputs import check_text
from dlcourse.rundir import CLASSES_FILE, CONFIG_FILE, VOCABULARY_FILE, RunDir

TOP = 3
# Below this share of known words a text is mostly unknown to the model.
MOSTLY_UNKNOWN = 0.5
UNKNOWN_SHOWN = 20
# Inputs predicted at a time by the command: a chunk's results print as soon as they are
# known, and memory holds one chunk's, whatever the number of inputs.
CHUNK = 1024


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one input: the best label and every class's probability."""

    input: str
    label: str
    probabilities: dict[str, float]
    # Regression: the predicted number (label is it, formatted; no probabilities).
    value: float | None = None
    # Texts: how many of their words the model knows, of how many.
    known_words: int | None = None
    words: int | None = None
    # Texts: the words the model doesn't know, each once, the first UNKNOWN_SHOWN of them.
    unknown_words: tuple[str, ...] | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def top(self) -> list[tuple[str, float]]:
        ranked = sorted(self.probabilities.items(), key=lambda item: -item[1])
        return ranked[:TOP]

    def as_dict(self) -> dict:
        record: dict = {"input": self.input}
        if self.value is not None:
            record["value"] = self.value
        else:
            record.update(label=self.label, probability=self.probabilities[self.label],
                          probabilities=self.probabilities)
        if self.words is not None:
            record.update(known_words=self.known_words, words=self.words,
                          unknown_words=list(self.unknown_words or ()))
        if self.warnings:
            record["warnings"] = list(self.warnings)
        return record


@dataclass(frozen=True)
class _Prepared:
    arrays: np.ndarray
    known: list[tuple[int, int] | None]
    warnings: list[tuple[str, ...]]
    unknown: list[tuple[str, ...]] | None = None


def predict_run(run_dir: str | Path, inputs: Sequence[str] | np.ndarray, *,
                preprocess: bool = True) -> list[Prediction]:
    """Predict each input: review texts for text models, picture paths for image models,
    or a NumPy array of what the model takes (images; padded word indices).

    `preprocess` False gives pictures a plain resize instead of MNIST's centring.
    """
    return Predictor(run_dir).predict(inputs, preprocess=preprocess)


class Predictor:
    """A run's model, loaded once, predicting as `dlcourse predict` does.

    `compiled` calls the model through one traced function rather than `model.predict`,
    which builds a dataset and a loop for every call: a server answering one picture at a
    time would spend most of each request there.
    """

    def __init__(self, run_dir: str | Path, *, compiled: bool = False):
        self.run = RunDir(run_dir).require()
        self.config = self.run.read_config()
        self.family = family(self.config.data.dataset)
        self.model = _model_of(self.run)
        self.input_shape = tuple(self.model.input_shape[1:])
        self._embedding_rows = embedding_rows(self.model)
        if self.config.data.dataset == "raw_text":
            vocabulary = self.run.read_vocabulary(self.config.data.vectorize)
            self._check_vocabulary(vocabulary)
            self._vectorizer = vectorizer_from(self.config.data.vectorize, vocabulary)
            self._known = frozenset(vocabulary.tokens)
        elif self.family.is_text:
            # Read for the first texts: padded word indices from Python need none, and a run
            # on one's own word-index arrays may have none.
            self._word_index = None
        self.class_names = None if self.config.task == "regression" else (
            self.run.read_classes() or self.family.class_names
            or tuple(str(index) for index in range(self.model.output_shape[-1]))
        )
        self._check_classes()
        self._check_text_length()
        self._forward = self._compiled_call() if compiled else (
            lambda arrays: self.model.predict(arrays, verbose=0))

    def word_index(self) -> dict[str, int]:
        """The run's word index, which raw reviews are mapped with (IMDB's word indices)."""
        if self._word_index is None:
            self._word_index = self._known = self.run.read_word_index()
        return self._word_index

    def _check_classes(self) -> None:
        """classes.json names one class per output (two for one sigmoid unit): a file edited
        or copied from another run gave an IndexError, or probabilities of the wrong
        classes."""
        if self.class_names is None:
            return
        outputs = self.model.output_shape[-1]
        if outputs not in output_widths(len(self.class_names)):
            raise RunError(f"{self.run.path / CLASSES_FILE}: names {len(self.class_names)} class"
                           f"{'es' if len(self.class_names) != 1 else ''}, but the model has "
                           f"{outputs} output(s), for "
                           f"{max(outputs, 2)} classes; is the run directory damaged?")

    def _check_text_length(self) -> None:
        """The config pads or cuts texts to the length the model takes. An edited one made
        every request fail in TensorFlow (a 500 from serve) or, through Keras's leniency,
        cut each review to the new length without a word."""
        data = self.config.data
        if data.dataset == "raw_text":
            key, length = "data.vectorize.output_sequence_length", data.vectorize.output_sequence_length
            if data.vectorize.output_mode != "int":
                return  # a bag's width is the vocabulary's, checked with it
        elif self.family.is_text:
            key, length = "data.maxlen", data.maxlen
        else:
            return
        takes = self.input_shape[0]
        if takes is not None and length != takes:
            raise RunError(f"{self.run.path / CONFIG_FILE}: {key} is {length}, but the model "
                           f"takes texts of {takes} tokens; is the run directory damaged?")

    def _check_vocabulary(self, vocabulary) -> None:
        """vocabulary.json vectorises into what the model takes: as many tokens as a bag's
        width, or no index past the Embedding's rows. Else TensorFlow's traceback."""
        tokens, path = len(vocabulary.tokens), self.run.path / VOCABULARY_FILE
        if self.config.data.vectorize.output_mode != "int":
            if tokens != self.input_shape[-1]:
                raise RunError(f"{path}: holds {tokens} tokens, but the model takes bags of "
                               f"{self.input_shape[-1]}; is the run directory damaged?")
            return
        rows = self._embedding_rows
        if rows is not None and tokens > rows:
            raise RunError(f"{path}: holds {tokens} tokens, more than the {rows} rows of the "
                           "model's Embedding; is the run directory damaged?")

    def recorded_metrics(self) -> dict:
        """The run's metrics.json, or nothing where it is missing or damaged: they only
        describe the run (in /info and an export's README); predictions don't need them."""
        try:
            return self.run.read_metrics()
        except DlcourseError:
            return {}

    def predict(self, inputs: Sequence[str | bytes] | np.ndarray, *, preprocess: bool = True,
                first: int = 1) -> list[Prediction]:
        """Texts for text models, picture paths (or a file's bytes) for image models, or an
        array. `first` numbers the first input, for a chunk of a longer list."""
        if len(inputs) == 0:
            # Only from Python: the command line asks for its INPUTS itself.
            raise DataError("Nothing to predict: give texts, pictures or an array of inputs.")
        if isinstance(inputs, np.ndarray):
            prepared = _prepared_array(self.config, inputs, self.input_shape,
                                       self._embedding_rows, self.run.learned_pixels_within_one())
            inputs = [f"array[{index}]"
                      for index in range(first - 1, first - 1 + len(prepared.arrays))]
        elif self.family.is_text:
            prepared = self.prepare_texts(inputs, first)
        else:
            names = [item if isinstance(item, str) else f"inputs[{index}]"
                     for index, item in enumerate(inputs, start=first - 1)]
            prepared = self._prepared_pictures(inputs, preprocess, names)
            inputs = names
        return self._answers(inputs, prepared)

    def predict_in_chunks(self, inputs: Sequence[str | bytes], *, preprocess: bool = True,
                          size: int | None = None) -> Iterator[list[Prediction]]:
        """`predict` of `size` (CHUNK) inputs at a time, each chunk's answers as soon as
        they are known: 25,000 reviews in one call held 1.3 GB and printed nothing for a
        minute."""
        size = size or CHUNK
        for start in range(0, len(inputs), size):
            yield self.predict(inputs[start:start + size], preprocess=preprocess,
                               first=start + 1)

    def predict_pictures(self, pictures: Sequence[tuple[str, bytes]], *, preprocess: bool = True
                         ) -> list[Prediction]:
        """Pictures given as (name, encoded PNG or JPEG bytes)."""
        if self.family.is_text:
            raise DataError("This run's model reads texts, not pictures.")
        names = [name for name, _ in pictures]
        return self._answers(names, self._prepared_pictures([data for _, data in pictures],
                                                            preprocess, names))

    def prepare_texts(self, texts: Sequence[str], first: int = 1) -> _Prepared:
        """Texts as the model's input, as training prepared them, with the known words."""
        for position, text in enumerate(texts, start=first):
            check_text(text, position)
        if self.config.data.dataset == "raw_text":
            settings = self.config.data.vectorize
            arrays = vectorize(self._vectorizer, list(texts), settings)
            if settings.output_mode == "int":
                arrays = _one_unknown_word_for_none(arrays)
            tokens = [tokens_of(text, settings) for text in texts]
            unit = "characters" if settings.split == "character" else "words"
        else:
            # Without data.num_words the Embedding has rows for the words the training
            # data held (its largest index); a rarer word is out of vocabulary, as it was
            # to a model with num_words: it was TensorFlow's 'not in [0, 88586)'.
            arrays = encode_reviews(texts, self.word_index(),
                                    self.config.data.num_words or self._embedding_rows,
                                    self.config.data.maxlen)
            tokens = [tokenize_review(text) for text in texts]
            unit = "words"
        known = [(sum(token in self._known for token in words), len(words)) for words in tokens]
        unknown = [tuple(dict.fromkeys(token for token in words if token not in self._known))
                   [:UNKNOWN_SHOWN] for words in tokens]
        # Raw text of no word is given one unknown word; IMDB's, its start token alone.
        nothing = ("a review of one unknown word" if self.config.data.dataset == "raw_text"
                   else "an empty review")
        warnings = [_unknown_warning(count, total, unit, nothing) for count, total in known]
        return _Prepared(arrays, known, warnings, unknown)

    def _prepared_pictures(self, sources: Sequence, preprocess: bool,
                           names: Sequence[str] | None = None) -> _Prepared:
        def read(source, name):
            source = source if isinstance(source, bytes) else Path(source)
            if self.family.pictures_read_by_keras:  # as training read its images
                return read_as_trained(source, self.input_shape, name=name)
            return read_picture(source, self.input_shape, light_on_dark=light_on_dark,
                                centre_digit=self.family.centred_digits and light_on_dark,
                                preprocess=preprocess, name=name)

        # An MNIST config trained on one's own dark-on-light scans from Python reads a
        # picture as those were: not inverted, not cut out as MNIST's digits were made.
        light_on_dark = self.family.light_on_dark and self.run.learned_light_on_dark()

        pictures = [read(source, names[position] if names else None)
                    for position, source in enumerate(sources)]
        return _Prepared(np.stack([picture.array for picture in pictures]),
                         [None] * len(pictures), [picture.warnings for picture in pictures])

    def _answers(self, inputs: Sequence[str], prepared: _Prepared) -> list[Prediction]:
        outputs = np.asarray(self._forward(prepared.arrays))
        if self.class_names is None:
            answers = [dict(label=f"{float(row[0]):.2f}", probabilities={}, value=float(row[0]))
                       for row in outputs]
        else:
            names = self.class_names
            answers = [
                dict(label=names[int(np.argmax(scores))],
                     probabilities={name: float(score) for name, score in zip(names, scores)})
                for scores in class_scores(outputs)
            ]
        unknown = prepared.unknown or [None] * len(answers)
        return [
            Prediction(input=text, **answer,
                       known_words=known[0] if known else None,
                       words=known[1] if known else None, unknown_words=missing,
                       warnings=warnings)
            for text, answer, known, missing, warnings in zip(
                inputs, answers, prepared.known, unknown, prepared.warnings)
        ]

    def _compiled_call(self):
        import tensorflow as tf

        model = self.model
        dtype = model.inputs[0].dtype
        # One trace serves every request: the batch and any free length stay open.
        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), dtype)])
        def call(arrays):
            return model(arrays, training=False)

        return lambda arrays: call(np.asarray(arrays, dtype=dtype)).numpy()


# A notebook predicts again and again with one run: its model is loaded once, and again
# only when the file changes (a resumed run's new model).
_LOADED: dict[tuple[str, int], object] = {}


def _model_of(run: RunDir):
    try:
        key = (str(run.model_path.resolve()), run.model_path.stat().st_mtime_ns)
    except OSError:
        return run.load_model()  # its own message for a missing model
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = run.load_model()
    return _LOADED[key]


def _one_unknown_word_for_none(arrays: np.ndarray) -> np.ndarray:
    """Rows of a text that standardises to no word ('!!!', ':-)') with one unknown word
    ([UNK], index 1) in place of padding alone, whose masked average is NaN: a NaN
    probability was printed (no JSON), then such a text refused the whole file. The
    prediction is then the model's answer to one unknown word, and is warned of, as an
    IMDB run's for a review of only punctuation."""
    empty = ~arrays.any(axis=1)
    if empty.any():
        arrays = arrays.copy()
        arrays[empty, 0] = 1
    return arrays


def _prepared_array(config: Config, array: np.ndarray, input_shape: tuple,
                    rows: int | None = None, pixels_scaled: bool = True) -> _Prepared:
    """Images (one or a batch; grayscale with or without the channel axis; integer pixels
    scaled as in training) or padded word indices, checked against the model's input and,
    for indices, its Embedding's `rows`. Other pixels above 1 get a warning where
    training's were scaled to 0-1 (`pixels_scaled`)."""
    expected = tuple(input_shape)
    as_given = array.shape  # what a refusal names, before a channel or batch axis is added
    unscaled = False
    if family(config.data.dataset).inputs == "images":
        if expected[-1] == 1 and array.shape[-1:] != (1,):
            array = array[..., np.newaxis]  # (H, W) or (N, H, W) grayscale
        if array.ndim == len(expected):
            array = array[np.newaxis]  # one image
        # Integer pixels are scaled where training scaled them; a model that learned pixels
        # as they came (float 0-255, or int64 before 2026-12-07) gets them as they come.
        integers = np.issubdtype(array.dtype, np.integer) and pixels_scaled
        unscaled = pixels_scaled and not integers
        array = scaled_pixels(array, "The array") if integers else array.astype("float32")
    elif array.ndim == 1:
        array = array[np.newaxis]  # one sequence
    if array.ndim != len(expected) + 1 or any(
        size is not None and size != given for size, given in zip(expected, array.shape[1:])
    ):
        raise DataError(f"The array is {as_given}, but the model takes "
                        f"{shape_text(expected, batch=True)}: "
                        "one input or a batch of them, shaped as its training data.")
    if not np.isfinite(array).all():
        raise DataError("The array holds NaN or infinite values.")
    if rows is not None and array.size:
        _check_word_indices(array, rows)
    warning = ()
    if unscaled and array.size and array.max() > 1.0:
        # int64 or float pixels of 0-255 gave every digit probability 1.0, without a word.
        warning = (f"the pixels go up to {float(array.max()):g}, but the model learned pixels "
                   "scaled to 0-1: divide them by 255, or give integer pixels, which are scaled "
                   "for you",)
    return _Prepared(array, [None] * len(array), [warning] * len(array))


def _check_word_indices(array: np.ndarray, rows: int) -> None:
    """Whole numbers the Embedding has rows for: TensorFlow's InvalidArgumentError
    otherwise, and a fraction or a negative number was cut or wrapped without a word."""
    if np.any(np.mod(array, 1) != 0):
        raise DataError("The array holds word indices, which are whole numbers; it has "
                        "fractions.")
    if array.min() < 0 or array.max() >= rows:
        bad = array.min() if array.min() < 0 else array.max()
        raise DataError(f"The array holds the word index {bad:g}, outside the 0 to {rows - 1} "
                        "the model's Embedding has rows for.")
    if (empty := np.flatnonzero(~array.reshape(len(array), -1).any(axis=1))).size:
        # Padding alone: a fastText model's masked average of it is NaN, labelled anyway.
        raise DataError(f"The array's row {int(empty[0])} is padding alone (every index 0): "
                        "there is nothing to classify; give each row a text's word indices.")



def _unknown_warning(known: int, total: int, unit: str,
                    nothing: str = "an empty review") -> tuple[str, ...]:
    if not total:
        return (f"this text has no {unit} the model reads (only punctuation?): the prediction "
                f"is its answer to {nothing}",)
    if known / total < MOSTLY_UNKNOWN:
        return (f"the model knows {known} of this text's {total} {unit}: it learned other "
                "words (another language?), so the prediction says little",)
    return ()
