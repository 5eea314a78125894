"""Run a chapter's notebook headless as an instructor's CI does (papermill), and read what it printed."""

import base64
import os
from pathlib import Path

import nbformat
import papermill
import pytest


def execute(notebook: Path, output: Path, env: dict[str, str], cwd: Path, timeout: int = 600, **parameters):
    """Run ``notebook`` with papermill in ``cwd``, its kernel in ``env`` (and no other lab variable).

    Args:
        notebook: the chapter's notebook.
        output: where the executed copy goes.
        env: the kernel's variables (what a workbench of the participant has).
        cwd: the kernel's working directory.
        timeout: the longest a cell may run, in seconds.
        parameters: values for the notebook's ``parameters`` cell.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith(("AWS_", "MLFLOW_", "FEAST_")) and name not in env]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd),
            progress_bar=False,
            execution_timeout=timeout,
        )
    return nbformat.read(output, as_version=4)


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed, returned and raised, as one text."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts += [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def has_plot(notebook: nbformat.NotebookNode) -> bool:
    """Whether a cell of the executed notebook showed a picture."""
    return any("image/png" in out.get("data", {}) for cell in notebook.cells for out in cell.get("outputs", []))


def lab_secrets(lab, user: str) -> list[str]:
    """Every generated secret of ``lab``, and ``user``'s basic-auth token."""
    from jukebox.lab import settings

    password = settings.credentials(lab.settings)["git"][user]
    return [*settings.secret_values(lab.settings), base64.b64encode(f"{user}:{password}".encode()).decode()]


def assert_no_secret(lab, user: str, path: Path) -> None:
    """No generated secret (nor ``user``'s basic-auth token) anywhere in the executed notebook at ``path``."""
    text = path.read_text()
    leaked = [secret for secret in lab_secrets(lab, user) if secret in text]
    assert not leaked, f"{path.name} shows {len(leaked)} lab secret(s)"


def parameters_cell(path: Path) -> str:
    """The source of a committed notebook's one ``parameters`` cell; it fails if any cell has an output."""
    code = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), f"{path.name} has outputs"
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} has {len(tagged)} cells tagged parameters, not one"
    return tagged[0].source
