"""kserve's model server as jukebox's predictor and transformer run it.

kserve's ``ModelServer`` (0.21) is used as it is, with these changes:

- It listens on one address: ``--host``, 127.0.0.1 by default (the lab's rule; the cluster's
  manifest passes 0.0.0.0). kserve writes ``host="0.0.0.0"`` into its uvicorn configuration and
  has no option for it, so the address is set on that configuration after kserve built it and
  before uvicorn binds (``_serve``). No gRPC server is started.
- It starts before its model has a version, and becomes ready when the first one is loaded:
  kserve would refuse to start (``NoModelReady``) and register only ready models.
- ``/v2/health/ready`` says false until every model is ready, and a model's metadata lists the
  version it serves (``versions``), which kserve leaves out.
- Quiet logs: one line per loaded or switched version; no access log, no latency line per
  request, no line or traceback for a refused request (the client gets the sentence).
  ``--access_log`` logs each request and each refusal.
"""

import argparse
import logging
import os
import sys
import warnings

import kserve
from fastapi.exceptions import FastAPIDeprecationWarning
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotReady
from kserve.model_server import app
from kserve.protocol.dataplane import DataPlane

from jukebox.serving.errors import install_handlers
from jukebox.serving.served_model import FolderSource, RegistrySource, ServedModel
from jukebox.serving.versions import ModelVersions

log = logging.getLogger("jukebox.serving")


def argument_parser(description: str) -> argparse.ArgumentParser:
    """kserve's own arguments (``--model_name``, ``--http_port``, ``--predictor_host``…) and the artifact source's.

    Args:
        description: what the server is, for ``--help``.
    """
    parser = argparse.ArgumentParser(description=description, parents=[kserve.model_server.parser])
    parser.set_defaults(model_name="jukebox")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (the cluster: 0.0.0.0)")
    parser.add_argument("--access_log", action="store_true", help="log one line per request (and per refusal)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--registered_model", help="serve this model of the MLflow registry (MLFLOW_TRACKING_URI)")
    source.add_argument(
        "--model_dir", help="serve the version in this folder: model.onnx and its .pkl files, or the model car's layout"
    )
    parser.add_argument("--alias", default="test", help="with --registered_model: serve the version with this alias")
    parser.add_argument("--model_version", help="with --model_dir: the version's name (default: the folder's name)")
    return parser


def model_source(options: argparse.Namespace):
    """The source of model versions that the options name."""
    if options.registered_model:
        return RegistrySource(options.registered_model, options.alias)
    return FolderSource(options.model_dir, options.model_version)


class QuietRefusals(logging.Filter):
    """Drop kserve's traceback for a request it refuses (not ready, bad input): the client has the sentence."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = (InvalidInput, ModelNotFound, ModelNotReady, ServerNotReady)
        return not (record.exc_info and isinstance(record.exc_info[1], refused))


def configure_logging(access_log: bool = False) -> None:
    """kserve's log format, our lines (``jukebox.serving``) at INFO, kserve's and uvicorn's chatter off."""
    kserve.logging.configure_logging()
    logging.getLogger("kserve").addFilter(QuietRefusals())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    ours = logging.getLogger("jukebox.serving")
    ours.handlers, ours.propagate = [handler], False
    ours.setLevel(logging.DEBUG if access_log else logging.INFO)  # debug: a line per refused request
    for name in ("kserve", "kserve.trace", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if access_log else logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bar per download


def ignore_their_deprecations() -> None:
    """Silence the deprecation warnings of the libraries the servers use (once per process each; none is ours).

    kserve 0.21 answers with FastAPI's ORJSONResponse and passes httpx a CA bundle as a string (when
    ``REQUESTS_CA_BUNDLE`` is set); MLflow's SQLite store uses a SQLAlchemy loader that is deprecated.
    Called when the server starts, after Feast and MLflow were imported (they change warning filters).
    """
    warnings.filterwarnings("ignore", category=FastAPIDeprecationWarning)
    warnings.filterwarnings("ignore", message="`verify=<str>` is deprecated")
    warnings.filterwarnings("ignore", message="The ``noload`` loader strategy is deprecated")


class VersionedModel(kserve.Model):
    """A kserve model that answers with the versions a ``ModelVersions`` follows; ready once one is loaded.

    Args:
        name: the model's name in the URLs (``jukebox``).
        versions: the versions in memory; the follower thread starts with the server.
    """

    def __init__(self, name: str, versions: ModelVersions):
        super().__init__(name)
        self.versions = versions

    @property
    def ready(self) -> bool:
        return self.versions.current is not None

    @ready.setter
    def ready(self, _value: bool) -> None:
        pass  # kserve's base class sets it; here a model is ready when a version is loaded, and only then

    @property
    def served_version(self) -> str | None:
        return self.versions.current.version if self.versions.current else None

    def start(self) -> None:
        self.versions.follow(before_switch=self.before_switch)

    def before_switch(self, model: ServedModel) -> None:
        """Prepare a newly loaded version before it is served (in the follower thread); nothing by default."""

    def stop(self) -> None:
        self.versions.stop()

    async def close(self) -> None:
        """Close what the model opened in the server's event loop (its connections); nothing by default."""

    def load(self) -> bool:
        return self.ready  # kserve calls this on a request to a model not ready: versions load in the follower only


class VersionedDataPlane(DataPlane):
    """kserve's data plane, with readiness that waits for the models and metadata with their versions."""

    async def ready(self) -> bool:
        models = self.model_registry.get_models().values()
        return all(model.ready for model in models) and await super().ready()

    async def model_metadata(self, model_name: str) -> dict:
        metadata = await super().model_metadata(model_name)
        model = self.get_model_from_registry(model_name)
        if getattr(model, "served_version", None):
            metadata["versions"] = [model.served_version]
        return metadata


class LocalModelServer(kserve.ModelServer):
    """kserve's ``ModelServer`` on one address, ready when its model is (see the module's docstring).

    Args:
        host: the address to listen on.
        **options: kserve's ``ModelServer`` options (``http_port``, ``predictor_config``…).
    """

    def __init__(self, host: str, **options):
        super().__init__(enable_grpc=False, enable_latency_logging=False, workers=1, **options)
        ignore_their_deprecations()
        self.host = host
        self.dataplane = VersionedDataPlane(model_registry=self.registered_models)

    def _register_and_check_atleast_one_model_is_ready(self, models):
        self.models = list(models)
        for model in models:  # registered before they are ready: each becomes ready with its first version
            self.register_model(model)
            model.start()

    async def _serve(self):
        self._rest_server.config.host = self.host  # kserve's RESTServer hard-codes 0.0.0.0
        install_handlers(app)
        log.info("Listening on http://%s:%d.", self.host, self.http_port)
        try:
            await super()._serve()
        finally:  # the server stopped (SIGTERM; kserve has unregistered the models): close their connections
            for model in self.models:
                await model.close()
