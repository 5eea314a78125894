"""The lab's processes: how to start each, which ports it binds, how to tell it is healthy.

``up`` starts S3, the registry and the controller; the workbench (JupyterLab) starts on demand.
"""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from jukebox.lab import process, s3, settings, workbench


@dataclass
class Service:
    name: str
    port_names: list[str]  # every port it binds (checked free before it starts)
    command: list[str]
    healthy: Callable[[], bool]
    url: str
    state: str  # its folder under the lab home
    on_demand: bool = False  # started by its own command, not by ``up``
    extra_environment: Callable[[dict[str, str]], dict[str, str]] | None = None


def s3_ports(lab: settings.LabSettings) -> s3.S3Ports:
    p = lab.ports
    return s3.S3Ports(
        s3=p["s3"],
        master=p["s3-master"],
        volume=p["s3-volume"],
        filer=p["s3-filer"],
        master_grpc=p["s3-master-grpc"],
        volume_grpc=p["s3-volume-grpc"],
        filer_grpc=p["s3-filer-grpc"],
        s3_grpc=p["s3-grpc"],
    )


def services(lab: settings.LabSettings) -> list[Service]:
    """In start order: S3 and the registry first, then the controller (it creates buckets)."""
    home = lab.home
    creds = settings.credentials(lab)["s3"]
    identities = home / "s3-identities.json"
    s3.write_identities(identities, creds["access_key"], creds["secret_key"])
    (home / "s3").mkdir(parents=True, exist_ok=True)
    (home / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
    return [
        Service(
            "s3",
            [name for name in settings.PORT_OFFSETS if name.startswith("s3")],
            s3.weed_command(home / "s3", s3_ports(lab), identities),
            lambda: s3.s3_healthy(lab.url("s3")),
            lab.url("s3"),
            "s3",
        ),
        Service(
            "mlflow",
            ["mlflow"],
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                "--artifacts-destination",
                str(home / "mlflow" / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(lab.ports["mlflow"]),
                "--workers",
                "1",
            ],
            lambda: process.http_ok(lab.url("mlflow") + "/health"),
            lab.url("mlflow"),
            "mlflow",
        ),
        Service(
            "controller",
            ["git"],
            [sys.executable, "-m", "jukebox.lab.controller", "--home", str(home)],
            lambda: process.http_ok(lab.url("git") + "/health"),
            lab.git_url,
            "git, runs, schedules.json",
        ),
        Service(
            "jupyter",
            ["jupyter"],
            workbench.command(lab),
            lambda: process.http_ok(lab.url("jupyter") + "/api"),
            workbench.url(lab),
            "jupyter",
            on_demand=True,
            extra_environment=lambda env: workbench.environment_for(lab, env),
        ),
    ]


def child_environment(lab: settings.LabSettings, service: Service | None = None) -> dict[str, str]:
    """A service's environment: this one, minus anything that would point it elsewhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_"))}
    env["JUKEBOX_LAB_HOME"] = str(lab.home)
    if service and service.extra_environment:
        env = service.extra_environment(env)
    return env
