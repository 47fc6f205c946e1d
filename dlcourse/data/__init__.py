"""Datasets: where their files are found, how they are read safely, how they are prepared.

One module per family: images (MNIST, Fashion-MNIST, CIFAR), image_folder (your own
images), imdb (Keras's word indices) and text (raw text, vectorised with
TextVectorization). Below them: dataset (the prepared arrays and their signature) and
files (finding and bounded, code-free reading). Preparation follows the lecture's code:
pixels scaled to [0, 1]; reviews mapped with Keras's IMDB conventions and padded with
`pad_sequences`' defaults.
"""

from dlcourse.data.dataset import (
    DataSignature,
    Dataset,
    TextVocabulary,
    classes_text,
    output_widths,
    shape_text,
    signature_from_config,
    signature_of,
)
from dlcourse.data.files import check_given_dir
from dlcourse.data.loading import check_findable, data_record, load_dataset, one_hot_if_needed

__all__ = [
    "DataSignature", "Dataset", "TextVocabulary", "check_findable", "check_given_dir",
    "classes_text", "data_record", "load_dataset", "one_hot_if_needed", "output_widths", "shape_text",
    "signature_from_config", "signature_of",
]
