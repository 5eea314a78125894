"""Chapter 7's ETL keeps the song properties as a history (``jukebox/components/song_history.py``).

The step that adds new songs, run as its pipeline step would run it, on the real song data.
"""

import shutil

import pandas as pd
import pytest
from kfp import dsl
from pipelinetools import make_artifact

from jukebox.components.song_history import add_new_songs
from jukebox.data_contract import FEATURES
from jukebox.paths import DATA_PREP

LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"


@pytest.fixture
def current(tmp_path):
    """The song properties as chapter 5 loads them into S3: the shipped file."""
    artifact = make_artifact(dsl.Dataset, tmp_path, "current.parquet")
    shutil.copy(DATA_PREP / "song_properties.parquet", artifact.path)
    return artifact


def add(current, tmp_path, new: pd.DataFrame):
    new_songs = make_artifact(dsl.Dataset, tmp_path, "new.parquet", {"source_url": "http://example/new.parquet"})
    new.to_parquet(new_songs.path, index=False)
    combined = make_artifact(dsl.Dataset, tmp_path, "combined.parquet")
    add_new_songs.python_func(songs=current, new_songs=new_songs, features=FEATURES, combined=combined)
    return combined, pd.read_parquet(combined.path)


def test_a_new_song_is_appended_stamped_now_in_utc(current, tmp_path):
    before = pd.Timestamp.now(tz="UTC")
    combined, result = add(current, tmp_path, pd.read_parquet(DATA_PREP / "fav_new_song_properties.parquet"))
    (row,) = result[result["spotify_id"] == LIVE_FOREVER].itertuples()
    assert row.event_timestamp.tzinfo is not None and before <= row.event_timestamp <= pd.Timestamp.now(tz="UTC")
    assert len(result) == 14_245 + 1 and combined.metadata["added_rows"] == 1
    old = result[result["spotify_id"] != LIVE_FOREVER]
    assert (old["event_timestamp"] <= pd.Timestamp("2024-08-27", tz="UTC")).all(), "the history keeps its times"


def test_the_same_songs_again_add_nothing_and_keep_the_bytes(current, tmp_path):
    songs = pd.read_parquet(current.path)
    combined, _ = add(current, tmp_path, songs.sample(50, random_state=7).drop(columns=["event_timestamp"]))
    assert combined.metadata["added_rows"] == 0
    with open(combined.path, "rb") as after, open(current.path, "rb") as before:
        assert after.read() == before.read(), "unchanged bytes: loading to S3 and DVC see nothing new"


def test_a_known_song_with_changed_properties_keeps_its_earlier_row(current, tmp_path):
    songs = pd.read_parquet(current.path)
    changed = songs.head(1).assign(energy=0.123)
    _, result = add(current, tmp_path, changed)
    rows = result[result["spotify_id"] == changed["spotify_id"].iloc[0]].sort_values("event_timestamp")
    assert list(rows["energy"]) == [songs["energy"].iloc[0], 0.123], "both versions, oldest first"
    assert len(result) == len(songs) + 1
