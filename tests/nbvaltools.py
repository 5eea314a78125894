"""The chapters' notebooks as nbval items: each code cell a test, in a kernel of the participant's workbench.

A chapter's test folder links its notebooks in ``notebooks/`` (``tests/chapter7/notebooks/1-setup_feast.ipynb``
→ ``7-feature_store/1-setup_feast.ipynb``) and names, for each, the fixture that prepares its kernel
(``KERNELS`` in the chapter's conftest.py, whose ``pytest_collect_file`` calls ``collect``). nbval 0.11's
collector (``IPyNbFile``) starts its kernel in the file's folder with pytest's own environment and
knows no fixture; here each notebook's kernel starts at its first cell, once that cell's fixtures
are set up (pytest's doctest items get fixtures the same way): this Python's kernel (nbval's
``--nbval-current-env``), in the chapter folder, with exactly the variables the fixture returns.

nbval runs lax (``--nbval-lax``): a cell passes when it runs without an error; outputs are compared only
in cells marked ``# NBVAL_CHECK_OUTPUT``, and the committed notebooks have no outputs to compare.
After a failed cell, the notebook's later cells are skipped, as papermill stops: each failure in the
report is a real one. A failed cell's message names the notebook, the cell (nbval's number: code cells
counted from 0) and its first line, then the error; its log shows the cell, what it printed and the
traceback, with the participant's secrets blanked out.
"""

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _pytest.fixtures import TopRequest
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel, start_new_kernel
from nbval.plugin import IPyNbCell, IPyNbFile, NbCellError

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # IPython colours its tracebacks


@dataclass
class Workbench:
    """What a kernel fixture returns: the kernel's variables, and the secrets that must not reach the report."""

    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)


def collect(file_path: Path, parent: pytest.Collector, kernels: dict[str, str]) -> "ChapterNotebook | None":
    """A chapter conftest's ``pytest_collect_file``: a notebook of its ``notebooks/``, with its kernel's fixture."""
    if file_path.suffix != ".ipynb" or file_path.parent.name != "notebooks":
        return None
    if file_path.name not in kernels:
        raise pytest.UsageError(f"{file_path}: name the fixture of its kernel in the chapter's conftest.py (KERNELS)")
    return ChapterNotebook.from_parent(parent, path=file_path, kernel_fixture=kernels[file_path.name])


class WorkbenchKernel(RunningKernel):
    """nbval's kernel, started with the variables given (nbval's own takes pytest's environment)."""

    def __init__(self, env: dict[str, str], cwd: Path, startup_timeout: float):
        self.km, self.kc = start_new_kernel(
            startup_timeout=startup_timeout,
            kernel_name=CURRENT_ENV_KERNEL_NAME,  # this Python, as --nbval-current-env
            stderr=subprocess.DEVNULL,
            cwd=str(cwd),
            env=env,
        )
        self._ensure_iopub_up()


class ChapterNotebook(IPyNbFile):
    """One chapter notebook: nbval's collector, lax, its kernel started by its first cell."""

    def __init__(self, *args, kernel_fixture: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False  # --nbval-lax
        self.kernel_fixture = kernel_fixture
        self.workbench: Workbench | None = None
        self.failed_cell: int | None = None
        self.add_marker(pytest.mark.usefixtures(kernel_fixture))  # each cell's fixtures include it
        self.add_marker(pytest.mark.slow)

    def setup(self):
        """nbval starts its kernel here; this collector only reads the sanitizers (the first cell starts it)."""
        self.setup_sanitize_files()

    def start_kernel(self, workbench: Workbench) -> None:
        """The notebook's kernel, in the chapter's folder (the link's target's), in the workbench's variables."""
        self.workbench = workbench
        self.kernel = WorkbenchKernel(
            workbench.env, self.path.resolve().parent, self.config.option.nbval_kernel_startup_timeout
        )

    def collect(self):
        for cell in super().collect():
            yield ChapterCell.from_parent(
                self, name=cell.name, cell_num=cell.cell_num, cell=cell.cell, options=cell.options
            )

    def redact(self, text: str) -> str:
        """``text`` without colours and with each of the workbench's secrets as ``***``."""
        text = ANSI.sub("", text)
        for secret in self.workbench.secrets if self.workbench else []:
            text = text.replace(secret, "***")
        return text


def first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "(empty cell)")


class ChapterCell(IPyNbCell):
    """One code cell as a test item, with fixtures (as pytest's doctest items have them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        info = self.session._fixturemanager.getfixtureinfo(node=self, func=None, cls=None)
        self._fixtureinfo, self.fixturenames = info, info.names_closure
        self.funcargs: dict[str, object] = {}
        self._request = TopRequest(self, _ispytest=True)

    def setup(self):
        self._request._fillfixtures()
        notebook = self.parent
        if notebook.failed_cell is not None:
            pytest.skip(f"cell {notebook.failed_cell} of {notebook.name} failed before it")
        super().setup()  # nbval: after a timed-out cell, the next ones are expected to fail
        if notebook.kernel is None:
            notebook.start_kernel(self._request.getfixturevalue(notebook.kernel_fixture))

    def reportinfo(self):
        """The cell's name in reports: ``<notebook>::Cell <n>`` (nbval's has the whole path)."""
        return self.path, 0, f"{self.parent.name}::{self.name}"

    def raise_cell_error(self, message, *args, **kwargs):
        """nbval's error, its message the report's one sentence: notebook, cell, first line, then the error."""
        notebook = self.parent
        notebook.failed_cell = self.cell_num
        errors = [out for out in self.test_outputs or [] if out.get("output_type") == "error"]
        if errors and message == "Cell execution caused an exception":
            message = f"{errors[-1]['ename']}: {errors[-1]['evalue']}"
        said = f"{notebook.name} cell {self.cell_num}: {first_line(self.cell.source)}: {message}"
        raise NbCellError(self.cell_num, notebook.redact(said), self.cell.source, *args, **kwargs)

    def repr_failure(self, excinfo):
        """The failure's log: the message, the cell, what it printed and the traceback, secrets blanked out."""
        error = excinfo.value
        if not isinstance(error, NbCellError):
            return super().repr_failure(excinfo)
        printed = "".join(out.get("text", "") for out in self.test_outputs or [] if out.get("output_type") == "stream")
        parts = [str(error), f"Input:\n{error.source}", f"Output:\n{printed or '(nothing)'}"]
        if error.inner_traceback:
            parts.append(f"Traceback:\n{error.inner_traceback.strip()}")
        return self.parent.redact("\n\n".join(parts))
