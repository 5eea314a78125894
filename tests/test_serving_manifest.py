"""The cluster's InferenceService for jukebox: a valid KServe resource, run with arguments the transformer takes."""

import re

import kserve.models
import kubernetes.client
import pytest
import yaml

from jukebox.paths import REPO_ROOT
from jukebox.serving import transformer

CHAPTER = "7-feature_store"

MANIFEST = REPO_ROOT / "7-feature_store" / "serving" / "jukebox-inference-service.yaml"
PLACEHOLDERS = {"<version>", "<namespace>", "<image>"}


def build(data, kind: str):
    """``data`` as the OpenAPI model ``kind`` (kserve's models, else Kubernetes'), refusing any unknown field.

    kserve's own ``ApiClient`` knows its models only (not ``V1ObjectMeta``, ``V1Container``…), so
    this walks the same ``openapi_types``; building each model runs its checks of required fields.
    """
    if kind.startswith("list["):
        assert isinstance(data, list), f"{data!r} is not a list ({kind})"
        return [build(item, kind[5:-1]) for item in data]
    if kind.startswith("dict("):
        value_kind = kind[5:-1].split(", ", 1)[1]
        return {key: build(value, value_kind) for key, value in data.items()}
    if kind in ("str", "int", "bool", "float", "object"):
        expected = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}[kind]
        assert isinstance(data, expected), f"{data!r} is not a {kind}"
        return data
    model = getattr(kserve.models, kind, None) or getattr(kubernetes.client, kind)
    fields = {json_name: name for name, json_name in model.attribute_map.items()}
    unknown = set(data) - set(fields)
    assert not unknown, f"{kind} has no field {sorted(unknown)}"
    return model(**{fields[key]: build(value, model.openapi_types[fields[key]]) for key, value in data.items()})


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_it_is_a_valid_inference_service_named_jukebox(manifest):
    service = build(manifest, "V1beta1InferenceService")
    assert (service.api_version, service.kind, service.metadata.name) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
        "jukebox",
    )
    model = service.spec.predictor.model
    assert model.model_format.name == "onnx"
    assert model.storage_uri == "s3://models/jukebox/<version>/", "where register_in_kubeflow uploads a version"
    assert model.storage.key == "aws-connection-models"
    (container,) = service.spec.transformer.containers
    assert container.command == ["python", "-m", "jukebox.serving.transformer"]
    assert {item.name: item.value for item in container.env} == {"STORAGE_URI": model.storage_uri}


def test_the_transformer_takes_its_arguments(manifest):
    (container,) = manifest["spec"]["transformer"]["containers"]
    options = transformer.arguments(container["args"])
    assert options.host == "0.0.0.0", "in a pod, the transformer listens on every address"
    assert options.model_name == "jukebox" and options.http_port == 8080
    assert options.feature_service == "serving_fs" and options.entity_id_name == "spotify_id"
    assert options.feature_server_url == "http://feature-server-service.<namespace>.svc.cluster.local:6566"
    assert (options.model_dir, options.model_version) == ("/mnt/models", "<version>")
    assert options.predictor_protocol == "v2" and options.predictor_host.startswith("jukebox-predictor.")


def test_secrets_are_named_never_written(manifest):
    text = MANIFEST.read_text()
    (container,) = manifest["spec"]["transformer"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "aws-connection-models"}}]
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(?i)(password|secret_access_key|access_key_id|token)\s*[:=]", settings)
    assert not re.search(r"https?://[^/\s]*@", settings), "no credentials in a URL"


def test_the_comment_says_how_to_apply_it_and_what_to_replace():
    text = MANIFEST.read_text()
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "oc apply -f 7-feature_store/serving/jukebox-inference-service.yaml" in comment
    assert set(re.findall(r"<[a-z]+>", text)) == PLACEHOLDERS
    for placeholder in PLACEHOLDERS:
        assert re.search(rf"^#\s+{placeholder}\s", comment, flags=re.MULTILINE), f"{placeholder} is explained"
