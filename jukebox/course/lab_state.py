"""What the lab holds for one participant, read without changing anything.

Git is read from the lab's bare repos (``main`` as pushed), runs from their records, models from
MLflow, data from the participant's own S3, features from their Feast project, answers from their
Jukebox page. ``jukebox.course.steps`` decides from these whether a step is done.
"""

import contextlib
import os
import subprocess
import urllib.error
from functools import cached_property

import yaml

from jukebox.course.participant import Participant
from jukebox.lab import environment, feast_database, runs, serving, settings


class LabState:
    """One participant's state in the lab.

    Args:
        lab: the running lab's settings.
        user: the participant.
    """

    def __init__(self, lab: settings.LabSettings, user: str):
        self.lab, self.user = lab, user

    # -- git ------------------------------------------------------------------------------------

    def git(self, repo: str, *args: str) -> subprocess.CompletedProcess:
        bare = self.lab.home / "git" / self.user / f"{repo}.git"
        return subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True, text=True)

    def file_on_main(self, repo: str, path: str) -> str | None:
        """``path`` as it is on ``main`` of the participant's ``repo`` (None: not there)."""
        shown = self.git(repo, "show", f"main:{path}")
        return shown.stdout if shown.returncode == 0 else None

    def versions_of(self, repo: str, path: str) -> list[tuple[str, str]]:
        """Every pushed version of ``path`` on ``main``, oldest first: (commit, text)."""
        commits = self.git(repo, "log", "--format=%H", "--reverse", "main", "--", path).stdout.split()
        return [(commit, self.git(repo, "show", f"{commit}:{path}").stdout) for commit in commits]

    def yaml_on_main(self, repo: str, path: str) -> dict:
        text = self.file_on_main(repo, path)
        return (yaml.safe_load(text) or {}) if text else {}

    # -- runs and models ------------------------------------------------------------------------

    def ct_run_of(self, commit: str) -> runs.Run | None:
        """The participant's latest CT run of ``commit`` (None: none yet)."""
        matching = [run for run in self.all_runs if run.kind == "ct" and run.commit == commit]
        return matching[-1] if matching else None

    def latest_runs(self, kind: str, title: str | None = None) -> list[runs.Run]:
        return [run for run in self.all_runs if run.kind == kind and title in (None, run.title)]

    @cached_property
    def all_runs(self) -> list[runs.Run]:
        return [run for run in runs.load_all(self.lab.home) if run.user == self.user]

    @cached_property
    def model_versions(self) -> list:
        """The participant's registered model versions, oldest first (MLflow)."""
        from mlflow import MlflowClient

        client = MlflowClient(self.lab.url("mlflow"))
        found = client.search_model_versions(f"name = '{self.lab.model_name(self.user)}'")
        return sorted(found, key=lambda version: int(version.version))

    def deployed(self):
        """The version with alias ``test`` (what CT deploys), or None."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            return MlflowClient(self.lab.url("mlflow")).get_model_version_by_alias(
                self.lab.model_name(self.user), "test"
            )
        except MlflowException:
            return None

    def trained_from(self, source: str) -> list:
        """The registered versions trained on data from ``source`` (``url``, ``dvc`` or ``feast``)."""
        return [version for version in self.model_versions if version.tags.get("data_source") == source]

    # -- S3 -------------------------------------------------------------------------------------

    @cached_property
    def s3(self):
        import boto3

        keys = settings.s3_keys(self.lab, self.user)
        return boto3.client(
            "s3",
            endpoint_url=self.lab.s3_url(self.user),
            aws_access_key_id=keys["access_key"],
            aws_secret_access_key=keys["secret_key"],
            region_name=settings.REGION,
        )

    def buckets(self) -> set[str]:
        return {bucket["Name"] for bucket in self.s3.list_buckets()["Buckets"]}

    def has_object(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True

    # -- the feature store and the page ---------------------------------------------------------

    @cached_property
    def environment(self) -> dict[str, str]:
        """The workbench's variables: the inner loop's feature store."""
        return Participant(self.lab, self.user).env

    @cached_property
    def outer_loop_environment(self) -> dict[str, str]:
        """CT's and the model server's variables: the participant's outer-loop feature store."""
        return {**self.environment, **environment.outer_loop_environment(self.lab, self.user)}

    @cached_property
    def feature_service(self):
        """The workbench's store and its ``serving_fs`` (None: not applied yet)."""
        return _feature_service(self.environment)

    @cached_property
    def outer_loop_feature_service(self):
        """The outer loop's store and its ``serving_fs`` (None: not declared, or not applied yet)."""
        if not feast_database.declared(self.lab, self.user):
            return None
        return _feature_service(self.outer_loop_environment)

    def online_features(self, song_id: str, outer_loop: bool = False) -> dict | None:
        """A song's features through ``serving_fs``, in the workbench's store or the outer loop's (None: no project)."""
        found = self.outer_loop_feature_service if outer_loop else self.feature_service
        if found is None:
            return None
        store, service = found
        with participant_environment(self.outer_loop_environment if outer_loop else self.environment):
            values = store.get_online_features(features=service, entity_rows=[{"spotify_id": song_id}]).to_dict()
        return {name: column[0] for name, column in values.items() if name != "spotify_id"}

    def served_version(self) -> str | None:
        return serving.served_version(self.lab, self.user, "transformer")

    def page_answer(self, song_id: str) -> tuple[dict | None, str]:
        """The page's answer for a song, or None with the reason (page down, song unknown…)."""
        try:
            return Participant(self.lab, self.user).ask_page(song_id), ""
        except urllib.error.HTTPError as error:
            from jukebox.course.participant import page_refusal

            return None, page_refusal(error)
        except OSError:
            return None, "the Jukebox page is not running: `python -m jukebox.lab serve`"


def _feature_service(variables: dict[str, str]):
    from jukebox.feature_store import FEATURE_SERVICE, open_store

    with participant_environment(variables):
        store = open_store()
        try:
            return store, store.get_feature_service(FEATURE_SERVICE)
        except Exception:  # Feast raises its own "not found" error for each kind of object
            return None


@contextlib.contextmanager
def participant_environment(variables: dict[str, str]):
    """``os.environ`` with a participant's variables for the duration (Feast reads its config from it)."""
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
