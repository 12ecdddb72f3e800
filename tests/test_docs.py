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


ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve_inside_the_repository(page):
    import re

    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:|#", target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name}: {target} points outside the repository"
        assert path.exists(), f"{page.name}: {target} does not exist"


def test_nothing_points_at_the_design_folder_outside():
    for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "workbench").rglob("*.py")]:
        assert "../shared" not in path.read_text(errors="replace"), path


def test_every_notebook_parameter_is_documented():
    import ast
    import json

    table = {line.split("|")[1].strip(" `"): line for line in (ROOT / "docs" / "reports.md").read_text().splitlines()
             if line.startswith("| `")}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cell = next(c for c in json.loads(nb.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
        names = [n.targets[0].id for n in ast.parse("".join(cell["source"])).body if isinstance(n, ast.Assign)]
        row = table.get(nb.stem)
        assert row, f"docs/reports.md has no row for {nb.stem}"
        missing = [n for n in names if n not in row]
        assert not missing, f"docs/reports.md's row for {nb.stem} does not name {missing}"


def test_files_named_in_the_readme_exist():
    import re

    for path in re.findall(r"(?<![\w/.])((?:workbench|scripts|notebooks|benchmarks|docs|data)/[\w./-]+\.(?:js|py|ipynb|md))",
                           README):
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"
