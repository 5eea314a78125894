"""Extract, transform, load: the song properties from a URL into ``s3://data`` (chapters 5 and 7).

Every check happens before anything is written to S3, so a bad ``dataset_url`` changes nothing:
extract refuses what is not a readable parquet with rows, and the pipelines run the data-contract
step (``jukebox/components/validation.py``) between transform and load.
``load_data`` reads the S3 connection from the variables of the cluster secret
``aws-connection-data`` (``AWS_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID``, …); the local lab exports the
same names.
"""

from kfp.dsl import Dataset, Input, Output, component

from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "requests"))
def extract_data(dataset_url: str, dataset: Output[Dataset]):
    """Download the song properties parquet at ``dataset_url``: a readable parquet with rows.

    Args:
        dataset_url: where the parquet is (an http(s) URL).
        dataset: the downloaded songs, with their URL and md5 in its metadata.
    """
    import hashlib
    import io

    import pandas as pd
    import requests

    try:
        response = requests.get(dataset_url, timeout=120)
    except requests.RequestException as error:
        raise RuntimeError(f"Cannot download the song properties from {dataset_url}: {type(error).__name__}.") from None
    if response.status_code != 200:
        raise RuntimeError(f"Cannot download the song properties from {dataset_url}: HTTP {response.status_code}.")
    if not response.content:
        raise RuntimeError(f"The song properties at {dataset_url} are an empty file.")
    try:
        songs = pd.read_parquet(io.BytesIO(response.content))
    except Exception:
        raise RuntimeError(f"The song properties at {dataset_url} are not a parquet file.") from None
    if songs.empty:
        raise RuntimeError(f"The song properties at {dataset_url} have no rows.")
    print(f"Downloaded {len(songs):,} songs from {dataset_url}.")
    songs.to_parquet(dataset.path, index=False)
    dataset.metadata.update(
        {"source_url": dataset_url, "source_md5": hashlib.md5(response.content).hexdigest(), "rows": len(songs)}
    )


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
def load_data(dataset: Input[Dataset], bucket: str = "data", key: str = "song_properties.parquet"):
    """Write the dataset to ``s3://<bucket>/<key>`` (one PUT, so the object's ETag is its md5).

    Args:
        dataset: the validated song properties.
        bucket: the S3 bucket (secret ``aws-connection-data`` gives the endpoint and keys).
        key: the object's key.
    """
    import hashlib
    import os

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    names = ["AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    unset = [name for name in names if not os.environ.get(name)]
    if unset:
        raise RuntimeError(f"Set {', '.join(unset)} (the keys of the secret aws-connection-data) to write to S3.")
    endpoint = os.environ["AWS_S3_ENDPOINT"]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    with open(dataset.path, "rb") as data:
        body = data.read()
    try:
        s3.head_bucket(Bucket=bucket)
        try:  # the same bytes are there already (one PUT: the ETag is the md5): write nothing
            unchanged = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == hashlib.md5(body).hexdigest()
        except ClientError as missing:
            if missing.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise
            unchanged = False
        if unchanged:
            print(f"s3://{bucket}/{key} already holds these {len(body):,} bytes: nothing written.")
            return
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response.get("Error", {}).get("Code", "")
        if status == 404 or code in ("NoSuchBucket", "404"):
            raise RuntimeError(
                f"Bucket {bucket} does not exist: add it to mlops-gitops toolings/minio/config.yaml."
            ) from None
        if status == 403 or code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            raise RuntimeError(
                f"S3 at {endpoint} refused the credentials: check the secret aws-connection-data."
            ) from None
        raise RuntimeError(f"Cannot write s3://{bucket}/{key} at {endpoint}: {code or status}.") from None
    except BotoCoreError as error:
        raise RuntimeError(f"Cannot reach S3 at {endpoint}: {type(error).__name__}.") from None
    print(f"Wrote {os.path.getsize(dataset.path):,} bytes to s3://{bucket}/{key}.")
