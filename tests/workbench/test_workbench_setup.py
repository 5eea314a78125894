"""A cluster workbench runs the chapters' scripts and notebooks with nothing of the kit installed.

The workshop's workbench image brings JupyterLab, Elyra and KFP, and the kit adds nothing to it, as
the workshop adds nothing: the chapter scripts find the kit's package through their folder's
``kit_package.py``, and the notebooks of chapters 5 and 7 install their folder's
``requirements.txt`` in their first cell, as the workshop's notebooks do. Chapter 3's guide
(``3-prod_datascience/README.md``) gives the check a participant types, as one ``bash`` block right
after the line ``<!-- workbench-setup -->``.

The slow tests stand in for the image with a clean virtualenv that holds only KFP, the versions the
workshop's CT task installs (``kittools.TASK_PACKAGES``). The image's other libraries are left out
on purpose, so a chapter's own install must bring everything its notebooks import. In the folder
that holds a fresh copy of the kit named ``jukebox``, with that virtualenv first on the ``PATH``
(no ``PYTHONPATH``; pip reaches only PyPI), they run the guide's lines (never a copy of them) and
compile every pipeline script (the play button's first step). Then, for each chapter, they run its
notebooks' install line as their first cell has it, and import what the notebooks import. Only a
cluster can prove the rest: that the image's own KFP and libraries are these.
"""

import ast
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from kittools import PIP_WITHOUT_COMPILING, TASK_PACKAGES, clean_python, kit_copy

from jukebox.paths import REPO_ROOT
from jukebox.pins import pinned

GUIDE = REPO_ROOT / "3-prod_datascience" / "README.md"
MARKER = "<!-- workbench-setup -->"
INSTALL = "%pip install -q -r requirements.txt"  # the first code cell's line, in every notebook
# The pipeline scripts a participant presses play on, each with the options that make it only compile.
PIPELINE_SCRIPTS = {
    "3-prod_datascience/prod_train_save_pipeline.py": ["--compile"],
    "5-data-versioning/1-data_pipeline_url_to_s3.py": ["--compile"],
    "5-data-versioning/4-data_pipeline_with_dvc_versioning.py": [],  # its play button compiles
    "7-feature_store/5-data_pipeline_with_materialize.py": [],  # so does this one's
}
NOTEBOOK_CHAPTERS = ["5-data-versioning", "7-feature_store"]
# Imported below the top level of a cell, on the cluster's path: notebook 3 of chapter 7 downloads
# the served model's scaler from the models bucket (boto3) and unpickles it (scikit-learn).
NESTED_IMPORTS = {"7-feature_store": ["boto3", "sklearn"]}


def setup_lines(guide_text: str) -> list[str]:
    """The lines of the ``bash`` block that follows the marker: what a participant types."""
    blocks = re.findall(re.escape(MARKER) + r"\s*\n```bash\n(.*?)\n```", guide_text, re.S)
    if len(blocks) != 1:
        raise ValueError(f"The guide needs exactly one ```bash block right after {MARKER}; it has {len(blocks)}.")
    return [line for line in blocks[0].splitlines() if line.strip()]


def code_cells(notebook: Path) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def install_line(notebook: Path) -> str:
    """The first code cell's one command (its comments left out)."""
    lines = [line for line in code_cells(notebook)[0].splitlines() if line.strip() and not line.startswith("#")]
    return lines[0] if len(lines) == 1 else "\n".join(lines)


def notebook_imports(chapter: Path) -> list[str]:
    """The top-level modules a chapter's notebooks import at the top level of their cells."""
    modules = set()
    for notebook in sorted(chapter.glob("*.ipynb")):
        for source in code_cells(notebook):
            code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))
            for node in ast.parse(code).body:
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return sorted(modules)


def requirement_names(requirements: Path) -> list[str]:
    """The package names a requirements file asks for (comments left out)."""
    lines = (line.split("#")[0].strip() for line in requirements.read_text().splitlines())
    return [re.split(r"[\s\[<>=!~;]", line)[0] for line in lines if line and not line.startswith("-")]


def test_the_guide_gives_one_check_in_both_languages_and_it_installs_nothing():
    lines = setup_lines(GUIDE.read_text())
    korean = GUIDE.with_name("README.ko.md")
    assert setup_lines(korean.read_text()) == lines, "README.ko.md must give the same lines as README.md."
    assert not [line for line in lines if "install" in line], f"The workbench needs no set-up: {lines}"


def test_a_guide_without_its_block_is_refused():
    with pytest.raises(ValueError, match=r"exactly one ```bash block right after <!-- workbench-setup -->; it has 0"):
        setup_lines("<!-- workbench-setup -->\n\n```sh\npython prod_train_save_pipeline.py --compile\n```\n")


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_every_notebook_of_the_chapter_first_installs_its_folders_requirements(chapter):
    folder = REPO_ROOT / chapter
    notebooks = sorted(folder.glob("*.ipynb"))
    assert notebooks, f"{chapter} has no notebook"
    assert (folder / "requirements.txt").is_file(), f"{chapter} has no requirements.txt for its notebooks"
    firsts = {notebook.name: install_line(notebook) for notebook in notebooks}
    assert firsts == {name: INSTALL for name in firsts}, firsts
    pinned(*requirement_names(folder / "requirements.txt"))  # KeyError, naming the package, when one is not pinned


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_every_chapter_script_finds_the_kits_package_beside_it(chapter):
    helper = REPO_ROOT / chapter / "kit_package.py"
    assert helper.resolve() == (REPO_ROOT / "3-prod_datascience" / "kit_package.py"), "one kit_package.py, linked"
    for script in (REPO_ROOT / chapter).glob("[0-9]-*.py"):
        assert "\nimport kit_package  # noqa" in script.read_text(), f"{script.name} does not import kit_package"


def run_in(folder: Path, env: dict[str, str], *command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """One command in ``folder``, as the workbench's terminal or kernel runs it."""
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def workbench(tmp_path) -> tuple[Path, Path, dict[str, str]]:
    """A fresh copy of the kit named ``jukebox``, the image's Python, and the terminal's environment."""
    kit = kit_copy(tmp_path / "jukebox")
    python = clean_python(tmp_path / "venv", *TASK_PACKAGES)
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(python.parent.parent), PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}")
    env.update(PIP_WITHOUT_COMPILING)
    return kit, python, env


@pytest.mark.slow
def test_the_guides_check_and_every_play_button_work_with_only_the_images_kfp(workbench):
    kit, python, env = workbench
    lines = "\n".join(setup_lines(GUIDE.read_text()))
    home = {**env, "HOME": str(kit.parent)}  # the clone is in the home folder
    typed = run_in(kit.parent, home, "bash", "-e", "-o", "pipefail", "-c", lines)
    said = (typed.stdout + typed.stderr).strip().splitlines()
    assert typed.returncode == 0, "The guide's check failed; its last lines:\n" + "\n".join(said[-15:])
    promised = re.search(r"`Wrote …(/\S+\.yaml)`", GUIDE.read_text())
    assert promised, "The guide does not say what its check prints (`Wrote …/….yaml`)."
    assert f"Wrote {kit.parent}{promised[1]}" in typed.stdout.splitlines(), typed.stdout[-500:]

    for script, options in PIPELINE_SCRIPTS.items():
        path = kit / script
        compiled = run_in(path.parent, env, str(python), path.name, *options)
        assert compiled.returncode == 0, f"{script} did not compile in the workbench:\n{compiled.stderr[-1500:]}"
        written = re.search(r"^Wrote (.+\.yaml)$", compiled.stdout, re.M)
        assert written and Path(written[1]).is_file(), f"{script} wrote no YAML: {compiled.stdout[-500:]}"
        assert Path(written[1]).is_relative_to(kit), f"{script} wrote {written[1]}, outside the workbench's clone."


@pytest.mark.slow
@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_the_notebooks_import_what_their_first_cell_installs(workbench, chapter):
    kit, python, env = workbench
    folder = kit / chapter
    command = install_line(next(folder.glob("*.ipynb")))
    assert command.startswith("%pip "), command
    # %pip runs the kernel's own pip: `python -m pip` with the rest of the line.
    installed = run_in(folder, env, str(python), "-m", "pip", *shlex.split(command)[1:], timeout=900)
    assert installed.returncode == 0, f"{command} failed in {chapter}:\n{installed.stderr[-1500:]}"

    modules = notebook_imports(folder) + NESTED_IMPORTS.get(chapter, [])
    assert {"pandas", "matplotlib"} <= set(modules), modules  # the notebooks were read
    importing = "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)"
    imported = run_in(folder, env, str(python), "-c", importing, *modules)
    assert imported.returncode == 0, f"A notebook's import fails in the workbench:\n{imported.stderr[-1500:]}"
    check = run_in(folder, env, str(python), "-m", "pip", "check")
    assert check.returncode == 0, f"The chapter's installs break the image's KFP: {check.stdout}"

    frozen = run_in(folder, env, str(python), "-m", "pip", "freeze").stdout.lower()
    for wanted in pinned(*requirement_names(folder / "requirements.txt")):
        assert wanted.lower() in frozen.splitlines(), f"{wanted} is not what the workbench got"
    if chapter == "5-data-versioning":  # the notebooks call DVC as `python -m dvc`
        dvc = run_in(folder, env, str(python), "-m", "dvc", "--version")
        assert dvc.stdout.strip() == pinned("dvc")[0].split("==")[1], dvc.stdout + dvc.stderr
