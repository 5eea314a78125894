"""Serve the kit's data folder over HTTP on 127.0.0.1: the stand-in for GitHub raw URLs.

Pipeline parameters such as ``rankings_url`` stay real URLs in both targets; on this machine
they point here.
"""

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jukebox.paths import DATA_PREP


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is the standard library's
        pass


@contextlib.contextmanager
def serve_folder(folder: Path = DATA_PREP) -> Iterator[str]:
    """Serve ``folder`` on a free port of 127.0.0.1; yield its base URL (no trailing slash)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Run ``server`` (bound to 127.0.0.1) in a thread; yield its base URL, shut it down at the end."""
    thread = threading.Thread(target=server.serve_forever, name="http-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
