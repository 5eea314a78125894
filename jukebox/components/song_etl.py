"""Extract, transform, load: the song properties from a URL into ``s3://data`` (chapters 5 and 7).

Every check happens before anything is written to S3, so a bad ``dataset_url`` changes nothing:
extract refuses what is not a readable parquet with rows, and the pipelines run the data-contract
step (``jukebox/components/validation.py``) between transform and load.
``load_data`` reads the S3 connection from the variables of the cluster secret
``aws-connection-data`` (``AWS_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID``, …); the local lab exports the
same names.
"""

from kfp.dsl import Dataset, Input, Output, component

from jukebox.components.ships import ships
from jukebox.components.step_helpers import download_parquet, parquet_table, s3_client, s3_failure
from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "requests"))
@ships(parquet_table, download_parquet)
def extract_data(dataset_url: str, dataset: Output[Dataset]):
    """Download the song properties parquet at ``dataset_url``: a readable parquet with rows.

    Args:
        dataset_url: where the parquet is (an http(s) URL).
        dataset: the downloaded songs, with their URL and md5 in its metadata.
    """
    songs, md5 = download_parquet(dataset_url, "song properties", [])
    print(f"Downloaded {len(songs):,} songs from {dataset_url}.")
    songs.to_parquet(dataset.path, index=False)
    dataset.metadata.update({"source_url": dataset_url, "source_md5": md5, "rows": len(songs)})


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow"))
def transform_data(dataset: Input[Dataset], transformed: Output[Dataset]):
    """Lower-case the column names (the contract step checks the columns and the ids after this).

    Args:
        dataset: the extracted songs.
        transformed: the same songs, column names in lower case.
    """
    import pandas as pd

    songs = pd.read_parquet(dataset.path)
    songs.columns = [str(column).lower() for column in songs.columns]
    duplicated_columns = sorted(set(songs.columns[songs.columns.duplicated()]))
    if duplicated_columns:
        raise RuntimeError(
            f"The song properties have columns that differ only by case: {', '.join(duplicated_columns)}."
        )
    songs.to_parquet(transformed.path, index=False)
    transformed.metadata.update({**dataset.metadata, "rows": len(songs), "columns": list(songs.columns)})
    print(f"Transformed {len(songs):,} songs; columns: {', '.join(songs.columns)}.")


@component(base_image=BASE_IMAGE, packages_to_install=pinned("boto3"))
@ships(s3_client, s3_failure)
def load_data(dataset: Input[Dataset], bucket: str = "data", key: str = "song_properties.parquet"):
    """Write the dataset to ``s3://<bucket>/<key>`` (one PUT, so the object's ETag is its md5).

    Args:
        dataset: the validated song properties.
        bucket: the S3 bucket (secret ``aws-connection-data`` gives the endpoint and keys).
        key: the object's key.
    """
    import hashlib
    import os

    from botocore.exceptions import BotoCoreError, ClientError

    s3, endpoint = s3_client("write to S3")
    with open(dataset.path, "rb") as data:
        body = data.read()
    try:
        s3.head_bucket(Bucket=bucket)
        try:  # the same bytes are there already (one PUT: the ETag is the md5): write nothing
            unchanged = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == hashlib.md5(body).hexdigest()
        except ClientError as absent:
            if absent.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise
            unchanged = False
        if unchanged:
            print(f"s3://{bucket}/{key} already holds these {len(body):,} bytes: nothing written.")
            return
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except (ClientError, BotoCoreError) as error:
        missing = f"Bucket {bucket} does not exist: add it to mlops-gitops toolings/minio/config.yaml."
        raise s3_failure(error, endpoint, f"write s3://{bucket}/{key}", missing) from None
    print(f"Wrote {os.path.getsize(dataset.path):,} bytes to s3://{bucket}/{key}.")
