"""Build step: notebooks/ (the source of truth, at the repository root) ships inside the package as
workbench/notebooks/, so `workbench report 10_load_test` finds the notebooks in any installation.
An editable install reads them from the checkout instead (workbench.reports.notebook_dirs)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildWithNotebooks(build_py):
    """build_py, plus notebooks/[0-9]*.ipynb copied into workbench/notebooks/."""

    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "workbench" / "notebooks"
        self.mkpath(str(dest))
        for nb in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
            self.copy_file(str(nb), str(dest / nb.name))


setup(cmdclass={"build_py": BuildWithNotebooks})
