"""The catalog of Keras's signatures that `validate` checks layers against, read once per
Keras version: it must be what the installed Keras gives, or validate checks against
another Keras (a hand edit, or a rule changed without regenerating it)."""

import json

import pytest

from dlcourse.config import keras_catalog


def test_the_committed_catalog_is_what_the_installed_keras_gives():
    import keras

    committed = json.loads(keras_catalog.SHIPPED.read_text(encoding="utf-8"))
    if committed["keras"] != keras.__version__:  # another Keras builds its own, cached
        pytest.skip(f"the catalog is of Keras {committed['keras']}, this is {keras.__version__}")
    assert json.loads(json.dumps(keras_catalog.build(), sort_keys=True)) == committed, (
        "regenerate it: python -m dlcourse.config.keras_catalog "
        "--output dlcourse/config/keras_catalog.json")


def test_steps_and_windows_are_positive():
    """Pooling strides of 0 passed validate and divided by zero as Keras built the model."""
    layers = keras_catalog.build()["layers"]
    assert layers["MaxPooling2D"]["strides"]["positive"] is True
    assert layers["Conv2D"]["dilation_rate"]["positive"] is True
    assert layers["UpSampling2D"]["size"]["positive"] is True
