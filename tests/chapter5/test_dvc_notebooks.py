"""Chapter 5's DVC notebooks, run headless with papermill against a local lab, as a participant would.

They run as a participant of the session's lab new to it (conftest.py's ``dvc_participant``, whom the
notebooks' nbval items share), with parameters, and the tests read what they printed and did.
"""

import base64
import hashlib
import re
import subprocess
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml
from labtools import Participant
from notebooktools import assert_no_secret, outputs_text, parameters_cell
from notebooktools import execute as run_notebook

from jukebox.lab import settings
from jukebox.paths import REPO_ROOT

CHAPTER_5 = REPO_ROOT / "5-data-versioning"
TRACK = CHAPTER_5 / "2-dvc-s3-track-remote-data.ipynb"
SEE_CHANGE = CHAPTER_5 / "3-dvc-s3-see-change.ipynb"
KEY = "song_properties.parquet"


@pytest.fixture(scope="module")
def participant(dvc_participant) -> Participant:
    return dvc_participant  # conftest.py's, shared with the notebooks' nbval items


@pytest.fixture(scope="module")
def kernel_env(dvc_kernel_env) -> dict[str, str]:
    return dvc_kernel_env


@pytest.fixture(scope="module")
def tracked(dvc_tracked):
    """Notebook 2, run once (conftest.py): its scratch folder, its scratch clone and the executed notebook's path."""
    return dvc_tracked


def execute(notebook: Path, output: Path, env: dict[str, str], **parameters) -> nbformat.NotebookNode:
    """Run ``notebook`` headless (papermill) in its folder, as JupyterLab does, its kernel in ``env``."""
    return run_notebook(notebook, output, env, cwd=notebook.parent, timeout=300, **parameters)


def s3_object(participant: Participant) -> bytes:
    return participant.s3().get_object(Bucket="data", Key=KEY)["Body"].read()


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True).stdout.strip()


def test_notebooks_are_saved_clean_and_parameterized():
    for path in (TRACK, SEE_CHANGE):
        assert "workdir = " in parameters_cell(path), path.name
        text = path.read_text()
        assert "<paste-the-link-here>" not in text and "/opt/app-root" not in text, path.name


@pytest.mark.slow
def test_see_change_without_the_scratch_clone_says_to_run_notebook_2_first(participant, kernel_env, tmp_path):
    before = participant.s3().list_objects_v2(Bucket="data").get("Contents", [])
    output = tmp_path / SEE_CHANGE.name
    with pytest.raises(papermill.PapermillExecutionError) as error:
        execute(SEE_CHANGE, output, kernel_env, workdir=str(tmp_path / "nothing-here"))
    assert error.value.ename == "RuntimeError"
    assert error.value.evalue == (
        f"No {KEY}.dvc in {tmp_path / 'nothing-here' / 'jukebox'}: "
        "run 2-dvc-s3-track-remote-data.ipynb first (same workdir)."
    )
    assert participant.s3().list_objects_v2(Bucket="data").get("Contents", []) == before
    assert not (tmp_path / "nothing-here").exists()
    assert_no_secret(participant.lab, participant.name, output)


@pytest.mark.slow
def test_track_commits_a_dvc_file_with_the_md5_of_the_s3_object(participant, tracked):
    _, clone, output = tracked
    committed = yaml.safe_load(git(clone, "show", f"HEAD:{KEY}.dvc"))
    assert committed["outs"][0]["md5"] == hashlib.md5(s3_object(participant)).hexdigest()
    assert committed["deps"][0]["path"] == f"remote://data-source/{KEY}"
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "dvc-scratch"
    assert git(clone, "log", "-1", "--format=%s") == f"Track s3://data/{KEY} with DVC"
    # Nothing was pushed: the server's main has no DVC data (a push there would start a CT run).
    assert git(clone, "ls-tree", "--name-only", "origin/main", f"{KEY}.dvc") == ""
    assert committed["outs"][0]["md5"] in outputs_text(nbformat.read(output, as_version=4))


@pytest.mark.slow
def test_track_writes_both_remotes_with_the_endpoint_and_no_keys(participant, tracked):
    _, clone, _ = tracked
    config = git(clone, "show", "HEAD:.dvc/config")
    endpoint = participant.s3_url
    assert config.split() == [
        "[core]",
        *["remote", "=", "s3-version"],
        *["['remote", '"s3-version"\']', "url", "=", "s3://data-cache", "endpointurl", "=", endpoint],
        *["['remote", '"data-source"\']', "url", "=", "s3://data", "endpointurl", "=", endpoint],
    ]
    assert not any(secret in config for secret in settings.secret_values(participant.settings))
    assert not (clone / ".dvc" / "config.local").exists()


@pytest.mark.slow
def test_see_change_shows_two_versions_and_leaves_s3_and_the_clone_as_it_found_them(participant, kernel_env, tracked):
    workdir, clone, _ = tracked
    data, head = s3_object(participant), git(clone, "rev-parse", "HEAD")
    etag = participant.s3().head_object(Bucket="data", Key=KEY)["ETag"]
    output = workdir.parent / SEE_CHANGE.name
    notebook = execute(SEE_CHANGE, output, kernel_env, workdir=str(workdir))

    text = outputs_text(notebook)
    changed = re.findall(r"The data version changed: ([0-9a-f]{32}) → ([0-9a-f]{32})", text)
    assert len(changed) == 1
    old, new = changed[0]
    assert old == hashlib.md5(data).hexdigest() and new != old
    assert "14,245 songs before, 8,891 songs now." in text
    assert any("image/png" in out.get("data", {}) for cell in notebook.cells for out in cell.get("outputs", []))
    # The new version stays in DVC's remote; S3's data and the clone are as before.
    assert participant.s3().head_object(Bucket="data-cache", Key=f"files/md5/{new[:2]}/{new[2:]}")["ContentLength"] > 0
    assert s3_object(participant) == data and participant.s3().head_object(Bucket="data", Key=KEY)["ETag"] == etag
    assert git(clone, "rev-parse", "HEAD") == head and git(clone, "status", "--porcelain") == ""
    assert sorted(path.name for path in workdir.iterdir()) == ["jukebox"]  # the backup is gone
    assert_no_secret(participant.lab, participant.name, output)


@pytest.mark.slow
def test_no_lab_secret_in_the_executed_notebooks(participant, tracked):
    _, _, track_output = tracked
    assert_no_secret(participant.lab, participant.name, track_output)


@pytest.mark.slow
def test_track_runs_again_from_a_fresh_clone(participant, kernel_env, tracked, tmp_path):
    workdir, clone, _ = tracked
    md5 = yaml.safe_load((clone / f"{KEY}.dvc").read_text())["outs"][0]["md5"]
    output = tmp_path / TRACK.name
    execute(TRACK, output, kernel_env, workdir=str(workdir))
    assert yaml.safe_load(git(clone, "show", f"HEAD:{KEY}.dvc"))["outs"][0]["md5"] == md5
    assert git(clone, "rev-list", "--count", "HEAD") == "2"  # the initial commit and one DVC commit
    assert_no_secret(participant.lab, participant.name, output)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("password", "`git clone` failed (fatal: could not read Username for 'http://127.0.0.1:"),
        ("AWS_SECRET_ACCESS_KEY", "Could not use S3 at http://127.0.0.1:"),
    ],
    ids=["git-password", "s3-secret-key"],
)
def test_track_with_wrong_credentials_stops_with_one_sentence(
    participant, kernel_env, tracked, tmp_path, variable, message
):
    before = participant.s3().list_objects_v2(Bucket="data")["Contents"]
    output = tmp_path / TRACK.name
    with pytest.raises(papermill.PapermillExecutionError) as error:
        execute(TRACK, output, {**kernel_env, variable: "not-the-secret"}, workdir=str(tmp_path / "scratch"))
    assert error.value.ename == "RuntimeError" and error.value.evalue.startswith(message)
    assert error.value.evalue.endswith(("(secret git-auth).", "check the endpoint and the keys."))
    assert "not-the-secret" not in output.read_text()
    assert base64.b64encode(f"{participant.name}:not-the-secret".encode()).decode() not in output.read_text()
    assert participant.s3().list_objects_v2(Bucket="data")["Contents"] == before
    assert_no_secret(participant.lab, participant.name, output)
