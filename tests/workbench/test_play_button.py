"""The play button, as participants press it: Elyra runs a ``.py`` file's text in a Jupyter kernel.

Each pipeline script runs in a real kernel started in its folder (no ``__file__``, the kernel's
argv) and must do what ``python script.py`` does. One test presses the run button of Elyra's
Python editor in JupyterLab, in headless Chromium; one runs a chapter 5 notebook in a kernel of
the lab's JupyterLab, as its page does. Scripts run from copies of their chapter folders, so the
kit's tree stays clean.
"""

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kerneltools import ServerKernel, press_play
from mlflow import MlflowClient

from jukebox import pipeline_script
from jukebox.lab import environment, workbench
from jukebox.paths import DATA_PREP, REPO_ROOT

SONGS = "song_properties.parquet"


def chapter_copy(tmp_path: Path, chapter: str) -> Path:
    """A copy of a chapter folder, laid out as in the kit (``<root>/<chapter>/``)."""
    target = tmp_path / "kit" / chapter
    shutil.copytree(REPO_ROOT / chapter, target, ignore=shutil.ignore_patterns("*.yaml", "__pycache__"))
    return target


def no_lab_environment(tmp_path: Path) -> dict[str, str]:
    """A workbench with no lab running and no cluster: nothing points at S3, git or a registry."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MLFLOW_", "JUKEBOX_"))}
    return {**env, "JUKEBOX_LAB_HOME": str(tmp_path / "no-lab")}


def lab_kernel_environment(lab) -> dict[str, str]:
    """What the lab's JupyterLab hands its kernels: its own environment plus the lab's variables."""
    return {**lab.env, **environment.lab_environment(lab.settings)}


def pipeline_name(compiled: str) -> str:
    """The name in a compiled pipeline (its first YAML document; the second is the platform's)."""
    return next(yaml.safe_load_all(compiled))["pipelineInfo"]["name"]


def ensure_buckets(lab, *names: str) -> None:
    existing = {bucket["Name"] for bucket in lab.s3().list_buckets()["Buckets"]}
    for name in set(names) - existing:
        lab.s3().create_bucket(Bucket=name)


def test_in_a_kernel_the_options_are_none_and_the_folder_is_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["/x/site-packages/ipykernel_launcher.py", "-f", "/run/kernel-1.json"])
    assert pipeline_script.script_arguments() == []
    monkeypatch.setattr(sys, "argv", ["prod_train_save_pipeline.py", "--compile"])
    assert pipeline_script.script_arguments() == ["--compile"]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec("from jukebox.pipeline_script import script_folder\nfolder = script_folder()", namespace)
    assert namespace["folder"] == tmp_path  # code with no __file__, as a kernel runs it
    assert pipeline_script.script_folder() == Path(__file__).parent


def test_play_button_writes_the_dvc_pipeline_yaml_as_python_does(tmp_path):
    played = chapter_copy(tmp_path / "played", "5-data-versioning")
    script = played / "4-data_pipeline_with_dvc_versioning.py"
    output = press_play(script, no_lab_environment(tmp_path)).check()
    assert f"Wrote {played / 'song-properties-etl.yaml'}" in output

    typed = chapter_copy(tmp_path / "typed", "5-data-versioning")
    subprocess.run(
        [sys.executable, script.name], cwd=typed, env=no_lab_environment(tmp_path), check=True, capture_output=True
    )
    compiled = (played / "song-properties-etl.yaml").read_text()
    assert compiled == (typed / "song-properties-etl.yaml").read_text()
    assert pipeline_name(compiled) == "data-pipeline-with-dvc"


@pytest.mark.slow
def test_play_button_runs_the_url_to_s3_pipeline_in_the_lab(shared_lab, tmp_path):
    ensure_buckets(shared_lab, "data")
    shared_lab.s3().delete_object(Bucket="data", Key=SONGS)
    script = chapter_copy(tmp_path, "5-data-versioning") / "1-data_pipeline_url_to_s3.py"
    output = press_play(script, lab_kernel_environment(shared_lab)).check()
    assert "Pipeline succeeded" in output
    frame = pd.read_parquet(io.BytesIO(shared_lab.s3().get_object(Bucket="data", Key=SONGS)["Body"].read()))
    assert len(frame) == len(pd.read_parquet(DATA_PREP / SONGS))
    assert list(frame.columns) == [column.lower() for column in frame.columns]


@pytest.mark.slow
def test_play_button_trains_and_registers_a_model_in_the_lab(shared_lab, tmp_path):
    registry = MlflowClient(tracking_uri=shared_lab.settings.url("mlflow"))
    before = {version.version for version in registry.search_model_versions("name='jukebox'")}
    script = chapter_copy(tmp_path, "3-prod_datascience") / "prod_train_save_pipeline.py"
    output = press_play(script, lab_kernel_environment(shared_lab)).check()
    assert "Pipeline succeeded" in output
    new = [version for version in registry.search_model_versions("name='jukebox'") if version.version not in before]
    assert len(new) == 1, output[-2000:]
    assert f"version {new[0].version}" in output


@pytest.fixture
def workbench_on(shared_lab, tmp_path):
    """The lab's JupyterLab, opened on a copy of chapter 5 (stopped afterwards)."""
    root = chapter_copy(tmp_path, "5-data-versioning").parent
    shared_lab.cli("jupyter", "--root", str(root))
    yield root
    from jukebox.lab import process

    process.stop(shared_lab.home, "jupyter")
    (shared_lab.home / "jupyter" / "root").unlink(missing_ok=True)


def test_jupyter_command_prints_its_url_and_status_shows_it(shared_lab, workbench_on):
    started = shared_lab.cli("jupyter")
    assert "JupyterLab was already running" in started.stdout
    assert workbench.url(shared_lab.settings, with_token=True) in started.stdout
    line = next(line for line in shared_lab.cli("status").stdout.splitlines() if line.startswith("jupyter"))
    assert workbench.url(shared_lab.settings) in line and "healthy" in line and str(workbench_on) in line
    log = (shared_lab.home / "logs" / "jupyter.log").read_text()
    assert workbench.token(shared_lab.settings) not in log
    assert shared_lab.settings.ports["jupyter"] == shared_lab.settings.ports["git"] + 3


@pytest.mark.slow
def test_the_run_button_of_elyras_python_editor_writes_the_yaml(shared_lab, workbench_on):
    from browsertools import browser_page

    script = "5-data-versioning/4-data_pipeline_with_dvc_versioning.py"
    token = workbench.token(shared_lab.settings)
    with browser_page() as page:
        page.goto(f"{shared_lab.settings.url('jupyter')}/lab/tree/{script}?token={token}")
        page.wait_for_selector(".elyra-ScriptEditor", timeout=120_000)
        page.get_by_title("Run", exact=True).click()
        page.wait_for_selector("text=Wrote", timeout=120_000)
        console = page.inner_text(".elyra-ScriptEditor")
    yaml_path = workbench_on / "5-data-versioning" / "song-properties-etl.yaml"
    assert f"Wrote {yaml_path}" in console
    assert pipeline_name(yaml_path.read_text()) == "data-pipeline-with-dvc"


@pytest.mark.slow
def test_a_notebook_runs_in_the_workbench_as_under_papermill(shared_lab, workbench_on, tmp_path):
    import nbformat

    ensure_buckets(shared_lab, "data", "data-cache")
    path = "5-data-versioning/2-dvc-s3-track-remote-data.ipynb"
    notebook = nbformat.read(workbench_on / path, as_version=4)
    workdir = tmp_path / "scratch"
    kernel = ServerKernel(shared_lab.settings.url("jupyter"), workbench.token(shared_lab.settings), path)
    try:
        for cell in (cell for cell in notebook.cells if cell.cell_type == "code"):
            kernel.execute(cell.source).check()
            if "parameters" in cell.metadata.get("tags", []):
                # The defaults come from the lab's variables, exactly as papermill's kernel gets them.
                seen = kernel.execute("print(endpoint, repo_url, sep='\\n')").check().split()
                assert seen == [shared_lab.settings.url("s3"), f"{shared_lab.settings.git_url}/user1/jukebox.git"]
                kernel.execute(f"workdir = {str(workdir)!r}").check()  # as papermill injects a parameter
    finally:
        kernel.close()
    dvc_file = yaml.safe_load((workdir / "jukebox" / f"{SONGS}.dvc").read_text())
    body = shared_lab.s3().get_object(Bucket="data", Key=SONGS)["Body"].read()
    assert dvc_file["outs"][0]["md5"] == hashlib.md5(body).hexdigest()
