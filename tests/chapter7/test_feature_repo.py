"""Chapter 7's feature repo, without a lab: its names follow the data contract, its files hold no
endpoint or credential, and a missing variable is one clear sentence."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jukebox import feature_store
from jukebox.chapter_edits import comment_out
from jukebox.data_contract import FEATURE_RULES, FEATURES
from jukebox.lab import environment
from jukebox.paths import REPO_ROOT

FEAST_TYPES = {"boolean": "Bool", "integer": "Int64", "number": "Float32"}

# Prints, for each feature repo folder given, its feature view's fields and its feature service's
# features, read by Feast itself; one process for all of them (Feast's import is 5 s of CPU).
DESCRIBE = """
import json, os, sys
from feast.repo_operations import parse_repo
from pathlib import Path
for folder in sys.argv[1:]:
    os.chdir(folder)
    sys.path[0] = folder  # the repo's own modules (feature_service.py imports features.py), not the last repo's
    for name in ("features", "feature_service"):
        sys.modules.pop(name, None)
    repo = parse_repo(Path.cwd())
    (view,) = repo.feature_views
    (service,) = repo.feature_services
    print(json.dumps({
        "folder": folder,
        "view": view.name,
        "entities": view.entities,
        "fields": [[field.name, str(field.dtype)] for field in view.features],
        "service": service.name,
        "served": [field.name for projection in service.feature_view_projections for field in projection.features],
        "endpoint": view.batch_source.s3_endpoint_override,
    }))
"""
POINTED = [FEATURES[0], "key", FEATURES[-1]]  # the first, one inside, the last


def loudness_commented_by_hand(service: str) -> str:
    """``feature_service.py`` with ``loudness`` commented out as one edits line 14 by hand."""
    lines = service.splitlines(keepends=True)
    (index,) = [i for i, line in enumerate(lines) if line.strip() == '"loudness",']
    lines[index] = lines[index].replace('"loudness"', '# "loudness"')
    return "".join(lines)


def commented_with_the_workshops_pointer(feature: str):
    """The edit of the workshop's instructions for ``feature``: its line as a comment, with the 👈 pointer."""

    def edit(service: str) -> str:
        (line,) = [line.strip() for line in service.splitlines() if line.strip().rstrip(",") == f'"{feature}"']
        return comment_out(service, f"# {line} # 👈 change this to a comment")

    return edit


@pytest.fixture(scope="module")
def described(tmp_path_factory) -> dict[str, dict]:
    """The feature repo as shipped and after each edit above, as Feast reads it (name → description)."""
    edits = {"loudness by hand": loudness_commented_by_hand}
    edits.update({feature: commented_with_the_workshops_pointer(feature) for feature in POINTED})
    repos = {"as shipped": feature_store.FEATURE_REPO}
    for name, edit in edits.items():
        repo = shutil.copytree(feature_store.FEATURE_REPO, tmp_path_factory.mktemp("feature_repo"), dirs_exist_ok=True)
        (repo / "feature_service.py").write_text(edit((repo / "feature_service.py").read_text()))
        repos[name] = repo
    result = subprocess.run(
        [sys.executable, "-c", DESCRIBE, *map(str, repos.values())], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found = {line["folder"]: line for line in map(json.loads, result.stdout.splitlines()[-len(repos) :])}
    return {name: found[str(repo)] for name, repo in repos.items()}


def test_the_feature_view_and_service_hold_the_contracts_13_features_in_order(described):
    repo = described["as shipped"]
    assert repo["view"] == "song_properties" and repo["entities"] == ["music"]
    assert [name for name, _ in repo["fields"]] == FEATURES
    assert [dtype for _, dtype in repo["fields"]] == [FEAST_TYPES[FEATURE_RULES[name]["type"]] for name in FEATURES]
    assert repo["service"] == "serving_fs" and repo["served"] == FEATURES
    assert repo["endpoint"] == "", "the source must not carry an S3 endpoint (it would be frozen into the registry)"


def test_commenting_out_loudness_is_a_one_line_edit(described):
    assert described["loudness by hand"]["served"] == [name for name in FEATURES if name != "loudness"]


@pytest.mark.parametrize("feature", POINTED)
def test_any_feature_leaves_by_commenting_its_line_with_the_workshops_pointer(described, feature):
    assert described[feature]["served"] == [name for name in FEATURES if name != feature]


def test_loudness_is_line_14_as_the_workshop_says_and_the_formatter_keeps_it():
    service = feature_store.FEATURE_REPO / "feature_service.py"
    assert service.read_text().splitlines()[13].strip() == '"loudness",'
    formatted = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "format", "--diff", "--force-exclude", str(service)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0 and formatted.stdout == "", formatted.stdout


def test_no_endpoint_or_generated_credential_is_written_in_the_configurations():
    files = [*feature_store.FEATURE_REPO.iterdir(), environment.LAB_FEATURE_STORE]
    for path in (path for path in files if path.suffix in (".py", ".yaml")):
        settings = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"https?://|127\.0\.0\.1|s3_endpoint_override", settings), path
        # the cluster's: the chart's fixed in-namespace user (feast/feast); the lab's: none
        assert set(re.findall(r"password:\s*(.+)", settings)) <= {"feast"}, path
        assert set(re.findall(r"://(\w+:\w+)@", settings)) <= {"feast:feast"}, path


def test_the_cluster_configuration_needs_no_variable_and_names_the_workshops_feast_service():
    config = yaml.safe_load((feature_store.FEATURE_REPO / "feature_store.yaml").read_text())
    assert "${" not in (feature_store.FEATURE_REPO / "feature_store.yaml").read_text()
    assert config["project"] == "music" and config["entity_key_serialization_version"] == 3
    assert config["registry"]["path"] == "postgresql+psycopg://feast:feast@feast:5432/feast"
    assert {key: config["online_store"][key] for key in ("type", "host", "database", "user")} == {
        "type": "postgres",
        "host": "feast",
        "database": "feast",
        "user": "feast",
    }


def test_a_configuration_names_what_it_misses_in_one_sentence(monkeypatch):
    monkeypatch.setenv("FEAST_FS_YAML_FILE_PATH", str(environment.LAB_FEATURE_STORE))
    for name in ("username", "JUKEBOX_LAB_HOME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError) as error:
        feature_store.open_store()
    message = str(error.value)
    assert "needs the environment variables JUKEBOX_LAB_HOME, username:" in message
    assert message.count(".") <= 4 and "\n" not in message


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
