"""Pictures people draw or photograph, made into what a model trained on a dataset takes.

For MNIST this is what LeCun did to make the dataset: the digit is cut out of its
picture (its bounding box), scaled to fit 20x20 pixels keeping its proportions, and placed
in a 28x28 field so that its centre of mass is in the middle; light strokes on a dark
background. A picture of a digit on paper, in a corner of a large photo or on a
transparent background then looks like the digits the model learned. Other datasets get
their image size and channels. Transparency is composited on white first, as a picture
viewer shows it.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from dlcourse.data.image_folder import (
    COLOR_MODE_CHANNELS, LARGEST_PIXELS, decoded_as_keras, safe_formats,
)
from dlcourse.errors import DataError
from dlcourse.safe_files import regular_file

# A larger picture is reduced to about this many pixels a side as soon as it is decoded,
# before any float copy: the models take 28 to a few hundred, and a digit's bounding box
# is found as well at this size. A 49-megapixel picture took 0.6 GB to prepare in full.
WORKING_SIDE = 1024
# A JPEG is decoded at down to 1/8 of its size (PIL's draft), so a phone's 50-megapixel
# photo (8160x6144) takes about a megapixel; PIL itself refuses twice its 89 megapixels.
LARGEST_DRAFTED_PIXELS = 170_000_000
DRAFTED_FORMATS = ("JPEG", "MPO")  # MPO: a phone's JPEG that holds a second picture
# Below this spread of grey levels a picture is blank, whatever the model says about it.
BLANK_SPREAD = 0.08
MNIST_FIELD, MNIST_BOX = 28, 20
# The darkest and lightest levels of a picture, robust to a few noisy pixels and sensitive
# to a small digit in a large photo.
INK_PERCENTILES = (0.1, 99.9)
# A pen's digit in a phone's 12-megapixel photo is under 0.1% of its pixels, and was
# called blank: a picture is blank only if its rarer extremes (these), after a 3x3 blur
# that takes camera noise down, are as close as its INK_PERCENTILES. (The blur alone
# called a faint 1-pixel digit blank.)
BLANK_PERCENTILES = (0.01, 99.99)


@dataclass(frozen=True)
class Picture:
    """One picture as the model's input, and what a person should know about it."""

    array: np.ndarray
    warnings: tuple[str, ...] = ()


def read_picture(path: Path | bytes, input_shape: tuple[int, ...], *, light_on_dark: bool,
                 centre_digit: bool, preprocess: bool = True, name: str | None = None) -> Picture:
    """An image file (or its bytes, called `name` in messages) as the model's input:
    (height, width, channels) floats in [0, 1].

    `light_on_dark`: the dataset's pictures are light strokes on dark (MNIST), so a
    light-background picture is inverted. `centre_digit`: cut out, scale and centre the
    digit as MNIST's were. Without `preprocess`, the picture is only resized.
    """
    height, width, channels = input_shape
    image = _open(path, name or str(path))
    image = _on_white(image)
    if channels == 1:
        grey = np.asarray(image.convert("L"), dtype="float32") / 255.0
        levels = _ink_levels(grey)  # for both questions below
        warnings = _blank_warning(grey, levels)
        if light_on_dark and not warnings and _dark_on_light(grey, levels):
            if preprocess:
                grey = 1.0 - grey
            else:
                warnings = ("the picture is dark on light, but the model learned light "
                            "strokes on dark; without --no-preprocess it is inverted",)
        if preprocess and centre_digit and not warnings:
            array = centred_digit(grey, height)
        else:
            array = _resized(grey, height, width)
        return Picture(array[..., np.newaxis], warnings)
    from PIL import Image

    mode = {3: "RGB", 4: "RGBA"}.get(channels, "RGB")
    resized = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype="float32") / 255.0
    return Picture(array, _blank_warning(array.mean(axis=-1)))


def read_as_trained(path: Path | bytes, input_shape: tuple[int, ...], *,
                    name: str | None = None) -> Picture:
    """A picture for a model trained on an image folder, read as Keras read the folder's
    images (image_dataset_from_directory): TensorFlow's decoder, its channels (alpha
    kept, not painted white), a bilinear resize without antialiasing, then [0, 1]. Read
    through PIL, as other pictures are, the same file gave the model other pixels than
    `evaluate` did: a transparent corner white instead of black, fine texture smoothed
    away, a 16-bit PNG's levels clipped. The header is checked by PIL first."""
    import tensorflow as tf

    name = name or str(path)
    height, width, channels = input_shape
    with _picture_errors(name):
        _opened(path, name).close()  # a format, a size and a regular file, before decoding
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
    try:
        image = decoded_as_keras(data, channels)
    except tf.errors.OpError:
        mode = next((mode for mode, count in COLOR_MODE_CHANNELS.items() if count == channels),
                    f"{channels} channels")
        raise DataError(f"{name}: TensorFlow can't decode this image as {mode}, as the model "
                        "was trained; give it as a PNG.") from None
    array = tf.image.resize(image, (height, width), method="bilinear").numpy() / 255.0
    array = array.astype("float32")
    return Picture(array, _blank_warning(array.mean(axis=-1)))


def _working_size(image):
    """`image` reduced by a whole factor to at most about WORKING_SIDE pixels a side.
    PIL's reduce takes greyscale, RGB(A) and integer or float modes: others are converted
    first (a palette to RGBA, keeping its transparency)."""
    factor = -(-max(image.size) // WORKING_SIDE)
    if factor <= 1:
        return image
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode.startswith("I;16"):  # 16-bit levels, kept: reduce takes 32-bit "I"
        image = image.convert("I")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        image = image.convert("RGB")
    return image.reduce(factor)


def _open(path: Path | bytes, name: str):
    with _picture_errors(name):
        image = _opened(path, name, drafted=True)
        if image.format in DRAFTED_FORMATS:  # decoded at a fraction of its size
            image.draft(image.mode, (WORKING_SIDE, WORKING_SIDE))
        image.load()
        turn = _turn_upright(image)  # read before reducing, which leaves the EXIF behind
        image = _eight_bit(_working_size(image))
        return image.transpose(turn) if turn is not None else image


def check_picture(path: str, *, drafted: bool = True) -> None:
    """A picture whose header PIL reads, of a size it may have (`drafted`: read by
    read_picture, which decodes a JPEG at a fraction of its size): said before predict
    starts TensorFlow (seconds) rather than after."""
    with _picture_errors(path):
        _opened(Path(path), path, drafted=drafted).close()


def _opened(path: Path | bytes, name: str, *, drafted: bool = False):
    """The picture opened (its header read, not its pixels). `drafted`: a JPEG will be
    decoded at a fraction of its size, so a phone's 50-megapixel photo may be taken."""
    import io

    from PIL import Image

    if not isinstance(path, bytes):  # a FIFO would hang Image.open
        regular_file(path, DataError, "image file")
    with warnings.catch_warnings():
        # PIL's warning from 89 megapixels printed a line before our refusal of 50.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(path) if isinstance(path, bytes) else path,
                               formats=safe_formats())
        except Image.DecompressionBombError:  # PIL's own refusal, from 179 megapixels
            # said in PIL's words ("could be decompression bomb DOS attack") before
            raise DataError(f"{name}: over {2 * Image.MAX_IMAGE_PIXELS:,} pixels, more "
                            f"than a picture may have ({LARGEST_PIXELS:,}; a JPEG, decoded "
                            f"at a fraction of its size, {LARGEST_DRAFTED_PIXELS:,}); resize "
                            "it first.") from None
    largest = LARGEST_DRAFTED_PIXELS if drafted and image.format in DRAFTED_FORMATS \
        else LARGEST_PIXELS
    if image.width * image.height > largest:
        image.close()
        raise DataError(f"{name}: {image.width}x{image.height} pixels, more than the "
                        f"{largest:,} a picture may have; resize it first.")
    return image


@contextlib.contextmanager
def _picture_errors(name: str) -> Iterator[None]:
    """PIL's and the file system's errors as one paragraph naming the picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except FileNotFoundError:
        raise DataError(f"{name}: no such image file.") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        if isinstance(error, UnidentifiedImageError):
            error = "no image format recognised"  # PIL's own text names a Python object
        raise DataError(
            f"{name}: not an image this model can take ({error}); give PNG or JPEG files."
        ) from None


def _on_white(image):
    """Transparent parts become white paper, as a viewer shows them."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return image


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])


def _ink_levels(grey: np.ndarray) -> tuple[float, float]:
    """The darkest and lightest levels of `grey` (INK_PERCENTILES)."""
    darkest, lightest = np.percentile(grey, INK_PERCENTILES)
    return float(darkest), float(lightest)


def _dark_on_light(grey: np.ndarray, levels: tuple[float, float]) -> bool:
    """Whether the strokes are darker than the paper. A light border (paper, the old and
    usual case) says so; a dimmer one, as a phone's camera meters white paper (0.45),
    was taken for a dark background: there the strokes are darker where the darkest
    pixels lie further below the border's level than the lightest lie above it."""
    border = _border(grey)
    background = float(np.median(border))
    if background >= 0.5 or float(border.mean()) > 0.5:  # the rule before: a light border
        return True
    darkest, lightest = levels
    return background - darkest > lightest - background


def _eight_bit(image):
    """16- and 32-bit greyscale (a scanner's PNG, "I;16" or "I") as 8-bit levels: PIL's
    convert("L") clips every level above 255, so dark ink and white paper both became
    white. A 16-bit file is scaled by its bit depth, as TensorFlow's decoder scales it; a
    32-bit one by its own range (levels of 0-255 stay as they are)."""
    if not image.mode.startswith("I"):
        return image
    sixteen = image.mode.startswith("I;16")
    image = image.convert("I")
    highest = image.getextrema()[1]
    top = 65535 if sixteen or 255 < highest <= 65535 else max(highest, 255)
    return image.point(lambda level: level * (255 / top)).convert("L")  # in PIL's C


# EXIF orientations (a phone stores a portrait photo on its side, with a tag saying how
# to turn it) and the turn that shows the picture as viewers do, as PIL's exif_transpose.
_UPRIGHT_TURNS = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                  6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}


def _turn_upright(image):
    """The turn that shows `image` upright, or None. A damaged EXIF block is no turn (PIL
    warned of it on the terminal)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            orientation = image.getexif().get(0x0112)
        except Exception:  # any damage to a tag only loses the turn, never the picture
            return None
    name = _UPRIGHT_TURNS.get(orientation) if isinstance(orientation, int) else None
    return getattr(Image.Transpose, name) if name else None


def _blank_warning(grey: np.ndarray, levels: tuple[float, float] | None = None
                   ) -> tuple[str, ...]:
    """`levels`: `grey`'s _ink_levels, where they are known already."""
    darkest, lightest = levels or _ink_levels(grey)
    rare_darkest, rare_lightest = np.percentile(_blurred(grey), BLANK_PERCENTILES)
    if max(lightest - darkest, rare_lightest - rare_darkest) < BLANK_SPREAD:
        return ("the picture is blank or nearly uniform: there is nothing to recognise, "
                "so the prediction below means nothing",)
    return ()


def _blurred(grey: np.ndarray) -> np.ndarray:
    """`grey` averaged over each pixel's 3x3 neighbourhood (the edges repeated)."""
    if min(grey.shape) < 3:
        return grey
    padded = np.pad(grey, 1, mode="edge")
    height, width = grey.shape
    total = sum(padded[row:row + height, column:column + width]
                for row in range(3) for column in range(3))
    return total / 9


def _resized(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(np.uint8(np.clip(grey, 0, 1) * 255))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR),
                      dtype="float32") / 255.0


def centred_digit(grey: np.ndarray, field: int = MNIST_FIELD) -> np.ndarray:
    """Light strokes on dark, cut to their bounding box, scaled to fit 20x20 (of 28) and
    centred by their centre of mass, as MNIST's digits were made."""
    from PIL import Image

    background = float(np.median(_border(grey)))
    ink = np.clip((grey - background) / max(float(grey.max()) - background, 1e-6), 0, 1)
    rows, columns = np.nonzero(ink > 0.25)
    if not rows.size:  # strokes no lighter than the border: the whole picture is the digit
        rows, columns = np.nonzero(np.ones_like(ink))
        ink = grey
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    crop = ink[top:bottom, left:right]
    box = round(MNIST_BOX * field / MNIST_FIELD)
    scale = box / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray(np.uint8(crop * 255)).resize(size, Image.Resampling.LANCZOS),
                       dtype="float32") / 255.0
    # A pen's stroke, a few pixels of a large photo, came out a grey smear (at most 0.38)
    # once scaled down; MNIST's strokes all reach full intensity.
    if small.max() > 0:
        small = small / small.max()
    weights = small.sum() or 1.0
    centre_row = (np.arange(small.shape[0])[:, None] * small).sum() / weights
    centre_column = (np.arange(small.shape[1])[None, :] * small).sum() / weights
    # MNIST's centres of mass sit at pixel (14, 14) of 0..27.
    top = int(round(field / 2 - centre_row))
    left = int(round(field / 2 - centre_column))
    top = min(max(top, 0), field - small.shape[0])
    left = min(max(left, 0), field - small.shape[1])
    canvas = np.zeros((field, field), dtype="float32")
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    return canvas
