"""The one error hierarchy: every error about the user's input derives from `ToolkitError`.

The CLI (`waveglow.cli.main`) prints such an error as one line and exits with its `exit_code`; anything else is a
programming error and keeps its traceback.
"""
from __future__ import annotations


def one_line(text) -> str:
    """An error message as one line (names from a file may hold newlines)."""
    return " ".join(str(text).split("\n")).replace("\r", " ")


class ToolkitError(Exception):
    """A problem with what the user asked for or gave us (a file, a flag, a config value); the message names it."""

    exit_code = 2


class UserError(ToolkitError):
    """An error in the user's command-line input."""


class CheckpointError(ToolkitError):
    """A checkpoint file that cannot be loaded: unsafe, corrupt, or of an unknown layout."""


class ConfigError(ToolkitError, ValueError):
    """A configuration value that is missing, unknown or inconsistent; the message names the field."""


class DataError(ToolkitError, ValueError):
    """A problem with the user's data (a file, a metadata line, a sample rate). The message names the file."""
