"""`deadline-sqs`: the operator commands for a deployed (or local) notification pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deadline-sqs-notifications")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "unknown"


# The commands' exit codes: done, a check or task that failed, an error, interrupted (Ctrl-C, SIGTERM).
OK, PROBLEMS, ERROR, INTERRUPTED = 0, 1, 2, 130


class CommandError(RuntimeError):
    """A command could not do what was asked; the message says why and names what is involved.

    The CLI prints it as one line (never a traceback); the local harness's errors are
    CommandErrors too.
    """
