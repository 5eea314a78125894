"""Real parts for the serving tests: a Feast store in a folder, an MLflow registry, servers as processes.

- ``train_small_model``: a model trained by the chapter's own steps, in this process, on small data.
- ``make_feature_repo``: the kit's feature repo copied to a folder, its source pointed at a local
  parquet, a SQLite registry and online store (as the lab's), ``feast apply`` and ``materialize``.
- ``Registry``: a SQLite MLflow registry where versions are registered by the pipeline's own step.
- ``feast_service_at``: the cluster's ``feature_store.yaml`` pointed at a local PostgreSQL.
- ``Server``: ``python -m jukebox.serving.<predictor|transformer>`` (or ``feast serve``) on a free
  port of 127.0.0.1, waited for by polling, stopped (and waited for) at the end.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from kfp import dsl
from pipelinetools import make_artifact

from jukebox.data_contract import FEATURES
from jukebox.feature_store import FEATURE_REPO

FEAST = str(Path(sys.executable).with_name("feast"))
JSON = "application/json"
USER = "user1"  # the store's project is user1_music, as in the lab

ARTIFACTS = {
    dsl.Dataset: ("dataset", "train_data", "val_data", "test_data"),
    dsl.Model: ("scaler", "label_encoder", "model", "onnx_model"),
}


def train_small_model(folder: Path, hyperparameters: dict, data_url: str | None = None, dataset=None) -> dict:
    """Fetch, preprocess, train and convert to ONNX with the chapter's own steps; the artifacts by name.

    The steps' Python functions run in this process (no pipeline, no registry), so a test or a
    benchmark has a real model in seconds. ``3-prod_datascience`` must be on ``sys.path``.

    Args:
        folder: where the artifacts' files go.
        hyperparameters: the training's (``default_parameters.json``'s, or smaller for speed).
        data_url: a URL that serves ``song_rankings.parquet`` and ``song_properties.parquet``.
        dataset: a dataset fetched already (its metadata names the features): the fetch is skipped.
    """
    from data_preprocessing import preprocess_data
    from fetch_data import fetch_data
    from train_model import convert_to_onnx, train_model

    a = {name: make_artifact(kind, folder, name) for kind, names in ARTIFACTS.items() for name in names}
    if dataset is None:
        fetch_data.func.python_func(
            rankings_url=f"{data_url}/song_rankings.parquet",
            properties_url=f"{data_url}/song_properties.parquet",
            features=FEATURES,
            dataset=a["dataset"],
        )
    else:
        a["dataset"] = dataset
    splits = {name: a[name] for name in ("train_data", "val_data", "test_data", "scaler", "label_encoder")}
    preprocess_data.python_func(dataset=a["dataset"], default_features=FEATURES, **splits)
    train_model.python_func(
        train_data=a["train_data"], val_data=a["val_data"], hyperparameters=hyperparameters, model=a["model"]
    )
    convert_to_onnx.python_func(model=a["model"], label_encoder=a["label_encoder"], onnx_model=a["onnx_model"])
    return a


STORE_CONFIG = """project: ${username}_music
provider: local
registry:
  registry_type: sql
  path: sqlite:///FOLDER/registry.db
  cache_ttl_seconds: 10
online_store:
  type: sqlite
  path: FOLDER/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any lab, MLflow, S3 or Feast setting, plus ``extra``."""
    prefixes = ("MLFLOW_", "AWS_", "FEAST_", "JUKEBOX_LAB")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def feast(repo: Path, *args: str) -> str:
    result = subprocess.run(
        [FEAST, *args], cwd=repo, env=store_environment(repo), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"feast {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def store_environment(repo: Path) -> dict[str, str]:
    """What a process needs to open the store in ``repo`` with ``open_store()``, as the lab's environment gives."""
    return clean_environment(username=USER, FEAST_FS_YAML_FILE_PATH=str(repo / "feature_store.yaml"))


def make_feature_repo(folder: Path, songs_parquet: Path) -> Path:
    """The kit's feature repo in ``folder``, reading ``songs_parquet``, applied and materialized."""
    repo = folder / "feature_repo"
    repo.mkdir(parents=True)
    for name in ("features.py", "feature_service.py"):
        shutil.copy(FEATURE_REPO / name, repo / name)
    features = repo / "features.py"
    source = features.read_text()
    assert 'path="s3://data/song_properties.parquet"' in source
    features.write_text(source.replace("s3://data/song_properties.parquet", str(songs_parquet)))
    (repo / "feature_store.yaml").write_text(STORE_CONFIG.replace("FOLDER", str(folder)))
    feast(repo, "apply")
    feast(repo, "materialize", "2000-01-01T00:00:00", "2100-01-01T00:00:00")
    return repo


def leave_out_of_the_service(repo: Path, feature: str) -> None:
    """Comment out ``feature`` in the repo's ``feature_service.py`` (the participant's edit) and apply."""
    service = repo / "feature_service.py"
    service.write_text(service.read_text().replace(f'"{feature}",', f'# "{feature}",'))
    feast(repo, "apply")


@contextlib.contextmanager
def environment(**values: str):
    """``os.environ`` with ``values`` set, restored afterwards (for the pipeline's step, which reads it)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Registry:
    """A SQLite MLflow registry in ``folder``; versions registered by ``push_to_model_registry``."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        self.settings = {"MLFLOW_TRACKING_URI": self.uri, "MLFLOW_ARTIFACT_LOCATION": str(folder / "artifacts")}
        from mlflow import MlflowClient

        MlflowClient(self.uri).search_registered_models()  # creates the database now, not in three processes at once

    def register(self, artifacts: dict, accuracy: float = 0.3) -> str:
        """Register the ONNX model, scaler and label encoder of ``artifacts``; return the version."""
        from save_model import push_to_model_registry

        metrics = make_artifact(dsl.Metrics, self.folder, f"metrics-{time.monotonic_ns()}", {"accuracy": accuracy})
        with environment(**self.settings):
            return push_to_model_registry.python_func(
                model_name="jukebox",
                version="test",
                cluster_domain="",
                run_id="serving-test",
                dataset=artifacts["dataset"],
                onnx_model=artifacts["onnx_model"],
                scaler=artifacts["scaler"],
                label_encoder=artifacts["label_encoder"],
                metrics=metrics,
            )

    def set_alias(self, version: str, alias: str = "test") -> None:
        from mlflow import MlflowClient

        MlflowClient(self.uri).set_registered_model_alias("jukebox", alias, version)


class Server:
    """A server process on a free port of 127.0.0.1: started on entry, stopped and waited for on exit.

    Args:
        command: the command, without the port (``port`` is appended as ``port_option``).
        env: its environment.
        log: the file its output goes to.
        port_option: the option that gives the port.
    """

    def __init__(self, command: list[str], env: dict, log: Path, port_option: str = "--http_port"):
        self.port = free_port()
        self.command = [*command, port_option, str(self.port)]
        self.env, self.log = env, log
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.process: subprocess.Popen | None = None

    @classmethod
    def serving(cls, module: str, arguments: list[str], env: dict, log: Path) -> "Server":
        return cls([sys.executable, "-m", f"jukebox.serving.{module}", "--model_name", "jukebox", *arguments], env, log)

    def __enter__(self) -> "Server":
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.client.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_for(self, path: str, timeout: float = 240) -> None:
        """Poll ``path`` until it answers 200; fail with the server's output if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.command} exited:\n{self.output()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if self.client.get(path, timeout=5).status_code == 200:
                    return
            time.sleep(0.2)  # between two polls
        raise AssertionError(f"{self.url}{path} did not answer 200 in {timeout} s:\n{self.output()[-3000:]}")

    def ready(self) -> "Server":
        self.wait_for("/v2/health/ready")
        return self

    def infer(self, body) -> tuple[int, dict]:
        """POST an inference request (a dict as JSON, NaN allowed, or raw text); return the status and the answer."""
        content = body if isinstance(body, str) else json.dumps(body)
        answer = self.client.post("/v2/models/jukebox/infer", content=content, headers={"content-type": JSON})
        return answer.status_code, answer.json()

    def count(self, pattern: str) -> int:
        """How many lines of the server's output match ``pattern``."""
        return len(re.findall(pattern, self.output(), flags=re.MULTILINE))


def predictor(registry: Registry, log) -> Server:
    """The predictor on the registry's version with the alias ``test``, as the lab starts it."""
    env = clean_environment(**registry.settings)
    return Server.serving("predictor", ["--registered_model", "jukebox"], env, log)


def transformer(registry: Registry, repo, predictor_url: str, log, *extra: str) -> Server:
    """The transformer in front of ``predictor_url``, reading the store in ``repo``, as the lab starts it."""
    env = {**store_environment(repo), **registry.settings}
    host = predictor_url.removeprefix("http://")
    arguments = ["--predictor_host", host, "--registered_model", "jukebox", *extra]
    return Server.serving("transformer", arguments, env, log)


@contextlib.contextmanager
def predictor_and_transformer(registry: Registry, repo, folder):
    """Both servers, as the lab starts them: the predictor, then the transformer in front of it (logs in
    ``folder``); yields them, not yet waited for, and stops them on the way out."""
    with predictor(registry, folder / "predictor.log") as model_server:
        with transformer(registry, repo, model_server.url, folder / "transformer.log") as front:
            yield model_server, front


def wait_until(condition, what: str, timeout: float = 240) -> None:
    """Poll ``condition`` until it is true; fail saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.1)  # between two polls


def ids_request(*ids: str, nested: bool = True) -> dict:
    """The workshop's request by song id."""
    data = [[song] for song in ids] if nested else list(ids)
    shape = [len(ids), 1] if nested else [len(ids)]
    return {"inputs": [{"name": "input", "shape": shape, "datatype": "STRING", "data": data}]}


def features_request(columns: dict, parameters: dict | None = None) -> dict:
    """A predictor request: one FP32 input [N, 1] per feature."""
    request = {
        "inputs": [
            {"name": name, "shape": [len(values), 1], "datatype": "FP32", "data": [[float(v)] for v in values]}
            for name, values in columns.items()
        ]
    }
    return {**request, "parameters": parameters} if parameters else request


def output(answer: dict, name: str) -> list:
    (found,) = [item for item in answer["outputs"] if item["name"] == name]
    return found["data"]


def feast_service_at(config: str, postgres) -> str:
    """The cluster's ``feature_store.yaml`` with the server ``postgres`` where it names the service ``feast``.

    What the cluster's DNS does for the name ``feast``; the chart's database and user (``feast``)
    are made on the server first, as the chart's deployment makes them.
    """
    postgres.psql("CREATE ROLE feast LOGIN PASSWORD 'feast';")
    postgres.psql("CREATE DATABASE feast OWNER feast;")
    socket_folder = str(postgres.pgdata)  # libpq takes a folder as host: the server's unix socket
    assert "@feast:5432/feast" in config and "  host: feast\n" in config, "the workshop's service name"
    return config.replace("@feast:5432/feast", f"@/feast?host={socket_folder}").replace(
        "  host: feast\n", f"  host: {socket_folder}\n"
    )
