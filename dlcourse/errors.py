"""Errors that describe a user's mistake rather than a bug.

The CLI prints these as one paragraph and exits with status 2; anything else is a bug
and keeps its traceback.
"""


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
