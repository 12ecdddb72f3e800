"""The real `workbench` entry point run in-process, as the tests' one way to call the CLI: exit codes and
one-line errors exactly as users see them."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from workbench.cli import main as cli_main


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `workbench ARGS`, read through pytest's capsys."""
    with pytest.raises(SystemExit) as e:
        cli_main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def run_isolated(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `workbench ARGS` with click's own stream isolation (no capsys)."""
    with CliRunner().isolation() as streams:
        try:
            cli_main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code or 0
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return code, out, err
