"""The transformer: song ids in, each song's probability of charting in every country out.

    python -m jukebox.serving.transformer --model_name jukebox --http_port 8080 --predictor_host 127.0.0.1:8085 \\
        --feature_service serving_fs --entity_id_name spotify_id --registered_model jukebox
    (cluster: --feature_server_url URL --model_dir /mnt/models --host 0.0.0.0)

It sits in front of the predictor, as a KServe transformer does, and speaks the same protocol:

    POST /v2/models/jukebox/infer
    {"inputs": [{"name": "input", "shape": [1, 1], "datatype": "STRING", "data": [["<spotify_id>"]]}]}

(``data`` may also be flat, ``["id", "id", …]``: several songs, one row each.)

It also takes a song that is nowhere yet, by its raw properties (the Jukebox page's "what if"
sliders): one FP32 input per feature of the served version, named after it, **unscaled**, as the
data contract describes them (``tempo`` in BPM, ``loudness`` in dB…):

    {"inputs": [{"name": "danceability", "shape": [1, 1], "datatype": "FP32", "data": [[0.7]]}, …]}

The model's metadata (``GET /v2/models/jukebox``) lists both forms: ``input`` (BYTES), then the
served version's features (FP32), in the model's order. Either way the values go through the one
scaler of the served version, here. kserve calls three steps for each request:

1. ``preprocess``: check the ids and read the songs' features from the online store (exactly the
   features the served version was trained on: see ``online_features``), or check the raw values
   (every feature of the served version, no other); scale them with that version's scaler, and
   build the predictor's request: one FP32 input per feature, and the parameter
   ``model_version``, so the predictor answers with the same version;
2. ``predict``: post that to the predictor's ``/v2/models/jukebox/infer`` (at ``--predictor_host``,
   over kept-alive connections, with a timeout: ``--predictor_request_timeout_seconds``);
3. ``postprocess``: answer ``probabilities`` first and ``country_codes`` (the countries, in the
   order of the probabilities) second, as the workshop's transformer does and its UI reads
   (``outputs[0]``, ``outputs[1]``); the predictor's other outputs (``label``) follow.

Without ``--feature_server_url`` the features are read in this process (the lab: the environment
has ``username``, ``FEAST_FS_YAML_FILE_PATH``, ``JUKEBOX_LAB_HOME`` and ``AWS_*``).

When the served version changes, the transformer loads the new one (scaler, countries, features)
and waits for the predictor to serve it too before it switches: meanwhile requests are answered
by the old version, in both servers.
"""

import argparse
import contextvars
import logging
import sys
import time

import aiohttp
import httpx
import orjson
from kserve import InferInput, InferOutput, InferRequest, InferResponse
from kserve.errors import InferenceError
from kserve.predictor_config import PredictorConfig

from jukebox.serving.errors import BadRequest, Unavailable
from jukebox.serving.online_features import (
    FeatureServerReader,
    StoreReader,
    check_complete,
    check_song_ids,
    feature_refs,
)
from jukebox.serving.predictor import feature_columns
from jukebox.serving.served_model import ServedModel
from jukebox.serving.server import LocalModelServer, VersionedModel, argument_parser, configure_logging, model_source
from jukebox.serving.versions import ModelVersions

log = logging.getLogger("jukebox.serving")

# The version a request was prepared for: set in preprocess, read in postprocess. kserve runs the
# three steps of one request in one asyncio task, and each task has its own context.
_request_model: contextvars.ContextVar[ServedModel] = contextvars.ContextVar("request_model")

JSON = {"content-type": "application/json"}
PREDICTOR_PATIENCE = 60  # seconds the transformer waits for the predictor to serve a new version


def song_ids(request: InferRequest) -> list:
    """The ids in the request's one input ``input`` (nested ``[["id"], …]`` or flat ``["id", …]``), or a 400."""
    (item,) = request.inputs
    if item.datatype not in ("STRING", "BYTES"):
        raise BadRequest(f"Input 'input' has datatype {item.datatype}: song ids are STRING (or BYTES).")
    if not isinstance(item.data, list):
        raise BadRequest("Input 'input' has no JSON list of song ids in its 'data'.")
    return [song for row in item.data for song in (row if isinstance(row, list) else [row])]


class JukeboxTransformer(VersionedModel):
    """Song ids → online features (or a song's raw properties) → the version's scaler → the predictor → countries added.

    Args:
        name: the model's name in the URLs, the same as the predictor's (``jukebox``).
        versions: the versions in memory (the transformer uses the scaler, features and countries).
        reader: where the songs' features come from (the online store, or a feature server).
    """

    def __init__(self, name: str, versions: ModelVersions, reader):
        super().__init__(name, versions)
        self.reader = reader
        self.refs: dict[str, list[str]] = {}
        self.session: aiohttp.ClientSession | None = None

    def before_switch(self, model: ServedModel) -> None:
        """Before serving a new version: resolve its feature refs, and wait for the predictor to serve it."""
        self.refs[model.version] = feature_refs(model.features, self.reader.service_views())
        if self.versions.current is not None:
            self.wait_for_predictor(model.version)

    def wait_for_predictor(self, version: str) -> None:
        """Return once the predictor's metadata lists ``version`` (or after ``PREDICTOR_PATIENCE`` seconds)."""
        url = f"{self.predictor_config.predictor_base_url}/v2/models/{self.name}"
        deadline = time.monotonic() + PREDICTOR_PATIENCE
        while time.monotonic() < deadline:
            try:
                if version in (httpx.get(url, timeout=2).json().get("versions") or []):
                    return
            except (httpx.HTTPError, ValueError):
                pass  # the predictor is restarting, say: ask again
            time.sleep(0.25)  # between two polls of the predictor
        log.warning("The predictor does not list version %s: switching anyway (it loads versions on demand).", version)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await self.reader.close()

    def get_input_types(self) -> list[dict]:
        """The song ids (``input``), or else one raw FP32 value per feature of the served version."""
        model = self.versions.current
        features = [{"name": name, "datatype": "FP32", "shape": [-1, 1]} for name in (model.features if model else [])]
        return [{"name": "input", "datatype": "BYTES", "shape": [-1, 1]}, *features]

    def get_output_types(self) -> list[dict]:
        model = self.versions.current
        countries = len(model.countries) if model else -1
        return [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, countries]},
            {"name": "country_codes", "datatype": "BYTES", "shape": [countries]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ]

    async def preprocess(self, payload: InferRequest, headers: dict | None = None) -> InferRequest:
        if not isinstance(payload, InferRequest):
            raise BadRequest("This server speaks the Open Inference Protocol v2 only: POST /v2/models/jukebox/infer.")
        model = self.versions.current
        names = [item.name for item in payload.inputs]
        if names == ["input"]:  # song ids: their features from the online store
            ids = check_song_ids(song_ids(payload))
            values = await self.reader.read(ids, self.refs[model.version])
            check_complete(ids, values, model.features, self.reader.where)
        elif set(names) & set(model.features):  # a song's raw properties, one input per feature
            values = {name: column[:, 0] for name, column in feature_columns(payload, model).items()}
        else:
            raise BadRequest(
                "The transformer takes one input named 'input' with the song ids, or one FP32 input per "
                f"feature of version {model.version} ({', '.join(model.features)}), not {names}."
            )
        _request_model.set(model)
        scaled = model.scale(values)
        rows = len(next(iter(scaled.values())))
        return InferRequest(
            model_name=self.name,
            request_id=payload.id,
            infer_inputs=[InferInput(name, [rows, 1], "FP32", column) for name, column in scaled.items()],
            parameters={"model_version": model.version},
        )

    async def predict(self, payload: InferRequest, headers: dict | None = None) -> InferResponse:
        """Post the request to the predictor's ``/v2/models/jukebox/infer``; its failures in one sentence.

        kserve's own ``Model.predict`` does the same with an httpx client, which on this 2-core
        machine added ~2 ms to each call that aiohttp does not (a probe: 3.7 ms against 1.6 ms a
        round trip to the predictor). So the transformer keeps one aiohttp session (kept-alive
        connections, a timeout per request) and uses kserve's protocol classes for the request and the answer.
        """
        config = self.predictor_config
        if self.session is None:  # created in the server's event loop, on the first request
            timeout = aiohttp.ClientTimeout(total=config.predictor_request_timeout_seconds)
            self.session = aiohttp.ClientSession(timeout=timeout)
        body, _ = payload.to_rest()
        url = f"{config.predictor_base_url}/v2/models/{self.name}/infer"
        try:
            async with self.session.post(url, data=orjson.dumps(body), headers=JSON) as answer:
                status, content = answer.status, await answer.read()
        except TimeoutError as error:
            raise Unavailable(
                f"The predictor at {config.predictor_host} did not answer in {config.timeout} s."
            ) from error
        except aiohttp.ClientError as error:
            raise Unavailable(f"The predictor at {config.predictor_host} does not answer: is it running?") from error
        if status != 200:
            said = orjson.loads(content).get("error", "") if content.startswith(b"{") else content[:200].decode()
            if status == 503:
                raise Unavailable(f"The predictor at {config.predictor_host} is not ready: {said}")
            raise InferenceError(f"The predictor at {config.predictor_host} refused the request ({status}): {said}")
        return InferResponse.from_rest(orjson.loads(content))

    async def postprocess(self, response: InferResponse, headers: dict | None = None) -> InferResponse:
        model = _request_model.get()
        response.model_version = model.version
        codes = InferOutput("country_codes", [len(model.countries)], "BYTES", model.countries)
        probabilities = [output for output in response.outputs if output.name == "probabilities"]
        others = [output for output in response.outputs if output.name != "probabilities"]
        response.outputs = [*probabilities, codes, *others]  # the workshop's UI reads outputs[0] and outputs[1]
        return response


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The transformer's options: kserve's, the model source's, and where the features come from."""
    parser = argument_parser("The jukebox transformer: song ids in, countries out (Open Inference Protocol v2).")
    parser.set_defaults(predictor_protocol="v2", predictor_request_timeout_seconds=10)
    parser.add_argument("--feature_server_url", help="a Feast feature server (default: the online store, in process)")
    parser.add_argument("--feature_service", default="serving_fs", help="the feature service that names the view")
    parser.add_argument("--entity_id_name", default="spotify_id", help="the entity's join key")
    options = parser.parse_args(argv)
    if not options.predictor_host:
        parser.error("the transformer needs --predictor_host HOST:PORT, the predictor's address")
    if options.predictor_protocol != "v2":
        parser.error("the transformer speaks the Open Inference Protocol v2 to the predictor: --predictor_protocol v2")
    return options


def main(argv: list[str] | None = None) -> None:
    options = arguments(argv)
    configure_logging(options.access_log)
    try:
        reader = (
            FeatureServerReader(options.feature_server_url, options.feature_service, options.entity_id_name)
            if options.feature_server_url
            else StoreReader(options.feature_service, options.entity_id_name)
        )
    except RuntimeError as error:  # the lab's environment is missing: open_store says which variables
        sys.exit(str(error))
    predictor = PredictorConfig(
        predictor_host=options.predictor_host,
        predictor_protocol="v2",
        predictor_use_ssl=options.predictor_use_ssl,
        predictor_request_timeout_seconds=options.predictor_request_timeout_seconds,
        predictor_request_retries=options.predictor_request_retries,
        predictor_health_check=options.enable_predictor_health_check,
    )
    model = JukeboxTransformer(options.model_name, ModelVersions(model_source(options)), reader)
    LocalModelServer(options.host, http_port=options.http_port, predictor_config=predictor).start([model])


if __name__ == "__main__":
    main()
