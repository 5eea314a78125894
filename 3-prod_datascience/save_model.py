"""Step 6: the accuracy gate, then register the model.

``check_accuracy_gate`` is a step of its own, so the run graph shows why a model was not
registered: a model whose test accuracy is below the production model's minus a tolerance stops
the run there. ``push_to_model_registry`` then registers one new version of the model (``jukebox``)
with its lineage: accuracy, features, version (the git commit in continuous training), the
pipeline run, and where the training data came from (URLs, md5, DVC hash). It returns the
registered version, which the pipeline gives back as its output ``registered_version``.

Each step speaks to one of two registries, one function per registry:
- in the local lab (``MLFLOW_TRACKING_URI`` is set): the MLflow Model Registry, with the ONNX
  model, the scaler and the label encoder as artifacts; "production" is the version with the
  alias ``production``;
- on the cluster: the Kubeflow Model Registry, as in the workshop.

``prod_flag`` is the workshop's: true in a CT run (its ct-pipeline passes it), false from the
workbench. A CT run puts the model on the model volume's root, where the workshop's
build-modelcar task takes it (``jukebox.onnx``, ``artifacts/scaler.pkl``,
``artifacts/label_encoder.pkl``, ``artifacts/frozen_training_requirements.txt``), and on the
cluster registers in the registry ``<user>-prod``; a workbench run uploads the files to the
``models`` bucket (secret ``aws-connection-models``) and registers in ``<user>``'s registry
(``<user>`` is the namespace before its first ``-``). In the lab the model volume is a folder of
the lab (``JUKEBOX_MODEL_VOLUME``), and both end in MLflow.
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp.dsl import Dataset, Input, Metrics, Model, component

from jukebox.components.ships import ships
from jukebox.components.step_helpers import kubeflow_registry
from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("mlflow", "model-registry"))
@ships(kubeflow_registry)
def check_accuracy_gate(
    model_name: str, cluster_domain: str, accuracy_tolerance: float, metrics: Input[Metrics], prod_flag: bool = False
):
    """Stop the run unless the new model is at least as good as production, minus a tolerance.

    Args:
        model_name: the registered model's name (``jukebox``).
        cluster_domain: the cluster's apps domain, where the Kubeflow Model Registry is.
        accuracy_tolerance: how much below the production model's accuracy is still accepted.
        metrics: the evaluation's accuracy.
        prod_flag: a CT run: compare with the ``<user>-prod`` registry's production model.
    """
    import os

    accuracy = float(metrics.metadata["accuracy"])

    def production_in_mlflow():
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            production = MlflowClient().get_model_version_by_alias(model_name, "production")
            return float(production.tags["accuracy"]), f"version {production.version}"
        except (MlflowException, KeyError):
            return None, ""

    def production_in_kubeflow():
        registry, _ = kubeflow_registry(cluster_domain, prod_flag)
        if registry.get_registered_model(model_name):
            for candidate in registry.get_model_versions(model_name):
                if candidate.custom_properties.get("stage") == "production":
                    return float(candidate.custom_properties["accuracy"]), f"version {candidate.name}"
        return None, ""

    in_lab = bool(os.environ.get("MLFLOW_TRACKING_URI"))
    production_accuracy, production_name = production_in_mlflow() if in_lab else production_in_kubeflow()
    if production_accuracy is None:
        print(f"No production {model_name} yet: nothing to compare with; accuracy {accuracy:.4f} passes.")
        return
    floor = production_accuracy - accuracy_tolerance
    if accuracy < floor:
        raise RuntimeError(
            f"Not registering {model_name}: its accuracy {accuracy:.4f} is below the production model "
            f"({production_name}, {production_accuracy:.4f}) minus the tolerance {accuracy_tolerance}."
        )
    print(f"Accuracy {accuracy:.4f} passes the gate (production {production_name}: {production_accuracy:.4f}).")


@component(
    base_image=BASE_IMAGE,
    packages_to_install=pinned("mlflow", "onnx", "onnxruntime", "boto3", "model-registry"),
)
@ships(kubeflow_registry)
def push_to_model_registry(
    model_name: str,
    version: str,
    cluster_domain: str,
    run_id: str,
    dataset: Input[Dataset],
    onnx_model: Input[Model],
    scaler: Input[Model],
    label_encoder: Input[Model],
    metrics: Input[Metrics],
    prod_flag: bool = False,
    model_storage_dir: str = "/models",
) -> str:
    """Register one new version with its lineage; return the registered version.

    Args:
        model_name: the registered model's name (``jukebox``).
        version: this version's name (the git version CT trains).
        cluster_domain: the cluster's apps domain, where the Kubeflow Model Registry is.
        run_id: the pipeline run, recorded in the lineage.
        dataset: the training data; its metadata (sources, hashes) becomes lineage.
        onnx_model: the model to register.
        scaler: the feature scaler, registered with the model.
        label_encoder: the countries, registered with the model.
        metrics: the evaluation's accuracy.
        prod_flag: true for a CT run (the workshop's ct-pipeline sets it): the model volume and the
            ``<user>-prod`` registry; false from the workbench: the ``models`` bucket and ``<user>``'s.
        model_storage_dir: where the cluster's model volume is mounted.
    """
    import json
    import os
    import re
    import shutil
    import subprocess
    import sys
    import tempfile
    from importlib.metadata import version as installed
    from pathlib import Path

    def without_credentials(value: str) -> str:
        return re.sub(r"://[^/@\s]+@", "://", value)

    accuracy = float(metrics.metadata["accuracy"])

    def as_text(value) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # metadata numbers travel as floats: 10119.0 is a row count
        return without_credentials(value if isinstance(value, str) else json.dumps(value))

    lineage = {key: as_text(value) for key, value in dataset.metadata.items() if key != "features"}
    properties = {
        "accuracy": f"{accuracy:.6f}",
        "version": version,
        "pipeline_run_id": run_id,
        "prod_flag": str(bool(prod_flag)).lower(),
        "features": json.dumps(onnx_model.metadata["features"]),
        **{f"data_{key}": value for key, value in lineage.items()},
    }
    description = f"{model_name} {version}, accuracy {accuracy:.4f}"
    files = tempfile.mkdtemp()
    shutil.copy(onnx_model.path, os.path.join(files, "model.onnx"))
    shutil.copy(scaler.path, os.path.join(files, "scaler.pkl"))
    shutil.copy(label_encoder.path, os.path.join(files, "label_encoder.pkl"))

    def write_model_volume() -> None:
        """A CT run's model on the model volume's root, as the workshop's build-modelcar task copies it."""
        root = Path(os.environ.get("JUKEBOX_MODEL_VOLUME") or model_storage_dir)
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(files, "model.onnx"), root / "jukebox.onnx")  # the name build-modelcar copies
        for name in ("scaler.pkl", "label_encoder.pkl"):
            shutil.copy(os.path.join(files, name), root / "artifacts" / name)
        frozen = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
        (root / "artifacts" / "frozen_training_requirements.txt").write_text(frozen.stdout)
        print(f"Wrote jukebox.onnx and artifacts/ to the model volume ({root}).")

    def register_in_mlflow() -> str:
        import mlflow
        import onnx
        from mlflow import MlflowClient

        client = MlflowClient()
        experiment = client.get_experiment_by_name(model_name)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else client.create_experiment(model_name, artifact_location=os.environ.get("MLFLOW_ARTIFACT_LOCATION"))
        )
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{model_name}-{version}") as run:
            mlflow.log_metric("accuracy", accuracy)
            mlflow.set_tags(properties)
            mlflow.log_artifact(os.path.join(files, "scaler.pkl"), "preprocessing")
            mlflow.log_artifact(os.path.join(files, "label_encoder.pkl"), "preprocessing")
            info = mlflow.onnx.log_model(
                onnx.load(os.path.join(files, "model.onnx")),
                name="model",
                pip_requirements=[f"onnx=={installed('onnx')}", f"onnxruntime=={installed('onnxruntime')}"],
                registered_model_name=model_name,
            )
        registered = str(info.registered_model_version)
        for key, value in properties.items():
            client.set_model_version_tag(model_name, registered, key, value)
        client.update_model_version(model_name, registered, description=description)
        print(
            f"Registered {model_name} version {registered} in MLflow (accuracy {accuracy:.6f}, run {run.info.run_id})."
        )
        return registered

    def register_in_kubeflow() -> str:
        import boto3

        registry, registry_name = kubeflow_registry(cluster_domain, prod_flag)
        if prod_flag:  # the model volume (written first); the deploy task sets the model car's oci:// URI
            uri = f"file://{model_storage_dir}/jukebox.onnx"
        else:
            bucket, prefix = os.environ["AWS_S3_BUCKET"], f"{model_name}/{version}"
            s3 = boto3.client(
                "s3",
                endpoint_url=os.environ["AWS_S3_ENDPOINT"],
                aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            )
            for name in sorted(os.listdir(files)):
                s3.upload_file(os.path.join(files, name), bucket, f"{prefix}/{name}")
            uri = f"s3://{bucket}/{prefix}/model.onnx"
        registry.register_model(
            model_name,
            uri,
            model_format_name="onnx",
            model_format_version="1",
            version=version,
            description=description,
            metadata=properties,
        )
        print(f"Registered {model_name} {version} in the Kubeflow Model Registry {registry_name} ({uri}).")
        return version

    if prod_flag:
        write_model_volume()
    return register_in_mlflow() if os.environ.get("MLFLOW_TRACKING_URI") else register_in_kubeflow()
