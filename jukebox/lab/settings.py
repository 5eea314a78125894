"""The lab's configuration: its folder, ports, users and generated credentials.

Chosen once, on the first ``up``, and kept in the lab folder so that ``env``, ``status`` and
later ``up`` calls agree: ``lab.json`` (ports, users) and ``credentials.json`` (mode 0600).
"""

import json
import os
import random
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


@dataclass
class LabSettings:
    home: Path
    ports: dict[str, int]
    users: list[str] = field(default_factory=lambda: [DEFAULT_USER])

    @property
    def default_user(self) -> str:
        return self.users[0]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

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


def free_port_base(tries: int = 100) -> int:
    """A base port whose whole block of lab ports is free now (for tests and benchmarks)."""
    from jukebox.lab.process import port_is_free

    for _ in range(tries):
        base = random.randrange(20000, 40000, 100)
        if all(port_is_free(base + offset) for offset in PORT_OFFSETS.values()):
            return base
    raise RuntimeError("No free block of ports for a lab between 20000 and 40000.")


def default_ports(base: int) -> dict[str, int]:
    return {name: base + offset for name, offset in PORT_OFFSETS.items()}


def parse_port_overrides(values: list[str]) -> dict[str, int]:
    """``["git=3000", "s3=9000"]`` → ``{"git": 3000, "s3": 9000}``, with clear errors."""
    overrides = {}
    for value in values:
        name, _, number = value.partition("=")
        if name not in PORT_OFFSETS:
            raise ValueError(f"Unknown service {name!r} in --port; choose one of {', '.join(PORT_OFFSETS)}.")
        if not number.isdigit() or not 1024 <= int(number) <= 65535:
            raise ValueError(f"--port {value}: give a port number between 1024 and 65535.")
        overrides[name] = int(number)
    return overrides


def load(home: Path | None = None) -> LabSettings | None:
    """The lab's settings, or None before the first ``up``."""
    home = home or lab_home()
    path = home / "lab.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    # A lab made before a service was added gets that service's port from the same block.
    ports = {**default_ports(data["ports"]["git"] - PORT_OFFSETS["git"]), **data["ports"]}
    return LabSettings(home=home, ports=ports, users=data["users"])


def create_or_update(port_overrides: dict[str, int], users: list[str] | None, home: Path | None = None) -> LabSettings:
    """Load the settings (creating them on the first ``up``) and apply this ``up``'s options."""
    home = home or lab_home()
    settings = load(home)
    if settings is None:
        base = int(os.environ.get("JUKEBOX_LAB_PORT_BASE", DEFAULT_PORT_BASE))
        settings = LabSettings(home=home, ports=default_ports(base))
    settings.ports.update(port_overrides)
    for user in users or []:
        if user not in settings.users:
            settings.users.append(user)
    home.mkdir(parents=True, exist_ok=True)
    data = {key: value for key, value in asdict(settings).items() if key != "home"}
    (home / "lab.json").write_text(json.dumps(data, indent=2) + "\n")
    return settings


def credentials(settings: LabSettings) -> dict:
    """The lab's generated credentials, created on first use, stored with mode 0600.

    ``{"s3": {"access_key", "secret_key"}, "git": {user: password}}``
    """
    path = settings.home / "credentials.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    if "s3" not in data:
        data["s3"] = {"access_key": "lab-" + secrets.token_hex(8), "secret_key": secrets.token_urlsafe(30)}
        changed = True
    git = data.setdefault("git", {})
    for user in settings.users:
        if user not in git:
            git[user] = secrets.token_urlsafe(18)
            changed = True
    if changed:
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def secret_values(settings: LabSettings) -> list[str]:
    """Every generated secret: what must never appear in a log, a file we write, or an error."""
    data = credentials(settings)
    return [data["s3"]["secret_key"], data["s3"]["access_key"], *data["git"].values()]
