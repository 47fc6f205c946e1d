"""Crashes `dlcourse train` at exact moments: SIGKILL at the Nth call of one function,
such as inside the backup's writes or its removal.

    python kill_at.py --count COUNTS_JSON [dlcourse arguments ...]
    python kill_at.py --kill PLAN_JSON RESULTS_JSON

--count trains once, killing nothing, and writes how often each function in POINTS was
called during training. --kill reads a list of {"point", "occurrence", "arguments",
"output_dir", "data_dir"} and runs each: the kill comes just before that call, so what it
would have done is lost, as in a real crash; then `dlcourse train --resume` of the run
it left, as a user would. Each is a child forked from this process after TensorFlow is
imported (and before it has run anything), so a run costs its training, not a fresh
interpreter's imports. RESULTS_JSON gets each kill's exit status, and the resume's exit
status and what it printed on stderr.
"""

import json
import os
import signal
import sys
from pathlib import Path

import dlcourse.cli
import dlcourse.rundir
import dlcourse.training
import keras

POINTS = {
    # Writing any file of the run (history, status, metrics, report, ...).
    "write_bytes": (dlcourse.rundir, "write_bytes"),
    # Renaming a finished file or backup folder into place.
    "replace": (os, "replace"),
    # Removing a folder: an old backup, or the backup when the run is finished.
    "rmtree": (__import__("shutil"), "rmtree"),
    # Keras writing weights: the backup's HDF5 file.
    "save_weights": (keras.Model, "save_weights"),
    # Keras writing the model file.
    "save": (keras.Model, "save"),
}


def watch(calls: dict, kill: tuple[str, int] | None) -> None:
    """Count the calls of every function in POINTS once training starts; kill at `kill`."""
    armed = {"on": False}
    for name, (owner, attribute) in POINTS.items():
        original = getattr(owner, attribute)

        def watched(*args, _name=name, _original=original, **kwargs):
            if armed["on"]:
                calls[_name] += 1
                if kill == (_name, calls[_name]):
                    os.kill(os.getpid(), signal.SIGKILL)
            return _original(*args, **kwargs)

        setattr(owner, attribute, watched)
    start = dlcourse.training._fit_and_finish

    def armed_start(*args, **kwargs):
        armed["on"] = True
        return start(*args, **kwargs)

    dlcourse.training._fit_and_finish = armed_start


def train(arguments: list[str]) -> None:
    sys.argv = ["dlcourse", *arguments]
    dlcourse.cli.main()


def in_a_child(run, stderr: str | None = None) -> int:
    """Run `run()` in a forked child; its exit status (negative: killed by that signal).
    With `stderr`, the child's standard error goes to that file."""
    pid = os.fork()
    if pid == 0:
        if stderr:
            descriptor = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(descriptor, 2)
            sys.stderr = os.fdopen(2, "w", buffering=1)
        code = 0
        try:
            run()
        except SystemExit as end:
            code = end.code if isinstance(end.code, int) else 1
        except BaseException:
            code = 1
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main(mode: str, *rest: str) -> None:
    if mode == "--count":
        counts_file, *arguments = rest
        calls = {name: 0 for name in POINTS}

        def count():
            watch(calls, None)
            try:
                train(arguments)
            finally:
                with open(counts_file, "w") as handle:
                    json.dump(calls, handle)

        sys.exit(in_a_child(count))
    plan_file, results_file = rest
    with open(plan_file) as handle:
        plan = json.load(handle)
    results = []
    for item in plan:
        def killed(item=item):
            watch({name: 0 for name in POINTS}, (item["point"], item["occurrence"]))
            train(item["arguments"])

        result = {**item, "exit": in_a_child(killed)}
        runs = sorted(path.parent for path in Path(item["output_dir"]).glob("*/*/config.yaml"))
        if runs:
            (run_dir,) = runs
            errors = os.path.join(item["output_dir"], "resume.stderr")
            result["run_dir"] = str(run_dir)
            result["resume_exit"] = in_a_child(
                lambda: train(["train", "--resume", str(run_dir), "--data-dir", item["data_dir"]]),
                stderr=errors,
            )
            result["resume_stderr"] = Path(errors).read_text()
        results.append(result)
    with open(results_file, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
