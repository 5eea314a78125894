"""Reconcile the mlops-gitops repo: the lab's stand-in for Argo CD.

On every push to a user's ``mlops-gitops`` (and on ``up``), read the pushed commit's
``toolings/minio/config.yaml`` (create the declared buckets that are missing; never delete) and
``toolings/ct-pipeline/config.yaml`` (store the CT options the CT runner reads). Once the
participant adds ``toolings/feast-database/config.yaml``, it also gives them their outer-loop feature
store (``jukebox.lab.feast_database``); the controller then queues its initialization. A config
that does not parse changes nothing and is reported.
"""

import json
import subprocess
import time
from pathlib import Path

import yaml

from jukebox.lab import feast_database, s3, settings

MINIO_CONFIG = "toolings/minio/config.yaml"
CT_CONFIG = "toolings/ct-pipeline/config.yaml"


def _read(bare_repo: Path, commit: str, path: str, optional: bool = False) -> dict | None:
    shown = subprocess.run(
        ["git", "--git-dir", str(bare_repo), "show", f"{commit}:{path}"], capture_output=True, text=True
    )
    if shown.returncode != 0:
        if optional:
            return None
        raise ValueError(f"{path} is missing from mlops-gitops at {commit[:7]}.")
    try:
        data = yaml.safe_load(shown.stdout)
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {str(error).splitlines()[0]}.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must be a YAML mapping.")
    return data


def placeholders(lab: settings.LabSettings, user: str) -> dict[str, str]:
    """What the lab writes for the guides' ``<USER_NAME>``, ``<CLUSTER_DOMAIN>`` and ``<GIT_SERVER>``."""
    return {"USER_NAME": user, "CLUSTER_DOMAIN": "127.0.0.1", "GIT_SERVER": lab.git_url}


def declared_buckets(config: dict) -> list[str]:
    buckets = config.get("buckets") or []
    names = [item["name"] if isinstance(item, dict) else item for item in buckets]
    if not all(isinstance(name, str) for name in names):
        raise ValueError(f"{MINIO_CONFIG}: every bucket needs a name, e.g. `- name: data`.")
    return names


def ct_options_path(lab: settings.LabSettings, user: str) -> Path:
    return lab.home / "gitops" / f"{user}-ct-pipeline.json"


def ct_options(lab: settings.LabSettings, user: str) -> dict:
    """The CT options last reconciled for ``user`` (``apply_feature_changes`` false before that)."""
    path = ct_options_path(lab, user)
    return json.loads(path.read_text()) if path.exists() else {"apply_feature_changes": False}


def report_path(lab: settings.LabSettings, user: str) -> Path:
    """The report of the last reconciliation of ``user``'s mlops-gitops."""
    return lab.home / "gitops" / f"{user}.json"


def reconcile(lab: settings.LabSettings, user: str, bare_repo: Path, commit: str = "main") -> dict:
    """Apply the repo's state at ``commit``; return a report (also kept in ``gitops/<user>.json``)."""
    report = {"user": user, "commit": commit, "time": time.time()}
    (lab.home / "gitops").mkdir(parents=True, exist_ok=True)
    try:
        buckets = declared_buckets(_read(bare_repo, commit, MINIO_CONFIG))
        ct = _read(bare_repo, commit, CT_CONFIG)
        apply_feature_changes = ct.get("apply_feature_changes", False)
        if not isinstance(apply_feature_changes, bool):
            raise ValueError(f"{CT_CONFIG}: apply_feature_changes must be true or false.")
        feast = _read(bare_repo, commit, feast_database.CONFIG, optional=True)
        if feast is not None:
            feast_database.validate(feast, user)
        keys = settings.s3_keys(lab, user)  # the participant's own S3: their buckets appear there only
        created = s3.ensure_buckets(lab.s3_url(user), keys["access_key"], keys["secret_key"], buckets)
    except ValueError as error:
        report.update(status="failed", message=str(error))
    else:
        _write_json(ct_options_path(lab, user), {"apply_feature_changes": apply_feature_changes})
        if feast is not None:
            feast_database.declare(lab, user)
        report.update(status="synced", buckets=buckets, created=created, apply_feature_changes=apply_feature_changes)
        report.update(feast_database=feast_database.state(lab, user))
    _write_json(report_path(lab, user), report)
    return report


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` so that a reader never sees a half-written file (CT and tests read these)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)
