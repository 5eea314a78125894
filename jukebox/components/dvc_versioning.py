"""Version an S3 object with DVC in the participant's git repo, then push (chapters 5 and 7).

The repo only gets a small ``song_properties.parquet.dvc`` file (the data's md5 and where it came
from); the data itself is copied from ``s3://data`` to the DVC remote ``s3://data-cache``.
A push of that commit triggers the CT pipeline, which ``dvc pull``s exactly that version.

Credentials come from the environment under the cluster secrets' key names: ``username`` and
``password`` (``git-auth``) go to git as an HTTP header, never in a URL, argv or output;
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (``aws-connection-data``) are read by DVC and boto3
from the environment and never written to ``.dvc/config``.
"""

from typing import NamedTuple

from kfp.dsl import component

from jukebox.components.ships import ships
from jukebox.components.step_helpers import git_auth_env, s3_client, s3_failure
from jukebox.pins import GIT_IMAGE, pinned

# The full Python image: the slim one has no git, and this step clones and pushes.


@component(base_image=GIT_IMAGE, packages_to_install=pinned("dvc", "dvc-s3", "boto3", "PyYAML"))
@ships(git_auth_env, s3_client, s3_failure)
def version_with_dvc(
    repo_url: str,
    bucket: str = "data",
    key: str = "song_properties.parquet",
    cache_bucket: str = "data-cache",
) -> NamedTuple("DataVersion", [("commit", str), ("md5", str)]):
    """Track ``s3://<bucket>/<key>`` with DVC in the repo at ``repo_url`` and push a commit to main.

    First run (no ``.dvc/``): ``dvc init``, remotes ``s3-version`` (default, ``s3://<cache_bucket>``)
    and ``data-source`` (``s3://<bucket>``), ``dvc import-url --to-remote``. Later runs: if the
    object's md5 equals the one in the ``.dvc`` file, nothing happens (no transfer, no commit);
    else ``dvc update --to-remote``. If main moved on meanwhile, the step starts again from the new
    main (a rebase of two ``.dvc`` changes would conflict), so no change is lost.
    Returns the commit pushed ("" when the data was unchanged) and the data's md5.

    Args:
        repo_url: the participant's jukebox git repo (secret ``git-auth`` gives the credentials).
        bucket: the bucket of the data (DVC remote ``data-source``).
        key: the data's key in it.
        cache_bucket: DVC's storage (remote ``s3-version``).
    """
    import hashlib
    import os
    import re
    import shutil
    import subprocess
    import sys
    import tempfile
    from collections import namedtuple
    from pathlib import Path
    from urllib.parse import urlsplit

    import yaml
    from botocore.exceptions import BotoCoreError, ClientError

    branch, attempts = "main", 5
    output = namedtuple("DataVersion", ["commit", "md5"])

    needed = ["username", "password", "AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    unset = [name for name in needed if not os.environ.get(name)]
    if unset:
        raise RuntimeError(f"Set {', '.join(unset)} (keys of the secrets git-auth and aws-connection-data).")
    if "@" in urlsplit(repo_url).netloc or not repo_url.startswith(("http://", "https://")):
        raise RuntimeError(
            "Give repo_url as http(s)://host/user/jukebox.git, without credentials (they come from git-auth)."
        )
    endpoint = os.environ["AWS_S3_ENDPOINT"]
    git_env, token = git_auth_env()
    secrets = [token, os.environ["password"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_ACCESS_KEY_ID"]]
    bot = "jukebox data pipeline"
    env = {
        **git_env,
        "GIT_AUTHOR_NAME": bot,
        "GIT_AUTHOR_EMAIL": "data-pipeline@jukebox.invalid",
        "GIT_COMMITTER_NAME": bot,
        "GIT_COMMITTER_EMAIL": "data-pipeline@jukebox.invalid",
        "DVC_NO_ANALYTICS": "1",
    }

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return re.sub(r"://[^/@\s]+@", "://***@", text)

    def failure(what: str, result: subprocess.CompletedProcess) -> RuntimeError:
        """One sentence: what failed and the command's last line of output, without credentials."""
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip() and not line.startswith("hint:")]
        lines = lines or [line.strip() for line in result.stdout.splitlines() if line.strip()]
        detail = scrub(lines[-1].removeprefix("ERROR: ")) if lines else f"exit status {result.returncode}"
        return RuntimeError(f"{what} failed: {detail.rstrip('.')}.")

    def run(command: list[str], what: str, cwd: Path | None = None, check: bool = True):
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise failure(what, result)
        return result

    def dvc(*args: str) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "dvc", *args], f"dvc {args[0]}", clone)

    s3, _ = s3_client("read the data")

    def s3_call(call, where: str):
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            raise s3_failure(
                error, endpoint, f"read {where}", f"{where} does not exist: run the load step first."
            ) from None

    def object_md5() -> str:
        """The md5 of the object's content (what DVC records), streamed: nothing is stored here."""
        body = s3_call(lambda: s3.get_object(Bucket=bucket, Key=key)["Body"], f"s3://{bucket}/{key}")
        digest = hashlib.md5()
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()

    def recorded_md5(dvc_file: Path) -> str:
        if not dvc_file.exists():
            return ""
        outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
        return outs[0].get("md5", "")

    def remove_upload_leftovers(md5: str) -> None:
        """DVC uploads to ``files/md5/.<random>.tmp``, copies to the final key and leaves the tmp behind."""
        final = f"files/md5/{md5[:2]}/{md5[2:]}"
        s3_call(lambda: s3.head_object(Bucket=cache_bucket, Key=final), f"s3://{cache_bucket}/{final}")
        listed = s3.list_objects_v2(Bucket=cache_bucket, Prefix="files/md5/.", Delimiter="/")
        for item in listed.get("Contents", []):
            if item["Key"].endswith(".tmp") and item["ETag"].strip('"') == md5:
                s3.delete_object(Bucket=cache_bucket, Key=item["Key"])

    def version_once(clone: Path) -> output:
        """Bring the .dvc file up to date with S3 and commit it; commit "" if there is nothing to do."""
        name = Path(key).name
        dvc_file = clone / f"{name}.dvc"
        md5 = object_md5()
        if recorded_md5(dvc_file) == md5:
            print(f"s3://{bucket}/{key} is unchanged (md5 {md5}): nothing to version, nothing pushed.")
            return output("", md5)
        if not (clone / ".dvc").is_dir():
            dvc("init", "--quiet")
        if "data-source" not in dvc("remote", "list").stdout.split():
            dvc("remote", "add", "--force", "--default", "s3-version", f"s3://{cache_bucket}")
            dvc("remote", "modify", "s3-version", "endpointurl", endpoint)
            dvc("remote", "add", "--force", "data-source", f"s3://{bucket}")
            dvc("remote", "modify", "data-source", "endpointurl", endpoint)
        if dvc_file.exists():
            dvc("update", dvc_file.name, "--to-remote")
        else:
            dvc("import-url", f"remote://data-source/{key}", name, "--to-remote")
        if recorded_md5(dvc_file) != md5:
            raise RuntimeError(f"s3://{bucket}/{key} changed while it was being versioned: run the pipeline again.")
        remove_upload_leftovers(md5)
        tracked = [dvc_file.name, ".gitignore", ".dvcignore", ".dvc/config", ".dvc/.gitignore"]
        run(["git", "add", "--", *[path for path in tracked if (clone / path).exists()]], "git add", clone)
        namespace = os.environ.get("namespace")
        message = f"Version s3://{bucket}/{key} with DVC (md5 {md5})"
        message += f"\n\nBy the data pipeline in namespace {namespace}." if namespace else ""
        run(["git", "commit", "--quiet", "-m", message], "git commit", clone)
        return output(run(["git", "rev-parse", "HEAD"], "git rev-parse", clone).stdout.strip(), md5)

    workdir = Path(tempfile.mkdtemp(prefix="dvc-versioning-"))
    clone = workdir / "repo"
    try:
        run(["git", "clone", "--quiet", "--branch", branch, repo_url, str(clone)], f"Cloning {repo_url}")
        for attempt in range(1, attempts + 1):
            version = version_once(clone)
            if not version.commit:
                return version
            pushed = run(["git", "push", "--quiet", "origin", f"HEAD:{branch}"], f"Pushing to {repo_url}", clone, False)
            if pushed.returncode != 0:
                run(["git", "fetch", "--quiet", "origin", branch], f"Fetching {repo_url}", clone)
            main = run(["git", "rev-parse", f"origin/{branch}"], "git rev-parse", clone).stdout.strip()
            # main == our commit also when a concurrent run versioned the same data in the same second:
            # it made the very same commit.
            if main == version.commit:
                print(f"Pushed {version.commit[:7]} to {branch} of {repo_url}: the data version md5 {version.md5}.")
                return version
            behind = run(["git", "merge-base", "--is-ancestor", f"origin/{branch}", "HEAD"], "git", clone, False)
            if behind.returncode == 0:  # main did not move: the push failed for another reason
                raise failure(f"Pushing to {repo_url}", pushed)
            print(f"{branch} moved on while versioning (attempt {attempt}); starting again from the new {branch}.")
            run(["git", "reset", "--quiet", "--hard", f"origin/{branch}"], "git reset", clone)
            run(["git", "clean", "--quiet", "-ffdx"], "git clean", clone)
        raise RuntimeError(
            f"{branch} of {repo_url} kept moving: {attempts} pushes were rejected; run the pipeline again."
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
