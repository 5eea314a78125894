"""The generated charts: deterministic, upstream's schema, the shipped file, learnable."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from jukebox.data_contract import FEATURES
from jukebox.paths import DATA_PREP
from jukebox.rankings import CHART_SIZE, COLUMNS, COUNTRIES, generate_rankings, main, release_column


@pytest.fixture(scope="module")
def songs():
    return pd.read_parquet(DATA_PREP / "small_song_properties.parquet")


def test_same_seed_same_charts_other_seed_other_charts(songs):
    first = generate_rankings(songs, days=3, seed=7)
    pd.testing.assert_frame_equal(first, generate_rankings(songs, days=3, seed=7))
    assert not first.equals(generate_rankings(songs, days=3, seed=8))


def test_charts_have_upstream_schema_and_top_50_per_country_and_day(songs):
    charts = generate_rankings(songs, days=8)
    assert list(charts.columns) == COLUMNS
    assert len(COUNTRIES) == 72 and len(set(COUNTRIES)) == 72
    per_chart = charts.groupby(["snapshot_date", "country"])["daily_rank"]
    assert per_chart.size().eq(CHART_SIZE).all()
    assert per_chart.apply(lambda ranks: sorted(ranks) == list(range(1, CHART_SIZE + 1))).all()
    assert charts["popularity"].between(0, 100).all()
    released = songs.set_index("spotify_id")[release_column(songs)].dt.normalize()
    assert (pd.to_datetime(charts["snapshot_date"]) >= charts["spotify_id"].map(released)).all()


def test_movements_compare_with_earlier_charts(songs):
    charts = generate_rankings(songs, days=8).set_index(["country", "snapshot_date", "spotify_id"])
    day2 = charts.xs(("US", "2023-10-19"), level=("country", "snapshot_date"))
    day1 = charts.xs(("US", "2023-10-18"), level=("country", "snapshot_date"))
    for spotify_id, row in day2.iterrows():
        previous = day1["daily_rank"].get(spotify_id, CHART_SIZE + 1)
        assert row["daily_movement"] == previous - row["daily_rank"]
    day8 = charts.xs(("US", "2023-10-25"), level=("country", "snapshot_date"))
    for spotify_id, row in day8.iterrows():
        previous = day1["daily_rank"].get(spotify_id, CHART_SIZE + 1)
        assert row["weekly_movement"] == previous - row["daily_rank"]


def test_shipped_rankings_file_is_what_the_generator_makes(tmp_path):
    output = tmp_path / "song_rankings.parquet"
    main(["--output", str(output)])
    shipped = pd.read_parquet(DATA_PREP / "song_rankings.parquet")
    pd.testing.assert_frame_equal(shipped, pd.read_parquet(output))
    assert 100_000 <= len(shipped) <= 120_000
    assert (DATA_PREP / "song_rankings.parquet").stat().st_size < 5_000_000


def test_a_model_learns_the_countries_clearly_better_than_the_majority_class():
    charts = pd.read_parquet(DATA_PREP / "song_rankings.parquet")
    songs = pd.read_parquet(DATA_PREP / "song_properties.parquet")
    data = charts[["spotify_id", "country"]].drop_duplicates().merge(songs, on="spotify_id")
    train, test = train_test_split(data, test_size=0.2, random_state=0, stratify=data["country"])
    scaler = StandardScaler().fit(train[FEATURES].astype(float))
    model = MLPClassifier((64, 32), early_stopping=True, random_state=0, max_iter=200)
    model.fit(scaler.transform(train[FEATURES].astype(float)), train["country"])
    accuracy = model.score(scaler.transform(test[FEATURES].astype(float)), test["country"])
    baseline = test["country"].value_counts(normalize=True).iloc[0]
    assert accuracy > 3 * baseline, f"accuracy {accuracy:.3f} vs majority baseline {baseline:.3f}"
    assert np.isfinite(accuracy)
