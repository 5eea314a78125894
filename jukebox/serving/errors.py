"""The errors a client of the servers gets: one sentence each, with the right HTTP status.

kserve maps its own error classes to HTTP statuses (``kserve/errors.py``, registered by its REST
server): ``InvalidInput`` → 400, ``ModelNotFound`` → 404, ``ModelNotReady`` → 503. The classes
here extend them, so a status is kserve's own. But kserve's ``ModelNotFound`` and
``ModelNotReady`` write their own message ("Model with name jukebox does not exist."), and its
handlers log a traceback for every refused request. So each class here carries our sentence, and
``install_handlers`` registers one handler for them (Starlette picks the handler of the most
specific class, so kserve's handlers stay for everything else): it answers ``{"error": sentence}``
with the class's status, and logs one line at debug level (shown with ``--access_log``).

A body that is not an inference request at all (not JSON, no ``inputs``, a list where a string
belongs) is refused by FastAPI before kserve sees it, with a 422 and a list of details; the
handler below turns that into a 400 that names the first problem.
"""

import logging
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady

log = logging.getLogger("jukebox.serving")


class BadRequest(InvalidInput):
    """The request is malformed or does not fit the model (400)."""

    status = HTTPStatus.BAD_REQUEST


class NotFound(ModelNotFound):
    """What the request names does not exist: a song, a model version (404)."""

    status = HTTPStatus.NOT_FOUND

    def __init__(self, message: str):
        self.reason = message  # kserve's ModelNotFound would write "Model with name … does not exist."


class Unavailable(ModelNotReady):
    """Something the answer needs is not there now: the predictor, a version's files (503)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE

    def __init__(self, message: str):
        super().__init__(model_name="jukebox")
        self.error_msg = message  # kserve's ModelNotReady would write "Model with name … is not ready."


async def refuse(_request, error) -> JSONResponse:
    """Answer one of the errors above: its status, its sentence (and one log line with ``--access_log``)."""
    log.debug("Refused a request (%d): %s", error.status, error)
    return JSONResponse(status_code=error.status, content={"error": str(error)})


def validation_message(errors: list[dict]) -> str:
    """One sentence for FastAPI's validation errors of an inference request body.

    Args:
        errors: ``RequestValidationError.errors()``; kserve's endpoint accepts the body as an
            ``InferenceRequest`` or as bytes, so each problem comes twice: the bytes one is skipped.
    """
    for error in errors:
        place = [part for part in error["loc"] if part not in ("body", "InferenceRequest")]
        if place and place[0] == "bytes":
            continue
        if error["type"] == "json_invalid":
            return "The request body is not valid JSON."
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in place).lstrip(".")
        if error["type"] == "missing":
            return f"The request has no '{where}': an inference request has a list of 'inputs'."
        return f"The request's '{where}' is wrong: {error['msg'].rstrip('.')}."
    return "The request is not an inference request (Open Inference Protocol v2)."


async def refuse_invalid_body(_request, error: RequestValidationError) -> JSONResponse:
    message = validation_message(error.errors())
    log.debug("Refused a request (400): %s", message)
    return JSONResponse(status_code=HTTPStatus.BAD_REQUEST, content={"error": message})


def install_handlers(app: FastAPI) -> None:
    """Answer the errors above, and malformed bodies, with one sentence (see the module's docstring)."""
    for kind in (BadRequest, NotFound, Unavailable):
        app.add_exception_handler(kind, refuse)
    app.add_exception_handler(RequestValidationError, refuse_invalid_body)
