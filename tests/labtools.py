"""A local lab for tests: started in a temporary folder on free ports, driven through its CLI."""

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3

from jukebox import chapter_edits
from jukebox.course import workshop_edits
from jukebox.lab import controller_client, environment, feast_database, gitclient, gitops, runs, settings


def worker_lane() -> dict[str, int]:
    """This pytest worker's lane of lab ports (``make test`` runs workers side by side; alone: the one lane)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return {"lane": 0, "lanes": 1}
    return {"lane": int(worker[2:]), "lanes": int(os.environ["PYTEST_XDIST_WORKER_COUNT"])}


class Lab:
    def __init__(self, home: Path):
        self.home = home
        self.env = {
            **os.environ,
            "JUKEBOX_LAB_HOME": str(home),
            "JUKEBOX_LAB_PORT_BASE": str(settings.free_port_base(**worker_lane())),
        }
        for name in [key for key in self.env if key.startswith(("MLFLOW_", "AWS_"))]:
            del self.env[name]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "jukebox.lab", *args],
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        if check:
            assert result.returncode == 0, f"lab {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    @property
    def settings(self) -> settings.LabSettings:
        return settings.load(self.home)

    def unused_name(self, prefix: str) -> str:
        """A participant name the lab does not know yet: ``prefix``, else ``prefix_2``, ``prefix_3``…"""
        users, number = self.settings.users, 1
        name = prefix
        while name in users:
            number += 1
            name = f"{prefix}_{number}"
        return name

    def add_participant(self, prefix: str) -> str:
        """Add a new participant to the running lab and return their name.

        They get what every participant gets (two repos as the kit ships them, their own S3 with
        the buckets ``pipeline`` and ``models``) and nothing other tests did. A lab holds at most
        ``settings.MAX_USERS`` participants, each with an S3 server of their own: give a test a new
        participant only when it needs an untouched repo or S3.
        """
        name = self.unused_name(prefix)
        self.cli("up", "--user", name)
        return name

    def ensure_participant(self, name: str) -> str:
        """``name`` as a participant of the running lab, added if it is not one yet (shared, not new)."""
        if name not in self.settings.users:
            self.cli("up", "--user", name)
        return name

    def cancel_runs(self, user: str | None = None) -> list[str]:
        """Cancel the queued and running runs of ``user`` (of everyone by default), as `runs cancel` does."""
        return controller_client.cancel_runs(self.settings, user)

    def ensure_buckets(self, *names: str, user: str = "user1") -> None:
        """The buckets ``names`` in ``user``'s S3 (created directly, as if declared in mlops-gitops)."""
        existing = {bucket["Name"] for bucket in self.s3(user=user).list_buckets()["Buckets"]}
        for name in sorted(set(names) - existing):
            self.s3(user=user).create_bucket(Bucket=name)

    def model_name(self, user: str) -> str:
        """The model ``user``'s CT runs register."""
        return self.settings.model_name(user)

    def exports(self, user: str = "user1") -> dict[str, str]:
        lines = self.cli("env", "--user", user).stdout.splitlines()
        return dict(line.removeprefix("export ").split("=", 1) for line in lines)

    def git(self, *args: str, cwd: Path | None = None, user: str = "user1", password: str | None = None):
        return gitclient.git(self.settings, user, *args, cwd=cwd, password=password)

    def clone(self, repo: str, target: Path, user: str = "user1") -> Path:
        result = self.git("clone", "--quiet", f"{self.settings.git_url}/{user}/{repo}.git", str(target), user=user)
        assert result.returncode == 0, result.stderr
        return target

    def commit_and_push(self, clone: Path, message: str, user: str = "user1") -> str:
        assert self.git("commit", "--quiet", "-am", message, cwd=clone).returncode == 0
        pushed = self.git("push", "--quiet", "origin", "main", cwd=clone, user=user)
        assert pushed.returncode == 0, pushed.stderr
        return self.git("rev-parse", "HEAD", cwd=clone).stdout.strip()

    def s3(self, secret: str | None = None, user: str = "user1", keys_of: str | None = None):
        """A client of ``user``'s S3, with the keys of ``keys_of`` (by default ``user``'s own)."""
        creds = settings.s3_keys(self.settings, keys_of or user)
        return boto3.client(
            "s3",
            endpoint_url=self.settings.s3_url(user),
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=secret or creds["secret_key"],
            region_name="us-east-1",
        )


class Participant:
    """One participant of a running lab, and the lab's helpers as them: their S3, repos and variables."""

    def __init__(self, lab: Lab, name: str):
        self.lab, self.name = lab, name
        self.home, self.env = lab.home, lab.env

    @property
    def settings(self) -> settings.LabSettings:
        return self.lab.settings

    @property
    def s3_url(self) -> str:
        return self.settings.s3_url(self.name)

    @property
    def repo_url(self) -> str:
        return f"{self.settings.git_url}/{self.name}/jukebox.git"

    @property
    def model_name(self) -> str:
        return self.lab.model_name(self.name)

    def variables(self) -> dict[str, str]:
        """What a workbench of theirs has: the lab's variables for them (``env --user``)."""
        return {**self.lab.env, **environment.lab_environment(self.settings, self.name)}

    def outer_loop_variables(self) -> dict[str, str]:
        """What CT, the lab's pipeline runs and their model server have: the outer loop's feature store."""
        return {**self.lab.env, **environment.outer_loop_environment(self.settings, self.name)}

    def outer_loop_service(self) -> tuple[str, list[str]]:
        """The outer loop's store as CT reads it now: its project and ``serving_fs``'s features.

        Read with Feast in this process, as ``progress`` reads it (``LabState``): one Feast import per
        test process, not one per look.
        """
        from jukebox.course.lab_state import LabState

        found = LabState(self.settings, self.name).outer_loop_feature_service
        assert found is not None, f"{self.name}'s outer loop has no feature service serving_fs"
        store, service = found
        return store.project, [field.name for view in service.feature_view_projections for field in view.features]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.lab.cli(*args, check=check)

    def declare_feast_database(self, folder: Path, timeout: float = 600) -> runs.Run:
        """Chapter 7's step 5 as the guide writes it: the new file in mlops-gitops, pushed; the Job's run.

        A second call pushes the file again with a comment added (a push to mlops-gitops retries a
        failed initialization). The run returned is the one that push started; it may have failed.
        """
        since = time.time()
        repo = self.clone("mlops-gitops", folder / f"mlops-gitops-{since:.0f}")
        config = repo / feast_database.CONFIG
        config.parent.mkdir(parents=True, exist_ok=True)  # the guide's mkdir and touch
        if config.exists():
            config.write_text(config.read_text() + f"# pushed again at {since:.0f}\n")
        else:
            declared = workshop_edits.FEAST_DATABASE.change("")
            config.write_text(chapter_edits.fill_in(declared, gitops.placeholders(self.settings, self.name)))
        self.git("add", ".", cwd=repo)
        self.commit_and_push(repo, workshop_edits.FEAST_DATABASE.message)
        return runs.wait_for_job(self.home, self.name, feast_database.INIT_RUN, since, timeout)

    def s3(self, secret: str | None = None):
        return self.lab.s3(secret, user=self.name)

    def git(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return self.lab.git(*args, cwd=cwd, user=self.name)

    def git_output(self, *args: str, cwd: Path | None = None) -> str:
        """What ``git args`` prints, as them; a failure fails the test with git's own words."""
        result = self.git(*args, cwd=cwd)
        assert result.returncode == 0, f"git {args[0]} failed: {result.stderr.strip()}"
        return result.stdout

    def main_commit(self) -> str:
        """The commit ``main`` of their ``jukebox`` repo on the lab's git server."""
        return self.git_output("ls-remote", self.repo_url, "refs/heads/main").split()[0]

    def objects(self, bucket: str) -> dict[str, tuple]:
        """Their S3 bucket's objects: key → (ETag, size, last modified)."""
        listed = self.s3().list_objects_v2(Bucket=bucket).get("Contents", [])
        return {item["Key"]: (item["ETag"], item["Size"], item["LastModified"]) for item in listed}

    def clone(self, repo: str, target: Path) -> Path:
        return self.lab.clone(repo, target, user=self.name)

    def commit_and_push(self, clone: Path, message: str) -> str:
        return self.lab.commit_and_push(clone, message, user=self.name)


def steps_done(progress_output: str) -> set[str]:
    """The steps ``python -m jukebox.lab progress`` marks done (``✓``), by name."""
    rows = (line.split() for line in progress_output.splitlines() if line.startswith("  "))
    return {row[2] for row in rows if len(row) > 2 and row[0] == "✓"}
