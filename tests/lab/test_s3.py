"""The lab's S3 against a real SeaweedFS server on 127.0.0.1 (no mocks).

A server takes ~3 s to start and ~15 s to stop on SIGTERM (its filer waits 15 s for open gRPC
streams), so each stop below ends with SIGKILL after ``STOP_GRACE``, as the lab's supervisor does.
"""

import secrets
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from jukebox.lab.s3 import (
    STOP_GRACE,
    S3Ports,
    ensure_buckets,
    make_state_dirs,
    s3_client,
    s3_healthy,
    weed_command,
    weed_executable,
    write_identities,
)

REFUSED = {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"}


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1, found by binding port 0 with all sockets open at once."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


class S3Server:
    """One SeaweedFS server: its state folder, ports, credentials and process."""

    def __init__(self, folder: Path):
        self.state_dir = folder / "state"
        self.log = folder / "weed.log"
        self.identities = folder / "s3-identities.json"
        self.access_key = "lab-" + secrets.token_hex(8)
        self.secret_key = secrets.token_urlsafe(30)
        write_identities(self.identities, self.access_key, self.secret_key)
        # All 8 ports explicit: SeaweedFS's default gRPC ports (HTTP + 10000) may be taken or out of range.
        self.ports = S3Ports(*free_ports(8))
        self.endpoint = f"http://127.0.0.1:{self.ports.s3}"
        self.process = None

    def start(self) -> None:
        make_state_dirs(self.state_dir)
        command = weed_command(self.state_dir, self.ports, self.identities)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not s3_healthy(self.ports):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
                pytest.fail(f"SeaweedFS did not answer on {self.endpoint} within 60 s; log tail:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the lab's grace for SeaweedFS."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        # SeaweedFS also listens on Unix sockets named after its ports in /tmp; a killed server leaves them behind.
        for port in self.ports.all_ports():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)

    def client(self, secret_key: str | None = None):
        return s3_client(self.endpoint, self.access_key, secret_key or self.secret_key)

    def ensure(self, buckets: list[str]) -> list[str]:
        return ensure_buckets(self.endpoint, self.access_key, self.secret_key, buckets)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


def bucket_names(server: S3Server) -> set[str]:
    return {bucket["Name"] for bucket in server.client().list_buckets()["Buckets"]}


def test_weed_executable_is_the_packaged_binary():
    path = Path(weed_executable())
    assert path.is_absolute() and path.name == "weed" and path.is_file()


def test_ports_default_grpc_to_http_plus_10000_and_reject_clashes():
    ports = S3Ports(s3=8333, master=9333, volume=8080, filer=8888)
    assert ports.all_ports() == [8333, 9333, 8080, 8888, 18333, 19333, 18080, 18888]
    with pytest.raises(ValueError, match="65535"):
        S3Ports(s3=60000, master=9333, volume=8080, filer=8888)
    with pytest.raises(ValueError, match="differ"):
        S3Ports(s3=8333, master=8333, volume=8080, filer=8888)


def test_command_binds_loopback_and_sets_every_port(tmp_path):
    ports = S3Ports(*range(41001, 41009))
    command = weed_command(tmp_path / "state", ports, tmp_path / "ids.json")
    assert "-ip=127.0.0.1" in command and "-ip.bind=127.0.0.1" in command
    for port in ports.all_ports():
        assert sum(argument.endswith(f"={port}") for argument in command) == 1
    assert not (tmp_path / "state").exists(), "building the command writes nothing"
    make_state_dirs(tmp_path / "state")
    assert (tmp_path / "state" / "data").is_dir() and (tmp_path / "state" / "master").is_dir()


def test_buckets_are_created_once(server):
    assert server.ensure(["pipeline", "models"]) == ["pipeline", "models"]
    assert server.ensure(["pipeline", "models"]) == []
    assert server.ensure(["pipeline", "models", "data"]) == ["data"]
    assert {"pipeline", "models", "data"} <= bucket_names(server)


def test_object_round_trip(server):
    server.ensure(["objects"])  # the first write after start-up may wait a few seconds for the volume server
    server.client().put_object(Bucket="objects", Key="run-1/model.onnx", Body=b"\x00weights\xff")
    assert server.client().get_object(Bucket="objects", Key="run-1/model.onnx")["Body"].read() == b"\x00weights\xff"


def test_wrong_secret_key_is_refused(server):
    with pytest.raises(ClientError) as refused:
        server.client(secret_key="not-the-secret").list_buckets()
    assert refused.value.response["Error"]["Code"] in REFUSED


def test_unknown_access_key_is_refused(server):
    with pytest.raises(ClientError) as refused:
        s3_client(server.endpoint, "someone-else", "whatever").list_buckets()
    assert refused.value.response["Error"]["Code"] in REFUSED


def test_anonymous_requests_are_refused(server):
    server.ensure(["objects"])
    server.client().put_object(Bucket="objects", Key="private.txt", Body=b"no")
    anonymous = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    for request in (anonymous.list_buckets, lambda: anonymous.get_object(Bucket="objects", Key="private.txt")):
        with pytest.raises(ClientError) as refused:
            request()
        assert refused.value.response["Error"]["Code"] in REFUSED


def test_invalid_bucket_name_creates_nothing(server):
    before = bucket_names(server)
    with pytest.raises(ValueError, match="Bad_Name"):
        server.ensure(["fresh-bucket", "Bad_Name"])
    for name in ("ab", "-dash-first", "x" * 64, "dot-last.", "new-line\n", "Upper"):
        with pytest.raises(ValueError, match="invalid"):
            server.ensure([name])
    assert bucket_names(server) == before


def test_every_port_listens_on_loopback(server):
    for port in server.ports.all_ports():
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_identities_file_is_private(server):
    assert stat.S_IMODE(server.identities.stat().st_mode) == 0o600
    assert server.secret_key not in " ".join(weed_command(server.state_dir, server.ports, server.identities))


@pytest.mark.lab  # starts and restarts the lab's S3 server
def test_objects_survive_a_restart(tmp_path):
    server = S3Server(tmp_path)
    server.start()
    try:
        server.ensure(["pipeline"])
        server.client().put_object(Bucket="pipeline", Key="runs/1.json", Body=b'{"ok": true}')
        server.stop()
        server.start()  # same state folder and ports
        assert server.ensure(["pipeline"]) == []
        assert server.client().get_object(Bucket="pipeline", Key="runs/1.json")["Body"].read() == b'{"ok": true}'
    finally:
        server.stop()
