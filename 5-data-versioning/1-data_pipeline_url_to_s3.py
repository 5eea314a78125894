"""Chapter 5, step 1: a tiny ETL that moves the song properties from a URL into ``s3://data``.

extract (download the parquet) → transform (lower-case column names) → validate (the data contract)
→ load (write ``s3://data/song_properties.parquet``). A bad file stops the run before S3 is written.

Run this file (the play button, or ``python 1-data_pipeline_url_to_s3.py``): in a cluster workbench
it is submitted to the pipeline server; anywhere else it runs on this machine, in the local lab.
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp import dsl

from jukebox.components.connections import use_data_connection
from jukebox.components.song_etl import extract_data, load_data, transform_data
from jukebox.components.validation import validate_data
from jukebox.data_contract import SONG_PROPERTIES
from jukebox.pipeline_script import run_pipeline_script

SONG_PROPERTIES_URL = (
    "https://raw.githubusercontent.com/rhoai-mlops/jukebox/refs/heads/main/99-data_prep/song_properties.parquet"
)


@dsl.pipeline(name="data-pipeline-url-to-s3", description="Copies the song properties from a URL to s3://data.")
def data_pipeline_url_to_s3(dataset_url: str = SONG_PROPERTIES_URL):
    extract_task = extract_data(dataset_url=dataset_url)
    extract_task.set_caching_options(False)
    transform_task = transform_data(dataset=extract_task.outputs["dataset"])
    validate_task = validate_data(dataset=transform_task.outputs["transformed"], contract=SONG_PROPERTIES)
    load_task = load_data(dataset=transform_task.outputs["transformed"]).after(validate_task)
    load_task.set_caching_options(False)
    use_data_connection(load_task)  # only the step that writes to S3 gets its credentials


if __name__ == "__main__":
    run_pipeline_script(
        data_pipeline_url_to_s3,
        arguments={},
        yaml_path="data-pipeline-url-to-s3.yaml",
        experiment_name="data-pipeline-url-to-s3",
    )
