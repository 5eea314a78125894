"""The lab's git server, with a real git client over real HTTP on 127.0.0.1 (no mocks)."""

import base64
import gzip
import http.client
import json
import logging
import os
import queue
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jukebox.lab import gitserver

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Learner",
    "GIT_AUTHOR_EMAIL": "learner@example.invalid",
    "GIT_COMMITTER_NAME": "Test Learner",
    "GIT_COMMITTER_EMAIL": "learner@example.invalid",
}
# A credential helper that answers from environment variables: the password stays out of URLs,
# argv and git's output. The first, empty value drops any helper configured on this machine.
CREDENTIAL_HELPER = '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" "$LAB_USER" "$LAB_PASSWORD"; }; f'


class GitServer:
    """A git server on a free port of 127.0.0.1, its repos folder and two users."""

    def __init__(self, root: Path, events_url: str):
        self.root, self.events_url = root, events_url
        self.passwords = {"user1": secrets.token_urlsafe(12), "user2": secrets.token_urlsafe(12)}
        self.http = gitserver.serve(gitserver.make_app(root, self.passwords), "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def git(self, *args, cwd=None, user="user1", password=None, check=True) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
        env.update(
            IDENTITY,
            GIT_TERMINAL_PROMPT="0",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_CONFIG_COUNT="2",
            GIT_CONFIG_KEY_0="credential.helper",
            GIT_CONFIG_VALUE_0="",
            GIT_CONFIG_KEY_1="credential.helper",
            GIT_CONFIG_VALUE_1=CREDENTIAL_HELPER,
            LAB_USER=user,
            LAB_PASSWORD=self.passwords[user] if password is None else password,
        )
        done = subprocess.run(
            ["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=env, capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
        return done

    def clone(self, repo: str, into: Path, **kwargs) -> subprocess.CompletedProcess:
        return self.git("clone", f"{self.url}/{repo}.git", str(into), **kwargs)

    def refs(self, repo: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.root / f"{repo}.git"), "for-each-ref"], capture_output=True, text=True
        ).stdout


@pytest.fixture(scope="module")
def events():
    """A stand-in CT trigger on a free port: yields (url, queue of received push events)."""
    received = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((self.headers["X-Gitea-Event"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/push", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(tmp_path, events):
    url, received = events
    while not received.empty():
        received.get()
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "README.md").write_text("# jukebox\n")
    server = GitServer(tmp_path / "repos", url)
    gitserver.create_repo(server.root, "user1", "jukebox", seed=seed, push_event_url=url)
    gitserver.create_repo(server.root, "user2", "jukebox", seed=seed, push_event_url=url)
    server.received = received
    yield server
    server.http.shutdown()
    server.http.server_close()


def commit_file(server: GitServer, work: Path, name: str, content: bytes, message: str) -> str:
    (work / name).write_bytes(content)
    server.git("add", name, cwd=work)
    server.git("commit", "--quiet", "-m", message, cwd=work)
    return server.git("rev-parse", "HEAD", cwd=work).stdout.strip()


def test_clone_with_credentials(server, tmp_path):
    done = server.clone("user1/jukebox", tmp_path / "work")
    assert (tmp_path / "work" / "README.md").read_text() == "# jukebox\n"
    assert server.passwords["user1"] not in done.stdout + done.stderr
    author = server.git("log", "-1", "--format=%an <%ae> %s", cwd=tmp_path / "work").stdout.strip()
    assert author == "jukebox lab <lab@jukebox.invalid> Initial commit"


def test_push_delivers_one_push_event(server, tmp_path):
    work = tmp_path / "work"
    server.clone("user1/jukebox", work)
    before = server.git("rev-parse", "HEAD", cwd=work).stdout.strip()
    after = commit_file(server, work, "train.py", b"print('train')\n", "Add training")
    pushed = server.git("push", "origin", "main", cwd=work)
    assert server.passwords["user1"] not in pushed.stdout + pushed.stderr

    kind, event = server.received.get(timeout=5)  # the hook has posted before the push returned
    assert server.received.empty()
    assert kind == "push"
    assert (event["ref"], event["before"], event["after"]) == ("refs/heads/main", before, after)
    assert event["repository"]["name"] == "jukebox"
    assert event["repository"]["full_name"] == "user1/jukebox"
    assert event["repository"]["owner"]["login"] == "user1"
    assert event["repository"]["clone_url"] == f"{server.url}/user1/jukebox.git"
    assert event["pusher"]["login"] == "user1"
    assert [(c["id"], c["message"]) for c in event["commits"]] == [(after, "Add training")]
    assert server.passwords["user1"] not in json.dumps(event)


def test_wrong_password_is_refused_and_pushes_nothing(server, tmp_path):
    token = base64.b64encode(b"user1:wrong").decode()
    request = urllib.request.Request(
        f"{server.url}/user1/jukebox.git/info/refs?service=git-upload-pack", headers={"Authorization": f"Basic {token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"] == 'Basic realm="jukebox lab git"'

    failed = server.clone("user1/jukebox", tmp_path / "nope", password="wrong-password", check=False)
    assert failed.returncode != 0 and "Authentication failed" in failed.stderr

    work = tmp_path / "work"
    server.clone("user1/jukebox", work)
    commit_file(server, work, "sneaky.txt", b"x\n", "Sneaky")
    refs = server.refs("user1/jukebox")
    failed = server.git("push", "origin", "main", cwd=work, password="wrong-password", check=False)
    assert failed.returncode != 0 and "Authentication failed" in failed.stderr
    assert "wrong-password" not in failed.stdout + failed.stderr
    assert server.refs("user1/jukebox") == refs
    assert server.received.empty()


def test_users_only_reach_their_own_repos(server, tmp_path):
    failed = server.clone("user1/jukebox", tmp_path / "theirs", user="user2", check=False)
    assert failed.returncode != 0 and "403" in failed.stderr
    server.clone("user2/jukebox", tmp_path / "mine", user="user2")


def test_big_binary_push_is_sent_chunked(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="jukebox.lab.gitserver")
    work = tmp_path / "work"
    server.clone("user1/jukebox", work)
    after = commit_file(server, work, "model.bin", os.urandom(2 * 1024 * 1024), "Add a 2 MB model")
    server.git("push", "origin", "main", cwd=work)

    bare = server.root / "user1" / "jukebox.git"
    size = subprocess.run(["git", "--git-dir", str(bare), "cat-file", "-s", f"{after}:model.bin"], capture_output=True)
    assert int(size.stdout) == 2 * 1024 * 1024
    assert "decoded a chunked request body" in caplog.text  # git sent it chunked: > http.postBuffer
    assert server.received.get(timeout=5)[1]["after"] == after
    token = base64.b64encode(f"user1:{server.passwords['user1']}".encode()).decode()
    assert server.passwords["user1"] not in caplog.text and token not in caplog.text


def test_gzip_chunked_request_body(server):
    """git gzips large fetch requests; here by hand, gzip'd and chunked, in protocol v0."""
    head = server.refs("user1/jukebox").split()[0]
    want = f"want {head}\n"
    request = f"{len(want) + 4:04x}{want}00000009done\n".encode()
    token = base64.b64encode(f"user1:{server.passwords['user1']}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.http.server_port, timeout=10)
    connection.request(
        "POST",
        "/user1/jukebox.git/git-upload-pack",
        body=iter([gzip.compress(request)]),
        headers={
            "Authorization": f"Basic {token}",
            "Content-Type": "application/x-git-upload-pack-request",
            "Content-Encoding": "gzip",
        },
        encode_chunked=True,
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200
    assert body.startswith(b"0008NAK\n") and b"PACK" in body


def test_create_repo_is_idempotent_and_seeds_without_clutter(tmp_path):
    seed = tmp_path / "seed"
    for name in ["app.py", "sub/data.txt", "debug.log", ".venv/bin/python", "__pycache__/app.pyc", ".lab/x"]:
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(name)
    (seed / ".gitignore").write_text("*.log\n")
    subprocess.run(["git", "init", "--quiet", str(seed)], check=True)  # a work tree: its .git stays out too

    repo = gitserver.create_repo(tmp_path / "repos", "user1", "jukebox", seed=seed, push_event_url="http://a/")
    files = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main"], capture_output=True, text=True
    )
    assert files.stdout.split() == [".gitignore", "app.py", "sub/data.txt"]
    head = subprocess.run(["git", "--git-dir", str(repo), "symbolic-ref", "HEAD"], capture_output=True, text=True)
    assert head.stdout.strip() == "refs/heads/main"

    state = sorted((path, path.stat().st_mtime_ns) for path in repo.rglob("*"))
    (seed / "new.py").write_text("new")
    again = gitserver.create_repo(tmp_path / "repos", "user1", "jukebox", seed=seed, push_event_url="http://b/")
    assert again == repo
    assert sorted((path, path.stat().st_mtime_ns) for path in repo.rglob("*")) == state
    assert [path.name for path in repo.parent.iterdir()] == ["jukebox.git"]  # no leftover build folder

    with pytest.raises(ValueError, match="not a valid"):
        gitserver.create_repo(tmp_path / "repos", "..", "jukebox")


def test_push_succeeds_when_ct_trigger_is_down_or_hangs(server, tmp_path):
    work = tmp_path / "work"
    server.clone("user1/jukebox", work)
    bare = server.root / "user1" / "jukebox.git"

    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        down_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hooks/push"
    gitserver.set_push_event_url(bare, down_url)
    commit_file(server, work, "a.txt", b"a\n", "A")
    pushed = server.git("push", "origin", "main", cwd=work)
    assert "CT trigger unreachable" in pushed.stderr

    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        gitserver.set_push_event_url(bare, f"http://127.0.0.1:{silent.getsockname()[1]}/hooks/push")
        after = commit_file(server, work, "b.txt", b"b\n", "B")
        started = time.monotonic()
        pushed = server.git("push", "origin", "main", cwd=work)
        assert time.monotonic() - started < gitserver.PUSH_EVENT_TIMEOUT + 5
    assert "CT trigger unreachable" in pushed.stderr
    assert server.refs("user1/jukebox").split()[0] == after
    assert server.received.empty()
