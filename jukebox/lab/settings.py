"""The lab's configuration: its folder, ports, users and generated credentials.

Chosen once, on the first ``up``, and kept in the lab folder so that ``env``, ``status`` and
later ``up`` calls agree: ``lab.json`` (ports, users) and ``credentials.json`` (mode 0600).
"""

import json
import os
import random
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jukebox.paths import lab_home

# The lab's services and their default ports (a block unlikely to be in use).
DEFAULT_PORT_BASE = 47100
PORT_OFFSETS = {
    "git": 0,  # git over HTTP, the CT trigger, the raw-data endpoint (the controller process)
    "s3": 1,
    "mlflow": 2,
    "jupyter": 3,  # the workbench (JupyterLab), started on demand
    "feast-ui": 4,  # the Feast UI, started on demand
    "model-server": 5,  # chapter 7's serving, started on demand (`serve`): the model itself (predictor),
    "transformer": 6,  # the transformer in front of it (song id → features → model),
    "jukebox-ui": 7,  # and the Jukebox page
    "s3-master": 10,
    "s3-volume": 11,
    "s3-filer": 12,
    "s3-master-grpc": 20,
    "s3-volume-grpc": 21,
    "s3-filer-grpc": 22,
    "s3-grpc": 23,
}
DEFAULT_USER = "user1"
REGION = "us-east-1"
# Each participant has an S3 server of their own, as on the cluster (a MinIO in each namespace):
# the first participant's uses the ``s3*`` ports above; participant n (n = 1…23) uses
# ``s3@<user>``, ``s3-master@<user>``, … at base + 20 + 10·n + 0…7, inside the lab's block of 400.
S3_PORT_NAMES = [name for name in PORT_OFFSETS if name.startswith("s3")]
# Their serving ports (``model-server@<user>``, …) are at base + 300 + 3·(n-1) + 0…2.
SERVING_PORT_NAMES = ["model-server", "transformer", "jukebox-ui"]
MAX_USERS = 24
PORT_BLOCK = 400
EPHEMERAL_PORTS_START = 32768  # Linux's default ip_local_port_range starts here
USER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")  # a Feast project name allows no "-"


@dataclass
class LabSettings:
    home: Path
    ports: dict[str, int]
    users: list[str] = field(default_factory=lambda: [DEFAULT_USER])

    @property
    def default_user(self) -> str:
        return self.users[0]

    def model_name(self, user: str) -> str:
        """The model ``user``'s CT runs register and serve: ``jukebox`` for user1, else ``jukebox-<user>``.

        One MLflow registry holds every participant's models (on the cluster each namespace has its own).
        """
        return "jukebox" if user == self.default_user else f"jukebox-{user}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def s3_port_names(self, user: str) -> list[str]:
        """The names in ``ports`` of the eight ports of ``user``'s S3 server (``s3`` first)."""
        return S3_PORT_NAMES if user == self.default_user else [f"{name}@{user}" for name in S3_PORT_NAMES]

    def serving_port_names(self, user: str) -> list[str]:
        """The names in ``ports`` of ``user``'s model server, transformer and Jukebox page."""
        names = SERVING_PORT_NAMES
        return names if user == self.default_user else [f"{name}@{user}" for name in names]

    def s3_url(self, user: str | None = None) -> str:
        """The S3 endpoint of ``user`` (by default the first participant)."""
        return self.url(self.s3_port_names(user or self.default_user)[0])

    @property
    def git_url(self) -> str:
        return self.url("git")

    @property
    def raw_url(self) -> str:
        """Where 99-data_prep/ is served: the stand-in for the repository's raw URLs."""
        return f"{self.url('git')}/raw"

    @property
    def push_event_url(self) -> str:
        return f"{self.url('git')}/hooks/push"


def free_port_base(tries: int = 100, lane: int = 0, lanes: int = 1) -> int:
    """A base port whose whole block of lab ports is free now (for tests and benchmarks).

    The block stays below Linux's ephemeral ports (32768 and up), which the kernel hands to outgoing
    connections: a port free when the lab starts could otherwise be a client's by the time a later
    participant's S3 server wants it. Processes that make labs at the same time (pytest's workers)
    each take their own ``lane`` of ``lanes``: every ``lanes``-th block, so two never pick one block.

    Args:
        tries: blocks to try before giving up.
        lane: this process's lane, from 0.
        lanes: how many processes share the range.
    """
    from jukebox.lab.process import port_is_free

    blocks = range(20000, EPHEMERAL_PORTS_START - PORT_BLOCK, PORT_BLOCK)[lane::lanes]
    for _ in range(tries):
        base = random.choice(blocks)
        if all(port_is_free(base + offset) for offset in range(PORT_BLOCK)):
            return base
    raise RuntimeError(f"No free block of ports for a lab between 20000 and {EPHEMERAL_PORTS_START}.")


def default_ports(base: int) -> dict[str, int]:
    return {name: base + offset for name, offset in PORT_OFFSETS.items()}


def parse_port_overrides(values: list[str]) -> dict[str, int]:
    """``["git=3000", "s3=9000", "s3@user2=9100"]`` → ``{"git": 3000, …}``, with clear errors."""
    overrides = {}
    for value in values:
        name, _, number = value.partition("=")
        service, at, user = name.partition("@")
        if name not in PORT_OFFSETS and not (at and user and service in S3_PORT_NAMES + SERVING_PORT_NAMES):
            raise ValueError(f"Unknown service {name!r} in --port; choose one of {', '.join(PORT_OFFSETS)}.")
        if not number.isdigit() or not 1024 <= int(number) <= 65535:
            raise ValueError(f"--port {value}: give a port number between 1024 and 65535.")
        overrides[name] = int(number)
    return overrides


def participant_ports(settings: LabSettings, base: int) -> None:
    """Give each participant after the first the ports they lack: their S3's and their serving's."""
    for number, user in enumerate(settings.users[1:], start=1):
        for offset, name in enumerate(settings.s3_port_names(user)):
            settings.ports.setdefault(name, base + 20 + 10 * number + offset)
        for offset, name in enumerate(settings.serving_port_names(user)):
            settings.ports.setdefault(name, base + 300 + 3 * (number - 1) + offset)


def load(home: Path | None = None) -> LabSettings | None:
    """The lab's settings, or None before the first ``up``."""
    home = home or lab_home()
    path = home / "lab.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    # A lab made before a service was added gets that service's port from the same block.
    base = data["ports"]["git"] - PORT_OFFSETS["git"]
    settings = LabSettings(home=home, ports={**default_ports(base), **data["ports"]}, users=data["users"])
    participant_ports(settings, base)  # a lab made before a participant's service was added
    return settings


def create_or_update(port_overrides: dict[str, int], users: list[str] | None, home: Path | None = None) -> LabSettings:
    """Load the settings (creating them on the first ``up``) and apply this ``up``'s options."""
    home = home or lab_home()
    settings = load(home)
    if settings is None:
        base = int(os.environ.get("JUKEBOX_LAB_PORT_BASE", DEFAULT_PORT_BASE))
        settings = LabSettings(home=home, ports=default_ports(base))
    base = settings.ports["git"] - PORT_OFFSETS["git"]  # before --port moves git: the block stays where it is
    for user in users or []:
        if not USER_NAME.fullmatch(user):
            raise ValueError(
                f"{user!r} cannot be a participant's name: use lower-case letters, digits and _ "
                "(it names their repos, their S3 and their inner-loop Feast project <name>_music)."
            )
        if user not in settings.users:
            if len(settings.users) == MAX_USERS:
                raise ValueError(f"A lab holds at most {MAX_USERS} participants: start another lab for {user}.")
            settings.users.append(user)
    participant_ports(settings, base)
    settings.ports.update(port_overrides)
    home.mkdir(parents=True, exist_ok=True)
    data = {key: value for key, value in asdict(settings).items() if key != "home"}
    (home / "lab.json").write_text(json.dumps(data, indent=2) + "\n")
    return settings


def credentials(settings: LabSettings) -> dict:
    """The lab's generated credentials, created on first use, stored with mode 0600.

    ``{"s3": {user: {"access_key", "secret_key"}}, "git": {user: password}}``: each participant
    has their own S3 keys (for their own S3 server) and their own git password.
    """
    path = settings.home / "credentials.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    if "access_key" in data.get("s3", {}):  # a lab made when all participants shared one S3
        data["s3"] = {settings.default_user: data["s3"]}
        changed = True
    keys, git = data.setdefault("s3", {}), data.setdefault("git", {})
    for user in settings.users:
        if user not in keys:
            keys[user] = {"access_key": "lab-" + secrets.token_hex(8), "secret_key": secrets.token_urlsafe(30)}
            changed = True
        if user not in git:
            git[user] = secrets.token_urlsafe(18)
            changed = True
    if changed:
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def s3_keys(settings: LabSettings, user: str | None = None) -> dict[str, str]:
    """``{"access_key", "secret_key"}`` of ``user``'s S3 (by default the first participant's)."""
    return credentials(settings)["s3"][user or settings.default_user]


def secret_values(settings: LabSettings) -> list[str]:
    """Every generated secret: what must never appear in a log, a file we write, or an error.

    The S3 secret keys, the git passwords and the workbench's token. An S3 access key ID is not
    among them: like a user name it travels in clear in every request's Authorization header, and
    an S3 server logs the ID of the keys it refuses (SeaweedFS does, as MinIO and AWS do).
    """
    data = credentials(settings)
    token = settings.home / "jupyter" / "token"
    return [
        *(keys["secret_key"] for keys in data["s3"].values()),
        *data["git"].values(),
        *([token.read_text().strip()] if token.exists() else []),
    ]
