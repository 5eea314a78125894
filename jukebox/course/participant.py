"""What a participant does in the lab: edit a file in their repo, commit and push, press play, start a run.

The edits are the guides' (``jukebox.course.workshop_edits``), made in a fresh clone of the participant's
repo and pushed on top of their ``main``: their own commits stay. Commands run with the
participant's variables (``python -m jukebox.lab env``); their output goes to one log file.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from jukebox import chapter_edits
from jukebox.lab import environment, gitclient, gitops, runs, serving, settings
from jukebox.paths import REPO_ROOT


class StepFailed(RuntimeError):
    """A step of the course did not work: its one-sentence reason."""


class Participant:
    """One participant of the running lab; their clones and log in a work folder under the lab's.

    Args:
        lab: the running lab's settings.
        user: the participant's name (``user1`` is the first).
    """

    def __init__(self, lab: settings.LabSettings, user: str):
        self.lab, self.user = lab, user
        own = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MLFLOW_"))}
        self.env = {**own, **environment.lab_environment(lab, user)}
        self.folder = lab.home / "workshop" / user  # made on first use: reading the lab leaves no trace
        self.log = self.folder / "workshop.log"

    def run(self, what: str, command: list[str], cwd: Path = REPO_ROOT) -> None:
        """Run ``command`` with the participant's variables; its output goes to the log."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            result = subprocess.run(command, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            lines = self.log.read_text(errors="replace").strip().splitlines()
            raise StepFailed(f"{what} failed: {lines[-1] if lines else 'no output'}")

    def press_play(self, script: Path) -> None:
        """Run a chapter's script from its folder, as the run button does."""
        self.run(script.name, [sys.executable, script.name], script.parent)

    def run_notebook(self, notebook: Path) -> Path:
        """Execute a chapter's notebook top to bottom (papermill); return the executed copy."""
        output = self.folder / notebook.name
        command = [sys.executable, "-m", "papermill", str(notebook), str(output), "--cwd", str(notebook.parent)]
        self.run(notebook.name, [*command, "-k", "python3", "--no-progress-bar"])
        return output

    def lab_command(self, what: str, *args: str) -> None:
        """``python -m jukebox.lab args`` as this participant."""
        self.run(what, [sys.executable, "-m", "jukebox.lab", *args, *self.user_option(args)])

    def user_option(self, args: tuple[str, ...]) -> list[str]:
        return [] if "--user" in args else ["--user", self.user]

    def edit_and_push(self, repo: str, path: str, edit: Callable[[str], str], message: str) -> str | None:
        """Edit ``path`` in a fresh clone of ``repo``, commit and push; the commit (None: nothing changed)."""
        clone = self.folder / repo
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(clone, ignore_errors=True)
        gitclient.clone(self.lab, self.user, repo, clone)
        target = clone / path
        target.parent.mkdir(parents=True, exist_ok=True)  # a new file: the guide's `mkdir` and `touch`
        edited = edit(target.read_text() if target.exists() else "")
        target.write_text(chapter_edits.fill_in(edited, gitops.placeholders(self.lab, self.user)))
        return gitclient.commit_and_push(self.lab, self.user, clone, message)

    def wait_for_gitops(self, commit: str | None, timeout: float = 60) -> None:
        """Wait until the lab has reconciled the pushed ``commit`` of mlops-gitops."""
        report, deadline = gitops.report_path(self.lab, self.user), time.monotonic() + timeout
        while commit and (not report.exists() or json.loads(report.read_text())["commit"] != commit):
            if time.monotonic() > deadline:
                raise StepFailed(f"The lab did not reconcile mlops-gitops within {timeout:.0f} s: see `status`.")
            time.sleep(0.5)

    def ct_run(self, commit: str) -> runs.Run:
        """Wait for the CT run of ``commit``; it must succeed."""
        run = runs.wait_for_commit(self.lab.home, commit)
        if run.status != "succeeded":
            raise StepFailed(f"CT run {run.id} {run.status}: {run.message}")
        return run

    def wait_for_job(self, title: str, since: float, timeout: float = 600) -> runs.Run:
        """Wait for the participant's run ``title`` of the lab's Jobs created after ``since``; it must succeed."""
        try:
            latest = runs.wait_for_job(self.lab.home, self.user, title, since, timeout)
        except TimeoutError as error:
            raise StepFailed(str(error)) from None
        if latest.status != "succeeded":
            raise StepFailed(f"Run {latest.id} ({title}) {latest.status}: {latest.message}")
        return latest

    def start_run(self, name: str, script: Path, parameters: dict[str, str]) -> None:
        """An ad-hoc run of a pipeline script in the lab, as the dashboard's "Create run"; wait for it."""
        options = [item for key, value in parameters.items() for item in ("--param", f"{key}={value}")]
        self.lab_command(name, "runs", "start", name, "--script", str(script), "--wait", *options)

    def ask_page(self, song_id: str) -> dict:
        """Ask the Jukebox page's model path (``/v2/…``) for a song; its outputs by name."""
        ids = {"name": "input", "shape": [1, 1], "datatype": "STRING", "data": [[song_id]]}
        request = urllib.request.Request(
            f"{serving.url(self.lab, 'jukebox-ui', self.user)}/v2/models/jukebox/infer",
            data=json.dumps({"inputs": [ids]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        return {"model_version": answer.get("model_version")} | {o["name"]: o["data"] for o in answer["outputs"]}


def top_countries(outputs: dict, count: int = 3) -> str:
    """``PT (30%), FI (15%), …``: the most likely countries of a page answer."""
    ranked = sorted(zip(outputs["country_codes"], outputs["probabilities"], strict=True), key=lambda c: -c[1])
    return ", ".join(f"{code} ({probability:.0%})" for code, probability in ranked[:count])


def page_refusal(error: urllib.error.HTTPError) -> str:
    """The page's one-sentence answer to a refused request."""
    body = error.read().decode(errors="replace")
    try:
        return json.loads(body).get("error", body)[:200]
    except ValueError:
        return body[:200]
