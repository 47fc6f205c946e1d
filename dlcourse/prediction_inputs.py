"""What `predict` reads from its command line: reviews given as words, files of them (one a
line, or a CSV or JSON lines file's text column, as training reads it), or standard input;
for image runs the pictures' paths. Without TensorFlow, so a
missing or unreadable file is told before its seconds-long start. And what
`dlcourse.predict` takes from Python: texts, paths or one array."""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path
from typing import Any, Sequence, TextIO

from dlcourse.config import family
from dlcourse.data.image_folder import PICTURE_STARTS
from dlcourse.data.photos import check_picture
from dlcourse.data.text import lone_surrogate, texts_in_records
from dlcourse.errors import DataError
from dlcourse.rundir import RunDir
from dlcourse.safe_files import read_file

# What reads as a file name rather than a text: one word with a file suffix or a folder.
_LOOKS_LIKE_A_PATH = re.compile(r"^[^\s]*(/|\\)[^\s]*$|^[^\s]+\.[A-Za-z0-9]{1,5}$")
LARGEST_INPUT_FILE_BYTES = 64 << 20
# Results print a chunk at a time, but the reviews are all held (a 64 MB file can hold 13
# million short ones, nearly 1 GB as Python's strings). A million take about 40 minutes.
MOST_REVIEWS = 1_000_000
# Files of records, whose reviews are in one field: read one review a line, a CSV's header
# and its label column were classified as reviews too.
_RECORD_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Files of records predict doesn't read, which one a line made reviews of their syntax.
_OTHER_RECORDS = {".tsv": "a tab-separated file", ".json": "a JSON file"}


def collect_inputs(run_dir: str | Path, items: Sequence[str], *, as_text: bool = False,
                   stdin: TextIO | None = None) -> list[str]:
    """What to predict from command-line items.

    For text models: '-' reads reviews from `stdin`, one a line; an existing file gives
    its reviews (reviews_in); an item that reads as a file name but names no file, or names
    a folder, is refused (a mistyped file name must not be classified as a review), unless
    `as_text`; anything else is a review. For image models every item is a picture's path.
    """
    config = RunDir(run_dir).require().read_config()
    if not family(config.data.dataset).is_text:
        check_pictures(items, config.data.dataset)
        return list(items)
    if not as_text and list(items).count("-") > 1:
        raise DataError("'-' is given more than once, but standard input can be read once; "
                        "give it once.")
    reviews: list[str] = []
    for item in items:
        if item == "-" and not as_text:
            reviews += _lines(_read_stdin(stdin), "standard input")
        elif not as_text and _is_file(item):
            reviews += reviews_in(Path(item), config.data.text_field)
        elif not as_text and (what := _not_a_file_of_reviews(item)):
            raise DataError(f"{item}: {what}, not a file of reviews. To classify these words "
                            "as a review, pass --text.")
        else:
            reviews.append(item)
    if len(reviews) > MOST_REVIEWS:
        raise DataError(f"{len(reviews):,} reviews given; predict takes at most "
                        f"{MOST_REVIEWS:,} at once (it holds them all while it predicts). "
                        "Split the file, e.g. split -l 1000000 FILE part-, and predict each "
                        "part.")
    # Each told before the first result is printed, not in the middle of the output.
    for position, review in enumerate(reviews, start=1):
        check_text(review, position)
    return reviews


def check_pictures(items: Sequence[str | bytes], dataset: str) -> None:
    """Each item a picture's file (or, from Python, its bytes) for a run of `dataset`."""
    drafted = not family(dataset).pictures_read_by_keras  # TensorFlow decodes in full
    for item in items:
        if isinstance(item, bytes):
            continue  # read, and told, as the picture it claims to be
        try:
            check_picture(item, drafted=drafted)
        except DataError as error:
            if os.path.lexists(item):
                raise
            # A review given to an image run read as a missing file, and nothing more.
            raise DataError(f"{error} This run's model reads pictures ({dataset}), not "
                            "texts: give image files.") from None


# The longest text predict and serve take: IMDB's longest review is 13,704 characters.
# One line of 60 MB (within a file's bound) took a bag-of-bigrams run to 3.1 GB.
LONGEST_TEXT = 1 << 20


def check_text(text: str, position: int) -> None:
    """A text with something to classify, all of it characters, of a review's length."""
    if len(text) > LONGEST_TEXT:
        raise DataError(f"Input {position} is {len(text):,} characters long, more than the "
                        f"{LONGEST_TEXT:,} a text may have (IMDB's longest review is 13,704): "
                        "give one review a line, or split the text.")
    if not text.strip():
        raise DataError(f"Input {position} is an empty text: there is nothing to "
                        "classify. Give a review with some words in it.")
    if (surrogate := lone_surrogate(text)) is not None:
        # From a JSON \ud800 escape, or an argument's bytes that are no UTF-8 (the
        # terminal's encoding), which reach Python as lone surrogates.
        raise DataError(f"Input {position} ({text[:40]!r}) holds {surrogate}, half of a "
                        "UTF-16 pair or a byte that is no UTF-8, which is not a character; "
                        "give texts as UTF-8.")


def _is_file(item: str) -> bool:
    try:
        return os.path.isfile(item)
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL
        return False


def _not_a_file_of_reviews(item: str) -> str | None:
    """What an item that names no regular file is, where it reads as a file name or names
    something else that exists; None for words to classify. A pipe was 'no such file'."""
    try:
        mode = os.stat(item).st_mode
    except (OSError, ValueError):
        return "no such file" if _LOOKS_LIKE_A_PATH.match(item) else None
    return "a folder" if stat.S_ISDIR(mode) else "a pipe or device"


def reviews_in(path: Path, text_field: str | None) -> list[str]:
    """The reviews of a file: a CSV or JSON lines file's (.gz too) from `text_field` (the
    run's data.text_field, else 'text'), as training reads them; any other's one a line."""
    suffix = Path(path.name.lower().removesuffix(".gz")).suffix
    if suffix in _OTHER_RECORDS:
        raise DataError(f"{path}: {_OTHER_RECORDS[suffix]}; predict reads a CSV or JSON lines "
                        "file's text column (data.text_field), or any other file one review "
                        "a line. Save it as .csv or .jsonl, or as .txt, one review a line.")
    fmt = _RECORD_FORMATS.get(suffix)
    if fmt is None:
        return _lines(_read_text_file(path), str(path))
    texts = texts_in_records(path, fmt, text_field or "text")
    if not texts:
        raise DataError(f"{path} holds no review: it has no records. Give one a line.")
    return texts


def _read_stdin(stdin: TextIO | None) -> str:
    """Standard input's bytes, decoded as UTF-8 here: Python's own decoding may let
    undecodable bytes through as lone surrogates (under a C locale), to be classified."""
    if stdin is None or stdin.closed:
        raise DataError("'-' reads reviews from standard input, but it is closed; pipe "
                        "reviews in, one a line, or give them as arguments.")
    source = getattr(stdin, "buffer", stdin)
    try:
        data = source.read(LARGEST_INPUT_FILE_BYTES + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"Can't read reviews from standard input ({error}).") from None
    if len(data) > LARGEST_INPUT_FILE_BYTES:  # refused, as a file that large is: never cut
        raise DataError(f"Standard input holds more than {LARGEST_INPUT_FILE_BYTES:,} "
                        "bytes of reviews; split it into smaller batches.")
    try:
        # utf-8-sig: Notepad starts UTF-8 with a byte-order mark, which became part of the
        # first review's first word, and so an unknown word.
        return data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        # utf-8-sig counts from after a byte-order mark; the byte is told as the file has it.
        at = error.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        raise DataError(f"Standard input is not UTF-8 text ({error.reason} at byte "
                        f"{at}); give reviews as UTF-8, one per line.") from None


_LINE_ENDS = re.compile(r"\r\n|\r|\n")
# How PNG, JPEG, GIF, BMP and (RIFF) WebP files begin.
_PICTURE_STARTS = (*PICTURE_STARTS, b"RIFF")


def _read_text_file(path: Path) -> str:
    data = read_file(path, LARGEST_INPUT_FILE_BYTES, DataError, "file of reviews")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # What Windows PowerShell 5's `>` and Notepad's "Unicode" write; the mark says it.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise DataError(f"{path}: starts as UTF-16 text but isn't ({error.reason} at byte "
                            f"{error.start}); save it as UTF-8, one review per line.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if data.startswith(_PICTURE_STARTS):  # "not UTF-8 text" sent them to fix the file
            raise DataError(f"{path} is a picture, but this run's model reads texts: give "
                            "reviews, as arguments or in a UTF-8 file, one per line.") from None
        raise DataError(f"{path}: not UTF-8 text; give reviews as UTF-8, one per line.") from None


def _lines(text: str, source: str) -> list[str]:
    """One review a line. Lines end as files' lines do (\n, \r\n, \r), as training reads
    them: str.splitlines() also split at \x85, \u2028 and form feeds, inside 664 of
    IMDB's own reviews, and gave more predictions than the file has lines."""
    lines = [line for line in _LINE_ENDS.split(text) if line.strip()]
    if not lines:
        raise DataError(f"{source} holds no review: every line is empty. Give one review a "
                        "line.")
    return lines


def python_inputs(inputs: Any, *, pictures: bool = False, text_field: str | None = None) -> Any:
    """What `dlcourse.predict` was given, as the list of texts or image paths it means (for
    `pictures`, a file's bytes too), or an array of numbers as it is. Each item was made a
    string, so a DataFrame predicted its column names, bytes one "text" per byte, and
    b"great" the text "b'great'". For texts a pathlib.Path is a file of them, read as the
    command line reads a file (reviews_in): its name was classified as a review."""
    if isinstance(inputs, (str, Path, bytes)):
        inputs = [inputs]
    elif hasattr(inputs, "columns"):  # a pandas DataFrame, without importing pandas
        raise DataError("predict takes texts, image paths or an array, not a DataFrame; give "
                        "it the column of texts: dlcourse.predict(run, df['text']).")
    elif type(inputs).__module__.startswith("tensorflow") and hasattr(inputs, "numpy"):
        inputs = inputs.numpy()
    if hasattr(inputs, "dtype") and hasattr(inputs, "shape"):  # an array, a pandas Series
        import numpy as np

        array = np.asarray(inputs)
        if array.dtype.kind not in "USO":
            return array  # numbers: what the model takes
        inputs = array.reshape(-1).tolist()
    if not hasattr(inputs, "__iter__"):  # None gave a bare TypeError
        raise DataError(f"predict takes texts, image paths or an array, not "
                        f"{type(inputs).__name__} {str(inputs)[:40]!r}.")
    items: list[str | bytes] = []
    for index, item in enumerate(inputs):
        if isinstance(item, Path) and not pictures:
            items += reviews_in(item, text_field)
        else:
            items.append(_python_input(item, index, pictures))
    return items


def _python_input(item: Any, index: int, pictures: bool) -> str | bytes:
    if isinstance(item, (str, Path)):
        return str(item)
    if isinstance(item, bytes) and pictures:
        return item  # a picture file's contents, read as a path's would be
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"inputs[{index}]: bytes that are not UTF-8 text, and this run's "
                            "model reads texts: decode a text to a str first (a picture's "
                            "bytes are for a run that reads pictures).") from None
    raise DataError(f"inputs[{index}] is {type(item).__name__} {str(item)[:40]!r}; predict "
                    "takes texts (str), image paths, or one NumPy array of what the model "
                    "takes.")
