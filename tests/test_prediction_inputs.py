"""What predict reads from its command line, checked without a model (or TensorFlow)."""

import io
import os
import re
from pathlib import Path

import pytest

from dlcourse import prediction_inputs
from dlcourse.config import load_config
from dlcourse.errors import DataError
from dlcourse.prediction_inputs import collect_inputs

from helpers import ROOT, run_with_config


@pytest.fixture
def text_run(tmp_path):
    """A text run as predict reads its inputs for it: its config is all that is asked."""
    return run_with_config(tmp_path / "run", load_config(ROOT / "configs" / "imdb_lstm.yaml")).path


def stdin(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")


def test_reviews_from_arguments_a_file_and_stdin(text_run, tmp_path):
    (tmp_path / "reviews.txt").write_text("a fine film\n\nboring\n")
    assert collect_inputs(text_run, ["great", str(tmp_path / "reviews.txt"), "-"],
                          stdin=stdin("from stdin\n".encode())) == \
        ["great", "a fine film", "boring", "from stdin"]


def test_a_file_is_one_review_a_line_as_files_end_lines(text_run, tmp_path):
    """Split at \x85 too (str.splitlines), 664 of IMDB's own reviews gave two or three
    predictions each. A UTF-16 file with its byte-order mark (PowerShell's `>`) is read."""
    reviews = ["Wait for it\x85 a gem", "Odd\u2028break\x0cand feed", "Last"]
    (tmp_path / "reviews.txt").write_text("\r\n".join(reviews[:2]) + "\r" + reviews[2] + "\n")
    assert collect_inputs(text_run, [str(tmp_path / "reviews.txt")]) == reviews
    assert collect_inputs(text_run, ["-"], stdin=stdin("\n".join(reviews).encode())) == reviews
    (tmp_path / "windows.txt").write_bytes("Great film\r\nDull\r\n".encode("utf-16"))
    assert collect_inputs(text_run, [str(tmp_path / "windows.txt")]) == ["Great film", "Dull"]


def test_a_csv_or_json_lines_file_gives_its_text_column_as_training_reads_it(tmp_path):
    """Read one review a line, a CSV's header and its label column were classified too."""
    import gzip

    config = load_config(ROOT / "configs" / "imdb_text_lstm.yaml",
                         {"data.format": "csv", "data.text_field": "review"})
    run = run_with_config(tmp_path / "run", config).path
    (tmp_path / "new.csv").write_text('id,review,label\n1,"Great, really",pos\n2,Dull,neg\n')
    (tmp_path / "NEW.NDJSON.GZ").write_bytes(gzip.compress(b'{"review": "Fine", "n": 3}\n'))
    assert collect_inputs(run, [str(tmp_path / "new.csv"), str(tmp_path / "NEW.NDJSON.GZ")]) \
        == ["Great, really", "Dull", "Fine"]
    # A run whose config names no text field (IMDB's word indices) reads 'text'.
    (tmp_path / "plain.jsonl").write_text('{"text": "A gem"}\n')
    lstm = run_with_config(tmp_path / "lstm", load_config(ROOT / "configs" / "imdb_lstm.yaml"))
    assert collect_inputs(lstm.path, [str(tmp_path / "plain.jsonl")]) == ["A gem"]
    from dlcourse.prediction_inputs import python_inputs
    assert python_inputs(tmp_path / "new.csv", text_field="review") == ["Great, really", "Dull"]


@pytest.mark.robustness("bad inputs")
@pytest.mark.parametrize("name, content, says", [
    ("new.csv", "text,label\nfine,1\n", "new.csv, line 1: the header's columns are ['text', "
     "'label']; expected the field 'review' (data.text_field)."),
    ("new.jsonl", '{"review": "fine"}\n{"text": "x"}\n', "new.jsonl, line 2: expected the "
     "field 'review' (data.text_field)."),
    ("new.csv", "review\n", "new.csv holds no review: it has no records."),
    # Read one a line, the header and every row's label were classified as reviews.
    ("new.tsv", "review\tlabel\nfine\tpos\n", "new.tsv: a tab-separated file; predict reads "
     "a CSV or JSON lines file's text column (data.text_field), or any other file one review a "
     "line."),
    ("new.json", '[{"review": "fine"}]', "new.json: a JSON file; predict reads"),
])
def test_a_file_of_records_without_the_text_field_names_it(tmp_path, name, content, says):
    config = load_config(ROOT / "configs" / "imdb_text_lstm.yaml",
                         {"data.format": "csv", "data.text_field": "review"})
    run = run_with_config(tmp_path / "run", config).path
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=re.escape(says)):
        collect_inputs(run, [str(tmp_path / name)])


def test_a_byte_order_mark_is_not_read_as_part_of_the_first_review(text_run, tmp_path):
    # Notepad's UTF-8 starts with one: it made the first word an unknown "\ufeffgreat".
    (tmp_path / "notepad.txt").write_bytes("\ufeffGreat film\r\n\r\nAwful film\r\n".encode())
    assert collect_inputs(text_run, [str(tmp_path / "notepad.txt"), "-"],
                          stdin=stdin("\ufeffFrom stdin\n".encode())) == \
        ["Great film", "Awful film", "From stdin"]
    with pytest.raises(DataError, match="invalid start byte at byte 5"):  # as the input has it
        collect_inputs(text_run, ["-"], stdin=stdin("\ufeffab".encode() + b"\xff\n"))


@pytest.mark.robustness("bad inputs")
def test_stdin_beyond_the_bound_is_refused_not_cut(text_run, monkeypatch):
    monkeypatch.setattr(prediction_inputs, "LARGEST_INPUT_FILE_BYTES", 20)
    assert collect_inputs(text_run, ["-"], stdin=stdin(b"a fine film\nboring\n")) == \
        ["a fine film", "boring"]
    with pytest.raises(DataError, match="more than 20 bytes"):
        collect_inputs(text_run, ["-"], stdin=stdin(b"a fine film\nboring and long\n"))


def test_more_reviews_than_predict_holds_at_once_are_refused(text_run, tmp_path, monkeypatch):
    """A 64 MB file holds 13 million short reviews, all held while they are predicted."""
    monkeypatch.setattr("dlcourse.prediction_inputs.MOST_REVIEWS", 1000)
    many = tmp_path / "many.txt"
    many.write_text("good movie\n" * 1000)
    assert len(collect_inputs(text_run, [str(many)])) == 1000
    many.write_text("good movie\n" * 1001)
    with pytest.raises(DataError, match="1,001 reviews given; predict takes at most 1,000"):
        collect_inputs(text_run, [str(many)])


def test_a_line_longer_than_any_review_is_refused(text_run, tmp_path):
    """One line of 60 MB (a file's bound is 64 MB) took predict to 3.1 GB on a bag of
    bigrams."""
    one_line = tmp_path / "book.txt"
    one_line.write_text("fine\n" + "good " * 250_000 + "\n")
    with pytest.raises(DataError, match="Input 2 is 1,250,000 characters long, more than "
                                        "the 1,048,576 a text may have"):
        collect_inputs(text_run, [str(one_line)])


def test_a_review_that_is_no_text_is_told_before_any_is_predicted(text_run):
    """Results print a chunk at a time, so every review is checked before the first is
    predicted: the chunks before it would have printed, and a JSON array been left open."""
    with pytest.raises(DataError, match="Input 5001 is an empty text"):
        collect_inputs(text_run, ["fine"] * 5000 + ["   "], as_text=True)


@pytest.mark.robustness("bad inputs")
def test_what_is_no_review_is_named_not_classified(text_run, tmp_path):
    """A folder's name was classified as a review; so were stdin's bytes that are no UTF-8
    (as lone surrogates, where Python decodes stdin with surrogateescape); nothing at all
    on stdin, or a file of empty lines, gave no prediction and no word why."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "blank.txt").write_text("\n  \n")
    os.mkfifo(tmp_path / "in.fifo")
    cases = [
        ([str(tmp_path / "folder")], b"", "folder: a folder, not a file of reviews"),
        ([str(tmp_path / "in.fifo")], b"", "in.fifo: a pipe or device, not a file of reviews"),
        ([str(tmp_path / "gone.txt")], b"", "gone.txt: no such file, not a file of reviews"),
        (["-"], "caf\xe9 au lait".encode("latin-1"), "Standard input is not UTF-8 text"),
        (["-"], b"", "standard input holds no review"),
        ([str(tmp_path / "blank.txt")], b"", "blank.txt holds no review"),
        # An argument's bytes that are no UTF-8 reach Python as lone surrogates.
        (["un caf\udce9"], b"", "Input 1 .* holds \\\\udce9, .* a byte that is no UTF-8"),
        # The second '-' found standard input read, and said it held no review.
        (["-", "-"], b"a fine film\n", "'-' is given more than once"),
    ]
    for items, given, says in cases:
        with pytest.raises(DataError, match=says):
            collect_inputs(text_run, items, stdin=stdin(given))
    assert collect_inputs(text_run, [str(tmp_path / "folder")], as_text=True) == \
        [str(tmp_path / "folder")]


def test_python_inputs_are_texts_paths_or_one_array():
    """Each item was made a string: bytes gave one input per byte, b"great film" the text
    "b'great film'", and a DataFrame its column names."""
    import numpy as np

    from dlcourse.prediction_inputs import python_inputs

    assert python_inputs("a fine film") == ["a fine film"]
    assert python_inputs(b"caf\xc3\xa9 au lait") == ["café au lait"]
    assert python_inputs([b"great film", "a.txt"]) == ["great film", "a.txt"]
    assert python_inputs([b"\x89PNG", Path("digit.png")], pictures=True) == [b"\x89PNG", "digit.png"]
    # A PNG's bytes to a text run: "decode them to a str" was no advice for a picture.
    with pytest.raises(DataError, match="this run's model reads texts"):
        python_inputs(b"\x89PNG\r\n\x1a\n\xff")
    picture = b"\x89PNG\r\n\x1a\n\xff"
    assert python_inputs([picture, "digit.png"], pictures=True) == [picture, "digit.png"]
    assert python_inputs(np.array(["good", "bad"])) == ["good", "bad"]
    numbers = np.zeros((2, 5), dtype="int32")
    assert python_inputs(numbers) is numbers

    class Series:  # pandas's column, which the DataFrame refusal says to give: no reshape
        dtype, shape = np.dtype(object), (2,)

        def __array__(self, dtype=None, copy=None):
            return np.array(["good film", "bad film"], dtype=object)

    assert python_inputs(Series()) == ["good film", "bad film"]

    class DataFrame:  # what pandas's looks like to predict, without pandas
        columns = ["text", "label"]

    for given, says in ((DataFrame(), "not a DataFrame; give it the column of texts"),
                        (["good", float("nan")], "inputs[1] is float 'nan'"),
                        ([b"caf\xe9"], "inputs[0]: bytes that are not UTF-8 text"),
                        (None, "not NoneType 'None'"), (7, "not int '7'")):
        with pytest.raises(DataError, match=re.escape(says)):
            python_inputs(given)


def test_a_path_from_python_to_a_text_run_is_a_file_of_reviews(tmp_path):
    """A str stays a review; a pathlib.Path can only be a file, read as the command line
    reads one (its name was classified as a review)."""
    from dlcourse.prediction_inputs import python_inputs

    (tmp_path / "reviews.txt").write_text("\ufeffa fine film\n\nboring\n")
    assert python_inputs([tmp_path / "reviews.txt", "great"]) == ["a fine film", "boring", "great"]
    with pytest.raises(DataError, match="gone.txt"):
        python_inputs(tmp_path / "gone.txt")


@pytest.mark.robustness("bad inputs")
def test_an_input_of_the_other_kind_says_what_the_run_reads(text_run, tmp_path):
    """A review given to an image run was 'no such image file', and a picture given to a
    text run 'not UTF-8 text; give reviews as UTF-8': a fix for the wrong file."""
    image_run = run_with_config(tmp_path / "image_run",
                                load_config(ROOT / "configs" / "mnist_cnn.yaml")).path
    with pytest.raises(DataError, match=r"A wonderful film: no such image file.* This run's "
                                        r"model reads pictures \(mnist\), not texts"):
        collect_inputs(image_run, ["A wonderful film"])
    (tmp_path / "digit.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DataError, match="digit.png is a picture, but this run's model reads texts"):
        collect_inputs(text_run, [str(tmp_path / "digit.png")])
