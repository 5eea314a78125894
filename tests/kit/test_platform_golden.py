"""What reaches the cluster besides the DAG: each compiled pipeline's platform section, as golden copies.

The platform section of a compiled YAML (its second document) says which secrets become which
environment variables, which field paths and volumes each step gets. A change there changes what
the cluster must provide, so it should be seen in review: the golden copies in ``tests/kit/golden/``
make it a diff. After an intended change, regenerate them with
``JUKEBOX_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/kit/test_platform_golden.py``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jukebox.course.workshop_edits import fetch_from_dvc, fetch_from_feast
from jukebox.paths import REPO_ROOT

GOLDEN = Path(__file__).with_name("golden")
PIPELINES = {
    # golden file: (chapter, script, its YAML, an edit participants make first)
    "training-pipeline.platform.yaml": (
        "3-prod_datascience",
        "prod_train_save_pipeline.py",
        "training-pipeline.yaml",
        None,
    ),
    "training-pipeline-dvc.platform.yaml": (
        "3-prod_datascience",
        "prod_train_save_pipeline.py",
        "training-pipeline.yaml",
        fetch_from_dvc,
    ),
    "training-pipeline-feast.platform.yaml": (
        "3-prod_datascience",
        "prod_train_save_pipeline.py",
        "training-pipeline.yaml",
        fetch_from_feast,
    ),
    "data-pipeline-url-to-s3.platform.yaml": (
        "5-data-versioning",
        "1-data_pipeline_url_to_s3.py",
        "data-pipeline-url-to-s3.yaml",
        None,
    ),
    "song-properties-etl.platform.yaml": (
        "5-data-versioning",
        "4-data_pipeline_with_dvc_versioning.py",
        "song-properties-etl.yaml",
        None,
    ),
    "song-properties-etl-feast.platform.yaml": (
        "7-feature_store",
        "5-data_pipeline_with_materialize.py",
        "song-properties-etl.yaml",
        None,
    ),
}
FEATURE_REPO = "7-feature_store/feature_repo"  # the Feast steps carry its feature_store.yaml


def compiled_platform(tmp_path: Path, chapter: str, script: str, yaml_name: str, edit) -> str:
    """Compile ``script`` with ``--compile`` in a copy of its chapter; return its platform section."""
    folder = tmp_path / chapter

    def compiled_or_cache(parent: str, names: list[str]) -> list[str]:
        return [
            name
            for name in names
            if name == "__pycache__" or (parent == str(REPO_ROOT / chapter) and name.endswith(".yaml"))
        ]

    shutil.copytree(REPO_ROOT / chapter, folder, ignore=compiled_or_cache, dirs_exist_ok=True)
    if not (tmp_path / FEATURE_REPO).exists():
        shutil.copytree(REPO_ROOT / FEATURE_REPO, tmp_path / FEATURE_REPO, ignore=shutil.ignore_patterns("__pycache__"))
    if edit:
        (folder / script).write_text(edit((folder / script).read_text()))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MLFLOW_", "JUKEBOX_"))}
    env["JUKEBOX_LAB_HOME"] = str(tmp_path / "no-lab")
    subprocess.run([sys.executable, script, "--compile"], cwd=folder, env=env, check=True, capture_output=True)
    _, platform = yaml.safe_load_all((folder / yaml_name).read_text())
    return yaml.safe_dump(platform, sort_keys=True, allow_unicode=True)


@pytest.mark.parametrize("golden", PIPELINES)
def test_the_platform_section_matches_its_golden_copy(tmp_path, golden):
    platform = compiled_platform(tmp_path, *PIPELINES[golden])
    path = GOLDEN / golden
    if os.environ.get("JUKEBOX_UPDATE_GOLDEN"):
        path.write_text(platform)
    assert path.exists(), f"No golden copy {path.name}: create it with JUKEBOX_UPDATE_GOLDEN=1."
    assert platform == path.read_text(), (
        f"What {golden.removesuffix('.platform.yaml')} asks of the cluster changed (secrets, field paths, volumes): "
        "review the diff, then regenerate with JUKEBOX_UPDATE_GOLDEN=1."
    )


@pytest.mark.parametrize(
    "golden",
    [
        "training-pipeline.platform.yaml",
        "training-pipeline-feast.platform.yaml",
        "song-properties-etl-feast.platform.yaml",
    ]
    + ["song-properties-etl.platform.yaml"],
)
def test_every_component_parameter_is_described_for_the_dashboard(tmp_path, golden):
    """``Args:`` docstrings become the inputs' descriptions in the compiled YAML (and the dashboard)."""
    chapter, script, yaml_name, edit = PIPELINES[golden]
    compiled_platform(tmp_path, chapter, script, yaml_name, edit)
    spec, _ = yaml.safe_load_all((tmp_path / chapter / yaml_name).read_text())
    undescribed = [
        f"{component}.{name}"
        for component, definition in spec["components"].items()
        for kind in ("inputDefinitions",)
        for group in definition.get(kind, {}).values()
        for name, parameter in group.items()
        if not parameter.get("description")
    ]
    assert not undescribed, f"no Args: description for {', '.join(undescribed)}"
