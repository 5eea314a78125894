"""Chapter 3: the continuous-training (CT) pipeline.

fetch data → validate → preprocess → train → convert to ONNX → validate the ONNX model →
evaluate → the accuracy gate → register the model. The run's output ``registered_version`` is the
version it registered.

Run this file (the play button, or ``python prod_train_save_pipeline.py``): in a cluster
workbench it is submitted to the pipeline server; anywhere else it runs on this machine and
prints the registered model. ``--compile`` only writes ``training-pipeline.yaml``.
The parameters' defaults come from ``default_parameters.json``; the workshop's CT task passes
the first six (``version`` = the commit's short SHA, ``prod_flag`` = true).

The data comes from one of three sources, each under its marker: the URLs (``fetch_data()``),
then DVC (chapter 5) and Feast (chapter 7), whose blocks participants paste from the workshop's
instructions, commenting out the source before. ``always_fetch_afresh`` comes after them all.
"""

import json
from typing import NamedTuple

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from data_preprocessing import preprocess_data
from data_validation import TRAINING_DATA, validate_data
from evaluate_model import evaluate_model, validate_onnx_model
from fetch_data import fetch_data, fetch_data_from_dvc, fetch_data_from_feast  # noqa: F401 (chapters 5 and 7)
from kfp import dsl, kubernetes
from save_model import check_accuracy_gate, push_to_model_registry
from train_model import convert_to_onnx, train_model

from jukebox.components.connections import use_models_connection, use_namespace
from jukebox.components.data_source import always_fetch_afresh
from jukebox.data_contract import FEATURES
from jukebox.pipeline_script import run_pipeline_script, script_folder

DEFAULTS = json.loads((script_folder() / "default_parameters.json").read_text())


class Outputs(NamedTuple):
    """What a run gives back."""

    registered_version: str


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
    prod_flag: bool = DEFAULTS["prod_flag"],
    accuracy_tolerance: float = DEFAULTS["accuracy_tolerance"],
) -> Outputs:
    ### 🐶 Fetches Data from GitHub
    fetch_task = fetch_data()

    ### 🍇 Fetches data from DVC
    # (chapter 5: paste the workshop's DVC block here)

    ### 🛍️ Fetch Data from Feast
    # (chapter 7: paste the workshop's Feast block here)

    always_fetch_afresh(fetch_task)

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
    gate_task = check_accuracy_gate(
        model_name=model_name,
        cluster_domain=cluster_domain,
        accuracy_tolerance=accuracy_tolerance,
        metrics=evaluation_task.outputs["metrics"],
        prod_flag=prod_flag,
    )
    gate_task.set_caching_options(False)
    use_namespace(gate_task)
    register_task = push_to_model_registry(
        model_name=model_name,
        version=version,
        cluster_domain=cluster_domain,
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        prod_flag=prod_flag,
        dataset=fetch_task.outputs["dataset"],
        onnx_model=convert_task.outputs["onnx_model"],
        scaler=preprocess_task.outputs["scaler"],
        label_encoder=preprocess_task.outputs["label_encoder"],
        metrics=evaluation_task.outputs["metrics"],
    ).after(onnx_validation_task, gate_task)
    register_task.set_caching_options(False)
    use_namespace(register_task)
    use_models_connection(register_task)
    kubernetes.mount_pvc(register_task, pvc_name=model_storage_pvc, mount_path="/models")
    return Outputs(registered_version=register_task.output)


if __name__ == "__main__":
    run_pipeline_script(
        training_pipeline,
        arguments={},
        yaml_path="training-pipeline.yaml",
        experiment_name="training-pipeline",
    )
