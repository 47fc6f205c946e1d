"""The benchmark runner: it runs the plain scripts and dlcourse side by side and reports
what it measured. Only the plumbing is tested here; speed is measured, never asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
bench = sys.modules["bench_run"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def fake_run(side, epoch_seconds, rss, round_=1, accuracy=0.8, wall=9.0, length="5000x2",
             cpu=None, bucketing=True, epoch_cpu=None):
    run = {
        "model": "imdb_lstm", "length": length, "side": side, "round": round_,
        "epochs": len(epoch_seconds), "limit": 100, "epoch_seconds": epoch_seconds,
        "epoch_cpu_seconds": epoch_cpu if epoch_cpu is not None else [],
        "seconds_per_epoch": 0.0, "seconds_to_first_epoch": 5.0, "wall_seconds": wall,
        "cpu_seconds": cpu if cpu is not None else wall * 1.5,
        "peak_rss_mb": rss, "val_accuracy": accuracy, "best_val_accuracy": accuracy,
    }
    if side != "plain":
        run["execution"] = {"jit_compile": None, "bucketing": bucketing and side == "auto"}
    return run


def test_the_summary_pools_every_epoch_but_the_first_over_rounds():
    runs = [
        fake_run("plain", [50.0, 10.0, 12.0], 1000, 1, wall=80.0, epoch_cpu=[90.0, 20.0, 22.0]),
        fake_run("plain", [50.0, 11.0, 30.0], 1000, 2, wall=100.0, epoch_cpu=[90.0, 20.0, 20.0]),
        fake_run("auto", [90.0, 4.0, 5.0], 1100, 1, wall=100.0),
        fake_run("auto", [90.0, 5.0, 6.0], 1100, 2, wall=100.0),
        fake_run("off", [50.0, 10.0, 12.0], 1000, 1, wall=100.0, epoch_cpu=[90.0, 21.0, 21.0]),
        fake_run("off", [50.0, 11.5, 30.0], 1000, 2, wall=125.0, epoch_cpu=[90.0, 20.0, 21.0]),
    ]
    summary = bench.summarise(runs)
    assert summary[("imdb_lstm", "5000x2", "plain")]["seconds_per_epoch"] == 11.5
    assert summary[("imdb_lstm", "5000x2", "auto")]["seconds_per_epoch"] == 5.0
    assert summary[("imdb_lstm", "5000x2", "plain")]["fastest_epoch"] == 10.5  # 10 and 11
    text = bench.render({"machine": {"cpu": "test"}, "commands": ["run.py"], "started": "now",
                         "runs": runs})
    # The whole command: medians with their range; auto / off per round: 1.00 and 0.80;
    # plain / auto per round: 0.80 and 1.00.
    assert ("| imdb_lstm | 5000x2 | 90.0 (80.0-100.0) | 112.5 (100.0-125.0) | "
            "100.0 (100.0-100.0) | **0.89** (1.00, 0.80) | 0.89 | 0.90x (0.80, 1.00) | "
            "5.0 / 5.0 |") in text
    # An auto that planned what off does is the same computation, and says so.
    same = [fake_run(side, [5.0, 2.0], 900, wall=wall, bucketing=False, length="smoke")
            for side, wall in (("off", 10.0), ("auto", 11.0))]
    shown = bench.render({"machine": {}, "commands": [], "started": "now", "runs": same})
    assert "**1.10** (1.10), same computation | 1.10 |" in shown
    # Per epoch, off against plain: the fastest epochs 10 / 10 and 11.5 / 11.
    assert "| imdb_lstm | 5000x2 | 10.50 / 10.75 | **1.023** (1.000, 1.045) |" in text
    # CPU per epoch, the median after the first: plain 21 and 20, off 21 and 20.5, so the
    # rounds' ratios are 1.000 and 1.025; a run without CPU times shows none.
    assert "| 20.50 / 20.75 | **1.012** (1.000, 1.025) |" in text


def test_the_report_gives_the_callbacks_share_of_an_epoch():
    text = bench.render({
        "machine": {"cpu": "test"}, "commands": ["run.py"], "started": "now",
        "runs": [fake_run("plain", [50.0, 10.0], 1000)],
        "overhead": [{"model": "imdb_lstm", "epoch_seconds": 4.5, "callback_ms": 25.0,
                      "share": 0.0055}],
    })
    assert "| imdb_lstm | 4.50 | 25 ms | 0.55% |" in text


@pytest.mark.slow
def test_the_runner_trains_each_side_and_writes_its_results(data_dir, tmp_path):
    output = tmp_path / "RESULTS.md"
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--data-dir", str(data_dir),
         "--models", "imdb_lstm", "--lengths", "smoke", "--sides", "off,auto", "--rounds", "1",
         "--output", str(output)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    results = json.loads(output.with_suffix(".json").read_text())
    assert [run["side"] for run in results["runs"]] == ["off", "auto"]
    for run in results["runs"]:
        assert run["length"] == "smoke" and len(run["epoch_seconds"]) == 1
        assert len(run["epoch_cpu_seconds"]) == 1 and run["epoch_cpu_seconds"][0] > 0
        assert run["peak_rss_mb"] > 100 and run["wall_seconds"] > run["seconds_to_first_epoch"] > 0
        assert 0 <= run["val_accuracy"] <= 1
        # Which host CPU ran it: hosts of one machine type differ, and XLA's code with them.
        assert run["vector_isa"] in ("avx512", "avx2", "avx", "sse4_2", "unknown")
    assert results["machine"]["vector_isa"] == results["runs"][0]["vector_isa"]
    assert results["runs"][0]["execution"] == {"jit_compile": None, "bucketing": False}
    text = output.read_text()
    assert "| imdb_lstm | smoke | - |" in text and "## The whole command" in text


@pytest.mark.slow
def test_the_callbacks_time_is_measured_inside_the_process(data_dir):
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--config",
         str(ROOT / "configs" / "mnist_cnn.yaml"), "--data-dir", str(data_dir), "--epochs", "2",
         "--limit", "32"],
        capture_output=True, text=True,
    )
    assert finished.returncode == 0, finished.stderr
    timings = json.loads(finished.stdout.strip().splitlines()[-1])
    # The history and the backup take some time each epoch, and less than the epoch.
    assert len(timings["callback_seconds"]) == 2
    assert all(0 < spent < epoch for spent, epoch in
               zip(timings["callback_seconds"], timings["epoch_seconds"]))


def test_the_runner_names_an_unknown_model(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--data-dir", str(tmp_path),
         "--models", "imdb_transformer"],
        capture_output=True, text=True,
    )
    assert finished.returncode == 1
    assert "unknown model(s) imdb_transformer" in finished.stderr
