"""The outer loop's feature store (chapter 7, step 5): ``toolings/feast-database/config.yaml`` in the lab.

A participant of their own ("feast_db") follows the guide: before the file is declared, the steps
that need the outer loop's Feast say in one sentence what to declare; a file that is not the
guide's changes nothing; the declared file gives them project ``music`` in a store of their own,
filled by the Job ``initialize-feast-database``, which a push to mlops-gitops retries after a
failure; the workbench's store (the inner loop) is left as it was.
"""

import json
import sqlite3
import time
from pathlib import Path

import pytest
from labtools import Participant

from jukebox.course import workshop_edits
from jukebox.data_contract import FEATURES
from jukebox.lab import feast_database, gitops
from jukebox.paths import DATA_PREP

TRAINING = Path("3-prod_datascience") / "prod_train_save_pipeline.py"
ABBA = "3vkQ5DAB1qQMYO4Mr9zJN6"


@pytest.fixture(scope="module")
def participant(shared_lab) -> Participant:
    """A new participant with chapter 5's buckets; the song properties are not in their S3 yet."""
    who = Participant(shared_lab, shared_lab.add_participant("feast_db"))
    shared_lab.ensure_buckets("data", "data-cache", user=who.name)
    return who


def wait_for_report(participant: Participant, commit: str) -> dict:
    report, deadline = gitops.report_path(participant.settings, participant.name), time.monotonic() + 30
    while not report.exists() or json.loads(report.read_text())["commit"] != commit:
        assert time.monotonic() < deadline, "the lab did not reconcile the push"
        time.sleep(0.3)
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def declared(participant, tmp_path_factory) -> dict:
    """Declared before the data is in S3 (the Job fails), then pushed again with the data there."""
    folder = tmp_path_factory.mktemp("feast-db")
    before_data = participant.declare_feast_database(folder)
    participant.s3().upload_file(str(DATA_PREP / "song_properties.parquet"), "data", "song_properties.parquet")
    return {"before_data": before_data, "after_data": participant.declare_feast_database(folder)}


def test_before_the_file_is_declared_serving_and_ct_say_what_to_declare(participant, tmp_path):
    if feast_database.declared(participant.settings, participant.name):
        pytest.skip("another test of this module declared it already (this one runs first, as written)")
    refused = participant.cli("serve", "--user", participant.name, check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].endswith(feast_database.NOT_DECLARED), refused.stderr

    clone = participant.clone("jukebox", tmp_path / "jukebox")
    (clone / TRAINING).write_text(workshop_edits.FEAST.change((clone / TRAINING).read_text()))
    commit = participant.commit_and_push(clone, workshop_edits.FEAST.message)
    run = json.loads(participant.cli("runs", "wait", commit[:7], check=False).stdout)
    assert run["status"] == "failed"
    assert run["message"].startswith("Step train failed: ") and run["message"].endswith(
        "declare toolings/feast-database/config.yaml in mlops-gitops and push."
    ), run["message"]
    assert "Traceback" not in run["message"] and "\n" not in run["message"]


def test_a_file_that_is_not_the_guides_changes_nothing(participant, tmp_path):
    repo = participant.clone("mlops-gitops", tmp_path / "mlops-gitops")
    config = repo / feast_database.CONFIG
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("chart_path: charts/feast-database\nUSER_NAME: <USER_NAME>\ngit_server: <GIT_SERVER>\n")
    participant.git("add", ".", cwd=repo)
    was_declared = feast_database.declared(participant.settings, participant.name)
    report = wait_for_report(participant, participant.commit_and_push(repo, "the placeholders left in"))
    assert report["status"] == "failed"
    assert report["message"] == (
        f"{feast_database.CONFIG}: USER_NAME must be your user name, {participant.name}, not <USER_NAME>."
    )
    assert feast_database.declared(participant.settings, participant.name) == was_declared
    participant.git("revert", "--no-edit", "HEAD", cwd=repo)  # as it was, for the other tests
    participant.git("push", "--quiet", "origin", "main", cwd=repo)


@pytest.mark.slow
def test_the_job_fails_in_one_sentence_before_the_data_and_a_push_retries_it(declared):
    failed, retried = declared["before_data"], declared["after_data"]
    assert failed.status == "failed" and failed.message.startswith("Step feast-materialize failed: "), failed.message
    assert "\n" not in failed.message and "Traceback" not in failed.message
    assert retried.status == "succeeded", retried.message
    assert [step["name"] for step in retried.steps] == ["clone", "feast-apply", "feast-materialize"]
    assert retried.steps[-1]["message"].endswith(f"into project {feast_database.PROJECT}")


@pytest.mark.slow
def test_the_declared_store_is_project_music_with_every_song_online(participant, declared):
    assert declared["after_data"].status == "succeeded", declared["after_data"].message
    assert participant.outer_loop_service() == ("music", FEATURES)
    store = feast_database.folder(participant.settings, participant.name)
    with sqlite3.connect(store / "online.db") as db:
        (songs,) = db.execute("SELECT COUNT(DISTINCT entity_key) FROM music_song_properties").fetchone()
    assert songs == 14_245


@pytest.mark.slow
def test_the_workbench_store_is_left_as_it_was(participant, declared):
    """The inner loop's shared store has no project of this participant: they never ran notebook 1."""
    assert declared["after_data"].status == "succeeded", declared["after_data"].message
    shared = participant.settings.home / "feast" / "registry.db"
    if shared.exists():
        with sqlite3.connect(shared) as db:
            projects = {row[0] for row in db.execute("SELECT project_id FROM projects")}
        assert f"{participant.name}_music" not in projects
