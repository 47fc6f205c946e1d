"""Raw text: reading the file formats, and vectorising with a vocabulary fitted on train only."""

import csv
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

import dlcourse
from dlcourse.config import DataConfig, load_config
from dlcourse.data import data_record, load_dataset
from dlcourse.data.text import text_dataset
from dlcourse.errors import DataError, RunError
from dlcourse.preflight import recorded_data_dir
from dlcourse.preparation import run_dataset
from dlcourse.rundir import RunDir

from helpers import ROOT, run_with_config, write_imdb_text

BAG = {"output_mode": "multi_hot", "max_tokens": 50}


def raw_text(**settings) -> DataConfig:
    return DataConfig(**{"dataset": "raw_text", "vectorize": BAG, **settings})


def write_aclimdb(root):
    """aclImdb's layout: <split>/{pos,neg}/<id>_<rating>.txt."""
    for split in ("train", "test"):
        for folder, rating, text in (("pos", 9, "a great film"), ("neg", 2, "an awful film")):
            (root / split / folder).mkdir(parents=True)
            for index in range(3):
                (root / split / folder / f"{index}_{rating}.txt").write_text(f"{text} {index}")


def test_aclimdb_folders_give_labels_or_ratings(tmp_path):
    write_aclimdb(tmp_path / "aclImdb")
    config = raw_text(format="aclimdb", train="aclImdb/train", test="aclImdb/test")
    labels = load_dataset(config, tmp_path)
    assert labels.class_names == ("negative", "positive") and labels.num_classes == 2
    assert sorted(labels.y_train) == [0, 0, 0, 1, 1, 1]
    ratings = load_dataset(config.model_copy(update={"target": "rating"}), tmp_path,
                           task="regression")
    assert ratings.y_train.dtype == np.float32 and sorted(set(ratings.y_test)) == [2.0, 9.0]
    positive = [text for text, y in zip(ratings.test_texts, ratings.y_test) if y == 9.0]
    assert all("great" in text for text in positive)


def test_an_empty_aclimdb_review_is_refused_naming_its_file(tmp_path):
    """Trained on as a review of no words, where CSV and JSON lines refuse an empty text."""
    write_aclimdb(tmp_path / "aclImdb")
    empty = tmp_path / "aclImdb" / "train" / "pos" / "98_9.txt"
    empty.write_text("   \n")
    config = raw_text(format="aclimdb", train="aclImdb/train", test="aclImdb/test")
    with pytest.raises(DataError, match=re.escape(f"{empty}: an empty review; remove the file")):
        load_dataset(config, tmp_path)


def test_aclimdb_says_what_its_layout_leaves_out(tmp_path, capsys):
    """A third class folder, or reviews named .TXT, were left out without a word."""
    write_aclimdb(tmp_path / "aclImdb")
    (tmp_path / "aclImdb" / "train" / "neutral").mkdir()
    (tmp_path / "aclImdb" / "train" / "unsup").mkdir()  # aclImdb's own: unlabelled
    (tmp_path / "aclImdb" / "train" / "pos" / "7_8.TXT").write_text("a fine film")
    config = raw_text(format="aclimdb", train="aclImdb/train", test="aclImdb/test")
    assert len(load_dataset(config, tmp_path).y_train) == 6
    warnings = capsys.readouterr().err
    assert (f"Warning: {tmp_path / 'aclImdb' / 'train'} holds what aclImdb's layout doesn't "
            "read (neutral/, pos/7_8.TXT): only pos/*.txt and neg/*.txt are reviews") in warnings
    assert "aclImdb/test holds" not in warnings


def refused_training_file(folder: Path, name: str, content: str, says: str) -> None:
    """`content` as the training file `name`, beside a good test file of its format, is
    refused with a DataError starting with the file's path and `says`."""
    fmt = "csv" if ".csv" in name else "jsonl"
    (folder / name).write_text(content)
    good = "text,label\na good film,1\n" if fmt == "csv" else '{"text": "fine", "label": 1}\n'
    (folder / f"test.{fmt}").write_text(good)
    config = raw_text(format=fmt, train=name, test=f"test.{fmt}")
    with pytest.raises(DataError, match=re.escape(f"{folder / name}{says}")):
        load_dataset(config, folder)


def test_an_empty_text_in_a_file_is_refused_by_line(tmp_path):
    """An empty CSV cell trained as a review of no words; pandas's NaN for it was refused."""
    refused_training_file(tmp_path, "train.csv", "text,label\na good film,1\n,0\na bad film,0\n",
                          ", line 3: the text ('text') is empty; drop the row")


@pytest.mark.parametrize("content, says", [
    ('text,label\n"good film,1\nbad film,0\n"great",1\nfine,0\n',
     ", line 2: a quoted text starting here isn't closed as CSV closes one (',' expected "
     "after '\"', line 4)"),
    ('text,label\ngood film,1\n"bad film,0\n',
     ", line 3: a quoted text starting here isn't closed as CSV closes one (unexpected end "
     "of data, line 3)"),
], ids=["in-the-middle", "at-the-end"])
def test_a_csv_quote_left_open_is_named_by_line(tmp_path, content, says):
    """In the middle, the rows after it were trained on as part of its text, without a
    word; at the end, the row was said to have too few columns."""
    refused_training_file(tmp_path, "train.csv", content, says)


def test_classes_named_nan_or_infinity_are_names_in_a_csv(tmp_path):
    """float() reads 'NaN' and 'Infinity': a class so named was refused as 'not a finite
    number', so such a file could not be trained on."""
    rows = "text,label\na good film,positive\nno idea,NaN\nendless,Infinity\n"
    (tmp_path / "train.csv").write_text(rows)
    (tmp_path / "test.csv").write_text(rows)
    dataset = load_dataset(raw_text(format="csv", train="train.csv", test="test.csv"), tmp_path)
    assert dataset.class_names == ("Infinity", "NaN", "positive")
    named = {text: dataset.class_names[y] for text, y in zip(dataset.test_texts, dataset.y_test)}
    assert named == {"a good film": "positive", "no idea": "NaN", "endless": "Infinity"}
    # Among integer labels, nan is told as the missing value it most likely is.
    (tmp_path / "train.csv").write_text("text,label\na good film,1\nno label,nan\n")
    with pytest.raises(DataError, match=re.escape(
            "line 3: the label is the name 'nan' (a missing value, as a spreadsheet writes "
            "one?), but line 2 has the number 1")):
        load_dataset(raw_text(format="csv", train="train.csv", test="test.csv"), tmp_path)
    # Numbers stay numbers: a 30-digit label is an integer too large (it was a TypeError).
    (tmp_path / "train.csv").write_text("text,label\na good film,1\nbig,1" + "0" * 29 + "\n")
    (tmp_path / "test.csv").write_text("text,label\na good film,1\nbad,0\n")
    with pytest.raises(DataError, match="train.csv, line 3"):
        load_dataset(raw_text(format="csv", train="train.csv", test="test.csv"), tmp_path)


def test_a_text_that_keeps_no_word_is_refused_by_line(tmp_path):
    """'!!! ...' standardises to nothing: a fastText model's masked average of padding
    alone is NaN, and training stopped as 'diverged', blaming the learning rate."""
    records = [("a good film", 1), ("!!! ...", 0), ("a dull film", 0), (":-)", 1)]
    (tmp_path / "train.jsonl").write_text("".join(
        json.dumps({"text": text, "label": label}) + "\n" for text, label in records))
    (tmp_path / "test.jsonl").write_text('{"text": "fine", "label": 1}\n')
    files = dict(format="jsonl", train="train.jsonl", test="test.jsonl")
    sequences = raw_text(**files, vectorize={"output_mode": "int", "output_sequence_length": 5})
    with pytest.raises(DataError, match=re.escape(
            f"{tmp_path / 'train.jsonl'}, line 2: the text '!!! ...' keeps no word once "
            "standardised (data.vectorize.standardize: lower_and_strip_punctuation), so the "
            "model would read padding alone (2 such texts in the train split)")):
        load_dataset(sequences, tmp_path)
    # A bag of no word is a row of zeros, which a Dense layer takes as it is.
    assert len(load_dataset(raw_text(**files), tmp_path).x_train) == 4


@pytest.mark.parametrize("header, says", [
    ("text;label", "line 1: the header's columns are ['text;label']; expected the fields 'text' "
                   "and 'label' (data.text_field, data.target). It reads as one column: are the "
                   "columns separated by ';' rather than commas?"),
    ("review,label", "line 1: the header's columns are ['review', 'label']; expected the "
                     "fields 'text'"),
])
def test_a_csv_header_without_the_fields_says_what_it_names(tmp_path, header, says):
    """It was told at line 2, as a record without the fields, naming no column found."""
    separator = ";" if ";" in header else ","
    refused_training_file(tmp_path, "train.csv", f"{header}\na good film{separator}1\n",
                          f", {says}")


def test_a_file_named_gz_that_is_not_gzip_says_so(tmp_path):
    """It asked "Is it complete?", which fits a truncated gzip file, not this."""
    refused_training_file(tmp_path, "train.jsonl.gz", '{"text": "fine", "label": 1}\n',
                          ": named .gz, but not gzip-compressed; rename it")


def test_an_empty_csv_file_says_so(tmp_path):
    refused_training_file(tmp_path, "train.csv", "",
                          ": empty; expected a header naming the fields 'text'")


def test_a_json_key_given_twice_is_refused(tmp_path):
    """json keeps the last of the two, so the first label was dropped without a word."""
    refused_training_file(tmp_path, "train.jsonl",
                          '{"text": "fine", "label": 1}\n{"text": "bad", "label": 0, "label": 1}\n',
                          ", line 2: the key 'label' is given twice in one object; keep one.")


def test_a_json_line_that_is_no_object_says_so(tmp_path):
    refused_training_file(tmp_path, "train.jsonl", '{"text": "fine", "label": 1}\n[1, 2]\n',
                          ", line 2: expected a JSON object with the fields 'text' and "
                          "'label' (data.text_field, data.target), got [1, 2].")


def test_jsonl_gz_is_shuffled_so_sorted_files_mix_classes(tmp_path):
    write_imdb_text(tmp_path, per_file=20)
    config = raw_text(format="jsonl", train="imdb_text/aclImdb_train_*.jsonl.gz",
                      test="imdb_text/aclImdb_test_*.jsonl.gz", limit=10)
    dataset = load_dataset(config, tmp_path)
    # The files hold 20 negative then 20 positive reviews; the first 10 must not all agree.
    assert dataset.x_train.shape[0] == 10 and 0 < dataset.y_train.sum() < 10
    assert dataset.input_kind == "bag_of_words" and dataset.x_train.dtype == np.float16


def test_a_file_matched_by_both_splits_is_refused_before_and_while_loading(tmp_path):
    """`train: '*.jsonl'` beside `test: b.jsonl` trained on the test reviews, unsaid."""
    from dlcourse.data import check_findable

    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": f"film {n}", "label": n % 2}) + "\n" for n in range(4)))
    for train, test in (("*.jsonl", "b.jsonl"), ("a.jsonl", str(tmp_path / "a.jsonl"))):
        config = raw_text(format="jsonl", train=train, test=test)
        shared = "b.jsonl" if test == "b.jsonl" else "a.jsonl"
        for check in (check_findable, load_dataset):
            with pytest.raises(DataError, match=re.escape(
                    f"{tmp_path / shared}: matched by both data.train ({train}) and data.test "
                    f"({test}); the model would be tested on what it trained on.")):
                check(config, tmp_path)


def test_bags_of_words_too_large_for_memory_are_refused_before_they_are_made(
        tmp_path, monkeypatch):
    """Without max_tokens, 2,000 reviews' trigrams made bags 624,573 wide: 20 GB."""
    import dlcourse.data.text as text

    made = []
    monkeypatch.setattr(text, "vectorize", lambda *arguments: made.append(1))
    monkeypatch.setattr(text, "LARGEST_BAG_BYTES", 6 * 5 * 2 - 1)  # 6 texts, 5 tokens
    texts = ["good film", "bad film", "good plot"]
    config = raw_text(vectorize={"output_mode": "multi_hot"})  # 4 words and [UNK]
    with pytest.raises(DataError, match=re.escape(
            "data.vectorize: 6 texts as bags of 5 tokens are 0 MB of float16, more than the "
            "0 MB the two splits may take. Set data.vectorize.max_tokens (the shipped configs "
            "keep 20,000), use fewer texts (data.limit)")):
        text_dataset(config, (texts, [1, 0, 1]), (texts, [1, 0, 1]))
    limited = raw_text(vectorize={"output_mode": "multi_hot", "max_tokens": 5})
    with pytest.raises(DataError, match=re.escape("Set a max_tokens below its 5, use fewer")):
        text_dataset(limited, (texts, [1, 0, 1]), (texts, [1, 0, 1]))
    assert not made


def test_sequences_too_long_for_memory_are_refused_before_they_are_made(monkeypatch):
    import dlcourse.data.text as text

    made = []
    monkeypatch.setattr(text, "vectorize", lambda *arguments: made.append(1))
    monkeypatch.setattr("dlcourse.data.dataset.LARGEST_PADDED_BYTES", 6 * 10 * 4)
    texts = ["good film", "bad film and plot", "good plot"]
    config = raw_text(vectorize={"output_mode": "int", "output_sequence_length": 11})
    with pytest.raises(DataError, match=re.escape(
            "data.vectorize.output_sequence_length 11 pads the 6 texts of the dataset to 0.0 GB "
            "of indices, more than the 0 GB they may take. The longest has 4 tokens: so a "
            "data.vectorize.output_sequence_length above that only adds padding")):
        text_dataset(config, (texts, [1, 0, 1]), (texts, [1, 0, 1]))
    monkeypatch.setattr("dlcourse.data.dataset.LARGEST_PADDED_BYTES", 6 * 2 * 4)
    shorter = raw_text(vectorize={"output_mode": "int", "output_sequence_length": 3})
    with pytest.raises(DataError, match=re.escape(
            "The longest has 4 tokens: give a shorter data.vectorize.output_sequence_length")):
        text_dataset(shorter, (texts, [1, 0, 1]), (texts, [1, 0, 1]))
    assert not made


def test_csv_with_named_columns_and_string_labels(tmp_path):
    for split in ("train", "test"):
        # utf-8-sig: saved as Excel's "CSV UTF-8", with a byte-order mark before the header.
        with open(tmp_path / f"{split}.csv", "w", newline="", encoding="utf-8-sig") as stream:
            writer = csv.writer(stream)
            writer.writerow(["review", "sentiment"])
            writer.writerows([["loved it, wonderful", "pos"], ["hated it, dull", "neg"]] * 3)
            # Past csv's default field limit of 131,072 characters, which JSON lines take.
            writer.writerow(["a long review, " + "dull " * 40_000, "neg"])
    config = raw_text(format="csv", train="train.csv", test="test.csv",
                      text_field="review", target="sentiment")
    dataset = load_dataset(config, tmp_path)
    assert csv.field_size_limit() == 131072  # csv's own, as a notebook's reading expects
    assert dataset.class_names == ("neg", "pos")
    wonderful = dataset.vocabulary.tokens.index("wonderful")
    for row, label in zip(dataset.x_train, dataset.y_train):
        assert row[wonderful] == (1.0 if label == 1 else 0.0)


def test_missing_field_names_file_and_line(tmp_path):
    with gzip.open(tmp_path / "train.jsonl.gz", "wt") as stream:
        stream.write(json.dumps({"text": "fine", "label": 1}) + "\n" + json.dumps({"text": "x"}))
    (tmp_path / "test.jsonl").write_text(json.dumps({"text": "fine", "label": 1}))
    config = raw_text(format="jsonl", train="train.jsonl.gz", test="test.jsonl")
    with pytest.raises(DataError, match=r"train.jsonl.gz, line 2: expected the fields 'text' and 'label'"):
        load_dataset(config, tmp_path)


@pytest.mark.parametrize("line, says", [
    ("[" * 100_000 + "]" * 100_000, "line 2: not valid JSON"),
    ('{"text": "fine", "label": ', "line 2: not valid JSON"),
    ('{"text": "fine", "label": ' + "1" * 5000 + "}", "line 2: not valid JSON"),
    ('{"text": "a lone \\ud800 half", "label": 1}', "line 2: the text ('text') holds the escape \\ud800"),
])
def test_a_line_that_is_no_json_record_or_no_text_is_named(tmp_path, line, says):
    """Nested thousands deep, it was a RecursionError traceback; a lone surrogate was read
    and failed later inside TensorFlow."""
    (tmp_path / "train.jsonl").write_text(json.dumps({"text": "fine", "label": 1}) + "\n" + line)
    (tmp_path / "test.jsonl").write_text(json.dumps({"text": "fine", "label": 1}))
    config = raw_text(format="jsonl", train="train.jsonl", test="test.jsonl")
    with pytest.raises(DataError) as error:
        load_dataset(config, tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'train.jsonl'}, {says}"), error.value


@pytest.mark.parametrize("labels, says", [
    ([0, [1]], "train targets[1]: the label [1] is neither a name nor an integer"),
    ([0, "pos"], "train targets[1]: the label is the name 'pos', but train targets[0] has the number 0"),
    ([0, True], "train targets[1]: the label True is not an integer"),
    ([1, 1], "train targets[0]: every training label is 1, and a classifier needs at least "
     "two classes"),
    # Printed as they are: a newline split a prediction's line, an escape coloured it.
    (["neg", "pos\nx"], "train targets[1]: the label 'pos\\nx' holds the control character "
     "'\\n'; a class's name is printed in reports and predictions: write it without one."),
    (["neg", "\x1b[31mpos"], "train targets[1]: the label '\\x1b[31mpos' holds the control "
     "character '\\x1b'"),
])
def test_a_wrong_label_given_from_python_is_named_by_its_position(labels, says):
    """An unhashable label was a TypeError traceback; the others named no position."""
    with pytest.raises(DataError, match=re.escape(says)):
        text_dataset(raw_text(), (["good", "bad"], labels), (["fine"], [0]))


def test_own_files_found_in_the_working_directory_are_remembered_and_checked(tmp_path, monkeypatch):
    """Found in the current directory, their folder becomes the run's data directory, so
    evaluate from elsewhere finds them; a review added to a folder is told, as a changed
    file is, and a file no loader reads is not. Before, such a run recorded no directory,
    and a folder no fingerprint; then a README put beside the reviews was a change."""
    data = tmp_path / "data"
    write_aclimdb(data)
    config = load_config(ROOT / "configs" / "imdb_bow_bigrams.yaml", [
        "data.format=aclimdb", "data.train=train", "data.test=test", "data.class_names=null"])
    monkeypatch.chdir(data)
    record = data_record(config.data, None, load_dataset(config.data))
    assert record["data_dir"] == str(data.resolve())
    # Found here though --data-dir named another folder: here is where they are.
    (tmp_path / "other").mkdir()
    assert data_record(config.data, tmp_path / "other", load_dataset(config.data))["data_dir"] == \
        str(data.resolve())
    run = run_with_config(tmp_path / "run", config)
    run.write_data_record(record)
    monkeypatch.chdir(tmp_path)
    assert recorded_data_dir(run, None) == str(data.resolve())
    (data / "test" / ".DS_Store").write_text("what a file browser leaves; no loader reads it")
    (data / "test" / "README.txt").write_text("notes beside the reviews; no loader reads them")
    (data / "test" / "unsup").mkdir()
    (data / "test" / "unsup" / "0_0.txt").write_text("aclImdb's unlabelled reviews, unread")
    assert recorded_data_dir(run, None) == str(data.resolve())
    (data / "test" / "pos" / "9_9.txt").write_text("one more review")
    with pytest.raises(RunError, match=re.escape(f"{data / 'test'} has changed since {run.path}")):
        recorded_data_dir(run, None)
    # A record of before 2026-12-06 counted every visible file of a folder: still the same.
    from dlcourse.data.files import fingerprint

    run.write_data_record({**record, "files": {path: fingerprint(Path(path))
                                               for path in record["files"]}})
    assert recorded_data_dir(run, None) == str(data.resolve())


def test_other_data_is_numbered_with_the_runs_classes(tmp_path):
    """evaluate --data-dir elsewhere: a label the run never saw renumbered the classes
    ('meh' 0, 'neg' 1, 'pos' 2), and the run scored 0.0 with exit 0."""
    rows = "text,label\n" + "good film,pos\nbad film,neg\n" * 3
    for folder, extra in (("mine", ""), ("other", "so so,meh\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.csv").write_text(rows)
        (tmp_path / folder / "test.csv").write_text(rows + extra)
    config = load_config(ROOT / "configs" / "imdb_bow_bigrams.yaml", [
        "data.format=csv", "data.train=train.csv", "data.test=test.csv",
        "data.class_names=null"])
    run = run_with_config(tmp_path / "run", config)
    trained = load_dataset(config.data, tmp_path / "mine")
    run.write_classes(trained.class_names)
    run.write_vocabulary(trained.vocabulary)
    again = run_dataset(run, config, tmp_path / "mine")
    assert again.class_names == ("neg", "pos") and list(again.y_test) == list(trained.y_test)
    with pytest.raises(DataError, match=re.escape(
            "test.csv, line 8: the label 'meh' is not one of the classes ['neg', 'pos'] "
            "(data.class_names, class_names= from Python, or a trained run's); name the "
            "classes as the labels do.")):
        run_dataset(run, config, tmp_path / "other")


def test_a_new_file_matching_a_runs_pattern_is_noticed(tmp_path):
    """data.train: train-*.jsonl read two shards; a third would be read by evaluate too."""
    for name in ("train-1.jsonl", "train-2.jsonl", "test.jsonl"):
        (tmp_path / name).write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
    config = load_config(ROOT / "configs" / "imdb_bow_bigrams.yaml", [
        "data.format=jsonl", "data.train=train-*.jsonl", "data.test=test.jsonl"])
    run = run_with_config(tmp_path / "run", config)
    run.write_data_record(data_record(config.data, tmp_path, load_dataset(config.data, tmp_path)))
    assert recorded_data_dir(run, None) == str(tmp_path.resolve())
    (tmp_path / "train-3.jsonl").write_text('{"text": "fine", "label": 1}\n')
    with pytest.raises(RunError, match=re.escape(f"{tmp_path / 'train-3.jsonl'} matches the "
                                                 "config's data paths now")):
        recorded_data_dir(run, None)
    assert recorded_data_dir(run, tmp_path) == tmp_path  # --data-dir: as the user says


def test_vocabulary_is_fitted_on_the_training_texts_only():
    config = DataConfig(dataset="raw_text", vectorize={
        "output_mode": "int", "output_sequence_length": 4, "max_tokens": 20})
    dataset = text_dataset(config, (["good film", "bad film"], [1, 0]),
                           (["unseenword film", "good"], [1, 1]))
    assert "unseenword" not in dataset.vocabulary.tokens
    assert dataset.vocabulary.tokens[:2] == ("", "[UNK]")
    row = list(dataset.test_texts).index("unseenword film")
    film = dataset.vocabulary.tokens.index("film")
    assert list(dataset.x_test[row]) == [1, film, 0, 0]  # OOV 1, then padding at the end
    assert dataset.vocabulary_size == len(dataset.vocabulary.tokens)


@pytest.mark.parametrize("mode", ["int", "multi_hot", "count", "tf_idf"])
def test_a_saved_vocabulary_vectorises_exactly_as_the_fitted_one(mode, tmp_path):
    vectorize = {"output_mode": mode, "ngrams": 2, "max_tokens": 30}
    if mode == "int":
        vectorize["output_sequence_length"] = 8
    config = DataConfig(dataset="raw_text", vectorize=vectorize)
    train = (["the plot was great great", "the acting was awful", "great fun"], [1, 0, 1])
    test = (["great plot", "awful awful acting"], [1, 0])
    fitted = text_dataset(config, train, test)
    RunDir(tmp_path).write_vocabulary(fitted.vocabulary)
    reused = text_dataset(config, train, test, vocabulary=RunDir(tmp_path).read_vocabulary(config.vectorize))
    np.testing.assert_array_equal(fitted.x_test, reused.x_test)


def test_character_level_splits_into_characters():
    config = DataConfig(dataset="raw_text", vectorize={
        "split": "character", "output_mode": "int", "output_sequence_length": 6})
    dataset = text_dataset(config, (["abc", "cab"], [0, 1]), (["ab", "ba"], [0, 1]))
    tokens = dataset.vocabulary.tokens
    assert set(tokens[2:]) == {"a", "b", "c"}
    a, b = tokens.index("a"), tokens.index("b")
    assert list(dataset.x_test[list(dataset.test_texts).index("ab")]) == [a, b, 0, 0, 0, 0]


@pytest.mark.slow
def test_python_lists_train_a_regression_with_its_baseline(tmp_path):
    config = load_config(ROOT / "configs" / "imdb_rating_regression.yaml",
                         {"fit.epochs": 2, "fit.validation_split": 0.25}, )
    texts = [f"{'great ' * (rating % 4)} film number {rating}" for rating in range(1, 11)] * 4
    ratings = [float(rating) for rating in range(1, 11)] * 4
    dataset = text_dataset(config.data, (texts, ratings), (texts[:10], ratings[:10]),
                           regression=True)
    result = dlcourse.train(config, train=(texts, ratings), test=(texts[:10], ratings[:10]),
                            output_dir=tmp_path / "runs")
    metrics = result.metrics
    # As train= was prepared: validation_split 0.25 holds out the last 10 of 40.
    fitted = dataset.y_train[:30]
    assert metrics["baseline_training_mean"] == pytest.approx(float(fitted.mean()))
    assert metrics["baseline_test_mae"] == pytest.approx(
        float(np.abs(dataset.y_test - fitted.mean()).mean()))
    assert metrics["best_val_mae"] == min(result.history["val_mae"])
    assert "best_val_accuracy" not in metrics and "confusion_matrix" not in metrics
    errors = json.loads((result.run_dir / "largest_errors.json").read_text())
    assert errors[0]["error"] >= errors[-1]["error"] and "text" in errors[0]
    assert "Largest errors" in (result.run_dir / "report.html").read_text()


@pytest.mark.parametrize("settings", [
    {"output_mode": "int", "ngrams": 2, "max_tokens": 40, "output_sequence_length": 12},
    {"output_mode": "tf_idf", "ngrams": 2, "max_tokens": 40},
])
def test_a_cached_vocabulary_vectorises_exactly_as_a_fitted_one(fresh_cache, settings):
    texts = [f"the {word} film was {word} and a plot" for word in
             ("good", "bad", "dull", "great", "fine", "awful")] * 3
    labels = [index % 2 for index in range(len(texts))]
    config = raw_text(vectorize=settings)
    fitted = text_dataset(config, (texts, labels), (texts[:4], labels[:4]))
    (cached_file,) = fresh_cache.glob("text-vocabulary-*.json")
    again = text_dataset(config, (texts, labels), (texts[:4], labels[:4]))
    assert again.vocabulary == fitted.vocabulary
    np.testing.assert_array_equal(again.x_train, fitted.x_train)
    np.testing.assert_array_equal(again.x_test, fitted.x_test)
    # Other texts are fitted on their own; a damaged file is fitted again, not trusted.
    text_dataset(config, (texts[1:], labels[1:]), (texts[:4], labels[:4]))
    assert len(list(fresh_cache.glob("text-vocabulary-*.json"))) == 2
    cached_file.write_text('{"tokens": [1, 2]}')
    damaged = text_dataset(config, (texts, labels), (texts[:4], labels[:4]))
    np.testing.assert_array_equal(damaged.x_train, fitted.x_train)
    assert json.loads(cached_file.read_text())["tokens"] == list(fitted.vocabulary.tokens)


def test_preparing_many_texts_says_so(fresh_cache, capsys):
    texts = [f"review number {index} was {'good' if index % 2 else 'bad'}" for index in range(5000)]
    labels = [index % 2 for index in range(5000)]
    text_dataset(raw_text(), (texts, labels), (texts[:10], labels[:10]))
    said = capsys.readouterr().err
    assert "Fitting the vocabulary (words, the 50 most frequent) on 5,000 training texts" in said
    assert "... 50 entries in" in said and "Vectorising 5,010 texts ..." in said
    text_dataset(raw_text(), (texts, labels), (texts[:10], labels[:10]))
    assert "Fitting" not in capsys.readouterr().err  # the cached vocabulary


def test_targets_from_python_may_be_a_column_as_keras_takes_them():
    """(N, 1) targets, Keras's shape for one output, were refused one by one as arrays."""
    from dlcourse.data.memory import dataset_from_memory

    texts = ["good film", "bad film", "fine film", "awful film"]
    column = np.array([[9.0], [1.0], [6.5], [2.0]])
    rating = load_config(ROOT / "configs" / "imdb_rating_regression.yaml").data
    dataset = dataset_from_memory(rating, (texts, column), (texts, column), regression=True)
    assert sorted(dataset.y_train.tolist()) == [1.0, 2.0, 6.5, 9.0]  # shuffled, as files are
    labels = dataset_from_memory(raw_text(), (texts, np.array([[1], [0], [1], [0]])),
                                 (texts, [1, 0, 1, 0]))
    assert sorted(labels.y_train.tolist()) == [0, 0, 1, 1] and labels.num_classes == 2
    with pytest.raises(DataError, match=re.escape(
            "train=(texts, targets): one target per text, so (N,) or (N, 1); got shape (4, 2)")):
        dataset_from_memory(rating, (texts, np.ones((4, 2))), (texts, column), regression=True)
    # One review as a bare string was read as a text per character ("9 texts but 1 target").
    with pytest.raises(DataError, match=re.escape(
            "train=(texts, targets): the texts are one string; give a list of texts, e.g. "
            "train=(['good film'], [label])")):
        dataset_from_memory(raw_text(), ("good film", [1]), (texts, [1, 0, 1, 0]))
    # Evaluating on texts from Python: a wrong label or count is told of test=, as given.
    from dlcourse.data.memory import test_split_from_memory

    for test, says in (((texts, [1, 0, -1, 0]), "test targets[2]: the label -1 is negative"),
                       ((texts, [1, 0, 2, 0]), "test targets[2]: the label 2 is not one of the "
                                                "2 classes (0: 'neg', 1: 'pos')"),
                       ((texts, [1, 0, 1]), "test=(texts, targets): 4 texts but 3 targets")):
        with pytest.raises(DataError, match=re.escape(says)):
            test_split_from_memory(raw_text(), test, class_names=("neg", "pos"))
    # A DataFrame's missing label, NaN: "the label 1.0 ... is not an integer" named another row.
    import pandas

    for labels in ([1.0, float("nan"), 0.0, 1.0], ["pos", float("nan"), "neg", "pos"]):
        frame = pandas.DataFrame({"text": texts, "label": labels})
        with pytest.raises(DataError, match=re.escape("targets[1]: the label is missing (NaN)")):
            dataset_from_memory(raw_text(), frame, frame)
    # Arrays too: a (N, 3) target was cut to its first column without a word.
    words, targets = np.ones((4, 5), dtype="int32"), np.ones((4, 3))
    with pytest.raises(DataError, match=re.escape("the targets must be (N,) or (N, 1); got shape (4, 3)")):
        dataset_from_memory(DataConfig(dataset="imdb", maxlen=5), (words, targets), (words, targets),
                            regression=True)
    assert dataset_from_memory(DataConfig(dataset="imdb", maxlen=5), (words, targets[:, :1]),
                               (words, targets[:, :1]), regression=True).y_train.shape == (4,)


def test_a_missing_text_from_python_is_named_not_trained_on_as_nan():
    """pandas reads an empty cell as NaN, which was made the word 'nan' and trained on."""
    from dlcourse.data.memory import dataset_from_memory

    class DataFrame:  # what pandas's looks like to dlcourse, without pandas
        columns = ["text", "label"]
        index = [10, 11, 12]

        def __getitem__(self, column):
            return {"text": ["good", float("nan"), "bad"], "label": [1, 1, 0]}[column]

    with pytest.raises(DataError, match=re.escape(
            "train= row 11: the text ('text') is missing (nan); drop the row")):
        dataset_from_memory(raw_text(), DataFrame(), (["fine"], [0]))
    with pytest.raises(DataError, match=re.escape("test texts[1]: the text ('text') is missing (None")):
        dataset_from_memory(raw_text(), (["good", "bad"], [1, 0]), (["fine", None], [0, 1]))

    class NAType:  # pandas's NA, in a column of dtype "string"
        def __repr__(self):
            return "<NA>"

    with pytest.raises(DataError, match=re.escape("train texts[1]: the text ('text') is missing (<NA>)")):
        dataset_from_memory(raw_text(), (["good", NAType()], [1, 0]), (["fine"], [0]))
    # Bytes, as tfds.as_numpy gives texts, are read as predict reads them.
    assert dataset_from_memory(raw_text(), ([b"good", b"bad"], [1, 0]), (["fine"], [0])).num_classes == 2


def test_word_indices_given_to_train_are_within_num_words():
    from dlcourse.data.memory import dataset_from_memory

    config = DataConfig(dataset="imdb", maxlen=3, num_words=100)
    words, labels = np.array([[1, 5, 99], [1, 100, 3]]), np.array([0, 1])
    with pytest.raises(DataError, match=re.escape(
            "train=(x, y): holds the word index 100, outside 0 to 99 (data.num_words)")):
        dataset_from_memory(config, (words, labels), (words[:1], labels[:1]))


@pytest.mark.parametrize("train, test, class_names, says", [
    ([1, 1, 1, 1], [0, 1], ["neg", "pos"],
     "train targets[0]: every training label is 1, and a classifier needs at least two classes"),
    ([" neg", " pos", " neg", " pos"], ["neg", "pos"], None,
     "test targets[0]: the label 'neg' differs from ' neg' (train targets[0]) only by spaces "
     "around it, so the two would be classes of their own"),
    (["neg", "pos", "Pos", "neg"], ["neg", "pos"], None,
     "train targets[2]: the label 'Pos' differs from 'pos' (train targets[1]) only by case"),
    ([0.0, 1.0, 0.0, 1.0], [0.0, 1.0], None,
     "train targets[0]: the label 0.0 is not an integer: class labels are integers 0, 1, 2 and so "
     "on, or names; write the column as integers (.astype(int) in pandas)."),
    ([1, 2, 1, 2], [1, 2], None,
     "train targets[0]: labels are numbered from 0; these run 1 to 2, so class 0 has no "
     "examples: subtract 1 from each."),
    (None, [0, 1], None,
     "train=(texts, targets): the targets are None; expected a NumPy array or a list of targets"),
], ids=["one-class-named", "spaces", "case", "float-labels", "labels-from-1", "no-labels"])
def test_labels_from_python_a_model_cannot_learn_are_refused_as_the_labels_fault(
        train, test, class_names, says):
    """Each trained without a word, or was blamed on the loss ("binary_crossentropy, but
    raw_text has 3 classes"), whose advice trained a wrong model; no labels, a traceback."""
    from dlcourse.data.memory import dataset_from_memory

    texts = ["good film", "bad film", "fine film", "awful film"]
    with pytest.raises(DataError, match=re.escape(says)):
        dataset_from_memory(raw_text(), (texts, train), (texts[:2], test), class_names=class_names)


def test_texts_given_as_labels_are_told_as_likely_swapped():
    """Reviews in the label column made one class per review, told as a loss to change."""
    from dlcourse.data.memory import dataset_from_memory

    reviews = [f"review number {index}" for index in range(30)]
    with pytest.raises(DataError, match=re.escape(
            "train targets[0]: the training labels name 30 classes among 30 examples, 30 of "
            "them used once (this one 'review number 0'): are these the labels? Texts and "
            "labels may be swapped")):
        dataset_from_memory(raw_text(), (["0", "1"] * 15, reviews), (["0"], reviews[:1]))
    # A small sample of many numbered classes (64 of CIFAR-100's 100, class 0 among them
    # or not) is no such mistake, nor are names the config lists.
    texts = [f"picture {index}" for index in range(64)]
    for seed in range(4):
        numbered = np.random.default_rng(seed).integers(0, 100, 64)
        dataset = dataset_from_memory(raw_text(), (texts, numbered), (texts[:5], numbered[:5]))
        assert dataset.y_train.shape == (64,)
    intents = [f"intent {index}" for index in range(25)]
    labels = intents + intents[:10]
    dataset = dataset_from_memory(raw_text(), ([f"ask {n}" for n in range(35)], labels),
                                  (texts[:2], intents[:2]), class_names=intents)
    assert dataset.num_classes == 25


def test_a_label_only_in_the_test_split_is_said_with_its_place(tmp_path, capsys):
    """It trained without a word: a 3-unit softmax on 2 classes, or a typo's class."""
    from dlcourse.data.memory import dataset_from_memory

    texts = ["good film", "bad film", "fine film", "awful film"]
    dataset_from_memory(raw_text(), (texts, np.array([0, 1, 0, 1])), (texts[:2], np.array([0, 2])))
    assert ("Warning: test targets[1]: the label 2 is in the test split but never in "
            "training") in capsys.readouterr().err  # a NumPy label as its number
    (tmp_path / "train.csv").write_text("text,label\ngood film,1\nbad film,0\n")
    (tmp_path / "test.csv").write_text("text,label\nfine film,1\nso so,2\n")
    load_dataset(raw_text(format="csv", train="train.csv", test="test.csv"), tmp_path)
    assert (f"Warning: {tmp_path / 'test.csv'}, line 3: the label 2 is in the test split but "
            "never in training") in capsys.readouterr().err


def test_boolean_labels_from_python_are_classes_0_and_1():
    """df.label == "pos" gave "the label np.False_ is neither a name nor an integer"."""
    from dlcourse.data.memory import dataset_from_memory, test_split_from_memory

    texts = ["good film", "bad film", "fine film", "awful film"]
    positive = np.array([True, False, True, False])
    dataset = dataset_from_memory(raw_text(), (texts, positive), (texts, positive.tolist()))
    assert sorted(dataset.y_train.tolist()) == [0, 0, 1, 1] and dataset.num_classes == 2
    # Evaluating: test texts of one class are no training split, and are taken.
    assert test_split_from_memory(raw_text(), (texts, [1] * 4),
                                  class_names=("neg", "pos")).y_test.tolist() == [1] * 4


@pytest.mark.parametrize("train, test, settings, says", [
    ("good film,pos\nbad film,pos\n", "fine film,pos\nawful,neg\n", {"class_names": ["neg", "pos"]},
     "train.csv, line 2: every training label is 'pos'"),
    ("good film, pos\nbad film, neg\n", "fine film,pos\nawful,neg\n", {},
     "test.csv, line 2: the label 'pos' differs from ' pos' (")
], ids=["one-class-named", "space-after-comma"])
def test_labels_of_csv_files_a_model_cannot_learn_are_named_by_file_and_line(
        tmp_path, train, test, settings, says):
    """Each trained: a 3-unit softmax on 2 classes, a config's class names skipped the
    one-class check, and ' pos' was told as "binary_crossentropy, but raw_text has 4 classes"."""
    (tmp_path / "train.csv").write_text("text,label\n" + train)
    (tmp_path / "test.csv").write_text("text,label\n" + test)
    config = raw_text(format="csv", train="train.csv", test="test.csv", **settings)
    with pytest.raises(DataError, match=re.escape(says)):
        load_dataset(config, tmp_path)
