"""Git as a participant uses it against the lab's git server: clone, commit, push, with their password.

The password travels in an HTTP header in git's environment (``ct.git_auth_env``), never in a URL,
an argument or git's output. ``make workshop`` and the tests push the participants' edits with it.
"""

import os
import subprocess
from pathlib import Path

from jukebox.lab import ct, settings

AUTHOR = {
    "GIT_AUTHOR_NAME": "participant",
    "GIT_AUTHOR_EMAIL": "participant@example.com",
    "GIT_COMMITTER_NAME": "participant",
    "GIT_COMMITTER_EMAIL": "participant@example.com",
}


def git(
    lab: settings.LabSettings, user: str, *args: str, cwd: Path | None = None, password: str | None = None
) -> subprocess.CompletedProcess:
    """``git args`` as ``user`` (with their lab password unless another is given); output captured."""
    password = password or settings.credentials(lab)["git"][user]
    env = {**os.environ, **ct.git_auth_env(user, password), **AUTHOR}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def clone(lab: settings.LabSettings, user: str, repo: str, target: Path) -> Path:
    """A fresh clone of ``user``'s ``repo`` (``jukebox`` or ``mlops-gitops``) in ``target``."""
    result = git(lab, user, "clone", "--quiet", f"{lab.git_url}/{user}/{repo}.git", str(target))
    if result.returncode != 0:
        raise RuntimeError(f"Could not clone {user}/{repo}: {result.stderr.strip()}")
    return target


def commit_and_push(lab: settings.LabSettings, user: str, clone: Path, message: str) -> str | None:
    """Commit every change in ``clone`` and push it to ``main``; return the commit (None: nothing changed)."""
    git(lab, user, "add", "-A", cwd=clone)
    if git(lab, user, "diff", "--cached", "--quiet", cwd=clone).returncode == 0:
        return None
    for step in (["commit", "--quiet", "-m", message], ["push", "--quiet", "origin", "main"]):
        result = git(lab, user, *step, cwd=clone)
        if result.returncode != 0:
            raise RuntimeError(f"git {step[0]} failed in {clone}: {result.stderr.strip()}")
    return git(lab, user, "rev-parse", "HEAD", cwd=clone).stdout.strip()
