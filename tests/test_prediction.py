import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dlcourse.cli import main
from dlcourse.data.imdb import encode_reviews, imdb_sequences, tokenize_review
from dlcourse.errors import DataError
from dlcourse.prediction import predict_run, read_image


WORD_INDEX = {"the": 1, "movie": 2, "was": 3, "great": 4, "don't": 5}


def test_tokenize_like_the_imdb_dataset():
    assert tokenize_review("The movie<br />was GREAT, don't miss!") == [
        "the", "movie", "br", "was", "great", "don't", "miss"
    ]


def test_encode_reviews_maps_like_the_training_data():
    encoded = encode_reviews(["The movie was great!", "great unknownword"], WORD_INDEX, 7, 6)
    # start 1, rank + 3, ranks with rank + 3 >= num_words become OOV 2, unknown words too
    np.testing.assert_array_equal(encoded, [[0, 1, 4, 5, 6, 2], [0, 0, 0, 1, 2, 2]])
    reviews = np.empty(1, dtype=object)
    reviews[0] = [1, 2, 3, 4]
    np.testing.assert_array_equal(encoded[:1], imdb_sequences(reviews, 7, 6))


def test_image_is_resized_grayscaled_and_inverted_when_light(tmp_path):
    drawing = np.full((56, 56, 3), 255, np.uint8)
    drawing[10:46, 26:30] = 0  # a dark "1" on white paper
    Image.fromarray(drawing).save(tmp_path / "one.png")
    array = read_image(tmp_path / "one.png", (28, 28, 1))
    assert array.shape == (28, 28, 1) and array.dtype == np.float32
    assert array[0, 0, 0] == pytest.approx(0.0) and array[14, 14, 0] > 0.8
    kept = read_image(tmp_path / "one.png", (28, 28, 1), invert_light_background=False)
    assert kept[0, 0, 0] == pytest.approx(1.0) and kept[14, 14, 0] < 0.2


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(DataError, match="notes.png: not an image this model can take"):
        read_image(tmp_path / "notes.png", (28, 28, 1))


@pytest.fixture
def text_run(trained):
    return trained["imdb_lstm"]


@pytest.mark.slow
def test_predict_text_from_arguments_file_and_stdin(text_run, tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("the movie was great\n\nboring\n")
    result = CliRunner().invoke(
        main, ["predict", str(text_run), "a fine movie", str(reviews), "-", "--json"],
        input="from stdin\n",
    )
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.output)
    assert [p["input"] for p in predictions] == [
        "a fine movie", "the movie was great", "boring", "from stdin"
    ]
    for prediction in predictions:
        probabilities = prediction["probabilities"]
        assert set(probabilities) == {"negative", "positive"}
        assert 0 <= probabilities["positive"] <= 1
        assert probabilities["positive"] + probabilities["negative"] == pytest.approx(1)
        assert prediction["label"] == max(probabilities, key=probabilities.get)
    text = CliRunner().invoke(main, ["predict", str(text_run), "a fine movie"]).output
    assert text.startswith("P(positive) ")


@pytest.mark.slow
def test_predict_an_image_the_test_writes(trained, tmp_path):
    run_dir = trained["mnist"]
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 13:16] = 255
    Image.fromarray(digit).save(tmp_path / "digit.png")
    (prediction,) = predict_run(run_dir, [str(tmp_path / "digit.png")])
    assert set(prediction.probabilities) == {str(d) for d in range(10)}
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert prediction.label == prediction.top[0][0]
    missing = CliRunner().invoke(main, ["predict", str(run_dir), str(tmp_path / "nope.png")])
    assert missing.exit_code == 2 and "no such image file" in missing.output


@pytest.mark.slow
def test_predict_raw_text_with_the_runs_vocabulary(trained):
    run_dir = trained["bow"]
    assert json.loads((run_dir / "classes.json").read_text()) == ["negative", "positive"]
    result = CliRunner().invoke(main, ["predict", str(run_dir), "a great film", "awful", "--json"])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.output)
    assert [p["input"] for p in predictions] == ["a great film", "awful"]
    assert set(predictions[0]["probabilities"]) == {"negative", "positive"}
    # The same text through evaluate's path (the saved vocabulary) gives the same numbers.
    again = predict_run(run_dir, ["a great film"])[0]
    assert again.probabilities["positive"] == pytest.approx(
        predictions[0]["probabilities"]["positive"], abs=1e-6)


@pytest.mark.slow
def test_predict_a_rating_from_raw_text(trained):
    run_dir = trained["rating"]
    result = CliRunner().invoke(main, ["predict", str(run_dir), "a great film", "--json"])
    assert result.exit_code == 0, result.output
    (prediction,) = json.loads(result.output)
    assert set(prediction) == {"input", "value"} and isinstance(prediction["value"], float)
    text = CliRunner().invoke(main, ["predict", str(run_dir), "a great film"]).output
    assert text.startswith("predicted ")
