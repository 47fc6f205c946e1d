"""dlcourse's own Keras layers, for what Keras's layers can't say in a config.

`NaiveBayesBag` is Wang and Manning's (2012) NBSVM as a Keras layer: the strongest
from-scratch baseline for sentiment, and one a Sequential list of Keras layers can't
express, because it scales each n-gram's learned weight by a statistic of the labelled
training data (its log-count ratio). The layer is registered with Keras's serialisation,
so a run's model.keras loads in Keras's safe mode once this module is imported.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from dlcourse.errors import ModelDataMismatch

# Laplace smoothing of the n-gram counts, as in Wang and Manning (alpha = 1).
SMOOTHING = 1.0


@keras.saving.register_keras_serializable(package="dlcourse")
class NaiveBayesBag(keras.layers.Layer):
    """A bag of n-grams weighted by their naive Bayes log-count ratios.

    Takes the token indices of TextVectorization's `int` output (0 is padding) and
    returns, for each text, the sum over its distinct tokens j of r_j * w_j: w_j is a
    learned vector of `output_dim` numbers per token, and r_j = log((p_j/|p|) / (q_j/|q|)),
    with p_j and q_j the (smoothed) numbers of positive and negative training texts that
    hold token j. Each token counts once per text (binarised features, as NBSVM's).

    The ratios are not learned: `fit_ratios` sets them from the training texts the model
    fits (dlcourse calls it before training, leaving out the validation split), and they
    are saved with the model. With `output_dim: 1` and a Dense(1, sigmoid) after it, this
    is logistic regression on NB-scaled features (NB-LR).

    Args:
        input_dim: Integer. Size of the vocabulary, i.e. maximum token index + 1
            (data.vectorize.max_tokens).
        output_dim: Positive integer, how many weights to learn per token. Defaults to 1.
        embeddings_initializer: Initializer for the learned weights. Defaults to
            "zeros": the model starts at a score of 0 for every text.
    """

    def __init__(self, input_dim, output_dim=1, embeddings_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(input_dim) < 2 or int(output_dim) < 1:
            raise ValueError(
                f"NaiveBayesBag needs input_dim of at least 2 and output_dim of at least 1, "
                f"got {input_dim} and {output_dim}."
            )
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim), name="embeddings",
            initializer=self.embeddings_initializer,
        )
        self.ratios = self.add_weight(
            shape=(self.input_dim, 1), name="ratios", initializer="zeros", trainable=False,
        )

    def call(self, inputs):
        tokens = ops.sort(ops.cast(inputs, "int32"), axis=-1)
        # After sorting, a token's repeats sit together: keep the first of each run.
        first = ops.concatenate(
            [ops.ones_like(tokens[:, :1], dtype="bool"), tokens[:, 1:] != tokens[:, :-1]],
            axis=-1,
        )
        counted = ops.cast(ops.logical_and(first, tokens > 0), self.compute_dtype)
        weights = ops.take(self.embeddings, tokens, axis=0) * ops.take(self.ratios, tokens, axis=0)
        return ops.sum(weights * counted[..., None], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def fit_ratios(self, tokens: np.ndarray, labels: np.ndarray) -> None:
        """Set the log-count ratios from training texts' token indices and their 0/1 labels."""
        self.ratios.assign(log_count_ratios(tokens, labels, self.input_dim)[:, None])

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
        }


def log_count_ratios(tokens: np.ndarray, labels: np.ndarray, vocabulary_size: int) -> np.ndarray:
    """r_j = log((p_j/|p|_1) / (q_j/|q|_1)) over binarised token counts (each token once per
    text), with p and q the smoothed counts in positive (1) and negative (0) texts. The
    padding index 0 gets 0, so padding adds nothing."""
    labels = np.asarray(labels)
    if labels.shape != (len(tokens),) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"log-count ratios need one 0/1 label per text: got labels of shape "
                         f"{labels.shape} for {len(tokens)} texts.")
    tokens = np.sort(np.asarray(tokens), axis=1)
    first = np.ones(tokens.shape, dtype=bool)
    first[:, 1:] = tokens[:, 1:] != tokens[:, :-1]
    rows, columns = np.nonzero(first & (tokens > 0))
    present = tokens[rows, columns]
    positive = labels[rows] == 1
    p = SMOOTHING + np.bincount(present[positive], minlength=vocabulary_size)
    q = SMOOTHING + np.bincount(present[~positive], minlength=vocabulary_size)
    ratios = np.log((p / p.sum()) / (q / q.sum()))
    ratios[0] = 0.0
    return ratios.astype("float32")


def fit_data_statistics(model: keras.Model, tokens: np.ndarray, labels: np.ndarray) -> None:
    """Give every layer that learns from the training data's statistics (NaiveBayesBag)
    what it needs: `tokens` and `labels` are the rows the model will fit, never the
    validation or test rows."""
    for index, layer in enumerate(model.layers):
        if not isinstance(layer, NaiveBayesBag):
            continue
        largest = int(np.max(tokens, initial=0))
        if largest >= layer.input_dim:
            raise ModelDataMismatch(
                f"model.layers[{index}].NaiveBayesBag.input_dim is {layer.input_dim}, but the "
                f"training data holds token index {largest}: set input_dim to at least "
                f"{largest + 1}, or bound the indices (data.num_words, "
                "data.vectorize.max_tokens)."
            )
        layer.fit_ratios(tokens, labels)


# The layers a config may name besides Keras's own, by the name it uses.
OWN_LAYERS = {"NaiveBayesBag": NaiveBayesBag}
