"""dlcourse against the plain Keras scripts, side by side, written to benchmarks/RESULTS.md.

Each lecture model is trained on the same real data for the same epochs by three sides:

    plain  the script a student writes from the slides (benchmarks/plain/)
    off    dlcourse train with execution.speedups=off: the lecture's exact computation
    auto   dlcourse train as shipped: the speed-ups it picks for the model and machine

Every run is its own process, so each pays its own start-up and is measured alone. The
sides alternate within each round (plain off auto, then auto off plain, ...), so a slow
spell of the machine hits all of them. Per side the runner reports the median seconds
per epoch without the first (which compiles), time to first epoch, peak resident memory
and the last validation accuracy.

    python benchmarks/run.py --data-dir ../shared/data            # 20-27 minutes
    python benchmarks/run.py --data-dir ../shared/data --rounds 1 # about 9 minutes
    python benchmarks/run.py --data-dir ../shared/data --scaling  # plus about 10 for the grid

Last, benchmarks/overhead.py times what dlcourse adds to each epoch (its callbacks) inside
the process, which the side-by-side timings are too noisy to resolve.
"""

from __future__ import annotations

import argparse
import json
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
    """One lecture model: its dlcourse config, its plain script, and how much to train."""

    config: str
    script: str
    epochs: int
    limit: int | None  # the first N train (and test) samples; None: all


# Subsets and 4 epochs, so that a round of all three sides takes about 9 minutes on 2 CPU
# cores; 3 epochs a run after the first are timed. A machine this small is noisy (the same
# epoch varies by 20%), so the default is 3 rounds.
BENCHMARKS = {
    "mnist_cnn": Benchmark("configs/mnist_cnn.yaml", "mnist_cnn.py", epochs=4, limit=10000),
    "imdb_simplernn": Benchmark("configs/imdb_simplernn.yaml", "imdb_simplernn.py", 4, 5000),
    "imdb_lstm": Benchmark("configs/imdb_lstm.yaml", "imdb_lstm.py", epochs=4, limit=5000),
    "imdb_gru": Benchmark("configs/imdb_gru.yaml", "imdb_gru.py", epochs=4, limit=5000),
}
SCALING_MAXLENS = (100, 250, 500)
SCALING_BATCH_SIZES = (32, 128, 512)
SCALING_EPOCHS = 3  # the median of the two after the compiling first


def main() -> None:
    args = _arguments()
    data_dir = Path(args.data_dir).resolve()
    if not data_dir.is_dir():
        sys.exit(f"benchmarks: --data-dir {data_dir} is not a folder (it needs mnist.npz, imdb.npz)")
    models = args.models.split(",")
    unknown = sorted(set(models) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"benchmarks: unknown model(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    output = Path(args.output)
    if args.render:
        output.write_text(render(json.loads(output.with_suffix(".json").read_text())))
        print(f"Wrote {output}")
        return
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        runner = Runner(data_dir, Path(scratch), args.epochs, args.limit)
        saved = output.with_suffix(".json")
        if args.only_scaling:
            results = json.loads(saved.read_text())
            results["scaling_command"] = " ".join([Path(sys.executable).name, *sys.argv])
            results["scaling"] = runner.scaling(args.scaling_limit)
        elif args.only_overhead:
            results = json.loads(saved.read_text())
            results["overhead"] = [runner.overhead(model) for model in models]
        else:
            results = {
                "machine": machine(),
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "started": runner.started,
                "benchmarks": {name: vars(BENCHMARKS[name]) for name in models},
                "overrides": {"epochs": args.epochs, "limit": args.limit},
                "runs": [
                    runner.run(model, side, round_)
                    for round_ in range(args.rounds)
                    # Alternate the order, so that no side always goes first.
                    for model in models
                    for side in (SIDES if round_ % 2 == 0 else SIDES[::-1])
                ],
                "scaling": runner.scaling(args.scaling_limit) if args.scaling else [],
                "overhead": [runner.overhead(model) for model in models],
            }
            if not args.scaling and saved.exists():
                # The grid takes long; a comparison run without --scaling keeps the last one.
                kept = json.loads(saved.read_text())
                if kept.get("scaling"):
                    results["scaling"] = kept["scaling"]
                    results["scaling_command"] = kept.get("scaling_command", kept["command"])
        saved.write_text(json.dumps(results, indent=1) + "\n")
    output.write_text(render(results))
    print(f"Wrote {output} and {saved}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DLCOURSE_DATA_DIR", "../shared/data"))
    parser.add_argument("--models", default=",".join(BENCHMARKS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override every model's epochs")
    parser.add_argument("--limit", type=int, help="override every model's sample limit")
    parser.add_argument("--scaling", action="store_true", help="also time the LSTM grid")
    parser.add_argument("--scaling-limit", type=int, default=3000)
    parser.add_argument("--only-scaling", action="store_true",
                        help="time the grid again; keep the comparison in the output's .json")
    parser.add_argument("--only-overhead", action="store_true",
                        help="time dlcourse's callbacks again; keep the rest of the output's .json")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--render", action="store_true",
                        help="only write the output again from its .json, measuring nothing")
    return parser.parse_args()


class Runner:
    def __init__(self, data_dir: Path, scratch: Path, epochs: int | None, limit: int | None):
        self.data_dir, self.scratch = data_dir, scratch
        self.epochs, self.limit = epochs, limit
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.keras_home = scratch / "keras"  # so that nothing is written to ~/.keras
        self.keras_home.mkdir()
        self._count = 0

    def run(self, model: str, side: str, round_: int, **settings) -> dict:
        bench = BENCHMARKS[model]
        epochs = settings.pop("epochs", self.epochs or bench.epochs)
        limit = settings.pop("limit", self.limit or bench.limit)
        self._count += 1
        work = self.scratch / f"{self._count:03d}-{model}-{side}"
        work.mkdir()
        if side == "plain":
            command = self._plain(bench, work, epochs, limit, **settings)
        else:
            command = self._dlcourse(bench, work, side, epochs, limit, **settings)
        print(f"[round {round_ + 1}] {model} {side}: {' '.join(command[1:])}", flush=True)
        wall, peak_rss_mb, log = _measure(command, self._environment())
        if side == "plain":
            report = json.loads((work / "report.json").read_text())
        else:
            report = _dlcourse_report(work)
        history = report["history"]
        epoch_seconds = report["epoch_seconds"]
        result = {
            "model": model,
            "side": side,
            "round": round_ + 1,
            "epochs": epochs,
            "limit": limit,
            **settings,
            "epoch_seconds": [round(value, 3) for value in epoch_seconds],
            "seconds_per_epoch": round(_steady(epoch_seconds), 3),
            "seconds_to_first_epoch": round(report["seconds_to_first_epoch"], 2),
            "wall_seconds": round(wall, 1),
            "peak_rss_mb": round(peak_rss_mb),
            "val_accuracy": history["val_accuracy"][-1],
            "best_val_accuracy": max(history["val_accuracy"]),
        }
        if "execution" in report:
            result["execution"] = report["execution"]
        print(
            f"    {result['seconds_per_epoch']:.2f} s/epoch, first epoch at "
            f"{result['seconds_to_first_epoch']:.1f} s, {result['peak_rss_mb']} MB, "
            f"val accuracy {result['val_accuracy']:.4f}",
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
                        self.run("imdb_lstm", side, 0, epochs=SCALING_EPOCHS, limit=limit,
                                 maxlen=maxlen, batch_size=batch_size)
                    )
        return runs

    def overhead(self, model: str) -> dict:
        """The seconds dlcourse's callbacks take in each epoch (benchmarks/overhead.py)."""
        bench = BENCHMARKS[model]
        command = [sys.executable, str(HERE / "overhead.py"), "--config", str(ROOT / bench.config),
                   "--data-dir", str(self.data_dir), "--epochs", str(self.epochs or bench.epochs)]
        if self.limit or bench.limit:
            command += ["--limit", str(self.limit or bench.limit)]
        print(f"[overhead] {model}: {' '.join(command[1:])}", flush=True)
        _, _, log = _measure(command, self._environment())
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
        overrides = [f"fit.epochs={epochs}", f"execution.speedups={side}"]
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
        env = dict(os.environ, KERAS_HOME=str(self.keras_home), DLCOURSE_OFFLINE="1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env


def _measure(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run to the end; its wall time and peak resident memory (MB), from wait4's rusage."""
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
    return wall, usage.ru_maxrss / 1024, log  # Linux gives kilobytes


def _dlcourse_report(work: Path) -> dict:
    (run_dir,) = [path.parent for path in (work / "runs").glob("*/*/metrics.json")]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    return {
        "epoch_seconds": history["epoch_seconds"],
        "seconds_to_first_epoch": metrics["seconds_to_first_epoch"],
        "history": history,
        "execution": metrics["execution"],
    }


def _steady(epoch_seconds: list[float]) -> float:
    """The median epoch without the first, which pays for tracing and compiling."""
    return statistics.median(epoch_seconds[1:] or epoch_seconds)


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
        "memory": memory,
        "gpu": "none" if not Path("/dev/nvidia0").exists() else "yes",
        "os": platform.platform(),
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in ("tensorflow", "keras", "numpy")},
    }


# --------------------------------------------------------------------------- report


def summarise(runs: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (model, side): medians over rounds, with epochs after the first pooled."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["model"], run["side"]), []).append(run)
    return {
        key: {
            "seconds_per_epoch": statistics.median(
                [value for run in group for value in run["epoch_seconds"][1:]]
                or [run["seconds_per_epoch"] for run in group]
            ),
            "fastest_epoch": min(
                [value for run in group for value in run["epoch_seconds"][1:]]
                or [run["seconds_per_epoch"] for run in group]
            ),
            "seconds_to_first_epoch": statistics.median(r["seconds_to_first_epoch"] for r in group),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in group),
            "val_accuracy": [r["val_accuracy"] for r in group],
            "rounds": len(group),
        }
        for key, group in groups.items()
    }


def render(results: dict) -> str:
    summary = summarise(results["runs"])
    models = list(dict.fromkeys(run["model"] for run in results["runs"]))
    lines = [
        "# Benchmarks: dlcourse against the plain Keras scripts",
        "",
        "Written by `benchmarks/run.py`; do not edit by hand. The raw numbers are also in",
        "`RESULTS.json`.",
        "",
        f"- **Command:** `{results['command']}`"
        + (f"; the scaling grid: `{results['scaling_command']}`" if "scaling_command" in results else ""),
        f"- **Started:** {results['started']}",
        "- **Machine:** " + ", ".join(f"{key} {value}" for key, value in results["machine"].items()),
        "- **Sides:** `plain` is the script a student writes from the slides "
        "(benchmarks/plain/); `off` is `dlcourse train` with `execution.speedups=off`, the "
        "lecture's exact computation; `auto` is `dlcourse train` as shipped.",
        "- **Seconds per epoch** is the median over every round of each epoch but the first, "
        "which traces and compiles; an epoch runs from the end of the one before, so what "
        "happens between epochs (dlcourse's backup) is counted. **First epoch at** is from "
        "the process's start to the end of epoch 1 (imports, loading, compiling included). **Peak RSS** is the process's "
        "maximum resident memory.",
        "",
        "## What each model trains on",
        "",
        "| model | epochs | samples | batch |",
        "| --- | --- | --- | --- |",
    ]
    for name in models:
        run = next(r for r in results["runs"] if r["model"] == name)
        samples = f"first {run['limit']:,} train and test" if run["limit"] else "all"
        batch = 64 if name == "mnist_cnn" else 128
        lines.append(f"| {name} | {run['epochs']} | {samples} | {batch} |")
    lines += [
        "",
        "## Summary",
        "",
        "| model | side | s/epoch | vs plain | fastest epoch | vs plain | first epoch at (s) "
        "| peak RSS (MB) | vs plain | last val accuracy per round |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in models:
        plain = summary.get((name, "plain"))
        for side in SIDES:
            row = summary.get((name, side))
            if row is None:
                continue
            speed = fastest = memory = "-"
            if plain and side != "plain":
                speed = _ratio(row["seconds_per_epoch"], plain["seconds_per_epoch"])
                fastest = _ratio(row["fastest_epoch"], plain["fastest_epoch"])
                memory = _ratio(row["peak_rss_mb"], plain["peak_rss_mb"])
            accuracy = ", ".join(f"{value:.4f}" for value in row["val_accuracy"])
            lines.append(
                f"| {name} | {side} | {row['seconds_per_epoch']:.2f} | {speed} | "
                f"{row['fastest_epoch']:.2f} | {fastest} | "
                f"{row['seconds_to_first_epoch']:.1f} | {row['peak_rss_mb']:.0f} | {memory} | "
                f"{accuracy} |"
            )
    lines += [
        "",
        "Ratios are dlcourse / plain: below 1 is faster or smaller; (2.50x) is the speed-up, "
        "plain / dlcourse. This machine is noisy: the same epoch of the same run takes about "
        "6 or about 10 s by turns (see every run below), so the median of identical "
        "computations can differ by 20%; the fastest epoch, the best case of each side, is "
        "the steadier comparison of them.",
        "",
    ]
    if results.get("overhead"):
        lines += _overhead_table(results["overhead"])
    if results["scaling"]:
        lines += _scaling_table(results["scaling"])
    lines += ["## Every run", "", "| round | model | side | epoch seconds | first epoch at | "
              "peak RSS | val accuracy | execution |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in results["runs"] + results["scaling"]:
        label = run["model"] + "".join(
            f" {key}={run[key]}" for key in ("maxlen", "batch_size") if key in run
        )
        execution = ", ".join(f"{k}={v}" for k, v in run.get("execution", {}).items()) or "-"
        lines.append(
            f"| {run['round']} | {label} | {run['side']} | "
            f"{' '.join(f'{value:.2f}' for value in run['epoch_seconds'])} | "
            f"{run['seconds_to_first_epoch']:.1f} | {run['peak_rss_mb']} | "
            f"{run['val_accuracy']:.4f} | {execution} |"
        )
    return "\n".join(lines) + "\n"


def _overhead_table(overhead: list[dict]) -> list[str]:
    lines = [
        "## What dlcourse adds to each epoch",
        "",
        "With `execution.speedups=off` dlcourse hands Keras's `fit` the plain script's model "
        "and arrays; per epoch it adds only its callbacks (the history saved, the backup "
        "of weights and optimizer state). `benchmarks/overhead.py` times them inside the "
        "process, the same subsets and epochs as above, epochs after the first:",
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


def _ratio(value: float, reference: float) -> str:
    ratio = value / reference
    faster = f" ({1 / ratio:.2f}x)" if ratio < 0.9 else ""
    return f"{ratio:.3f}{faster}"


if __name__ == "__main__":
    main()
