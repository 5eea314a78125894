"""Benchmark: the local lab's cold start, push-to-CT latency, and S3 throughput against the disk.

    python benchmarks/lab.py

In a fresh lab folder on free ports it measures and prints:
- cold ``up``: from the command to every service healthy (a new, empty lab);
- push → CT start: from ``git push`` to the CT run being marked running (the push event
  travelling through the post-receive hook to the controller's queue);
- S3 put + get of a 100 MB object (seeded random bytes) against a local disk copy there and
  back, and their ratio;
- what a participant's own S3 costs: ``up --user`` on the running lab for five new participants in a
  row (each starts one more SeaweedFS server) and the resident memory of each participant's server.
The lab is stopped and its folder removed at the end.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np

from jukebox.lab import ct, settings

SIZE = 100 * 1024 * 1024


def cli(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "jukebox.lab", *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def resident_mib(home: Path, service: str) -> float:
    """Resident memory of a lab service's process (its pid file in ``run/``), in MiB."""
    pid = json.loads((home / "run" / f"{service}.pid").read_text())["pid"]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="lab-benchmark-"))
    home = scratch / "lab"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_"))}
    env.update(JUKEBOX_LAB_HOME=str(home), JUKEBOX_LAB_PORT_BASE=str(settings.free_port_base()))
    try:
        started = time.perf_counter()
        cli(env, "up")
        cold_up = time.perf_counter() - started
        lab = settings.load(home)
        creds = settings.credentials(lab)

        git_env = {**os.environ, **ct.git_auth_env("user1", creds["git"]["user1"])}
        git_env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x")
        clone = scratch / "clone"
        subprocess.run(["git", "clone", "-q", f"{lab.git_url}/user1/jukebox.git", str(clone)], env=git_env, check=True)
        (clone / "README.md").write_text((clone / "README.md").read_text() + "\nbenchmark\n")
        subprocess.run(["git", "commit", "-qam", "benchmark"], cwd=clone, env=git_env, check=True)
        pushed_at = time.time()
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=clone, env=git_env, check=True)
        latency = None
        while latency is None and time.time() - pushed_at < 60:
            for path in (home / "runs").glob("ct-*.json"):
                record = json.loads(path.read_text())
                if record["started"]:
                    latency = record["started"] - pushed_at
            time.sleep(0.01)

        payload = scratch / "payload.bin"
        payload.write_bytes(np.random.default_rng(0).bytes(SIZE))
        s3 = boto3.client(
            "s3",
            endpoint_url=lab.url("s3"),
            aws_access_key_id=settings.s3_keys(lab)["access_key"],
            aws_secret_access_key=settings.s3_keys(lab)["secret_key"],
            region_name="us-east-1",
        )
        started = time.perf_counter()
        s3.upload_file(str(payload), "pipeline", "payload.bin")
        s3.download_file("pipeline", "payload.bin", str(scratch / "back.bin"))
        s3_seconds = time.perf_counter() - started
        assert (scratch / "back.bin").read_bytes() == payload.read_bytes()
        started = time.perf_counter()
        shutil.copyfile(payload, scratch / "copy.bin")
        shutil.copyfile(scratch / "copy.bin", scratch / "copy-back.bin")
        disk_seconds = time.perf_counter() - started

        added = []
        for user in ("user2", "user3", "user4", "user5", "user6"):
            started = time.perf_counter()
            cli(env, "up", "--user", user, "--no-status")
            added.append(time.perf_counter() - started)
        lab = settings.load(home)
        keys = settings.s3_keys(lab, "user2")
        boto3.client(
            "s3",
            endpoint_url=lab.s3_url("user2"),
            aws_access_key_id=keys["access_key"],
            aws_secret_access_key=keys["secret_key"],
            region_name="us-east-1",
        ).create_bucket(Bucket="data")
        memory = {name: resident_mib(home, name) for name in ("s3", "s3-user2")}
    finally:
        subprocess.run([sys.executable, "-m", "jukebox.lab", "down"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"cold up to all services healthy: {cold_up:.1f} s")
    print(
        f"push to CT run start:            {latency:.2f} s" if latency is not None else "push to CT run start: no run"
    )
    print(
        f"100 MB put+get: S3 {s3_seconds:.2f} s ({2 * SIZE / s3_seconds / 1e6:.0f} MB/s), "
        f"disk copy {disk_seconds:.2f} s; ratio {s3_seconds / disk_seconds:.1f}x"
    )
    print(
        f"a participant's own S3:          up --user, 5 in a row: {np.mean(added):.1f} s on average "
        f"({min(added):.1f}-{max(added):.1f} s); resident memory "
        f"{memory['s3']:.0f} MiB (user1's, after 100 MB) and {memory['s3-user2']:.0f} MiB (user2's, one bucket)"
    )


if __name__ == "__main__":
    main()
