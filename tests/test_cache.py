"""The user cache: whole files or none, and kept to a size, least recently used out first."""

import os

import numpy as np

from dlcourse.cache import cache_dir, keep, limit_bytes, used
from dlcourse.data.imdb import load_imdb

from helpers import write_imdb


def put(name: str, megabytes: float, age: int):
    """A cache file of that size, last used `age` seconds ago."""
    path = cache_dir() / name
    keep(path, lambda partial: partial.write_bytes(b"x" * int(megabytes * 2**20)))
    stamp = path.stat().st_mtime - age
    os.utime(path, (stamp, stamp))
    return path


def test_writing_past_the_limit_removes_the_least_recently_used_files(fresh_cache, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "3")
    oldest, old, recent = put("a.npz", 1, 300), put("b.npz", 1, 200), put("c.json", 1, 100)
    (fresh_cache / "xla").mkdir()  # TensorFlow's folder is left alone
    (fresh_cache / ".d.123.partial.npz").write_bytes(b"y" * 2**20)  # another process's write
    used(oldest)  # read just now: it is kept, the next oldest goes
    new = put("d.npz", 1, 0)
    remaining = sorted(path.name for path in fresh_cache.iterdir())
    assert remaining == [".d.123.partial.npz", "a.npz", "c.json", "d.npz", "xla"]
    assert not old.exists() and recent.exists() and new.exists()


def test_a_file_larger_than_the_limit_is_still_kept_alone(fresh_cache, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "1")
    put("a.npz", 0.5, 100)
    big = put("b.npz", 2, 0)
    assert [path.name for path in fresh_cache.iterdir()] == ["b.npz"] and big.exists()


def test_a_bad_limit_is_said_and_the_default_used(monkeypatch, capsys):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "lots")
    assert limit_bytes() == 2048 * 2**20
    assert "DLCOURSE_CACHE_MB='lots' is not a number of megabytes" in capsys.readouterr().err
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "nan")
    assert limit_bytes() == 2048 * 2**20
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "0.5")
    assert limit_bytes() == 2**19


def test_reading_imdb_from_the_cache_marks_it_used(fresh_cache, tmp_path):
    (tmp_path / "data").mkdir()
    write_imdb(tmp_path / "data")
    first = load_imdb_arrays(tmp_path / "data")
    (cached,) = fresh_cache.glob("imdb-*.npz")
    stamp = cached.stat().st_mtime - 1000
    os.utime(cached, (stamp, stamp))
    np.testing.assert_array_equal(load_imdb_arrays(tmp_path / "data"), first)
    assert cached.stat().st_mtime > stamp + 500


def load_imdb_arrays(data_dir):
    from dlcourse.config import DataConfig

    dataset = load_imdb(DataConfig(dataset="imdb", num_words=100, maxlen=20), data_dir)
    return dataset.x_train
