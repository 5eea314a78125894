"""Step 1 of the training pipeline: fetch the data.

``fetch_data`` downloads the daily charts and the song properties from two URLs and joins them:
one row per (song, country where it charted). Later chapters add other sources here
(``fetch_data_from_dvc`` in chapter 5, ``fetch_data_from_feast`` in chapter 7); every source
writes the same dataset and records where it came from in the dataset's metadata.

Each source can be called with just what the workshop's instructions pass (``fetch_data()``,
``fetch_data_from_dvc(cluster_domain=…, git_version=…)``, ``fetch_data_from_feast(version=…)``):
the end of this file fills in the rest, the workshop's URLs, the kit's features and the feature
repo's configuration, as the steps' arguments (a step's code is shipped to its pod on its own,
so its defaults could not name this module's constants). A local run points those URLs at this
machine (``jukebox/local_urls.py``).
"""

import functools
from pathlib import Path

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp.dsl import Dataset, Output, component

from jukebox.components.ships import ships
from jukebox.components.step_helpers import (
    download_parquet,
    git_auth_env,
    join_charts,
    open_feature_store,
    parquet_table,
)
from jukebox.data_contract import FEATURES
from jukebox.pins import BASE_IMAGE, GIT_IMAGE, pinned

# The workshop's data, where its instructions point.
RAW_DATA = "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep"
RANKINGS_URL = f"{RAW_DATA}/song_rankings.parquet"
PROPERTIES_URL = f"{RAW_DATA}/song_properties.parquet"
# Chapter 7's feature store configuration in this repo (a pod has the compiled pipeline, not the repo).
FEATURE_REPO_CONFIG = Path(__file__).resolve().parent.parent / "7-feature_store" / "feature_repo" / "feature_store.yaml"
FEATURE_STORE_YAML = FEATURE_REPO_CONFIG.read_text() if FEATURE_REPO_CONFIG.is_file() else ""


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "requests"))
@ships(parquet_table, download_parquet, join_charts)
def fetch_data(
    rankings_url: str,
    properties_url: str,
    features: list,
    dataset: Output[Dataset],
):
    """Download the charts and the song properties, join them, record their sources and md5.

    Args:
        rankings_url: the daily charts (parquet: spotify_id, country, …).
        properties_url: the song properties (parquet: spotify_id and the features).
        features: the song properties the model learns from.
        dataset: one row per (song, country where it charted), with the features.
    """
    rankings, rankings_md5 = download_parquet(rankings_url, "song rankings", ["spotify_id", "country"])
    properties, properties_md5 = download_parquet(properties_url, "song properties", ["spotify_id", *features])
    print(f"Downloaded {len(rankings):,} chart entries and {len(properties):,} songs.")
    data = join_charts(rankings, properties)
    if data.empty:
        raise RuntimeError(f"No song of the rankings at {rankings_url} is in the song properties at {properties_url}.")
    print(f"Joined: {len(data):,} (song, country) pairs, {data['spotify_id'].nunique():,} songs.")
    data.to_parquet(dataset.path, index=False)
    dataset.metadata.update(
        {
            "source": "url",
            "rankings_url": rankings_url,
            "rankings_md5": rankings_md5,
            "properties_url": properties_url,
            "properties_md5": properties_md5,
            "features": list(features),
            "rows": len(data),
        }
    )


@component(base_image=GIT_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "requests", "PyYAML", "dvc", "dvc-s3"))
@ships(parquet_table, download_parquet, join_charts, git_auth_env)
def fetch_data_from_dvc(
    cluster_domain: str,
    git_version: str,
    rankings_url: str,
    features: list,
    dataset: Output[Dataset],
):
    """Read song_properties.parquet as versioned by DVC in the jukebox repo at ``git_version``.

    Clones the participant's jukebox repo (credentials from the ``git-auth`` secret: ``username``,
    ``password``) at that commit, ``dvc pull``s the data (S3 credentials from
    ``aws-connection-data``), joins the rankings, and records the DVC md5 and remote configuration.
    On the cluster the repo is on the workshop's Gitea; in the local lab on its git server.

    Args:
        cluster_domain: the cluster's apps domain, where the workshop's Gitea is.
        git_version: the commit of the jukebox repo whose DVC-tracked data to train on.
        rankings_url: the daily charts (parquet).
        features: the song properties the model learns from.
        dataset: one row per (song, country where it charted), with the DVC md5 in its metadata.
    """
    import os
    import re
    import subprocess
    import sys
    import tempfile

    import yaml

    user, password = os.environ["username"], os.environ["password"]
    git_server = os.environ.get("JUKEBOX_GIT_URL") or f"https://gitea-gitea.{cluster_domain}"
    repo_url = f"{git_server}/{user}/jukebox.git"
    env, _ = git_auth_env()

    def run(command: list, cwd: str, what: str) -> str:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            detail = re.sub(r"://[^/@\s]+@", "://", detail[0]).replace(password, "***")
            raise RuntimeError(f"Could not {what}: {detail}")
        return result.stdout

    repo = tempfile.mkdtemp(prefix="jukebox-")
    run(["git", "clone", "--quiet", "--no-checkout", repo_url, repo], ".", f"clone {repo_url}")
    run(
        ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", git_version], repo, f"check out {git_version}"
    )
    dvc_file = os.path.join(repo, "song_properties.parquet.dvc")
    if not os.path.exists(dvc_file):
        raise RuntimeError(
            f"The jukebox repo has no DVC-tracked song_properties.parquet at version {git_version}: "
            "run the data pipeline (5-data-versioning/4-data_pipeline_with_dvc_versioning.py) first."
        )
    with open(dvc_file) as file:
        dvc_md5 = yaml.safe_load(file)["outs"][0]["md5"]
    dvc = [sys.executable, "-m", "dvc"]  # the DVC of this Python, whether or not its bin/ is on PATH
    run([*dvc, "pull", "--quiet", "song_properties.parquet.dvc"], repo, "pull song_properties.parquet with DVC")
    with open(os.path.join(repo, "song_properties.parquet"), "rb") as file:
        properties = parquet_table(
            file.read(), "song properties", f"tracked by DVC at version {git_version}", ["spotify_id", *features]
        )
    with open(os.path.join(repo, ".dvc", "config")) as file:
        dvc_config = file.read()
    rankings, rankings_md5 = download_parquet(rankings_url, "song rankings", ["spotify_id", "country"])
    data = join_charts(rankings, properties)
    if data.empty:
        raise RuntimeError(
            f"No song of the rankings at {rankings_url} is in the song properties tracked by DVC at {git_version}."
        )
    print(f"DVC data at {git_version} (md5 {dvc_md5}): {len(properties):,} songs; joined {len(data):,} pairs.")
    data.to_parquet(dataset.path, index=False)
    dataset.metadata.update(
        {
            "source": "dvc",
            "repo_url": repo_url,
            "git_version": git_version,
            "dvc_md5": dvc_md5,
            "dvc_config": dvc_config,
            "rankings_url": rankings_url,
            "rankings_md5": rankings_md5,
            "features": list(features),
            "rows": len(data),
        }
    )


@component(
    base_image=BASE_IMAGE,
    packages_to_install=pinned("feast", "pandas", "pyarrow", "requests", "s3fs", "psycopg", "psycopg-binary"),
)
@ships(parquet_table, download_parquet, open_feature_store)
def fetch_data_from_feast(
    feature_store_yaml: str,
    rankings_url: str,
    dataset: Output[Dataset],
    version: str = "",
    feature_service: str = "serving_fs",
):
    """Build the training data through the feature service (chapter 7).

    The charts give the entity rows: each (song, country) with the first day the song charted
    there. Feast joins each row with the song's properties as they were that day (a point-in-time
    join on ``event_timestamp``), with exactly the features of ``feature_service``: comment one out
    in ``feature_repo/feature_service.py`` and the next model is trained without it. One song
    charts in several countries on the same day; Feast keeps one row per song and timestamp, so
    those rows are made a microsecond apart.

    Args:
        feature_store_yaml: the feature repo's ``feature_store.yaml`` (in the lab
            ``FEAST_FS_YAML_FILE_PATH`` names the lab's configuration instead).
        rankings_url: the daily charts (parquet: spotify_id, country, snapshot_date).
        dataset: one row per (song, country where it charted), with the feature service's features.
        version: the git version being trained (recorded in the lineage).
        feature_service: the feature service to train through.
    """
    import pandas as pd
    from feast.errors import FeastObjectNotFoundException

    store = open_feature_store(feature_store_yaml)
    charts, rankings_md5 = download_parquet(rankings_url, "song rankings", ["spotify_id", "country", "snapshot_date"])
    try:
        service = store.get_feature_service(feature_service)
    except FeastObjectNotFoundException:
        raise RuntimeError(
            f"The feature store of project {store.project} has no feature service {feature_service}: "
            "run `feast apply` in 7-feature_store/feature_repo first."
        ) from None
    features = [field.name for view in service.feature_view_projections for field in view.features]

    charts = charts[["spotify_id", "country", "snapshot_date"]].dropna()
    entities = charts.groupby(["spotify_id", "country"], as_index=False)["snapshot_date"].min()
    entities["event_timestamp"] = pd.to_datetime(entities["snapshot_date"], utc=True)
    same_moment = entities.groupby(["spotify_id", "event_timestamp"]).cumcount()
    entities["event_timestamp"] += pd.to_timedelta(same_moment, unit="us")
    joined = store.get_historical_features(entity_df=entities, features=service).to_df()
    data = joined.dropna(subset=features)
    if data.empty:
        raise RuntimeError(
            f"The feature store of project {store.project} has no song of the rankings at {rankings_url}: "
            "load the song properties and materialize them first."
        )
    data = data.sort_values(["spotify_id", "country"]).reset_index(drop=True)  # Feast's row order varies
    print(
        f"Feature service {feature_service} of project {store.project}: {len(features)} features, "
        f"{len(data):,} (song, country) pairs ({len(entities) - len(data):,} without properties left out)."
    )
    data[["spotify_id", "country", *features]].to_parquet(dataset.path, index=False)
    dataset.metadata.update(
        {
            "source": "feast",
            "git_version": version,
            "feature_service": feature_service,
            "feast_project": store.project,
            "feast_registry": str(store.config.registry.path).split("@")[-1],
            "rankings_url": rankings_url,
            "rankings_md5": rankings_md5,
            "features": features,
            "rows": len(data),
        }
    )


# The workshop's calls pass only their own arguments; the rest is the kit's, given here.
fetch_data = functools.partial(fetch_data, rankings_url=RANKINGS_URL, properties_url=PROPERTIES_URL, features=FEATURES)
fetch_data_from_dvc = functools.partial(fetch_data_from_dvc, rankings_url=RANKINGS_URL, features=FEATURES)
fetch_data_from_feast = functools.partial(
    fetch_data_from_feast, feature_store_yaml=FEATURE_STORE_YAML, rankings_url=RANKINGS_URL
)
