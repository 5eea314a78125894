"""One version of the jukebox model as the servers hold it in memory, and where versions come from.

A version is three files that training writes side by side (``3-prod_datascience/save_model.py``):
``model.onnx`` (one named FP32 input per feature, in the training's order), ``scaler.pkl`` (the
StandardScaler fitted on the training rows) and ``label_encoder.pkl`` (the countries, in the order
of the model's probabilities). They are read once per version, into a ``ServedModel``.

Two sources of versions, with the same two questions (which version to serve now, and load this one):

- ``RegistrySource``, the local lab: the MLflow Model Registry (``MLFLOW_TRACKING_URI``). The
  version to serve is the one with an alias (``test``, set when CT deploys a model); any
  registered version can be loaded by its number.
- ``FolderSource``, the cluster: one folder holding one version's three files, in either of the
  two layouts training writes (``LAYOUTS``). From the workbench (``prod_flag`` false) a version
  goes to ``s3://models/jukebox/<version>/``, which KServe's storage initializer copies to
  ``/mnt/models``. A CT run (``prod_flag`` true) writes the model volume that the workshop's model
  car copies to ``/mnt/models/1/``: ``jukebox.onnx`` with the other two under ``artifacts/``.
"""

import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

from jukebox.serving.errors import NotFound


@dataclass(frozen=True)
class ServedModel:
    """One version of the model, ready to scale features and predict.

    Attributes:
        version: the version's name (the registry's version number, or the folder's version).
        features: the model's inputs, one per feature, in the training's order.
        countries: the country codes, in the order of the model's probabilities.
        session: the ONNX Runtime session of ``model.onnx``.
        scaler: the scaler fitted at training (its ``feature_names_in_`` are the features).
        outputs: the ONNX model's output names (``probabilities``, ``label``).
    """

    version: str
    features: list[str]
    countries: list[str]
    session: ort.InferenceSession
    scaler: object
    outputs: list[str]

    def scale(self, values: dict[str, list]) -> dict[str, np.ndarray]:
        """Scale raw feature values as training did; return one FP32 column [N, 1] per feature.

        This is the StandardScaler's own arithmetic, ``(x - mean_) / scale_``, on its fitted values
        (``load_folder`` checks it gives what ``scaler.transform`` gives): sklearn's ``transform``
        checks a DataFrame's columns and types on every call, which takes longer (~1.5 ms) than
        the whole model.

        Args:
            values: each feature's raw values, one per song (more features may be there: ignored).
        """
        names = self.scaler.feature_names_in_
        raw = np.array([values[name] for name in names], dtype=np.float64).T  # [songs, features]
        scaled = ((raw - self.scaler.mean_) / self.scaler.scale_).astype(np.float32)
        return {name: scaled[:, [column]] for column, name in enumerate(names)}

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the ONNX model on one FP32 column [N, 1] per feature; return its outputs by name."""
        return dict(zip(self.outputs, self.session.run(self.outputs, columns), strict=True))


LAYOUTS = (  # a version's model, scaler and label encoder, as a folder holds them
    ("model.onnx", "scaler.pkl", "label_encoder.pkl"),  # s3://models/jukebox/<version>/ (the workbench's)
    ("jukebox.onnx", "artifacts/scaler.pkl", "artifacts/label_encoder.pkl"),  # the model car's /mnt/models/1/ (CT's)
)


def version_files(folder: Path) -> tuple[Path, Path, Path] | None:
    """The model, scaler and label encoder of the version in ``folder``, in the first layout whose model is there."""
    for layout in LAYOUTS:
        files = tuple(folder / name for name in layout)
        if files[0].is_file():
            return files
    return None


def load_folder(folder: Path, version: str) -> ServedModel:
    """Read one version from a folder in one of the ``LAYOUTS``.

    Args:
        folder: the folder.
        version: the version's name, as the servers report it.
    """
    files = version_files(folder)
    if files is None:
        raise NotFound(f"No model in {folder}: it holds neither model.onnx nor jukebox.onnx.")
    model_file, scaler_file, encoder_file = files
    options = ort.SessionOptions()
    # One thread per inference: the model is tiny, and on a small machine the requests are the parallelism.
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    with open(scaler_file, "rb") as file:
        scaler = pickle.load(file)
    with open(encoder_file, "rb") as file:
        countries = [str(country) for country in pickle.load(file).classes_]
    features = [item.name for item in session.get_inputs()]
    if sorted(features) != sorted(scaler.feature_names_in_):
        raise ValueError(
            f"the model's inputs {features} are not its scaler's features {list(scaler.feature_names_in_)} "
            "(a model converted before it took one input per feature: train it again)"
        )
    outputs = [item.name for item in session.get_outputs()]
    model = ServedModel(version, features, countries, session, scaler, outputs)
    probe = {name: [float(column), -1.5 * column] for column, name in enumerate(scaler.feature_names_in_)}
    expected = scaler.transform(pd.DataFrame(probe, dtype=float))
    scaled = model.scale(probe)
    if not np.allclose([scaled[name][:, 0] for name in scaler.feature_names_in_], expected.T, atol=1e-5):
        raise ValueError(f"the scaler is a {type(scaler).__name__}, not a StandardScaler (mean and scale)")
    return model


class FolderSource:
    """One version, in one folder (the cluster's ``/mnt/models``, or the model car's ``/mnt/models/1``).

    Args:
        folder: the folder with the three files, in one of the ``LAYOUTS``.
        version: the version's name; by default the folder's name (``/models/jukebox/<version>``).
    """

    def __init__(self, folder: str | Path, version: str | None = None):
        self.folder = Path(folder)
        self.version = version or self.folder.resolve().name
        self.name = f"{self.folder}"

    def current_version(self) -> str | None:
        """The folder's version, once its model is there (the storage initializer may still be copying)."""
        return self.version if version_files(self.folder) else None

    def waiting_for(self) -> str:
        return f"{self.folder / 'model.onnx'} or {self.folder / 'jukebox.onnx'} to exist"

    def load(self, version: str) -> ServedModel:
        if version != self.version:
            raise NotFound(f"This server has version {self.version} of the model only ({self.folder}), not {version}.")
        return load_folder(self.folder, version)


class RegistrySource:
    """The versions of a registered model in the MLflow Model Registry (``MLFLOW_TRACKING_URI``).

    Args:
        model_name: the registered model (``jukebox``).
        alias: the alias of the version to serve (``test``).
    """

    def __init__(self, model_name: str, alias: str = "test"):
        from mlflow import MlflowClient

        self.model_name, self.alias = model_name, alias
        self.client = MlflowClient()
        self.name = f"the MLflow registry ({model_name}@{alias})"

    def current_version(self) -> str | None:
        """The version that has the alias now, or None when none has it yet (one registry query)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.model_name, self.alias).version)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None  # no such model yet, or no version with the alias yet
            raise

    def waiting_for(self) -> str:
        return f"a version of {self.model_name} with the alias {self.alias}"

    def load(self, version: str) -> ServedModel:
        """Download one version's ONNX model and its preprocessing files, and read them."""
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client.get_model_version(self.model_name, version)
        except MlflowException as error:
            raise NotFound(f"There is no version {version} of {self.model_name} in the MLflow registry.") from error
        with tempfile.TemporaryDirectory(prefix="jukebox-model-") as folder:
            model = Path(mlflow.artifacts.download_artifacts(f"models:/{self.model_name}/{version}", dst_path=folder))
            files = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=registered.run_id, artifact_path="preprocessing", dst_path=folder
                )
            )
            for name in ("scaler.pkl", "label_encoder.pkl"):
                (files / name).replace(model / name)
            return load_folder(model, version)
