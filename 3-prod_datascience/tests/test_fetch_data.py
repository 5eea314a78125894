"""The first step of the training pipeline, fetch_data, on a few songs served over HTTP.

The workshop's CT task ``unit-tests`` runs this file in ``3-prod_datascience/``:
``pip install -r tests/requirements.txt`` then ``PYTHONPATH=$(pwd) pytest tests/test_fetch_data.py``.
"""

import functools
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from fetch_data import fetch_data
from kfp.dsl import Dataset

from jukebox.data_contract import FEATURES

SONGS = ["0" * 21 + str(number) for number in range(3)]  # Spotify ids have 22 characters


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the standard library's signature
        pass


@pytest.fixture
def served(tmp_path):
    """Three songs with their 13 properties, and charts where each song is in one or two countries."""
    properties = pd.DataFrame({"spotify_id": SONGS, **{name: [0.5, 0.25, 0.75] for name in FEATURES}})
    properties["is_explicit"] = [True, False, True]
    properties.to_parquet(tmp_path / "song_properties.parquet", index=False)
    properties.drop(columns=["energy"]).to_parquet(tmp_path / "no_energy.parquet", index=False)
    charts = pd.DataFrame({"spotify_id": [SONGS[0], SONGS[0], SONGS[1], SONGS[2]], "country": ["NL", "KR", "NL", "US"]})
    charts.to_parquet(tmp_path / "song_rankings.parquet", index=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(folder, rankings_url, properties_url) -> Dataset:
    dataset = Dataset(uri=str(folder / "dataset"))
    fetch_data.func.python_func(
        rankings_url=rankings_url, properties_url=properties_url, features=FEATURES, dataset=dataset
    )
    return dataset


def test_fetch_joins_each_song_with_the_countries_it_charted_in(served):
    folder, url = served
    dataset = fetch(folder, f"{url}/song_rankings.parquet", f"{url}/song_properties.parquet")
    data = pd.read_parquet(dataset.path)
    assert sorted(zip(data["spotify_id"], data["country"], strict=True)) == sorted(
        [(SONGS[0], "KR"), (SONGS[0], "NL"), (SONGS[1], "NL"), (SONGS[2], "US")]
    )
    assert set(FEATURES) <= set(data.columns)
    md5 = hashlib.md5((folder / "song_rankings.parquet").read_bytes()).hexdigest()
    assert dataset.metadata["rankings_md5"] == md5 and dataset.metadata["rows"] == 4


def test_an_unreachable_file_is_one_sentence(served):
    folder, url = served
    with pytest.raises(RuntimeError) as error:
        fetch(folder, f"{url}/missing.parquet", f"{url}/song_properties.parquet")
    assert str(error.value) == f"Cannot download the song rankings from {url}/missing.parquet: HTTP 404."


def test_a_missing_feature_column_is_named(served):
    folder, url = served
    with pytest.raises(RuntimeError) as error:
        fetch(folder, f"{url}/song_rankings.parquet", f"{url}/no_energy.parquet")
    assert str(error.value) == f"The song properties at {url}/no_energy.parquet lack the columns energy."
