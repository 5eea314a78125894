"""The outer loop's feature store: the lab's stand-in for the workshop's ``charts/feast-database``.

On the cluster, ``toolings/feast-database/config.yaml`` in a participant's mlops-gitops makes Argo CD
install a PostgreSQL ``feast`` in their namespace (registry and online store of project ``music``)
and run the Job ``initialize-feast-database``: clone ``jukebox`` (main), ``feast apply``, then
``feast materialize 2023-01-01 <now>``. CT, the data pipelines and the model server use that store;
the notebooks of the inner loop keep the workbench's own (``jukebox/lab/feature_store.yaml``).

In the lab, the declared file gives the participant a folder ``<lab>/feast-database/<user>/`` with
a ``feature_store.yaml`` (SQLite registry and online store there, project ``music``, the offline
store in their own S3) and the same initialization, as a run of the lab (``runs`` lists it). A
failed initialization is tried again at the next push to mlops-gitops, as Argo CD syncs again.
"""

import json
from pathlib import Path

from jukebox.lab import settings

CONFIG = "toolings/feast-database/config.yaml"
CHART = "charts/feast-database"
PROJECT = "music"
INIT_RUN = "initialize-feast-database"
NOT_DECLARED = f"No outer-loop feature store yet: declare {CONFIG} in mlops-gitops and push."

STORE_CONFIG = """\
# {user}'s outer-loop feature store in the lab, written when {config} was declared in mlops-gitops:
# the registry and the online store in this folder (the cluster's PostgreSQL `feast` in
# {user}'s namespace), the offline store in {user}'s own S3. CT, the data pipelines and the model
# server read this file through FEAST_FS_YAML_FILE_PATH.
project: {project}
provider: local
registry:
  registry_type: sql
  path: sqlite:///{folder}/registry.db
  cache_ttl_seconds: 10
online_store:
  type: sqlite
  path: {folder}/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def folder(lab: settings.LabSettings, user: str) -> Path:
    return lab.home / "feast-database" / user


def config_path(lab: settings.LabSettings, user: str) -> Path:
    """The outer loop's ``feature_store.yaml`` of ``user`` (it exists once the file is declared)."""
    return folder(lab, user) / "feature_store.yaml"


def _marker(lab: settings.LabSettings, user: str) -> Path:
    return folder(lab, user) / "initialized.json"


def validate(config: dict, user: str) -> None:
    """Raise ValueError with one sentence if the declared file is not the workshop's, for ``user``."""
    for key in ("chart_path", "USER_NAME", "git_server"):
        if config.get(key) in (None, ""):
            raise ValueError(f"{CONFIG}: add `{key}:`, as the guide shows it.")
    if config["chart_path"] != CHART:
        raise ValueError(f"{CONFIG}: chart_path must be {CHART}, not {config['chart_path']}.")
    if config["USER_NAME"] != user:
        raise ValueError(f"{CONFIG}: USER_NAME must be your user name, {user}, not {config['USER_NAME']}.")


def declare(lab: settings.LabSettings, user: str) -> Path:
    """Write ``user``'s outer-loop configuration (idempotent: the registry and rows stay)."""
    target = config_path(lab, user)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = STORE_CONFIG.format(user=user, config=CONFIG, project=PROJECT, folder=target.parent)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return target


def declared(lab: settings.LabSettings, user: str) -> bool:
    return config_path(lab, user).is_file()


def initialized(lab: settings.LabSettings, user: str) -> bool:
    return _marker(lab, user).is_file()


def mark_initialized(lab: settings.LabSettings, user: str, commit: str) -> None:
    _marker(lab, user).write_text(json.dumps({"commit": commit}) + "\n")


def state(lab: settings.LabSettings, user: str) -> str:
    """``not declared``, ``declared`` (initialization pending or failed) or ``initialized``."""
    if not declared(lab, user):
        return "not declared"
    return "initialized" if initialized(lab, user) else "declared"
