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
import importlib.metadata
import json
import shlex
import shutil
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from jukebox import local_run
from jukebox.lab import (
    controller_client,
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


def up(options) -> None:
    try:
        lab = settings.create_or_update(settings.parse_port_overrides(options.port), options.user)
    except ValueError as error:
        raise LabError(str(error)) from None
    if services.start_core(lab):
        print("The lab is up.")
    else:
        print("The lab was already up: nothing started.")
    if options.user:  # a controller that was already running learns of new participants
        controller_client.reread_participants(lab)
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
    services.start_core(lab)
    (service,) = [service for service in services.services(lab) if service.name == "jupyter"]
    if not services.start(lab, [service]):
        print(f"JupyterLab was already running on {workbench.root(lab)}.")
    print(f"Open JupyterLab: {workbench.url(lab, with_token=True)}")
    print("Its kernels have the lab's variables (S3, git, MLflow); `down` stops it with the lab.")


def feast_ui_command(options) -> None:
    """Start the Feast UI (and the lab first, when it is down); print where to open it."""
    lab = settings.create_or_update({}, None)
    services.start_core(lab)
    (service,) = [service for service in services.services(lab) if service.name == "feast-ui"]
    if not services.start(lab, [service]):
        print("The Feast UI was already running.")
    print(f"Open the Feast UI: {service.url} (project {lab.default_user}_music; `down` stops it with the lab).")


def serve(options) -> None:
    """Start a participant's model server, transformer and Jukebox page (and the lab first); print the page's URL."""
    lab = settings.create_or_update({}, None)  # gives participants added before this version their ports
    user = participant_name(lab, options.user)
    if not feast_database.declared(lab, user):
        raise LabError(feast_database.NOT_DECLARED)  # the transformer reads the outer loop's Feast
    services.start_core(lab)
    services.start(lab, services.serving_services(lab, user))
    model = lab.model_name(user)
    version = serving.served_version(lab, user)
    if version:
        print(f"The model server serves {model} version {version} (alias test); it follows the alias.")
    else:
        print(f"No {model} has the alias test yet: the servers wait for CT to deploy one (push to your jukebox repo).")
    print(f"Open the Jukebox page: {serving.url(lab, 'jukebox-ui', user)} and search a song, e.g. Live Forever.")


def down(options) -> None:
    lab = lab_settings()
    graces = {service.name: service.stop_grace for service in reversed(services.services(lab))}
    for name in process.stop_all(lab.home, graces):
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


def runs_list(options) -> None:
    lab = lab_settings()
    print(f"{'run':<15} {'user':<8} {'what':<34} {'status':<10} {'started':<20} {'seconds':>7}  message")
    for run in runs.load_all(lab.home):
        seconds = f"{run.duration:.0f}" if run.duration is not None else "-"
        print(
            f"{run.id:<15} {run.user:<8} {run.title[:34]:<34} {run.status:<10} {_when(run.started):<20} "
            f"{seconds:>7}  {run.message}"
        )


def runs_log(options) -> None:
    lab = lab_settings()
    path = runs.log_path(lab.home, runs.find(lab.home, options.target).id)
    text = path.read_text() if path.exists() else "(no output yet)"
    print(text)
    for pipeline_log in local_run.full_logs(text) if options.full else []:
        print(f"\n── {pipeline_log} ──\n{pipeline_log.read_text(errors='replace')}")


def runs_wait(options) -> None:
    lab = lab_settings()
    try:
        run = runs.wait_for_commit(lab.home, options.target, options.timeout)
    except TimeoutError as error:
        raise LabError(str(error)) from None
    print(json.dumps(asdict(run), indent=2))
    if run.status != "succeeded":
        raise SystemExit(1)


def runs_start(options) -> None:
    lab = lab_settings()
    user = participant_name(lab, options.user)
    script = str(Path(options.script).resolve())
    run_id = controller_client.start_run(lab, options.target, script, _parameters(options.param), user)
    print(f"Started run {run_id} ({options.target}).")
    if options.wait:
        run = runs.wait_for(lab.home, run_id, options.timeout)
        print(f"Run {run.id} {run.status}. {run.message}".strip())
        if run.status != "succeeded":
            raise SystemExit(1)


def runs_cancel(options) -> None:
    lab = lab_settings()
    user = participant_name(lab, options.user) if options.user else None
    cancelled = controller_client.cancel_runs(lab, user)
    whose = f"{user}'s" if user else "every participant's"
    print(f"Cancelled {len(cancelled)} of {whose} queued or running runs: {' '.join(cancelled)}".strip())


def schedules_list(options) -> None:
    lab = lab_settings()
    print(f"{'schedule':<32} {'every':<6} {'next run':<20} script and parameters")
    for name, schedule in schedules.load(lab.home).items():
        print(
            f"{name:<32} {schedule['every']:<6} {_when(schedule['next_run']):<20} "
            f"{schedule['script']} {json.dumps(schedule['parameters'])}"
        )


def schedules_create(options) -> None:
    lab = lab_settings()
    user = participant_name(lab, options.user)
    try:
        schedule = schedules.create(
            lab.home, options.name, Path(options.script), options.every, _parameters(options.param), user
        )
    except ValueError as error:
        raise LabError(str(error)) from None
    print(
        f"Created schedule {options.name}: {schedule['script']} every {options.every}, "
        f"first run at {_when(schedule['next_run'])}."
    )


def schedules_delete(options) -> None:
    lab = lab_settings()
    try:
        schedules.delete(lab.home, options.name)
    except ValueError as error:
        raise LabError(str(error)) from None
    print(f"Deleted schedule {options.name}.")


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
    runs_parser.set_defaults(run=runs_list)  # `runs` alone lists them
    actions = runs_parser.add_subparsers(dest="action", metavar="{list,log,wait,start,cancel}")
    actions.add_parser("list", help="every run: who, what, status, time").set_defaults(run=runs_list)
    log_parser = actions.add_parser("log", help="a run's log")
    log_parser.add_argument("target", metavar="RUN", help="a run id, e.g. ct-0001")
    log_parser.add_argument("--full", action="store_true", help="also print the pipelines' full logs")
    log_parser.set_defaults(run=runs_log)
    wait_parser = actions.add_parser("wait", help="wait for the CT run of a commit")
    wait_parser.add_argument("target", metavar="COMMIT", help="the commit's SHA (7 characters are enough)")
    wait_parser.add_argument("--timeout", type=float, default=900.0)
    wait_parser.set_defaults(run=runs_wait)
    start_parser = actions.add_parser("start", help="an ad-hoc run of a pipeline script")
    start_parser.add_argument("target", metavar="NAME", help="the run's name, as the workshop names it")
    start_parser.add_argument("--script", required=True, help="the pipeline script to run")
    start_parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    start_parser.add_argument("--user", help="the participant (default: user1)")
    start_parser.add_argument("--wait", action="store_true", help="wait until the run has finished")
    start_parser.add_argument("--timeout", type=float, default=900.0)
    start_parser.set_defaults(run=runs_start)
    cancel_parser = actions.add_parser("cancel", help="cancel queued and running runs")
    cancel_parser.add_argument("--user", help="only this participant's (default: everyone's)")
    cancel_parser.set_defaults(run=runs_cancel)
    schedules_parser = commands.add_parser("schedules", help="periodic pipeline runs")
    schedules_parser.set_defaults(run=schedules_list)  # `schedules` alone lists them
    actions = schedules_parser.add_subparsers(dest="action", metavar="{list,create,delete}")
    actions.add_parser("list", help="every schedule and its next run").set_defaults(run=schedules_list)
    create_parser = actions.add_parser("create", help="run a pipeline script periodically")
    create_parser.add_argument("name", help="the schedule's name, as the workshop names it")
    create_parser.add_argument("--script", required=True, help="the pipeline script to run")
    create_parser.add_argument("--every", default="1d", help="interval: 1d, 12h, 30m, 45s")
    create_parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    create_parser.add_argument("--user", help="the participant (default: user1)")
    create_parser.set_defaults(run=schedules_create)
    delete_parser = actions.add_parser("delete", help="stop a schedule")
    delete_parser.add_argument("name", help="the schedule's name")
    delete_parser.set_defaults(run=schedules_delete)
    for plugin in importlib.metadata.entry_points(group=COMMAND_PLUGINS):
        plugin.load()(commands)
    return main


def main(argv: list[str] | None = None) -> None:
    options = parser().parse_args(argv)
    try:
        options.run(options)
    except (LabError, LookupError, RuntimeError, TimeoutError) as error:
        print(f"Error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
