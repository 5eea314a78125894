"""Generate daily top-50 charts per country from the song properties, deterministically.

The upstream workshop reads the real daily charts of the Kaggle data set; they are not
available offline, so the kit makes its own with the same columns. The model of the charts:

- every country has a *taste*: a direction in the space of the 13 standardized audio
  features. Countries of one region share most of their taste, so neighbours chart the same
  songs, as real charts do;
- a song's score in a country on a day = how well it matches the taste, plus a fixed
  song-country affinity (local hits), plus daily noise, minus its age since release;
- only songs released by that day (``event_timestamp``) can chart; each day each country's
  top 50 by score is its chart.

So the relation between properties and countries is real and learnable, but not trivial.
"""

import argparse
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from jukebox.data_contract import FEATURES

# The 72 countries of the upstream data set (its 73rd chart is the global one), by region.
REGIONS = {
    "latin_america": "AR BO BR CL CO CR DO EC GT HN MX NI PA PE PY SV UY VE",
    "western_europe": "AT BE CH DE DK ES FI FR GB IE IS IT LU NL NO PT SE",
    "eastern_europe": "BG BY CZ EE GR HU KZ LT LV PL RO SK TR UA",
    "asia": "HK ID IN JP KR MY PH PK SG TH TW VN",
    "middle_east_africa": "AE EG IL MA NG SA ZA",
    "anglo": "AU CA NZ US",
}
COUNTRIES = [country for codes in REGIONS.values() for country in codes.split()]

CHART_SIZE = 50
FIRST_DAY = pd.Timestamp("2023-10-18")
CI_DAYS = 30  # ~108k rows: the file shipped in 99-data_prep/
FULL_DAYS = 306  # ~1.1M rows, the size of the upstream charts
SEED = 42

COLUMNS = [
    "spotify_id",
    "name",
    "artists",
    "popularity",
    "daily_rank",
    "daily_movement",
    "weekly_movement",
    "country",
    "snapshot_date",
    "album_name",
    "album_release_date",
]


def country_tastes(rng: np.random.Generator) -> np.ndarray:
    """One unit vector per country: its region's taste plus a smaller national twist."""
    tastes = []
    for codes in REGIONS.values():
        region = rng.normal(size=len(FEATURES))
        for _ in codes.split():
            tastes.append(region + 0.6 * rng.normal(size=len(FEATURES)))
    tastes = np.array(tastes)
    return tastes / np.linalg.norm(tastes, axis=1, keepdims=True)


def standardized(songs: pd.DataFrame) -> np.ndarray:
    values = songs[FEATURES].astype(float).to_numpy()
    return (values - values.mean(axis=0)) / values.std(axis=0)


def release_column(songs: pd.DataFrame) -> str:
    """The date a song first charted: ``event_timestamp`` (``snapshot_date`` in the small file)."""
    for column in ("event_timestamp", "snapshot_date"):
        if column in songs.columns:
            return column
    raise ValueError("The song properties need an event_timestamp (or snapshot_date) column.")


def _movement(today: dict, earlier: dict | None, spotify_id: str) -> int:
    """Places gained since an earlier chart; a new entry counts as coming from place 51."""
    rank = today[spotify_id]
    previous = (earlier or {}).get(spotify_id, CHART_SIZE + 1)
    return previous - rank


def generate_rankings(songs: pd.DataFrame, days: int = CI_DAYS, seed: int = SEED) -> pd.DataFrame:
    """Return ``days`` daily charts (top 50 per country) for the given song properties."""
    if days < 1:
        raise ValueError("days must be at least 1.")
    songs = songs.sort_values("spotify_id").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    tastes = country_tastes(rng)
    match = tastes @ standardized(songs).T  # countries × songs
    affinity = 0.7 * rng.normal(size=match.shape)
    base = 1.5 * match + affinity
    released_at = songs[release_column(songs)]
    released = released_at.dt.normalize().to_numpy()
    release_offsets = rng.integers(0, 60, size=len(songs))
    album_release = [
        (timestamp - timedelta(days=int(offset))).strftime("%Y-%m-%d")
        for timestamp, offset in zip(released_at, release_offsets, strict=True)
    ]

    rows = []
    history: list[list[dict]] = []  # per day, per country: {spotify_id: rank}
    for day_index in range(days):
        day = FIRST_DAY + timedelta(days=day_index)
        age_days = (np.datetime64(day) - released) / np.timedelta64(1, "D")
        eligible = age_days >= 0
        score = base - age_days / 120.0 + 0.3 * rng.normal(size=base.shape)
        score[:, ~eligible] = -np.inf
        top = np.argpartition(-score, CHART_SIZE, axis=1)[:, :CHART_SIZE]
        charts_today = []
        for country_index, country in enumerate(COUNTRIES):
            order = top[country_index][np.argsort(-score[country_index, top[country_index]])]
            ranks = {songs.at[i, "spotify_id"]: rank for rank, i in enumerate(order, start=1)}
            charts_today.append(ranks)
            yesterday = history[-1][country_index] if history else None
            week_ago = history[-7][country_index] if len(history) >= 7 else None
            for rank, song_index in enumerate(order, start=1):
                spotify_id = songs.at[song_index, "spotify_id"]
                popularity = int(np.clip(round(60 + 8 * score[country_index, song_index]), 0, 100))
                rows.append(
                    (
                        spotify_id,
                        songs.at[song_index, "name"],
                        songs.at[song_index, "artists"],
                        popularity,
                        rank,
                        _movement(ranks, yesterday, spotify_id),
                        _movement(ranks, week_ago, spotify_id),
                        country,
                        day.strftime("%Y-%m-%d"),
                        songs.at[song_index, "name"],
                        album_release[song_index],
                    )
                )
        history.append(charts_today)
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--properties",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "99-data_prep" / "song_properties.parquet",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=CI_DAYS,
        help=f"days of charts: {CI_DAYS} (CI size, the shipped file) or {FULL_DAYS} (full size, ~1.1M rows)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, required=True, help="where to write the parquet file")
    args = parser.parse_args(argv)
    songs = pd.read_parquet(args.properties)
    print(
        f"Generating {args.days} days of charts for {len(COUNTRIES)} countries from {len(songs):,} songs…",
        flush=True,
    )
    rankings = generate_rankings(songs, days=args.days, seed=args.seed)
    rankings.to_parquet(args.output, index=False)
    print(f"Wrote {len(rankings):,} rows to {args.output} ({args.output.stat().st_size / 1e6:.1f} MB).")


if __name__ == "__main__":
    main()
