"""The lab's processes: how to start each, which ports it binds, how to tell it is healthy.

``up`` starts S3, the registry and the controller; the workbench (JupyterLab), the Feast UI and
each participant's serving (model server, transformer, Jukebox page) start on demand.
"""

import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from jukebox.lab import environment, feast_ui, process, s3, serving, settings, workbench


class ServiceError(RuntimeError):
    """A service cannot start; the message says what to do, in one sentence."""


@dataclass
class Service:
    name: str
    port_names: list[str]  # every port it binds (checked free before it starts)
    command: list[str]
    healthy: Callable[[], bool]
    url: str
    state: str  # its folder under the lab home (or an absolute folder)
    on_demand: bool = False  # started by its own command, not by ``up``
    extra_environment: Callable[[dict[str, str]], dict[str, str]] | None = None
    prepare: Callable[[], None] | None = None  # writes what it needs to start (folders, files), just before it starts
    marker: str | None = None  # a piece of its command line that tells it is the lab's (default: the lab's folder)
    user: str | None = None  # the participant it serves, for a participant's own service
    stop_grace: float = process.GRACE  # seconds from SIGTERM to SIGKILL when the lab stops it


def s3_ports(lab: settings.LabSettings, user: str | None = None) -> s3.S3Ports:
    """The ports of ``user``'s S3 server (``settings.S3_PORT_NAMES`` order: s3, master, volume, filer, grpc…)."""
    p = [lab.ports[name] for name in lab.s3_port_names(user or lab.default_user)]
    return s3.S3Ports(
        s3=p[0],
        master=p[1],
        volume=p[2],
        filer=p[3],
        master_grpc=p[4],
        volume_grpc=p[5],
        filer_grpc=p[6],
        s3_grpc=p[7],
    )


def s3_service(lab: settings.LabSettings, user: str) -> Service:
    """``user``'s own S3 server: their buckets, their keys (``s3`` for the first participant, ``s3-<user>`` else)."""
    name = "s3" if user == lab.default_user else f"s3-{user}"
    identities = lab.home / f"{name}-identities.json"
    url, ports = lab.s3_url(user), s3_ports(lab, user)

    def prepare() -> None:
        keys = settings.s3_keys(lab, user)
        s3.write_identities(identities, keys["access_key"], keys["secret_key"])
        s3.make_state_dirs(lab.home / name)

    return Service(
        name,
        lab.s3_port_names(user),
        s3.weed_command(lab.home / name, ports, identities),
        lambda: s3.s3_healthy(ports),
        url,
        name,
        prepare=prepare,
        stop_grace=s3.STOP_GRACE,
    )


def serving_services(lab: settings.LabSettings, user: str) -> list[Service]:
    """``user``'s model server, transformer and Jukebox page (``python -m jukebox.lab serve``), in start order."""

    def service(kind: str) -> Service:
        port_option = "--port" if kind == "jukebox-ui" else "--http_port"
        return Service(
            serving.service_name(lab, kind, user),
            [lab.serving_port_names(user)[serving.KINDS.index(kind)]],
            serving.command(lab, kind, user),
            lambda: process.http_ok(serving.health_url(lab, kind, user)),
            serving.url(lab, kind, user),
            serving.DESCRIPTIONS[kind].format(user=user, model=lab.model_name(user)),
            on_demand=True,
            extra_environment=lambda env: {**env, **environment.outer_loop_environment(lab, user)},
            marker=f"{port_option} {serving.port(lab, kind, user)}",
            user=user,
        )

    return [service(kind) for kind in serving.KINDS]


def services(lab: settings.LabSettings) -> list[Service]:
    """In start order: each participant's S3 and the registry first, then the controller (it creates buckets).

    Listing them only reads: what a service needs on disk is written by its ``prepare``, when it starts.
    """
    home = lab.home
    return [
        *(s3_service(lab, user) for user in lab.users),
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
            # The registry only: MLflow's job runner (three more processes, for GenAI jobs) stays off.
            extra_environment=lambda env: {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            prepare=lambda: (home / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True),
        ),
        Service(
            "controller",
            ["git"],
            [sys.executable, "-m", "jukebox.lab.controller", "--home", str(home)],
            lambda: process.http_ok(lab.url("git") + "/health"),
            lab.git_url,
            "git, runs, schedules.json",
            # the workbench's feature store lives in <lab>/feast/ (SQLite creates no folder)
            prepare=lambda: feast_ui.folder(lab).mkdir(parents=True, exist_ok=True),
        ),
        Service(
            "jupyter",
            ["jupyter"],
            workbench.command(lab),
            lambda: process.http_ok(lab.url("jupyter") + "/api"),
            workbench.url(lab),
            str(workbench.root(lab)),  # the folder it opens on
            on_demand=True,
            extra_environment=lambda env: workbench.environment_for(lab, env),
        ),
        Service(
            "feast-ui",
            ["feast-ui"],
            feast_ui.command(lab),
            lambda: process.http_ok(feast_ui.url(lab) + "/projects-list.json"),
            feast_ui.url(lab),
            "feast",  # the registry and the online store it shows
            on_demand=True,
            extra_environment=lambda env: feast_ui.environment_for(lab, env),
            prepare=lambda: feast_ui.folder(lab).mkdir(parents=True, exist_ok=True),
        ),
        *(service for user in lab.users for service in serving_services(lab, user)),
    ]


def child_environment(lab: settings.LabSettings, service: Service | None = None) -> dict[str, str]:
    """A service's environment: this one, minus anything that would point it elsewhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_"))}
    env["JUKEBOX_LAB_HOME"] = str(lab.home)
    if service and service.extra_environment:
        env = service.extra_environment(env)
    return env


def start(lab: settings.LabSettings, wanted: list[Service]) -> bool:
    """Start those of ``wanted`` that are not running and wait until each is healthy; return whether any started.

    Every port is checked free first. The services start side by side, the controller last (it
    creates the participants' buckets in their S3), and each line says what starts.
    """
    started = time.monotonic()
    todo = []
    for service in wanted:
        if process.running_pid(lab.home, service.name):
            print(f"{service.name} is already running on {service.url}")
            continue
        for port_name in service.port_names:
            port = lab.ports[port_name]
            if not process.port_is_free(port):
                raise ServiceError(
                    f"Port {port} ({port_name}) is taken by another program: "
                    f"choose another with `up --port {port_name}=N`."
                )
        todo.append(service)
    for group in (todo[:-1], todo[-1:]) if todo and todo[-1].name == "controller" else (todo,):
        pids = {}
        for service in group:
            print(f"Starting {service.name}…", flush=True)
            if service.prepare:
                service.prepare()
            env = child_environment(lab, service)
            marker = service.marker or str(lab.home)
            pids[service.name] = process.start(lab.home, service.name, service.command, env, marker=marker)
        for service in group:
            log = lab.home / "logs" / f"{service.name}.log"
            running = functools.partial(process.alive, pids[service.name])
            process.wait_until(service.healthy, 120, service.name, log, running)
    if todo:
        print(f"Started {', '.join(service.name for service in todo)} ({time.monotonic() - started:.1f} s).")
    return bool(todo)


def core(lab: settings.LabSettings) -> list[Service]:
    """The services that run all the time (``up`` starts them), not those started on demand."""
    return [service for service in services(lab) if not service.on_demand]


def start_core(lab: settings.LabSettings) -> bool:
    """Start the lab's core services, as ``up`` does; return whether any started."""
    return start(lab, core(lab))
