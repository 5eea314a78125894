"""Run a pipeline on this machine with ``kfp.local``: the local-lab side of the play button.

Each task runs as a subprocess of this Python (``SubprocessRunner(use_venv=False)``) and inherits
this process's environment: that is how the lab's credentials reach it under the cluster secrets'
names. The compiled YAML has every step pip-install its pins first (a cluster pod needs them); here
they are this very environment's, so the run checks them once and starts each step without pip.
The console shows one line per step; the steps' full output goes to a log file (``verbose``
echoes it). When a task fails, the run stops with that task's own error message.
"""

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from jukebox import pins, registry
from jukebox.data_server import serve_folder
from jukebox.local_urls import local_arguments, steps_pointed_here
from jukebox.paths import lab_home
from jukebox.run_progress import StepProgress

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+(?:Error|Exception)): (.+)$")
_FAILED_TASK = re.compile(r"Inner task failed: '?([\w-]+)")
_FULL_LOG = re.compile(r"full log: (\S+\.log)")


def full_logs(output: str) -> list[Path]:
    """The full logs named in what local runs printed (their own lines, a CT run's log)."""
    return [Path(path) for path in _FULL_LOG.findall(output)]


class LocalRun(NamedTuple):
    """A finished local run: the pipeline's outputs (name → value) and its full log."""

    outputs: dict
    log_path: Path


class PipelineFailed(RuntimeError):
    """A local pipeline run failed; ``step`` is the task, ``reason`` that task's own message."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"The pipeline failed at step {step}: {reason}")
        self.step, self.reason = step, reason


KFP_EXECUTOR = "-m kfp.dsl.executor_main"  # kfp.local has put this Python before it already
LOCAL_EXECUTOR = "-m jukebox.local_step"


def local_step_command(command: list[str]) -> list[str]:
    """A compiled step's command as this machine runs it: without its pip prelude, through ``local_step``.

    ``sh -c "<pip install the pins> && \"$0\" \"$@\"" sh -ec <run the step> …`` becomes ``sh -ec <run
    the step> …``: the first three words only install packages and then run the rest. The step
    itself runs in this very Python, through ``jukebox.local_step`` (kfp's executor, less a plugin
    the cluster's images do not have). A command of another shape is unchanged.
    """
    if command[:2] == ["sh", "-c"] and "pip install" in command[2] and command[2].rstrip().endswith('"$0" "$@"'):
        command = command[3:]
    return [part.replace(KFP_EXECUTOR, LOCAL_EXECUTOR) for part in command]


@contextlib.contextmanager
def steps_run_here():
    """While a local run lasts, kfp.local starts each step as ``local_step_command`` says."""
    from kfp.local import subprocess_task_handler

    original = subprocess_task_handler.run_local_subprocess

    def run_step(full_command, env_vars=None):
        return original(local_step_command(full_command), env_vars)

    subprocess_task_handler.run_local_subprocess = run_step
    try:
        yield
    finally:
        subprocess_task_handler.run_local_subprocess = original


ENVIRONMENT_PLUGINS = "jukebox.local_run.environment"  # entry points: () -> variables, or None


def lab_environment() -> dict[str, str] | None:
    """The variables of a lab that is up here, from the entry points of ``ENVIRONMENT_PLUGINS``.

    The kit's ``pyproject.toml`` names the local lab's ``running_lab_environment`` there: a run
    started outside the lab's workbench (a terminal, a script) still finds the lab. Through an entry
    point, this module (below the lab) does not import the lab.
    """
    from importlib.metadata import entry_points

    for plugin in entry_points(group=ENVIRONMENT_PLUGINS):
        if found := plugin.load()():
            return found
    return None


def local_environment() -> dict[str, str]:
    """Where a local run registers models (and a CT run puts its model files) when no lab is configured."""
    mlflow_home = lab_home() / "mlflow"
    mlflow_home.mkdir(parents=True, exist_ok=True)
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_home / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_LOCATION": str(mlflow_home / "artifacts"),
        "JUKEBOX_MODEL_VOLUME": str(lab_home() / "model-volume"),  # stands in for the cluster's model PVC
    }


def failure_reason(output: str, default: str = "see the full log.") -> str:
    """The last error message a task printed (its exception), without the traceback; else ``default``."""
    reasons = [match.group(1) for line in output.splitlines() if (match := _ERROR_LINE.match(_ANSI.sub("", line)))]
    return reasons[-1] if reasons else default


def run(pipeline_func: Callable, arguments: dict, verbose: bool = False) -> LocalRun:
    """Run ``pipeline_func`` here; return its outputs and the path of its full log.

    The workshop's URLs among the parameters and the steps' defaults are pointed at this machine
    first (``local_urls``).

    Args:
        pipeline_func: the ``@dsl.pipeline`` function.
        arguments: its parameters (the pipeline's defaults fill the rest).
        verbose: echo the steps' full output to the console, not only to the log.
    """
    from kfp import local

    pins.check_environment()  # once per run, instead of a pip check in every step
    # Variables already set win; then the lab's, when it is up; else a registry file in the lab folder.
    defaults = lab_environment() or ({} if "MLFLOW_TRACKING_URI" in os.environ else local_environment())
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(lab_home() / "pipeline-root"))
    name = getattr(pipeline_func, "name", "pipeline")
    log_path = lab_home() / "logs" / "pipelines" / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log"
    progress = StepProgress(sys.stdout, log_path, verbose)
    progress.say(f"Running {name} on this machine (kfp.local); full log: {log_path}")
    started = time.monotonic()
    raw_url = os.environ.get("JUKEBOX_RAW_URL")
    try:
        with contextlib.nullcontext(raw_url) if raw_url else serve_folder() as data_url:
            git_url, user = os.environ.get("JUKEBOX_GIT_URL"), os.environ.get("username")
            model = os.environ.get("JUKEBOX_REGISTERED_MODEL")
            parameters = local_arguments(pipeline_func, arguments, data_url, git_url, user, model)
            with contextlib.redirect_stdout(progress), steps_run_here():
                with steps_pointed_here(pipeline_func, data_url, git_url, user):
                    task = pipeline_func(**parameters)
    except RuntimeError as error:
        failed = _FAILED_TASK.search(_ANSI.sub("", str(error)))
        progress.say(f"Failed after {time.monotonic() - started:.0f} s; full log: {log_path}")
        progress.close()
        step, reason = failed.group(1) if failed else "unknown", failure_reason(log_path.read_text())
        raise PipelineFailed(step, reason) from None
    finally:
        progress.close()
    outputs = dict(getattr(task, "outputs", None) or {})
    seconds = time.monotonic() - started
    print(f"Pipeline succeeded in {seconds:.0f} s; task outputs are under {lab_home() / 'pipeline-root'}.")
    if outputs:
        print("Outputs: " + ", ".join(f"{key} = {value}" for key, value in outputs.items()))
    if line := registry.registered_model_line(parameters, outputs):
        print(line)
    return LocalRun(outputs, log_path)
