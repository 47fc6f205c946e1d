"""dlcourse against the plain Keras scripts, side by side, written to benchmarks/RESULTS.md.

Each lecture model is trained on the same real data by three sides:

    plain  the script a student writes from the slides (benchmarks/plain/)
    off    dlcourse train with execution.speedups=off: the lecture's exact computation
    auto   dlcourse train as shipped: the speed-ups it picks for the model, machine and run

at several run lengths, because what a user waits for is the whole command, and a
speed-up that pays in a full run can cost a short one:

    smoke   --smoke: 256 reviews or images, 1 epoch
    5000x2  the first 5,000, 2 epochs (a student's quick change)
    8000x4  the first 8,000, 4 epochs (per-epoch timing of `off` against `plain`)
    full    the config as shipped: all the data, all its epochs

Every run is its own process and is timed whole, start to exit, with its time to the
first finished epoch and each epoch's seconds. The sides alternate within each round
(plain off auto, then auto off plain, ...), so a slow spell of the machine hits all of
them; the report gives medians over rounds with their spread. Models without a plain
script (the BiLSTM, stacked LSTM, raw-text LSTM) are measured `off` against `auto`.

    python benchmarks/run.py --data-dir ../shared/data --lengths smoke,5000x2,8000x4
    python benchmarks/run.py --data-dir ../shared/data --lengths full --models imdb_simplernn,imdb_lstm,imdb_gru

All runs of one invocation share a dlcourse cache that starts empty: round 1 prepares the
data and compiles XLA's shapes as a user's first run does, later rounds find them cached.
Runs add to RESULTS.json (a run of the same model, length, side and round is replaced),
so the long full runs and the short ones can be measured separately. Last,
benchmarks/overhead.py times what dlcourse adds to each epoch (its callbacks) inside the
process, which side-by-side timings are too noisy to resolve.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIDES = ("plain", "off", "auto")


@dataclass(frozen=True)
class Benchmark:
    """One model: its dlcourse config and, for the lecture's four, its plain script."""

    config: str
    script: str | None
    overrides: tuple[str, ...] = ()


BENCHMARKS = {
    "mnist_cnn": Benchmark("configs/mnist_cnn.yaml", "mnist_cnn.py"),
    "imdb_simplernn": Benchmark("configs/imdb_simplernn.yaml", "imdb_simplernn.py"),
    "imdb_lstm": Benchmark("configs/imdb_lstm.yaml", "imdb_lstm.py"),
    "imdb_gru": Benchmark("configs/imdb_gru.yaml", "imdb_gru.py"),
    "imdb_bilstm": Benchmark("configs/imdb_bilstm.yaml", None),
    "imdb_stacked_lstm": Benchmark("configs/imdb_stacked_lstm.yaml", None),
    "imdb_text_lstm": Benchmark("configs/imdb_text_lstm.yaml", None),
    # The MNIST config validates on the test split every epoch, which the slide's script
    # doesn't: this is what that costs.
    "mnist_cnn_no_validation": Benchmark("configs/mnist_cnn.yaml", None, ("fit.validation=null",)),
}


@dataclass(frozen=True)
class Length:
    """How much of a model's data and epochs a run trains on (None: the config's own)."""

    epochs: int | None
    limit: int | None
    description: str


LENGTHS = {
    "smoke": Length(1, 256, "`--smoke`: 256 examples, 1 epoch"),
    "5000x2": Length(2, 5000, "the first 5,000 examples, 2 epochs"),
    "8000x4": Length(4, 8000, "the first 8,000 examples, 4 epochs"),
    "full": Length(None, None, "the config as shipped: all the data, all its epochs"),
}
FULL_EPOCHS = {"mnist_cnn": 5, "mnist_cnn_no_validation": 5}  # the others: 10
SCALING_MAXLENS = (100, 250, 500)
SCALING_BATCH_SIZES = (32, 128, 512)
SCALING_EPOCHS = 3  # the median of the two after the compiling first


def main() -> None:
    args = _arguments()
    data_dir = Path(args.data_dir).resolve()
    if not data_dir.is_dir():
        sys.exit(f"benchmarks: --data-dir {data_dir} is not a folder (it needs mnist.npz, imdb.npz)")
    models, lengths, sides = args.models.split(","), args.lengths.split(","), args.sides.split(",")
    for given, known, what in ((models, BENCHMARKS, "model"), (lengths, LENGTHS, "length"),
                               (sides, SIDES, "side")):
        unknown = sorted(set(given) - set(known))
        if unknown:
            sys.exit(f"benchmarks: unknown {what}(s) {', '.join(unknown)}; known: {', '.join(known)}")
    output = Path(args.output)
    saved = output.with_suffix(".json")
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if args.render:
        output.write_text(render(results))
        print(f"Wrote {output}")
        return
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        runner = Runner(data_dir, Path(scratch))
        results.update(machine=machine(), started=results.get("started", runner.started))
        results.setdefault("commands", []).append(" ".join([Path(sys.executable).name, *sys.argv]))
        if args.only_scaling:
            results["scaling"] = runner.scaling(args.scaling_limit)
        elif args.only_overhead:
            results["overhead"] = [runner.overhead(model) for model in models]
        else:
            for round_ in range(args.first_round - 1, args.first_round - 1 + args.rounds):
                for length in lengths:
                    for model in models:
                        # Alternate the order, so that no side always goes first.
                        for side in sides if round_ % 2 == 0 else sides[::-1]:
                            if side == "plain" and not BENCHMARKS[model].script:
                                continue
                            run = runner.run(model, side, round_, length)
                            results["runs"] = [other for other in results.get("runs", [])
                                               if _key(other) != _key(run)] + [run]
                            # Saved after every run: a long benchmark loses nothing to a crash.
                            saved.write_text(json.dumps(results, indent=1) + "\n")
            if args.scaling:
                results["scaling"] = runner.scaling(args.scaling_limit)
            if args.overhead:
                results["overhead"] = [runner.overhead(model) for model in models]
        saved.write_text(json.dumps(results, indent=1) + "\n")
    output.write_text(render(results))
    print(f"Wrote {output} and {saved}")


def _key(run: dict) -> tuple:
    return (run["model"], run.get("length", "?"), run["side"], run["round"])


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DLCOURSE_DATA_DIR", "../shared/data"))
    parser.add_argument("--models", default="mnist_cnn,imdb_simplernn,imdb_lstm,imdb_gru")
    parser.add_argument("--lengths", default="smoke,5000x2,8000x4")
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-round", type=int, default=1,
                        help="number the rounds from this one: a round disturbed by other work "
                        "on the machine is measured again and replaces its runs")
    parser.add_argument("--scaling", action="store_true", help="also time the LSTM grid")
    parser.add_argument("--scaling-limit", type=int, default=3000)
    parser.add_argument("--overhead", action="store_true",
                        help="also time dlcourse's callbacks inside the process")
    parser.add_argument("--only-scaling", action="store_true", help="time the grid alone")
    parser.add_argument("--only-overhead", action="store_true", help="time the callbacks alone")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--render", action="store_true",
                        help="only write the output again from its .json, measuring nothing")
    return parser.parse_args()


class Runner:
    def __init__(self, data_dir: Path, scratch: Path):
        self.data_dir, self.scratch = data_dir, scratch
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.keras_home = scratch / "keras"  # so that nothing is written to ~/.keras
        self.keras_home.mkdir()
        self._count = 0

    def run(self, model: str, side: str, round_: int, length: str = "full", **settings) -> dict:
        bench = BENCHMARKS[model]
        epochs = settings.pop("epochs", LENGTHS[length].epochs or FULL_EPOCHS.get(model, 10))
        limit = settings.pop("limit", LENGTHS[length].limit)
        self._count += 1
        work = self.scratch / f"{self._count:03d}-{model}-{side}"
        work.mkdir()
        if side == "plain":
            command = self._plain(bench, work, epochs, limit, **settings)
        else:
            command = self._dlcourse(bench, work, side, epochs, limit, **settings)
        print(f"[round {round_ + 1}] {model} {length} {side}: {' '.join(command[1:])}", flush=True)
        wall, peak_rss_mb, log, cpu = _measure(command, self._environment())
        if side == "plain":
            report = json.loads((work / "report.json").read_text())
        else:
            report = _dlcourse_report(work)
        history = report["history"]
        epoch_seconds = report["epoch_seconds"]
        result = {
            "model": model,
            "length": length,
            "side": side,
            "round": round_ + 1,
            "epochs": epochs,
            "limit": limit,
            **settings,
            "epoch_seconds": [round(value, 3) for value in epoch_seconds],
            "epoch_cpu_seconds": [round(value, 3) for value in report.get("epoch_cpu_seconds", [])],
            "seconds_per_epoch": round(_steady(epoch_seconds), 3),
            "seconds_to_first_epoch": round(report["seconds_to_first_epoch"], 2),
            "wall_seconds": round(wall, 1),
            # The process's own CPU time: on a shared virtual machine it varies less than
            # wall time, as time other guests take from the cores isn't in it.
            "cpu_seconds": round(cpu, 1),
            "peak_rss_mb": round(peak_rss_mb),
            # Without validation (the MNIST CNN as the slide trains it): the test accuracy.
            "val_accuracy": (history.get("val_accuracy") or [report.get("test_accuracy")])[-1],
            "best_val_accuracy": max(history.get("val_accuracy") or [report.get("test_accuracy")]),
        }
        if "execution" in report:
            result["execution"] = report["execution"]
        # Runs of other days may have had another host CPU: XLA compiles for the one it has.
        result["vector_isa"] = vector_isa()
        print(
            f"    {result['wall_seconds']:.1f} s in all, {result['seconds_per_epoch']:.2f} s/epoch, first epoch at "
            f"{result['seconds_to_first_epoch']:.1f} s, {result['peak_rss_mb']} MB, "
            f"val accuracy {result['val_accuracy'] or 0:.4f}",
            flush=True,
        )
        return result

    def scaling(self, limit: int) -> list[dict]:
        """IMDB LSTM seconds per epoch over sequence length x batch size, both sides."""
        runs = []
        for maxlen in SCALING_MAXLENS:
            for batch_size in SCALING_BATCH_SIZES:
                for side in ("plain", "auto"):
                    runs.append(
                        self.run("imdb_lstm", side, 0, "full", epochs=SCALING_EPOCHS,
                                 limit=limit, maxlen=maxlen, batch_size=batch_size)
                    )
        return runs

    def overhead(self, model: str) -> dict:
        """The seconds dlcourse's callbacks take in each epoch (benchmarks/overhead.py)."""
        bench = BENCHMARKS[model]
        length = LENGTHS["8000x4"]
        command = [sys.executable, str(HERE / "overhead.py"), "--config", str(ROOT / bench.config),
                   "--data-dir", str(self.data_dir), "--epochs", str(length.epochs),
                   "--limit", str(length.limit)]
        print(f"[overhead] {model}: {' '.join(command[1:])}", flush=True)
        _, _, log, _ = _measure(command, self._environment())
        timings = json.loads(log.strip().splitlines()[-1])
        epochs, callbacks = timings["epoch_seconds"][1:], timings["callback_seconds"][1:]
        result = {
            "model": model,
            "epoch_seconds": round(statistics.median(epochs), 3),
            "callback_ms": round(1000 * statistics.median(callbacks), 1),
            "share": sum(callbacks) / sum(epochs),
        }
        print(f"    {result['callback_ms']} ms of {result['epoch_seconds']} s per epoch "
              f"({100 * result['share']:.2f}%)", flush=True)
        return result

    def _plain(self, bench, work, epochs, limit, maxlen=None, batch_size=None) -> list[str]:
        command = [sys.executable, str(HERE / "plain" / bench.script), "--epochs", str(epochs),
                   "--report", str(work / "report.json"), "--data-dir", str(self.data_dir)]
        if limit:
            command += ["--limit", str(limit)]
        if maxlen:
            command += ["--maxlen", str(maxlen)]
        if batch_size:
            command += ["--batch-size", str(batch_size)]
        return command

    def _dlcourse(self, bench, work, side, epochs, limit, maxlen=None, batch_size=None) -> list[str]:
        overrides = [f"fit.epochs={epochs}", f"execution.speedups={side}", *bench.overrides]
        if limit:
            overrides.append(f"data.limit={limit}")
        if maxlen:
            overrides.append(f"data.maxlen={maxlen}")
        if batch_size:
            overrides.append(f"fit.batch_size={batch_size}")
        command = [sys.executable, "-m", "dlcourse", "train", str(ROOT / bench.config),
                   "--data-dir", str(self.data_dir), "--output-dir", str(work / "runs")]
        for override in overrides:
            command += ["--set", override]
        return command

    def _environment(self) -> dict[str, str]:
        # One cache for the whole benchmark, empty at its start: the first round prepares
        # the data and compiles XLA's shapes, as a user's first run does; later rounds find
        # them cached, as a user's later runs do.
        env = dict(os.environ, KERAS_HOME=str(self.keras_home), DLCOURSE_OFFLINE="1",
                   DLCOURSE_CACHE_DIR=str(self.scratch / "cache"))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env


def _measure(command: list[str], env: dict[str, str]) -> tuple[float, float, str, float]:
    """Run to the end; its wall time, peak resident memory (MB), output and CPU seconds
    (user and system, from wait4's rusage)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"benchmarks: {' '.join(command)} failed ({process.returncode}):\n{log[-3000:]}")
    return wall, usage.ru_maxrss / 1024, log, usage.ru_utime + usage.ru_stime  # Linux: kB


def _dlcourse_report(work: Path) -> dict:
    (run_dir,) = [path.parent for path in (work / "runs").glob("*/*/metrics.json")]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    return {
        "epoch_seconds": history["epoch_seconds"],
        "epoch_cpu_seconds": history.get("epoch_cpu_seconds", []),
        "seconds_to_first_epoch": metrics["seconds_to_first_epoch"],
        "history": history,
        "execution": metrics["execution"],
        "test_accuracy": metrics.get("test_accuracy"),
    }


def _steady(epoch_seconds: list[float]) -> float:
    """The median epoch without the first, which pays for tracing and compiling."""
    return statistics.median(epoch_seconds[1:] or epoch_seconds)


def vector_isa() -> str:
    """The widest vector instructions the CPU offers (avx512, avx2, ...): hosts of one
    cloud machine type differ in them, and XLA's code and speed with them."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set()
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    for isa in ("avx512f", "avx2", "avx", "sse4_2"):
        if isa in flags:
            return isa.removesuffix("f")
    return "unknown"


def machine() -> dict[str, str]:
    import importlib.metadata as metadata

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kilobytes = int(meminfo.read_text().split()[1])
        memory = f"{kilobytes / 2**20:.0f} GiB"
    return {
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "vector_isa": vector_isa(),
        "memory": memory,
        "gpu": "none" if not Path("/dev/nvidia0").exists() else "yes",
        "os": platform.platform(),
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in ("tensorflow", "keras", "numpy")},
    }


# --------------------------------------------------------------------------- report


def groups(runs: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Runs by (model, length, side), in round order."""
    found: dict[tuple[str, str, str], list[dict]] = {}
    for run in sorted(runs, key=lambda run: run["round"]):
        found.setdefault((run["model"], run.get("length", "full"), run["side"]), []).append(run)
    return found


def summarise(runs: list[dict]) -> dict[tuple[str, str, str], dict]:
    """Per (model, length, side): medians over rounds, epochs after the first pooled."""
    summary = {}
    for key, group in groups(runs).items():
        later = [value for run in group for value in run["epoch_seconds"][1:]]
        summary[key] = {
            "wall": statistics.median(run["wall_seconds"] for run in group),
            "walls": [run["wall_seconds"] for run in group],
            "cpu": statistics.median(run.get("cpu_seconds", math.nan) for run in group),
            # auto planned nothing that off doesn't do: the very same computation.
            "exact": all(not run.get("execution", {}).get("bucketing")
                         and run.get("execution", {}).get("jit_compile") is not True
                         for run in group),
            "first_epoch_at": statistics.median(run["seconds_to_first_epoch"] for run in group),
            "seconds_per_epoch": statistics.median(later or [r["seconds_per_epoch"] for r in group]),
            "fastest_epochs": [min(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in group],
            "fastest_epoch": statistics.median(
                min(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in group),
            "epoch_cpu": statistics.median(_epoch_cpu(run) for run in group),
            "peak_rss_mb": statistics.median(run["peak_rss_mb"] for run in group),
            "val_accuracy": [run["val_accuracy"] for run in group],
            "best_val_accuracy": [run["best_val_accuracy"] for run in group],
            "rounds": len(group),
        }
    return summary


def per_round_ratios(runs: list[dict], model: str, length: str, side: str, against: str,
                     measure: str = "wall_seconds") -> list[float]:
    """side / against in each round both ran: the spread of the comparison."""
    found = groups(runs)
    mine = {run["round"]: run for run in found.get((model, length, side), [])}
    theirs = {run["round"]: run for run in found.get((model, length, against), [])}
    return [_value(mine[r], measure) / _value(theirs[r], measure) for r in sorted(mine) if r in theirs]


def _value(run: dict, measure: str) -> float:
    if measure == "fastest_epoch":
        return min(run["epoch_seconds"][1:] or run["epoch_seconds"])
    if measure == "epoch_cpu":
        return _epoch_cpu(run)
    return run[measure]


def _epoch_cpu(run: dict) -> float:
    """The run's median CPU seconds per epoch after the first (nan if not recorded)."""
    values = run.get("epoch_cpu_seconds") or []
    return statistics.median(values[1:] or values) if values else math.nan


def render(results: dict) -> str:
    runs = results.get("runs", [])
    summary = summarise(runs)
    models = [name for name in BENCHMARKS if any(run["model"] == name for run in runs)]
    lengths = [name for name in LENGTHS if any(run.get("length") == name for run in runs)]
    commands = results.get("commands") or [results.get("command", "?")]
    lines = [
        "# Benchmarks: dlcourse against the plain Keras scripts",
        "",
        "Written by `benchmarks/run.py`; do not edit by hand. The raw numbers are in",
        "`RESULTS.json`.",
        "",
        "- **Commands:** " + "; ".join(f"`{command}`" for command in commands),
        f"- **Started:** {results.get('started', '?')}",
        "- **Machine:** " + ", ".join(f"{key} {value}" for key, value in results.get("machine", {}).items()),
        "- **Sides:** `plain` is the script a student writes from the slides "
        "(benchmarks/plain/); `off` is `dlcourse train` with `execution.speedups=off`, the "
        "lecture's exact computation; `auto` is `dlcourse train` as shipped.",
        "- **Lengths:** " + "; ".join(f"`{name}` {LENGTHS[name].description}" for name in lengths),
        "- **Whole command** is the process's wall time, start to exit (imports, loading the "
        "data, compiling, training, evaluating, writing the run). **First epoch at** is from "
        "the process's start to the end of epoch 1. Medians over rounds; the range is the "
        "fastest and the slowest round. A ratio is of the medians, each round's own after it. "
        "Round 1 of each command starts with an empty dlcourse cache, so its XLA runs "
        "compile every shape, as a user's first run on a machine does; later rounds load "
        "them, as a user's later runs do.",
        "",
        "## The whole command",
        "",
        "| model | length | plain (s) | off (s) | auto (s) | auto / off (per round) | "
        "auto / off, CPU time | plain / auto (per round) | first epoch at: off / auto (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in models:
        for length in lengths:
            cells = {side: summary.get((name, length, side)) for side in SIDES}
            if not cells["auto"] and not cells["off"]:
                continue
            ratio = speedup = cpu = "-"
            if cells["auto"] and cells["off"]:
                rounds = per_round_ratios(runs, name, length, "auto", "off")
                ratio = f"**{cells['auto']['wall'] / cells['off']['wall']:.2f}** " \
                        f"({', '.join(f'{value:.2f}' for value in rounds)})"
                if cells["auto"]["exact"]:
                    ratio += ", same computation"
                if not math.isnan(cells["auto"]["cpu"] / cells["off"]["cpu"]):
                    cpu = f"{cells['auto']['cpu'] / cells['off']['cpu']:.2f}"
            if cells["auto"] and cells["plain"]:
                rounds = per_round_ratios(runs, name, length, "plain", "auto")
                speedup = f"{cells['plain']['wall'] / cells['auto']['wall']:.2f}x"
                if len(rounds) > 1:
                    speedup += f" ({', '.join(f'{value:.2f}' for value in rounds)})"
            first = " / ".join(f"{cells[side]['first_epoch_at']:.1f}" if cells[side] else "-"
                               for side in ("off", "auto"))
            lines.append(
                f"| {name} | {length} | {_wall(cells['plain'])} | {_wall(cells['off'])} | "
                f"{_wall(cells['auto'])} | {ratio} | {cpu} | {speedup} | {first} |"
            )
    lines += [
        "",
        "## Per epoch: `off` against `plain`",
        "",
        "The same computation on both sides: `off` hands Keras's `fit` the plain script's "
        "model and arrays. The fastest epoch after the first of each run (its best case), "
        "median over rounds; the median of all epochs after the first; and the CPU time of "
        "an epoch (all the process's threads; median after the first, then over rounds), "
        "which on a shared virtual machine leaves out the time other guests take from the "
        "cores (the hypervisor's steal), so it shows the computation's own cost.",
        "",
        "| model | length | fastest epoch: plain / off (s) | off / plain (per round) | "
        "median epoch: plain / off (s) | off / plain | CPU per epoch: plain / off (s) | "
        "off / plain, CPU (per round) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in models:
        for length in lengths:
            plain, off = summary.get((name, length, "plain")), summary.get((name, length, "off"))
            if not plain or not off or (LENGTHS[length].epochs or 2) < 2:
                continue
            rounds = per_round_ratios(runs, name, length, "off", "plain", "fastest_epoch")
            cpu_rounds = [value for value in per_round_ratios(
                runs, name, length, "off", "plain", "epoch_cpu") if not math.isnan(value)]
            cpu = "- | -"
            if cpu_rounds:
                cpu = (f"{plain['epoch_cpu']:.2f} / {off['epoch_cpu']:.2f} | "
                       f"**{statistics.median(cpu_rounds):.3f}** "
                       f"({', '.join(f'{v:.3f}' for v in cpu_rounds)})")
            lines.append(
                f"| {name} | {length} | {plain['fastest_epoch']:.2f} / {off['fastest_epoch']:.2f} "
                f"| **{statistics.median(rounds):.3f}** ({', '.join(f'{v:.3f}' for v in rounds)}) "
                f"| {plain['seconds_per_epoch']:.2f} / {off['seconds_per_epoch']:.2f} | "
                f"{off['seconds_per_epoch'] / plain['seconds_per_epoch']:.3f} | {cpu} |"
            )
    lines += [
        "",
        "## Per epoch: every side",
        "",
        "| model | length | side | s/epoch (median after the first) | fastest epoch | "
        "peak RSS (MB) | best val accuracy per round |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in models:
        for length in lengths:
            for side in SIDES:
                row = summary.get((name, length, side))
                if row is None or (LENGTHS[length].epochs or 2) < 2:
                    continue
                accuracy = ", ".join(f"{value:.4f}" for value in row["best_val_accuracy"])
                lines.append(
                    f"| {name} | {length} | {side} | {row['seconds_per_epoch']:.2f} | "
                    f"{row['fastest_epoch']:.2f} | {row['peak_rss_mb']:.0f} | {accuracy} |"
                )
    lines.append("")
    if results.get("overhead"):
        lines += _overhead_table(results["overhead"])
    if results.get("scaling"):
        lines += _scaling_table(results["scaling"])
    if results.get("serving"):
        lines += _serving_table(results["serving"])
    lines += ["## Every run", "", "| round | model | length | side | whole command (s) | "
              "epoch seconds | first epoch at | peak RSS | best val accuracy | execution |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs + results.get("scaling", []):
        label = run["model"] + "".join(
            f" {key}={run[key]}" for key in ("maxlen", "batch_size") if key in run
        )
        execution = ", ".join(f"{k}={v}" for k, v in run.get("execution", {}).items()) or "-"
        lines.append(
            f"| {run['round']} | {label} | {run.get('length', '-')} | {run['side']} | "
            f"{run['wall_seconds']:.1f} | "
            f"{' '.join(f'{value:.2f}' for value in run['epoch_seconds'])} | "
            f"{run['seconds_to_first_epoch']:.1f} | {run['peak_rss_mb']} | "
            f"{run['best_val_accuracy']:.4f} | {execution} |"
        )
    return "\n".join(lines) + "\n"


def _wall(row: dict | None) -> str:
    if row is None:
        return "-"
    if len(row["walls"]) == 1:
        return f"{row['wall']:.1f}"
    return f"{row['wall']:.1f} ({min(row['walls']):.1f}-{max(row['walls']):.1f})"


def _serving_table(serving: dict) -> list[str]:
    """benchmarks/serve.py's figures: medians over rounds of each model, side and load."""
    import statistics

    groups: dict[tuple, list[dict]] = {}
    for row in serving["measured"]:
        groups.setdefault((row["model"], row["concurrency"], row["side"]), []).append(row)
    lines = [
        "## Serving: `dlcourse serve` under load",
        "",
        f"Written by `benchmarks/serve.py` (`{serving['command']}`), "
        f"{serving['requests']} requests per load, one input per request: an MNIST digit as "
        "a base64 PNG, or one IMDB test review. `traced` is `dlcourse serve` (the model called "
        "through one traced function); `model.predict` is the same server calling "
        "`model.predict` for each request. Client and server share the machine's cores. "
        "Medians over rounds.",
        "",
        "| model | concurrency | traced req/s | traced p50 (ms) | traced p99 (ms) | "
        "model.predict req/s | model.predict p50 (ms) | traced / model.predict req/s | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    models = list(dict.fromkeys(row["model"] for row in serving["measured"]))
    for model in models:
        for concurrency in sorted({c for m, c, _ in groups if m == model}):
            median = {side: {key: statistics.median(row[key] for row in groups[(model, concurrency, side)])
                             for key in ("requests_per_second", "p50_ms", "p99_ms")}
                      for side in ("traced", "model.predict") if (model, concurrency, side) in groups}
            errors = sum(row["errors"] for side in ("traced", "model.predict")
                         for row in groups.get((model, concurrency, side), []))
            traced, peer = median.get("traced", {}), median.get("model.predict", {})
            ratio = (f"{traced['requests_per_second'] / peer['requests_per_second']:.2f}"
                     if traced and peer else "-")
            lines.append(
                f"| {model} | {concurrency} | {traced.get('requests_per_second', 0):.1f} | "
                f"{traced.get('p50_ms', 0):.1f} | {traced.get('p99_ms', 0):.1f} | "
                f"{peer.get('requests_per_second', 0):.1f} | {peer.get('p50_ms', 0):.1f} | "
                f"{ratio} | {errors} |")
    return lines + [""]


def _overhead_table(overhead: list[dict]) -> list[str]:
    lines = [
        "## What dlcourse adds to each epoch",
        "",
        "Per epoch dlcourse adds only its callbacks (the history saved, the backup of "
        "weights, optimizer and random-number state). `benchmarks/overhead.py` times them "
        "inside the process, `off`, the first 8,000 examples, epochs after the first:",
        "",
        "| model | seconds per epoch | dlcourse's callbacks per epoch | share of the epoch |",
        "| --- | --- | --- | --- |",
    ]
    for row in overhead:
        lines.append(f"| {row['model']} | {row['epoch_seconds']:.2f} | {row['callback_ms']:.0f} ms "
                     f"| {100 * row['share']:.2f}% |")
    return lines + [""]


def _scaling_table(runs: list[dict]) -> list[str]:
    limit = runs[0]["limit"]
    lines = [
        "## Scaling: IMDB LSTM seconds per epoch",
        "",
        f"The first {limit:,} reviews (80% trained on), {SCALING_EPOCHS} epochs, one run each; "
        "`plain` / `auto` in each cell, the faster of the epochs after the first (bursts of "
        "load on this machine can double a single epoch: see every run below).",
        "",
        "| sequence length | " + " | ".join(f"batch {size}" for size in SCALING_BATCH_SIZES) + " |",
        "| --- |" + " --- |" * len(SCALING_BATCH_SIZES),
    ]
    for maxlen in SCALING_MAXLENS:
        cells = []
        for batch_size in SCALING_BATCH_SIZES:
            sides = {r["side"]: min(r["epoch_seconds"][1:]) for r in runs
                     if r["maxlen"] == maxlen and r["batch_size"] == batch_size}
            cells.append(" / ".join(f"{sides[s]:.2f}" for s in ("plain", "auto") if s in sides))
        lines.append(f"| {maxlen} | " + " | ".join(cells) + " |")
    return lines + [""]


if __name__ == "__main__":
    main()
