"""The CT runner: the lab's stand-in for the Tekton ``ct-pipeline``.

For each push to a user's jukebox repo, one run, in push order:
clone at the pushed commit → ``feast apply`` (if the GitOps config asks for it) → run the
chapter 3 training pipeline (``version`` = short SHA) → mark the version it registered (the
pipeline's output ``registered_version``) as deployed to "test". Scheduled and ad-hoc runs run a
pipeline script (``pipeline_run``); the Job ``initialize-feast-database`` fills a participant's
outer-loop feature store once they declare it (``feast_database_run``). All of them use the
outer loop's Feast (``environment.outer_loop_environment``). Every step's output goes to the run's log with the lab's
secrets masked; a failed step fails the run with that step's own message.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jukebox.lab import environment, feast_database, gitops, runs, settings
from jukebox.local_run import failure_reason
from jukebox.mlflow_plugins import leave_out_feasts_mlflow_plugin

TRAINING_SCRIPT = Path("3-prod_datascience") / "prod_train_save_pipeline.py"
FEATURE_REPO = Path("7-feature_store") / "feature_repo"
DEPLOYED_ALIAS = "test"
FIRST_MATERIALIZATION = "2023-01-01T00:00:00"  # as the workshop's Job: all of the songs' history


class StepFailed(RuntimeError):
    pass


class Cancellation:
    """The runs `runs cancel` asked to stop, and the command the running run waits on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.run_ids: set[str] = set()
        self.running: str | None = None
        self.process: subprocess.Popen | None = None

    def cancel(self, home: Path, user: str | None) -> list[str]:
        """Cancel ``user``'s queued and running runs (everyone's with ``None``); return their ids."""
        with self.lock:
            pending = [
                run
                for run in runs.load_all(home)
                if run.status not in runs.FINISHED and user in (None, run.user) and run.id not in self.run_ids
            ]
            self.run_ids |= {run.id for run in pending}
            for run in pending:
                if run.id != self.running:
                    run.status, run.finished = "cancelled", time.time()
                    run.message = "Cancelled by `runs cancel` before it started."
                    runs.save(home, run)
            if self.running in self.run_ids and self.process and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)  # the command and its children (the steps)
        return [run.id for run in pending]

    def wanted(self, run_id: str) -> bool:
        with self.lock:
            return run_id in self.run_ids


cancellation = Cancellation()


class RunLog:
    """Appends a run's output to its log file, with every lab secret replaced by ***."""

    def __init__(self, path: Path, secrets: list[str]):
        self.path, self.secrets = path, [secret for secret in secrets if secret]

    def write(self, text: str) -> None:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        with open(self.path, "a") as log:
            log.write(text)


def git_auth_env(user: str, password: str) -> dict[str, str]:
    """Git credentials as an HTTP header in git's environment: not in URLs, argv, or output."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def run_command(command: list[str], log: RunLog, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run ``command``, streaming its output to the log; return the last line it printed."""
    log.write(f"$ {' '.join(command)}\n")
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group, so that `runs cancel` stops its children too
    )
    with cancellation.lock:
        cancellation.process = process
    last = ""
    for line in process.stdout:
        log.write(line)
        if line.strip():
            last = line.strip()
    if process.wait() != 0:
        raise StepFailed(last or f"{command[0]} exited with status {process.returncode}.")
    return last


def pipeline_command(script: Path, parameters: dict, outputs: Path | None = None) -> list[str]:
    command = [sys.executable, script.name, "--local", *(["--outputs", str(outputs)] if outputs else [])]
    for key, value in parameters.items():
        command += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return command


def execute(lab: settings.LabSettings, run: runs.Run, steps: list[tuple[str, Callable[[RunLog], str]]]) -> None:
    """Run ``steps`` in order, recording each step's outcome; stop at the first failure."""
    log = RunLog(runs.log_path(lab.home, run.id), settings.secret_values(lab))
    with cancellation.lock:
        if run.id in cancellation.run_ids:
            return  # cancelled while queued: its record already says so
        cancellation.running = run.id
    run.status, run.started = "running", time.time()
    runs.save(lab.home, run)
    for name, step in steps:
        if cancellation.wanted(run.id):
            run.status, run.message = "cancelled", f"Cancelled by `runs cancel` before step {name}."
            break
        started = time.time()
        log.write(f"\n=== {name} ===\n")
        try:
            note = step(log) or ""
            outcome = "skipped" if note.startswith("skipped") else "succeeded"
        except StepFailed as failure:
            note, outcome = str(failure), "failed"
            if cancellation.wanted(run.id):
                note, outcome = "cancelled by `runs cancel`", "cancelled"
        except Exception as error:  # a bug in the lab itself: still record it, in one line
            note, outcome = f"{type(error).__name__}: {error}", "failed"
        for secret in log.secrets:
            note = note.replace(secret, "***")
        run.steps.append({"name": name, "status": outcome, "message": note, "seconds": round(time.time() - started, 1)})
        if outcome in ("failed", "cancelled"):
            run.status, run.message = outcome, f"Step {name} {outcome}: {note}"
            break
        runs.save(lab.home, run)
    else:
        run.status, run.message = "succeeded", ""
    run.finished = time.time()
    runs.save(lab.home, run)
    log.write(f"\n=== run {run.status} in {run.duration:.0f} s {run.message} ===\n")


def feast_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("feast")), *args]


def clone_step(run: runs.Run, clone_url: str, workdir: Path, env: dict[str, str]) -> Callable[[RunLog], str]:
    """The step that clones ``run.user``'s repo into ``workdir`` at ``run.commit``."""

    def clone(log: RunLog) -> str:
        git_env = {**env, **git_auth_env(run.user, env["password"])}
        run_command(["git", "clone", "--quiet", "--no-checkout", clone_url, str(workdir)], log, git_env)
        run_command(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", run.commit], log, env, workdir)
        return f"cloned {clone_url} at {run.commit[:7]}"

    return clone


def run_feast(log: RunLog, env: dict[str, str], feature_repo: Path, *args: str, failed: str) -> str:
    """``feast args`` in ``feature_repo``; a failure fails the step with ``failed: <Feast's own reason>``."""
    try:
        return run_command(feast_command(*args), log, env, feature_repo)
    except StepFailed as failure:  # Feast's own reason, without the exception's class name
        reason = failure_reason(str(failure), default=str(failure))
        raise StepFailed(f"{failed}: {reason}") from None


def feast_apply_command(log: RunLog, env: dict[str, str], feature_repo: Path) -> str:
    """``feast apply`` in ``feature_repo``; a refusal fails the step with Feast's own reason."""
    return run_feast(log, env, feature_repo, "apply", failed=f"feast apply refused {FEATURE_REPO}")


def ct_run(lab: settings.LabSettings, run: runs.Run, clone_url: str) -> None:
    """The CT pipeline for one pushed commit of ``run.user``'s jukebox repo."""
    env = {**os.environ, **environment.outer_loop_environment(lab, run.user)}
    workdir = Path(tempfile.mkdtemp(prefix=f"{run.id}-", dir=lab.home / "runs"))
    version = run.commit[:7]
    model_name = lab.model_name(run.user)
    outputs = workdir / "pipeline-outputs.json"  # written by the training run, after the clone

    def feast_apply(log: RunLog) -> str:
        if not gitops.ct_options(lab, run.user).get("apply_feature_changes"):
            return "skipped: apply_feature_changes is false in mlops-gitops"
        if not (workdir / FEATURE_REPO).is_dir():
            return f"skipped: the repo has no {FEATURE_REPO} yet"
        if not feast_database.declared(lab, run.user):
            raise StepFailed(feast_database.NOT_DECLARED)
        return feast_apply_command(log, env, workdir / FEATURE_REPO)

    def train(log: RunLog) -> str:
        script = workdir / TRAINING_SCRIPT
        if not script.exists():
            raise StepFailed(f"The repo has no {TRAINING_SCRIPT} at {version}.")
        parameters = {"version": version, "model_name": model_name, "prod_flag": True}  # as the cluster's CT
        run_command(pipeline_command(script, parameters, outputs), log, env, script.parent)
        return f"trained and registered {model_name} {version}"

    def deploy(log: RunLog) -> str:
        registered = json.loads(outputs.read_text()).get("registered_version") if outputs.exists() else None
        if not registered:
            raise StepFailed(f"The training pipeline at {version} gave no registered_version to deploy.")
        deploy_version(env["MLFLOW_TRACKING_URI"], model_name, registered)
        return f"{model_name} version {registered} deployed to {DEPLOYED_ALIAS}"

    clone = clone_step(run, clone_url, workdir, env)
    execute(lab, run, [("clone", clone), ("feast-apply", feast_apply), ("train", train), ("deploy", deploy)])


def deploy_version(tracking_uri: str, model_name: str, version: str) -> None:
    """The CT's deploy step: the registry's alias ``test`` on ``version`` of ``model_name``, and its tag.

    The cluster's deploy task has no Feast: in the lab's controller, neither does MLflow load
    Feast's plugin at the first request (``jukebox.mlflow_plugins``); ``feast apply`` runs apart.
    """
    from mlflow import MlflowClient

    leave_out_feasts_mlflow_plugin()
    client = MlflowClient(tracking_uri)
    client.set_registered_model_alias(model_name, DEPLOYED_ALIAS, version)
    client.set_model_version_tag(model_name, version, "deployed", DEPLOYED_ALIAS)


def pipeline_run(lab: settings.LabSettings, run: runs.Run, script: Path) -> None:
    """A scheduled or ad-hoc run: the pipeline script with the run's parameters."""
    env = {**os.environ, **environment.outer_loop_environment(lab, run.user)}

    def pipeline(log: RunLog) -> str:
        if not script.exists():
            raise StepFailed(f"The pipeline script {script} no longer exists.")
        return run_command(pipeline_command(script, run.parameters), log, env, script.parent)

    execute(lab, run, [("run-pipeline", pipeline)])


def feast_database_run(lab: settings.LabSettings, run: runs.Run, clone_url: str) -> None:
    """The Job ``initialize-feast-database``: main's feature repo applied, then all history materialized."""
    env = {**os.environ, **environment.outer_loop_environment(lab, run.user)}
    workdir = Path(tempfile.mkdtemp(prefix=f"{run.id}-", dir=lab.home / "runs"))

    def feast_apply(log: RunLog) -> str:
        if not (workdir / FEATURE_REPO).is_dir():
            raise StepFailed(f"The repo has no {FEATURE_REPO} at {run.commit[:7]}.")
        return feast_apply_command(log, env, workdir / FEATURE_REPO)

    def materialize(log: RunLog) -> str:
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        window = ("materialize", FIRST_MATERIALIZATION, now)
        run_feast(log, env, workdir / FEATURE_REPO, *window, failed="feast materialize failed")
        feast_database.mark_initialized(lab, run.user, run.commit)
        return f"materialized {FIRST_MATERIALIZATION[:10]} to {now} into project {feast_database.PROJECT}"

    clone = clone_step(run, clone_url, workdir, env)
    execute(lab, run, [("clone", clone), ("feast-apply", feast_apply), ("feast-materialize", materialize)])
