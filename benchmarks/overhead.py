"""What dlcourse itself adds to an epoch, timed inside the training process.

With `execution.speedups=off`, dlcourse gives Keras's `fit` the plain script's model and
arrays; what it adds to each epoch is its own callbacks: the history saved as each epoch
ends, and the backup of the weights and optimizer state that resuming needs. The
side-by-side comparison can't resolve a few percent on a noisy machine (the same epoch
varies by 20% there), so this times those callbacks directly, against the epoch they
belong to. The run's own start-up and evaluation are not per epoch and not counted.

    python benchmarks/overhead.py --data-dir ../shared/data --config configs/imdb_lstm.yaml \\
        --epochs 4 --limit 5000

prints one JSON object: the epochs' seconds and the seconds spent in dlcourse's callbacks
in each epoch.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    import dlcourse
    from dlcourse.backup import RunBackup
    from dlcourse.callbacks import EpochRecorder, StopIfDiverged

    spent: dict[int, float] = defaultdict(float)
    for callback in (EpochRecorder, StopIfDiverged, RunBackup):
        for hook in ("on_epoch_begin", "on_epoch_end"):
            _time_hook(callback, hook, spent)
    overrides = {"fit.epochs": args.epochs, "execution.speedups": "off"}
    if args.limit:
        overrides["data.limit"] = args.limit
    with tempfile.TemporaryDirectory(prefix="dlcourse-overhead-") as scratch:
        result = dlcourse.train(args.config, overrides, data_dir=args.data_dir, output_dir=scratch)
    print(json.dumps({
        "epoch_seconds": result.history["epoch_seconds"],
        "callback_seconds": [spent[epoch] for epoch in range(args.epochs)],
    }))


def _time_hook(callback: type, hook: str, spent: dict[int, float]) -> None:
    original = getattr(callback, hook)

    def timed(self, epoch, logs=None):
        started = time.perf_counter()
        try:
            return original(self, epoch, logs)
        finally:
            spent[epoch] += time.perf_counter() - started

    setattr(callback, hook, timed)


if __name__ == "__main__":
    main()
