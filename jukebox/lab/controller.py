"""The lab's controller process: git over HTTP, the push hook, raw data, the CT runner, schedules.

One process, started by ``lab up``, on the lab's git port:

- ``/<user>/<repo>.git/…``: the git server (basic auth), repos under ``<lab>/git/``;
- ``POST /hooks/push``: Gitea-style push events from the repos' post-receive hook. A push to
  ``<user>/jukebox`` queues a CT run; a push to ``<user>/mlops-gitops`` reconciles it (and queues
  the initialization of the participant's feast database, once declared, until it succeeds);
- ``POST /api/runs``: an ad-hoc run of a pipeline script (``runs start``);
- ``POST /api/runs/cancel``: cancel a user's (or everyone's) queued and running runs (``runs cancel``);
- ``POST /api/participants``: read the lab's settings again after ``up --user`` added participants
  to the running lab, and give the new ones their repos, git password and buckets;
- ``/raw/<file>``: the files of ``99-data_prep/`` (the stand-in for GitHub raw URLs);
- ``/health``.

Runs (CT, scheduled, ad hoc and initializations) execute one at a time, in the order they arrived, on a worker thread.
"""

import argparse
import json
import mimetypes
import queue
import signal
import tempfile
import threading
import time
from pathlib import Path

from jukebox.lab import ct, feast_database, gitops, gitserver, runs, schedules, settings
from jukebox.paths import DATA_PREP, REPO_ROOT

GITOPS_TEMPLATE = Path(__file__).with_name("gitops_template")
NO_COMMIT = "0" * 40


def render_gitops_seed(lab: settings.LabSettings, user: str, folder: Path) -> Path:
    """The first commit of a user's mlops-gitops repo, from the template beside this file."""
    for source in GITOPS_TEMPLATE.rglob("*"):
        if source.is_file():
            target = folder / source.relative_to(GITOPS_TEMPLATE)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = source.read_text()
            for name, value in gitops.placeholders(lab, user).items():
                text = text.replace(f"{{{name.lower()}}}", value)
            target.write_text(text)
    return folder


class Controller:
    def __init__(self, lab: settings.LabSettings):
        self.lab = lab
        self.repos = lab.home / "git"
        self.work: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.passwords = dict(settings.credentials(lab)["git"])  # the git server reads this very dict

    # -- set-up -------------------------------------------------------------------------------

    def prepare_repos(self) -> None:
        """Create each user's two repos (idempotent) and point their hooks at this controller."""
        for user in self.lab.users:
            jukebox = gitserver.create_repo(self.repos, user, "jukebox", seed=REPO_ROOT)
            with tempfile.TemporaryDirectory() as folder:
                seed = render_gitops_seed(self.lab, user, Path(folder))
                gitops_repo = gitserver.create_repo(self.repos, user, "mlops-gitops", seed=seed)
            for repo in (jukebox, gitops_repo):
                gitserver.set_push_event_url(repo, self.lab.push_event_url)
            self.reconcile(user, gitops_repo)

    def fail_interrupted_runs(self) -> None:
        for run in runs.load_all(self.lab.home):
            if run.status not in runs.FINISHED:
                run.status, run.message, run.finished = "failed", "The lab was stopped during this run.", time.time()
                runs.save(self.lab.home, run)

    # -- events -------------------------------------------------------------------------------

    def on_push(self, event: dict) -> dict:
        repository = event["repository"]
        user, name = repository["owner"]["login"], repository["name"]
        if event.get("ref") != "refs/heads/main" or event.get("after", NO_COMMIT) == NO_COMMIT:
            return {"ignored": "only pushes to main trigger anything"}
        if name == "jukebox":
            run = runs.create(self.lab.home, "ct", f"push {event['after'][:7]}", user, commit=event["after"])
            clone_url = f"{self.lab.git_url}/{user}/jukebox.git"
            self.work.put(lambda: ct.ct_run(self.lab, run, clone_url))
            return {"run": run.id}
        if name == "mlops-gitops":
            repo = self.repos / user / "mlops-gitops.git"
            threading.Thread(target=self.reconcile, args=(user, repo, event["after"]), daemon=True).start()
            return {"reconcile": f"{user}/mlops-gitops@{event['after'][:7]}"}
        return {"ignored": f"no automation for {name}"}

    def reconcile(self, user: str, gitops_repo: Path, commit: str = "main") -> dict:
        """Reconcile ``user``'s mlops-gitops; queue their feast database's initialization if it is due."""
        report = gitops.reconcile(self.lab, user, gitops_repo, commit)
        if report.get("feast_database") == "declared":
            self.initialize_feast_database(user)
        return report

    def initialize_feast_database(self, user: str) -> None:
        """Queue the Job ``initialize-feast-database`` (unless one is queued or running): main's feature repo."""
        if any(
            run.user == user and run.title == feast_database.INIT_RUN and run.status not in runs.FINISHED
            for run in runs.load_all(self.lab.home)
        ):
            return
        main = gitserver.head_commit(self.repos / user / "jukebox.git")
        run = runs.create(self.lab.home, "job", feast_database.INIT_RUN, user, commit=main)
        clone_url = f"{self.lab.git_url}/{user}/jukebox.git"
        self.work.put(lambda: ct.feast_database_run(self.lab, run, clone_url))

    def add_participants(self) -> dict:
        """``up --user`` on a running lab: the new participants get their repos, password and buckets."""
        self.lab = settings.load(self.lab.home)
        self.passwords.update(settings.credentials(self.lab)["git"])
        self.prepare_repos()
        return {"users": self.lab.users}

    def start_run(self, request: dict) -> dict:
        """An ad-hoc run of a pipeline script (the dashboard's "create run"), queued like any run."""
        script = Path(request["script"]).resolve()
        if not script.is_file():
            raise ValueError(f"No pipeline script at {script}.")
        user = request.get("user") or self.lab.default_user
        if user not in self.lab.users:
            raise ValueError(f"No user {user} in the lab.")
        run = runs.create(self.lab.home, "adhoc", request["name"], user, parameters=request.get("parameters", {}))
        self.work.put(lambda: ct.pipeline_run(self.lab, run, script))
        return {"run": run.id}

    # -- threads ------------------------------------------------------------------------------

    def worker(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self.work.get(timeout=0.5)
            except queue.Empty:
                continue
            job()

    def scheduler(self) -> None:
        while not self.stopping.wait(1.0):
            for run, script in schedules.due_runs(self.lab.home):
                self.work.put(lambda run=run, script=script: ct.pipeline_run(self.lab, run, script))

    # -- HTTP ---------------------------------------------------------------------------------

    def app(self, git_app):
        def application(environ, start_response):
            path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
            if path == "/health":
                return respond(start_response, "200 OK", b"ok\n", "text/plain")
            if path == "/hooks/push" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                try:
                    event = json.loads(environ["wsgi.input"].read(length))
                    answer = self.on_push(event)
                except (ValueError, KeyError) as error:
                    return respond(start_response, "400 Bad Request", f"Not a push event: {error}\n".encode())
                return respond(start_response, "202 Accepted", json.dumps(answer).encode(), "application/json")
            if path == "/api/runs/cancel" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                user = json.loads(environ["wsgi.input"].read(length) or b"{}").get("user")
                answer = {"cancelled": ct.cancellation.cancel(self.lab.home, user)}
                return respond(start_response, "200 OK", json.dumps(answer).encode(), "application/json")
            if path == "/api/runs" and method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                try:
                    answer = self.start_run(json.loads(environ["wsgi.input"].read(length)))
                except (ValueError, KeyError) as error:
                    return respond(start_response, "400 Bad Request", f"{error}\n".encode())
                return respond(start_response, "202 Accepted", json.dumps(answer).encode(), "application/json")
            if path == "/api/participants" and method == "POST":
                answer = self.add_participants()
                return respond(start_response, "200 OK", json.dumps(answer).encode(), "application/json")
            if path.startswith("/raw/") and method in ("GET", "HEAD"):
                return self.raw(path.removeprefix("/raw/"), start_response)
            return git_app(environ, start_response)

        return application

    def raw(self, name: str, start_response):
        target = (DATA_PREP / name).resolve()
        if target.parent != DATA_PREP.resolve() or not target.is_file():
            return respond(start_response, "404 Not Found", f"No file {name} in 99-data_prep/.\n".encode())
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return respond(start_response, "200 OK", target.read_bytes(), kind)


def respond(start_response, status: str, body: bytes, kind: str = "text/plain"):
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    parser = argparse.ArgumentParser(description="The lab's controller (started by `lab up`).")
    parser.add_argument("--home", type=Path, required=True)
    home = parser.parse_args().home
    lab = settings.load(home)
    controller = Controller(lab)
    controller.fail_interrupted_runs()
    controller.prepare_repos()
    git_app = gitserver.make_app(controller.repos, controller.passwords)
    server = gitserver.serve(controller.app(git_app), "127.0.0.1", lab.ports["git"])
    for target in (controller.worker, controller.scheduler):
        threading.Thread(target=target, daemon=True).start()

    def shut_down(*_):
        controller.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    print(f"Controller ready on {lab.git_url}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
