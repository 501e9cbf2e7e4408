"""The one exception type for user mistakes: the CLI prints its message as one line, exit 2."""


class UserError(Exception):
    """A problem caused by input or the environment, not a bug: name the thing, cause and fix."""

    exit_code = 2
