"""Open a participant's feature store and fill its online store, the same way in both targets.

Which store: ``7-feature_store/feature_repo`` with the configuration Feast finds, its
``feature_store.yaml`` (the cluster's) or the file ``FEAST_FS_YAML_FILE_PATH`` names (the lab's,
set by ``python -m jukebox.lab env``). Every value of that file comes from the environment, so
project ``<username>_music`` is the participant's own.

Materializing (all history the first time, then what changed) is the data pipeline's step
``materialize_features`` (``jukebox/components/materialization.py``): its one definition.
"""

import contextlib
import os
import re
import sqlite3
from pathlib import Path

from feast import FeatureStore, utils

from jukebox.paths import REPO_ROOT

FEATURE_REPO = REPO_ROOT / "7-feature_store" / "feature_repo"
FEATURE_SERVICE = "serving_fs"
_VARIABLE = re.compile(r"\$\{(\w+)\}")


def use_own_s3_endpoint() -> None:
    """Let Feast's S3 reads go to the endpoint of *this* environment, not one saved in the registry.

    The feature repo's ``FileSource`` has no ``s3_endpoint_override`` (that would be frozen into
    the registry by whoever ran ``feast apply`` last). With none, Feast reads the parquet with s3fs,
    whose AWS SDK takes the endpoint from ``AWS_ENDPOINT_URL_S3``; the kit's variable is
    ``AWS_S3_ENDPOINT`` (the cluster secret's key), so copy it there.
    """
    if os.environ.get("AWS_S3_ENDPOINT"):
        os.environ["AWS_ENDPOINT_URL_S3"] = os.environ["AWS_S3_ENDPOINT"]


def config_file(repo_path: Path = FEATURE_REPO) -> Path:
    """The ``feature_store.yaml`` Feast reads for ``repo_path`` (``FEAST_FS_YAML_FILE_PATH`` first)."""
    return Path(utils.get_default_yaml_file_path(Path(repo_path)))


def missing_variables(repo_path: Path = FEATURE_REPO) -> list[str]:
    """The ``${VARIABLE}`` names of the configuration that this environment does not set."""
    lines = config_file(repo_path).read_text().splitlines()
    settings = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return sorted({name for name in _VARIABLE.findall(settings) if name not in os.environ})


def open_store(repo_path: Path = FEATURE_REPO) -> FeatureStore:
    """The participant's feature store, configured from the environment.

    Args:
        repo_path: the feature repo folder (by default the kit's ``7-feature_store/feature_repo``).
    """
    if not config_file(repo_path).is_file():  # the lab's outer loop before its feast database is declared
        raise RuntimeError(
            f"No feature store configuration at {config_file(repo_path)}: "
            "declare toolings/feast-database/config.yaml in mlops-gitops and push."
        )
    missing = missing_variables(repo_path)
    if missing:
        raise RuntimeError(
            f"The feature store configuration {config_file(repo_path)} needs the environment variables "
            f'{", ".join(missing)}: in the local lab run `eval "$(python -m jukebox.lab env)"` first.'
        )
    use_own_s3_endpoint()
    return FeatureStore(repo_path=str(repo_path))


@contextlib.contextmanager
def counting_online_writes(online_db: Path, table: str):
    """Count the songs written to a SQLite online store's ``table`` while the block runs (the lab's store).

    SQLite triggers record every insert and update, whoever writes (a pipeline step in another
    process too); the count is appended to the list the block gets, when the block ends.
    """
    written: list[int] = []
    with sqlite3.connect(online_db) as db:
        db.execute("CREATE TABLE IF NOT EXISTS jukebox_counted_writes (entity_key BLOB)")
        for event in ("INSERT", "UPDATE"):
            db.execute(
                f"CREATE TRIGGER jukebox_count_{event.lower()} AFTER {event} ON {table} "
                "BEGIN INSERT INTO jukebox_counted_writes VALUES (NEW.entity_key); END"
            )
    try:
        yield written
    finally:
        with sqlite3.connect(online_db) as db:
            written.append(db.execute("SELECT COUNT(DISTINCT entity_key) FROM jukebox_counted_writes").fetchone()[0])
            for statement in (
                "TRIGGER jukebox_count_insert",
                "TRIGGER jukebox_count_update",
                "TABLE jukebox_counted_writes",
            ):
                db.execute(f"DROP {statement}")
