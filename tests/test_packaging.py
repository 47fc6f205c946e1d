"""dlcourse as `pip install` leaves it: a wheel installed away from any checkout, run
from a directory without configs/, used as a notebook would use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT, TF_LOG_LINE, write_mnist

NOTEBOOK_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import dlcourse

    data_dir = sys.argv[1]
    shipped = dlcourse.train("mnist_cnn", data_dir=data_dir,
                             overrides={"data.limit": 500, "fit.epochs": 1})
    rng = np.random.default_rng(0)
    x = rng.random((60, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 3, 60)
    own = dlcourse.train("mnist_cnn", overrides={"model.layers[7].Dense.units": 3,
                                                 "fit.epochs": 1},
                         train=(x, y), test=(x, y))
    predictions = dlcourse.predict(own, x[:5])
    evaluated = dlcourse.evaluate(own, test=(x, y))
    print(json.dumps({
        "module": dlcourse.__file__,
        "shipped_run": str(shipped.run_dir),
        "shipped_accuracy": shipped.metrics["test_accuracy"],
        "own_run": str(own.run_dir),
        "own_accuracy": own.metrics["test_accuracy"],
        "labels": [record["label"] for record in predictions],
        "evaluated_accuracy": evaluated["test_accuracy"],
    }))
""")


def installed_wheel(tmp_path: Path) -> Path:
    """The project built into a wheel (from a copy: the checkout stays clean) and
    installed without dependencies into a folder of its own."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "dlcourse", source / "dlcourse", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "-w", str(wheels)], check=True, cwd=source, capture_output=True)
    (wheel,) = wheels.glob("dlcourse-*.whl")
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target


@pytest.mark.slow
def test_an_installed_wheel_trains_shipped_and_own_data_from_anywhere_quietly(tmp_path):
    site = installed_wheel(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    write_mnist(data, train=96, test=32)
    elsewhere = tmp_path / "notebook"
    elsewhere.mkdir()
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "DLCOURSE_TF_LOGS", "TF_CPP_MIN_LOG_LEVEL")}
    environment["PYTHONPATH"] = str(site)  # the installed copy, not this checkout
    result = subprocess.run([sys.executable, "-c", NOTEBOOK_SCRIPT, str(data)], cwd=elsewhere,
                            env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["module"]).is_relative_to(site)
    assert (elsewhere / report["shipped_run"]).parent == elsewhere / "runs" / "mnist_cnn"
    assert Path(report["own_run"]).parent.name == "mnist_cnn-custom"
    assert report["evaluated_accuracy"] == pytest.approx(report["own_accuracy"], abs=1e-6)
    assert len(report["labels"]) == 5 and set(report["labels"]) <= {"0", "1", "2"}
    assert not TF_LOG_LINE.search(result.stderr), result.stderr[:2000]
