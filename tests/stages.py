"""The course's chapter-7 stage, built once per test session and read by the tests of that stage.

A pytest plugin (registered by conftest.py). One participant goes through chapter 7 as the guide
has them do it, and each step is a session fixture, built the first time a test asks for it:

1. ``feast_participant``: a new participant with the song history in their ``s3://data/``;
2. ``feast_set_up``: notebook 1 run (their workbench's Feast project ``<name>_music``);
3. ``trained_through_feast``: their outer loop's store declared, the training pipeline switched to
   its Feast block and pushed: CT trained on the feature service and deployed;
4. ``served``: their serving started, the deployed version loaded.

Chapter 7's notebooks and their tests read these steps. A test that goes on from the last step and
changes it (scenario B: a new song, ``loudness`` left out) is marked ``changes_stage``: it runs
after every other test of its group (tests/workers.py), so that what the readers see is the stage
as built. Alone, each of them builds the steps it needs.
"""

import json
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from labtools import Participant

from jukebox.course import workshop_edits
from jukebox.lab import serving
from jukebox.lab.s3 import ensure_buckets, s3_client
from jukebox.paths import DATA_PREP, REPO_ROOT

SETUP = REPO_ROOT / "7-feature_store" / "1-setup_feast.ipynb"
TRAINING = Path("3-prod_datascience") / "prod_train_save_pipeline.py"
MEASURED_AGAIN = pd.Timestamp("2023-11-01")  # inside the shipped charts (2023-10-18 .. 2023-11-16)


def song_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The song properties, plus a later row (other energy and danceability) for 20 songs that chart
    in some countries before ``MEASURED_AGAIN`` and in others from then on; and those later rows."""
    songs = pd.read_parquet(DATA_PREP / "song_properties.parquet")
    charts = pd.read_parquet(DATA_PREP / "song_rankings.parquet")
    first = charts.groupby(["spotify_id", "country"])["snapshot_date"].min().map(pd.Timestamp)
    spans = first.groupby("spotify_id").agg(["min", "max"])
    both = spans[(spans["min"] < MEASURED_AGAIN) & (spans["max"] >= MEASURED_AGAIN)].index
    old = songs[songs["spotify_id"].isin(both) & (songs["event_timestamp"] < MEASURED_AGAIN)]
    later = old.sort_values("spotify_id").head(20).copy()
    later["event_timestamp"] = MEASURED_AGAIN
    later["energy"] = (1 - later["energy"]).round(3)
    later["danceability"] = (1 - later["danceability"]).round(3)
    return pd.concat([songs, later], ignore_index=True), later


@pytest.fixture(scope="session")
def feast_participant(shared_lab, tmp_path_factory) -> dict:
    """A participant of the session lab with the song history in their ``s3://data/``, and the
    environment their notebook kernels get (the lab's variables, a ``python3`` kernel of this Python).

    Their own S3 and their own Feast project ``<name>_music`` in the lab's store; some songs have a
    second row of properties, as if measured again in the middle of the charts (``MEASURED_AGAIN``):
    so that the point-in-time join has something to get wrong.
    """
    from ipykernel.kernelspec import write_kernel_spec

    user = shared_lab.add_participant("nbfeast")
    exports = shared_lab.exports(user)
    endpoint, key, secret = exports["AWS_S3_ENDPOINT"], exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]
    ensure_buckets(endpoint, key, secret, ["data"])
    history, later = song_history()
    path = tmp_path_factory.mktemp("songs") / "song_properties.parquet"
    history.to_parquet(path, index=False)
    s3_client(endpoint, key, secret).upload_file(str(path), "data", "song_properties.parquet")
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = Path(write_kernel_spec(jupyter / "kernels" / "python3"))
    assert json.loads((spec / "kernel.json").read_text())["argv"][0] == sys.executable
    env = {**shared_lab.env, **exports, "JUPYTER_PATH": str(jupyter)}
    return {"user": user, "env": env, "later": later, "songs": history, "measured_again": MEASURED_AGAIN}


@pytest.fixture(scope="session")
def feast_set_up(feast_participant, tmp_path_factory) -> Path:
    """Notebook 1, run once (papermill) for the participant: the executed notebook's path."""
    from notebooktools import execute  # papermill: 2 s of imports, only for the sessions that run a notebook

    output = tmp_path_factory.mktemp("setup") / SETUP.name
    execute(SETUP, output, feast_participant["env"], cwd=SETUP.parent, timeout=600)
    return output


@pytest.fixture(scope="session")
def trained_through_feast(shared_lab, feast_participant, feast_set_up, tmp_path_factory) -> dict:
    """The participant further on in chapter 7: a model trained through Feast by CT, and deployed.

    On top of ``feast_set_up`` (their song history in ``s3://data``, notebook 1 run: notebook 3 reads
    that store): their outer loop's feature store declared (project ``music``, filled by
    ``initialize-feast-database``: CT and the transformer read it), then the training pipeline switched
    to its Feast block and pushed, as the guide does: CT trains on the feature service and deploys
    (alias ``test``). The participant, and that CT run's record.
    """
    who = Participant(shared_lab, feast_participant["user"])
    shared_lab.ensure_buckets("data", "data-cache", user=who.name)
    folder = tmp_path_factory.mktemp("trained-through-feast")
    initialized = who.declare_feast_database(folder)
    assert initialized.status == "succeeded", initialized.message
    clone = who.clone("jukebox", folder / "jukebox")
    (clone / TRAINING).write_text(workshop_edits.FEAST.change((clone / TRAINING).read_text()))
    commit = who.commit_and_push(clone, workshop_edits.FEAST.message)
    run = json.loads(who.cli("runs", "wait", commit[:7], check=False).stdout)
    return {"participant": who, "run": run}


@pytest.fixture(scope="session")
def served(trained_through_feast) -> Participant:
    """That participant with their serving started (``python -m jukebox.lab serve``) and the model loaded."""
    who, run = trained_through_feast["participant"], trained_through_feast["run"]
    assert run["status"] == "succeeded", run["message"]
    answer = who.cli("serve", "--user", who.name).stdout
    assert f"Open the Jukebox page: {serving.url(who.settings, 'jukebox-ui', who.name)}" in answer
    deadline = time.monotonic() + 60
    while serving.served_version(who.settings, who.name) is None:
        assert time.monotonic() < deadline, "the model server did not load the deployed version"
        time.sleep(0.5)
    return who
