"""Git over HTTP on 127.0.0.1: the lab's stand-in for Gitea.

A small WSGI app checks HTTP basic auth, lets each user reach only ``/<user>/<repo>.git``, and
hands the request to git's own smart-HTTP server, ``git http-backend``, run as a CGI program.
Every bare repo gets a ``post-receive`` hook that POSTs a Gitea-style push event, one per
updated ref, to the URL in the repo's git config (``jukebox.pushEventUrl``): the CT trigger.

This file is also the hook: ``python gitserver.py post-receive``. That part uses the standard
library only, so it runs with any Python, without the kit installed.
"""

import base64
import hmac
import io
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import application_uri, is_hop_by_hop

_log = logging.getLogger(__name__)

REALM = "jukebox lab git"
PUSH_EVENT_URL_KEY = "jukebox.pushEventUrl"
PUSH_EVENT_TIMEOUT = 3  # seconds: a CT trigger that is down must not hold up the push
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ZERO_SHA = "0" * 40  # "before" of a new branch, "after" of a deleted one
COMMIT_FORMAT = "%H%x1f%an%x1f%ae%x1f%aI%x1f%B"  # sha, author, email, date, message: split at \x1f

# Identity of the seed commit, so that it works on a machine with no git identity configured.
LAB_IDENTITY = {
    "GIT_AUTHOR_NAME": "jukebox lab",
    "GIT_AUTHOR_EMAIL": "lab@jukebox.invalid",
    "GIT_COMMITTER_NAME": "jukebox lab",
    "GIT_COMMITTER_EMAIL": "lab@jukebox.invalid",
}
# Never part of a seed commit, whatever the seed's .gitignore says.
SEED_EXCLUDES = [".venv/", ".lab/", "__pycache__/"]

WSGIApp = Callable  # (environ, start_response) -> iterable of bytes


# --- The WSGI app -----------------------------------------------------------------------------


def make_app(repos_root: Path, users: dict[str, str]) -> WSGIApp:
    """A WSGI app serving the bare repos under ``repos_root`` to ``users`` ({name: password})."""
    repos_root = Path(repos_root).resolve()

    def app(environ, start_response):
        user = _authenticated_user(environ.get("HTTP_AUTHORIZATION", ""), users)
        if user is None:
            headers = [("WWW-Authenticate", f'Basic realm="{REALM}"')]
            return _text(start_response, "401 Unauthorized", "Log in with your lab user and password.", headers)
        parts = environ.get("PATH_INFO", "").split("/")  # "/user1/jukebox.git/info/refs" → ["", "user1", ...]
        if len(parts) < 4 or not all(NAME.fullmatch(part) for part in parts[1:3]) or not parts[2].endswith(".git"):
            return _text(start_response, "404 Not Found", "Repositories live at /<user>/<repo>.git.")
        owner, repo = parts[1], parts[2]
        if owner != user:
            return _text(start_response, "403 Forbidden", f"User {user} may only use repositories under /{user}/.")
        status, headers, body = _run_http_backend(environ, repos_root, user, f"{owner}/{repo}")
        start_response(status, headers)
        return [body]

    return app


def _authenticated_user(authorization: str, users: dict[str, str]) -> str | None:
    """The user named by a valid ``Authorization: Basic ...`` header, else None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except ValueError:  # bad base64 or not UTF-8
        return None
    expected = users.get(user)
    # compare_digest takes as long whatever the mismatch: timing does not reveal the password.
    if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
        return None
    return user


def _text(start_response, status: str, message: str, headers: list | None = None) -> list[bytes]:
    body = (message + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])])
    return [body]


def _run_http_backend(environ, repos_root: Path, user: str, repo: str) -> tuple[str, list, bytes]:
    """Run ``git http-backend`` for one request; return its status, headers and body.

    The CGI environment is this process's own (minus GIT_*) plus the CGI variables: request
    headers are not copied over, so the Authorization header (the password) never reaches git or
    the hooks. Buffered in memory: fine for the lab.
    """
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        request_body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # servers that decode chunked bodies themselves
        request_body = environ["wsgi.input"].read()
    else:
        request_body = b""
    cgi = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    cgi.update(
        GIT_PROJECT_ROOT=str(repos_root),
        GIT_HTTP_EXPORT_ALL="1",
        GATEWAY_INTERFACE="CGI/1.1",
        PATH_INFO=environ["PATH_INFO"],
        QUERY_STRING=environ.get("QUERY_STRING", ""),
        REQUEST_METHOD=environ["REQUEST_METHOD"],
        CONTENT_TYPE=environ.get("CONTENT_TYPE", ""),
        CONTENT_LENGTH=str(len(request_body)),
        REMOTE_USER=user,
        REMOTE_ADDR=environ.get("REMOTE_ADDR", ""),
        # The URL the client used, minus any credentials: the push event's clone_url.
        JUKEBOX_CLONE_URL=application_uri(environ).rstrip("/") + f"/{repo}",
    )
    # git clients gzip large fetch requests (http-backend inflates them) and ask for protocol v2.
    for header, variable in [("HTTP_CONTENT_ENCODING", "HTTP_CONTENT_ENCODING"), ("HTTP_GIT_PROTOCOL", "GIT_PROTOCOL")]:
        if environ.get(header):
            cgi[variable] = environ[header]
    done = subprocess.run(["git", "http-backend"], input=request_body, env=cgi, capture_output=True)
    if done.stderr:
        _log.warning("git http-backend: %s", done.stderr.decode(errors="replace").strip())
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    status, headers = "200 OK", []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = value.strip()
        elif name and not is_hop_by_hop(name):
            headers.append((name, value.strip()))
    if done.returncode != 0 and not head:
        return "500 Internal Server Error", [("Content-Type", "text/plain")], b"git http-backend failed.\n"
    return status, headers, body


# --- The server -------------------------------------------------------------------------------


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """Access log at DEBUG level. A request line never holds credentials: they are in a header."""

    def log_message(self, format, *args):  # noqa: A002 - the signature is the standard library's
        _log.debug("%s %s", self.address_string(), format % args)


def _dechunked(app: WSGIApp) -> WSGIApp:
    """Decode ``Transfer-Encoding: chunked`` request bodies, which wsgiref passes on raw.

    git sends pushes larger than ``http.postBuffer`` (1 MiB) chunked, with no Content-Length.
    Under wsgiref, ``wsgi.input`` is the socket itself: reading it "to the end" would wait
    forever, since the client keeps the connection open for the response.
    """

    def wrapper(environ, start_response):
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = _read_chunked(environ["wsgi.input"])
            _log.debug("%s: decoded a chunked request body of %d bytes", environ.get("PATH_INFO"), len(body))
            environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            del environ["HTTP_TRANSFER_ENCODING"]
        return app(environ, start_response)

    return wrapper


def _read_chunked(stream) -> bytes:
    """Read one chunked body: ``<hex size>\\r\\n<data>\\r\\n`` ... ``0\\r\\n`` [trailers] ``\\r\\n``."""
    body = bytearray()
    while size := int(stream.readline().split(b";")[0], 16):
        body += stream.read(size)
        stream.readline()  # the CRLF that ends each chunk
    while stream.readline() not in (b"\r\n", b"\n", b""):  # optional trailer headers
        pass
    return bytes(body)


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """A threaded WSGI server for ``app`` bound to exactly ``host:port`` (0: a free port).

    Run it with ``threading.Thread(target=server.serve_forever, daemon=True).start()``; stop it
    with ``server.shutdown()`` then ``server.server_close()``. Its port: ``server.server_port``.
    """
    return make_server(host, port, _dechunked(app), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)


# --- The repos --------------------------------------------------------------------------------


def _git(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(["git", *args], env=env, capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"git {args[0]} failed: {message}")
    return done.stdout.decode().strip()


def create_repo(
    repos_root: Path,
    owner: str,
    name: str,
    seed: Path | None = None,
    push_event_url: str | None = None,
    default_branch: str = "main",
) -> Path:
    """Create the bare repo ``repos_root/owner/name.git``, pushable over HTTP; return its path.

    ``seed``: a folder whose files (minus .git, .venv, .lab, __pycache__ and what its .gitignore
    files ignore) become the first commit. ``push_event_url``: where the hook POSTs push events.
    If the repo exists, it is left untouched (change the URL with ``set_push_event_url``).
    """
    for part in (owner, name):
        if not NAME.fullmatch(part) or part.endswith(".git"):
            raise ValueError(f"{part!r} is not a valid user or repository name: use letters, digits, '.', '_', '-'.")
    path = Path(repos_root).resolve() / owner / f"{name}.git"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the final place, then rename: a half-made repo never looks like an existing one.
    building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=path.parent))
    try:
        _git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(building))
        _git("--git-dir", str(building), "config", "http.receivepack", "true")
        if push_event_url:
            set_push_event_url(building, push_event_url)
        _install_hook(building)
        if seed is not None:
            _seed_commit(building, Path(seed), default_branch)
        building.rename(path)
    except OSError:
        if not path.exists():  # not lost to a concurrent create_repo of the same repo
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return path


def head_commit(repo_path: Path, branch: str = "main") -> str:
    """The commit ``branch`` of the bare repo points to."""
    return _git("--git-dir", str(repo_path), "rev-parse", f"refs/heads/{branch}")


def _seed_commit(bare: Path, seed: Path, branch: str) -> None:
    """Commit the files of ``seed`` to ``branch`` of ``bare``, with a throwaway index, no checkout."""
    if not seed.is_dir():
        raise ValueError(f"The seed {seed} is not a folder.")
    (bare / "info").mkdir(exist_ok=True)
    with open(bare / "info" / "exclude", "a") as exclude:
        exclude.write("\n".join(["# seed commit", *SEED_EXCLUDES]) + "\n")
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, **LAB_IDENTITY, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git_dir = ["--git-dir", str(bare), "--work-tree", str(seed.resolve())]
        _git(*git_dir, "add", "--all", ".", env=env)
        tree = _git(*git_dir, "write-tree", env=env)
        commit = _git(*git_dir, "commit-tree", "--no-gpg-sign", "-m", "Initial commit", tree, env=env)
        _git(*git_dir, "update-ref", f"refs/heads/{branch}", commit, env=env)


def _install_hook(bare: Path) -> None:
    """A ``post-receive`` hook that runs this file with this Python (no python needed in PATH)."""
    hook = bare / "hooks" / "post-receive"
    hook.parent.mkdir(exist_ok=True)
    command = shlex.join([sys.executable, "-I", str(Path(__file__).resolve()), "post-receive"])
    hook.write_text(
        "#!/bin/sh\n"
        f"# Installed by jukebox.lab.gitserver: POST push events to `git config {PUSH_EVENT_URL_KEY}`.\n"
        f"exec {command}\n"
    )
    hook.chmod(0o755)


def set_push_event_url(repo_path: Path, url: str) -> None:
    """Make the repo's hook POST its push events to ``url`` (e.g. when the lab's ports change)."""
    _git("--git-dir", str(repo_path), "config", PUSH_EVENT_URL_KEY, url)


# --- The hook (standard library only: it runs as a script) ------------------------------------


def push_event(repo_path: Path, ref: str, before: str, after: str, pusher: str, clone_url: str) -> dict:
    """The Gitea-style push event for one updated ref (up to 20 commits, newest first)."""
    owner, name = repo_path.parent.name, repo_path.name.removesuffix(".git")
    commits = []
    if after != ZERO_SHA:  # a deleted branch has no commits
        revisions = [after] if before == ZERO_SHA else [f"{before}..{after}"]
        log = _git("--git-dir", str(repo_path), "log", "-z", "-20", f"--format={COMMIT_FORMAT}", *revisions)
        for entry in filter(None, log.split("\0")):
            sha, author, email, timestamp, message = entry.split("\x1f", 4)
            author = {"name": author, "email": email}
            commits.append({"id": sha, "message": message.rstrip(), "timestamp": timestamp, "author": author})
    user = {"login": pusher, "username": pusher}
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "commits": commits,
        "head_commit": commits[0] if commits else None,
        "repository": {
            "name": name,
            "full_name": f"{owner}/{name}",
            "owner": {"login": owner, "username": owner},
            "clone_url": clone_url,
        },
        "pusher": user,
        "sender": user,
    }


def post_receive(updates: Iterable[str], repo_path: Path) -> None:
    """The hook: POST one push event per ``<before> <after> <ref>`` line to the configured URL.

    Never fails the push: if the CT trigger is down or slow, say so on stderr (the pusher sees
    it as ``remote: ...``) and carry on.
    """
    found = subprocess.run(["git", "--git-dir", str(repo_path), "config", PUSH_EVENT_URL_KEY], capture_output=True)
    url = found.stdout.decode().strip()
    if not url:
        return
    pusher = os.environ.get("REMOTE_USER") or repo_path.parent.name
    clone_url = os.environ.get("JUKEBOX_CLONE_URL") or repo_path.as_uri()
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the CT trigger is local
    for line in updates:
        if not line.strip():
            continue
        before, after, ref = line.split()
        event = push_event(repo_path, ref, before, after, pusher, clone_url)
        request = urllib.request.Request(
            url,
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json", "X-Gitea-Event": "push"},
            method="POST",
        )
        try:
            no_proxy.open(request, timeout=PUSH_EVENT_TIMEOUT).close()
        except urllib.error.HTTPError as error:
            print(f"CT trigger at {url} refused the push event for {ref}: HTTP {error.code}.", file=sys.stderr)
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)  # URLError wraps the socket's error
            print(f"CT trigger unreachable at {url} ({reason}); the push itself succeeded.", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] != ["post-receive"]:
        sys.exit("usage: gitserver.py post-receive  (run by git as a repo's post-receive hook)")
    post_receive(sys.stdin, Path.cwd())  # git runs hooks in the bare repo
