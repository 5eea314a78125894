"""Training through the feature store, and CT applying feature changes (chapter 7, in the lab).

Training through Feast is read from the stage conftest.py builds once per session for chapter 7's
notebooks (``trained_through_feast``): a participant whose outer loop's feature store is declared
(step 5: ``initialize-feast-database`` applied main's feature repo and materialized it, project
``music``) switched the training pipeline to the Feast block and pushed. The feature changes change
that store, so they have a participant of their own ("feast-ct"), declared the same way: they turn on
``apply_feature_changes`` in mlops-gitops, comment out ``loudness`` in the feature service and push:
CT applies the change before training, and the next model has 12 features. A broken feature repo
stops CT at ``feast-apply`` and leaves the registry as it was.
"""

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from labtools import Participant
from mlflow import MlflowClient

from jukebox.course import workshop_edits
from jukebox.data_contract import FEATURES
from jukebox.lab import gitops
from jukebox.paths import DATA_PREP, REPO_ROOT

SERVICE = Path("7-feature_store") / "feature_repo" / "feature_service.py"
TRAINING = Path("3-prod_datascience") / "prod_train_save_pipeline.py"


def ct_run(participant: Participant, commit: str) -> dict:
    return json.loads(participant.cli("runs", "wait", commit[:7], check=False).stdout)


def model_features(participant: Participant, run: dict) -> tuple[list[str], dict]:
    """The features the version trained by ``run`` has in the registry, and all its tags."""
    client = MlflowClient(participant.variables()["MLFLOW_TRACKING_URI"])
    (version,) = client.search_model_versions(f"name='{participant.model_name}' and tag.version='{run['commit'][:7]}'")
    return json.loads(version.tags["features"]), version.tags


@pytest.fixture(scope="module")
def participant(shared_lab, tmp_path_factory) -> Participant:
    """A new participant: the song properties in their S3 (chapter 5), their outer-loop feature store declared."""
    who = Participant(shared_lab, shared_lab.add_participant("feast_ct"))
    shared_lab.ensure_buckets("data", "data-cache", user=who.name)
    who.s3().upload_file(str(DATA_PREP / "song_properties.parquet"), "data", "song_properties.parquet")
    initialized = who.declare_feast_database(tmp_path_factory.mktemp("feast-ct-gitops"))
    assert initialized.status == "succeeded", initialized.message
    return who


def push(participant: Participant, folder: Path, message: str, service_edit=lambda source: source) -> dict:
    """Push the kit's training script switched to Feast and its feature service edited; the CT run.

    Both files are written from the kit's own, so that what other tests pushed before does not matter.
    """
    clone = participant.clone("jukebox", folder / "jukebox")
    (clone / TRAINING).write_text(workshop_edits.fetch_from_feast((REPO_ROOT / TRAINING).read_text()))
    (clone / SERVICE).write_text(service_edit((REPO_ROOT / SERVICE).read_text()))
    return ct_run(participant, participant.lab.commit_and_push(clone, message, participant.name))


def turn_on_feature_changes(participant: Participant, folder: Path) -> None:
    """In mlops-gitops: ``apply_feature_changes: true``, pushed, and reconciled by the lab."""
    repo = participant.clone("mlops-gitops", folder / "mlops-gitops")
    config = repo / "toolings" / "ct-pipeline" / "config.yaml"
    turned_on = workshop_edits.FEATURE_CHANGES.change(config.read_text())  # as the guide adds the line
    if turned_on != config.read_text():  # another test may have turned it on already
        config.write_text(turned_on)
        participant.lab.commit_and_push(repo, workshop_edits.FEATURE_CHANGES.message, participant.name)
    deadline = time.monotonic() + 30
    while not gitops.ct_options(participant.settings, participant.name).get("apply_feature_changes"):
        assert time.monotonic() < deadline, "the gitops push did not turn apply_feature_changes on"
        time.sleep(0.5)


@pytest.mark.slow
def test_training_through_the_feature_service_registers_a_model_with_its_13_features(trained_through_feast):
    participant, run = trained_through_feast["participant"], trained_through_feast["run"]
    assert run["status"] == "succeeded", run["message"]
    assert {step["status"] for step in run["steps"]} <= {"succeeded", "skipped"}
    features, tags = model_features(participant, run)
    assert features == FEATURES
    assert tags["data_source"] == "feast" and tags["data_feature_service"] == "serving_fs"
    assert tags["data_feast_project"] == "music", "the outer loop's store, as on the cluster"
    charts = pd.read_parquet(DATA_PREP / "song_rankings.parquet", columns=["spotify_id", "country"])
    assert int(tags["data_rows"]) == len(charts.drop_duplicates()), "every (song, country) found its properties"


@pytest.mark.slow
def test_ct_applies_a_feature_left_out_and_the_next_model_has_12(participant, tmp_path):
    turn_on_feature_changes(participant, tmp_path)
    run = push(participant, tmp_path, workshop_edits.LOUDNESS.message, workshop_edits.LOUDNESS.change)
    assert run["status"] == "succeeded", run["message"]
    assert {step["name"]: step["status"] for step in run["steps"]}["feast-apply"] == "succeeded"
    features, _ = model_features(participant, run)
    twelve = [feature for feature in FEATURES if feature != "loudness"]
    assert features == twelve and participant.outer_loop_service()[1] == twelve


@pytest.mark.slow
def test_a_broken_feature_repo_stops_ct_at_feast_apply_and_leaves_the_registry(participant, tmp_path):
    turn_on_feature_changes(participant, tmp_path)
    before = participant.outer_loop_service()[1]

    def misnamed(source: str) -> str:  # the last feature's line, "tempo" (no comma), renamed
        return source.replace('"tempo"\n', '"tempo_bpm"\n')

    run = push(participant, tmp_path, "a feature that does not exist", misnamed)
    assert run["status"] == "failed"
    assert run["message"].startswith("Step feast-apply failed: ") and "tempo_bpm" in run["message"], run["message"]
    assert "Traceback" not in run["message"] and "\n" not in run["message"]
    assert participant.outer_loop_service()[1] == before, "the registry is as it was"
    assert [step["name"] for step in run["steps"]] == ["clone", "feast-apply"], "no training after a failed apply"
