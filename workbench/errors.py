"""Exceptions that the CLI turns into one-line messages and exit codes (docs/contract.md)."""


class WorkbenchError(Exception):
    """Could not do the job (bad input, unreachable source, bad usage): exit code 2."""

    exit_code = 2


class StoreMissing(WorkbenchError):
    """A read-only open found no store file (notebooks show "no data" instead of failing)."""


class CheckFailed(WorkbenchError):
    """A check or gate failed (regression, missed target, crossed threshold): exit code 1."""

    exit_code = 1


class Interrupted(WorkbenchError):
    """Ctrl-C: what was in progress was rolled back; exit code 130 as shells expect."""

    exit_code = 130
