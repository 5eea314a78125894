"""The local lab end to end: its CLI, real servers, push-triggered CT, GitOps, schedules.

One lab (two users) is started for the module in a temporary folder on free ports; tests run in
file order, as an instructor would try the lab by hand.
"""

import base64
import json
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from labtools import Lab
from mlflow import MlflowClient

from jukebox.lab import process, settings
from jukebox.paths import DATA_PREP

CHAPTER = "local lab"  # for the report by chapter

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("lab") / "home")
    started = lab.cli("up", "--user", "user1", "--user", "user2")
    assert "The lab is up" in started.stdout
    yield lab
    lab.cli("down", check=False)


def test_second_up_starts_nothing_and_status_shows_every_service_healthy(lab):
    again = lab.cli("up")
    assert "nothing started" in again.stdout
    status = lab.cli("status").stdout
    for service in ("s3", "mlflow", "controller"):
        line = next(line for line in status.splitlines() if line.startswith(service))
        assert "healthy" in line and str(lab.home) in line


def test_env_exports_the_cluster_secret_names_and_credentials_are_private(lab):
    exports = lab.exports()
    for name in ("AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert exports[name]
    assert exports["username"] == "user1" and exports["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    assert lab.exports("user2")["username"] == "user2"
    assert stat.S_IMODE((lab.home / "credentials.json").stat().st_mode) == 0o600


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


def test_each_participant_has_their_own_s3_with_the_same_bucket_names(lab):
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
def test_a_participants_keys_are_refused_on_another_participants_s3(lab, user, keys_of):
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
    added = lab.cli("up", "--user", "user3")
    assert "Started s3-user3" in added.stdout
    clone = lab.clone("jukebox", tmp_path / "user3-jukebox", user="user3")
    assert (clone / "README.md").exists()
    buckets = {bucket["Name"] for bucket in lab.s3(user="user3").list_buckets()["Buckets"]}
    assert {"pipeline", "models"} <= buckets and "data" not in buckets
    assert lab.exports("user3")["AWS_S3_ENDPOINT"] == lab.settings.s3_url("user3")


def test_git_refuses_wrong_credentials(lab, tmp_path):
    result = lab.git("clone", f"{lab.settings.git_url}/user1/jukebox.git", str(tmp_path / "c"), password="wrong")
    assert result.returncode != 0 and not (tmp_path / "c").exists()
    url = f"{lab.settings.git_url}/user1/jukebox.git/info/refs?service=git-upload-pack"
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"user1:wrong").decode()}):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
        assert error.value.code == 401


def test_each_user_has_their_own_repos(lab, tmp_path):
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


def test_a_gitops_push_adding_buckets_creates_them(lab, tmp_path):
    clone = lab.clone("mlops-gitops", tmp_path / "gitops")
    config = clone / "toolings" / "minio" / "config.yaml"
    config.write_text(config.read_text() + "- name: data\n- name: data-cache\n")
    lab.commit_and_push(clone, "🪣 data buckets added 🪣")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names = {bucket["Name"] for bucket in lab.s3().list_buckets()["Buckets"]}
        if {"data", "data-cache"} <= names:
            break
        time.sleep(0.5)
    assert {"data", "data-cache"} <= names
    report = json.loads((lab.home / "gitops" / "user1.json").read_text())
    assert report["status"] == "synced" and report["created"] == ["data", "data-cache"]
    assert "data" not in {bucket["Name"] for bucket in lab.s3(user="user2").list_buckets()["Buckets"]}, "user1's only"


def test_a_schedule_fires_every_interval_with_its_parameters(lab, tmp_path):
    script = tmp_path / "hello_pipeline.py"
    script.write_text(HELLO_PIPELINE)
    created = lab.cli(
        "schedules", "create", "hello-often", "--script", str(script), "--every", "3s", "--param", "greeting=bonjour"
    )
    assert "first run at" in created.stdout
    assert "hello-often" in lab.cli("schedules", "list").stdout
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        records = [json.loads(path.read_text()) for path in (lab.home / "runs").glob("schedule-*.json")]
        done = [record for record in records if record["status"] in ("succeeded", "failed")]
        if len(done) >= 2:
            break
        time.sleep(1)
    lab.cli("schedules", "delete", "hello-often")
    assert len(done) >= 2 and all(record["status"] == "succeeded" for record in done), done
    assert "said: bonjour" in lab.cli("runs", "log", done[0]["id"], "--full").stdout
    assert "hello-often" not in lab.cli("schedules", "list").stdout


def test_an_adhoc_run_starts_now_and_is_recorded(lab, tmp_path):
    script = tmp_path / "hello_pipeline.py"
    script.write_text(HELLO_PIPELINE)
    started = lab.cli("runs", "start", "hello-adhoc-run", "--script", str(script), "--param", "greeting=hola", "--wait")
    assert "succeeded" in started.stdout
    run_id = started.stdout.split("Started run ")[1].split()[0]
    log = lab.cli("runs", "log", run_id).stdout
    assert "✓ say (" in log and "said: hola" not in log, "the run's log shows one line per step"
    assert "said: hola" in lab.cli("runs", "log", run_id, "--full").stdout, "the step's own output"
    missing = lab.cli("runs", "start", "nothing", "--script", str(tmp_path / "missing.py"), check=False)
    assert missing.returncode == 1 and "No pipeline script at" in missing.stderr


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
    ct_runs = [line for line in lab.cli("runs").stdout.splitlines() if line.startswith("ct-")]
    assert len(ct_runs) == 2 and good[:7] in ct_runs[0] and broken[:7] in ct_runs[1]
    assert good_run["finished"] <= broken_run["started"], "one run at a time, in push order"


def test_no_generated_credential_appears_in_what_the_lab_writes(lab):
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


def test_down_stops_everything_and_up_keeps_the_state(lab, tmp_path):
    lab.s3().put_object(Bucket="data", Key="kept.txt", Body=b"still here")
    script = Path(__file__).parents[2] / "3-prod_datascience" / "prod_train_save_pipeline.py"
    lab.cli("schedules", "create", "training-daily", "--script", str(script), "--every", "1d")
    lab.cli("down")
    runs_before = lab.cli("runs").stdout
    ports = lab.settings.ports
    assert all(process.port_is_free(port) for port in ports.values())
    assert "stopped" in lab.cli("status").stdout

    assert "The lab is up" in lab.cli("up").stdout
    assert lab.s3().get_object(Bucket="data", Key="kept.txt")["Body"].read() == b"still here"
    assert "training-daily" in lab.cli("schedules", "list").stdout
    assert lab.cli("runs").stdout == runs_before
    clone = lab.clone("jukebox", tmp_path / "again")
    assert "A broken hyperparameter" in lab.git("log", "--oneline", cwd=clone).stdout
    lab.cli("schedules", "delete", "training-daily")


def test_reset_asks_for_confirmation_and_needs_the_lab_down(lab):
    assert "run `down` before `reset`" in lab.cli("reset", "--yes", check=False).stderr
    lab.cli("down")
    refused = lab.cli("reset", check=False)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert lab.home.exists()
    lab.cli("reset", "--yes")
    assert not lab.home.exists()
