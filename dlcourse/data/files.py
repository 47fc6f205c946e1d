"""Finding dataset files, and reading them safely and within bounds.

Sources are tried in order: `--data-dir`, then `DLCOURSE_DATA_DIR`, then Keras's own
cache and download. Files are in Keras's layout (`mnist.npz`, `imdb.npz`, `fashion-mnist/`,
`cifar-10-batches-py/`, `cifar-100-python/`).

Nothing read here runs code: object arrays and CIFAR's pickles go through an unpickler
that rebuilds numpy arrays and nothing else. Nothing read here exhausts memory: sizes
are checked against bounds before anything is allocated (a zip member's declared size,
an array's header shape), and decompression stops at a bound.
"""

from __future__ import annotations

import glob
import io
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from dlcourse import safe_files
from dlcourse.errors import DataError

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Bounds on what one file of a dataset may make us hold in memory. The real files are far
# below them (MNIST's largest array is 47 MB, IMDB's pickled reviews 14 MB).
LARGEST_ARRAY_BYTES = 1 << 30
# Unpickled lists take many times the bytes of their pickle, so pickles get a lower bound.
LARGEST_PICKLE_BYTES = 128 << 20


@dataclass(frozen=True)
class DatasetFile:
    """A file of a dataset in Keras's layout, and where Keras downloads it from."""

    filename: str
    sha256: str
    description: str


# How to point dlcourse at the data, from the command line and from Python alike.
PASS_DATA_DIR = "Pass --data-dir DIR (data_dir= from Python)"


def check_given_dir(data_dir: Any) -> None:
    """A data_dir given from Python names a folder that is there, as a typed --data-dir
    must: a misspelt one was searched, found nothing, and training went on with the data
    of DLCOURSE_DATA_DIR or Keras's cache, unsaid. The environment's own folder is only
    one place among those searched."""
    if data_dir is None:
        return
    if not isinstance(data_dir, (str, os.PathLike)):
        raise DataError(f"data_dir={data_dir!r}: expected a folder's path (a str or a "
                        "pathlib.Path).")
    environment = os.environ.get("DLCOURSE_DATA_DIR")
    if (environment is None or Path(data_dir) != Path(environment)) and not Path(data_dir).is_dir():
        raise DataError(f"data_dir={str(data_dir)!r}: no such folder.")


def candidate_dirs(data_dir: str | Path | None) -> list[Path]:
    """The local directories searched, in order, before Keras's download."""
    dirs = [Path(home_expanded(str(data_dir)))] if data_dir else []  # data.dir: ~/data
    if os.environ.get("DLCOURSE_DATA_DIR"):
        dirs.append(Path(os.environ["DLCOURSE_DATA_DIR"]))
    return list(dict.fromkeys(dirs))  # each once, though --data-dir may be the variable's


def keras_cache_dir() -> Path:
    """Keras's download cache, honouring KERAS_HOME as Keras does."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def find_file(file: DatasetFile, data_dir: str | Path | None) -> Path:
    """Return a local path to `file`, downloading it through Keras as a last resort."""
    searched = candidate_dirs(data_dir) + [keras_cache_dir()]
    for directory in searched:
        if (directory / file.filename).exists():
            return regular_file(directory / file.filename)
    if os.environ.get("DLCOURSE_OFFLINE") != "1":
        downloaded = _download(file)
        if downloaded is not None:
            return downloaded
    looked = ", ".join(str(directory) for directory in searched)
    raise DataError(
        f"Can't find {file.filename} (looked in: {looked}; downloading it failed or is off). "
        f"{PASS_DATA_DIR}, or set DLCOURSE_DATA_DIR, to a directory holding "
        f"{file.filename} in Keras's layout ({file.description}); or connect to the internet "
        f"so Keras can download it from {KERAS_ORIGIN}{file.filename}."
    )


def find_paths(pattern: str, data_dir: str | Path | None, what: str) -> list[Path]:
    """Files or folders matching `pattern` (a path or a glob), sorted.

    A relative pattern is looked up under --data-dir, then DLCOURSE_DATA_DIR, then the
    current directory; the first directory where it matches wins. A path that exists is
    itself, though its name holds a glob's characters (train[2024].csv, photos[1]).
    """
    return found(pattern, data_dir, what)[1]


def home_expanded(pattern: str) -> str:
    """A config's path as a shell reads it: '~/data/train.csv' is the home folder's (a
    shell leaves the ~ of `--set data.train=~/...` alone, and a YAML file's was looked up
    as a folder named '~'). The config keeps it as written, so it stays each user's."""
    return os.path.expanduser(pattern) if pattern.startswith("~") else pattern


def found(pattern: str, data_dir: str | Path | None, what: str) -> tuple[Path, list[Path]]:
    """(the directory `pattern` matched in, its matches): see find_paths."""
    pattern = home_expanded(pattern)
    if Path(pattern).is_absolute():
        searched = [Path(Path(pattern).anchor)]
        relative = str(Path(pattern).relative_to(Path(pattern).anchor))
    else:
        # dict: each directory once, in order, though --data-dir may be the current one.
        searched = list(dict.fromkeys([*candidate_dirs(data_dir), Path.cwd()]))
        relative = pattern
    for directory in searched:
        if os.path.lexists(literal := Path(directory) / relative):
            return directory, [literal]
        matches = sorted(Path(match) for match in glob.glob(str(Path(directory) / relative)))
        if matches:
            return directory, matches
    if Path(pattern).is_absolute():  # --data-dir can't move it: say so, not to pass one
        raise DataError(f"No {what} matches {pattern!r}, an absolute path, which --data-dir "
                        "and DLCOURSE_DATA_DIR don't change: put the data there, or give the "
                        "path where it is now.")
    looked = ", ".join(str(directory) for directory in searched)
    raise DataError(
        f"No {what} matches {pattern!r} (looked in: {looked}). {PASS_DATA_DIR}, or set "
        "DLCOURSE_DATA_DIR, to the directory it is relative to, or give an absolute path."
    )


def fingerprint(path: Path, files: Iterable[Path] | None = None) -> list[int]:
    """[files, bytes, newest modification time in ns] of a file, or of `files` in a folder
    (by default every file under it but the hidden ones: .DS_Store, .ipynb_checkpoints,
    which no loader reads): enough for a later command to tell that the data changed,
    without reading it."""
    if not path.is_dir():
        stat = path.stat()
        return [1, stat.st_size, stat.st_mtime_ns]
    count = size = newest = 0
    for file in _visible_files(path) if files is None else files:
        try:
            stat = os.stat(file)
        except OSError:  # a dangling link, or removed meanwhile
            continue
        count, size, newest = count + 1, size + stat.st_size, max(newest, stat.st_mtime_ns)
    return [count, size, newest]


def _visible_files(folder: Path) -> Iterator[str]:
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        yield from (os.path.join(root, name) for name in names if not name.startswith("."))


def find_folder(folder: str, data_dir: str | Path | None) -> Path | None:
    """A dataset folder in Keras's layout (e.g. cifar-10-batches-py), where Keras caches it too."""
    for directory in candidate_dirs(data_dir) + [keras_cache_dir()]:
        if (directory / folder).is_dir():
            return directory / folder
    return None


def _download(file: DatasetFile) -> Path | None:
    import keras

    try:
        path = keras.utils.get_file(
            fname=file.filename,
            origin=KERAS_ORIGIN + file.filename,
            file_hash=file.sha256,
            cache_subdir="datasets",
        )
    except Exception:  # Keras raises bare Exception for network failures
        return None
    return Path(path)


def regular_file(path: Path) -> Path:
    """`path` if it is a regular file; a FIFO or a device would hang or never end a read."""
    return safe_files.regular_file(path, DataError, "data file")


def read_bounded(stream, largest: int, path: Path, what: str) -> bytes:
    """All of `stream`, refused before it passes `largest` bytes (decompression included)."""
    return safe_files.read_bounded(stream, largest, path, what, DataError)


# --------------------------------------------------------------------------- reading npz safely

# Rebuilding a numpy object array from its pickle needs these globals and nothing else;
# anything more in a file (os.system, eval, ...) is an attack and is refused.
_ALLOWED_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays (and the lists, dicts and bytes around them), nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")


def _read_npy(stream: io.BytesIO, path: Path, key: str) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    if version[0] == 1:
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:  # versions 2 and 3 share the header layout
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if not dtype.hasobject:
        claimed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if claimed > LARGEST_ARRAY_BYTES:
            raise DataError(
                f"{path}: the array '{key}' claims shape {shape} of {dtype} "
                f"({claimed:,} bytes), more than the {LARGEST_ARRAY_BYTES:,} a dataset "
                "array may take; is the file damaged?"
            )
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    if len(stream.getbuffer()) > LARGEST_PICKLE_BYTES:
        raise DataError(
            f"{path}: the object array '{key}' is a pickle of {len(stream.getbuffer()):,} "
            f"bytes, more than the {LARGEST_PICKLE_BYTES:,} a dataset's may take."
        )
    array = ArrayOnlyUnpickler(stream).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"expected an array, found {type(array).__name__}")
    return array


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays of an .npz file; object arrays only through a restricted unpickler."""
    arrays = {}
    regular_file(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            for key in keys:
                if f"{key}.npy" not in members:
                    found = ", ".join(sorted(m.removesuffix(".npy") for m in members)) or "none"
                    raise DataError(
                        f"{path}: no array '{key}' in this file (it has: {found}); "
                        f"expected Keras's layout with {', '.join(keys)}."
                    )
                arrays[key] = _read_npy(_member(archive, path, key), path, key)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, pickle.UnpicklingError,
            zlib.error, MemoryError) as error:
        raise DataError(f"{path}: can't read this .npz file ({error}). Is it complete?") from None
    return arrays


def _member(archive: zipfile.ZipFile, path: Path, key: str) -> io.BytesIO:
    """One .npy member, its declared size checked before it is inflated, and bounded as it is
    (a declared size can lie)."""
    info = archive.getinfo(f"{key}.npy")
    if info.file_size > LARGEST_ARRAY_BYTES:
        raise DataError(
            f"{path}: the array '{key}' inflates to {info.file_size:,} bytes, more than the "
            f"{LARGEST_ARRAY_BYTES:,} a dataset array may take; is the file damaged?"
        )
    with archive.open(info) as member:
        return io.BytesIO(read_bounded(member, LARGEST_ARRAY_BYTES, path, f"the array '{key}'"))
