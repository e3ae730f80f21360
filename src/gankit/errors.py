"""The one exception type for mistakes a user can make (bad flag, bad file, bad run directory).

The CLI turns it into exit code 2 and a single line on stderr; library users catch it like any
``ValueError``. Messages say what was wrong and what is allowed.
"""


class GankitError(ValueError):
    """A user-caused error with a one-line, actionable message."""
