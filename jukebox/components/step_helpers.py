"""Code that several pipeline steps run, written once and copied into each by ``@ships`` (``ships.py``).

Each function runs inside a step's pod, where nothing of the kit is installed: it imports what it
needs in its own body, and calls only the helpers listed before it in the step's ``@ships(...)``.
Each failure is one sentence that says what to fix; no credential appears in it.
"""


def parquet_table(content: bytes, what: str, where: str, required: list):
    """The table in ``content``, checked: a parquet file with rows and the ``required`` columns.

    Args:
        content: the file's bytes.
        what: what the file holds, in the plural, for the error ("song properties").
        where: where it came from, for the error ("at http://…").
        required: the columns the step needs.
    """
    import io

    import pandas as pd

    if not content:
        raise RuntimeError(f"The {what} {where} are an empty file.")
    try:
        frame = pd.read_parquet(io.BytesIO(content))
    except Exception:
        raise RuntimeError(f"The {what} {where} are not a parquet file.") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise RuntimeError(f"The {what} {where} lack the columns {', '.join(missing)}.")
    if frame.empty:
        raise RuntimeError(f"The {what} {where} have no rows.")
    return frame


def download_parquet(url: str, what: str, required: list) -> tuple:
    """Download the parquet at ``url`` and check it (``parquet_table``); return it and its md5.

    Args:
        url: an http(s) URL.
        what: what the file holds, in the plural, for the error ("song rankings").
        required: the columns the step needs.
    """
    import hashlib

    import requests

    try:
        response = requests.get(url, timeout=120)
    except requests.RequestException as error:
        raise RuntimeError(f"Cannot download the {what} from {url}: {type(error).__name__}.") from None
    if response.status_code != 200:
        raise RuntimeError(f"Cannot download the {what} from {url}: HTTP {response.status_code}.")
    return parquet_table(response.content, what, f"at {url}", required), hashlib.md5(response.content).hexdigest()


def join_charts(rankings, properties):
    """One row per (song, country where it charted), with the song's properties.

    Where the properties are a history (chapter 7: ``event_timestamp``), each song's latest row counts.

    Args:
        rankings: the daily charts (``spotify_id``, ``country``, …).
        properties: the song properties (``spotify_id`` and the features).
    """
    if "event_timestamp" in properties.columns:
        properties = properties.sort_values("event_timestamp", kind="stable")
    return (
        rankings[["spotify_id", "country"]]
        .dropna()
        .drop_duplicates()
        .merge(properties.drop_duplicates("spotify_id", keep="last"), on="spotify_id", how="inner")
    )


def git_auth_env() -> tuple:
    """The environment for git with the ``git-auth`` secret's credentials; return it and the header's token.

    The credentials go to git as an HTTP header in git's own configuration variables: never in a
    URL, in ``argv`` or in git's output. A step scrubs the returned token from anything it prints.
    """
    import base64
    import os

    token = base64.b64encode(f"{os.environ['username']}:{os.environ['password']}".encode()).decode()
    env = {
        **os.environ,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
        "GIT_TERMINAL_PROMPT": "0",
    }
    return env, token


def s3_client(purpose: str):
    """An S3 client from the keys of the secret ``aws-connection-data``; return it and its endpoint.

    Args:
        purpose: what the step does with S3, for the error ("write to S3").
    """
    import os

    import boto3

    names = ["AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    unset = [name for name in names if not os.environ.get(name)]
    if unset:
        raise RuntimeError(f"Set {', '.join(unset)} (the keys of the secret aws-connection-data) to {purpose}.")
    endpoint = os.environ["AWS_S3_ENDPOINT"]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    return client, endpoint


def s3_failure(error: Exception, endpoint: str, action: str, missing: str = "") -> RuntimeError:
    """One sentence for an S3 call that failed: refused credentials, unreachable, not there, or S3's code.

    Args:
        error: the botocore ``ClientError`` or ``BotoCoreError``.
        endpoint: the S3 endpoint.
        action: what was tried, for the error ("write s3://data/song_properties.parquet").
        missing: the sentence for a bucket or key that does not exist (what to do about it).
    """
    response = getattr(error, "response", None)
    if response is None:  # no answer from S3
        return RuntimeError(f"Cannot reach S3 at {endpoint}: {type(error).__name__}.")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code", "")
    if status == 403 or code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
        return RuntimeError(f"S3 at {endpoint} refused the credentials: check the secret aws-connection-data.")
    if missing and (status == 404 or code in ("NoSuchKey", "NoSuchBucket", "404")):
        return RuntimeError(missing)
    return RuntimeError(f"Cannot {action} at {endpoint}: {code or status}.")


def open_feature_store(feature_store_yaml: str):
    """The participant's feature store, from the feature repo's ``feature_store.yaml`` (its text).

    On the cluster that text is the configuration, its ``${VARIABLES}`` from the step's secrets; in
    the lab ``FEAST_FS_YAML_FILE_PATH`` names the lab's own configuration, which Feast reads instead.

    Args:
        feature_store_yaml: the text of ``7-feature_store/feature_repo/feature_store.yaml``.
    """
    import os
    import re
    import tempfile
    from pathlib import Path

    from feast import FeatureStore

    if not feature_store_yaml.strip() and not os.environ.get("FEAST_FS_YAML_FILE_PATH"):
        raise RuntimeError(
            "The pipeline was compiled without 7-feature_store/feature_repo/feature_store.yaml: "
            "compile it in a clone of the whole jukebox repo."
        )
    if os.environ.get("AWS_S3_ENDPOINT"):  # Feast's S3 reads take the endpoint from the AWS SDK's variable
        os.environ.setdefault("AWS_ENDPOINT_URL_S3", os.environ["AWS_S3_ENDPOINT"])
    repo = Path(tempfile.mkdtemp())
    (repo / "feature_store.yaml").write_text(feature_store_yaml)
    config = Path(os.environ.get("FEAST_FS_YAML_FILE_PATH") or repo / "feature_store.yaml")
    if not config.is_file():  # the lab's outer loop before its feast database is declared
        raise RuntimeError(
            f"No feature store configuration at {config}: "
            "declare toolings/feast-database/config.yaml in mlops-gitops and push."
        )
    settings = "\n".join(line for line in config.read_text().splitlines() if not line.lstrip().startswith("#"))
    unset = sorted({name for name in re.findall(r"\$\{(\w+)\}", settings) if name not in os.environ})
    if unset:
        raise RuntimeError(f"The feature store configuration needs {', '.join(unset)}: check the step's secrets.")
    return FeatureStore(repo_path=str(repo))


def kubeflow_registry(cluster_domain: str, prod_flag: bool) -> tuple:
    """The participant's Kubeflow Model Registry on the cluster; return it and its name.

    A CT run (``prod_flag``) speaks to ``<user>-prod``'s registry, a workbench run to ``<user>``'s
    (``<user>`` is the pod's namespace before its first ``-``), with the pod's service-account token.

    Args:
        cluster_domain: the cluster's apps domain, where the registry's REST route is.
        prod_flag: true for a CT run.
    """
    import os
    from pathlib import Path

    from model_registry import ModelRegistry

    namespace = os.environ["namespace"]
    registry_name = namespace.split("-")[0] + ("-prod" if prod_flag else "")
    token_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    registry = ModelRegistry(
        server_address=f"https://{registry_name}-registry-rest.{cluster_domain}",
        port=443,
        author=namespace,
        is_secure=False,
        user_token=token_file.read_text() if token_file.exists() else None,
    )
    return registry, registry_name
