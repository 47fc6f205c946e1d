"""Predictions of a trained run on new inputs: raw review text, or image files.

Inputs are prepared exactly as the run's training data was: IMDB reviews are tokenised as
IMDB was and mapped with the word index saved in the run; raw-text runs go through a
TextVectorization holding the vocabulary fitted in training; images become grayscale (or
RGB) arrays of the model's input size, scaled to [0, 1]. Regression runs predict a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dlcourse.config import family
from dlcourse.data.imdb import encode_reviews
from dlcourse.data.text import vectorize, vectorizer_from
from dlcourse.errors import DataError
from dlcourse.evaluation import class_scores
from dlcourse.rundir import RunDir

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
    run = RunDir(run_dir).require()
    config = run.read_config()
    if not inputs:
        raise DataError("Nothing to predict: give review texts, image files, or '-' for stdin.")
    model = run.load_model()
    described = family(config.data.dataset)
    if config.data.dataset == "raw_text":
        settings = config.data.vectorize
        arrays = vectorize(vectorizer_from(settings, run.read_vocabulary()), list(inputs), settings)
    elif described.is_text:
        arrays = encode_reviews(inputs, run.read_word_index(), config.data.num_words,
                                config.data.maxlen)
    else:
        arrays = np.stack([
            read_image(Path(path), model.input_shape[1:],
                       invert_light_background=described.light_on_dark)
            for path in inputs
        ])
    outputs = model.predict(arrays, verbose=0)
    if config.task == "regression":
        return [
            Prediction(input=text, label=f"{float(row[0]):.2f}", probabilities={}, value=float(row[0]))
            for text, row in zip(inputs, outputs)
        ]
    class_names = run.read_classes() or described.class_names or tuple(
        str(index) for index in range(model.output_shape[-1])
    )
    scores = class_scores(outputs)
    return [_prediction(text, row, class_names) for text, row in zip(inputs, scores)]


def _prediction(text: str, scores: np.ndarray, class_names: Sequence[str]) -> Prediction:
    return Prediction(
        input=text,
        label=class_names[int(np.argmax(scores))],
        probabilities={name: float(score) for name, score in zip(class_names, scores)},
    )


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
