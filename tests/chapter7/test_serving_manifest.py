"""The cluster's InferenceService for jukebox: a valid KServe resource, run with arguments the transformer takes."""

import re

import kserve.models
import kubernetes.client
import pytest
import yaml

from jukebox.paths import REPO_ROOT
from jukebox.serving import transformer

SERVING = REPO_ROOT / "7-feature_store" / "serving"
MANIFESTS = {  # a version from the workbench (in s3://models), one that CT deployed (its model car)
    "s3": SERVING / "jukebox-inference-service.yaml",
    "modelcar": SERVING / "jukebox-inference-service-modelcar.yaml",
}
PLACEHOLDERS = {
    "s3": {"<version>", "<namespace>", "<image>"},
    "modelcar": {"<version>", "<namespace>", "<image>", "<registry>"},
}


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


@pytest.fixture(params=sorted(MANIFESTS))
def layout(request) -> str:
    return request.param


def load(layout: str) -> dict:
    return yaml.safe_load(MANIFESTS[layout].read_text())


def transformer_container(manifest: dict) -> dict:
    """The container that runs the kit's transformer: KServe's transformer, or the one beside the model server."""
    spec = manifest["spec"]
    containers = spec["transformer"]["containers"] if "transformer" in spec else spec["predictor"]["containers"][1:]
    (container,) = containers
    return container


def test_it_is_a_valid_inference_service_named_jukebox(layout):
    manifest = load(layout)
    service = build(manifest, "V1beta1InferenceService")
    assert (service.api_version, service.kind, service.metadata.name) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
        "jukebox",
    )
    container = transformer_container(manifest)
    assert container["command"] == ["python", "-m", "jukebox.serving.transformer"]
    if layout == "s3":
        model = service.spec.predictor.model
        assert model.model_format.name == "onnx"
        assert model.storage_uri == "s3://models/jukebox/<version>/", "where register_in_kubeflow uploads a version"
        assert model.storage.key == "aws-connection-models"
        assert {item["name"]: item["value"] for item in container["env"]} == {"STORAGE_URI": model.storage_uri}
    else:  # as the workshop's music-transformer-with-feast: the model server and the transformer in one pod
        server, transformer_part = service.spec.predictor.containers
        assert (server.name, transformer_part.name) == ("kserve-container", "transformer-container")
        assert "openvino-model-server" in server.image
        assert {item.name: item.value for item in server.env} == {"STORAGE_URI": "oci://<registry>/jukebox:<version>"}
        assert "--model_path=/mnt/models" in server.args and "--model_name=jukebox" in server.args


def test_the_transformer_takes_its_arguments(layout):
    manifest = load(layout)
    options = transformer.arguments(transformer_container(manifest)["args"])
    assert options.host == "0.0.0.0", "in a pod, the transformer listens on every address"
    assert options.model_name == "jukebox" and options.http_port == 8080
    assert options.feature_service == "serving_fs" and options.entity_id_name == "spotify_id"
    assert options.feature_server_url == "http://feature-server-service.<namespace>.svc.cluster.local:6566"
    assert options.predictor_protocol == "v2" and options.model_version == "<version>"
    if layout == "s3":
        assert options.model_dir == "/mnt/models" and options.predictor_host.startswith("jukebox-predictor.")
    else:  # the model car's /mnt/models/1/ (jukebox.onnx, artifacts/), the model server beside it
        (server, _) = manifest["spec"]["predictor"]["containers"]
        assert options.model_dir == "/mnt/models/1"
        assert options.predictor_host == "localhost:8085" and "--rest_port=8085" in server["args"]


def test_secrets_are_named_never_written(layout):
    text = MANIFESTS[layout].read_text()
    container = transformer_container(load(layout))
    expected = [{"secretRef": {"name": "aws-connection-models"}}] if layout == "s3" else None
    assert container.get("envFrom") == expected, "the model car needs no S3 credentials"
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(?i)(password|secret_access_key|access_key_id|token)\s*[:=]", settings)
    assert not re.search(r"https?://[^/\s]*@", settings), "no credentials in a URL"


def test_the_comment_says_how_to_apply_it_and_what_to_replace(layout):
    text = MANIFESTS[layout].read_text()
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert f"oc apply -f 7-feature_store/serving/{MANIFESTS[layout].name}" in comment
    assert set(re.findall(r"<[a-z]+>", text)) == PLACEHOLDERS[layout]
    for placeholder in PLACEHOLDERS[layout]:
        assert re.search(rf"^#\s+{placeholder}\s", comment, flags=re.MULTILINE), f"{placeholder} is explained"
