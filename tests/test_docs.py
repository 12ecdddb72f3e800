"""Every command is documented: an `Example:` in its --help and a row in the README's command table."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from workbench.cli import _main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        full = f"{prefix} {name}".strip()
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
        else:
            out.append((full, cmd))
    return out


COMMANDS = _commands(_main)


def test_there_are_commands():
    names = {n for n, _ in COMMANDS}
    assert {"ingest k6", "k6 summary", "report", "demo", "ls", "compare", "pg top", "redis stats"} <= names


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_example_and_readme_row(name, cmd):
    assert "Example:" in (cmd.help or ""), f"`workbench {name} --help` has no Example: block"
    assert f"`workbench {name}" in README, f"README's command table does not mention `workbench {name}`"
