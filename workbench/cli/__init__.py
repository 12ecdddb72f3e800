"""The `workbench` command line: thin commands over the package, one-line errors, the exit codes of docs/contract.md."""

from __future__ import annotations

import sys

import click

from workbench import interrupts

# The *_cmds modules attach their commands to these groups when a command of theirs is first asked for.
from workbench.cli.groups import main as _main
from workbench.errors import WorkbenchError
from workbench.redact import redact_text

INTERRUPTED = "error: interrupted (Ctrl-C): what was not committed yet was rolled back"


def _is_duckdb_error(e: BaseException) -> bool:
    """A store error? (duckdb is imported lazily: a command that never loaded it cannot raise one)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(e, duckdb.Error)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; turn WorkbenchError into one line on stderr and its exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    interrupts.install()
    try:
        rc = _main.main(args=args, prog_name="workbench", standalone_mode=False)
    except click.exceptions.Abort as e:   # click turns Ctrl-C, and an EOFError from below, into Abort
        if isinstance(e.__context__, EOFError):
            if debug:
                raise
            click.echo(f"error: input ended early ({redact_text(str(e.__context__))}): a truncated file?", err=True)
            sys.exit(2)
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except click.ClickException as e:   # bad usage: exit 2 (1 is kept for failed checks)
        e.show()
        sys.exit(2)
    except WorkbenchError as e:
        if debug:
            raise
        click.echo(f"error: {redact_text(str(e))}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:   # an ingest rolls back first (Store.ingest) and says so as Interrupted
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except Exception as e:
        if interrupts.seen and "interrupted" in str(e).lower():   # DuckDB's form of a Ctrl-C outside an ingest
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)
        if debug:
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        if _is_duckdb_error(e) and type(e).__name__ == "OutOfMemoryException":
            from workbench.store import MEMORY_ENV, writer_memory

            click.echo(f"error: store: DuckDB ran out of memory ({redact_text(first)}); nothing was committed: raise "
                       f"{MEMORY_ENV} (now {writer_memory()}; default 512MB), e.g. {MEMORY_ENV}=1GB", err=True)
        elif _is_duckdb_error(e):
            click.echo(f"error: store: {redact_text(first or type(e).__name__)} (rerun with --debug for details)",
                       err=True)
        else:  # a bug or an unforeseen fault: still one line, the traceback on request
            click.echo(f"error: {type(e).__name__}: {redact_text(first)} (unexpected; rerun with --debug and "
                       "report it)", err=True)
        sys.exit(2)
    sys.exit(rc if isinstance(rc, int) else 0)
