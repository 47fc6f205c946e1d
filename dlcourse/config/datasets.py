"""The datasets a config can name, each described once: its own settings, what its inputs
are, its classes and its input shape where they are fixed.

Everything that needs to know about a dataset asks here: the config's validation (which
settings apply), the loaders in dlcourse.data (class names), `summary` (shapes known
without the data), `predict` (text or images) and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetFamily:
    """One value of `data.dataset`."""

    name: str
    description: str
    # What the model's input is: images (float, H x W x C), word_indices (int sequences
    # for an Embedding), or text (raw text, whose vectorize section decides).
    inputs: str
    # The data settings that apply to this dataset alone (num_words, path, ...).
    settings: frozenset[str] = frozenset()
    # Those of them that name files or folders, relative to the data directory.
    paths: tuple[str, ...] = ()
    class_names: tuple[str, ...] | None = None
    # The number of classes where it is fixed but the names are read from the data.
    class_count: int | None = None
    image_shape: tuple[int, int, int] | None = None
    # Light strokes on a dark background (MNIST): a picture with a light background,
    # such as a digit drawn on paper, is inverted for these.
    light_on_dark: bool = False
    # Each picture is one digit, cut out and centred in its field (LeCun's MNIST), so a
    # new picture is prepared the same way.
    centred_digits: bool = False
    # Trained on picture files as Keras reads them (TensorFlow's decoder and resize), so a
    # new picture is read the same way rather than prepared as a photo of a digit.
    pictures_read_by_keras: bool = False

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names else self.class_count

    @property
    def is_text(self) -> bool:
        return self.inputs != "images"


DIGITS = tuple(str(digit) for digit in range(10))
SENTIMENTS = ("negative", "positive")
FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

FAMILIES = {
    family.name: family
    for family in (
        DatasetFamily("mnist", "handwritten digits, 28x28 grayscale (mnist.npz)", "images",
                      class_names=DIGITS, image_shape=(28, 28, 1), light_on_dark=True,
                      centred_digits=True),
        DatasetFamily("fashion_mnist", "clothing, 28x28 grayscale (fashion-mnist/)", "images",
                      class_names=FASHION_MNIST_CLASS_NAMES, image_shape=(28, 28, 1),
                      light_on_dark=True),
        DatasetFamily("cifar10", "10 classes of 32x32 colour photos (cifar-10-batches-py/)",
                      "images", class_names=CIFAR10_CLASS_NAMES, image_shape=(32, 32, 3)),
        DatasetFamily("cifar100", "100 classes of 32x32 colour photos (cifar-100-python/)",
                      "images", class_count=100, image_shape=(32, 32, 3)),
        DatasetFamily("image_folder", "your own images, one sub-folder per class", "images",
                      settings=frozenset({"path", "test_path", "test_split", "image_size",
                                          "color_mode"}), paths=("path", "test_path"),
                      pictures_read_by_keras=True),
        DatasetFamily("imdb", "IMDB reviews as Keras's word indices (imdb.npz)",
                      "word_indices", settings=frozenset({"num_words", "maxlen"}),
                      class_names=SENTIMENTS),
        DatasetFamily("raw_text", "texts from aclImdb folders, JSON lines, CSV or Python lists",
                      "text", settings=frozenset({"format", "train", "test", "text_field",
                                                  "target", "class_names", "vectorize"}),
                      paths=("train", "test")),
    )
}
DATASET_NAMES = tuple(FAMILIES)
# Settings that belong to one dataset or another, so a setting the dataset ignores is an error.
FAMILY_SETTINGS = frozenset(key for family in FAMILIES.values() for key in family.settings)
# Where a config's data is, in every family: data.dir and each family's own paths.
DATA_PLACES = frozenset({"dir", *(path for family in FAMILIES.values() for path in family.paths)})


def family(name: str) -> DatasetFamily:
    return FAMILIES[name]
