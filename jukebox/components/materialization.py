"""Chapter 7: load the songs that changed into the online store, where serving reads them.

The step opens the participant's feature store from the feature repo's ``feature_store.yaml``,
passed as a parameter (a pod has the compiled pipeline, not the repo): on the cluster the
PostgreSQL ``feast`` of the participant's namespace, with the offline parquet read with the keys
of ``aws-connection-data``; in the lab ``FEAST_FS_YAML_FILE_PATH`` names the lab's own
configuration (SQLite files), which Feast reads instead, its ``${VARIABLES}`` from the lab's
environment.

Why not only ``materialize_incremental``: a feature view without ``ttl`` that was never
materialized is loaded from one year back only, so the 2023–2024 songs would silently be missing
from a fresh online store. The first materialization here loads all history; later ones load what
came in since the last one ended, so the cost follows what changed, not the size of the history.
"""

from kfp.dsl import Dataset, Input, component

from jukebox.components.ships import ships
from jukebox.components.step_helpers import open_feature_store
from jukebox.pins import BASE_IMAGE, pinned


@component(
    base_image=BASE_IMAGE, packages_to_install=pinned("feast", "pandas", "pyarrow", "s3fs", "psycopg", "psycopg-binary")
)
@ships(open_feature_store)
def materialize_features(feature_store_yaml: str, songs: Input[Dataset], feature_view: str = "song_properties") -> str:
    """Load into the online store the rows of ``feature_view`` newer than its last materialization.

    Args:
        feature_store_yaml: the feature repo's ``feature_store.yaml`` (values from the environment).
        songs: the song properties just written to S3, to count the songs that go online.
        feature_view: the feature view to materialize.

    Returns:
        How it was loaded: ``"all history"`` (the first time) or ``"since <the last end>"``.
    """
    from datetime import UTC, datetime

    import pandas as pd
    from feast.errors import FeatureViewNotFoundException

    store = open_feature_store(feature_store_yaml)
    try:
        view = store.get_feature_view(feature_view)
    except FeatureViewNotFoundException:
        raise RuntimeError(
            f"The feature store of project {store.project} has no feature view {feature_view}: "
            "run `feast apply` in 7-feature_store/feature_repo (notebook 1) first."
        ) from None
    end = datetime.now(UTC)
    start = view.most_recent_end_time
    stamps = pd.to_datetime(
        pd.read_parquet(songs.path, columns=["spotify_id", "event_timestamp"]).set_index("spotify_id")[
            "event_timestamp"
        ],
        utc=True,
    )
    if start is None:
        print(f"First materialization of {feature_view} in project {store.project}: all history.")
        store.materialize(start_date=datetime(1970, 1, 1, tzinfo=UTC), end_date=end, feature_views=[feature_view])
        going_online, loaded = stamps[stamps <= end], "all history"
    else:
        store.materialize_incremental(end_date=end, feature_views=[feature_view])
        going_online, loaded = stamps[(stamps > pd.Timestamp(start)) & (stamps <= end)], f"since {start.isoformat()}"
    print(
        f"Materialized {feature_view} up to {end.isoformat()}: {going_online.index.nunique():,} songs "
        f"written to the online store of project {store.project}."
    )
    return loaded
