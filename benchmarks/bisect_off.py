"""Where would `off` lose time against the plain script? Bisected inside one process.

`execution.speedups=off` is meant to be the plain script's computation at its speed. Two
processes timed side by side on this machine differ by 10-20% on identical work, so
the differences are taken apart here, in one process, epoch after epoch, in turns:

    plain    the plain script's model (no Input layer) on keras.datasets + pad_sequences
    model    dlcourse's model (the builder, plan `off`) on the same arrays
    data     dlcourse's model on dlcourse's prepared arrays (fit_inputs)
    dlcourse the same with dlcourse's callbacks: the history recorder and the backup

Each step adds one of the differences between the two sides. Every round builds each
variant afresh and fits it for a few epochs, in turns (the order reversed every other
round); the plain scripts' own epoch timer times each epoch, and the first (tracing)
epoch of every fit is left out, as in benchmarks/run.py's fastest-epoch column.

    python benchmarks/bisect_off.py --data-dir ../shared/data --config configs/imdb_lstm.yaml
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "plain"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--config", default=str(ROOT / "configs" / "imdb_lstm.yaml"))
    parser.add_argument("--limit", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()
    import keras
    from keras.datasets import imdb
    from keras.utils import pad_sequences

    from _timing import epoch_timer, use_local_files
    from dlcourse.backup import RunBackup
    from dlcourse.callbacks import EpochRecorder
    from dlcourse.config import load_config
    from dlcourse.execution import fit_inputs
    from dlcourse.preparation import prepare
    from dlcourse.rundir import RunDir

    config = load_config(args.config, {"data.limit": args.limit, "fit.epochs": 1,
                                       "execution.speedups": "off"})
    keras.utils.set_random_seed(config.seed)
    use_local_files(args.data_dir)
    (x_plain, y_plain), _ = imdb.load_data(num_words=config.data.num_words)
    x_plain = pad_sequences(x_plain[: args.limit], maxlen=config.data.maxlen)
    y_plain = y_plain[: args.limit]
    prepared = prepare(config, args.data_dir)
    ours = fit_inputs(config, prepared.dataset, prepared.plan).arguments

    def plain_model():
        layer = {"SimpleRNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM,
                 "GRU": keras.layers.GRU}[config.model.layers[1].name]
        model = keras.Sequential([keras.layers.Embedding(config.data.num_words, 32), layer(32),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    scratch = Path(tempfile.mkdtemp(prefix="dlcourse-bisect-"))

    def run_callbacks():
        """A fresh run directory each fit: a backup left by the last fit would resume it."""
        run = RunDir(Path(tempfile.mkdtemp(dir=scratch)))
        return [EpochRecorder(run.write_history, {}), RunBackup(run)]

    plain_arrays = {"x": x_plain, "y": y_plain, "batch_size": config.fit.batch_size,
                    "validation_split": config.fit.validation_split}
    variants = {
        "plain": (plain_model, plain_arrays, lambda: []),
        "model": (prepared.build_again, plain_arrays, lambda: []),
        "data": (prepared.build_again, ours, lambda: []),
        "dlcourse": (prepared.build_again, ours, run_callbacks),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        for name in order:
            build, arguments, callbacks = variants[name]
            timer = epoch_timer(keras)
            build().fit(**arguments, epochs=args.epochs, callbacks=[*callbacks(), timer],
                        verbose=0)
            seconds[name].extend(timer.epoch_seconds[1:])  # the first epoch traces
        print(f"round {round_ + 1}: " + ", ".join(
            f"{name} {min(values[-(args.epochs - 1):]):.2f} s" for name, values in seconds.items()),
            flush=True)
    report = {name: {"median": statistics.median(values), "fastest": min(values),
                     "epochs": [round(v, 3) for v in values]} for name, values in seconds.items()}
    base = report["plain"]
    for name, row in report.items():
        row["median_ratio"] = row["median"] / base["median"]
        row["fastest_ratio"] = row["fastest"] / base["fastest"]
        print(f"{name:9} median {row['median']:.2f} s ({row['median_ratio']:.3f}), "
              f"fastest {row['fastest']:.2f} s ({row['fastest_ratio']:.3f})")
    print(json.dumps({"config": Path(args.config).stem, "limit": args.limit, **report}))


if __name__ == "__main__":
    main()
