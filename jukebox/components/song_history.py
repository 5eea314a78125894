"""Chapter 7's ETL: the song properties in ``s3://data`` kept as a history, for the feature store.

Feast joins each chart row with the song's properties *as they were that day* (a point-in-time
join on ``event_timestamp``). So new data is appended, never overwritten: a new song, or a known
song whose properties changed, gets a new row stamped with the time it came in (UTC), and the
earlier rows stay, so that the charts of the past still find the properties they were made with.
A song that comes again with the same properties adds nothing: the same file twice changes nothing.
"""

from kfp.dsl import Dataset, Input, Output, component

from jukebox.components.ships import ships
from jukebox.components.step_helpers import s3_client, s3_failure
from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "boto3"))
@ships(s3_client, s3_failure)
def read_current_songs(songs: Output[Dataset], bucket: str = "data", key: str = "song_properties.parquet"):
    """Read the song properties that ``s3://<bucket>/<key>`` holds now (byte for byte).

    Args:
        songs: the current song properties, with their S3 location and md5 in its metadata.
        bucket: the S3 bucket (secret ``aws-connection-data`` gives the endpoint and keys).
        key: the object's key.
    """
    import hashlib

    from botocore.exceptions import BotoCoreError, ClientError

    s3, endpoint = s3_client("read from S3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        missing = f"There is no s3://{bucket}/{key} yet: load the song properties first (chapter 5's data pipeline)."
        raise s3_failure(error, endpoint, f"read s3://{bucket}/{key}", missing) from None
    with open(songs.path, "wb") as file:
        file.write(body)
    songs.metadata.update({"source_url": f"s3://{bucket}/{key}", "source_md5": hashlib.md5(body).hexdigest()})
    print(f"Read {len(body):,} bytes from s3://{bucket}/{key}.")


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow"))
def add_new_songs(songs: Input[Dataset], new_songs: Input[Dataset], features: list, combined: Output[Dataset]):
    """Append the new or changed songs, stamped now (UTC), after every earlier row.

    Args:
        songs: the current song properties (with ``event_timestamp``).
        new_songs: the songs that came in (their own ``event_timestamp``, if any, is replaced by now).
        features: the properties that tell whether a known song changed.
        combined: the current rows and the added ones; its metadata counts the added rows.
    """
    import shutil

    import pandas as pd

    current = pd.read_parquet(songs.path)
    incoming = pd.read_parquet(new_songs.path)
    if "event_timestamp" not in current.columns:
        raise RuntimeError(
            "The current song properties have no event_timestamp column: load them with chapter 5 first."
        )
    missing = [column for column in ["spotify_id", *features] if column not in incoming.columns]
    if missing:
        raise RuntimeError(f"The new songs have no column {', '.join(missing)}.")

    latest = current.sort_values("event_timestamp").drop_duplicates("spotify_id", keep="last").set_index("spotify_id")
    known = incoming["spotify_id"].isin(latest.index)
    before = latest.reindex(incoming["spotify_id"])[features].reset_index(drop=True)
    after = incoming[features].reset_index(drop=True)
    unchanged = known.to_numpy() & (before == after).all(axis=1).to_numpy()
    added = incoming[~unchanged].drop(columns=["event_timestamp"], errors="ignore")

    if added.empty:  # the same bytes go on, so loading and versioning see nothing new
        shutil.copy(songs.path, combined.path)
        combined.metadata.update({**new_songs.metadata, "added_rows": 0, "rows": len(current)})
        print(f"All {len(incoming):,} songs are already known with the same properties: nothing added.")
        return

    now = pd.Timestamp.now(tz="UTC")
    history = current.assign(event_timestamp=pd.to_datetime(current["event_timestamp"], utc=True))
    result = pd.concat([history, added.assign(event_timestamp=now)], ignore_index=True)
    result.to_parquet(combined.path, index=False)
    new_ids, changed_ids = int((~known[~unchanged]).sum()), int(known[~unchanged].sum())
    combined.metadata.update({**new_songs.metadata, "added_rows": len(added), "rows": len(result)})
    print(
        f"Added {len(added):,} rows stamped {now.isoformat()}: {new_ids:,} new songs, {changed_ids:,} known songs "
        f"with changed properties (their earlier rows stay); {len(result):,} rows in all."
    )
