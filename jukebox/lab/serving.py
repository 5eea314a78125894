"""Chapter 7's serving in the lab: a participant's model server, transformer and Jukebox page.

On the cluster, chapter 7 deploys the model as a KServe InferenceService (a transformer in front
of the ONNX predictor) and the Jukebox UI. In the lab, ``python -m jukebox.lab serve [--user U]``
starts the same three for participant U, on demand (they need a model, so ``up`` does not start
them):

- ``model-server``: the model itself (``jukebox.serving.predictor``), one named input per feature;
- ``transformer``: ``jukebox.serving.transformer`` in front of it, song id → features (the
  participant's online store, through ``serving_fs``) → scaled → the model → countries;
- ``jukebox-ui``: the page that searches songs and shows their countries, through the transformer.

Both servers serve the version of the participant's model with the alias ``test`` (the alias CT
deploys) and follow it: a new deployment switches them without a restart.
"""

import json
import sys
import urllib.error
import urllib.request

from jukebox.lab import ct, settings

KINDS = ("model-server", "transformer", "jukebox-ui")
FEATURE_SERVICE = "serving_fs"
ENTITY_ID = "spotify_id"
DESCRIPTIONS = {  # what `status` says of each
    "model-server": "{model} with alias test, from MLflow",
    "transformer": "song id → the outer loop's Feast (project music) → model",
    "jukebox-ui": "search a song: its countries",
}
SERVED_NAME = "jukebox"  # the name in the v2 URLs, as on the cluster: /v2/models/jukebox/infer


def service_name(lab: settings.LabSettings, kind: str, user: str) -> str:
    """``model-server`` for the first participant, ``model-server-<user>`` for the others (as ``s3``)."""
    return kind if user == lab.default_user else f"{kind}-{user}"


def port(lab: settings.LabSettings, kind: str, user: str) -> int:
    return lab.ports[lab.serving_port_names(user)[KINDS.index(kind)]]


def url(lab: settings.LabSettings, kind: str, user: str) -> str:
    return f"http://127.0.0.1:{port(lab, kind, user)}"


def command(lab: settings.LabSettings, kind: str, user: str) -> list[str]:
    """The command line of ``user``'s ``kind`` of serving process."""
    source = ["--registered_model", lab.model_name(user), "--alias", ct.DEPLOYED_ALIAS]
    if kind == "model-server":
        return [
            *(sys.executable, "-m", "jukebox.serving.predictor", "--model_name", SERVED_NAME),
            *("--http_port", str(port(lab, kind, user)), *source),
        ]
    if kind == "transformer":
        return [
            *(sys.executable, "-m", "jukebox.serving.transformer", "--model_name", SERVED_NAME),
            *("--http_port", str(port(lab, kind, user)), *source),
            *("--predictor_host", f"127.0.0.1:{port(lab, 'model-server', user)}"),
            *("--feature_service", FEATURE_SERVICE, "--entity_id_name", ENTITY_ID),
        ]
    return [
        *(sys.executable, "-m", "jukebox.serving.jukebox_ui", "--port", str(port(lab, kind, user))),
        *("--model_url", url(lab, "transformer", user)),
    ]


def health_url(lab: settings.LabSettings, kind: str, user: str) -> str:
    """What answers once the process serves (a model server without a model yet is live, not ready)."""
    return url(lab, kind, user) + ("/health" if kind == "jukebox-ui" else "/v2/health/live")


def served_version(lab: settings.LabSettings, user: str, kind: str = "model-server") -> str | None:
    """The version ``user``'s model server (or transformer) serves now, or None (not running, or no model yet)."""
    try:
        with urllib.request.urlopen(f"{url(lab, kind, user)}/v2/models/{SERVED_NAME}", timeout=2) as answer:
            versions = json.load(answer).get("versions") or []
    except (OSError, ValueError, urllib.error.HTTPError):
        return None
    return versions[0] if versions else None
