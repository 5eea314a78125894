"""The chapters' notebook cells as nbval items (tests/nbvaltools.py) in the report by chapter, shown on a
scratch copy of chapter 5's notebook 2 with a deliberately broken cell, run by pytest's own pytester."""

import re
import shutil

import nbformat
import pytest

from jukebox.paths import REPO_ROOT

pytest_plugins = ["pytester"]

NOTEBOOK = REPO_ROOT / "5-data-versioning" / "2-dvc-s3-track-remote-data.ipynb"
SECRET = "not-a-real-secret-4f1e"
BROKEN = 4  # nbval's number of the broken cell: code cells counted from 0
RAISE = 'raise RuntimeError("deliberately broken, key " + os.environ["AWS_SECRET_ACCESS_KEY"])'
FIRST_LINE = 'print("Breaking on purpose with the key", os.environ["AWS_SECRET_ACCESS_KEY"])'

# The scratch chapter's conftest: its notebook's kernel gets a secret, which must not reach the report.
CONFTEST = f"""
import os

import pytest
from nbvaltools import Workbench, collect

KERNELS = {{"{NOTEBOOK.name}": "workbench"}}


def pytest_collect_file(file_path, parent):
    return collect(file_path, parent, KERNELS)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: the kit's marker, for the notebooks' cells")


@pytest.fixture(scope="session")
def workbench():
    return Workbench({{**os.environ, "AWS_SECRET_ACCESS_KEY": "{SECRET}"}}, ["{SECRET}"])
"""


@pytest.fixture
def broken_run(pytester):
    """A scratch copy of the notebook, cell ``BROKEN`` broken, run as chapter 5's notebooks are; its reports."""
    notebooks = pytester.mkdir("chapter5") / "notebooks"
    notebooks.mkdir()
    (pytester.path / "chapter5" / "conftest.py").write_text(CONFTEST)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cell = [cell for cell in notebook.cells if cell.cell_type == "code"][BROKEN]
    cell.source = (
        f'{FIRST_LINE}\nraise RuntimeError("deliberately broken, key " + os.environ["AWS_SECRET_ACCESS_KEY"])\n'
    )
    nbformat.write(notebook, notebooks / NOTEBOOK.name)
    (notebooks / "requirements.txt").write_text("")  # its first cell's install: the kit is installed already
    result = pytester.runpytest("-p", "chapter_report")
    return result, pytester.path / "reports"


def test_a_broken_cell_is_named_by_its_number_and_first_line_and_its_log_linked(broken_run):
    result, reports = broken_run
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(NOTEBOOK, as_version=4).cells)
    later = code_cells - BROKEN - 1
    result.assert_outcomes(passed=BROKEN, failed=1, skipped=later)
    reason = f"{NOTEBOOK.name} cell {BROKEN}: {FIRST_LINE}: RuntimeError: deliberately broken, key ***"
    markdown = (reports / "chapters.md").read_text()
    assert f"## 5-data-versioning: {BROKEN} passed, 1 failed, {later} skipped" in markdown
    assert f"- FAILED {NOTEBOOK.name}::Cell {BROKEN}: {reason}" in markdown
    skipped = ", ".join(f"{NOTEBOOK.name}::Cell {number}" for number in range(BROKEN + 1, code_cells))
    assert f"- SKIPPED {skipped}: Skipped: cell {BROKEN} of {NOTEBOOK.name} failed before it\n" in markdown

    page = (reports / "chapters.html").read_text()
    item = re.escape(f"chapter5/notebooks/{NOTEBOOK.name}::Cell {BROKEN}")
    link = re.search(rf'<li><code>{item}</code>: [^<]*\(<a href="([^"]+)">log</a>\)</li>', page)
    assert link, page
    log = (reports / link.group(1)).read_text()
    assert f"Input:\n{FIRST_LINE}\n" in log
    assert "Output:\nBreaking on purpose with the key ***\n" in log
    assert "Traceback:\n" in log and RAISE in log
    assert SECRET not in log and SECRET not in page and "\x1b[" not in log


def test_a_notebook_without_a_kernel_fixture_is_a_collection_error(pytester):
    notebooks = pytester.mkdir("chapter5") / "notebooks"
    notebooks.mkdir()
    (pytester.path / "chapter5" / "conftest.py").write_text(CONFTEST)
    shutil.copy(NOTEBOOK.with_name("3-dvc-s3-see-change.ipynb"), notebooks)
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*3-dvc-s3-see-change.ipynb: name the fixture of its kernel*"])
