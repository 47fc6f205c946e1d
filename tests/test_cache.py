"""The user cache: whole files or none, and its own files kept to a size, least recently
used out first."""

import os
import time

import numpy as np
import pytest

from dlcourse.cache import cache_file, keep, limit_bytes, used
from dlcourse.config import DataConfig
from dlcourse.data.imdb import load_imdb

from helpers import write_imdb


def aged(path, age: float):
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def put(key: str, megabytes: float, age: float = 0, kind: str = "imdb"):
    """A cache file of that size, last used `age` seconds ago."""
    path = cache_file(kind, key, ".npz")
    keep(path, lambda partial: partial.write_bytes(b"x" * int(megabytes * 2**20)))
    return aged(path, age)


def names(folder):
    return sorted(path.name for path in folder.iterdir())


def test_writing_past_the_limit_removes_the_least_recently_used_files(fresh_cache, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "3")
    oldest, old, recent = put("a", 1, 300), put("b", 1, 200), put("c", 1, 100, "text-vocabulary")
    (fresh_cache / "xla").mkdir()  # TensorFlow's folder is left alone
    (fresh_cache / ".imdb-d.123.partial.npz").write_bytes(b"y" * 2**20)  # a write going on
    mine = fresh_cache / "notes.txt"  # not the cache's: never removed
    mine.write_bytes(b"z" * 2**20)
    aged(mine, 10_000)
    used(oldest)  # read just now: it is kept, the next oldest goes
    put("d", 1)
    assert names(fresh_cache) == [".imdb-d.123.partial.npz", "imdb-a.npz", "imdb-d.npz",
                                  "notes.txt", "text-vocabulary-c.npz", "xla"]
    assert not old.exists() and recent.exists()


def test_a_file_larger_than_the_limit_is_still_kept_alone(fresh_cache, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "1")
    put("a", 0.5, 100)
    big = put("b", 2)
    assert names(fresh_cache) == ["imdb-b.npz"] and big.exists()


def test_a_write_killed_long_ago_leaves_nothing_for_long(fresh_cache):
    fresh_cache.mkdir(parents=True)
    stale = fresh_cache / ".imdb-x.99.partial.npz"
    stale.write_bytes(b"y")
    aged(stale, 2 * 24 * 3600)
    put("a", 0.1)
    assert names(fresh_cache) == ["imdb-a.npz"]


def test_an_interrupted_write_leaves_no_partial_file(fresh_cache):
    def interrupted(partial):
        partial.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        keep(cache_file("imdb", "a", ".npz"), interrupted)
    assert names(fresh_cache) == []


def test_the_limit_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "lots")
    assert limit_bytes() == 2048 * 2**20
    assert "DLCOURSE_CACHE_MB='lots' is not a number of megabytes" in capsys.readouterr().err
    for bad in ("nan", "-1", "-inf", ""):
        monkeypatch.setenv("DLCOURSE_CACHE_MB", bad)
        assert limit_bytes() == 2048 * 2**20
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "0.5")
    assert limit_bytes() == 2**19
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "inf")  # no limit
    assert limit_bytes() > 2**60


def test_reading_imdb_from_the_cache_marks_it_used(fresh_cache, tmp_path):
    (tmp_path / "data").mkdir()
    write_imdb(tmp_path / "data")
    config = DataConfig(dataset="imdb", num_words=100, maxlen=20)
    first = load_imdb(config, tmp_path / "data").x_train
    (cached,) = fresh_cache.glob("imdb-*.npz")
    aged(cached, 1000)
    np.testing.assert_array_equal(load_imdb(config, tmp_path / "data").x_train, first)
    assert cached.stat().st_mtime > time.time() - 100


def test_a_file_another_process_removed_first_counts_as_room_made(fresh_cache, monkeypatch):
    monkeypatch.setenv("DLCOURSE_CACHE_MB", "2")
    oldest, newer = put("a", 1, 300), put("b", 1, 200)
    unlink = type(oldest).unlink

    def raced(path, *args, **kwargs):
        unlink(path, *args, **kwargs)
        if path == oldest:  # the other process got there first
            raise FileNotFoundError(path)

    monkeypatch.setattr(type(oldest), "unlink", raced)
    put("c", 1)
    assert not oldest.exists() and newer.exists()


def _forged_ranks(path):
    with np.load(path) as arrays:
        splits = dict(arrays)
    splits["x_test"][0, -1] = 10**6
    np.savez(path, **splits)


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(path.read_bytes()[:1000]),  # cut short: BadZipFile
    _forged_ranks,  # ranks past num_words: TensorFlow's traceback in the first step
    lambda path: (path.unlink(), os.mkfifo(path)),  # a pipe: np.load waited for ever
], ids=["cut", "ranks", "pipe"])
def test_a_damaged_imdb_cache_is_prepared_again(fresh_cache, tmp_path, damage):
    write_imdb(tmp_path)
    config = DataConfig(dataset="imdb", num_words=100, maxlen=10)
    fresh = load_imdb(config, tmp_path)
    (cached,) = fresh_cache.glob("imdb-*.npz")
    damage(cached)
    again = load_imdb(config, tmp_path)
    np.testing.assert_array_equal(again.x_test, fresh.x_test)
    np.testing.assert_array_equal(again.x_train, fresh.x_train)
    assert cached.is_file() and load_imdb(config, tmp_path).x_test.max() < 100


@pytest.mark.parametrize("damage", [
    lambda path: path.write_text('{"tokens": ["the", "a", "and"], "idf_weights": null}'),
    lambda path: path.write_text('{"tokens": ["", "[UNK]", "film", "film"], "idf_weights": null}'),
    lambda path: (path.unlink(), os.mkfifo(path)),
], ids=["three-words", "repeated", "pipe"])
def test_a_damaged_vocabulary_cache_is_fitted_again(fresh_cache, damage):
    """A vocabulary of three words trained a run that knew nothing, and was copied into it;
    a repeated token was Keras's traceback; a pipe hung."""
    from dlcourse.config import VectorizeConfig
    from dlcourse.data.text import fitted_vectorizer

    settings = VectorizeConfig(output_mode="int", output_sequence_length=5)
    texts = ["a good film", "a bad film", "the plot"]
    _, fresh = fitted_vectorizer(settings, texts)
    (cached,) = fresh_cache.glob("text-vocabulary-*.json")
    damage(cached)
    _, again = fitted_vectorizer(settings, texts)
    assert again == fresh and cached.is_file()
