"""Chapter 3: the continuous-training (CT) pipeline.

fetch data → validate → preprocess → train → convert to ONNX → validate the ONNX model →
evaluate → register the model (if it is at least as good as production).

Run this file (the play button, or ``python prod_train_save_pipeline.py``): in a cluster
workbench it is submitted to the pipeline server; anywhere else it runs on this machine and
prints the registered model. ``--compile`` only writes ``training-pipeline.yaml``.
The parameters' defaults come from ``default_parameters.json``.
"""

import json

from data_preprocessing import preprocess_data
from data_validation import TRAINING_DATA, validate_data
from evaluate_model import evaluate_model, validate_onnx_model
from fetch_data import fetch_data, fetch_data_from_dvc  # noqa: F401 (the DVC block below uses it)
from kfp import dsl, kubernetes
from save_model import push_to_model_registry
from train_model import convert_to_onnx, train_model

from jukebox.data_contract import FEATURES
from jukebox.pipeline_script import run_pipeline_script, script_folder

DEFAULTS = json.loads((script_folder() / "default_parameters.json").read_text())


@dsl.pipeline(
    name="kfp-training-pipeline",
    description="Trains the jukebox model: which countries a song charts in, from its audio properties.",
)
def training_pipeline(
    hyperparameters: dict = DEFAULTS["hyperparameters"],
    model_name: str = DEFAULTS["model_name"],
    version: str = DEFAULTS["version"],
    cluster_domain: str = DEFAULTS["cluster_domain"],
    model_storage_pvc: str = DEFAULTS["model_storage_pvc"],
    accuracy_tolerance: float = DEFAULTS["accuracy_tolerance"],
    rankings_url: str = DEFAULTS["rankings_url"],
    properties_url: str = DEFAULTS["properties_url"],
):
    ### 🐶 Fetch Data from URLs
    fetch_task = fetch_data(rankings_url=rankings_url, properties_url=properties_url, features=FEATURES)
    fetch_task.set_caching_options(False)

    ### 🍇 Fetch Data from DVC
    # fetch_task = fetch_data_from_dvc(
    #     cluster_domain=cluster_domain, git_version=version, rankings_url=rankings_url, features=FEATURES
    # )
    # kubernetes.use_field_path_as_env(fetch_task, env_name="namespace", field_path="metadata.namespace")
    # kubernetes.use_secret_as_env(
    #     fetch_task,
    #     secret_name="aws-connection-data",
    #     secret_key_to_env={
    #         "AWS_S3_ENDPOINT": "AWS_S3_ENDPOINT",
    #         "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    #         "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
    #         "AWS_DEFAULT_REGION": "AWS_DEFAULT_REGION",
    #         "AWS_S3_BUCKET": "AWS_S3_BUCKET",
    #     },
    # )
    # kubernetes.use_secret_as_env(
    #     fetch_task, secret_name="git-auth", secret_key_to_env={"username": "username", "password": "password"}
    # )
    # fetch_task.set_caching_options(False)

    ### 🛍️ Fetch Data from Feast
    # (chapter 7 adds this block)

    validation_task = validate_data(dataset=fetch_task.outputs["dataset"], contract=TRAINING_DATA)
    preprocess_task = preprocess_data(dataset=fetch_task.outputs["dataset"], default_features=FEATURES)
    preprocess_task.after(validation_task)
    training_task = train_model(
        train_data=preprocess_task.outputs["train_data"],
        val_data=preprocess_task.outputs["val_data"],
        hyperparameters=hyperparameters,
    )
    convert_task = convert_to_onnx(
        model=training_task.outputs["model"],
        label_encoder=preprocess_task.outputs["label_encoder"],
    )
    onnx_validation_task = validate_onnx_model(
        model=training_task.outputs["model"],
        onnx_model=convert_task.outputs["onnx_model"],
        test_data=preprocess_task.outputs["test_data"],
    )
    evaluation_task = evaluate_model(
        model=training_task.outputs["model"],
        label_encoder=preprocess_task.outputs["label_encoder"],
        test_data=preprocess_task.outputs["test_data"],
    )
    register_task = push_to_model_registry(
        model_name=model_name,
        version=version,
        cluster_domain=cluster_domain,
        accuracy_tolerance=accuracy_tolerance,
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        dataset=fetch_task.outputs["dataset"],
        onnx_model=convert_task.outputs["onnx_model"],
        scaler=preprocess_task.outputs["scaler"],
        label_encoder=preprocess_task.outputs["label_encoder"],
        metrics=evaluation_task.outputs["metrics"],
    ).after(onnx_validation_task)
    register_task.set_caching_options(False)
    kubernetes.use_field_path_as_env(register_task, env_name="namespace", field_path="metadata.namespace")
    kubernetes.use_secret_as_env(
        register_task,
        secret_name="aws-connection-models",
        secret_key_to_env={
            "AWS_S3_ENDPOINT": "AWS_S3_ENDPOINT",
            "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION": "AWS_DEFAULT_REGION",
            "AWS_S3_BUCKET": "AWS_S3_BUCKET",
        },
    )
    kubernetes.mount_pvc(register_task, pvc_name=model_storage_pvc, mount_path="/models")


if __name__ == "__main__":
    run_pipeline_script(
        training_pipeline,
        arguments=DEFAULTS,
        yaml_path="training-pipeline.yaml",
        experiment_name="training-pipeline",
        data_files={"rankings_url": "song_rankings.parquet", "properties_url": "song_properties.parquet"},
    )
