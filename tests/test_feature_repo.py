"""Chapter 7's feature repo, without a lab: its names follow the data contract, its files hold no
endpoint or credential, and a missing variable is one clear sentence."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from jukebox import feature_store
from jukebox.data_contract import FEATURE_RULES, FEATURES
from jukebox.lab import environment

CHAPTER = "7-feature_store"

FEAST_TYPES = {"boolean": "Bool", "integer": "Int64", "number": "Float32"}

# Prints the feature view's fields and the feature service's features, read by Feast itself.
DESCRIBE = """
import json
from feast.repo_operations import parse_repo
from pathlib import Path
repo = parse_repo(Path.cwd())
(view,) = repo.feature_views
(service,) = repo.feature_services
print(json.dumps({
    "view": view.name,
    "entities": view.entities,
    "fields": [[field.name, str(field.dtype)] for field in view.features],
    "service": service.name,
    "served": [field.name for projection in service.feature_view_projections for field in projection.features],
    "endpoint": view.batch_source.s3_endpoint_override,
}))
"""


def describe(repo) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", DESCRIBE], cwd=repo, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_the_feature_view_and_service_hold_the_contracts_13_features_in_order():
    repo = describe(feature_store.FEATURE_REPO)
    assert repo["view"] == "song_properties" and repo["entities"] == ["music"]
    assert [name for name, _ in repo["fields"]] == FEATURES
    assert [dtype for _, dtype in repo["fields"]] == [FEAST_TYPES[FEATURE_RULES[name]["type"]] for name in FEATURES]
    assert repo["service"] == "serving_fs" and repo["served"] == FEATURES
    assert repo["endpoint"] == "", "the source must not carry an S3 endpoint (it would be frozen into the registry)"


def test_commenting_out_loudness_is_a_one_line_edit(tmp_path):
    repo = shutil.copytree(feature_store.FEATURE_REPO, tmp_path / "feature_repo")
    service = repo / "feature_service.py"
    lines = service.read_text().splitlines(keepends=True)
    (index,) = [i for i, line in enumerate(lines) if line.strip() == '"loudness",']
    lines[index] = lines[index].replace('"loudness"', '# "loudness"')
    service.write_text("".join(lines))
    assert describe(repo)["served"] == [name for name in FEATURES if name != "loudness"]


def test_no_endpoint_or_credential_is_written_in_the_configurations():
    files = [*feature_store.FEATURE_REPO.iterdir(), environment.LAB_FEATURE_STORE]
    for path in (path for path in files if path.suffix in (".py", ".yaml")):
        settings = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"https?://|127\.0\.0\.1|s3_endpoint_override", settings), path
        for value in re.findall(r"password:\s*(.+)", settings):
            assert value.strip() == '"${FEAST_DB_PASSWORD}"', path


def test_the_cluster_configuration_names_what_it_misses_in_one_sentence(monkeypatch):
    monkeypatch.delenv("FEAST_FS_YAML_FILE_PATH", raising=False)
    for name in ("FEAST_DB_HOST", "FEAST_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("username", "user1")
    for name in ("FEAST_DB_PORT", "FEAST_DB_NAME", "FEAST_DB_USER"):
        monkeypatch.setenv(name, "x")
    with pytest.raises(RuntimeError) as error:
        feature_store.open_store()
    message = str(error.value)
    assert "needs the environment variables FEAST_DB_HOST, FEAST_DB_PASSWORD:" in message
    assert message.count(".") <= 3 and "\n" not in message


def test_the_lab_configuration_is_chosen_by_feasts_own_variable(monkeypatch):
    monkeypatch.setenv("FEAST_FS_YAML_FILE_PATH", str(environment.LAB_FEATURE_STORE))
    assert feature_store.config_file() == environment.LAB_FEATURE_STORE
    monkeypatch.delenv("FEAST_FS_YAML_FILE_PATH")
    assert feature_store.config_file() == feature_store.FEATURE_REPO / "feature_store.yaml"


def test_the_kits_s3_endpoint_variable_is_the_one_feast_reads(monkeypatch):
    monkeypatch.setenv("AWS_S3_ENDPOINT", "http://s3.example:9000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://someone-else:9000")
    feature_store.use_own_s3_endpoint()
    assert os.environ["AWS_ENDPOINT_URL_S3"] == "http://s3.example:9000"
