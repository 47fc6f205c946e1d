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


def fake_run(side, epoch_seconds, rss, round_=1, accuracy=0.8):
    return {
        "model": "imdb_lstm", "side": side, "round": round_, "epochs": len(epoch_seconds),
        "limit": 100, "epoch_seconds": epoch_seconds, "seconds_per_epoch": 0.0,
        "seconds_to_first_epoch": 5.0, "wall_seconds": 9.0, "peak_rss_mb": rss,
        "val_accuracy": accuracy, "best_val_accuracy": accuracy,
    }


def test_the_summary_pools_every_epoch_but_the_first_over_rounds():
    runs = [
        fake_run("plain", [50.0, 10.0, 12.0], 1000, 1),
        fake_run("plain", [50.0, 11.0, 30.0], 1000, 2),
        fake_run("auto", [90.0, 4.0, 5.0], 1100, 1),
        fake_run("auto", [90.0, 5.0, 6.0], 1100, 2),
    ]
    summary = bench.summarise(runs)
    assert summary[("imdb_lstm", "plain")]["seconds_per_epoch"] == 11.5
    assert summary[("imdb_lstm", "auto")]["seconds_per_epoch"] == 5.0
    text = bench.render({
        "machine": {"cpu": "test"}, "command": "run.py", "started": "now",
        "runs": runs, "scaling": [],
    })
    assert summary[("imdb_lstm", "plain")]["fastest_epoch"] == 10.0
    assert "| imdb_lstm | auto | 5.00 | 0.435 (2.30x) | 4.00 | 0.400 (2.50x) | 5.0 | 1100 | 1.100 |" in text


def test_the_report_gives_the_callbacks_share_of_an_epoch():
    text = bench.render({
        "machine": {"cpu": "test"}, "command": "run.py", "started": "now",
        "runs": [fake_run("plain", [50.0, 10.0], 1000)], "scaling": [],
        "overhead": [{"model": "imdb_lstm", "epoch_seconds": 4.5, "callback_ms": 25.0,
                      "share": 0.0055}],
    })
    assert "| imdb_lstm | 4.50 | 25 ms | 0.55% |" in text


@pytest.mark.slow
def test_the_runner_trains_every_side_and_writes_its_results(data_dir, tmp_path):
    output = tmp_path / "RESULTS.md"
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--data-dir", str(data_dir),
         "--models", "imdb_lstm", "--rounds", "1", "--epochs", "2", "--limit", "48",
         "--output", str(output)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    results = json.loads(output.with_suffix(".json").read_text())
    assert [run["side"] for run in results["runs"]] == ["plain", "off", "auto"]
    for run in results["runs"]:
        assert len(run["epoch_seconds"]) == 2 and run["peak_rss_mb"] > 100
        assert 0 <= run["val_accuracy"] <= 1
    off, auto = results["runs"][1]["execution"], results["runs"][2]["execution"]
    assert off == {"jit_compile": None, "bucketing": False}
    assert auto["bucketing"] is True
    (overhead,) = results["overhead"]
    # The history and the backup take some time each epoch, and less than the epoch.
    assert overhead["callback_ms"] > 0 and 0 < overhead["share"] < 1
    text = output.read_text()
    for side in ("plain", "off", "auto"):
        assert f"| imdb_lstm | {side} |" in text
    assert "## What dlcourse adds to each epoch" in text


def test_the_runner_names_an_unknown_model(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--data-dir", str(tmp_path),
         "--models", "imdb_transformer"],
        capture_output=True, text=True,
    )
    assert finished.returncode == 1
    assert "unknown model(s) imdb_transformer" in finished.stderr
