"""Your own images, one sub-folder per class (the Caltech-101/256 layout).

Read by Keras's `image_dataset_from_directory`, resized to `data.image_size` and scaled to
[0, 1]. Every image is checked before the first epoch: its header for a size that fits in
memory, its pixels as they are decoded; a folder of one class is refused, since nothing
can be learned from it.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np

from dlcourse.config import DataConfig
from dlcourse.data.dataset import Dataset
from dlcourse.data.files import find_paths
from dlcourse.errors import DataError
from dlcourse.safe_files import regular_file

# The shuffle (and train/test split) of an image folder is fixed, so `evaluate` rebuilds
# the same test split the run was measured on.
IMAGE_FOLDER_SEED = 1337
IMAGE_FOLDER_TEST_SPLIT = 0.2
# What image_dataset_from_directory reads.
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# PIL's formats whose reading starts a program: an EPS is read by running Ghostscript on
# it, and a picture is data, which never starts one, whatever its name says.
PROGRAM_FORMATS = frozenset({"EPS"})
# Pictures it leaves out: told, since a class of them would silently lose examples.
SKIPPED_PICTURES = (".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jfif")
# The channels each data.color_mode decodes to.
COLOR_MODE_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
# A photo of 50 megapixels decodes to 150 MB; more than that is a damaged or hostile file.
LARGEST_PIXELS = 50_000_000
# What a folder's images may take once resized (float32, both splits; fitting takes a
# few times that): 9,000 images at data.image_size [1024, 1024] would be 113 GB.
LARGEST_FOLDER_BYTES = 4 << 30
# Keras decodes 256 images a batch; of large images (over 1 MB resized), fewer, so that
# a batch stays below this: 28 tiny files at [1024, 1024] took 1.3 GB over TensorFlow's
# own 0.8 GB to load, for 0.35 GB of arrays; in batches of 20 and filled in place, 0.75 GB.
LARGEST_BATCH_BYTES = 256 << 20
IMAGES_A_BATCH = 256


def load_image_folder(config: DataConfig, data_dir: str | Path | None, *,
                      learning: bool = True) -> Dataset:
    """The test split is `test_path` when given, otherwise a fixed held-out fraction
    (`test_split`, default 0.2) of `path`. `learning`: read to train (a trained run's
    evaluate is not refused what its training was let through)."""
    import keras

    root = image_root(config.path, data_dir, "data.path")
    test_root = None
    if config.test_path is not None:
        test_root = image_root(config.test_path, data_dir, "data.test_path")
        if learning:
            _check_folders_apart(Path(root), Path(test_root), config)
    classes = class_folders(Path(root))
    if len(classes) < 2:
        raise DataError(
            f"{root}: holds {len(classes)} class folder(s); a classifier needs at least two "
            "(one sub-folder of images per class)."
        )
    # Listed once: a folder of photos holds thousands, and every check reads this list.
    listed = _listed(Path(root))
    images = image_files(Path(root), listed)
    _check_every_class_has_images(Path(root), classes, images)
    split = config.test_split or IMAGE_FOLDER_TEST_SPLIT
    if test_root is None and int(split * len(images)) == 0:
        # Keras would say "No training images found", of a folder that has some.
        raise DataError(
            f"{root}: {len(images)} images, and a test split of {split} of them holds none. "
            "Add images, raise data.test_split, or give a folder of test images as "
            "data.test_path."
        )
    _check_listed_entries(Path(root), listed)
    color_mode = config.color_mode or "rgb"
    image_bytes = 4 * COLOR_MODE_CHANNELS[color_mode] * int(np.prod(config.image_size))
    count = len(images)
    check_image_headers(images, color_mode)
    if test_root is not None:
        _check_same_classes(Path(test_root), classes)
        listed = _listed(Path(test_root))
        _check_listed_entries(Path(test_root), listed)
        test_images = image_files(Path(test_root), listed)
        check_image_headers(test_images, color_mode)
        count += len(test_images)
    _check_folder_fits(count, image_bytes, config)
    options = dict(
        image_size=tuple(config.image_size),
        color_mode=color_mode,
        label_mode="int",
        batch_size=max(1, min(IMAGES_A_BATCH, LARGEST_BATCH_BYTES // image_bytes)),
        shuffle=True,
        seed=IMAGE_FOLDER_SEED,
        verbose=False,
    )
    try:
        if test_root is not None:
            train = keras.utils.image_dataset_from_directory(root, **options)
            test = keras.utils.image_dataset_from_directory(
                test_root, class_names=train.class_names, **options
            )
        else:
            # Keras prints "Using N files for validation" whatever `verbose` says, and
            # these are dlcourse's test split, not a validation one.
            with contextlib.redirect_stdout(io.StringIO()):
                train, test = keras.utils.image_dataset_from_directory(
                    root,
                    validation_split=split,
                    subset="both",
                    **options,
                )
    except ValueError as error:
        raise DataError(f"{root}: can't read this image folder: {error}") from None
    x_train, y_train = _folder_arrays(train, Path(root), color_mode)
    x_test, y_test = _folder_arrays(test, Path(test_root or root), color_mode)
    return Dataset(
        name=Path(root).name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(train.class_names),
        source=Path(root),
        class_names=tuple(train.class_names),
    )


def image_root(pattern: str, data_dir: str | Path | None, key: str) -> Path:
    """The one folder of class folders that `pattern` (data.path or data.test_path) names.
    A glob matching several was read as its first, unsaid; a file was a traceback."""
    what = "test image folder" if key == "data.test_path" else "image folder"
    matches = find_paths(pattern, data_dir, what)
    if len(matches) > 1:
        shown = ", ".join(str(match) for match in matches[:3])
        more = f" and {len(matches) - 3} more" if len(matches) > 3 else ""
        raise DataError(f"{key}: {pattern!r} matches {len(matches)} folders ({shown}{more}); "
                        "an image folder is one folder of class folders: name that one.")
    if not matches[0].is_dir():
        raise DataError(f"{key}: {matches[0]} is a file; an image folder is a folder holding "
                        "one sub-folder of images per class.")
    return matches[0]


def _check_folders_apart(root: Path, test_root: Path, config: DataConfig) -> None:
    """The test folder is neither the training folder (by another name, a link or ..) nor
    inside it or around it: the model was tested on the images it trained on, without a
    word. Raw text refuses splits that share a file the same way."""
    train, test = root.resolve(), test_root.resolve()
    if train != test:
        inner, outer = (test, train) if train in test.parents else (train, test)
        if outer not in inner.parents or any(part.startswith(".") for part in
                                             inner.relative_to(outer).parts):
            return  # apart; or hidden, which Keras leaves out: photos/.test is no class
    how = "is" if train == test else "overlaps"
    raise DataError(
        f"{test_root}: data.test_path ({config.test_path}) {how} data.path's folder "
        f"({config.path}); the model would be tested on images it trained on. Give the "
        "test images a folder of their own, or leave data.test_path out to hold out "
        "data.test_split of the training folder.")


def class_folders(root: Path) -> list[str]:
    """The class names of an image folder: its sub-folders, sorted, as Keras numbers them.
    Keras leaves out hidden folders (.ipynb_checkpoints), and so does every check here."""
    return sorted(path.name for path in root.iterdir()
                  if path.is_dir() and not path.name.startswith("."))


def _check_same_classes(test_root: Path, classes: list[str]) -> None:
    """The test folder's classes are the training folder's. Keras dropped the images of a
    class the model never learned without a word, and named the training folder for a
    class missing from the test folder."""
    test_classes = class_folders(test_root)
    if extra := sorted(set(test_classes) - set(classes)):
        raise DataError(f"{test_root}: holds the class folder {extra[0]!r}, which the training "
                        f"folder lacks ({', '.join(classes)}); the model can't predict it. Move "
                        "it out of the test folder, or into the training folder too.")
    if missing := sorted(set(classes) - set(test_classes)):
        raise DataError(f"{test_root}: lacks the class folder {missing[0]!r} of the training "
                        "folder; make it (it may be empty), so the classes are numbered as in "
                        "training.")


def _listed(root: Path) -> list[Path]:
    """Everything in `root`'s class folders, at any depth; Keras leaves out hidden ones."""
    return [path for path in root.glob("*/**/*")
            if not path.relative_to(root).parts[0].startswith(".")]


def image_files(root: Path, listed: list[Path] | None = None) -> list[Path]:
    """The images Keras reads under `root` (`listed`, once walked): in each class folder,
    at any depth."""
    return sorted(path for path in (_listed(root) if listed is None else listed)
                  if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def _check_every_class_has_images(root: Path, classes: list[str], images: list[Path]) -> None:
    """A class folder without images would still be a class, one the model can never
    learn: more likely a mistake than an intent. `images` are image_files(root)."""
    having = {path.relative_to(root).parts[0] for path in images}
    empty = [name for name in classes if name not in having]
    if empty:
        raise DataError(
            f"{root / empty[0]}: a class folder with no images ({', '.join(IMAGE_SUFFIXES)})"
            + (f", as are {len(empty) - 1} other(s)" if len(empty) > 1 else "")
            + "; add images or remove it."
        )


def _check_no_hidden_folder_of_images(root: Path, listed: list[Path]) -> None:
    """Keras leaves out a hidden class folder, but reads the images of a hidden folder
    inside a class: Jupyter's .ipynb_checkpoints copies were trained on as that class,
    and could land in both splits."""
    for path in listed:
        parts = path.relative_to(root).parts
        depth = next((at for at in range(1, len(parts) - 1) if parts[at].startswith(".")), None)
        if depth is not None and path.suffix.lower() in IMAGE_SUFFIXES:
            raise DataError(
                f"{root.joinpath(*parts[:depth + 1])}: a hidden folder inside the class folder "
                f"{parts[0]!r}, whose images (such as {path.name}) Keras would read as that "
                "class; most often they are copies, as Jupyter's checkpoints are. Remove it, "
                "or move it out of the image folder.")


def _check_listed_entries(root: Path, listed: list[Path]) -> None:
    """What Keras lists but can't read, named before it tries: it lists every name with an
    image suffix, and reading a named pipe (zz.png made by mkfifo) waited for ever, a
    dangling link or a name that is no UTF-8 failed naming only the folder. Pictures it
    doesn't list (.webp, .tif) get a warning: they were left out without a word."""
    _check_no_hidden_folder_of_images(root, listed)
    skipped: dict[str, int] = {}
    for path in listed:
        if path.suffix.lower() in SKIPPED_PICTURES:
            skipped[path.suffix.lower()] = skipped.get(path.suffix.lower(), 0) + 1
        elif not path.suffix and _a_picture_by_its_start(path):  # as downloads often are
            skipped["without a suffix"] = skipped.get("without a suffix", 0) + 1
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            str(path.relative_to(root)).encode("utf-8")  # a class folder's name too
        except UnicodeEncodeError:
            raise DataError(f"{path}: its name is not UTF-8, which TensorFlow can't read; "
                            "rename it.") from None
        if not path.is_dir():  # Keras walks into a folder named x.png
            regular_file(path, DataError, "image file")
    if skipped:
        counts = ", ".join(f"{count} {suffix}" for suffix, count in sorted(skipped.items()))
        fix = ("Convert them to PNG or JPEG" if set(skipped) != {"without a suffix"}
               else "Name them .png or .jpg, as they are,")
        print(f"Warning: {root} holds pictures Keras doesn't read ({counts}); they are left "
              f"out. {fix} to train on them.", file=sys.stderr, flush=True)


# How PNG, JPEG, GIF and BMP files begin (what image_dataset_from_directory reads).
PICTURE_STARTS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def _a_picture_by_its_start(path: Path) -> bool:
    """A regular file whose first bytes are a picture's (never a pipe: not opened)."""
    try:
        if not path.is_file() or path.is_symlink():
            return False
        with open(path, "rb") as stream:
            return stream.read(8).startswith(PICTURE_STARTS)
    except OSError:
        return False


# What TensorFlow's decode_image, which Keras reads images with, can't give per color_mode:
# JPEG and GIF don't decode to four channels, GIF and BMP not to one.
_UNREADABLE_AS = {"rgba": ("JPEG", "GIF"), "grayscale": ("GIF", "BMP")}


def safe_formats() -> list[str]:
    """Every format PIL opens but those that start a program (PROGRAM_FORMATS)."""
    from PIL import Image

    Image.init()
    return [name for name in Image.OPEN if name not in PROGRAM_FORMATS]


def check_image_headers(images: list[Path], color_mode: str = "rgb") -> None:
    """Each image's header names a format PIL knows, that Keras can read in `color_mode`,
    and a size that fits in memory."""
    from PIL import Image, UnidentifiedImageError

    for path in images:
        try:
            with warnings.catch_warnings():
                # PIL warns from 89 megapixels, a line before our refusal of 50.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path, formats=safe_formats()) as image:
                    pixels, kind, mode = image.width * image.height, image.format, image.mode
        except Image.DecompressionBombError:  # PIL's own refusal, from 179 megapixels
            raise DataError(f"{path}: more than the {LARGEST_PIXELS:,} pixels an image may "
                            "have; resize it first.") from None
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise DataError(f"{path}: not an image that can be read ({error}).") from None
        if pixels > LARGEST_PIXELS:
            raise DataError(
                f"{path}: {image.width}x{image.height} pixels, more than the "
                f"{LARGEST_PIXELS:,} an image may have; resize it first."
            )
        if kind in _UNREADABLE_AS.get(color_mode, ()) or (
                color_mode == "grayscale" and kind == "JPEG" and mode == "CMYK"):
            raise DataError(
                f"{path}: a {'CMYK ' if mode == 'CMYK' else ''}{kind} image, which TensorFlow "
                f"can't decode as data.color_mode {color_mode}; use another color_mode, or "
                "convert the image (to PNG, say)."
            )


def _check_folder_fits(count: int, image_bytes: int, config: DataConfig) -> None:
    """The folder's images, resized, fit in memory: told before any is decoded."""
    if (size := count * image_bytes) > LARGEST_FOLDER_BYTES:
        side = "x".join(map(str, config.image_size))
        # data.limit (and --smoke's) takes its examples once the folder is read, whole.
        limit = (" data.limit doesn't lower this: it takes its examples once they are read."
                 if config.limit else "")
        raise DataError(
            f"data.image_size: {count:,} images of {side} pixels are {size / 2**30:,.1f} GB "
            f"of float32, more than the {LARGEST_FOLDER_BYTES >> 30} GB a folder's images may "
            "take in memory. Set a smaller data.image_size (image_folder_example.yaml takes "
            f"[64, 64]), or use a folder of fewer images.{limit}"
        )


def _folder_arrays(images, where: Path, color_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's images as one float32 array in [0, 1], filled batch by batch: a list of
    batches, joined and then scaled, held four copies of the images at once."""
    import tensorflow as tf

    x = y = None
    filled = 0
    try:
        for batch, labels in images:
            if x is None:
                x = np.empty((len(images.file_paths), *batch.shape[1:]), "float32")
                y = np.empty(len(images.file_paths), "int64")
            x[filled:filled + len(batch)] = batch
            y[filled:filled + len(batch)] = labels
            filled += len(batch)
    except tf.errors.OpError:
        raise DataError(f"{_undecodable(where, color_mode)}: TensorFlow can't decode this "
                        f"image as {color_mode} (is it complete, and a PNG, JPEG, GIF or BMP "
                        "inside?); remove it, or convert it to PNG.") from None
    if not filled:
        raise DataError(f"{where}: no images for this split; add images or change test_split.")
    x, y = x[:filled], y[:filled]
    x /= np.float32(255.0)
    return x, y


def _undecodable(root: Path, color_mode: str) -> Path | str:
    """The first image under `root` that TensorFlow can't decode in `color_mode`, as Keras
    reads it, to name it: PIL reads some it can't (a 1-bit BMP, a TIFF named .png)."""
    import tensorflow as tf

    for path in image_files(root):
        try:
            decoded_as_keras(path.read_bytes(), COLOR_MODE_CHANNELS[color_mode])
        except (tf.errors.OpError, OSError):  # any decoding failure names this file
            return path
    return f"{root} (an image)"


def decoded_as_keras(data: bytes, channels: int):
    """An image file's bytes decoded as image_dataset_from_directory decodes them: by
    TensorFlow, to `channels`, a GIF's first frame. Raises tf.errors.OpError."""
    import tensorflow as tf

    return tf.io.decode_image(data, channels=channels, expand_animations=False)
