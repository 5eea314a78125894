"""The model server: the ONNX model behind ``POST /v2/models/jukebox/infer``.

    python -m jukebox.serving.predictor --model_name jukebox --http_port 8085 --registered_model jukebox
    python -m jukebox.serving.predictor --model_name jukebox --http_port 8085 --model_dir /mnt/models

(``--alias test`` is the default; ``--model_version V`` names a folder's version.)

A request gives one FP32 input per feature, named after the feature, already scaled (the
transformer scales), shape [N] or [N, 1] for N songs. Every feature of the served version is
needed and no other name is taken. The optional request parameter ``model_version`` picks a
version (loaded on demand, then kept): the transformer sends the version it scaled for, so
both use the same version while the served one changes. The answer holds the ONNX model's
outputs, ``probabilities`` (FP32 [N, countries]) first and ``label``, and the version that answered.

A malformed request gets a 400 that says what is wrong; the server never stops on a request.
"""

import asyncio
import uuid

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import from_np_dtype

from jukebox.mlflow_plugins import leave_out_feasts_mlflow_plugin
from jukebox.serving.errors import BadRequest, NotFound, Unavailable
from jukebox.serving.served_model import ServedModel
from jukebox.serving.server import LocalModelServer, VersionedModel, argument_parser, configure_logging, model_source
from jukebox.serving.versions import ModelVersions, one_line


def input_values(item) -> np.ndarray:
    """One input's values as FP32, one per song, or a 400 naming the input."""
    if item.datatype != "FP32":
        raise BadRequest(f"Input {item.name} has datatype {item.datatype}: every input is FP32.")
    shape = list(item.shape)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 1:
        raise BadRequest(f"Input {item.name} has shape {shape}: each input is [N] or [N, 1], one value per song.")
    try:
        values = np.asarray(item.data) if isinstance(item.data, list) else item.as_numpy()
    except ValueError as error:
        raise BadRequest(f"Input {item.name} is not a list of numbers: {error}.") from error
    if values.dtype.kind not in "fiu":
        raise BadRequest(f"Input {item.name} holds values that are not numbers.")
    values = values.astype(np.float32).reshape(-1)
    if len(values) != shape[0]:
        raise BadRequest(f"Input {item.name} has {len(values)} values, but its shape {shape} says {shape[0]}.")
    if not np.isfinite(values).all():
        raise BadRequest(f"Input {item.name} holds a value that is not a finite number (NaN or infinity).")
    return values


def feature_columns(request: InferRequest, model: ServedModel) -> dict[str, np.ndarray]:
    """The request's inputs as the model's FP32 columns [N, 1], or a 400 naming what does not fit.

    Args:
        request: the inference request.
        model: the version that answers it.
    """
    expected = f"version {model.version} takes one FP32 input per feature: {', '.join(model.features)}"
    names = [item.name for item in request.inputs]
    unknown = [name for name in names if name not in model.features]
    missing = [name for name in model.features if name not in names]
    if unknown:
        raise BadRequest(f"Unknown input {', '.join(unknown)}: {expected}.")
    if missing:
        raise BadRequest(f"Missing input {', '.join(missing)}: {expected}.")
    if len(set(names)) != len(names):
        raise BadRequest(f"An input is given twice: {expected}.")
    columns = {item.name: input_values(item) for item in request.inputs}
    rows = {len(values) for values in columns.values()}
    if len(rows) != 1:
        raise BadRequest(f"The inputs have different numbers of values ({sorted(rows)}): one value per song in each.")
    return {name: values.reshape(-1, 1) for name, values in columns.items()}


class JukeboxPredictor(VersionedModel):
    """The ONNX model of the version being served, or of the version a request names."""

    def get_input_types(self) -> list[dict]:
        model = self.versions.current
        return [{"name": name, "datatype": "FP32", "shape": [-1, 1]} for name in (model.features if model else [])]

    def get_output_types(self) -> list[dict]:
        model = self.versions.current
        if model is None:
            return []
        return [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(model.countries)]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ]

    async def version_for(self, request: InferRequest) -> ServedModel:
        """The version the request names in its parameter ``model_version``, else the served one."""
        asked = (request.parameters or {}).get("model_version")
        if asked is None:
            return self.versions.current
        model = self.versions.cached(str(asked))
        if model is not None:
            return model
        try:
            return await asyncio.to_thread(self.versions.get, str(asked))
        except NotFound:
            raise
        except Exception as error:
            raise Unavailable(f"Version {asked} of the model could not be loaded: {one_line(error)}.") from error

    async def predict(self, payload: InferRequest, headers: dict | None = None) -> InferResponse:
        if not isinstance(payload, InferRequest):
            raise BadRequest("This server speaks the Open Inference Protocol v2 only: POST /v2/models/jukebox/infer.")
        model = await self.version_for(payload)
        outputs = model.predict(feature_columns(payload, model))
        return InferResponse(
            response_id=payload.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=model.version,
            infer_outputs=[
                InferOutput(name, list(values.shape), from_np_dtype(values.dtype), values)
                for name, values in outputs.items()
            ],
        )


def main(argv: list[str] | None = None) -> None:
    leave_out_feasts_mlflow_plugin()  # the cluster's model server has no Feast: nor does this one load it
    parser = argument_parser("The jukebox model server (Open Inference Protocol v2).")
    options = parser.parse_args(argv)
    configure_logging(options.access_log)
    model = JukeboxPredictor(options.model_name, ModelVersions(model_source(options)))
    LocalModelServer(options.host, http_port=options.http_port).start([model])


if __name__ == "__main__":
    main()
