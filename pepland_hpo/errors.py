"""Errors that describe a problem with what the user gave us.

Every layer raises :class:`UserInputError` for bad input (a missing file, a
missing column, an unknown key); the CLI turns it into a one-line message and
exit code 2. Anything else is a bug or an environment failure and keeps its
traceback.
"""


class UserInputError(ValueError):
    """Bad input from the user; the message names the file, field or key."""


class DataHashMismatch(UserInputError):
    """The data file changed since the study was created."""
