"""The one exception type for mistakes a user can make (bad flag, bad file, bad run directory).

The CLI turns it into exit code 2 and a single line on stderr; library users catch it like any
``ValueError``. Messages say what was wrong and what is allowed.
"""

import contextlib


class GankitError(ValueError):
    """A user-caused error with a one-line, actionable message."""


@contextlib.contextmanager
def path_errors(action: str):
    """A path the user gave that cannot be used (too long, under a file, no permission): a GankitError
    that says ``cannot <action>`` and why."""
    try:
        yield
    except OSError as error:
        raise GankitError(f"cannot {action}: {error.strerror or error}") from None
