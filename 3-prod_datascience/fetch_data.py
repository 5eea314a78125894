"""Step 1 of the training pipeline: fetch the data.

``fetch_data`` downloads the daily charts and the song properties from two URLs and joins them:
one row per (song, country where it charted). Later chapters add other sources here
(``fetch_data_from_dvc`` in chapter 5, ``fetch_data_from_feast`` in chapter 7); every source
writes the same dataset and records where it came from in the dataset's metadata.
"""

from kfp.dsl import Dataset, Output, component

from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "requests"))
def fetch_data(
    rankings_url: str,
    properties_url: str,
    features: list,
    dataset: Output[Dataset],
):
    """Download the charts and the song properties, join them, record their sources and md5."""
    import hashlib
    import io

    import pandas as pd
    import requests

    def download_parquet(url: str, what: str, required: list) -> tuple:
        try:
            response = requests.get(url, timeout=120)
        except requests.RequestException as error:
            raise RuntimeError(f"Cannot download the {what} from {url}: {type(error).__name__}.") from None
        if response.status_code != 200:
            raise RuntimeError(f"Cannot download the {what} from {url}: HTTP {response.status_code}.")
        if not response.content:
            raise RuntimeError(f"The {what} at {url} is an empty file.")
        try:
            frame = pd.read_parquet(io.BytesIO(response.content))
        except Exception:
            raise RuntimeError(f"The {what} at {url} is not a parquet file.") from None
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise RuntimeError(f"The {what} at {url} lack the columns {', '.join(missing)}.")
        if frame.empty:
            raise RuntimeError(f"The {what} at {url} have no rows.")
        return frame, hashlib.md5(response.content).hexdigest()

    rankings, rankings_md5 = download_parquet(rankings_url, "song rankings", ["spotify_id", "country"])
    properties, properties_md5 = download_parquet(properties_url, "song properties", ["spotify_id", *features])
    print(f"Downloaded {len(rankings):,} chart entries and {len(properties):,} songs.")

    data = (
        rankings[["spotify_id", "country"]]
        .dropna()
        .drop_duplicates()
        .merge(properties.drop_duplicates("spotify_id"), on="spotify_id", how="inner")
    )
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


### 🍇 Fetch Data from DVC: `fetch_data_from_dvc(cluster_domain, git_version)` comes with chapter 5.

### 🛍️ Fetch Data from Feast: `fetch_data_from_feast(...)` comes with chapter 7.
