"""The Jukebox page's web server: the page, the song search, and the model's v2 endpoints passed through.

Standard library ``http.server`` (a thread per request), not FastAPI: the server has three kinds
of answer (static files, one JSON search, a pass-through), none of which gains from an ASGI
framework, and a blocking pass-through with ``urllib`` is a few lines where an async one would need
an async HTTP client as well. It starts in about a second, with nothing to configure.

- ``GET /`` and the files in ``static/``: the page (plain HTML, CSS and JavaScript, no external asset).
- ``GET /api/songs?q=TEXT``: up to 20 songs of the participant's catalog (see ``catalog.py``).
- ``GET /api/controls``: the "what if" mode's toggles and sliders, from the data contract (``controls.py``).
- ``GET /api/song-properties?id=ID``: a song's raw properties from the catalog, where the sliders
  start; without ``id``, the catalog's median song's. A 404 with one sentence when there is none.
- ``/v2/...``: passed to the model server at ``--model_url`` as they are; its answers come back as
  they are (a 404 for an unknown song, a 400…). Unreachable, it becomes a 503 with one sentence.
- ``GET /health``.
"""

import argparse
import json
import logging
import mimetypes
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jukebox.serving.jukebox_ui.catalog import NO_CATALOG, Catalog
from jukebox.serving.jukebox_ui.controls import controls

STATIC = Path(__file__).with_name("static")
MODEL_TIMEOUT = 30  # seconds the page server waits for the model server's answer
MAX_BODY = 1 << 20  # the largest v2 request passed on (a song id is a few dozen bytes)
# Marks the page server's own "model server down" answer, so that the page tells it from the model's 503.
DOWN_HEADER = "X-Jukebox-Model-Server"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

log = logging.getLogger("jukebox_ui")


class JukeboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], catalog: Catalog, model_url: str):
        super().__init__(address, Handler)
        self.catalog, self.model_url = catalog, model_url.rstrip("/")
        # No proxy from the environment: the model server is the one at --model_url, not behind HTTP_PROXY.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(BaseHTTPRequestHandler):
    server: JukeboxServer

    def version_string(self) -> str:
        return "jukebox-ui"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path.startswith("/v2/"):
            self.pass_to_model()
        elif path == "/api/songs":
            text = urllib.parse.parse_qs(query).get("q", [""])[0]
            self.send_json(HTTPStatus.OK, self.server.catalog.search(text))
        elif path == "/api/controls":
            self.send_json(HTTPStatus.OK, {"controls": controls()})
        elif path == "/api/song-properties":
            self.send_song_properties(urllib.parse.parse_qs(query).get("id", [None])[0])
        elif path == "/health":
            self.send_json(HTTPStatus.OK, {"status": "ok"})
        else:
            self.send_static(path)

    def do_POST(self) -> None:
        if self.path.startswith("/v2/"):
            self.pass_to_model()
        else:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"There is nothing to post to at {self.path}."})

    def send_song_properties(self, song_id: str | None) -> None:
        found = self.server.catalog.properties(song_id)
        if found is not None:
            self.send_json(HTTPStatus.OK, found)
        elif song_id is None:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"There is {NO_CATALOG}."})
        else:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"There is no song {song_id} in the catalog."})

    def send_static(self, path: str) -> None:
        name = "index.html" if path == "/" else path.removeprefix("/")
        file = STATIC / name
        if "/" in name or not file.is_file():
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"There is no page at {path}."})
            return
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.send(HTTPStatus.OK, file.read_bytes(), f"{kind}; charset=utf-8" if kind.startswith("text/") else kind)

    def pass_to_model(self) -> None:
        """Send the request to the model server as it came; send its answer back as it came."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "A v2 request to the model is at most 1 MB."})
            return
        body = self.rfile.read(length) if length else None
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json"), "Accept": "application/json"}
        request = urllib.request.Request(
            self.server.model_url + self.path, data=body, headers=headers, method=self.command
        )
        try:
            with self.server.opener.open(request, timeout=MODEL_TIMEOUT) as answer:
                self.send(answer.status, answer.read(), answer.headers.get("Content-Type", "application/json"))
        except urllib.error.HTTPError as error:
            self.send(error.code, error.read(), error.headers.get("Content-Type", "application/json"))
        except (urllib.error.URLError, OSError) as error:
            reason = why_not_answering(error)
            sentence = f"The model server at {self.server.model_url} is not answering: {reason}."
            self.send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": sentence}, {DOWN_HEADER: "not-answering"})

    def send_json(self, status: int, content: dict, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(content).encode(), "application/json", headers)

    def send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **(headers or {}), "Content-Type": kind}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the standard library's signature
        log.info("%s %s", self.address_string(), format % args)


def why_not_answering(error: Exception) -> str:
    reason = getattr(error, "reason", error)
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {MODEL_TIMEOUT} s"
    return str(getattr(reason, "strerror", None) or reason).rstrip(".")


def model_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL such as http://127.0.0.1:8080.")
    if parsed.username or parsed.password:
        raise argparse.ArgumentTypeError("Give the model server's URL without a user name or password.")
    return value.rstrip("/")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m jukebox.serving.jukebox_ui", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="the page's port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--model_url",
        type=model_url,
        required=True,
        help="the model's v2 server (the transformer), e.g. http://127.0.0.1:8080",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    catalog = Catalog()
    try:
        server = JukeboxServer((args.host, args.port), catalog, args.model_url)
    except OSError as error:
        parser.exit(1, f"Cannot listen on {args.host}:{args.port}: {error.strerror}.\n")
    log.info(
        "Jukebox page on http://%s:%s (model server %s, songs from s3://%s/%s at %s).",
        args.host, args.port, args.model_url, catalog.bucket, catalog.key, catalog.endpoint,
    )  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop as on Ctrl-C: close the socket, no trace
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
