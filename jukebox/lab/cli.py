"""``python -m jukebox.lab``: bring the local lab up and down, and look inside it.

up [--port NAME=N]… [--user NAME]…   start what is not running (a second `up` starts nothing)
jupyter [--root DIR]                 the workbench: JupyterLab with Elyra, on the kit's folder
feast-ui                             the Feast UI: every participant's feature store project
serve [--user NAME]                  chapter 7's serving: model server, transformer, Jukebox page
down                                 stop what the lab started
status                               each service: port, health, state folder
env [--user NAME]                    shell exports: the cluster secrets' names, the lab's URLs
reset [--yes]                        wipe the lab's state (after confirmation)
runs [list | log RUN [--full] | wait COMMIT | start NAME | cancel [--user U]]  CT and scheduled runs
schedules [list | create NAME --script PATH --every 1d [--param K=V]… | delete NAME]

Installed packages add commands of their own through the entry-point group ``jukebox.lab.commands``
(``COMMAND_PLUGINS``): the kit's course adds ``progress`` and ``checkpoint`` that way, so the lab
needs to know nothing of the course.
"""

import argparse
import functools
import importlib.metadata
import json
import shlex
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from jukebox import local_run
from jukebox.lab import (
    environment,
    feast_database,
    process,
    runs,
    schedules,
    services,
    serving,
    settings,
    workbench,
)

COMMAND_PLUGINS = "jukebox.lab.commands"  # entry points: functions that add subcommands to ``parser()``


class LabError(Exception):
    """A problem the user can fix; printed as one sentence, exit status 1."""


def lab_settings() -> settings.LabSettings:
    lab = settings.load()
    if lab is None:
        raise LabError("The lab has never been started here: run `python -m jukebox.lab up` first.")
    return lab


def _start(lab: settings.LabSettings, wanted: list[services.Service]) -> bool:
    """Start those of ``wanted`` that are not running (the controller last); return whether any started."""
    started = time.monotonic()
    todo = []
    for service in wanted:
        if process.running_pid(lab.home, service.name):
            print(f"{service.name} is already running on {service.url}")
            continue
        for port_name in service.port_names:
            port = lab.ports[port_name]
            if not process.port_is_free(port):
                raise LabError(
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
            env = services.child_environment(lab, service)
            marker = service.marker or str(lab.home)
            pids[service.name] = process.start(lab.home, service.name, service.command, env, marker=marker)
        for service in group:
            log = lab.home / "logs" / f"{service.name}.log"
            running = functools.partial(process.alive, pids[service.name])
            process.wait_until(service.healthy, 120, service.name, log, running)
    if todo:
        print(f"Started {', '.join(service.name for service in todo)} ({time.monotonic() - started:.1f} s).")
    return bool(todo)


def _core(lab: settings.LabSettings) -> list[services.Service]:
    return [service for service in services.services(lab) if not service.on_demand]


def start_core(lab: settings.LabSettings) -> bool:
    """Start the lab's services that run all the time (not the on-demand ones), as ``up`` does."""
    return _start(lab, _core(lab))


def up(options) -> None:
    try:
        lab = settings.create_or_update(settings.parse_port_overrides(options.port), options.user)
    except ValueError as error:
        raise LabError(str(error)) from None
    if start_core(lab):
        print("The lab is up.")
    else:
        print("The lab was already up: nothing started.")
    if options.user:  # a controller that was already running learns of new participants
        _post(f"{lab.git_url}/api/participants", {})
    if not options.no_status:
        status(options)


def jupyter(options) -> None:
    """Start the workbench (and the lab first, when it is down); print where to open it."""
    lab = settings.create_or_update({}, None)
    running = process.running_pid(lab.home, "jupyter")
    if options.root:
        folder = Path(options.root).resolve()
        if not folder.is_dir():
            raise LabError(f"--root {options.root}: no such folder.")
        if running and folder != workbench.root(lab):
            raise LabError(f"JupyterLab already runs on {workbench.root(lab)}: `down` first to open another folder.")
        workbench.set_root(lab, folder)
    start_core(lab)
    (service,) = [service for service in services.services(lab) if service.name == "jupyter"]
    if not _start(lab, [service]):
        print(f"JupyterLab was already running on {workbench.root(lab)}.")
    print(f"Open JupyterLab: {workbench.url(lab, with_token=True)}")
    print("Its kernels have the lab's variables (S3, git, MLflow); `down` stops it with the lab.")


def feast_ui_command(options) -> None:
    """Start the Feast UI (and the lab first, when it is down); print where to open it."""
    lab = settings.create_or_update({}, None)
    start_core(lab)
    (service,) = [service for service in services.services(lab) if service.name == "feast-ui"]
    if not _start(lab, [service]):
        print("The Feast UI was already running.")
    print(f"Open the Feast UI: {service.url} (project {lab.default_user}_music; `down` stops it with the lab).")


def serve(options) -> None:
    """Start a participant's model server, transformer and Jukebox page (and the lab first); print the page's URL."""
    lab = settings.create_or_update({}, None)  # gives participants added before this version their ports
    user = participant_name(lab, options.user)
    if not feast_database.declared(lab, user):
        raise LabError(feast_database.NOT_DECLARED)  # the transformer reads the outer loop's Feast
    start_core(lab)
    _start(lab, services.serving_services(lab, user))
    model = lab.model_name(user)
    version = serving.served_version(lab, user)
    if version:
        print(f"The model server serves {model} version {version} (alias test); it follows the alias.")
    else:
        print(f"No {model} has the alias test yet: the servers wait for CT to deploy one (push to your jukebox repo).")
    print(f"Open the Jukebox page: {serving.url(lab, 'jukebox-ui', user)} and search a song, e.g. Live Forever.")


def down(options) -> None:
    lab = lab_settings()
    names = [service.name for service in reversed(services.services(lab))]
    for name in process.stop_all(lab.home, names):
        print(f"Stopped {name}.")
    print("The lab is down; its state stays in", lab.home)


def status(options) -> None:
    lab = lab_settings()
    print(f"{'service':<11} {'url':<27} {'state':<10} {'health':<8} folder")
    for service in services.services(lab):
        pid = process.running_pid(lab.home, service.name)
        if service.user not in (None, lab.default_user) and not pid:
            continue  # another participant's serving: listed while it runs
        health = ("healthy" if service.healthy() else "starting") if pid else "-"
        state = f"pid {pid}" if pid else "stopped"
        print(f"{service.name:<11} {service.url:<27} {state:<10} {health:<8} {_what(lab, service, pid)}")
    print(f"raw data    {lab.raw_url}/<file>")
    print(f"git repos   {lab.git_url}/<user>/jukebox.git, …/mlops-gitops.git (users: {', '.join(lab.users)})")
    print("workbench   `python -m jukebox.lab jupyter` starts JupyterLab and prints its URL with the token")
    print("feast-ui    `python -m jukebox.lab feast-ui` starts the Feast UI (the lab's feature store, every project)")


def _what(lab: settings.LabSettings, service: services.Service, pid: int | None) -> str:
    """The last column of `status`: a service's folder, or what a participant's serving process serves."""
    if service.user is None:
        return str(lab.home / service.state.split(",")[0])
    if service.name.startswith("model-server") and pid:
        version = serving.served_version(lab, service.user)
        model = lab.model_name(service.user)
        return f"serves {model} version {version}" if version else f"waiting: no {model} with alias test yet"
    return service.state


def env(options) -> None:
    lab = lab_settings()
    for name, value in environment.lab_environment(lab, participant_name(lab, options.user)).items():
        print(f"export {name}={shlex.quote(value)}")


def reset(options) -> None:
    lab = lab_settings()
    if any(process.running_pid(lab.home, service.name) for service in services.services(lab)):
        raise LabError("The lab is running: run `down` before `reset`.")
    if not options.yes:
        if not sys.stdin.isatty():
            raise LabError("reset wipes the lab's state: confirm with --yes when not at a terminal.")
        answer = input(f"Wipe everything in {lab.home} (repos, buckets, registry, runs)? Type 'reset': ")
        if answer.strip() != "reset":
            print("Nothing wiped.")
            return
    shutil.rmtree(lab.home)
    print(f"Wiped {lab.home}.")


def _when(moment: float | None) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _parameters(items: list[str]) -> dict:
    parameters = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator:
            raise LabError(f"--param {item}: write it as NAME=VALUE.")
        parameters[key] = value
    return parameters


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def runs_command(options) -> None:
    lab = lab_settings()
    if options.action == "log":
        path = runs.log_path(lab.home, runs.find(lab.home, options.target).id)
        text = path.read_text() if path.exists() else "(no output yet)"
        print(text)
        for pipeline_log in local_run.full_logs(text) if options.full else []:
            print(f"\n── {pipeline_log} ──\n{pipeline_log.read_text(errors='replace')}")
        return
    if options.action == "start":
        parameters = _parameters(options.param)
        request = {"name": options.target, "script": str(Path(options.script).resolve()), "parameters": parameters}
        request["user"] = participant_name(lab, options.user)
        try:
            answer = _post(f"{lab.git_url}/api/runs", request)
        except urllib.error.HTTPError as error:
            raise LabError(error.read().decode().strip()) from None
        except urllib.error.URLError:
            raise LabError("The lab is not running: start it with `up`.") from None
        print(f"Started run {answer['run']} ({options.target}).")
        if options.wait:
            run = runs.wait_for(lab.home, answer["run"], options.timeout)
            print(f"Run {run.id} {run.status}. {run.message}".strip())
            if run.status != "succeeded":
                raise SystemExit(1)
        return
    if options.action == "cancel":
        try:
            user = participant_name(lab, options.user) if options.user else None
            answer = _post(f"{lab.git_url}/api/runs/cancel", {"user": user})
        except urllib.error.URLError:
            raise LabError("The lab is not running: start it with `up`.") from None
        whose = f"{options.user}'s" if options.user else "every participant's"
        cancelled = answer["cancelled"]
        print(f"Cancelled {len(cancelled)} of {whose} queued or running runs: {' '.join(cancelled)}".strip())
        return
    if options.action == "wait":
        try:
            run = runs.wait_for_commit(lab.home, options.target, options.timeout)
        except TimeoutError as error:
            raise LabError(str(error)) from None
        print(json.dumps(asdict(run), indent=2))
        if run.status != "succeeded":
            raise SystemExit(1)
        return
    print(f"{'run':<15} {'user':<8} {'what':<34} {'status':<10} {'started':<20} {'seconds':>7}  message")
    for run in runs.load_all(lab.home):
        seconds = f"{run.duration:.0f}" if run.duration is not None else "-"
        print(
            f"{run.id:<15} {run.user:<8} {run.title[:34]:<34} {run.status:<10} {_when(run.started):<20} "
            f"{seconds:>7}  {run.message}"
        )


def schedules_command(options) -> None:
    lab = lab_settings()
    try:
        if options.action == "create":
            parameters = _parameters(options.param)
            user = participant_name(lab, options.user)
            schedule = schedules.create(lab.home, options.name, Path(options.script), options.every, parameters, user)
            print(
                f"Created schedule {options.name}: {schedule['script']} every {options.every}, "
                f"first run at {_when(schedule['next_run'])}."
            )
        elif options.action == "delete":
            schedules.delete(lab.home, options.name)
            print(f"Deleted schedule {options.name}.")
        else:
            print(f"{'schedule':<32} {'every':<6} {'next run':<20} script and parameters")
            for name, schedule in schedules.load(lab.home).items():
                print(
                    f"{name:<32} {schedule['every']:<6} {_when(schedule['next_run']):<20} "
                    f"{schedule['script']} {json.dumps(schedule['parameters'])}"
                )
    except ValueError as error:
        raise LabError(str(error)) from None


def participant_name(lab: settings.LabSettings, user: str | None) -> str:
    """``user`` (by default the first participant) if they are one of the lab's; else one sentence on what to do."""
    user = user or lab.default_user
    if user not in lab.users:
        raise LabError(
            f"No participant {user} in this lab: add them with `up --user {user}` "
            f"(the participants are {', '.join(lab.users)})."
        )
    return user


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m jukebox.lab", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the lab's services (idempotent)")
    up_parser.add_argument("--port", action="append", default=[], metavar="NAME=N", help="e.g. git=3000")
    up_parser.add_argument("--user", action="append", default=[], help="add a participant (default: user1)")
    up_parser.add_argument("--no-status", action="store_true", help="skip the table of services at the end")
    up_parser.set_defaults(run=up)
    jupyter_parser = commands.add_parser("jupyter", help="start the workbench (JupyterLab with Elyra)")
    jupyter_parser.add_argument("--root", help="the folder it opens on (default: the kit's folder)")
    jupyter_parser.set_defaults(run=jupyter)
    commands.add_parser("feast-ui", help="start the Feast UI").set_defaults(run=feast_ui_command)
    serve_parser = commands.add_parser("serve", help="start a participant's model server and Jukebox page")
    serve_parser.add_argument("--user", help="the participant (default: user1)")
    serve_parser.set_defaults(run=serve)
    commands.add_parser("down", help="stop the lab's services").set_defaults(run=down)
    commands.add_parser("status", help="show each service").set_defaults(run=status)
    env_parser = commands.add_parser("env", help="print shell exports")
    env_parser.add_argument("--user")
    env_parser.set_defaults(run=env)
    reset_parser = commands.add_parser("reset", help="wipe the lab's state")
    reset_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset_parser.set_defaults(run=reset)
    runs_parser = commands.add_parser("runs", help="CT and scheduled runs")
    runs_parser.add_argument("action", nargs="?", choices=["list", "log", "wait", "start", "cancel"], default="list")
    runs_parser.add_argument("target", nargs="?", help="a run id (log), a commit SHA (wait) or a run name (start)")
    runs_parser.add_argument("--timeout", type=float, default=900.0)
    runs_parser.add_argument("--script", help="start: the pipeline script to run")
    runs_parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    runs_parser.add_argument("--user")
    runs_parser.add_argument("--wait", action="store_true", help="start: wait until the run has finished")
    runs_parser.add_argument("--full", action="store_true", help="log: also print the pipelines' full logs")
    runs_parser.set_defaults(run=runs_command)
    schedules_parser = commands.add_parser("schedules", help="periodic pipeline runs")
    schedules_parser.add_argument("action", nargs="?", choices=["list", "create", "delete"], default="list")
    schedules_parser.add_argument("name", nargs="?")
    schedules_parser.add_argument("--script", help="the pipeline script to run")
    schedules_parser.add_argument("--every", default="1d", help="interval: 1d, 12h, 30m, 45s")
    schedules_parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    schedules_parser.add_argument("--user")
    schedules_parser.set_defaults(run=schedules_command)
    for plugin in importlib.metadata.entry_points(group=COMMAND_PLUGINS):
        plugin.load()(commands)
    return main


def main(argv: list[str] | None = None) -> None:
    options = parser().parse_args(argv)
    if options.command == "runs" and options.action in ("log", "wait", "start") and not options.target:
        needed = {"log": "a run id", "wait": "a commit SHA", "start": "a run name"}[options.action]
        parser().error(f"runs {options.action} needs {needed}.")
    if options.command == "runs" and options.action == "start" and not options.script:
        parser().error("runs start needs --script PATH.")
    if options.command == "schedules" and options.action in ("create", "delete") and not options.name:
        parser().error(f"schedules {options.action} needs a schedule name.")
    if options.command == "schedules" and options.action == "create" and not options.script:
        parser().error("schedules create needs --script PATH.")
    try:
        options.run(options)
    except (LabError, LookupError, RuntimeError, TimeoutError) as error:
        print(f"Error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
