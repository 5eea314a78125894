"""A local lab for tests: started in a temporary folder on free ports, driven through its CLI."""

import os
import subprocess
import sys
from pathlib import Path

import boto3

from jukebox.lab import ct, settings


class Lab:
    def __init__(self, home: Path):
        self.home = home
        self.env = {
            **os.environ,
            "JUKEBOX_LAB_HOME": str(home),
            "JUKEBOX_LAB_PORT_BASE": str(settings.free_port_base()),
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

    def exports(self, user: str = "user1") -> dict[str, str]:
        lines = self.cli("env", "--user", user).stdout.splitlines()
        return dict(line.removeprefix("export ").split("=", 1) for line in lines)

    def git(self, *args: str, cwd: Path | None = None, user: str = "user1", password: str | None = None):
        password = password or settings.credentials(self.settings)["git"][user]
        env = {**os.environ, **ct.git_auth_env(user, password), "GIT_AUTHOR_NAME": "participant"}
        env.update(GIT_AUTHOR_EMAIL="p@example.com", GIT_COMMITTER_NAME="participant")
        env.update(GIT_COMMITTER_EMAIL="p@example.com")
        return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)

    def clone(self, repo: str, target: Path, user: str = "user1") -> Path:
        result = self.git("clone", "--quiet", f"{self.settings.git_url}/{user}/{repo}.git", str(target), user=user)
        assert result.returncode == 0, result.stderr
        return target

    def commit_and_push(self, clone: Path, message: str) -> str:
        assert self.git("commit", "--quiet", "-am", message, cwd=clone).returncode == 0
        pushed = self.git("push", "--quiet", "origin", "main", cwd=clone)
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
