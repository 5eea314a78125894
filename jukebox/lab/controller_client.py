"""The controller's HTTP API, as the lab's CLI (and the tests) call it: three small calls.

The controller (``jukebox/lab/controller.py``) answers on the git server's port. A refusal comes
back as its own one-sentence reason; a controller that does not answer is the lab being down.
"""

import json
import urllib.error
import urllib.request

from jukebox.lab import settings


class ControllerError(RuntimeError):
    """The controller refused a request, or did not answer; the message says why in one sentence."""


def _post(lab: settings.LabSettings, path: str, payload: dict) -> dict:
    request = urllib.request.Request(
        f"{lab.git_url}{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise ControllerError(error.read().decode().strip()) from None
    except urllib.error.URLError:
        raise ControllerError("The lab is not running: start it with `up`.") from None


def start_run(lab: settings.LabSettings, name: str, script: str, parameters: dict, user: str) -> str:
    """Queue an ad-hoc run of a pipeline script for ``user``; return the run's id."""
    request = {"name": name, "script": script, "parameters": parameters, "user": user}
    return _post(lab, "/api/runs", request)["run"]


def cancel_runs(lab: settings.LabSettings, user: str | None = None) -> list[str]:
    """Cancel the queued and running runs of ``user`` (of everyone by default); return their ids."""
    return _post(lab, "/api/runs/cancel", {"user": user})["cancelled"]


def reread_participants(lab: settings.LabSettings) -> None:
    """Tell a running controller to read the lab's settings again (after ``up --user`` added someone)."""
    _post(lab, "/api/participants", {})
