"""Scenario A end to end in the local lab, done as a participant does it (mission.md, steps 1-7).

It runs in the session's lab as a participant new to it ("scenario_a"): the scenario starts from the
kit as shipped (no data buckets, no DVC in the repo) and looks at that participant's runs and model.
"""

import json
import time

import pytest
import yaml
from labtools import Participant, steps_done
from mlflow import MlflowClient

from jukebox.course import workshop_edits
from jukebox.lab import settings
from jukebox.paths import REPO_ROOT

DATA_PIPELINE = REPO_ROOT / "5-data-versioning" / "4-data_pipeline_with_dvc_versioning.py"


def ct_runs(participant: Participant) -> list[dict]:
    """The participant's CT runs, oldest first."""
    records = (json.loads(path.read_text()) for path in (participant.home / "runs").glob("ct-*.json"))
    return sorted((record for record in records if record["user"] == participant.name), key=lambda r: r["created"])


def head_of_main(participant: Participant) -> str:
    return participant.git(
        "--git-dir", str(participant.home / "git" / participant.name / "jukebox.git"), "rev-parse", "main"
    ).stdout.strip()


@pytest.fixture
def participant(shared_lab) -> Participant:
    return Participant(shared_lab, shared_lab.add_participant("scenario_a"))


@pytest.mark.slow
def test_scenario_a(participant, tmp_path):
    # 1. Buckets as code: declare data and data-cache in mlops-gitops.
    gitops = participant.clone("mlops-gitops", tmp_path / "mlops-gitops")
    config = gitops / "toolings" / "minio" / "config.yaml"
    config.write_text(workshop_edits.BUCKETS.change(config.read_text()))
    participant.commit_and_push(gitops, workshop_edits.BUCKETS.message)
    deadline = time.monotonic() + 30
    while {"data", "data-cache"} - {b["Name"] for b in participant.s3().list_buckets()["Buckets"]}:
        assert time.monotonic() < deadline, "the gitops push did not create the buckets"
        time.sleep(0.5)

    # 2-3. Switch the CT pipeline to DVC and push: CT fails, on purpose, saying why.
    jukebox = participant.clone("jukebox", tmp_path / "jukebox")
    script = jukebox / "3-prod_datascience" / "prod_train_save_pipeline.py"
    script.write_text(workshop_edits.DVC.change(script.read_text()))
    switched = participant.commit_and_push(jukebox, workshop_edits.DVC.message)
    failed = json.loads(participant.cli("runs", "wait", switched[:7], check=False).stdout)
    assert failed["status"] == "failed"
    assert failed["message"] == (
        "Step train failed: The pipeline failed at step fetch-data-from-dvc: The jukebox repo has no DVC-tracked "
        f"song_properties.parquet at version {switched[:7]}: run the data pipeline "
        "(5-data-versioning/4-data_pipeline_with_dvc_versioning.py) first."
    )

    # 4-5. The data pipeline: a daily schedule and an ad-hoc run now.
    repo_url = participant.repo_url
    parameters = [
        "--param",
        f"dataset_url={participant.settings.raw_url}/song_properties.parquet",
        "--param",
        f"repo_url={repo_url}",
    ]
    participant.cli(
        "schedules",
        "create",
        "data-pipeline-with-dvc-daily",
        "--script",
        str(DATA_PIPELINE),
        "--every",
        "1d",
        "--user",
        participant.name,
        *parameters,
    )
    listed = participant.cli("schedules", "list").stdout
    assert "data-pipeline-with-dvc-daily" in listed and "1d" in listed and "repo_url" in listed
    run_now = [
        "runs",
        "start",
        "data-pipeline-with-dvc-adhoc-run",
        "--script",
        str(DATA_PIPELINE),
        "--user",
        participant.name,
    ]
    started = participant.cli(*run_now, *parameters, "--wait")
    assert "succeeded" in started.stdout, started.stdout

    # 6. The repo now holds the DVC files, and that push started a CT run that succeeds.
    data_commit = head_of_main(participant)
    assert data_commit != switched
    participant.git("pull", "--quiet", "origin", "main", cwd=jukebox)
    assert (jukebox / ".dvc" / "config").is_file() and (jukebox / "song_properties.parquet.dvc").is_file()
    trained = json.loads(participant.cli("runs", "wait", data_commit[:7]).stdout)
    assert trained["status"] == "succeeded"

    # 7. Lineage: the registered version names the data version it was trained on.
    md5 = yaml.safe_load((jukebox / "song_properties.parquet.dvc").read_text())["outs"][0]["md5"]
    version = MlflowClient(participant.settings.url("mlflow")).get_model_version_by_alias(
        participant.model_name, "test"
    )
    assert version.tags["version"] == data_commit[:7]
    assert version.tags["data_source"] == "dvc" and version.tags["data_dvc_md5"] == md5
    assert "s3://data-cache" in version.tags["data_dvc_config"]
    assert all(secret not in json.dumps(version.tags) for secret in settings.secret_values(participant.settings))
    # A CT run (prod_flag true, as the cluster's) leaves the model where the workshop's model car takes it.
    assert version.tags["prod_flag"] == "true"
    volume = participant.home / "model-volume" / participant.name
    assert (volume / "jukebox.onnx").is_file() and (volume / "artifacts" / "scaler.pkl").is_file()

    # Unchanged data: no commit, so no new CT run.
    runs_before = len(ct_runs(participant))
    again = participant.cli(*run_now, *parameters, "--wait")
    assert "succeeded" in again.stdout
    time.sleep(2)
    assert head_of_main(participant) == data_commit
    assert len(ct_runs(participant)) == runs_before
    participant.cli("schedules", "delete", "data-pipeline-with-dvc-daily")

    # The participant's progress says so, step by step.
    progress = participant.cli("progress", "--user", participant.name).stdout
    assert {"buckets", "data-to-s3", "switch-to-dvc", "dvc-pipeline", "ct-with-dvc"} <= steps_done(progress), progress
