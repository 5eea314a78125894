"""Chapter 7, step 5: the data pipeline, now feeding the feature store.

read the current ``s3://data/song_properties.parquet`` ─────────────────┐
extract the new songs at ``dataset_url`` → transform → validate (the contract) ┴→ add the new or
changed songs, stamped now → load back to S3 → materialize what changed into the online store →
version with DVC in your ``jukebox`` repo at ``repo_url`` and push (which triggers CT).

The song properties are kept as a history: a song already known keeps its earlier rows, so the
charts of the past are still joined with the properties they were made with; the same file twice
changes nothing (no S3 write, no new online row, no commit). A bad file stops the run before
anything is written.

Run this file (the play button): it writes ``song-properties-etl.yaml`` next to itself; upload it
in the dashboard as a new version of pipeline ``data-pipeline-with-dvc`` and start the run
``data-pipeline-with-feast-adhoc-run`` with ``dataset_url`` = the new song's parquet. ``--local``
runs it here, in the local lab (``--set dataset_url=...`` to choose the file).
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp import dsl

from jukebox.components.connections import use_data_connection, use_git_auth, use_namespace
from jukebox.components.dvc_versioning import version_with_dvc
from jukebox.components.materialization import materialize_features
from jukebox.components.song_etl import extract_data, load_data, transform_data
from jukebox.components.song_history import add_new_songs, read_current_songs
from jukebox.components.validation import validate_data
from jukebox.data_contract import FEATURES, SONG_PROPERTIES
from jukebox.pipeline_script import run_pipeline_script, script_folder

SONG_PROPERTIES_URL = (
    "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep/song_properties.parquet"
)
REPO_URL = "https://gitea-gitea.apps.cluster.example.com/user1/jukebox.git"  # your repo: your user, your cluster
# The feature store's configuration travels in the pipeline (a pod has the pipeline, not the repo).
FEATURE_STORE_YAML = (script_folder() / "feature_repo" / "feature_store.yaml").read_text()


@dsl.pipeline(
    name="data-pipeline-with-dvc",
    description="Adds new songs to s3://data, materializes them into the feature store and versions them.",
)
def data_pipeline_with_materialize(dataset_url: str = SONG_PROPERTIES_URL, repo_url: str = REPO_URL):
    current_task = read_current_songs()
    extract_task = extract_data(dataset_url=dataset_url)
    transform_task = transform_data(dataset=extract_task.outputs["dataset"])
    validate_task = validate_data(dataset=transform_task.outputs["transformed"], contract=SONG_PROPERTIES)
    add_task = add_new_songs(
        songs=current_task.outputs["songs"], new_songs=transform_task.outputs["transformed"], features=FEATURES
    ).after(validate_task)
    load_task = load_data(dataset=add_task.outputs["combined"])
    materialize_task = materialize_features(
        feature_store_yaml=FEATURE_STORE_YAML, songs=add_task.outputs["combined"]
    ).after(load_task)
    version_task = version_with_dvc(repo_url=repo_url).after(materialize_task)
    for task in (current_task, extract_task, load_task, materialize_task, version_task):
        task.set_caching_options(False)
    for task in (current_task, load_task, materialize_task, version_task):  # the steps that use S3
        use_data_connection(task)
    use_git_auth(version_task)
    use_namespace(version_task)


if __name__ == "__main__":
    run_pipeline_script(
        data_pipeline_with_materialize,
        arguments={},
        yaml_path="song-properties-etl.yaml",
        experiment_name="data-pipeline-with-dvc",
        compile_by_default=True,
    )
