"""How a local run starts its steps and reports them, without running a whole pipeline."""

import io
import subprocess
import sys
import time

import pytest
import yaml

from jukebox import local_run, pins
from jukebox.local_urls import local_arguments, steps_pointed_here
from jukebox.run_progress import StepProgress


def compiled_command(tmp_path) -> list[str]:
    """The command of a step in a compiled pipeline: pip-install the pins, then run the step."""
    from kfp import compiler

    from jukebox.components.validation import validate_data

    compiler.Compiler().compile(validate_data, str(tmp_path / "step.yaml"))
    spec = yaml.safe_load((tmp_path / "step.yaml").read_text())
    container = spec["deploymentSpec"]["executors"]["exec-validate-data"]["container"]
    return container["command"] + container["args"]


def test_a_local_step_starts_without_its_pip_prelude_and_the_yaml_keeps_it(tmp_path):
    command = compiled_command(tmp_path)
    assert command[:2] == ["sh", "-c"] and "pip install --quiet --no-warn-script-location 'pandas==" in command[2]
    assert "python3 -m kfp.dsl.executor_main" in " ".join(command) and "local_step" not in " ".join(command)
    local = local_run.local_step_command(command)
    assert local[:2] == ["sh", "-ec"] and len(local) == len(command) - 3
    assert "python3 -m jukebox.local_step" in local[2] and "kfp.dsl.executor_main" not in local[2]
    assert not any("pip install" in part for part in local)
    other = ["sh", "-ec", "echo hello"]
    assert local_run.local_step_command(other) == other


def test_a_local_step_leaves_out_only_feasts_mlflow_plugin_and_runs_kfps_executor():
    from importlib.metadata import entry_points

    from jukebox import mlflow_plugins

    everyone = entry_points(group=mlflow_plugins.MLFLOW_HEADER_PLUGINS)
    assert any(point.value.startswith("feast.") for point in everyone), "Feast registers an MLflow plugin"
    kept = mlflow_plugins.entry_points_without_feasts_mlflow_plugin(group=mlflow_plugins.MLFLOW_HEADER_PLUGINS)
    assert [point for point in everyone if not point.value.startswith("feast.")] == list(kept)
    assert mlflow_plugins.entry_points_without_feasts_mlflow_plugin(group="console_scripts") == entry_points(
        group="console_scripts"
    )
    # MLflow's first request loads its plugins: without Feast's, Feast is not imported.
    headers = "from mlflow.tracking.request_header.registry import resolve_request_headers; resolve_request_headers()"
    patch = "from jukebox.mlflow_plugins import leave_out_feasts_mlflow_plugin; leave_out_feasts_mlflow_plugin(); "
    for prelude, imports_feast in (("", True), (patch, False)):
        script = f"{prelude}{headers}; import sys; print('feast' in sys.modules)"
        answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert answer.stdout.strip() == str(imports_feast), answer.stderr
    # Run as a step runs, it is kfp's executor that answers (here its usage error: no component given).
    answer = subprocess.run([sys.executable, "-m", "jukebox.local_step", "--bogus"], capture_output=True, text=True)
    assert answer.returncode == 2 and "executor_main" in answer.stderr and "--component_module_path" in answer.stderr


def test_a_drift_from_the_pins_is_one_clear_sentence(monkeypatch):
    pins.check_environment()  # this environment is the pinned one
    real = pins.metadata.version
    monkeypatch.setattr(pins.metadata, "version", lambda name: "0.0.1" if name == "pandas" else real(name))
    with pytest.raises(RuntimeError, match=r"^This environment differs from requirements.txt: pandas 0.0.1 \(pinned"):
        pins.check_environment()


def test_progress_shows_a_line_per_step_and_keeps_everything_in_the_log(tmp_path):
    console = io.StringIO()
    progress = StepProgress(console, tmp_path / "run.log", heartbeat=3600)
    train, push = "\x1b[96m'train-model'\x1b[0m", "'push-to-model-registry'"
    progress.write(f"12:00:00.000 - INFO - Executing task {train}\n")
    progress.write('[KFP Executor] {"outputs": "lots of json"}\n')
    progress.beat(now=time.monotonic() + 3600)  # an hour later: a line says it still runs
    progress.write(f"12:00:00.900 - INFO - Task {train} finished with status \x1b[92mSUCCESS\x1b[0m\n")
    progress.write(f"Executing task {push}\nTask {push} finished with status FAILURE\n")
    progress.close()
    lines = console.getvalue().splitlines()
    assert lines[0] == "  … train-model"
    assert lines[1] == "    train-model still running (3600 s)"
    assert lines[2].startswith("  ✓ train-model (") and lines[-1].startswith("  ✗ push-to-model-registry (")
    assert "lots of json" not in console.getvalue() and "lots of json" in (tmp_path / "run.log").read_text()


def test_verbose_progress_echoes_the_full_output(tmp_path):
    console = io.StringIO()
    progress = StepProgress(console, tmp_path / "run.log", verbose=True)
    progress.write("raw executor line\n")
    progress.close()
    assert "raw executor line" in console.getvalue()
    assert sys.stdout is not progress


def test_a_local_run_points_the_workshops_default_urls_at_this_machine():
    from kfp import dsl

    @dsl.component
    def show(value: str):
        print(value)

    @dsl.pipeline(name="urls")
    def urls(
        dataset_url: str = "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep/songs.parquet",
        repo_url: str = "https://gitea-gitea.apps.cluster.example.com/user1/jukebox.git",
        other_url: str = "https://example.com/elsewhere.parquet",
        days: int = 3,
    ):
        show(value=dataset_url)

    data, git = "http://127.0.0.1:1/raw", "http://127.0.0.1:2"
    assert local_arguments(urls, {}, data, git, "user2") == {
        "dataset_url": f"{data}/songs.parquet",
        "repo_url": f"{git}/user2/jukebox.git",
        "other_url": "https://example.com/elsewhere.parquet",
        "days": 3,
    }
    given = {"dataset_url": "http://127.0.0.1:3/99-data_prep/mine.parquet", "repo_url": f"{git}/user3/jukebox.git"}
    assert local_arguments(urls, given, data, git, "user2").items() >= given.items(), "a given value is kept"
    assert local_arguments(urls, {}, data, None, None)["repo_url"].startswith("https://gitea"), "no lab: no repo"


def test_a_local_run_points_the_urls_the_pipeline_gives_its_steps_here_and_puts_them_back(tmp_path):
    import functools

    from kfp import dsl, local

    raw = "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep"

    @dsl.component
    def show(
        value: str,
        other: str,
        out: dsl.OutputPath(str),
        default: str = "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep/d.parquet",
    ):
        with open(out, "w") as file:
            file.write(f"{value} {other} {default}")

    given = functools.partial(show, value=f"{raw}/songs.parquet", other="https://example.com/x")

    @dsl.pipeline(name="constants")
    def constants() -> str:
        return given().outputs["out"]  # as the workshop writes fetch_data(): no argument

    data = "http://127.0.0.1:1/raw"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    with steps_pointed_here(constants, data, None, None):
        shown = constants().output
    assert shown == f"{data}/songs.parquet https://example.com/x {data}/d.parquet", "the workshop's URLs only"
    task = constants.pipeline_spec.root.dag.tasks["show"]
    assert task.inputs.parameters["value"].runtime_value.constant.string_value == f"{raw}/songs.parquet", "put back"


def test_a_local_run_registers_the_participants_own_model_unless_told_otherwise():
    from kfp import dsl

    @dsl.component
    def show(value: str):
        print(value)

    @dsl.pipeline(name="training")
    def training(model_name: str = "jukebox"):
        show(value=model_name)

    data = "http://127.0.0.1:1/raw"
    assert local_arguments(training, {}, data, None, None)["model_name"] == "jukebox", "no lab: the workshop's name"
    assert local_arguments(training, {}, data, None, "user2", "jukebox-user2")["model_name"] == "jukebox-user2"
    given = {"model_name": "mine"}
    assert local_arguments(training, given, data, None, "user2", "jukebox-user2")["model_name"] == "mine"
