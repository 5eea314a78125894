"""Run a pipeline on this machine with ``kfp.local``: the local-lab side of the play button.

Each task runs as a subprocess of this Python (``SubprocessRunner(use_venv=False)``). Its
``packages_to_install`` are the kit's own pins, so pip finds them satisfied and installs
nothing. Tasks inherit this process's environment: that is how the lab's credentials reach
them under the cluster secrets' names. When a task fails, the run stops with that task's own
error message instead of kfp's generic one.
"""

import contextlib
import io
import os
import re
import sys
from collections.abc import Callable

from jukebox import registry
from jukebox.data_server import serve_folder
from jukebox.paths import lab_home

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+(?:Error|Exception)): (.+)$")
_FAILED_TASK = re.compile(r"Inner task failed: '?([\w-]+)")


class PipelineFailed(RuntimeError):
    """A local pipeline run failed; ``step`` is the task, ``reason`` that task's own message."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"The pipeline failed at step {step}: {reason}")
        self.step, self.reason = step, reason


class _Tee(io.TextIOBase):
    """Write to the console and keep a copy, to find a failed task's message afterwards."""

    def __init__(self, console):
        self.console, self.copy = console, io.StringIO()

    def write(self, text: str) -> int:
        self.console.write(text)
        self.copy.write(text)
        return len(text)

    def flush(self) -> None:
        self.console.flush()


def local_environment() -> dict[str, str]:
    """Where a local run registers models when no lab registry is configured."""
    mlflow_home = lab_home() / "mlflow"
    mlflow_home.mkdir(parents=True, exist_ok=True)
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_home / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_LOCATION": str(mlflow_home / "artifacts"),
    }


def failure_reason(output: str) -> str:
    """The last error message a task printed (its exception), without the traceback."""
    reasons = [match.group(1) for line in output.splitlines() if (match := _ERROR_LINE.match(_ANSI.sub("", line)))]
    return reasons[-1] if reasons else "see the task's log above."


def run(pipeline_func: Callable, arguments: dict, data_files: dict[str, str] | None = None) -> None:
    """Run ``pipeline_func`` here; ``data_files`` maps URL parameters to files of 99-data_prep/."""
    from kfp import local

    from jukebox.lab.environment import running_lab_environment

    # Variables already set win; then the lab's, when it is up; else a registry file in the lab folder.
    defaults = running_lab_environment() or ({} if "MLFLOW_TRACKING_URI" in os.environ else local_environment())
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(lab_home() / "pipeline-root"))
    before = registry.model_versions()
    tee = _Tee(sys.stdout)
    raw_url = os.environ.get("JUKEBOX_RAW_URL")
    with contextlib.nullcontext(raw_url) if raw_url else serve_folder() as data_url:
        urls = {parameter: f"{data_url}/{file}" for parameter, file in (data_files or {}).items()}
        try:
            with contextlib.redirect_stdout(tee):
                pipeline_func(**{**arguments, **urls})
        except RuntimeError as error:
            failed = _FAILED_TASK.search(_ANSI.sub("", str(error)))
            raise PipelineFailed(
                failed.group(1) if failed else "unknown", failure_reason(tee.copy.getvalue())
            ) from None
    print(f"Pipeline succeeded; task outputs are under {lab_home() / 'pipeline-root'}.")
    for line in registry.describe_new_versions(before):
        print(line)
