"""Predictions of a trained run on new inputs: raw review text, or image files.

Inputs are prepared exactly as the run's training data was: IMDB reviews are tokenised as
IMDB was and mapped with the word index saved in the run; raw-text runs go through a
TextVectorization holding the vocabulary fitted in training; images become grayscale (or
RGB) arrays of the model's input size, scaled to [0, 1]. Regression runs predict a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dlcourse.config import TEXT_DATASETS
from dlcourse.data import IMDB_CLASS_NAMES, encode_reviews
from dlcourse.errors import DataError, RunError
from dlcourse.evaluation import class_scores, load_trained_model
from dlcourse.rundir import CLASSES_FILE, load_run_config

WORD_INDEX_FILE = "word_index.json"
TOP = 3


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one input: the best label and every class's probability."""

    input: str
    label: str
    probabilities: dict[str, float]
    # Regression: the predicted number (label is it, formatted; no probabilities).
    value: float | None = None

    @property
    def top(self) -> list[tuple[str, float]]:
        ranked = sorted(self.probabilities.items(), key=lambda item: -item[1])
        return ranked[:TOP]

    def as_dict(self) -> dict:
        if self.value is not None:
            return {"input": self.input, "value": self.value}
        return {
            "input": self.input,
            "label": self.label,
            "probability": self.probabilities[self.label],
            "probabilities": self.probabilities,
        }


def predict_run(run_dir: str | Path, inputs: Sequence[str]) -> list[Prediction]:
    """Predict each input (review texts for text models, image paths for image models)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if not inputs:
        raise DataError("Nothing to predict: give review texts, image files, or '-' for stdin.")
    model = load_trained_model(run_dir)
    if config.data.dataset == "raw_text":
        arrays = vectorize_texts(run_dir, config, inputs)
    elif config.data.dataset in TEXT_DATASETS:
        arrays = encode_reviews(
            inputs, read_word_index(run_dir), config.data.num_words, config.data.maxlen
        )
    else:
        dark_background = config.data.dataset in LIGHT_ON_DARK_DATASETS
        arrays = np.stack([
            read_image(Path(path), model.input_shape[1:], invert_light_background=dark_background)
            for path in inputs
        ])
    outputs = model.predict(arrays, verbose=0)
    if config.task == "regression":
        return [
            Prediction(input=text, label=f"{float(row[0]):.2f}", probabilities={}, value=float(row[0]))
            for text, row in zip(inputs, outputs)
        ]
    class_names = read_class_names(run_dir, config.data.dataset, model.output_shape[-1])
    scores = class_scores(outputs)
    return [_prediction(text, row, class_names) for text, row in zip(inputs, scores)]


def vectorize_texts(run_dir: Path, config, texts: Sequence[str]) -> np.ndarray:
    """Raw texts through a TextVectorization holding the vocabulary fitted in training."""
    from dlcourse.text import VOCABULARY_FILE, read_vocabulary, vectorize, vectorizer_from

    settings = config.data.vectorize
    vectorizer = vectorizer_from(settings, read_vocabulary(run_dir / VOCABULARY_FILE))
    return vectorize(vectorizer, list(texts), settings)


def read_class_names(run_dir: Path, dataset: str, count: int) -> tuple[str, ...]:
    """The run's classes.json; runs written before it existed get IMDB's or digit names."""
    try:
        names = json.loads((run_dir / CLASSES_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if dataset == "imdb":
            return IMDB_CLASS_NAMES
        return tuple(str(digit) for digit in range(count))
    return tuple(str(name) for name in names)


def _prediction(text: str, scores: np.ndarray, class_names: Sequence[str]) -> Prediction:
    return Prediction(
        input=text,
        label=class_names[int(np.argmax(scores))],
        probabilities={name: float(score) for name, score in zip(class_names, scores)},
    )


def save_word_index(run_dir: Path, word_index: dict[str, int], num_words: int | None) -> None:
    """Keep the words a model can see (rank + 3 < num_words) with the run, for `predict`."""
    from dlcourse.rundir import write_json

    limit = float("inf") if num_words is None else num_words - 3
    write_json(run_dir / WORD_INDEX_FILE, {w: r for w, r in word_index.items() if r < limit})


def read_word_index(run_dir: Path) -> dict[str, int]:
    path = run_dir / WORD_INDEX_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(
            f"{run_dir} has no {WORD_INDEX_FILE}: it was trained without imdb_word_index.json "
            "beside imdb.npz, so raw text can't be mapped to the word indices it learned."
        ) from None


# Datasets whose images are light on a dark background: a picture for them with a light
# background (a digit drawn on paper) is inverted to match.
LIGHT_ON_DARK_DATASETS = ("mnist", "fashion_mnist")


def read_image(
    path: Path, input_shape: tuple[int, ...], *, invert_light_background: bool = True
) -> np.ndarray:
    """An image file as the model's input: its size and channels, scaled to [0, 1].

    Resized bilinearly, as `image_dataset_from_directory` does. With
    `invert_light_background`, a grayscale picture whose border is light is inverted, so a
    digit drawn dark on paper looks like MNIST's light-on-dark digits.
    """
    from PIL import Image, UnidentifiedImageError

    height, width, channels = input_shape
    try:
        with Image.open(path) as image:
            image = image.convert({1: "L", 4: "RGBA"}.get(channels, "RGB"))
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype="float32") / 255.0
    except FileNotFoundError:
        raise DataError(f"{path}: no such image file.") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(
            f"{path}: not an image this model can take ({error}); give PNG or JPEG files."
        ) from None
    if channels == 1:
        array = array[..., np.newaxis]
        if invert_light_background and _border_mean(array) > 0.5:
            array = 1.0 - array
    return array


def _border_mean(array: np.ndarray) -> float:
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    return float(border.mean())
