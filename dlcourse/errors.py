"""Errors that describe a user's mistake rather than a bug.

The CLI prints these as one paragraph and exits with status 2; anything else is a bug
and keeps its traceback. And the Ctrl-C of work that can be resumed, which says how.
"""

from pathlib import Path


def one_line(error: Exception | str, limit: int | None = None) -> str:
    """An error's text as one line for a one-paragraph message, cut with '...' past `limit`
    characters: a long TensorFlow or pickle text would bury the sentence around it."""
    text = " ".join(str(error).split())
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


class DlcourseError(Exception):
    """A problem with the user's input (config, data, run directory)."""

    exit_code = 2


class ConfigError(DlcourseError):
    """The config file can't be read or doesn't match the schema."""


class DataError(DlcourseError):
    """A dataset is missing, unreadable, or not in the expected layout."""


class ModelDataMismatch(DlcourseError):
    """The model described by the config can't take the data or produce its targets."""


class RunError(DlcourseError):
    """A run directory is missing, incomplete, or can't be written."""


class DistributionError(DlcourseError):
    """The devices or the cluster for distributed training are missing or inconsistent."""


class ResumableInterrupt(KeyboardInterrupt):
    """Ctrl-C stopped work that can go on where it stopped (a run, a search): it knows
    where that is, so a notebook's traceback and the CLI say how to continue."""

    def __init__(self, path: Path, so_far: str, python: str, command: str, given: str = ""):
        # What a notebook shows under the traceback: where it is and how to go on; `given`,
        # the arguments the call takes again (a run's data given from Python).
        super().__init__(f"{so_far} in {path}; continue it with "
                         f"{python}({str(Path(path).absolute())!r}{given})")
        self.path, self.so_far, self.command = path, so_far, f"{command} {path}"
