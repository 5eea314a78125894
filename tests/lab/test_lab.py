"""The local lab end to end: its CLI, real servers, push-triggered CT, GitOps, schedules.

The tests use the session's lab (``shared_lab``, temporary folder, free ports) and its participants
user1 and user2; each sets up what it needs, so it passes alone and in any order. Stopping and
wiping a lab happen in a small lab of this module's own, never in the shared one.
"""

import base64
import contextlib
import json
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from botocore.exceptions import ClientError
from labtools import Lab
from mlflow import MlflowClient
from servingtools import Server

from jukebox.feature_store import FEATURE_REPO
from jukebox.lab import process, settings
from jukebox.paths import DATA_PREP

HELLO_PIPELINE = """
from pathlib import Path

from kfp import dsl

from jukebox.pipeline_script import run_pipeline_script


@dsl.component(base_image="python:3.11-slim")
def say(greeting: str):
    print(f"said: {greeting}")


@dsl.pipeline(name="hello")
def hello(greeting: str = "hi"):
    say(greeting=greeting)


if __name__ == "__main__":
    run_pipeline_script(hello, arguments={}, yaml_path=Path(__file__).with_name("hello.yaml"), experiment_name="hello")
"""


@pytest.fixture
def lab(shared_lab):
    """The session's lab: these tests are about the lab itself."""
    return shared_lab


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory):
    """A small lab of this module's own, for the tests that stop it or wipe it (each test brings it up)."""
    lab = Lab(tmp_path_factory.mktemp("own-lab") / "home")
    yield lab
    if lab.home.exists():
        lab.cli("down", check=False)


def hello_script(folder: Path) -> Path:
    script = folder / "hello_pipeline.py"
    script.write_text(HELLO_PIPELINE)
    return script


def test_second_up_starts_nothing_and_status_shows_every_service_healthy(lab):
    again = lab.cli("up")
    assert "nothing started" in again.stdout and "healthy" in again.stdout  # up ends with the status table
    quiet = lab.cli("up", "--no-status").stdout  # make workshop's: its own summary has the URLs
    assert quiet.splitlines()[-1] == "The lab was already up: nothing started." and "healthy" not in quiet
    status = lab.cli("status").stdout
    for service in ("s3", "mlflow", "controller"):
        line = next(line for line in status.splitlines() if line.startswith(service))
        assert "healthy" in line and str(lab.home) in line


def test_the_registry_is_one_server_without_mlflows_job_runner(lab):
    """MLflow's job runner (for GenAI jobs; its consumers poll all along) takes CPU the lab's runs need."""
    server = psutil.Process(process.running_pid(lab.home, "mlflow"))
    children = [" ".join(child.cmdline()) for child in server.children(recursive=True)]
    assert any("mlflow.server.fastapi_app" in child for child in children), children  # the registry's API
    assert not [child for child in children if "mlflow.server.jobs" in child], children


def assert_asked_the_registry_without_feast(import_profile: str) -> None:
    """From a process's ``PYTHONPROFILEIMPORTTIME`` lines: it asked the registry, and imported no Feast."""
    imported = re.findall(r"^import time:.*\|\s*([\w.]+)$", import_profile, re.MULTILINE)
    assert "mlflow.tracking.request_header.registry" in imported, "it asked the lab's registry over HTTP"
    assert not [module for module in imported if module.split(".")[0] == "feast"]


def test_the_model_server_asks_the_registry_without_importing_feast(lab, tmp_path):
    """The cluster's model server (OpenVINO's) has no Feast; in the lab, Feast's MLflow plugin would
    import all of it (about 5 s of CPU) at the server's first question to the registry."""
    env = {**lab.env, **lab.exports(), "PYTHONPROFILEIMPORTTIME": "1"}
    source = ["--registered_model", "jukebox-nobody", "--alias", "test"]
    with Server.serving("predictor", source, env, tmp_path / "predictor.log") as server:
        deadline = time.monotonic() + 120
        while "Not ready: waiting for" not in server.output():
            assert server.process.poll() is None and time.monotonic() < deadline, server.output()[-2000:]
            time.sleep(0.3)
    assert_asked_the_registry_without_feast(server.output())


def test_the_ct_deploy_step_asks_the_registry_without_importing_feast(lab):
    """The cluster's deploy task has no Feast; the lab's controller, which deploys, leaves its plugin out too."""
    deploy = "from jukebox.lab import ct; import sys; ct.deploy_version(sys.argv[1], 'jukebox-nobody', '1')"
    env = {**lab.env, "PYTHONPROFILEIMPORTTIME": "1"}
    answer = subprocess.run(
        [sys.executable, "-c", deploy, lab.settings.url("mlflow")], env=env, capture_output=True, text=True, timeout=120
    )
    assert answer.returncode == 1 and "jukebox-nobody" in answer.stderr, answer.stderr[-2000:]  # no such model
    assert_asked_the_registry_without_feast(answer.stderr)


def test_env_exports_the_cluster_secret_names_and_credentials_are_private(lab, user2):
    exports = lab.exports()
    for name in ("AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert exports[name]
    assert exports["username"] == "user1" and exports["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    assert lab.exports("user2")["username"] == "user2"
    assert stat.S_IMODE((lab.home / "credentials.json").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "command",
    [
        ["env"],
        ["serve"],
        ["progress"],
        ["checkpoint", "buckets"],
        ["runs", "start", "x", "--script", "x.py"],
        ["runs", "cancel"],
        ["schedules", "create", "x", "--script", "x.py"],
    ],
)
def test_every_command_that_takes_a_participant_says_the_same_of_an_unknown_one(lab, command):
    result = lab.cli(*command, "--user", "nobody", check=False)
    assert result.returncode == 1, result.stdout
    participants = ", ".join(lab.settings.users)
    said = f"No participant nobody in this lab: add them with `up --user nobody` (the participants are {participants})."
    assert result.stderr.strip() == f"Error: {said}"


def test_a_taken_port_is_a_clear_error(lab, tmp_path):
    other = Lab(tmp_path / "other")
    other.env["JUKEBOX_LAB_PORT_BASE"] = str(lab.settings.ports["git"])
    result = other.cli("up", check=False)
    assert result.returncode == 1
    assert "is taken by another program: choose another with `up --port" in result.stderr


def test_s3_has_the_declared_buckets_and_refuses_wrong_keys(lab):
    names = {bucket["Name"] for bucket in lab.s3().list_buckets()["Buckets"]}
    assert {"pipeline", "models"} <= names
    with pytest.raises(ClientError):
        lab.s3(secret="wrong-secret").list_buckets()


def test_each_participant_has_their_own_s3_with_the_same_bucket_names(lab, user2):
    one, two = lab.exports("user1"), lab.exports("user2")
    for name in ("AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert one[name] != two[name]
    assert two["AWS_S3_ENDPOINT"] == lab.settings.s3_url("user2")
    line = next(line for line in lab.cli("status").stdout.splitlines() if line.startswith("s3-user2"))
    assert two["AWS_S3_ENDPOINT"] in line and "healthy" in line
    for user in ("user1", "user2"):  # the buckets every participant gets, by the same names
        assert {"pipeline", "models"} <= {bucket["Name"] for bucket in lab.s3(user=user).list_buckets()["Buckets"]}
    lab.s3(user="user2").put_object(Bucket="pipeline", Key="whose.txt", Body=b"user2's")
    with pytest.raises(ClientError):
        lab.s3(user="user1").head_object(Bucket="pipeline", Key="whose.txt")
    lab.s3(user="user2").delete_object(Bucket="pipeline", Key="whose.txt")


@pytest.mark.parametrize(("user", "keys_of"), [("user2", "user1"), ("user1", "user2")])
def test_a_participants_keys_are_refused_on_another_participants_s3(lab, user2, user, keys_of):
    intruder = lab.s3(user=user, keys_of=keys_of)
    for attempt in (
        intruder.list_buckets,
        lambda: intruder.list_objects_v2(Bucket="pipeline"),
        lambda: intruder.put_object(Bucket="pipeline", Key="x", Body=b"x"),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_participant_added_to_the_running_lab_gets_their_repos_and_own_s3(lab, tmp_path):
    newcomer = lab.unused_name("newcomer")
    added = lab.cli("up", "--user", newcomer)
    assert f"Started s3-{newcomer}" in added.stdout
    clone = lab.clone("jukebox", tmp_path / "newcomer-jukebox", user=newcomer)
    assert (clone / "README.md").exists()
    buckets = {bucket["Name"] for bucket in lab.s3(user=newcomer).list_buckets()["Buckets"]}
    assert {"pipeline", "models"} <= buckets and "data" not in buckets
    assert lab.exports(newcomer)["AWS_S3_ENDPOINT"] == lab.settings.s3_url(newcomer)


def test_git_refuses_wrong_credentials(lab, tmp_path):
    result = lab.git("clone", f"{lab.settings.git_url}/user1/jukebox.git", str(tmp_path / "c"), password="wrong")
    assert result.returncode != 0 and not (tmp_path / "c").exists()
    url = f"{lab.settings.git_url}/user1/jukebox.git/info/refs?service=git-upload-pack"
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"user1:wrong").decode()}):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
        assert error.value.code == 401


def test_each_user_has_their_own_repos(lab, user2, tmp_path):
    clone = lab.clone("jukebox", tmp_path / "user2-jukebox", user="user2")
    assert (clone / "3-prod_datascience" / "prod_train_save_pipeline.py").is_file()
    other = lab.git("clone", f"{lab.settings.git_url}/user1/jukebox.git", str(tmp_path / "x"), user="user2")
    assert other.returncode != 0 and "403" in other.stderr


def test_raw_endpoint_serves_the_data_folder(lab):
    with urllib.request.urlopen(f"{lab.settings.raw_url}/song_rankings.parquet", timeout=10) as response:
        assert response.read() == (DATA_PREP / "song_rankings.parquet").read_bytes()
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{lab.settings.raw_url}/..%2Fpyproject.toml", timeout=10)
    assert error.value.code == 404


def gitops_report(lab: Lab, user: str, commit: str, timeout: float = 30) -> dict:
    """The report of the GitOps reconcile of ``commit``, which runs in the background after the push."""
    path = lab.home / "gitops" / f"{user}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):  # not written yet, or being written
            report = json.loads(path.read_text())
            if report["commit"] == commit:
                return report
        time.sleep(0.5)
    raise AssertionError(f"No GitOps report for {commit[:7]} in {path} after {timeout:.0f} s.")


def test_a_gitops_push_adding_buckets_creates_them(lab, user2, tmp_path):
    wanted = ["gitops-made", "gitops-made-cache"]  # names no other test uses: user1 is shared
    clone = lab.clone("mlops-gitops", tmp_path / "gitops")
    config = clone / "toolings" / "minio" / "config.yaml"
    config.write_text(config.read_text() + "".join(f"- name: {name}\n" for name in wanted))
    report = gitops_report(lab, "user1", lab.commit_and_push(clone, "🪣 buckets added 🪣"))
    assert set(wanted) <= {bucket["Name"] for bucket in lab.s3().list_buckets()["Buckets"]}
    assert report["status"] == "synced" and report["created"] == wanted
    user2_buckets = {bucket["Name"] for bucket in lab.s3(user=user2).list_buckets()["Buckets"]}
    assert not set(wanted) & user2_buckets, "user1's only"


def test_a_schedule_fires_every_interval_with_its_parameters(lab, tmp_path):
    script = hello_script(tmp_path)
    created = lab.cli(
        "schedules", "create", "hello-often", "--script", str(script), "--every", "3s", "--param", "greeting=bonjour"
    )
    try:
        assert "first run at" in created.stdout
        assert "hello-often" in lab.cli("schedules", "list").stdout
        deadline = time.monotonic() + 600  # runs wait in one queue: other tests' CT runs may come first
        while time.monotonic() < deadline:
            records = [json.loads(path.read_text()) for path in (lab.home / "runs").glob("schedule-*.json")]
            records = [record for record in records if record["title"] == "hello-often"]
            done = [record for record in records if record["status"] in ("succeeded", "failed")]
            if len(done) >= 2:
                break
            time.sleep(1)
    finally:  # a schedule left behind would keep firing in the shared lab
        lab.cli("schedules", "delete", "hello-often")
    assert len(done) >= 2 and all(record["status"] == "succeeded" for record in done), done
    assert "said: bonjour" in lab.cli("runs", "log", done[0]["id"], "--full").stdout
    assert "hello-often" not in lab.cli("schedules", "list").stdout


def test_an_adhoc_run_starts_now_and_is_recorded(lab, tmp_path):
    script = hello_script(tmp_path)
    started = lab.cli("runs", "start", "hello-adhoc-run", "--script", str(script), "--param", "greeting=hola", "--wait")
    assert "succeeded" in started.stdout
    run_id = started.stdout.split("Started run ")[1].split()[0]
    log = lab.cli("runs", "log", run_id).stdout
    assert "✓ say (" in log and "said: hola" not in log, "the run's log shows one line per step"
    assert "said: hola" in lab.cli("runs", "log", run_id, "--full").stdout, "the step's own output"
    missing = lab.cli("runs", "start", "nothing", "--script", str(tmp_path / "missing.py"), check=False)
    assert missing.returncode == 1 and "No pipeline script at" in missing.stderr


def run_record(lab: Lab, commit: str) -> dict:
    (path,) = [path for path in (lab.home / "runs").glob("ct-*.json") if commit in path.read_text()]
    return json.loads(path.read_text())


def test_runs_cancel_stops_a_participant_s_running_and_queued_runs_and_no_later_one(lab, tmp_path):
    name = lab.add_participant("canceller")
    clone = lab.clone("jukebox", tmp_path / "jukebox", user=name)
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nA first change.\n")
    running = lab.commit_and_push(clone, "A first change", user=name)
    readme.write_text(readme.read_text() + "\nA second change.\n")
    queued = lab.commit_and_push(clone, "A second change", user=name)
    deadline = time.monotonic() + 120
    while not [step for step in run_record(lab, running)["steps"] if step["name"] == "feast-apply"]:
        assert time.monotonic() < deadline, "the first run never got to its training step"
        time.sleep(0.2)

    answer = lab.cli("runs", "cancel", "--user", name).stdout
    assert answer.startswith(f"Cancelled 2 of {name}'s queued or running runs"), answer

    stopped = json.loads(lab.cli("runs", "wait", running[:7], "--timeout", "60", check=False).stdout)
    assert stopped["status"] == "cancelled" and stopped["steps"][-1]["name"] == "train", stopped
    never_started = run_record(lab, queued)
    assert never_started["status"] == "cancelled" and never_started["started"] is None
    assert never_started["message"] == "Cancelled by `runs cancel` before it started."
    (clone / "3-prod_datascience" / "prod_train_save_pipeline.py").unlink()
    lab.git("add", "-A", cwd=clone)
    later = lab.commit_and_push(clone, "No training script", user=name)
    after = json.loads(lab.cli("runs", "wait", later[:7], "--timeout", "120", check=False).stdout)
    assert after["status"] == "failed" and "has no 3-prod_datascience/prod_train_save_pipeline.py" in after["message"]
    assert lab.cli("runs", "cancel", "--user", name).stdout.startswith(f"Cancelled 0 of {name}'s")


def test_pushes_give_one_ct_run_each_in_push_order(lab, tmp_path):
    clone = lab.clone("jukebox", tmp_path / "jukebox")
    parameters_file = clone / "3-prod_datascience" / "default_parameters.json"
    parameters = json.loads(parameters_file.read_text())
    parameters["hyperparameters"]["max_iter"] = 60
    parameters_file.write_text(json.dumps(parameters, indent=2))
    good = lab.commit_and_push(clone, "Train a little faster")
    parameters["hyperparameters"]["max_iter"] = 0
    parameters_file.write_text(json.dumps(parameters, indent=2))
    broken = lab.commit_and_push(clone, "A broken hyperparameter")

    good_run = json.loads(lab.cli("runs", "wait", good[:7]).stdout)
    assert [step["status"] for step in good_run["steps"]] == ["succeeded", "skipped", "succeeded", "succeeded"]
    client = MlflowClient(lab.settings.url("mlflow"))
    deployed = client.get_model_version_by_alias("jukebox", "test")
    assert deployed.tags["version"] == good[:7]
    ui_api = f"{lab.settings.url('mlflow')}/ajax-api/2.0/mlflow/registered-models/get?name=jukebox"
    with urllib.request.urlopen(ui_api, timeout=10) as response:  # what the MLflow UI's model page reads
        assert json.load(response)["registered_model"]["aliases"][0]["alias"] == "test"

    failed = lab.cli("runs", "wait", broken[:7], check=False)
    assert failed.returncode == 1
    broken_run = json.loads(failed.stdout)
    assert broken_run["status"] == "failed"
    assert broken_run["message"].startswith("Step train failed: The pipeline failed at step train-model:")
    assert "max_iter" in broken_run["message"]
    listed = [line for line in lab.cli("runs").stdout.splitlines() if line.startswith("ct-")]
    ct_runs = [line for line in listed if good[:7] in line or broken[:7] in line]  # user1 is shared
    assert len(ct_runs) == 2 and good[:7] in ct_runs[0] and broken[:7] in ct_runs[1]
    assert good_run["finished"] <= broken_run["started"], "one run at a time, in push order"


def test_no_generated_credential_appears_in_what_the_lab_writes(lab, tmp_path):
    script = str(hello_script(tmp_path))
    if not any((lab.home / "runs").glob("*.log")):  # no run yet (this test alone, or first): one
        lab.cli("runs", "start", "hello-adhoc-run", "--script", script, "--wait")
    if not (lab.home / "schedules.json").exists():  # nor a schedule yet
        lab.cli("schedules", "create", "hello-later", "--script", script, "--every", "1d")
        lab.cli("schedules", "delete", "hello-later")
    secrets = settings.secret_values(lab.settings)
    written = [
        *(lab.home / "logs").rglob("*.log"),  # the services' logs and every pipeline run's full log
        *(lab.home / "runs").glob("*.log"),
        *(lab.home / "runs").glob("*.json"),
    ]
    written += [*(lab.home / "gitops").glob("*.json"), lab.home / "lab.json", lab.home / "schedules.json"]
    assert len(written) > 5
    for path in written:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a credential appears in {path.relative_to(lab.home)}"


def feast(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    """The ``feast`` command in the kit's feature repo, with the lab's variables (``env``)."""
    command = [str(Path(sys.executable).with_name("feast")), *args]
    env = {**lab.env, **lab.exports()}
    return subprocess.run(command, cwd=FEATURE_REPO, env=env, capture_output=True, text=True, timeout=300)


def test_down_stops_everything_and_up_keeps_the_state(own_lab, tmp_path):
    lab = own_lab
    lab.cli("up")
    lab.s3().put_object(Bucket="pipeline", Key="kept.txt", Body=b"still here")
    script = Path(__file__).parents[2] / "3-prod_datascience" / "prod_train_save_pipeline.py"
    lab.cli("schedules", "create", "training-daily", "--script", str(script), "--every", "1d")
    lab.cli("runs", "start", "hello-adhoc-run", "--script", str(hello_script(tmp_path)), "--wait")
    clone = lab.clone("jukebox", tmp_path / "before")
    (clone / "README.md").write_text("Kept across down and up.\n")
    lab.git("commit", "--quiet", "-am", "A change kept across down and up", cwd=clone)
    assert lab.git("push", "--quiet", "origin", "HEAD:refs/heads/kept", cwd=clone).returncode == 0  # no CT run
    feast_apply = feast(lab, "apply")  # the feature store's registry and online store, in the lab's folder
    assert feast_apply.returncode == 0, feast_apply.stderr
    lab.cli("down")
    runs_before = lab.cli("runs").stdout
    ports = lab.settings.ports
    assert all(process.port_is_free(port) for port in ports.values())
    assert "stopped" in lab.cli("status").stdout

    assert "The lab is up" in lab.cli("up").stdout
    assert lab.s3().get_object(Bucket="pipeline", Key="kept.txt")["Body"].read() == b"still here"
    assert "training-daily" in lab.cli("schedules", "list").stdout
    assert lab.cli("runs").stdout == runs_before and "hello-adhoc-run" in runs_before
    clone = lab.clone("jukebox", tmp_path / "again")
    assert "A change kept across down and up" in lab.git("log", "--oneline", "origin/kept", cwd=clone).stdout
    assert "serving_fs" in feast(lab, "feature-services", "list").stdout
    lab.cli("schedules", "delete", "training-daily")


def test_reset_asks_for_confirmation_and_needs_the_lab_down(own_lab):
    lab = own_lab
    lab.cli("up")
    assert "run `down` before `reset`" in lab.cli("reset", "--yes", check=False).stderr
    lab.cli("down")
    refused = lab.cli("reset", check=False)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert lab.home.exists()
    lab.cli("reset", "--yes")
    assert not lab.home.exists()


def test_a_participant_name_that_cannot_name_a_feast_project_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"^'feast-ct' cannot be a participant's name: use lower-case letters"):
        settings.create_or_update({}, ["feast-ct"], home=tmp_path)
