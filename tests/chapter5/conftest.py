"""Chapter 5's notebooks as nbval items (``notebooks/``, see tests/nbvaltools.py), and the participant and
the run of notebook 2 they share with test_dvc_notebooks.py.

The participant is new to the session's lab ("notebooks"): a repo without DVC and an S3 without the
song data, which notebook 2 copies there from the lab's raw data, as in the workshop.
"""

import json
import sys
from pathlib import Path

import pytest
from ipykernel.kernelspec import write_kernel_spec
from labtools import Participant
from nbvaltools import Workbench, collect
from notebooktools import execute, lab_secrets

from jukebox.paths import REPO_ROOT

CHAPTER_5 = REPO_ROOT / "5-data-versioning"
TRACK = CHAPTER_5 / "2-dvc-s3-track-remote-data.ipynb"
SCRATCH = "jukebox-dvc-scratch"  # the notebooks' default workdir, in the home folder

# Each notebook of notebooks/ and the fixture of its kernel: notebook 3 needs notebook 2's clone.
KERNELS = {
    "2-dvc-s3-track-remote-data.ipynb": "dvc_workbench",
    "3-dvc-s3-see-change.ipynb": "dvc_workbench_tracked",
}


def pytest_collect_file(file_path, parent):
    return collect(file_path, parent, KERNELS)


@pytest.fixture(scope="session")
def dvc_participant(shared_lab) -> Participant:
    """A participant new to the session's lab, with the buckets chapter 5 declares (created directly)."""
    participant = Participant(shared_lab, shared_lab.add_participant("notebooks"))
    shared_lab.ensure_buckets("data", "data-cache", user=participant.name)
    return participant


@pytest.fixture(scope="session")
def dvc_kernel_env(dvc_participant, tmp_path_factory) -> dict[str, str]:
    """What a papermill kernel inherits: the lab's variables, and a `python3` kernel that is this Python.

    The kernel spec goes first on JUPYTER_PATH, so a `python3` kernel of the user or the system
    (which may run another Python, without dvc) cannot shadow it.
    """
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = Path(write_kernel_spec(jupyter / "kernels" / "python3"))
    assert json.loads((spec / "kernel.json").read_text())["argv"][0] == sys.executable
    return {**dvc_participant.variables(), "JUPYTER_PATH": str(jupyter)}


@pytest.fixture(scope="session")
def dvc_tracked(dvc_participant, dvc_kernel_env, tmp_path_factory):
    """Notebook 2, run once (papermill) at a home of its own, in its default workdir there: the scratch
    folder, its clone and the executed notebook's path.

    Notebook 3's nbval items run at that home too, as a participant runs both notebooks: in the same
    home, git finds the same identity (none here: notebook 2 gives the clone one).
    """
    folder = tmp_path_factory.mktemp("track")
    workdir = folder / SCRATCH
    output = folder / TRACK.name
    env = {**dvc_kernel_env, "HOME": str(folder)}
    execute(TRACK, output, env, cwd=CHAPTER_5, timeout=300, workdir=str(workdir))
    return workdir, workdir / "jukebox", output


@pytest.fixture(scope="session")
def dvc_workbench(dvc_participant, tmp_path_factory) -> Workbench:
    """Notebook 2's kernel: the participant's variables and a home of its own (its default workdir is there)."""
    home = tmp_path_factory.mktemp("home")
    env = {**dvc_participant.variables(), "HOME": str(home)}
    return Workbench(env, lab_secrets(dvc_participant.lab, dvc_participant.name))


@pytest.fixture(scope="session")
def dvc_workbench_tracked(dvc_participant, dvc_tracked) -> Workbench:
    """Notebook 3's kernel: the participant's variables, at home where notebook 2 ran (``dvc_tracked``)."""
    workdir, _, _ = dvc_tracked
    env = {**dvc_participant.variables(), "HOME": str(workdir.parent)}
    return Workbench(env, lab_secrets(dvc_participant.lab, dvc_participant.name))
