"""`dlcourse export`: a run's model as an artifact other runtimes serve, checked by them.

Built on Keras's `model.export`. A SavedModel of a text run takes raw strings: it carries
the run's own vectorisation (IMDB's tokenisation and word index as a lookup table, or the
run's TextVectorization), so a serving system needs nothing of dlcourse. ONNX and LiteRT
can't carry string processing; they take what the model takes, as dlcourse prepares it.

Every export is checked before it is kept: loaded with its own runtime, it must predict the
run's first test inputs as `model.predict` does, within TOLERANCE. An export that fails the
check is not written.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcourse.data import shape_text
from dlcourse.data.imdb import IMDB_INDEX_FROM, IMDB_OOV, IMDB_START, PUNCTUATION_OR_SPACE_RE2
from dlcourse.data.imdb import decode_reviews
from dlcourse.errors import DlcourseError
from dlcourse.prediction import Predictor
from dlcourse.prediction_inputs import LONGEST_TEXT
from dlcourse.preflight import export_target, recorded_data_dir
from dlcourse.preparation import check_model_takes, run_dataset
from dlcourse.rundir import (
    EXPORT_FILES, EXPORT_MARKER, EXPORT_README, RunDir, directory_written_atomically,
)

# float32 keeps about 7 digits, and an export's runtime adds in its own order: a TF-IDF
# bag of 20,000 n-grams summed differently moved a regression's output by 1.7e-5. Wrong
# preprocessing or weights move outputs by 1e-2 and more. The difference is scaled by
# 1 + |output|, so a rating of 8 is held to the digits a probability is.
TOLERANCE = 1e-4
CHECKED_INPUTS = 100
_RUNTIME = {"saved_model": "tf.saved_model.load", "onnx": "onnxruntime",
            "litert": "the LiteRT interpreter (ai_edge_litert)"}


class ExportCheckFailed(DlcourseError):
    """The exported artifact doesn't predict as the run's model does."""

    exit_code = 1


@dataclass(frozen=True)
class Check:
    """How far the artifact's outputs are from `model.predict`'s, on `inputs` test inputs."""

    what: str
    inputs: int
    max_difference: float

    @property
    def passed(self) -> bool:
        return self.max_difference <= TOLERANCE

    def line(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"{verdict}: {self.what}, {self.inputs} test inputs, max |export - "
                f"model.predict| / (1 + |model.predict|) = {self.max_difference:.1e} "
                f"(tolerance {TOLERANCE:.0e})")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    checks: list[Check]
    takes: str
    notes: list[str] = field(default_factory=list)


def export_run(run_dir: str | Path, format: str = "saved_model", *,
               output: str | Path | None = None, data_dir: str | Path | None = None,
               test: Any = None) -> ExportResult:
    """Export a run's model as `format` into `output` (default: RUN_DIR/export/FORMAT),
    checked against the run's first test inputs; `test` is (x_test, y_test) again for a
    run trained on data given from Python."""
    run = RunDir(run_dir).require()
    target = export_target(run, format, output)
    predictor = Predictor(run.path)
    samples = _test_inputs(run, predictor, data_dir, test)
    # --output may name another run's export, which is replaced as any export is: said, so
    # that the model deployed from there is not taken for the one it was.
    earlier = RunDir.export_source(target) if target.is_dir() else None
    notes_before = ([f"this replaces the export of {earlier} that was in {target}"]
                    if earlier is not None and earlier != str(run.path.resolve()) else [])
    with directory_written_atomically(target) as staging:
        exporter = {"saved_model": _saved_model, "onnx": _onnx, "litert": _litert}[format]
        takes, checks, notes = exporter(predictor, staging, samples)
        failed = [check for check in checks if not check.passed]
        if failed:
            raise ExportCheckFailed(
                f"The {format} export of {run.path} doesn't predict as its model does: "
                + "; ".join(check.line() for check in failed) + ". Nothing was written."
            )
        (staging / EXPORT_README).write_text(
            _readme(predictor, format, takes, checks, notes), encoding="utf-8")
        written = sorted([entry.name for entry in staging.iterdir()] + [EXPORT_MARKER])
        # The mark lists what the export wrote: anything else found there later is a user's.
        (staging / EXPORT_MARKER).write_text(f"{format} export of {run.path.resolve()}\n"
                                             + "".join(f"{name}\n" for name in written))
    return ExportResult(target, format, checks, takes, [*notes_before, *notes])


@dataclass(frozen=True)
class _Samples:
    arrays: np.ndarray  # what the model takes, as dlcourse prepares it
    expected: np.ndarray  # model.predict of arrays
    texts: list[str] | None  # text runs: the same reviews as strings
    expected_from_texts: np.ndarray | None  # model.predict of dlcourse's encoding of texts


def _test_inputs(run: RunDir, predictor: Predictor, data_dir, test) -> _Samples:
    """The run's first test inputs, and the model's predictions for them."""
    memory = None if test is None else (None, test)
    dataset = run_dataset(run, predictor.config,
                          None if memory else recorded_data_dir(run, data_dir, test_only=True),
                          memory=memory, command="export")
    model = predictor.model
    check_model_takes(run, predictor.config, model, dataset)
    arrays = np.asarray(dataset.x_test[:CHECKED_INPUTS])
    expected = model.predict(arrays, verbose=0)
    texts = expected_from_texts = None
    if predictor.family.is_text:
        if dataset.test_texts:
            texts = list(dataset.test_texts[:CHECKED_INPUTS])
        else:  # IMDB in Keras's layout keeps word indices: the reviews as words again
            texts = decode_reviews(arrays, predictor.word_index())
        # As predict and serve take them: a test text of a million characters, which
        # training took, refused the export in predict's words ("Input 9 is ...").
        texts = [text for text in texts if len(text) <= LONGEST_TEXT] or None
        if texts is not None:
            expected_from_texts = model.predict(predictor.prepare_texts(texts).arrays,
                                                verbose=0)
    return _Samples(arrays, expected, texts, expected_from_texts)


def _difference(got, expected) -> float:
    got = np.asarray(got, dtype="float64").reshape(np.shape(expected))
    scaled = np.abs(got - expected) / (1 + np.abs(expected))
    return float(np.max(scaled)) if got.size else 0.0


# --------------------------------------------------------------------------- SavedModel


def _saved_model(predictor: Predictor, folder: Path, samples: _Samples):
    import keras
    import tensorflow as tf

    model = predictor.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    numeric = tf.TensorSpec((None, *predictor.input_shape), model.inputs[0].dtype)
    archive.add_endpoint("serve_inputs", lambda x: model(x, training=False), [numeric])
    if predictor.family.is_text:
        encode = _string_encoder(predictor, archive)
        archive.add_endpoint("serve", lambda texts: model(encode(texts), training=False),
                             [tf.TensorSpec((None,), tf.string)])
        takes = ("`serve`: a 1-D tf.string tensor of raw texts; `serve_inputs`: "
                 f"{_spec_text(numeric)} as dlcourse prepares texts")
    else:
        archive.add_endpoint("serve", lambda x: model(x, training=False), [numeric])
        takes = f"`serve`: {_spec_text(numeric)}, pixels scaled to [0, 1]"
    archive.write_out(str(folder), verbose=False)

    loaded = tf.saved_model.load(str(folder))
    checks = [Check("serve_inputs (tf.saved_model.load)", len(samples.arrays),
                    _difference(loaded.serve_inputs(samples.arrays), samples.expected))]
    if samples.texts is not None:
        got = loaded.serve(tf.constant(samples.texts))
        checks.append(Check("serve on raw strings, against dlcourse predict's encoding",
                            len(samples.texts), _difference(got, samples.expected_from_texts)))
    else:
        checks.append(Check("serve (tf.saved_model.load)", len(samples.arrays),
                            _difference(loaded.serve(samples.arrays), samples.expected)))
    return takes, checks, []


def _string_encoder(predictor: Predictor, archive):
    """Raw strings -> the model's input, as dlcourse's predict prepares them."""
    import tensorflow as tf

    config = predictor.config
    if config.data.dataset == "raw_text":
        vectorizer = predictor._vectorizer
        archive.track(vectorizer)
        bag = config.data.vectorize.output_mode != "int"

        def vectorized(texts):
            rows = vectorizer(texts)
            if bag:
                # dlcourse keeps bag-of-words rows as float16 (training did): round them alike.
                return tf.cast(tf.cast(rows, tf.float16), tf.float32)
            # A text of no word: one unknown word ([UNK], 1) in its first place, as predict
            # gives it (padding alone averages to NaN in a masked model).
            empty = tf.reduce_all(tf.equal(rows, 0), axis=1, keepdims=True)
            first = tf.equal(tf.range(tf.shape(rows)[1]), 0)[tf.newaxis, :]
            return tf.where(tf.logical_and(empty, first), tf.ones_like(rows), rows)

        return vectorized
    table = _word_table(predictor.word_index(), config.data.num_words)
    archive.track(table)
    maxlen = config.data.maxlen

    def encoded(texts):
        words = tf.strings.split(tf.strings.regex_replace(
            tf.strings.lower(texts, encoding="utf-8"), PUNCTUATION_OR_SPACE_RE2, " "))
        ids = table.lookup(words)
        start = tf.fill([tf.shape(texts)[0], 1], tf.constant(IMDB_START, tf.int32))
        ids = tf.concat([tf.RaggedTensor.from_tensor(start), ids], axis=1)
        # As training's padding did: the last maxlen tokens, zeros in front.
        dense = ids.to_tensor(default_value=0)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        source = lengths[:, tf.newaxis] - maxlen + tf.range(maxlen)[tf.newaxis, :]
        shifted = tf.gather(dense, tf.maximum(source, 0), batch_dims=1)
        return tf.where(source >= 0, shifted, tf.zeros_like(shifted))

    return encoded


def _word_table(word_index: dict[str, int], num_words: int | None):
    """Word -> the index training gave it (rank + 3); rare and unknown words are OOV."""
    import tensorflow as tf

    kept = {word: rank + IMDB_INDEX_FROM for word, rank in word_index.items()
            if num_words is None or rank + IMDB_INDEX_FROM < num_words}
    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(list(kept), tf.string), tf.constant(list(kept.values()), tf.int32))
    return tf.lookup.StaticHashTable(initializer, default_value=IMDB_OOV)


def _spec_text(spec) -> str:
    return f"{spec.dtype.name} {_shape_text(spec.shape)}"


def _shape_text(shape) -> str:
    """(N, 28, 28, 1) for a batch-first shape; a free length after the batch reads `any`."""
    return shape_text(tuple(shape)[1:], batch=shape[0])


# --------------------------------------------------------------------------- ONNX, LiteRT

_NUMERIC_ONLY = ("{format} can't carry string processing, so this model takes what the "
                 "Keras model takes: {takes}, as `dlcourse predict` prepares texts "
                 "(the SavedModel export takes raw strings)")


def _numeric_takes(predictor: Predictor, shape, dtype) -> str:
    shown = _shape_text(shape)
    what = "word indices" if predictor.family.is_text and str(dtype).startswith("int") else (
        "pixels scaled to [0, 1]" if not predictor.family.is_text else "bag-of-words rows")
    return f"{dtype} {shown}, {what}"


def _onnx(predictor: Predictor, folder: Path, samples: _Samples):
    import onnxruntime

    model = predictor.model
    dtype = model.inputs[0].dtype
    path = folder / EXPORT_FILES["onnx"]
    with warnings.catch_warnings():  # Keras's tf2onnx shim warns of NumPy's np.object
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = session.run(None, {name: samples.arrays.astype(dtype)})[0]
    takes = _numeric_takes(predictor, (None, *predictor.input_shape), dtype)
    notes = [_NUMERIC_ONLY.format(format="ONNX", takes=takes)] if predictor.family.is_text else []
    return takes, [Check("onnxruntime", len(samples.arrays),
                         _difference(got, samples.expected))], notes


def _litert(predictor: Predictor, folder: Path, samples: _Samples):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    model = predictor.model
    dtype = model.inputs[0].dtype
    path = folder / EXPORT_FILES["litert"]
    # One input a call, of a fixed shape: an open batch or length makes the converter fall
    # back to TensorFlow ops (for an RNN's loop) that the LiteRT interpreter lacks.
    shape = (1, *samples.arrays.shape[1:])
    model.export(str(path), format="litert", verbose=False,
                 input_signature=[keras.InputSpec(shape=shape, dtype=dtype)])
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    given, answer = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for row in samples.arrays.astype(dtype):
        interpreter.set_tensor(given["index"], row[np.newaxis])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(answer["index"]).copy())
    takes = _numeric_takes(predictor, shape, dtype)
    notes = ["one input per call: the batch is fixed at 1"]
    if predictor.family.is_text:
        notes.append(_NUMERIC_ONLY.format(format="LiteRT", takes=takes))
    return takes, [Check("LiteRT interpreter", len(samples.arrays),
                         _difference(np.concatenate(outputs), samples.expected))], notes


# --------------------------------------------------------------------------- README


def _readme(predictor: Predictor, format: str, takes: str, checks: list[Check],
            notes: list[str]) -> str:
    config, run = predictor.config, predictor.run
    metrics = {key: value for key, value in predictor.recorded_metrics().items()
               if key.startswith("test_") and isinstance(value, (int, float))}
    lines = [
        f"# {config.name}: {format} export",
        "",
        f"Exported by `dlcourse export` from the run `{run.path}`.",
        "",
        *(f"- {key}: {value if isinstance(value, int) or float(value).is_integer() else f'{value:.4f}'}"
          for key, value in metrics.items()),
        "",
        "## Signature",
        "",
        f"- Input: {takes}.",
        f"- Output: {_output_text(predictor, batch='1' if format == 'litert' else 'N')}.",
        *(f"- Note: {note}." for note in notes),
        "",
        "## Example",
        "",
        "```python",
        *_example(predictor, format),
        "```",
        "",
        "## Check at export",
        "",
        f"Loaded with {_RUNTIME[format]}, the export predicted the run's first test inputs "
        "as the Keras model does:",
        "",
        *(f"- {check.line()}" for check in checks),
        "",
    ]
    return "\n".join(lines)


def _output_text(predictor: Predictor, batch: str) -> str:
    names = predictor.class_names
    if names is None:
        return f"float32 ({batch}, 1), the predicted number"
    if predictor.model.output_shape[-1] == 1:
        return f"float32 ({batch}, 1), the probability of {names[1]!r} (against {names[0]!r})"
    return (f"float32 ({batch}, {len(names)}), the probability of each class: "
            f"{json.dumps(list(names))}")


def _example(predictor: Predictor, format: str) -> list[str]:
    if format == "saved_model":
        if predictor.family.is_text:
            return ["import tensorflow as tf", "",
                    'model = tf.saved_model.load("PATH/TO/THIS/FOLDER")',
                    'probabilities = model.serve(tf.constant(["A wonderful, moving film.",',
                    '                                         "Dull and far too long."]))',
                    "print(probabilities.numpy())"]
        return ["import numpy as np, tensorflow as tf", "",
                'model = tf.saved_model.load("PATH/TO/THIS/FOLDER")',
                f"images = np.zeros((1, {', '.join(map(str, predictor.input_shape))}), "
                "'float32')  # pixels in [0, 1]",
                "print(model.serve(images).numpy())"]
    example = _example_input_line(predictor)
    if format == "onnx":
        return ["import numpy as np, onnxruntime", "",
                f'session = onnxruntime.InferenceSession("{EXPORT_FILES["onnx"]}")',
                example,
                "print(session.run(None, {session.get_inputs()[0].name: x})[0])"]
    return ["import numpy as np", "from ai_edge_litert.interpreter import Interpreter", "",
            f'interpreter = Interpreter(model_path="{EXPORT_FILES["litert"]}")',
            "interpreter.allocate_tensors()",
            example,
            'interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)',
            "interpreter.invoke()",
            'print(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))']


# The review whose encoding the README of a word-index export shows.
EXAMPLE_REVIEW = "A wonderful, moving film."


def _example_input_line(predictor: Predictor) -> str:
    """The example's input: zeros for pictures and bags, and for word indices a review's
    own (padding alone gave a fastText model's masked average NaN: `[[nan]]`)."""
    dtype = predictor.model.inputs[0].dtype
    if not predictor.family.is_text:
        return f"x = np.zeros((1, {', '.join(map(str, predictor.input_shape))}), '{dtype}')" \
            "  # pixels in [0, 1]"
    encoded = predictor.prepare_texts([EXAMPLE_REVIEW]).arrays[0]
    zeros = f"x = np.zeros((1, {', '.join(map(str, encoded.shape))}), '{dtype}')"
    if not np.issubdtype(encoded.dtype, np.integer):
        return f"{zeros}  # `dlcourse predict`'s encoding of a text: a bag of its words"
    words = np.flatnonzero(encoded)
    start, end = int(words[0]), int(words[-1]) + 1
    return (f"{zeros}\nx[0, {start}:{end}] = {encoded[start:end].tolist()}  # "
            f"{EXAMPLE_REVIEW!r}, as `dlcourse predict` encodes it")
