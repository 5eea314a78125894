"""The accuracy gate and registration: MLflow locally, Kubeflow Model Registry on the cluster (test double)."""

import sys
import types

import boto3
import pytest
from kfp import dsl
from mlflow import MlflowClient
from pipelinetools import make_artifact
from save_model import check_accuracy_gate, push_to_model_registry

SECRET = "s3cr3t-value-never-shown"


def gate_then_register(prepared, tmp_path, accuracy, version="abc1234", dataset_metadata=None, **overrides) -> str:
    """The pipeline's last two steps: the gate (which raises to stop the run), then registration."""
    dataset = make_artifact(dsl.Dataset, tmp_path, "dataset", dataset_metadata or dict(prepared["dataset"].metadata))
    metrics = make_artifact(dsl.Metrics, tmp_path, "metrics", {"accuracy": accuracy})
    check_accuracy_gate.python_func(
        model_name="jukebox",
        cluster_domain="apps.example.com",
        accuracy_tolerance=0.02,
        metrics=metrics,
        prod_flag=overrides.get("prod_flag", False),
    )
    arguments = {
        "model_name": "jukebox",
        "version": version,
        "cluster_domain": "apps.example.com",
        "run_id": "run-42",
        "dataset": dataset,
        "onnx_model": prepared["onnx_model"],
        "scaler": prepared["scaler"],
        "label_encoder": prepared["label_encoder"],
        "metrics": metrics,
        **overrides,
    }
    return push_to_model_registry.python_func(**arguments)


def test_registers_a_version_with_lineage_and_artifacts(prepared, tmp_path, mlflow_registry):
    assert gate_then_register(prepared, tmp_path, accuracy=0.25) == "1", "the step returns the registered version"
    client = MlflowClient(mlflow_registry)
    version = client.get_model_version("jukebox", "1")
    assert version.tags["accuracy"] == "0.250000"
    assert version.tags["version"] == "abc1234"
    assert version.tags["pipeline_run_id"] == "run-42"
    assert version.tags["data_properties_md5"] == prepared["dataset"].metadata["properties_md5"]
    assert version.tags["data_source"] == "url"
    assert "danceability" in version.tags["features"]
    artifacts = {item.path for item in client.list_artifacts(version.run_id, "preprocessing")}
    assert artifacts == {"preprocessing/scaler.pkl", "preprocessing/label_encoder.pkl"}
    import mlflow

    assert mlflow.artifacts.download_artifacts("models:/jukebox/1") is not None


def test_each_run_adds_one_version(prepared, tmp_path, mlflow_registry):
    gate_then_register(prepared, tmp_path, accuracy=0.25, version="one")
    gate_then_register(prepared, tmp_path, accuracy=0.26, version="two")
    versions = MlflowClient(mlflow_registry).search_model_versions("name='jukebox'")
    assert sorted(v.tags["version"] for v in versions) == ["one", "two"]


def test_gate_refuses_a_model_worse_than_production(prepared, tmp_path, mlflow_registry):
    gate_then_register(prepared, tmp_path, accuracy=0.30, version="good")
    client = MlflowClient(mlflow_registry)
    client.set_registered_model_alias("jukebox", "production", "1")
    gate_then_register(prepared, tmp_path, accuracy=0.29, version="within-tolerance")
    with pytest.raises(RuntimeError, match=r"accuracy 0\.2000 is below the production model \(version 1, 0\.3000\)"):
        gate_then_register(prepared, tmp_path, accuracy=0.20, version="worse")
    assert len(client.search_model_versions("name='jukebox'")) == 2


def test_credentials_in_source_urls_never_reach_the_registry(prepared, tmp_path, mlflow_registry):
    metadata = {
        **prepared["dataset"].metadata,
        "rankings_url": f"https://user:{SECRET}@example.com/r.parquet",
    }
    gate_then_register(prepared, tmp_path, accuracy=0.25, dataset_metadata=metadata)
    version = MlflowClient(mlflow_registry).get_model_version("jukebox", "1")
    assert version.tags["data_rankings_url"] == "https://example.com/r.parquet"
    assert all(SECRET not in value for value in version.tags.values())


class FakeModelRegistry:
    """Test double of model_registry.ModelRegistry: records what the step asks of it."""

    instances: list = []
    production_accuracy = None

    def __init__(self, server_address, port, **options):
        self.address, self.options, self.registered = f"{server_address}:{port}", options, []
        FakeModelRegistry.instances.append(self)

    def get_registered_model(self, name):
        return object() if self.production_accuracy is not None else None

    def get_model_versions(self, name):
        props = {"stage": "production", "accuracy": self.production_accuracy}
        return [types.SimpleNamespace(name="v1", custom_properties=props)]

    def register_model(self, name, uri, **options):
        self.registered.append((name, uri, options))


class FakeS3:
    def __init__(self):
        self.uploads = []

    def upload_file(self, filename, bucket, key):
        self.uploads.append((bucket, key))


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    """The cluster side: no MLflow, the secrets' variables set, the registry and S3 as test doubles."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setitem(sys.modules, "model_registry", types.SimpleNamespace(ModelRegistry=FakeModelRegistry))
    s3 = FakeS3()
    calls = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: calls.append(kwargs) or s3)
    monkeypatch.delenv("JUKEBOX_MODEL_VOLUME", raising=False)  # the cluster's volume is model_storage_dir
    monkeypatch.setenv("namespace", "user1-jukebox")
    monkeypatch.setenv("AWS_S3_ENDPOINT", "https://minio.example.com")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_S3_BUCKET", "models")
    FakeModelRegistry.instances, FakeModelRegistry.production_accuracy = [], None
    storage = tmp_path / "pvc"
    storage.mkdir()
    return types.SimpleNamespace(s3=s3, s3_options=calls, storage=storage)


def test_cluster_registers_in_the_kubeflow_model_registry(prepared, tmp_path, cluster, capsys):
    registered = gate_then_register(prepared, tmp_path, accuracy=0.25, model_storage_dir=str(cluster.storage))
    assert registered == "abc1234", "on the cluster a version is named after the git version"
    gate, registry = FakeModelRegistry.instances
    assert registry.address == gate.address == "https://user1-registry-rest.apps.example.com:443", "<user>'s"
    ((name, uri, options),) = registry.registered
    assert (name, uri) == ("jukebox", "s3://models/jukebox/abc1234/model.onnx")
    assert options["version"] == "abc1234" and options["model_format_name"] == "onnx"
    assert options["metadata"]["accuracy"] == "0.250000"
    assert options["metadata"]["data_properties_md5"] == prepared["dataset"].metadata["properties_md5"]
    assert sorted(key for _, key in cluster.s3.uploads) == [
        "jukebox/abc1234/label_encoder.pkl",
        "jukebox/abc1234/model.onnx",
        "jukebox/abc1234/scaler.pkl",
    ]
    assert list(cluster.storage.iterdir()) == [], "from the workbench (prod_flag false), nothing on the model volume"
    assert cluster.s3_options[0]["aws_secret_access_key"] == SECRET
    assert SECRET not in str(options) and SECRET not in capsys.readouterr().out


def test_a_ct_run_puts_the_model_where_the_model_car_takes_it_and_registers_in_prod(prepared, tmp_path, cluster):
    registered = gate_then_register(
        prepared, tmp_path, accuracy=0.25, model_storage_dir=str(cluster.storage), prod_flag=True
    )
    assert registered == "abc1234"
    gate, registry = FakeModelRegistry.instances
    assert registry.address == gate.address == "https://user1-prod-registry-rest.apps.example.com:443", "<user>-prod"
    ((name, _, options),) = registry.registered
    assert name == "jukebox" and options["version"] == "abc1234" and options["metadata"]["prod_flag"] == "true"
    assert cluster.s3.uploads == [], "a CT run's model goes to the volume, not the bucket"
    # build-modelcar copies jukebox.onnx to /models/1/ and artifacts/ to /models/1/artifacts/
    assert (cluster.storage / "jukebox.onnx").read_bytes() == open(prepared["onnx_model"].path, "rb").read()
    artifacts = {path.name for path in (cluster.storage / "artifacts").iterdir()}
    assert artifacts == {"scaler.pkl", "label_encoder.pkl", "frozen_training_requirements.txt"}
    frozen = (cluster.storage / "artifacts" / "frozen_training_requirements.txt").read_text()
    assert "onnx==" in frozen and "scikit-learn==" in frozen


def test_cluster_gate_refuses_before_uploading(prepared, tmp_path, cluster):
    FakeModelRegistry.production_accuracy = 0.5
    with pytest.raises(RuntimeError, match="below the production model"):
        gate_then_register(prepared, tmp_path, accuracy=0.25, model_storage_dir=str(cluster.storage))
    assert cluster.s3.uploads == [] and FakeModelRegistry.instances[0].registered == []
