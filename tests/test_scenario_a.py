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

CHAPTER = "scenario A (data versions drive training)"  # for the report by chapter

DATA_PIPELINE = REPO_ROOT / "5-data-versioning" / "4-data_pipeline_with_dvc_versioning.py"


def ct_runs(lab: Participant) -> list[dict]:
    """The participant's CT runs, oldest first."""
    records = (json.loads(path.read_text()) for path in (lab.home / "runs").glob("ct-*.json"))
    return sorted((record for record in records if record["user"] == lab.name), key=lambda r: r["created"])


def head_of_main(lab: Participant) -> str:
    return lab.git("--git-dir", str(lab.home / "git" / lab.name / "jukebox.git"), "rev-parse", "main").stdout.strip()


@pytest.fixture
def lab(shared_lab) -> Participant:
    return Participant(shared_lab, shared_lab.add_participant("scenario_a"))


@pytest.mark.slow
def test_scenario_a(lab, tmp_path):
    # 1. Buckets as code: declare data and data-cache in mlops-gitops.
    gitops = lab.clone("mlops-gitops", tmp_path / "mlops-gitops")
    config = gitops / "toolings" / "minio" / "config.yaml"
    config.write_text(workshop_edits.BUCKETS.change(config.read_text()))
    lab.commit_and_push(gitops, workshop_edits.BUCKETS.message)
    deadline = time.monotonic() + 30
    while {"data", "data-cache"} - {b["Name"] for b in lab.s3().list_buckets()["Buckets"]}:
        assert time.monotonic() < deadline, "the gitops push did not create the buckets"
        time.sleep(0.5)

    # 2-3. Switch the CT pipeline to DVC and push: CT fails, on purpose, saying why.
    jukebox = lab.clone("jukebox", tmp_path / "jukebox")
    script = jukebox / "3-prod_datascience" / "prod_train_save_pipeline.py"
    script.write_text(workshop_edits.DVC.change(script.read_text()))
    switched = lab.commit_and_push(jukebox, workshop_edits.DVC.message)
    failed = json.loads(lab.cli("runs", "wait", switched[:7], check=False).stdout)
    assert failed["status"] == "failed"
    assert failed["message"] == (
        "Step train failed: The pipeline failed at step fetch-data-from-dvc: The jukebox repo has no DVC-tracked "
        f"song_properties.parquet at version {switched[:7]}: run the data pipeline "
        "(5-data-versioning/4-data_pipeline_with_dvc_versioning.py) first."
    )

    # 4-5. The data pipeline: a daily schedule and an ad-hoc run now.
    repo_url = lab.repo_url
    parameters = [
        "--param",
        f"dataset_url={lab.settings.raw_url}/song_properties.parquet",
        "--param",
        f"repo_url={repo_url}",
    ]
    lab.cli(
        "schedules",
        "create",
        "data-pipeline-with-dvc-daily",
        "--script",
        str(DATA_PIPELINE),
        "--every",
        "1d",
        "--user",
        lab.name,
        *parameters,
    )
    listed = lab.cli("schedules", "list").stdout
    assert "data-pipeline-with-dvc-daily" in listed and "1d" in listed and "repo_url" in listed
    run_now = ["runs", "start", "data-pipeline-with-dvc-adhoc-run", "--script", str(DATA_PIPELINE), "--user", lab.name]
    started = lab.cli(*run_now, *parameters, "--wait")
    assert "succeeded" in started.stdout, started.stdout

    # 6. The repo now holds the DVC files, and that push started a CT run that succeeds.
    data_commit = head_of_main(lab)
    assert data_commit != switched
    lab.git("pull", "--quiet", "origin", "main", cwd=jukebox)
    assert (jukebox / ".dvc" / "config").is_file() and (jukebox / "song_properties.parquet.dvc").is_file()
    trained = json.loads(lab.cli("runs", "wait", data_commit[:7]).stdout)
    assert trained["status"] == "succeeded"

    # 7. Lineage: the registered version names the data version it was trained on.
    md5 = yaml.safe_load((jukebox / "song_properties.parquet.dvc").read_text())["outs"][0]["md5"]
    version = MlflowClient(lab.settings.url("mlflow")).get_model_version_by_alias(lab.model_name, "test")
    assert version.tags["version"] == data_commit[:7]
    assert version.tags["data_source"] == "dvc" and version.tags["data_dvc_md5"] == md5
    assert "s3://data-cache" in version.tags["data_dvc_config"]
    assert all(secret not in json.dumps(version.tags) for secret in settings.secret_values(lab.settings))
    # A CT run (prod_flag true, as the cluster's) leaves the model where the workshop's model car takes it.
    assert version.tags["prod_flag"] == "true"
    volume = lab.home / "model-volume" / lab.name
    assert (volume / "jukebox.onnx").is_file() and (volume / "artifacts" / "scaler.pkl").is_file()

    # Unchanged data: no commit, so no new CT run.
    runs_before = len(ct_runs(lab))
    again = lab.cli(*run_now, *parameters, "--wait")
    assert "succeeded" in again.stdout
    time.sleep(2)
    assert head_of_main(lab) == data_commit
    assert len(ct_runs(lab)) == runs_before
    lab.cli("schedules", "delete", "data-pipeline-with-dvc-daily")

    # The participant's progress says so, step by step.
    progress = lab.cli("progress", "--user", lab.name).stdout
    assert {"buckets", "data-to-s3", "switch-to-dvc", "dvc-pipeline", "ct-with-dvc"} <= steps_done(progress), progress
