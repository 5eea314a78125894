"""The pins helper, and the cluster submission path (kfp.Client is a test double here)."""

import types
from importlib.metadata import version

import pytest

from jukebox import cluster, pipeline_script
from jukebox.pins import pinned


def test_pins_are_the_installed_versions():
    for requirement in pinned("pandas", "scikit-learn", "kfp", "mlflow", "model-registry", "onnxruntime"):
        name, pin = requirement.split("==")
        assert version(name) == pin


def test_an_unpinned_package_is_a_clear_error():
    with pytest.raises(KeyError, match="Pin left-pad in requirements.txt before using it in a component"):
        pinned("left-pad")


class FakeClient:
    """Records how the workshop's kfp.Client would be created and called."""

    created: list = []

    def __init__(self, **options):
        self.options, self.runs = options, []
        FakeClient.created.append(self)

    def create_run_from_pipeline_func(self, pipeline_func, **options):
        self.runs.append((pipeline_func, options))
        return types.SimpleNamespace(run_id="run-123")


@pytest.fixture
def service_account(tmp_path):
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "namespace").write_text("user1-jukebox")
    (folder / "token").write_text("sa-token-never-printed\n")
    (folder / "service-ca.crt").write_text("CA")
    return folder


def test_workbench_is_detected_by_its_service_account(service_account, tmp_path):
    assert cluster.in_workbench(service_account)
    assert not cluster.in_workbench(tmp_path / "nowhere")


def test_submission_uses_the_namespace_pipeline_server_and_token(service_account, capsys):
    FakeClient.created = []
    cluster.submit(print, {"version": "1"}, "training-pipeline", service_account, client_factory=FakeClient)
    (client,) = FakeClient.created
    assert client.options == {
        "host": "https://ds-pipeline-dspa.user1-jukebox.svc:8443",
        "existing_token": "sa-token-never-printed",
        "ssl_ca_cert": str(service_account / "service-ca.crt"),
    }
    ((_, options),) = client.runs
    assert options["arguments"] == {"version": "1"} and options["namespace"] == "user1-jukebox"
    output = capsys.readouterr().out
    assert "run-123" in output and "sa-token" not in output


def test_play_button_submits_in_a_workbench(service_account, monkeypatch, tmp_path):
    submitted = []
    monkeypatch.setattr(cluster, "SERVICE_ACCOUNT", service_account)
    monkeypatch.setattr(cluster.in_workbench, "__defaults__", (service_account,))
    monkeypatch.setattr(cluster, "submit", lambda *args: submitted.append(args))
    pipeline = types.SimpleNamespace(description="a pipeline")
    pipeline_script.run_pipeline_script(
        pipeline, arguments={"a": 1}, yaml_path=tmp_path / "p.yaml", experiment_name="exp", argv=[]
    )
    assert submitted == [(pipeline, {"a": 1}, "exp")]
    assert not (tmp_path / "p.yaml").exists()


def test_set_keeps_text_parameters_as_text_even_when_they_look_like_numbers():
    import sys

    sys.path.insert(0, str(__import__("jukebox.paths").paths.REPO_ROOT / "3-prod_datascience"))
    from prod_train_save_pipeline import training_pipeline

    overrides = pipeline_script.parse_overrides(
        ["version=3004259", "model_name=1e51234", "accuracy_tolerance=0.05", 'hyperparameters={"max_iter": 5}'],
        training_pipeline,
    )
    assert overrides == {
        "version": "3004259",
        "model_name": "1e51234",
        "accuracy_tolerance": 0.05,
        "hyperparameters": {"max_iter": 5},
    }
    with pytest.raises(SystemExit, match="give a JSON value for this Float parameter"):
        pipeline_script.parse_overrides(["accuracy_tolerance=lots"], training_pipeline)
    with pytest.raises(SystemExit, match="the pipeline has no parameter 'nope'"):
        pipeline_script.parse_overrides(["nope=1"], training_pipeline)
