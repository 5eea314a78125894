"""The compiled training pipeline: what a participant uploads to the cluster."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import components
from pipelinetools import TRAINING_STEPS

from jukebox.course.workshop_edits import fetch_from_dvc
from jukebox.data_contract import FEATURES
from jukebox.paths import REPO_ROOT

CHAPTER_3 = REPO_ROOT / "3-prod_datascience"
SECRETS = {"AWS_SECRET_ACCESS_KEY": "yaml-secret-sentinel-1", "password": "yaml-secret-sentinel-2"}


def compile_chapter(root, edit=None):
    """Copy chapter 3 under ``root`` (optionally edited), compile it with --compile, load the YAML.

    The feature repo's configuration comes along: the Feast fetch's default is read from it.
    """
    folder = root / "3-prod_datascience"
    folder.mkdir()
    (root / "7-feature_store" / "feature_repo").mkdir(parents=True)
    store = Path("7-feature_store") / "feature_repo" / "feature_store.yaml"
    (root / store).write_text((REPO_ROOT / store).read_text())
    script = folder / "prod_train_save_pipeline.py"
    for path in CHAPTER_3.glob("*.py"):
        (folder / path.name).write_text(path.read_text())
    (folder / "default_parameters.json").write_text((CHAPTER_3 / "default_parameters.json").read_text())
    if edit:
        script.write_text(edit(script.read_text()))
    env = {**os.environ, **SECRETS}
    subprocess.run([sys.executable, script.name, "--compile"], cwd=folder, env=env, check=True)
    path = folder / "training-pipeline.yaml"  # next to the script
    documents = list(yaml.safe_load_all(path.read_text()))
    return path, documents[0], documents[1]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Compile with the play button's --compile, with credentials in the environment."""
    return compile_chapter(tmp_path_factory.mktemp("compile"))


def test_yaml_loads_with_kfp(compiled):
    path, _, _ = compiled
    pipeline = components.load_component_from_file(str(path))
    assert pipeline.name == "kfp-training-pipeline"


def test_yaml_has_the_steps_in_order(compiled):
    _, spec, _ = compiled
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == set(TRAINING_STEPS)
    assert "validate-data" in tasks["preprocess-data"]["dependentTasks"]
    assert "validate-onnx-model" in tasks["push-to-model-registry"]["dependentTasks"]


def test_yaml_parameters_default_to_default_parameters_json(compiled):
    _, spec, _ = compiled
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {
        "hyperparameters",
        "model_name",
        "version",
        "cluster_domain",
        "model_storage_pvc",
        "prod_flag",
        "accuracy_tolerance",
    }
    assert parameters["prod_flag"]["defaultValue"] is False and parameters["prod_flag"]["parameterType"] == "BOOLEAN"
    assert parameters["model_name"]["defaultValue"] == "jukebox"
    assert parameters["hyperparameters"]["defaultValue"]["hidden_layer_sizes"] == [64, 32]


def test_fetch_data_reads_the_workshops_urls(compiled):
    _, spec, _ = compiled
    inputs = spec["root"]["dag"]["tasks"]["fetch-data"]["inputs"]["parameters"]
    raw = "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep"
    assert inputs["rankings_url"]["runtimeValue"]["constant"] == f"{raw}/song_rankings.parquet"
    assert inputs["properties_url"]["runtimeValue"]["constant"] == f"{raw}/song_properties.parquet"
    assert inputs["features"]["runtimeValue"]["constant"] == FEATURES


def test_yaml_has_the_cluster_config_of_the_register_step(compiled):
    _, _, platform = compiled
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    register = executors["exec-push-to-model-registry"]
    assert register["fieldPathAsEnv"] == [{"name": "namespace", "fieldPath": "metadata.namespace"}]
    (secret,) = register["secretAsEnv"]
    assert secret["secretName"] == "aws-connection-models"
    assert {item["envVar"] for item in secret["keyToEnv"]} >= {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_S3_BUCKET",
    }
    (pvc,) = register["pvcMount"]
    assert pvc["mountPath"] == "/models"
    assert pvc["pvcNameParameter"]["componentInputParameter"] == "model_storage_pvc"


def test_components_install_exactly_the_kits_pins(compiled):
    _, spec, _ = compiled
    requirements = set((REPO_ROOT / "requirements.txt").read_text().splitlines())
    installed = set()
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["image"] == "python:3.11-slim"
        installed |= set(re.findall(r"'([A-Za-z0-9_.\-]+==[^']+)'", " ".join(container["command"])))
    assert {"pandas", "scikit-learn", "mlflow", "kfp"} <= {pin.split("==")[0] for pin in installed}
    assert installed <= requirements, f"not pinned in requirements.txt: {installed - requirements}"


def test_yaml_contains_no_credential_value(compiled):
    path, _, _ = compiled
    text = path.read_text()
    for value in SECRETS.values():
        assert value not in text


def test_the_dvc_block_compiles_with_the_workshops_cluster_config(tmp_path):
    path, spec, platform = compile_chapter(tmp_path, edit=fetch_from_dvc)
    tasks = spec["root"]["dag"]["tasks"]
    assert "fetch-data-from-dvc" in tasks and "fetch-data" not in tasks
    assert tasks["fetch-data-from-dvc"]["inputs"]["parameters"]["git_version"]["componentInputParameter"] == "version"
    fetch = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-fetch-data-from-dvc"]
    assert fetch["fieldPathAsEnv"] == [{"name": "namespace", "fieldPath": "metadata.namespace"}]
    secrets = {secret["secretName"]: {item["envVar"] for item in secret["keyToEnv"]} for secret in fetch["secretAsEnv"]}
    assert secrets["git-auth"] == {"username", "password"}
    assert {"AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= secrets["aws-connection-data"]
    text = path.read_text()
    assert all(value not in text for value in SECRETS.values())
