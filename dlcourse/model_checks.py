"""What a config's model must be to take its data, checked from the config and the data's
signature alone: without TensorFlow, so `validate` says it for data whose shapes the
config fixes (MNIST, CIFAR, IMDB's word indices), and the builder before it builds."""

from __future__ import annotations

from dlcourse.config import Config, LayerSpec, format_path
from dlcourse.config.sections import (
    BINARY_LOSSES, CATEGORICAL_LOSSES, ELEMENTWISE_LOSSES, PROBABILITIES,
)
from dlcourse.config.vocabulary import WRAPPER_ARGUMENTS
from dlcourse.data import DataSignature, classes_text
from dlcourse.errors import ModelDataMismatch


# Layers that take word (or n-gram) indices, and so must come first on a text model's.
INDEX_LAYERS = ("Embedding", "NaiveBayesBag")


def _bags_out_of_place(config: Config) -> list[str]:
    """Where a NaiveBayesBag stands other than first at the top: a later layer, or
    wrapped in another, neither of which gets the token indices or its ratios."""
    found = []

    def visit(spec: LayerSpec, path: list, top_index: int | None) -> None:
        here = [*path, spec.name]
        if spec.name == "NaiveBayesBag" and top_index != 0:
            found.append(format_path(here))
        for key in WRAPPER_ARGUMENTS:
            inner = spec.args.get(key)
            if isinstance(inner, LayerSpec):
                visit(inner, [*here, key], None)

    for index, spec in enumerate(config.model.layers):
        visit(spec, ["model", "layers", index], index)
    return found


def check_embedding_fits(config: Config, data: DataSignature) -> None:
    """The first layer takes what the data gives: word indices an index layer (Embedding,
    NaiveBayesBag) has rows for, or no index layer for other inputs."""
    first = config.model.layers[0]
    misplaced = _bags_out_of_place(config)
    if misplaced:
        raise ModelDataMismatch(
            f"{misplaced[0]} must be the first layer, unwrapped: it reads the token indices "
            "TextVectorization gives (data.vectorize.output_mode: int), not another layer's "
            "output."
        )
    if first.name not in INDEX_LAYERS:
        if data.kind == "word_indices":
            raise ModelDataMismatch(
                f"model.layers[0] is {first.name}, but {data.describe_input()}: "
                "start text models with an Embedding layer that turns word indices into vectors "
                "(or a NaiveBayesBag)."
            )
        return
    if data.kind != "word_indices":
        hint = (
            f" Use data.vectorize.output_mode int for {first.name}, or start with Dense."
            if data.kind == "bag_of_words" else ""
        )
        raise ModelDataMismatch(
            f"model.layers[0].{first.name} expects word indices, but {data.describe_input()}.{hint}"
        )
    input_dim = first.args.get("input_dim")
    if data.vocabulary_size and isinstance(input_dim, int) and input_dim < data.vocabulary_size:
        raise ModelDataMismatch(
            f"model.layers[0].{first.name}.input_dim is {input_dim}, but {data.vocabulary_origin} "
            f"is {data.vocabulary_size}: word indices up to {data.vocabulary_size - 1} would fall "
            f"outside the layer's table. Set input_dim to at least {data.vocabulary_size}."
        )
    if first.name == "NaiveBayesBag" and data.num_classes != 2:
        raise ModelDataMismatch(
            f"model.layers[0].NaiveBayesBag weighs each token by how much more often it occurs "
            f"in one class than in the other, so it needs two classes; {data.name} has "
            f"{data.num_classes or 'no classes (a regression target)'}."
        )


def output_width(config: Config, num_classes: int) -> int | None:
    """The outputs the loss needs: one number, one probability (binary), one per class;
    None for a loss that doesn't tie them to the classes (circle's embeddings)."""
    loss = config.compile.loss
    if config.task == "regression" or loss in BINARY_LOSSES:
        return 1
    if loss in ELEMENTWISE_LOSSES:
        return 1 if num_classes == 2 else num_classes
    return num_classes if loss in PROBABILITIES or loss in CATEGORICAL_LOSSES else None


def check_against_data(config: Config, data: DataSignature) -> None:
    """What the config alone shows of whether its model takes `data`: its first layer
    and its last layer's width."""
    check_embedding_fits(config, data)
    check_last_layer_fits(config, data)


def check_last_layer_fits(config: Config, data: DataSignature,
                          outputs: int | None = None) -> None:
    """The last layer gives the outputs the loss needs for the data's classes: `outputs`,
    the built model's, or without a build a last Dense's units."""
    last = config.model.layers[-1]
    if outputs is None:
        outputs = last.args.get("units") if last.name == "Dense" else None
    width = output_width(config, data.num_classes)
    if width is None or not isinstance(outputs, int) or outputs == width:
        return
    path = format_path(["model", "layers", len(config.model.layers) - 1, last.name])
    needs = ("fits one number per example" if config.task == "regression" else
             f"on {data.name}, with {classes_text(data.class_names, data.num_classes)}, "
             f"needs {width}")
    raise ModelDataMismatch(f"The last layer ({path}) gives {outputs} outputs, but "
                            f"{config.compile.loss} {needs}: set its units to {width}.")
