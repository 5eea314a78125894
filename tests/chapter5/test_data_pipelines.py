"""Chapter 5's data pipelines: the URL → S3 ETL and the pipeline that versions the data with DVC.

The compiled YAML is checked without a lab; the runs use the session's local lab, as a participant
of their own ("dvc", new to the lab, with chapter 5's buckets) would: load, version, version again
unchanged, change the data, try bad inputs, race another push. Each test sets up the state it needs
(a test that needs the data versioned runs the pipeline first unless it already is), so each passes
alone and in any order.
"""

import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp import components, dsl
from labtools import Lab, Participant

from jukebox import local_run
from jukebox.components.dvc_versioning import version_with_dvc
from jukebox.components.song_etl import extract_data, load_data, transform_data
from jukebox.components.validation import validate_data
from jukebox.data_contract import FEATURES, SONG_PROPERTIES
from jukebox.data_server import serve_folder
from jukebox.lab import environment, process, runs, settings
from jukebox.paths import DATA_PREP, REPO_ROOT

CHAPTER_5 = REPO_ROOT / "5-data-versioning"
URL_TO_S3 = "1-data_pipeline_url_to_s3.py"
WITH_DVC = "4-data_pipeline_with_dvc_versioning.py"
SENTINELS = {
    "AWS_ACCESS_KEY_ID": "yaml-sentinel-access-key",
    "AWS_SECRET_ACCESS_KEY": "yaml-sentinel-secret-key",
    "username": "yaml-sentinel-user",
    "password": "yaml-sentinel-password",
}
DATA_SECRET_KEYS = {
    "AWS_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_S3_BUCKET",
}
KEY = "song_properties.parquet"
DVC_FILE = f"{KEY}.dvc"


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any S3, git or registry setting a developer may have exported."""
    drop = ("AWS_", "MLFLOW_", "JUKEBOX_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(drop)}
    env = {name: value for name, value in env.items() if name not in ("username", "password", "namespace")}
    return {**env, **extra}


# ---- the compiled YAML -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Both scripts compiled in a copy of the chapter folder, with credentials in the environment."""
    folder = tmp_path_factory.mktemp("chapter5")
    for script in (URL_TO_S3, WITH_DVC, "kit_package.py"):
        shutil.copy(CHAPTER_5 / script, folder / script)
    env = clean_environment(**SENTINELS, JUKEBOX_LAB_HOME=str(folder / "no-lab"))
    run = {
        URL_TO_S3: subprocess.run([sys.executable, URL_TO_S3, "--compile"], cwd=folder, env=env, capture_output=True),
        WITH_DVC: subprocess.run([sys.executable, WITH_DVC], cwd=folder, env=env, capture_output=True),  # play button
    }
    for script, result in run.items():
        assert result.returncode == 0, f"{script}: {result.stderr.decode()}"
    return {
        URL_TO_S3: folder / "data-pipeline-url-to-s3.yaml",
        WITH_DVC: folder / "song-properties-etl.yaml",
    }


def documents(path: Path) -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(path.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def secrets_of(executor: dict) -> dict[str, set]:
    return {item["secretName"]: {env["envVar"] for env in item["keyToEnv"]} for item in executor.get("secretAsEnv", [])}


def test_the_play_button_of_the_dvc_pipeline_writes_song_properties_etl_yaml_next_to_it(compiled):
    path = compiled[WITH_DVC]
    assert path.parent == compiled[URL_TO_S3].parent and path.name == "song-properties-etl.yaml"
    assert components.load_component_from_file(str(path)).name == "data-pipeline-with-dvc"


def test_the_url_to_s3_pipeline_extracts_transforms_loads_with_the_data_secret(compiled):
    spec, executors = documents(compiled[URL_TO_S3])
    assert components.load_component_from_file(str(compiled[URL_TO_S3])).name == "data-pipeline-url-to-s3"
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"extract-data", "transform-data", "validate-data", "load-data"}
    assert sorted(tasks["load-data"]["dependentTasks"]) == ["transform-data", "validate-data"]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {"dataset_url"}
    assert parameters["dataset_url"]["defaultValue"].endswith("/99-data_prep/song_properties.parquet")
    assert secrets_of(executors["exec-load-data"]) == {"aws-connection-data": DATA_SECRET_KEYS}


def test_the_dvc_pipeline_has_its_steps_parameters_secrets_and_namespace(compiled):
    spec, executors = documents(compiled[WITH_DVC])
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"extract-data", "transform-data", "validate-data", "load-data", "version-with-dvc"}
    assert sorted(tasks["load-data"]["dependentTasks"]) == ["transform-data", "validate-data"]
    assert tasks["version-with-dvc"]["dependentTasks"] == ["load-data"]
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"dataset_url", "repo_url"}
    assert "extract-data" not in [name.removeprefix("exec-") for name in executors if secrets_of(executors[name])]
    assert secrets_of(executors["exec-load-data"]) == {"aws-connection-data": DATA_SECRET_KEYS}
    version = executors["exec-version-with-dvc"]
    assert secrets_of(version) == {"aws-connection-data": DATA_SECRET_KEYS, "git-auth": {"username", "password"}}
    assert version["fieldPathAsEnv"] == [{"name": "namespace", "fieldPath": "metadata.namespace"}]
    outputs = spec["components"]["comp-version-with-dvc"]["outputDefinitions"]["parameters"]
    assert set(outputs) == {"commit", "md5"}


def test_no_credential_from_the_environment_is_in_the_yaml(compiled):
    for path in compiled.values():
        text = path.read_text()
        for value in SENTINELS.values():
            assert value not in text, f"{value} appears in {path.name}"


# ---- the components on their own (no lab) ------------------------------------------------------


@pytest.fixture(scope="module")
def songs() -> pd.DataFrame:
    return pd.read_parquet(DATA_PREP / "small_song_properties.parquet").head(300)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, songs):
    """Parquet files served over HTTP: changed data (with an extra column), upper-case columns, files
    extract refuses, and files that break the data contract."""
    folder = tmp_path_factory.mktemp("served")
    changed = songs.copy()
    changed["energy"] = changed["energy"] / 2
    changed["mood"] = "calm"  # a column the contract does not name: kept
    changed.to_parquet(folder / "changed.parquet", index=False)
    songs.rename(columns=str.upper).to_parquet(folder / "upper.parquet", index=False)
    for name, frame in contract_breaks(songs).items():
        frame.to_parquet(folder / name, index=False)
    songs.head(0).to_parquet(folder / "no_rows.parquet", index=False)
    (folder / "empty.parquet").write_bytes(b"")
    (folder / "not_parquet.parquet").write_text("spotify_id,energy\nabc,0.5\n")
    with serve_folder(folder) as url:
        yield url


def contract_breaks(songs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Song properties that break the data contract, one way each (the ones participants met)."""
    negative_tempo, too_danceable = songs.copy(), songs.copy()
    negative_tempo.loc[negative_tempo.index[0], "tempo"] = -1.0
    too_danceable.loc[too_danceable.index[:2], "danceability"] = 1.2
    return {
        "negative_tempo.parquet": negative_tempo,
        "duration_as_text.parquet": songs.assign(duration_ms=songs["duration_ms"].astype(str)),
        "empty_energy.parquet": songs.assign(energy=None),
        "too_danceable.parquet": too_danceable,
        "missing_columns.parquet": songs.drop(columns=["tempo", "valence"]),
    }


FIRST_SONG = "59NraMJsLaMCVtwXTSia8i"
CONTRACT_BREAKS = {
    "negative_tempo.parquet": f"tempo must be ≥ 0: 1 row breaks it (spotify_id {FIRST_SONG})",
    "duration_as_text.parquet": "duration_ms must hold whole numbers: it holds text",
    "empty_energy.parquet": "energy must have a value in every row: it is empty",
    "too_danceable.parquet": f"danceability must be ≤ 1: 2 rows break it (spotify_id {FIRST_SONG})",
    "missing_columns.parquet": "tempo is missing; valence is missing",
}
BAD_INPUTS = {
    "missing.parquet": "Cannot download the song properties from {url}/missing.parquet: HTTP 404.",
    "not_parquet.parquet": "The song properties at {url}/not_parquet.parquet are not a parquet file.",
    "empty.parquet": "The song properties at {url}/empty.parquet are an empty file.",
    "no_rows.parquet": "The song properties at {url}/no_rows.parquet have no rows.",
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_extract_names_the_url_and_the_problem_in_one_sentence(bad_files, tmp_path, name):
    with pytest.raises(RuntimeError) as error:
        extract_data.python_func(dataset_url=f"{bad_files}/{name}", dataset=dsl.Dataset(uri=str(tmp_path / "d")))
    assert str(error.value) == BAD_INPUTS[name].format(url=bad_files)
    assert not (tmp_path / "d").exists()


def test_extract_says_when_the_server_cannot_be_reached(tmp_path):
    port = next(port for port in iter(lambda: random.randrange(20000, 40000), None) if process.port_is_free(port))
    url = f"http://127.0.0.1:{port}/song_properties.parquet"
    with pytest.raises(RuntimeError, match=f"^Cannot download the song properties from {url}: ConnectionError.$"):
        extract_data.python_func(dataset_url=url, dataset=dsl.Dataset(uri=str(tmp_path / "d")))


def test_the_contract_step_requires_the_kits_13_features_and_spotify_id(songs, tmp_path):
    for column in ["spotify_id", *FEATURES]:
        path = tmp_path / f"without-{column}.parquet"
        songs.drop(columns=[column]).to_parquet(path, index=False)
        with pytest.raises(ValueError, match=f"of the data contract: {column} is missing.$"):
            validate_data.python_func(dataset=dsl.Dataset(uri=str(path)), contract=SONG_PROPERTIES)


def test_transform_lower_cases_columns_and_the_result_keeps_the_contract(songs, tmp_path, capsys):
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    songs.rename(columns=str.upper).to_parquet(source, index=False)
    transform_data.python_func(dataset=dsl.Dataset(uri=str(source)), transformed=dsl.Dataset(uri=str(target)))
    assert list(pd.read_parquet(target).columns) == [column.lower() for column in songs.columns]
    validate_data.python_func(dataset=dsl.Dataset(uri=str(target)), contract=SONG_PROPERTIES)
    assert "The song properties keep the data contract: 300 rows" in capsys.readouterr().out


# ---- the pipelines in the local lab ------------------------------------------------------------


class DvcParticipant(Participant):
    """A participant with chapter 5's buckets, and what the tests do as them: run its scripts, look at S3 and git."""

    def __init__(self, lab: Lab, name: str):
        super().__init__(lab, name)
        lab.ensure_buckets("data", "data-cache", user=name)  # as declared in their mlops-gitops
        self.env = clean_environment(**environment.lab_environment(lab.settings, name))
        self.outputs: list[str] = []  # everything the runs printed, scanned for credentials
        self.versioned_shipped_data = None  # (main, S3 object) right after a run versioned the shipped data

    @classmethod
    def new(cls, lab: Lab) -> "DvcParticipant":
        """A participant new to the lab: a repo without DVC and an empty S3."""
        return cls(lab, lab.add_participant("dvc"))

    def run_script(self, script: str, *sets: str) -> subprocess.CompletedProcess:
        command = [sys.executable, script, "--local", *[arg for value in sets for arg in ("--set", value)]]
        result = subprocess.run(command, cwd=CHAPTER_5, env=self.env, capture_output=True, text=True, timeout=900)
        full_logs = [path.read_text() for path in local_run.full_logs(result.stdout)]
        self.outputs += [result.stdout, result.stderr, *full_logs]
        return result

    def run_dvc_pipeline(self, *sets: str) -> subprocess.CompletedProcess:
        """The data pipeline with DVC versioning, as ``--local`` runs it: in the running participant's own repo.

        No ``repo_url`` is given: the workshop's default (a Gitea URL) becomes this participant's
        repo on the lab's git server (``jukebox/local_urls.py``), which the tests then look at.
        """
        result = self.run_script(WITH_DVC, *sets)
        if result.returncode == 0 and not sets:
            self.versioned_shipped_data = self.state()
        return result

    def state(self) -> tuple:
        """What a run changes: the commit on main and the data object in S3."""
        return self.main_commit(), self.objects("data").get(KEY)

    def version_the_shipped_data(self) -> None:
        """Make main version the shipped song data in S3: run the pipeline, unless its last run left it so."""
        if self.versioned_shipped_data != self.state():
            result = self.run_dvc_pipeline()
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr


@pytest.fixture(scope="module")
def participant(shared_lab) -> DvcParticipant:
    """This module's participant of the session's lab (new to it), with chapter 5's buckets."""
    return DvcParticipant.new(shared_lab)


def failure_line(result: subprocess.CompletedProcess) -> str:
    return (result.stderr.strip().splitlines() or [""])[-1]


def full_log(result: subprocess.CompletedProcess) -> str:
    """The steps' own output: the run prints one line per step and names the file that holds the rest."""
    (path,) = local_run.full_logs(result.stdout)
    return path.read_text()


def runs_of(participant: DvcParticipant) -> list[str]:
    """The ids of the participant's CT and pipeline runs (other tests' runs come and go in the shared lab)."""
    return [run.id for run in runs.load_all(participant.home) if run.user == participant.name]


def read_s3_parquet(participant: DvcParticipant) -> tuple[pd.DataFrame, str]:
    body = participant.s3().get_object(Bucket="data", Key=KEY)["Body"].read()
    return pd.read_parquet(io.BytesIO(body)), hashlib.md5(body).hexdigest()


@pytest.mark.slow
def test_the_url_to_s3_pipeline_puts_the_song_properties_in_s3_with_lower_case_columns(participant):
    result = participant.run_script(URL_TO_S3)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"{participant.settings.raw_url}/song_properties.parquet" in full_log(result), (
        "locally it reads the participant's raw data"
    )
    frame, _ = read_s3_parquet(participant)
    assert len(frame) == len(pd.read_parquet(DATA_PREP / KEY))
    assert list(frame.columns) == [column.lower() for column in frame.columns]
    assert {"spotify_id", *FEATURES} <= set(frame.columns)


@pytest.mark.slow
def test_the_first_run_initializes_dvc_and_pushes_one_commit(participant, shared_lab, tmp_path):
    if participant.objects("data-cache"):  # the module's participant has versioned data already: take a new one
        participant = DvcParticipant.new(shared_lab)
    before = participant.main_commit()
    result = participant.run_dvc_pipeline()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    clone = participant.clone("jukebox", tmp_path / "repo")
    assert participant.git_output("rev-list", f"{before}..main", cwd=clone).split() == [participant.main_commit()]
    assert participant.git_output("log", "-1", "--format=%an", cwd=clone).strip() == "jukebox data pipeline"

    config = (clone / ".dvc" / "config").read_text()
    endpoint = participant.s3_url
    for remote, url in (("s3-version", "s3://data-cache"), ("data-source", "s3://data")):
        section = config.split(f"['remote \"{remote}\"']")[1].split("[")[0]
        assert f"url = {url}" in section and f"endpointurl = {endpoint}" in section
    assert "remote = s3-version" in config
    assert "access_key" not in config and "secret" not in config

    _, md5 = read_s3_parquet(participant)
    tracked = yaml.safe_load((clone / DVC_FILE).read_text())
    assert tracked["outs"][0]["md5"] == md5 and tracked["deps"][0]["path"] == f"remote://data-source/{KEY}"
    assert list(participant.objects("data-cache")) == [f"files/md5/{md5[:2]}/{md5[2:]}"], (
        "the data, and no upload leftover"
    )


@pytest.mark.slow
def test_a_run_with_unchanged_data_commits_and_uploads_nothing(participant):
    participant.version_the_shipped_data()
    before, data_before, cache_before = (
        participant.main_commit(),
        participant.objects("data"),
        participant.objects("data-cache"),
    )
    result = participant.run_dvc_pipeline()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"s3://data/{KEY} is unchanged" in full_log(result)
    assert "already holds these" in full_log(result) and participant.objects("data") == data_before, (
        "the same bytes again"
    )
    assert participant.main_commit() == before
    assert participant.objects("data-cache") == cache_before, "nothing was written to the DVC remote"


@pytest.mark.slow
def test_a_run_with_changed_data_pushes_one_commit_with_the_new_md5(participant, bad_files, tmp_path):
    before = participant.main_commit()
    result = participant.run_dvc_pipeline(f"dataset_url={bad_files}/changed.parquet")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    clone = participant.clone("jukebox", tmp_path / "repo")
    assert len(participant.git_output("rev-list", f"{before}..main", cwd=clone).split()) == 1
    frame, md5 = read_s3_parquet(participant)
    assert len(frame) == 300 and (frame["mood"] == "calm").all(), "extra columns are kept"
    assert yaml.safe_load((clone / DVC_FILE).read_text())["outs"][0]["md5"] == md5
    assert f"files/md5/{md5[:2]}/{md5[2:]}" in participant.objects("data-cache")
    assert not [key for key in participant.objects("data-cache") if key.endswith(".tmp")]


def expected_failure(name: str, url: str) -> str:
    if name in CONTRACT_BREAKS:
        rules = CONTRACT_BREAKS[name]
        many = "a rule" if ";" not in rules else f"{rules.count(';') + 1} rules"
        refusal = f"The song properties break {many} of the data contract: {rules}."
        return f"The pipeline failed at step validate-data: {refusal}"
    return f"The pipeline failed at step extract-data: {BAD_INPUTS[name].format(url=url)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["missing.parquet", "not_parquet.parquet", "empty.parquet", *CONTRACT_BREAKS])
def test_bad_input_fails_in_one_sentence_and_changes_nothing(participant, bad_files, name):
    """S3's object, git's main and the participant's runs are as before: the run stopped before load-data."""
    data, before, their_runs = participant.objects("data"), participant.main_commit(), runs_of(participant)
    result = participant.run_dvc_pipeline(f"dataset_url={bad_files}/{name}")
    assert result.returncode != 0
    assert failure_line(result) == expected_failure(name, bad_files)
    assert participant.objects("data") == data
    assert participant.main_commit() == before
    assert runs_of(participant) == their_runs


@pytest.fixture
def lab_variables(participant, monkeypatch):
    """The participant's variables (``env --user``) in this process, to call a component as its task would run."""
    variables = participant.lab.exports(participant.name)
    for name in ("AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, variables[name])
    monkeypatch.setenv("username", variables["username"])
    monkeypatch.setenv("password", variables["password"])
    return variables


PRE_PUSH_HOOK = """#!/bin/sh
# Once: before the pipeline's push, someone else pushes a commit to main.
[ -e "{marker}" ] && exit 0
touch "{marker}"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
git clone --quiet "{repo_url}" "{other}" && cd "{other}" &&
  echo "a participant's change" >> README.md &&
  git -c user.name=participant -c user.email=p@example.com commit --quiet -am "A participant's change" &&
  git push --quiet origin main
"""


@pytest.mark.slow
def test_a_push_race_ends_with_both_changes_on_main(participant, lab_variables, songs, tmp_path, monkeypatch, capsys):
    """Someone pushes to main between the pipeline's clone and its push: the pipeline starts again."""
    new_data = tmp_path / "new.parquet"
    songs.head(100).to_parquet(new_data, index=False)
    load_data.python_func(dataset=dsl.Dataset(uri=str(new_data)))  # new data in S3, as the load step writes it
    _, md5 = read_s3_parquet(participant)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = hooks / "pre-push"
    hook.write_text(
        PRE_PUSH_HOOK.format(marker=tmp_path / "pushed-once", repo_url=participant.repo_url, other=tmp_path / "other")
    )
    hook.chmod(0o755)
    (tmp_path / "gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))

    commit, recorded = version_with_dvc.python_func(repo_url=participant.repo_url)
    printed = capsys.readouterr().out
    participant.outputs.append(printed)
    assert "main moved on while versioning (attempt 1)" in printed
    assert recorded == md5 and commit == participant.main_commit()
    clone = participant.clone("jukebox", tmp_path / "repo")
    subjects = participant.git_output("log", "-2", "--format=%s", cwd=clone).splitlines()
    assert subjects[0].startswith(f"Version s3://data/{KEY} with DVC (md5 {md5})")
    assert subjects[1] == "A participant's change"
    assert yaml.safe_load((clone / DVC_FILE).read_text())["outs"][0]["md5"] == md5


@pytest.mark.slow
def test_two_concurrent_versioning_runs_push_the_new_data_once(participant, lab_variables, songs, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    new_data = tmp_path / "new.parquet"
    songs.head(120).to_parquet(new_data, index=False)
    load_data.python_func(dataset=dsl.Dataset(uri=str(new_data)))
    _, md5 = read_s3_parquet(participant)
    before = participant.main_commit()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: version_with_dvc.python_func(repo_url=participant.repo_url), range(2)))
    assert [recorded for _, recorded in results] == [md5, md5]
    # The second run finds the data versioned, or (same second) made the very same commit.
    pushed = {commit for commit, _ in results if commit}
    assert pushed == {participant.main_commit()}
    clone = participant.clone("jukebox", tmp_path / "repo")
    assert participant.git_output("rev-list", f"{before}..main", cwd=clone).split() == list(pushed), "one new commit"
    assert yaml.safe_load((clone / DVC_FILE).read_text())["outs"][0]["md5"] == md5


@pytest.mark.slow
def test_two_participants_running_the_data_pipeline_each_find_only_their_own_data(
    participant, user2, bad_files, tmp_path
):
    """user2 runs the pipeline in the same lab, with other data: their S3 and repo change, this participant's do not."""
    other = Participant(participant.lab, user2)
    participant.lab.ensure_buckets("data", "data-cache", user=user2)
    own_data, own_cache, own_main = (
        participant.objects("data"),
        participant.objects("data-cache"),
        participant.main_commit(),
    )
    script = str(CHAPTER_5 / WITH_DVC)
    parameters = [
        "--param",
        f"dataset_url={bad_files}/changed.parquet",
        "--param",
        f"repo_url={other.repo_url}",
    ]
    participant.lab.cli(
        "runs",
        "start",
        "data-pipeline-with-dvc-adhoc-run",
        "--script",
        script,
        "--user",
        user2,
        "--wait",
        *parameters,
    )

    body = other.s3().get_object(Bucket="data", Key=KEY)["Body"].read()
    assert len(pd.read_parquet(io.BytesIO(body))) == 300, "user2's data is in user2's S3"
    assert participant.objects("data") == own_data and participant.objects("data-cache") == own_cache, (
        "the other S3 is untouched"
    )
    assert participant.main_commit() == own_main
    clone = other.clone("jukebox", tmp_path / "user2-repo")
    tracked = other.git_output("show", f"{other.main_commit()}:{DVC_FILE}", cwd=clone)
    assert yaml.safe_load(tracked)["outs"][0]["md5"] == hashlib.md5(body).hexdigest()


@pytest.mark.slow
def test_wrong_credentials_are_clear_errors_that_show_no_credential(participant, lab_variables, monkeypatch, tmp_path):
    dataset = tmp_path / "songs.parquet"
    dataset.write_bytes((DATA_PREP / "small_song_properties.parquet").read_bytes())
    if KEY not in participant.objects("data"):  # data to protect from the refused writes
        load_data.python_func(dataset=dsl.Dataset(uri=str(dataset)))
    etag = participant.s3().head_object(Bucket="data", Key=KEY)["ETag"]
    with pytest.raises(RuntimeError) as missing_bucket:
        load_data.python_func(dataset=dsl.Dataset(uri=str(dataset)), bucket="no-such-bucket")
    assert str(missing_bucket.value) == (
        "Bucket no-such-bucket does not exist: add it to mlops-gitops toolings/minio/config.yaml."
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key")
    with pytest.raises(RuntimeError) as refused:
        load_data.python_func(dataset=dsl.Dataset(uri=str(dataset)))
    assert str(refused.value) == (
        f"S3 at {participant.s3_url} refused the credentials: check the secret aws-connection-data."
    )
    assert participant.s3().head_object(Bucket="data", Key=KEY)["ETag"] == etag

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", lab_variables["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.setenv("password", "wrong-git-password")
    with pytest.raises(RuntimeError) as refused_git:
        version_with_dvc.python_func(repo_url=participant.repo_url)
    assert str(refused_git.value).startswith(f"Cloning {participant.repo_url} failed: ")
    assert "wrong-git-password" not in str(refused_git.value)
    with pytest.raises(RuntimeError, match="without credentials"):
        version_with_dvc.python_func(repo_url=participant.repo_url.replace("://", f"://{participant.name}:wrong@"))


@pytest.mark.slow
def test_no_credential_appears_in_logs_outputs_or_git_history(participant, bad_files, tmp_path):
    if len(participant.outputs) < 6:  # too few runs in this module yet (this test alone): a good run and a bad one
        participant.version_the_shipped_data()
        assert participant.run_dvc_pipeline(f"dataset_url={bad_files}/missing.parquet").returncode != 0
    secrets = settings.secret_values(participant.settings)
    clone = participant.clone("jukebox", tmp_path / "repo")
    history = participant.git_output("log", "--all", "-p", cwd=clone)
    logs = [*(participant.home / "logs").glob("*.log"), *(participant.home / "runs").glob("*.log")]  # services, CT runs
    written = {path.name: path.read_text(errors="replace") for path in logs}
    written.update({"run outputs": "\n".join(participant.outputs), "git history": history})
    assert len(participant.outputs) >= 6
    for name, text in written.items():
        for secret in secrets:
            assert secret not in text, f"a credential appears in {name}"
