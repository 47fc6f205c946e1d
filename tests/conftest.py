"""Fixtures: an isolated environment for every test, the tiny datasets, and tiny trained
runs shared by the tests that read runs (evaluate, predict, reports, compare, explain).

Tests never download: DLCOURSE_OFFLINE is set and Keras's cache points at a temp dir.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers import REAL_DATA_DIR, ROOT, invoke, is_tunable, write_data_dir

# Before any fixture runs: the session's own isolated places, for what session-scoped
# fixtures write (each test then gets its own through isolated_environment).
_SESSION = Path(tempfile.mkdtemp(prefix="dlcourse-tests-"))
os.environ.update(
    DLCOURSE_OFFLINE="1",
    KERAS_HOME=str(_SESSION / "keras_home"),
    DLCOURSE_CACHE_DIR=str(_SESSION / "cache"),
)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION, ignore_errors=True)


class Cases:
    """What a robustness test tried: how many bad inputs, and the most memory a command
    took on them, reported at the end of the run (see pytest_terminal_summary)."""

    def __init__(self, kind: str):
        self.kind, self.count, self.peak_mb = kind, 0, 0.0

    def add(self, count: int = 1, peak_mb: float = 0.0) -> None:
        self.count += count
        self.peak_mb = max(self.peak_mb, peak_mb)


@pytest.fixture
def cases(request, record_property):
    """Counts a robustness test's cases, by the kind its `robustness` marker names."""
    marker = request.node.get_closest_marker("robustness")
    counter = Cases(marker.args[0] if marker else request.node.name)
    yield counter
    record_property("robustness", (counter.kind, counter.count, counter.peak_mb))


def pytest_collection_modifyitems(items):
    # The tests that train go first, each module's still together: on two workers
    # (make test), a minute-long test picked up last would leave the other worker idle.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_setup(item):
    # A robustness test without the `cases` fixture tries one case.
    marker = item.get_closest_marker("robustness")
    if marker and "cases" not in item.fixturenames:
        item.user_properties.append(("robustness", (marker.args[0], 1, 0.0)))


def pytest_terminal_summary(terminalreporter):
    """One line per kind of bad input: cases tried, failures (a traceback, a hang or too
    much memory fails its test), and the most memory a command took."""
    totals: dict[str, list] = {}
    failed = {report.nodeid for report in terminalreporter.stats.get("failed", [])}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "robustness" and getattr(report, "when", "") == "teardown":
                    kind, count, peak = value
                    total = totals.setdefault(kind, [0, 0, 0.0])
                    total[0] += count
                    total[1] += report.nodeid in failed
                    total[2] = max(total[2], peak)
    if not totals:
        return
    terminalreporter.section("robustness cases")
    for kind, (count, failures, peak) in sorted(totals.items()):
        memory = f", largest command {peak:,.0f} MB" if peak else ""
        terminalreporter.write_line(f"{kind}: {count:,} cases, {failures} failed tests{memory}")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """No download, a Keras home of the test's own, no real data unless a test asks for
    it, and the test's temp dir as the working directory. The cache of prepared data is
    the session's: it only saves time (tests of the cache take `fresh_cache`)."""
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(_SESSION / "cache"))
    monkeypatch.delenv("DLCOURSE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def read_only():
    """`read_only(folder)` makes `folder` read-only as a file system is (root writes into
    a chmod 555 folder): a bind mount of it, put back after the test. Skips where this
    process may not mount (not root); CI runs as root."""
    mounted = []

    def make(folder: Path) -> Path:
        for command in (["mount", "--bind", folder, folder],
                        ["mount", "-o", "remount,bind,ro", folder]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                if mounted:
                    subprocess.run(["umount", folder], capture_output=True)
                pytest.skip(f"can't mount a read-only folder here: {done.stderr.strip()}")
            if not mounted or mounted[-1] != folder:
                mounted.append(folder)
        return folder

    yield make
    for folder in reversed(mounted):
        subprocess.run(["umount", folder], capture_output=True)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache of prepared data, for tests of the cache itself."""
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this test run shares (the parent of the
    workers' own temp folders, as xdist's docs suggest), so what one worker trained for the
    session's fixtures the other reads instead of training it again. Pytest removes it
    with its old temp folders, not at a worker's end: the other may still be reading."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    (root / "shared").mkdir(exist_ok=True)
    return root / "shared"


def attempt(root: Path, key: str) -> Path:
    """A fresh folder for one try at making `key`: a try that failed leaves its files, and
    the next one doesn't trip over them."""
    return Path(tempfile.mkdtemp(prefix=f"{key}-", dir=root))


def once(root: Path, key: str, make):
    """`make()`'s JSON result, made by the first worker that asks for `key`; a worker
    asking meanwhile waits for it (the lock) rather than doing the same work twice."""
    done = root / f"{key}.json"
    with open(root / f"{key}.lock", "w") as lock:
        _hold(lock, key)
        if not done.exists():
            value = make()
            partial = root / f".{key}.partial"
            partial.write_text(json.dumps(value))
            partial.replace(done)
        return json.loads(done.read_text())


def _hold(lock, key: str, minutes: float = 15) -> None:
    """The lock, or a failure after `minutes`: a maker that hangs (or waits on itself)
    fails the tests that need it rather than hanging the suite until CI's limit."""
    deadline = time.monotonic() + minutes * 60
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {minutes} minutes for the shared {key!r}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def data_dir(shared) -> Path:
    """A tiny file of every dataset the shipped configs read, in its layout. Shared by the
    whole test run: tests must not change it (write your own with helpers' writers)."""
    return Path(once(shared, "data", lambda: str(write_data_dir(attempt(shared, "data")))))


class TrainedRuns:
    """Tiny runs trained once per test run, by name; tests that change a run take a copy.
    `result` is what train returned, in this process: a worker that needs it and didn't
    train the run trains its own."""

    # name: (config, overrides)
    RECIPES = {
        "mnist": ("mnist_cnn.yaml", {"data.limit": 32, "fit.epochs": 2, "fit.batch_size": 16,
                                     "output.tensorboard": True}),
        "imdb_lstm": ("imdb_lstm.yaml", {"data.limit": 40, "fit.epochs": 2}),
        "imdb_simplernn": ("imdb_simplernn.yaml", {"data.limit": 40, "fit.epochs": 2}),
        "bow": ("imdb_bow_bigrams.yaml", {"data.limit": 32, "fit.epochs": 1}),
        "rating": ("imdb_rating_regression.yaml", {"data.limit": 32, "fit.epochs": 1}),
        "naive_bayes": ("imdb_best.yaml", {"data.limit": 32, "fit.epochs": 1,
                                           "data.vectorize.max_tokens": 2000,
                                           "model.layers[0].NaiveBayesBag.input_dim": 2000}),
        # On the real digits, so that it reads digits (about 98% of MNIST's test split):
        # for the photographs and the demo page.
        "real_mnist": ("mnist_cnn.yaml", {"data.limit": 20000, "fit.epochs": 1,
                                          "fit.validation": None, "output.plots": False}),
    }
    REAL = {"real_mnist"}

    def __init__(self, data_dir: Path, root: Path):
        self.data_dir, self.root = data_dir, root
        # Where this worker trains what `result` returns.
        self.own = root / os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._results = {}

    def _train(self, name: str, output: Path):
        import dlcourse

        if name in self.REAL and not REAL_DATA_DIR:
            pytest.skip("needs the real data (DLCOURSE_DATA_DIR)")
        config, overrides = self.RECIPES[name]
        data = REAL_DATA_DIR if name in self.REAL else self.data_dir
        return dlcourse.train(ROOT / "configs" / config, overrides, data_dir=data,
                              output_dir=output)

    def result(self, name: str):
        """The TrainResult of the run `name` (the model, history and metrics in memory)."""
        if name not in self._results:
            self._trained_here(name)
            # Published, if no worker has yet: the others read this one. (Not from inside
            # `once` for the same name: a second flock of it would wait on itself.)
            once(self.root, name, lambda: str(self._results[name].run_dir))
        return self._results[name]

    def _trained_here(self, name: str):
        self._results[name] = self._train(name, self.own)
        return self._results[name]

    def __getitem__(self, name: str) -> Path:
        """The run directory, to read only."""
        if name in self._results:
            return self._results[name].run_dir
        return Path(once(self.root, name, lambda: str(self._trained_here(name).run_dir)))

    def copy(self, name: str, destination: Path) -> Path:
        """A copy of the run to change, at `destination`/<config name>/<time>."""
        source = self[name]
        target = destination / source.parent.name / source.name
        shutil.copytree(source, target)
        return target


@pytest.fixture(scope="session")
def trained(data_dir, shared) -> TrainedRuns:
    (shared / "trained").mkdir(exist_ok=True)
    return TrainedRuns(data_dir, shared / "trained")


class SmokeRuns:
    """`dlcourse train CONFIG --smoke` of a shipped config, once per test run and data
    directory, through the CLI. A tunable config is first searched by `tune --smoke`, and
    the best config it writes is what is trained."""

    def __init__(self, root: Path):
        self.root = root

    def run(self, config: Path, data_dir: Path | str) -> tuple[Path, str]:
        """(run directory, the train command's output)."""
        run_dir, output, _ = self.runs(config, data_dir)
        return run_dir, output

    def runs(self, config: Path, data_dir: Path | str) -> tuple[Path, str, dict | None]:
        """(run directory, the train command's output, for a tunable config the tuning
        directory and the tune command's output)."""
        key = f"{config.stem}-{hashlib.sha256(str(data_dir).encode()).hexdigest()[:8]}"
        made = once(self.root, key, lambda: self._smoke(config, data_dir, attempt(self.root, key)))
        return Path(made["run_dir"]), made["output"], made["tuning"]

    @staticmethod
    def _smoke(config: Path, data_dir: Path | str, output: Path) -> dict:
        name, tuning = config.stem, None
        if is_tunable(config):
            tuned = invoke("tune", config, "--smoke", "--data-dir", data_dir,
                           "--output-dir", output)
            assert tuned.exit_code == 0, tuned.output
            (tune_dir,) = (output / f"{config.stem}-tune").iterdir()
            tuning = {"tune_dir": str(tune_dir), "output": tuned.output}
            config, name = tune_dir / "best_config.yaml", f"{config.stem}-best"
        trained = invoke("train", config, "--smoke", "--data-dir", data_dir,
                         "--output-dir", output)
        assert trained.exit_code == 0, trained.output
        (run_dir,) = (output / name).iterdir()
        return {"run_dir": str(run_dir), "output": trained.output, "tuning": tuning}


@pytest.fixture(scope="session")
def smoke_runs(shared) -> SmokeRuns:
    (shared / "smoke").mkdir(exist_ok=True)
    return SmokeRuns(shared / "smoke")
