"""The data contract: what song properties and charts must look like, wherever they come in.

Defined once, here, as plain data: each column's type, range or allowed values, whether it may be
empty; the columns whose values must be unique together; the fewest rows. Columns not named are
kept, not refused. One component, ``validate_data`` (``jukebox/components/validation.py``), turns a
contract into a pandera schema and is the step that checks data in every pipeline that takes data
in: chapter 3's training pipeline, chapter 5's and chapter 7's ETL, always before anything is
written.

Why a parameter: KFP ships only a component's own source to its pod. A contract passed as the
component's parameter travels inside the compiled pipeline (readable in the YAML and in the
dashboard's run details), so the pod checks exactly these rules, with no second copy to drift.
"""

_SHARE = {"type": "number", "min": 0, "max": 1}  # a share between 0 and 1
SONG_ID = {"type": "text", "length": 22}
COUNTRY = {"type": "text", "pattern": "^[A-Z]{2}$", "meaning": "a two-letter country code"}

# The model's 13 inputs, in the workshop's order (the order of the feature view in chapter 7), and
# each one's rule: the ranges are Spotify's documented ones (loudness in dB, tempo in BPM).
FEATURE_RULES = {
    "is_explicit": {"type": "boolean"},
    "duration_ms": {"type": "integer", "min": 0, "max": 3_600_000},
    "danceability": _SHARE,
    "energy": _SHARE,
    "key": {"type": "integer", "min": -1, "max": 11},
    "loudness": {"type": "number", "min": -60, "max": 5},
    "mode": {"type": "integer", "values": [0, 1]},
    "speechiness": _SHARE,
    "acousticness": _SHARE,
    "instrumentalness": _SHARE,
    "liveness": _SHARE,
    "valence": _SHARE,
    "tempo": {"type": "number", "min": 0, "max": 300},
}
FEATURES = list(FEATURE_RULES)

# Song properties: one row per song; or, once chapter 7 keeps a history, one row per song and
# moment (``event_timestamp``): a song whose properties changed has a row for each version, and
# readers that want one row per song take its latest. (Uniqueness is checked on the columns a
# file has: a file without ``event_timestamp`` must have each song once.)
SONG_PROPERTIES = {
    "name": "song properties",
    "columns": {
        "spotify_id": SONG_ID,
        **FEATURE_RULES,
        "event_timestamp": {"type": "datetime", "required": False},
    },
    "unique": ["spotify_id", "event_timestamp"],
    "min_rows": 1,
}

CHARTS = {
    "name": "song charts",
    "columns": {
        "spotify_id": SONG_ID,
        "country": COUNTRY,
        "snapshot_date": {"type": "text", "pattern": r"^\d{4}-\d{2}-\d{2}$", "meaning": "a date as YYYY-MM-DD"},
        "daily_rank": {"type": "integer", "min": 1, "max": 50},
        "popularity": {"type": "integer", "min": 0, "max": 100, "required": False},
    },
    "unique": ["country", "snapshot_date", "daily_rank"],
    "min_rows": 1,
}

# What the training pipeline learns from: one row per (song, country where it charted). Which
# features it has is the source's choice (chapter 7's feature service may leave some out): each
# feature present keeps its rule, and each feature the dataset's metadata names must be present.
TRAINING_DATA = {
    "name": "training data",
    "columns": {
        "spotify_id": SONG_ID,
        "country": COUNTRY,
        **{name: {**rule, "required": False} for name, rule in FEATURE_RULES.items()},
    },
    "unique": ["spotify_id", "country"],
    "min_rows": 1000,
}
