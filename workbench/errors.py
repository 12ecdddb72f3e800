"""Exceptions that the CLI turns into one-line messages and exit codes (DESIGN.md)."""


class WorkbenchError(Exception):
    """Could not do the job (bad input, unreachable source, bad usage): exit code 2."""

    exit_code = 2


class CheckFailed(WorkbenchError):
    """A check or gate failed (regression, missed target, crossed threshold): exit code 1."""

    exit_code = 1
