import json
import os
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dlcourse.cli import main
from dlcourse.data.imdb import encode_reviews, imdb_sequences, tokenize_review
from dlcourse.errors import DataError
from dlcourse.data.photos import centred_digit, check_picture, read_picture
from dlcourse.prediction import predict_run
from dlcourse.prediction_inputs import collect_inputs

from helpers import REAL_DATA_DIR, ROOT


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


def dark_digit_on_paper(size=400, top=30, left=40, stroke=12):
    """A "1" drawn in dark ink, small, in the upper left of a large light picture."""
    drawing = np.full((size, size, 3), 235, np.uint8)
    drawing[top:top + 90, left + 20:left + 20 + stroke] = 20
    return drawing


def test_a_digit_on_paper_is_inverted_cut_out_and_centred_as_mnist(tmp_path):
    Image.fromarray(dark_digit_on_paper()).save(tmp_path / "one.png")
    picture = read_picture(tmp_path / "one.png", (28, 28, 1), light_on_dark=True,
                           centre_digit=True)
    array = picture.array[..., 0]
    assert array.shape == (28, 28) and array.dtype == np.float32 and not picture.warnings
    assert array[0, 0] == pytest.approx(0.0) and array.max() > 0.9  # light ink on black
    rows, columns = np.nonzero(array > 0.5)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)  # the stroke's height fits 20 of 28
    mass = array.sum()
    centre = ((np.arange(28)[:, None] * array).sum() / mass,
              (np.arange(28)[None, :] * array).sum() / mass)
    assert centre == pytest.approx((14, 14), abs=1.0)
    plain = read_picture(tmp_path / "one.png", (28, 28, 1), light_on_dark=True,
                         centre_digit=True, preprocess=False).array[..., 0]
    assert plain[0, 0] > 0.8 and plain[14, 14] > 0.8  # only resized: white paper, no digit


def test_a_digit_on_grey_paper_is_read_as_dark_on_light(tmp_path):
    """Paper a phone's camera metered to 0.43: a fixed line at mid-grey took it for a dark
    background, and a clean picture was a traceback (an empty crop), a noisy one garbage."""
    paper = dark_digit_on_paper().astype(float) * 110 / 235
    Image.fromarray(paper.astype(np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(dark_digit_on_paper()).save(tmp_path / "white.png")
    glare = dark_digit_on_paper().astype(float)
    glare[glare == 235], glare[glare == 20] = 150, 80  # grey paper, a pencil's grey stroke
    glare[300:360, 300:335] = 255  # a lamp's reflection: further from the paper than ink
    Image.fromarray(glare.astype(np.uint8)).save(tmp_path / "glare.png")
    # A lamp's glare spreading from a corner of paper metered to 0.45 (found in review).
    rows, columns = np.mgrid[0:400, 0:400]
    corner = 115 + 140 * np.exp(-((columns - 380) ** 2 + (rows - 20) ** 2) / (2 * 60 ** 2))
    corner[30:120, 60:72] = 20
    Image.fromarray(np.clip(corner, 0, 255).astype(np.uint8)).save(tmp_path / "corner.png")
    plain = np.full((400, 400), 115.0)
    plain[30:120, 60:72] = 20
    Image.fromarray(plain.astype(np.uint8)).save(tmp_path / "plain.png")
    np.testing.assert_allclose(*(read_picture(tmp_path / name, (28, 28, 1), light_on_dark=True,
                                              centre_digit=True).array
                                 for name in ("corner.png", "plain.png")), atol=0.1)
    grey, white, glared = (read_picture(tmp_path / name, (28, 28, 1), light_on_dark=True,
                                        centre_digit=True)
                           for name in ("grey.png", "white.png", "glare.png"))
    assert not grey.warnings and grey.array[0, 0, 0] == 0
    np.testing.assert_allclose(grey.array, white.array, atol=0.05)
    np.testing.assert_allclose(glared.array, white.array, atol=0.05)
    # Without preprocessing a light background stays, and is said.
    plain = read_picture(tmp_path / "white.png", (28, 28, 1), light_on_dark=True,
                         centre_digit=True, preprocess=False)
    assert plain.warnings == ("the picture is dark on light, but the model learned light "
                              "strokes on dark; without --no-preprocess it is inverted",)


def test_a_phone_photo_is_read_upright_and_a_16_bit_scan_at_its_levels(tmp_path):
    """A phone stores a portrait photo on its side with an EXIF tag to turn it; it was read
    on its side. A 16-bit PNG's levels were clipped to white, ink and paper alike."""
    upright = Image.fromarray(dark_digit_on_paper(size=1600, top=200, left=300, stroke=40))
    upright.save(tmp_path / "upright.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif.tobytes())
    grey = np.asarray(upright.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "scan16.png")
    # On its side in a PNG too, which is reduced (and loses its EXIF) before it is turned.
    Image.fromarray(grey // 257).transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "phone.png", exif=exif.tobytes())
    # 32-bit levels of 0-255 (a TIFF) are 8-bit levels: scaled as 16-bit they were black.
    Image.fromarray((grey // 257).astype(np.int32)).save(tmp_path / "levels32.tif")
    read = {name: read_picture(tmp_path / name, (28, 28, 1), light_on_dark=True,
                               centre_digit=True).array
            for name in ("upright.jpg", "phone.jpg", "scan16.png", "phone.png", "levels32.tif")}
    np.testing.assert_allclose(read["phone.jpg"], read["upright.jpg"], atol=0.02)
    for name in ("scan16.png", "phone.png", "levels32.tif"):
        np.testing.assert_allclose(read[name], read["upright.jpg"], atol=0.1, err_msg=name)
    assert read["scan16.png"].max() == 1.0


def test_a_thin_pen_stroke_reaches_full_intensity_as_mnists_do(tmp_path):
    from PIL import ImageDraw

    drawing = Image.new("L", (1200, 1200), 255)
    ImageDraw.Draw(drawing).line([(700, 1000), (700, 200), (300, 700), (850, 700)], fill=0,
                                 width=8)
    drawing.save(tmp_path / "pen.png")
    digit = read_picture(tmp_path / "pen.png", (28, 28, 1), light_on_dark=True,
                         centre_digit=True).array
    assert digit.max() == pytest.approx(1.0)  # it was 0.38: a grey smear


def test_a_transparent_background_is_white_paper():
    from PIL import Image as PILImage

    rgba = np.zeros((100, 100, 4), np.uint8)  # fully transparent...
    rgba[20:80, 45:55] = (0, 0, 0, 255)       # ...but for an opaque black stroke
    path = ROOT / "nonexistent"
    del path
    image = PILImage.fromarray(rgba, "RGBA")
    import tempfile, pathlib
    with tempfile.TemporaryDirectory() as folder:
        file = pathlib.Path(folder) / "stroke.png"
        image.save(file)
        picture = read_picture(file, (28, 28, 1), light_on_dark=True, centre_digit=True)
    assert not picture.warnings and picture.array.max() > 0.9 and picture.array[0, 0, 0] == 0


def test_a_blank_picture_is_warned_about(tmp_path):
    Image.fromarray(np.zeros((50, 50, 4), np.uint8), "RGBA").save(tmp_path / "clear.png")
    picture = read_picture(tmp_path / "clear.png", (28, 28, 1), light_on_dark=True,
                           centre_digit=True)
    assert picture.warnings and "blank" in picture.warnings[0]


def test_a_pen_digit_in_a_large_photo_or_a_faint_small_one_is_not_blank(tmp_path):
    """A ballpoint "7" in a phone's 12-megapixel photo is under 0.1% of its pixels: it was
    called blank, and so neither inverted nor centred."""
    from PIL import ImageDraw

    photo = Image.new("L", (4000, 3000), 235)
    ImageDraw.Draw(photo).line([(1700, 1200), (2060, 1200), (1850, 1800)], fill=60, width=3)
    photo.save(tmp_path / "pen.jpg", quality=90)
    picture = read_picture(tmp_path / "pen.jpg", (28, 28, 1), light_on_dark=True,
                           centre_digit=True)
    assert not picture.warnings and picture.array.max() == 1.0
    rows, _ = np.nonzero(picture.array[..., 0] > 0.5)
    assert rows.max() - rows.min() >= 15  # cut out and scaled to MNIST's 20-pixel box
    # A faint 1-pixel digit at MNIST's size: a blur alone made it blank (a review's catch).
    faint = np.full((28, 28), 230, np.uint8)
    faint[6:22, 14] = 200
    faint[6, 9:15] = 200
    Image.fromarray(faint).save(tmp_path / "faint.png")
    picture = read_picture(tmp_path / "faint.png", (28, 28, 1), light_on_dark=True,
                           centre_digit=True)
    assert not picture.warnings and picture.array.max() == 1.0


def test_a_picture_claiming_too_many_pixels_is_refused(tmp_path):
    import warnings

    # Above PIL's 89 megapixels, its DecompressionBombWarning came before the refusal.
    Image.new("1", (9500, 9500)).save(tmp_path / "huge.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="9500x9500 pixels, more than the 50,000,000"):
            read_picture(tmp_path / "huge.png", (28, 28, 1), light_on_dark=True,
                         centre_digit=True)


def test_a_picture_past_pils_own_limit_is_refused_in_our_words(tmp_path):
    """Past 179 megapixels PIL refuses at the header: its "could be decompression bomb DOS
    attack" was the message. 182 megapixels of one bit each, 22 KB as a PNG."""
    Image.new("1", (14000, 13000)).save(tmp_path / "bomb.png")
    with pytest.raises(DataError) as refused:
        check_picture(str(tmp_path / "bomb.png"))
    assert str(refused.value) == (
        f"{tmp_path / 'bomb.png'}: over 178,956,970 pixels, more than a picture may have "
        "(50,000,000; a JPEG, decoded at a fraction of its size, 170,000,000); resize it first.")


def test_a_phones_50_megapixel_jpeg_is_taken_decoded_at_a_fraction(tmp_path):
    """8160x6144, a phone's 50-megapixel mode, was refused; a JPEG is decoded at down to
    1/8 of its size. A PNG that large is still refused: it is decoded in full."""
    photo = Image.new("L", (8160, 6144), 235)
    photo.paste(0, (3000, 1500, 3400, 4500))
    photo.save(tmp_path / "phone.jpg", quality=80)
    picture = read_picture(tmp_path / "phone.jpg", (28, 28, 1), light_on_dark=True,
                           centre_digit=True)
    assert not picture.warnings and picture.array.max() == pytest.approx(1.0)
    check_picture(str(tmp_path / "phone.jpg"))
    with pytest.raises(DataError, match="8160x6144 pixels, more than the 50,000,000"):
        check_picture(str(tmp_path / "phone.jpg"), drafted=False)  # an image-folder run's
    # A phone's JPEG holding a second picture opens as PIL's "MPO", a JPEG all the same.
    photo.save(tmp_path / "phone.mpo.jpg", format="MPO", save_all=True,
               append_images=[photo.resize((160, 120))])
    assert Image.open(tmp_path / "phone.mpo.jpg").format == "MPO"
    check_picture(str(tmp_path / "phone.mpo.jpg"))


def test_centring_moves_the_centre_of_mass_to_the_middle():
    field = np.zeros((60, 60), np.float32)
    field[2:12, 40:45] = 1.0
    digit = centred_digit(field)
    mass = digit.sum()
    row = (np.arange(28)[:, None] * digit).sum() / mass
    assert row == pytest.approx(14, abs=0.8)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(DataError, match="notes.png: not an image this model can take"):
        read_picture(tmp_path / "notes.png", (28, 28, 1), light_on_dark=True, centre_digit=True)


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n"
       b"newpath 0 0 moveto 28 28 lineto stroke\nshowpage\n")


def test_a_picture_never_starts_a_program(tmp_path, monkeypatch):
    """PIL opened any format it knows: an EPS (named .png, or uploaded as bytes) was read
    by running Ghostscript on it, and Ghostscript's failure was a traceback."""
    ran = tmp_path / "gs-ran"
    ghostscript = tmp_path / "bin" / "gs"
    ghostscript.parent.mkdir()
    ghostscript.write_text(f"#!/bin/sh\ntouch {ran}\nexit 1\n")
    ghostscript.chmod(0o755)
    monkeypatch.setenv("PATH", f"{ghostscript.parent}:{os.environ['PATH']}")
    (tmp_path / "digit.png").write_bytes(EPS)
    for given in (tmp_path / "digit.png", EPS):
        with pytest.raises(DataError, match="not an image this model can take"):
            read_picture(given, (28, 28, 1), light_on_dark=True, centre_digit=True,
                         name="digit.png")
    with pytest.raises(DataError, match="digit.png: not an image this model can take"):
        check_picture(str(tmp_path / "digit.png"))
    assert not ran.exists()
    # Every other format PIL reads still is: a web download's WebP named .jpg, a TGA.
    for name, fmt in (("download.jpg", "WEBP"), ("scan.tga", "TGA")):
        Image.new("L", (28, 28), 255).save(tmp_path / name, fmt)
        assert read_picture(tmp_path / name, (28, 28, 1), light_on_dark=True,
                            centre_digit=False).array.shape == (28, 28, 1)


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
    predictions = json.loads(result.stdout)
    assert [p["input"] for p in predictions] == [
        "a fine movie", "the movie was great", "boring", "from stdin"
    ]
    for prediction in predictions:
        probabilities = prediction["probabilities"]
        assert set(probabilities) == {"negative", "positive"}
        assert 0 <= probabilities["positive"] <= 1
        assert probabilities["positive"] + probabilities["negative"] == pytest.approx(1)
        assert prediction["label"] == max(probabilities, key=probabilities.get)
    text = CliRunner().invoke(main, ["predict", str(text_run), "a fine movie"]).stdout
    assert text.startswith("P(positive) ") and "[knows 1 of 3 words]" in text
    # A review's escape sequence cleared the screen as it was echoed back.
    text = CliRunner().invoke(main, ["predict", str(text_run), "a fine\x1b[2J movie"]).stdout
    assert "\x1b" not in text and "a fine\\x1b[2J movie" in text


@pytest.mark.slow
def test_many_inputs_print_a_chunk_at_a_time_with_a_progress_line(text_run, tmp_path,
                                                                  monkeypatch):
    """25,000 reviews held 1.3 GB and printed nothing for a minute, then everything."""
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("the movie was great\nboring\nein sehr schlechter Film\nthe end\na\n")
    whole = {flag: CliRunner().invoke(main, ["predict", str(text_run), str(reviews), *flag])
             for flag in ((), ("--json",))}
    monkeypatch.setattr("dlcourse.prediction.CHUNK", 2)
    monkeypatch.setattr("dlcourse.terminal.Progress.EVERY", 0)
    for flag, before in whole.items():
        chunked = CliRunner().invoke(main, ["predict", str(text_run), str(reviews), *flag])
        assert chunked.exit_code == 0, chunked.output
        assert chunked.stdout == before.stdout  # the same lines, the same JSON text
        # A warning names its input by its place in the whole list, not in its chunk.
        assert "Warning (input 3): the model knows 0" in chunked.stderr
        assert [line for line in chunked.stderr.splitlines() if "predicted" in line] == [
            "2 of 5 inputs predicted (40%)", "4 of 5 inputs predicted (80%)",
            "5 of 5 inputs predicted (100%)"]
    records = json.loads(whole[("--json",)].stdout)
    assert whole[("--json",)].stdout == json.dumps(records, indent=2) + "\n"
    assert [record["input"] for record in records][2:] == ["ein sehr schlechter Film",
                                                          "the end", "a"]
    # One chunk: the results are the whole story, no progress line.
    assert "predicted" not in whole[()].stderr


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
    # A notebook's upload gives the file's bytes: read as the file is, named by position.
    import dlcourse

    from_path, from_bytes = dlcourse.predict(run_dir, [str(tmp_path / "digit.png"),
                                                        (tmp_path / "digit.png").read_bytes()])
    assert from_bytes["probabilities"] == pytest.approx(from_path["probabilities"])
    assert from_bytes["input"] == "inputs[1]"


@pytest.mark.slow
def test_without_num_words_a_word_past_the_embedding_is_out_of_vocabulary(trained, tmp_path):
    """A run without data.num_words has Embedding rows for the words its data held; a
    rarer one the word index knows was TensorFlow's 'indices[0,48] = 88586 is not in [0,
    88586)' traceback, and serve's 500."""
    run_dir = trained.copy("imdb_lstm", tmp_path / "runs")
    config = run_dir / "config.yaml"
    config.write_text(re.sub(r"num_words: \d+", "num_words: null", config.read_text()))
    word_index = json.loads((run_dir / "word_index.json").read_text())
    word_index["rarissimo"] = 10**6
    (run_dir / "word_index.json").write_text(json.dumps(word_index))
    (rare,) = predict_run(run_dir, ["rarissimo"])
    (unknown,) = predict_run(run_dir, ["qwertyuiop"])  # a word the index doesn't know
    assert rare.probabilities == pytest.approx(unknown.probabilities)


@pytest.mark.slow
def test_a_class_name_holding_a_terminal_escape_is_printed_escaped(trained, tmp_path):
    """A run someone sent: its classes.json retitled the window and cleared the screen."""
    run_dir = trained.copy("mnist", tmp_path / "runs")
    (run_dir / "classes.json").write_text(json.dumps(
        [f"c{digit}\x1b]0;PWNED\x07\x1b[2J" for digit in range(10)]))
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 13:16] = 255
    Image.fromarray(digit).save(tmp_path / "digit.png")
    result = CliRunner().invoke(main, ["predict", str(run_dir), str(tmp_path / "digit.png")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\\x1b]0;PWNED\\x07\\x1b[2J" in result.stdout


@pytest.mark.slow
def test_a_picture_unreadable_in_a_later_chunk_leaves_the_json_before_it_whole(
        trained, tmp_path, monkeypatch):
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 13:16] = 255
    Image.fromarray(digit).save(tmp_path / "digit.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "digit.png").read_bytes()[:60])
    monkeypatch.setattr("dlcourse.prediction.CHUNK", 2)
    pictures = [str(tmp_path / name) for name in ("digit.png", "digit.png", "cut.png")]
    result = CliRunner().invoke(main, ["predict", str(trained["mnist"]), *pictures, "--json"])
    assert result.exit_code == 2 and "cut.png" in result.stderr, result.output
    assert [record["input"] for record in json.loads(result.stdout)] == pictures[:2]


@pytest.mark.slow
def test_integer_pixels_are_scaled_as_uint8_and_float_ones_of_0_to_255_warned_about(trained):
    """float32 arrays of 0-255 pixels are not scaled, and every digit came out with
    probability 1.0, without a word. int64 ones (pandas's) were not scaled either, though
    training scales them as uint8."""
    import dlcourse

    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 5:23, 13:16] = 255
    as_uint8 = dlcourse.predict(trained["mnist"], digits)
    as_int64 = dlcourse.predict(trained["mnist"], digits.astype("int64"))
    assert not any("warnings" in p for p in as_uint8 + as_int64)
    assert [p["probabilities"] for p in as_int64] == [
        pytest.approx(p["probabilities"]) for p in as_uint8]
    warned = dlcourse.predict(trained["mnist"], digits.astype("float32"))
    assert all("pixels go up to 255, but the model learned pixels scaled to 0-1" in
               p["warnings"][0] for p in warned)
    scaled = dlcourse.predict(trained["mnist"], digits.astype("float32") / 255)
    assert not any("warnings" in p for p in scaled)
    assert [p["probabilities"] for p in scaled] == [
        pytest.approx(p["probabilities"]) for p in as_uint8]
    bright = digits.astype("int64")
    bright[1, 0, 0] = 300
    with pytest.raises(DataError, match=re.escape("image 1 holds 300")):
        dlcourse.predict(trained["mnist"], bright)
    # Binarised digits, uint8 or int64 0/1, came out as 0 and 0.004: wrong, unsaid, where
    # training refuses them.
    for binary in (digits // 255, (digits // 255).astype("int64")):
        with pytest.raises(DataError, match=re.escape(
                f"The array: the images are {binary.dtype} of 0 and 1; integer pixels are read "
                "as 0-255")):
            dlcourse.predict(trained["mnist"], binary)
    as_bool = dlcourse.predict(trained["mnist"], digits > 0)
    assert [p["probabilities"] for p in as_bool] == [
        pytest.approx(p["probabilities"]) for p in scaled]


@pytest.mark.slow
def test_a_model_that_learned_unscaled_pixels_gets_integer_ones_unscaled(trained, tmp_path):
    """A run on float 0-255 arrays from Python (data.json: largest pixel 255) learned pixels
    as they came; integer ones given to it are not scaled for it either."""
    import dlcourse

    run_dir = trained.copy("mnist", tmp_path)
    (run_dir / "data.json").write_text(json.dumps({
        "kind": "memory", "data_dir": None, "source": None, "train_samples": 64,
        "test_samples": 32, "largest_pixel": 255.0}))
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 5:23, 13:16] = 255
    as_int64 = dlcourse.predict(run_dir, digits.astype("int64"))
    as_floats = dlcourse.predict(run_dir, digits.astype("float32"))
    assert not any("warnings" in p for p in as_int64 + as_floats)
    assert [p["probabilities"] for p in as_int64] == [
        pytest.approx(p["probabilities"]) for p in as_floats]


@pytest.mark.slow
def test_predict_raw_text_with_the_runs_vocabulary(trained):
    run_dir = trained["bow"]
    assert json.loads((run_dir / "classes.json").read_text()) == ["negative", "positive"]
    result = CliRunner().invoke(main, ["predict", str(run_dir), "a great film", "awful", "--json"])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)
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
    (prediction,) = json.loads(result.stdout)
    assert {"input", "value", "known_words", "words"} <= set(prediction)
    assert isinstance(prediction["value"], float) and "label" not in prediction
    text = CliRunner().invoke(main, ["predict", str(run_dir), "a great film"]).stdout
    assert text.startswith("predicted ")


@pytest.mark.slow
def test_a_review_of_no_word_is_warned_of_not_given_a_nan_probability(trained, tmp_path):
    """'!!!' vectorised to padding alone: `predict --json` printed "probability": NaN,
    which is no JSON, and a label drawn from it; then one such row refused a whole file.
    It is predicted as one unknown word, and warned of, as on an IMDB run."""
    run = trained["naive_bayes"]  # index sequences, as a fastText model's
    (tmp_path / "scored.csv").write_text('text\n"Loved it"\n":-)"\n"Dull"\n')
    result = CliRunner().invoke(main, ["predict", str(run), str(tmp_path / "scored.csv"),
                                       "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [record["input"] for record in records] == ["Loved it", ":-)", "Dull"]
    assert all(0 <= record["probability"] <= 1 for record in records)
    assert records[1]["warnings"] == ["this text has no words the model reads (only "
                                      "punctuation?): the prediction is its answer to a "
                                      "review of one unknown word"]
    assert not any("punctuation" in " ".join(records[index].get("warnings", []))
                   for index in (0, 2))


@pytest.mark.slow
def test_what_reads_as_a_file_name_must_be_one(text_run, tmp_path):
    review = "an unusually long review " * 40  # over 255 bytes: no file system's name
    assert collect_inputs(text_run, [review]) == [review]
    with pytest.raises(DataError, match="reviews.txt: no such file. .*pass --text"):
        collect_inputs(text_run, ["reviews.txt"])
    assert collect_inputs(text_run, ["reviews.txt"], as_text=True) == ["reviews.txt"]
    empty = CliRunner().invoke(main, ["predict", str(text_run), ""])
    assert empty.exit_code == 2 and "empty text" in empty.output
    with pytest.raises(DataError, match="standard input, but it is closed"):
        collect_inputs(text_run, ["-"], stdin=None)


@pytest.mark.slow
def test_a_text_says_how_many_of_its_words_the_model_knows(text_run):
    # The tests' tiny IMDB word index knows "the", "and" and "a".
    english, german = predict_run(text_run, ["the film and a plot", "ein sehr schlechter Film"])
    assert (english.known_words, english.words) == (3, 5) and not english.warnings
    assert (german.known_words, german.words) == (0, 4)
    assert "knows 0 of this text's 4 words" in german.warnings[0]
    result = CliRunner().invoke(main, ["predict", str(text_run), "ein sehr schlechter Film"])
    assert "Warning (input 1): the model knows 0" in result.output
    # No word at all was predicted without a word of warning.
    (marks,) = predict_run(text_run, ["!!! ..."])
    assert marks.words == 0 and "has no words the model reads" in marks.warnings[0]


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATA_DIR, reason="needs the real MNIST (DLCOURSE_DATA_DIR)")
def test_a_real_mnist_model_reads_digits_photographed_on_paper(trained, tmp_path):
    run_dir = trained["real_mnist"]  # 20,000 real digits, one epoch
    arrays = np.load(f"{REAL_DATA_DIR}/mnist.npz")
    right = []
    for index in range(10):
        digit, label = arrays["x_test"][index], int(arrays["y_test"][index])
        # Dark ink on light paper, 60 pixels tall in the upper left of 400x400.
        paper = np.full((400, 400), 230, np.uint8)
        ink = np.asarray(Image.fromarray(digit).resize((84, 84), Image.Resampling.BILINEAR))
        paper[30:114, 50:134] = np.minimum(paper[30:114, 50:134], 255 - ink)
        Image.fromarray(paper).save(tmp_path / f"paper{index}.png")
        # The same digit, black, on a transparent background.
        rgba = np.zeros((200, 200, 4), np.uint8)
        rgba[60:144, 90:174, 3] = ink
        Image.fromarray(rgba, "RGBA").save(tmp_path / f"clear{index}.png")
        right.append(label)
    for kind in ("paper", "clear"):
        predictions = predict_run(run_dir, [str(tmp_path / f"{kind}{i}.png") for i in range(10)])
        labels = [int(p.label) for p in predictions]
        assert sum(a == b for a, b in zip(labels, right)) >= 9, (kind, labels, right)
    plain = predict_run(run_dir, [str(tmp_path / f"paper{i}.png") for i in range(10)],
                        preprocess=False)
    assert sum(int(p.label) == label for p, label in zip(plain, right)) <= 5


@pytest.mark.robustness("bad inputs")
def test_a_picture_that_is_a_fifo_or_a_folder_is_refused_without_hanging(tmp_path):
    import os

    os.mkfifo(tmp_path / "digit.png")
    for path in (tmp_path / "digit.png", tmp_path):
        with pytest.raises(DataError, match="not a regular file"):
            read_picture(path, (28, 28, 1), light_on_dark=True, centre_digit=True)


@pytest.mark.parametrize("name, change, says", [
    ("mnist", lambda run: (run / "classes.json").write_text('["zero"]'),
     "classes.json: names 1 class, but the model has 10 output(s), for 10 classes"),
    ("mnist", lambda run: (run / "classes.json").write_text(json.dumps(["0"] * 10)),
     "classes.json: names the class '0' twice"),
    ("bow", lambda run: _edit_tokens(run, lambda tokens: tokens[:5] + [tokens[6]] + tokens[6:]),
     "vocabulary.json: holds the token"),
    ("bow", lambda run: _edit_tokens(run, lambda tokens: tokens + ["extra"]),
     "tokens, but the model takes bags of"),
    # Keras's set_vocabulary refused these with a traceback, or took them silently wrong.
    ("bow", lambda run: _edit_tokens(run, lambda tokens: []), "vocabulary.json: it holds no token"),
    ("bow", lambda run: _edit_tokens(run, lambda tokens: tokens[:1]),
     "vocabulary.json: it holds no word"),
    ("bow", lambda run: _edit_tokens(run, lambda tokens: tokens[1:]),
     "vocabulary.json: its tokens start ["),
    ("naive_bayes", lambda run: _edit_tokens(run, lambda tokens: tokens + [
        f"w{index}" for index in range(2000)]),
     "more than the config's data.vectorize.max_tokens, 2,000"),
    ("rating", lambda run: _edit_vocabulary(run, idf_weights=None),
     "vocabulary.json: idf_weights is null, but output_mode is tf_idf"),
    # serve answered every request with a 500; predict cut each review to 5 words.
    ("imdb_lstm", lambda run: _edit_config(run, "maxlen: 500", "maxlen: 5"),
     "config.yaml: data.maxlen is 5, but the model takes texts of 500 tokens"),
])
def test_run_files_that_disagree_with_the_model_are_named(trained, tmp_path, name, change, says):
    """An IndexError, Keras's "repeated term" or TensorFlow's traceback; duplicate classes
    collapsed their probabilities."""
    run = trained.copy(name, tmp_path)
    change(run)
    item = str(tmp_path / "digit.png") if name == "mnist" else "a great film"
    if name == "mnist":
        Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(tmp_path / "digit.png")
    result = CliRunner().invoke(main, ["predict", str(run), item])
    assert result.exit_code == 2 and says in result.output, result.output


@pytest.mark.slow
@pytest.mark.parametrize("name, change, says", [
    ("bow", lambda run: _edit_tokens(run, lambda tokens: []), "vocabulary.json: it holds no token"),
    # Word indices past the Embedding's rows: TensorFlow's traceback from its lookup.
    ("imdb_lstm", lambda run: _edit_config(run, "num_words: 10000", "num_words: 20000"),
     "but the model's Embedding has rows for indices below 10,000; was data.num_words"),
])
def test_run_files_that_disagree_with_the_model_are_named_by_every_command(
        trained, data_dir, tmp_path, name, change, says):
    run = trained.copy(name, tmp_path)
    change(run)
    for command in (["evaluate"], ["explain"], ["export", "--output", str(tmp_path / "out")]):
        result = CliRunner().invoke(main, [*command[:1], str(run), *command[1:]])
        assert result.exit_code == 2 and says in result.output, (command, result.output)
        assert "Traceback" not in result.output


def _edit_config(run, old, new):
    path = run / "config.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def _edit_vocabulary(run, **fields):
    path = run / "vocabulary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _edit_tokens(run, edit):
    path = run / "vocabulary.json"
    vocabulary = json.loads(path.read_text())
    vocabulary["tokens"] = edit(vocabulary["tokens"])
    if vocabulary.get("idf_weights"):
        vocabulary["idf_weights"] = vocabulary["idf_weights"][:1] * len(vocabulary["tokens"])
    path.write_text(json.dumps(vocabulary))


def test_a_huge_picture_is_reduced_as_soon_as_it_is_decoded(tmp_path):
    """A 49-megapixel picture took 0.6 GB to prepare (7000x7000 floats and their copies),
    so a server's concurrent requests could run out of memory; it is now reduced to about
    1024 pixels a side first, and gives the digit the full picture gave."""
    from PIL import ImageDraw

    from dlcourse.data import photos

    big = Image.new("1", (4096, 4096), 1)
    ImageDraw.Draw(big).line((1800, 600, 2100, 3500), fill=0, width=180)
    assert photos._working_size(big).size == (1024, 1024)
    big.save(tmp_path / "big.png")
    big.convert("L").resize((1024, 1024), Image.Resampling.BOX).save(tmp_path / "small.png")
    read = [photos.read_picture(tmp_path / name, (28, 28, 1), light_on_dark=True,
                                centre_digit=True).array for name in ("big.png", "small.png")]
    np.testing.assert_allclose(read[0], read[1], atol=0.02)
    assert read[0].max() > 0.9


def test_word_indices_from_python_are_checked_against_the_embedding(trained):
    """An index past the Embedding was TensorFlow's InvalidArgumentError; a negative one
    or a fraction was used without a word."""
    import dlcourse

    run = trained["imdb_lstm"]

    def padded(*indices):  # pre-padded to the model's 500, as Keras's IMDB reviews are
        return np.concatenate([np.zeros(500 - len(indices)), indices])[np.newaxis]

    assert len(dlcourse.predict(run, padded(1, 14, 22, 9999).astype(int))) == 1
    for array, says in ((padded(1, 14, 10000), "the word index 10000, outside the 0 to 9999"),
                        (padded(1, -3, 22), "the word index -3"),
                        (padded(1.5, 14, 22), "it has fractions"),
                        # A fastText model's masked average of padding alone was NaN, labelled.
                        (np.stack([padded(1, 14)[0], padded()[0]]),
                         "The array's row 1 is padding alone (every index 0)")):
        with pytest.raises(DataError, match=re.escape(says)):
            dlcourse.predict(run, array)


@pytest.mark.parametrize("color_mode, channels", [("rgb", 3), ("rgba", 4), ("grayscale", 1)])
def test_an_image_folder_runs_picture_is_read_as_training_read_its_images(tmp_path, color_mode,
                                                                         channels):
    """Read through PIL, a transparent corner came out white (black in training), fine
    texture was smoothed away, and a 16-bit PNG's levels were clipped: predict's pixels
    were not evaluate's."""
    import keras

    from dlcourse.data.photos import read_as_trained

    rng = np.random.default_rng(0)
    texture = np.dstack([rng.integers(0, 256, (120, 90, 3), dtype=np.uint8),
                         np.where(np.arange(90) < 30, 0, 255).astype(np.uint8)[None].repeat(120, 0)])
    pictures = {"texture.png": Image.fromarray(texture, "RGBA"),
                "levels.png": Image.fromarray(np.tile(np.arange(0, 65536, 256, dtype=np.uint16),
                                                      (40, 1)))}
    for name, picture in pictures.items():
        folder = tmp_path / name
        for label in ("a", "b"):
            (folder / label).mkdir(parents=True)
            picture.save(folder / label / name)
        (batch, _), = keras.utils.image_dataset_from_directory(
            folder, image_size=(24, 20), color_mode=color_mode, batch_size=1, shuffle=False,
            verbose=False).take(1)
        read = read_as_trained(folder / "a" / name, (24, 20, channels))
        np.testing.assert_allclose(read.array, np.asarray(batch[0]) / 255.0, atol=1e-6)


@pytest.mark.slow
def test_predict_on_an_image_folder_run_reads_pictures_as_training_did(tmp_path):
    import dlcourse
    from dlcourse.data.photos import read_as_trained

    from helpers import write_image_folder

    write_image_folder(tmp_path / "photos", classes=2, per_class=6, size=30)
    run = dlcourse.train({
        "name": "own_photos",
        "data": {"dataset": "image_folder", "path": "photos", "image_size": [16, 16]},
        "model": {"layers": [{"Conv2D": {"filters": 2, "kernel_size": 3}}, "Flatten",
                             {"Dense": {"units": 2, "activation": "softmax"}}]},
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                    "metrics": ["accuracy"]},
        "fit": {"epochs": 1, "batch_size": 4},
    }, data_dir=tmp_path, output_dir=tmp_path / "runs")
    picture = tmp_path / "photos" / "class_001" / "0.png"
    (record,) = dlcourse.predict(run, [str(picture)])
    expected = run.model.predict(read_as_trained(picture, (16, 16, 3)).array[None], verbose=0)[0]
    np.testing.assert_allclose([record["probabilities"][name] for name in ("class_000", "class_001")],
                               expected, atol=1e-6)
