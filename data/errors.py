"""The one exception type of the data pipeline."""


class DataError(ValueError):
    """A problem with the user's data (a file, a metadata line, a sample rate). The message names the file."""
