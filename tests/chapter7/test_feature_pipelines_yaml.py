"""Chapter 7's compiled pipelines, without a lab: the steps, the feature store's configuration, no credential.

The play button of ``5-data_pipeline_with_materialize.py`` writes ``song-properties-etl.yaml``;
the training pipeline with its Feast block switched on compiles too. Both are compiled with
credentials in the environment (as in a workbench): none may reach the YAML, which carries the
feature store's configuration with its ``${VARIABLES}`` only.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jukebox.course.workshop_edits import fetch_from_feast
from jukebox.paths import REPO_ROOT

SENTINELS = {
    "AWS_ACCESS_KEY_ID": "feast-yaml-sentinel-key",
    "AWS_SECRET_ACCESS_KEY": "feast-yaml-sentinel-secret",
    "password": "feast-yaml-sentinel-git",
    "FEAST_DB_PASSWORD": "feast-yaml-sentinel-db",
    "FEAST_DB_HOST": "feast-yaml-sentinel-host.example.com",
}
ETL_STEPS = [
    "read-current-songs",
    "extract-data",
    "transform-data",
    "validate-data",
    "add-new-songs",
    "load-data",
    "materialize-features",
    "version-with-dvc",
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, Path]:
    """The ETL (play button) and the Feast training pipeline, compiled in a copy of the kit's chapters."""
    root = tmp_path_factory.mktemp("kit")
    for chapter in ("3-prod_datascience", "7-feature_store"):
        shutil.copytree(REPO_ROOT / chapter, root / chapter, ignore=shutil.ignore_patterns("*-*.yaml", "__pycache__"))
    training = root / "3-prod_datascience" / "prod_train_save_pipeline.py"
    training.write_text(fetch_from_feast(training.read_text()))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "JUKEBOX_LAB_HOME": str(root / "no-lab"), **SENTINELS}
    for folder, command in (
        ("7-feature_store", ["5-data_pipeline_with_materialize.py"]),
        ("3-prod_datascience", [training.name, "--compile"]),
    ):
        result = subprocess.run([sys.executable, *command], cwd=root / folder, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    return {
        "etl": root / "7-feature_store" / "song-properties-etl.yaml",
        "training": root / "3-prod_datascience" / "training-pipeline.yaml",
    }


def test_the_play_button_writes_the_etl_with_its_steps_in_order(compiled):
    spec, _ = yaml.safe_load_all(compiled["etl"].read_text())
    assert spec["pipelineInfo"]["name"] == "data-pipeline-with-dvc", "a new version of chapter 5's pipeline"
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"dataset_url", "repo_url"}
    assert sorted(spec["root"]["dag"]["tasks"]) == sorted(ETL_STEPS)
    dependencies = {name: set(task.get("dependentTasks", [])) for name, task in spec["root"]["dag"]["tasks"].items()}
    assert {"validate-data", "read-current-songs"} <= dependencies["add-new-songs"], "validate before adding"
    assert (
        "load-data" in dependencies["materialize-features"]
        and "materialize-features" in dependencies["version-with-dvc"]
    )


def test_the_feast_steps_carry_the_feature_repos_configuration_as_written(compiled):
    config = (REPO_ROOT / "7-feature_store" / "feature_repo" / "feature_store.yaml").read_text()
    etl, _ = yaml.safe_load_all(compiled["etl"].read_text())
    (value,) = [
        task["inputs"]["parameters"]["feature_store_yaml"]["runtimeValue"]["constant"]
        for task in etl["root"]["dag"]["tasks"].values()
        if "feature_store_yaml" in task.get("inputs", {}).get("parameters", {})
    ]
    assert value == config, "the ETL's materialize step: the feature repo's feature_store.yaml, as written"
    training, _ = yaml.safe_load_all(compiled["training"].read_text())
    feast_inputs = training["root"]["dag"]["tasks"]["fetch-data-from-feast"]["inputs"]["parameters"]
    assert feast_inputs["feature_store_yaml"]["runtimeValue"]["constant"] == config, "the kit gives it"
    assert feast_inputs["version"]["componentInputParameter"] == "version", "the workshop's call gives version"


def test_the_feast_steps_get_only_the_data_connection(compiled):
    for path in compiled.values():
        _, platform = yaml.safe_load_all(path.read_text())
        executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for name in ("exec-fetch-data-from-feast", "exec-materialize-features"):
            if name in executors:
                secrets = [secret["secretName"] for secret in executors[name]["secretAsEnv"]]
                assert secrets == ["aws-connection-data"], f"{path.name} {name}: {secrets}"


def test_no_credential_from_the_environment_is_in_the_yaml(compiled):
    for path in compiled.values():
        text = path.read_text()
        for value in SENTINELS.values():
            assert value not in text, f"{value} appears in {path.name}"
