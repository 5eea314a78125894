"""Chapter 7's Feast notebooks, run headless with papermill against the session's lab, as a participant would.

The participant is conftest.py's ``feast_participant`` (shared with the notebooks' nbval items): their
own S3 and Feast project ``<name>_music`` in the lab's store, with the song properties in their
``s3://data/``, plus a second row of properties for a few songs, as if they had been measured again
in the middle of the charts: so that the point-in-time join has something to get wrong. The
notebooks run from the chapter's folder, as JupyterLab runs them.
"""

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from ipykernel.kernelspec import write_kernel_spec
from notebooktools import assert_no_secret, has_plot, outputs_text, parameters_cell
from notebooktools import execute as run_notebook

from jukebox.paths import DATA_PREP, REPO_ROOT

FOLDER = REPO_ROOT / "7-feature_store"
SETUP = FOLDER / "1-setup_feast.ipynb"
HISTORICAL = FOLDER / "2-test_load_historical_features.ipynb"
ABBA = "3vkQ5DAB1qQMYO4Mr9zJN6"  # "Gimme! Gimme! Gimme!", first charted 2024-01-01
LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"  # not in the song properties

# Read the participant's online store as the model server will: through the feature service.
ONLINE = """
import json, sys
from feast import FeatureStore
store = FeatureStore(repo_path=sys.argv[1])
rows = store.get_online_features(
    features=store.get_feature_service("serving_fs"), entity_rows=[{"spotify_id": i} for i in sys.argv[2:]]
).to_dict()
print(json.dumps(rows))
"""


def entity_rows() -> pd.DataFrame:
    """Notebook 2's questions, computed here: one per (song, country), at the first day it charted there."""
    charts = pd.read_parquet(DATA_PREP / "song_rankings.parquet")
    rows = charts.groupby(["spotify_id", "country"], as_index=False)["snapshot_date"].min()
    rows["event_timestamp"] = pd.to_datetime(rows["snapshot_date"])
    return rows


@pytest.fixture(scope="module")
def participant(feast_participant) -> dict:
    return feast_participant  # conftest.py's, shared with the notebooks' nbval items


def execute(notebook: Path, output: Path, env: dict[str, str], **parameters) -> nbformat.NotebookNode:
    """Run ``notebook`` headless (papermill), its kernel in ``env``."""
    return run_notebook(notebook, output, env, cwd=FOLDER, timeout=600, **parameters)


def online(env: dict[str, str], *song_ids: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", ONLINE, str(FOLDER / "feature_repo"), *song_ids],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"reading the online store failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def set_up(feast_set_up) -> Path:
    """Notebook 1, run once for the participant (conftest.py): the executed notebook's path."""
    return feast_set_up


def test_notebooks_are_saved_clean_and_parameterized():
    for path in (SETUP, HISTORICAL):
        assert 'feature_repo = "feature_repo"' in parameters_cell(path), path.name
        text = path.read_text()
        assert "/opt/app-root" not in text and "127.0.0.1" not in text and "<paste" not in text, path.name
        assert "seaborn" not in text, path.name
    cells = nbformat.read(HISTORICAL, as_version=4).cells
    parameters = next(cell for cell in cells if "parameters" in cell.metadata.get("tags", []))
    assert "os.environ.get(" in parameters.source and "JUKEBOX_RAW_URL" in parameters.source


@pytest.mark.slow
def test_setup_fills_the_online_store_with_every_song(shared_lab, participant, set_up):
    user, songs = participant["user"], participant["songs"]
    with sqlite3.connect(shared_lab.home / "feast" / "online.db") as db:
        (count,) = db.execute(f"SELECT COUNT(DISTINCT entity_key) FROM {user}_music_song_properties").fetchone()
    assert count == songs["spotify_id"].nunique() == 14_245
    text = outputs_text(nbformat.read(set_up, as_version=4))
    assert f"Project {user}_music" in text
    assert "14,245 of 14,245 songs are in the online store." in text
    assert "A first materialize_incremental would load 0 of them." in text  # the trap the notebook avoids
    assert "Live Forever is online: False" in text
    assert has_plot(nbformat.read(set_up, as_version=4))


@pytest.mark.slow
def test_setup_puts_each_songs_latest_properties_online(participant, set_up):
    later = participant["later"].iloc[0]
    rows = online(participant["env"], ABBA, later["spotify_id"], LIVE_FOREVER)
    songs = pd.read_parquet(DATA_PREP / "song_properties.parquet").set_index("spotify_id")
    assert rows["duration_ms"][0] == songs.loc[ABBA, "duration_ms"]
    assert rows["energy"][0] == pytest.approx(songs.loc[ABBA, "energy"], rel=1e-6)
    assert rows["energy"][1] == pytest.approx(later["energy"], rel=1e-6)  # the later row, not the first
    assert rows["energy"][1] != pytest.approx(songs.loc[later["spotify_id"], "energy"], rel=1e-6)
    assert rows["energy"][2] is None and len(rows["loudness"]) == 3  # unknown song; all 13 features


@pytest.mark.slow
def test_setup_runs_again_and_leaves_the_store_as_it_was(shared_lab, participant, set_up, tmp_path):
    output = tmp_path / SETUP.name
    execute(SETUP, output, participant["env"])
    text = outputs_text(nbformat.read(output, as_version=4))
    assert "Created" not in text  # feast apply found nothing new
    assert "14,245 of 14,245 songs are in the online store." in text
    with sqlite3.connect(shared_lab.home / "feast" / "online.db") as db:
        table = f"{participant['user']}_music_song_properties"
        songs, rows = db.execute(f"SELECT COUNT(DISTINCT entity_key), COUNT(*) FROM {table}").fetchone()
    assert (songs, rows) == (14_245, 14_245 * 13)  # one row per song and feature, as before
    assert_no_secret(shared_lab, participant["user"], output)


@pytest.fixture(scope="module")
def historical(participant, set_up, tmp_path_factory) -> Path:
    """Notebook 2, run once after notebook 1: the executed notebook's path."""
    output = tmp_path_factory.mktemp("historical") / HISTORICAL.name
    execute(HISTORICAL, output, participant["env"])
    return output


@pytest.mark.slow
def test_historical_features_lose_rows_at_the_same_moment_and_keep_all_once_distinct(historical):
    notebook = nbformat.read(historical, as_version=4)
    text = outputs_text(notebook)
    rows = entity_rows()
    lost = rows.duplicated(["spotify_id", "event_timestamp"]).sum()
    assert (len(rows), lost) == (10_119, 4_981)  # the shipped CI-size charts
    assert f"Rows in: {len(rows):,}. Rows out: {len(rows) - lost:,}. Lost: {lost:,}." in text
    assert f"Rows in: {len(rows):,}. Rows out: {len(rows):,}. Lost: 0." in text
    assert has_plot(notebook)


@pytest.mark.slow
def test_historical_features_take_no_properties_from_the_future(shared_lab, participant, historical):
    text = outputs_text(nbformat.read(historical, as_version=4))
    rows, later = entity_rows(), participant["later"]
    # Rows of the songs measured again, asked about on or after that day: they must get the later row.
    measured_again = participant["measured_again"]
    after = (rows["spotify_id"].isin(later["spotify_id"]) & (rows["event_timestamp"] >= measured_again)).sum()
    before = (rows["spotify_id"].isin(later["spotify_id"]) & (rows["event_timestamp"] < measured_again)).sum()
    assert after > 0 and before > 0
    assert f"{len(rows):,} rows: {len(rows):,} with properties, 0 without" in text
    assert "Rows with properties from their future: 0." in text
    assert "Rows whose properties are not the ones valid at their moment: 0." in text
    assert f"{len(later)} songs have several rows of properties; {after:,} rows got a later row" in text
    # A question from before the song's properties existed comes back with no row at all.
    assert "Rows in: 4. Rows out: 3." in text
    assert_no_secret(shared_lab, participant["user"], historical)


@pytest.mark.slow
def test_historical_features_without_setup_say_to_run_notebook_1_first(shared_lab, tmp_path):
    user = "user1"  # with a feature store of its own, empty (the lab's Feast files live under JUKEBOX_LAB_HOME)
    (tmp_path / "empty-lab" / "feast").mkdir(parents=True)
    env = {**shared_lab.env, **shared_lab.exports(user), "JUKEBOX_LAB_HOME": str(tmp_path / "empty-lab")}
    jupyter = tmp_path / "jupyter"
    write_kernel_spec(jupyter / "kernels" / "python3")
    output = tmp_path / HISTORICAL.name
    with pytest.raises(papermill.PapermillExecutionError) as error:
        execute(HISTORICAL, output, {**env, "JUPYTER_PATH": str(jupyter)})
    assert error.value.ename == "RuntimeError"
    assert re.fullmatch(
        rf"Project {user}_music has no feature service serving_fs: run 1-setup_feast.ipynb first.", error.value.evalue
    )
    assert_no_secret(shared_lab, user, output)
