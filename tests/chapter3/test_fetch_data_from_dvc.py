"""fetch_data_from_dvc against the local lab: the participant's repo, DVC on S3, real git auth."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from fetch_data import fetch_data_from_dvc
from kfp import dsl
from pipelinetools import make_artifact

from jukebox.data_contract import FEATURES
from jukebox.lab import environment, settings
from jukebox.paths import DATA_PREP


def dvc(*args, cwd, env):
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def lab_with_dvc_data(shared_lab, tmp_path_factory):
    """The session's lab, where user1/jukebox has a branch on which song_properties.parquet is tracked by DVC.

    The branch starts from the repo's first commit (the kit as shipped, without DVC), whatever other
    tests pushed to user1's main; its DVC data goes to user1's data-cache bucket.
    """
    lab = shared_lab
    lab.ensure_buckets("data-cache")
    clone = lab.clone("jukebox", tmp_path_factory.mktemp("repo") / "jukebox")
    initial = lab.git("rev-list", "--max-parents=0", "HEAD", cwd=clone).stdout.strip()
    assert lab.git("switch", "--quiet", "--create", "dvc-data", initial, cwd=clone).returncode == 0
    env = {**lab.env, **environment.lab_environment(lab.settings)}
    dvc("init", "--quiet", cwd=clone, env=env)
    dvc("remote", "add", "--default", "s3-version", "s3://data-cache", cwd=clone, env=env)
    dvc("remote", "modify", "s3-version", "endpointurl", lab.settings.url("s3"), cwd=clone, env=env)
    pd.read_parquet(DATA_PREP / "small_song_properties.parquet").to_parquet(clone / "song_properties.parquet")
    dvc("add", "--quiet", "song_properties.parquet", cwd=clone, env=env)
    dvc("push", "--quiet", cwd=clone, env=env)
    lab.git("add", ".", cwd=clone)
    lab.git("commit", "--quiet", "-m", "Track the song data with DVC", cwd=clone)
    # A branch, not main: a push to main would start a CT run this test does not need. (--force: a
    # second build of this fixture in the same session replaces the branch.)
    pushed = lab.git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/dvc-data", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    tracked = lab.git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    md5 = yaml.safe_load((clone / "song_properties.parquet.dvc").read_text())["outs"][0]["md5"]
    # A later version of the data without the column energy, on a branch of its own.
    pd.read_parquet(clone / "song_properties.parquet").drop(columns="energy").to_parquet(
        clone / "song_properties.parquet"
    )
    dvc("add", "--quiet", "song_properties.parquet", cwd=clone, env=env)
    dvc("push", "--quiet", cwd=clone, env=env)
    lab.git("commit", "--quiet", "-am", "Song data without energy", cwd=clone)
    pushed = lab.git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/dvc-data-without-energy", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    without_energy = lab.git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    return lab, env, initial, tracked, md5, without_energy


def fetch(monkeypatch, tmp_path, env, git_version, rankings="song_rankings.parquet"):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    dataset = make_artifact(dsl.Dataset, tmp_path, "dataset")
    fetch_data_from_dvc.func.python_func(
        cluster_domain="apps.example.com",
        git_version=git_version,
        rankings_url=f"{env['JUKEBOX_RAW_URL']}/{rankings}",
        features=FEATURES,
        dataset=dataset,
    )
    return dataset


@pytest.mark.slow
def test_reads_the_dvc_version_and_records_its_hash_and_remote(lab_with_dvc_data, monkeypatch, tmp_path, capsys):
    lab, env, _, tracked, md5, _ = lab_with_dvc_data
    dataset = fetch(monkeypatch, tmp_path, env, tracked)
    data = pd.read_parquet(dataset.path)
    assert len(data) > 1000 and set(FEATURES) <= set(data.columns)
    assert data["spotify_id"].isin(pd.read_parquet(DATA_PREP / "small_song_properties.parquet")["spotify_id"]).all()
    metadata = dataset.metadata
    assert metadata["source"] == "dvc" and metadata["dvc_md5"] == md5 and metadata["git_version"] == tracked
    assert "s3://data-cache" in metadata["dvc_config"] and "endpointurl" in metadata["dvc_config"]
    assert metadata["repo_url"] == f"{lab.settings.git_url}/user1/jukebox.git"
    text = json.dumps(metadata) + capsys.readouterr().out
    for secret in settings.secret_values(lab.settings):
        assert secret not in text


@pytest.mark.slow
def test_a_version_without_dvc_data_says_so(lab_with_dvc_data, monkeypatch, tmp_path):
    _, env, initial, _, _, _ = lab_with_dvc_data
    with pytest.raises(RuntimeError) as error:
        fetch(monkeypatch, tmp_path, env, initial)
    assert str(error.value).startswith(
        f"The jukebox repo has no DVC-tracked song_properties.parquet at version {initial}: run the data pipeline"
    )


@pytest.mark.slow
def test_wrong_git_credentials_are_one_sentence_without_the_password(lab_with_dvc_data, monkeypatch, tmp_path):
    _, env, _, tracked, _, _ = lab_with_dvc_data
    with pytest.raises(RuntimeError, match="^Could not clone http://127.0.0.1:") as error:
        fetch(monkeypatch, tmp_path, {**env, "password": "not-the-password"}, tracked)
    assert "not-the-password" not in str(error.value)


@pytest.mark.slow
def test_a_dvc_version_that_lacks_a_feature_is_refused_as_the_url_fetch_refuses_it(
    lab_with_dvc_data, monkeypatch, tmp_path
):
    _, env, _, _, _, without_energy = lab_with_dvc_data
    with pytest.raises(RuntimeError) as error:
        fetch(monkeypatch, tmp_path, env, without_energy)
    assert (
        str(error.value) == f"The song properties tracked by DVC at version {without_energy} lack the columns energy."
    )
    assert not (tmp_path / "dataset").exists()


@pytest.mark.slow
def test_missing_charts_are_refused_in_the_sentence_of_the_other_fetches(lab_with_dvc_data, monkeypatch, tmp_path):
    _, env, _, tracked, _, _ = lab_with_dvc_data
    with pytest.raises(RuntimeError) as error:
        fetch(monkeypatch, tmp_path, env, tracked, rankings="missing.parquet")
    assert (
        str(error.value)
        == f"Cannot download the song rankings from {env['JUKEBOX_RAW_URL']}/missing.parquet: HTTP 404."
    )
