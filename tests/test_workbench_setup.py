"""A cluster workbench set up as chapter 3's guide says can run the chapters' scripts and notebooks.

The guide (``3-prod_datascience/README.md``) gives the set-up as one ``bash`` block right after the
line ``<!-- workbench-setup -->``. The slow test takes those lines from the guide (never a copy of
them) and runs them as a participant types them in a workbench's terminal: in the folder that holds
a fresh copy of the kit named ``jukebox``, with a clean virtualenv's ``python`` and ``pip`` first on
the ``PATH`` (no system site-packages, no ``PYTHONPATH``; pip reaches only PyPI). Then it does what
the chapters need of the workbench: compile every pipeline script (the play button's first step),
import what the chapters' notebooks import, and find the pinned versions installed.
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kittools import kit_copy

from jukebox.paths import REPO_ROOT
from jukebox.pins import pinned

CHAPTER = "workbench (play button, JupyterLab)"  # for the report by chapter

GUIDE = REPO_ROOT / "3-prod_datascience" / "README.md"
MARKER = "<!-- workbench-setup -->"
# The pipeline scripts a participant presses play on, each with the options that make it only compile.
PIPELINE_SCRIPTS = {
    "3-prod_datascience/prod_train_save_pipeline.py": ["--compile"],
    "5-data-versioning/1-data_pipeline_url_to_s3.py": ["--compile"],
    "5-data-versioning/4-data_pipeline_with_dvc_versioning.py": [],  # its play button compiles
    "7-feature_store/5-data_pipeline_with_materialize.py": [],  # so does this one's
}


def setup_lines(guide_text: str) -> list[str]:
    """The lines of the ``bash`` block that follows the marker: the set-up a participant types."""
    blocks = re.findall(re.escape(MARKER) + r"\s*\n```bash\n(.*?)\n```", guide_text, re.S)
    if len(blocks) != 1:
        raise ValueError(f"The guide needs exactly one ```bash block right after {MARKER}; it has {len(blocks)}.")
    return [line for line in blocks[0].splitlines() if line.strip()]


def requirement_names(requirements: Path) -> list[str]:
    """The package names a requirements file asks for (its ``-c``/``-r`` lines and comments left out)."""
    names = []
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\s\[<>=!~;]", line)[0])
    return names


def notebook_imports() -> list[str]:
    """The top-level modules the chapters' notebooks import at the top level of their cells."""
    modules = set()
    for notebook in sorted(REPO_ROOT.glob("[0-9]*/*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))
            for node in ast.parse(code).body:
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return sorted(modules)


def test_the_guide_has_one_setup_block_and_it_installs_only_pinned_packages():
    lines = setup_lines(GUIDE.read_text())
    korean = GUIDE.with_name("README.ko.md")
    assert setup_lines(korean.read_text()) == lines, "README.ko.md must give the same set-up lines as README.md."
    files = [REPO_ROOT / file for line in lines for file in re.findall(r"pip install .*?-r\s+(\S+)", line)]
    assert files, "The set-up installs no requirements file."
    for requirements in files:
        assert "-c requirements.txt" in requirements.read_text().splitlines(), f"{requirements.name} lacks its pins."
        pinned(*requirement_names(requirements))  # KeyError, naming the package, when one is not pinned


def test_a_guide_without_its_setup_block_or_with_an_unpinned_package_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"exactly one ```bash block right after <!-- workbench-setup -->; it has 0"):
        setup_lines("<!-- workbench-setup -->\n\n```sh\npip install kfp\n```\n")
    requirements = tmp_path / "requirements-workbench.txt"
    requirements.write_text("-c requirements.txt\nkfp  # pinned\nleft-pad\n")
    assert requirement_names(requirements) == ["kfp", "left-pad"]
    with pytest.raises(KeyError, match="Pin left-pad in requirements.txt"):
        pinned(*requirement_names(requirements))


@pytest.mark.slow
def test_the_setup_lines_work_in_a_clean_virtualenv(tmp_path):
    lines = setup_lines(GUIDE.read_text())
    kit = kit_copy(tmp_path / "jukebox")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")

    typed = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", "\n".join(lines)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    said = (typed.stdout + typed.stderr).strip().splitlines()
    assert typed.returncode == 0, "The set-up failed; its last lines:\n" + "\n".join(said[-15:])
    promised = re.search(r"`(kfp \S+ - the workbench is ready)`", GUIDE.read_text())
    assert promised, "The guide does not say what the set-up's last line prints (`kfp … - the workbench is ready`)."
    assert promised[1] in typed.stdout.splitlines(), f"The set-up did not print {promised[1]!r}: {typed.stdout[-500:]}"

    python = str(venv / "bin" / "python")
    for script, options in PIPELINE_SCRIPTS.items():
        path = kit / script
        compiled = subprocess.run(
            [python, path.name, *options], cwd=path.parent, env=env, capture_output=True, text=True, timeout=300
        )
        assert compiled.returncode == 0, f"{script} did not compile in the workbench:\n{compiled.stderr[-1500:]}"
        written = re.search(r"^Wrote (.+\.yaml)$", compiled.stdout, re.M)
        assert written and Path(written[1]).is_file(), f"{script} wrote no YAML: {compiled.stdout[-500:]}"
        assert Path(written[1]).is_relative_to(kit), f"{script} wrote {written[1]}, outside the workbench's clone."

    modules = notebook_imports()
    assert {"boto3", "feast", "pandas", "yaml"} <= set(modules), modules  # the notebooks were read
    modules.append("sklearn")  # chapter 7's notebook 3 unpickles the served model's scaler
    imported = subprocess.run(
        [python, "-c", "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)", *modules],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert imported.returncode == 0, f"A notebook's import fails in the workbench:\n{imported.stderr[-1500:]}"
    dvc = subprocess.run([python, "-m", "dvc", "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert dvc.stdout.strip() == pinned("dvc")[0].split("==")[1], dvc.stdout + dvc.stderr

    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable"], env=env, capture_output=True, text=True, check=True
    ).stdout
    drift = []
    for line in frozen.splitlines():
        name, _, version = line.partition("==")
        try:
            wanted = pinned(name)[0].split("==")[1]
        except KeyError:
            wanted = "not pinned"
        if version != wanted:
            drift.append(f"{name} {version} ({wanted})")
    assert not drift, f"The workbench's packages differ from requirements.txt: {', '.join(drift)}."
