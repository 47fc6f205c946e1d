"""What every plain script shares: its command line and the timings it reports.

Kept apart so the four scripts read as the code on the slides. Nothing here changes
what Keras computes: a callback notes the time at the end of each epoch.
"""

import argparse
import json
import time

STARTED = time.perf_counter()


def arguments(epochs: int, batch_size: int):
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--limit", type=int, default=None, help="use the first N train and test samples")
    parser.add_argument("--maxlen", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--report", required=True, help="JSON file for the timings")
    parser.add_argument("--data-dir", required=True, help="where mnist.npz and imdb.npz are")
    return parser.parse_args()


def use_local_files(data_dir):
    """Point Keras's own dataset loaders at the local files instead of downloading.

    keras.datasets checks a file's hash against Keras's download; the local files are
    rebuilt copies with other hashes, so the loaders are handed the file directly. The
    loading itself (shuffling, index offsets, the Python loops) is Keras's, unchanged.
    """
    import os

    from keras.src.datasets import imdb, mnist

    def get_file(fname=None, origin=None, **kwargs):
        return os.path.join(data_dir, os.path.basename(origin))

    imdb.get_file = mnist.get_file = get_file


def epoch_timer(keras):
    class EpochTimer(keras.callbacks.Callback):
        # As dlcourse counts an epoch: from the end of the one before (from its start for
        # the first), so that whatever runs between epochs is counted too.
        # The CPU time too (all threads), as dlcourse's history records it.
        def on_train_begin(self, logs=None):
            self.epoch_seconds, self.first_epoch_end, self.last_end = [], None, None
            self.epoch_cpu_seconds, self.last_end_cpu = [], None

        def on_epoch_begin(self, epoch, logs=None):
            self.started = self.last_end or time.perf_counter()
            self.started_cpu = self.last_end_cpu or time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.last_end, self.last_end_cpu = time.perf_counter(), time.process_time()
            self.epoch_seconds.append(self.last_end - self.started)
            self.epoch_cpu_seconds.append(self.last_end_cpu - self.started_cpu)
            if self.first_epoch_end is None:
                self.first_epoch_end = self.last_end - STARTED

    return EpochTimer()


def write_report(path, timer, history):
    with open(path, "w") as file:
        json.dump(
            {
                "epoch_seconds": timer.epoch_seconds,
                "epoch_cpu_seconds": timer.epoch_cpu_seconds,
                "seconds_to_first_epoch": timer.first_epoch_end,
                "history": {key: [float(v) for v in values] for key, values in history.history.items()},
            },
            file,
        )
