"""Chapter 5, step 4: a data pipeline that versions the data it loads, with DVC.

extract → transform → validate (the data contract) → load to ``s3://data/song_properties.parquet``
→ version it with DVC in your ``jukebox`` repo at ``repo_url`` and push to main (which triggers the
CT training pipeline).
Unchanged data gives no commit.

Run this file (the play button): it writes ``song-properties-etl.yaml`` next to itself; import it
in the dashboard as pipeline ``data-pipeline-with-dvc`` and schedule it. ``--local`` runs it here,
in the local lab (with your repo on the lab's git server as ``repo_url``).
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp import dsl

from jukebox.components.connections import use_data_connection, use_git_auth, use_namespace
from jukebox.components.dvc_versioning import version_with_dvc
from jukebox.components.song_etl import extract_data, load_data, transform_data
from jukebox.components.validation import validate_data
from jukebox.data_contract import SONG_PROPERTIES
from jukebox.pipeline_script import run_pipeline_script

SONG_PROPERTIES_URL = (
    "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep/song_properties.parquet"
)
REPO_URL = "https://gitea-gitea.apps.cluster.example.com/user1/jukebox.git"  # your repo: your user, your cluster


@dsl.pipeline(name="data-pipeline-with-dvc", description="Loads the song properties to s3://data and versions them.")
def data_pipeline_with_dvc(dataset_url: str = SONG_PROPERTIES_URL, repo_url: str = REPO_URL):
    extract_task = extract_data(dataset_url=dataset_url)
    extract_task.set_caching_options(False)
    transform_task = transform_data(dataset=extract_task.outputs["dataset"])
    validate_task = validate_data(dataset=transform_task.outputs["transformed"], contract=SONG_PROPERTIES)
    load_task = load_data(dataset=transform_task.outputs["transformed"]).after(validate_task)
    load_task.set_caching_options(False)
    version_task = version_with_dvc(repo_url=repo_url).after(load_task)
    version_task.set_caching_options(False)
    for task in (load_task, version_task):  # only the steps that use S3 get its credentials
        use_data_connection(task)
    use_git_auth(version_task)
    use_namespace(version_task)


if __name__ == "__main__":
    run_pipeline_script(
        data_pipeline_with_dvc,
        arguments={},
        yaml_path="song-properties-etl.yaml",
        experiment_name="data-pipeline-with-dvc",
        compile_by_default=True,
    )
