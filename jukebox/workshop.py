"""``make workshop``: the course in the local lab, as the first participant (user1) does it.

One line per step (its outcome and time); a step that fails stops the run with its reason and
leaves the lab up for a look. The participant's edits are the ones the guides ask for and the
scenario tests make (``jukebox.chapter_edits``), pushed to their repos in the lab; the runs are the
lab's (CT after a push, ad-hoc pipeline runs). Run twice, it continues: a step whose result is
already there (the same edit pushed, the data already in S3) does nothing new.

Steps: chapter 3's training pipeline; the data buckets declared in mlops-gitops; chapter 5's ETL
into ``s3://data``; chapter 7's notebook 1 (``feast apply``, materialize); the training pipeline
switched to the feature store and pushed (CT trains and deploys); the serving started; the
materializing data pipeline adds Live Forever; the Jukebox page answers for it.
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
from jukebox.lab import environment, gitclient, runs, serving, settings
from jukebox.paths import REPO_ROOT

LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"
TRAINING = Path("3-prod_datascience") / "prod_train_save_pipeline.py"


class StepFailed(RuntimeError):
    """A step of the course did not work: its one-sentence reason."""


class Workshop:
    """The course for one participant of the running lab, in a work folder under the lab's."""

    def __init__(self, lab: settings.LabSettings, user: str):
        self.lab, self.user = lab, user
        own = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MLFLOW_"))}
        self.env = {**own, **environment.lab_environment(lab, user)}
        self.folder = lab.home / "workshop" / user
        self.folder.mkdir(parents=True, exist_ok=True)

    # -- what a participant does --------------------------------------------------------------

    @property
    def log(self) -> Path:
        return self.folder / "workshop.log"

    def run(self, what: str, command: list[str], cwd: Path) -> None:
        """Run ``command`` with the participant's variables; its output goes to the workshop's log."""
        with open(self.log, "a") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            result = subprocess.run(command, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            lines = self.log.read_text(errors="replace").strip().splitlines()
            raise StepFailed(f"{what} failed: {lines[-1] if lines else 'no output'}")

    def fresh_clone(self, repo: str) -> Path:
        target = self.folder / repo
        shutil.rmtree(target, ignore_errors=True)
        return gitclient.clone(self.lab, self.user, repo, target)

    def ct_run(self, commit: str) -> runs.Run:
        run = runs.wait_for_commit(self.lab.home, commit)
        if run.status != "succeeded":
            raise StepFailed(f"CT run {run.id} {run.status}: {run.message}")
        return run

    def deployed_version(self) -> str | None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            model = MlflowClient(self.lab.url("mlflow")).get_model_version_by_alias(
                self.lab.model_name(self.user), "test"
            )
        except MlflowException:
            return None
        return model.version

    # -- the steps ----------------------------------------------------------------------------

    def chapter_3_training(self) -> str:
        script = REPO_ROOT / TRAINING
        self.run(script.name, [sys.executable, script.name], script.parent)
        return "trained and registered a model from the song data's URLs"

    def data_buckets(self) -> str:
        repo = self.fresh_clone("mlops-gitops")
        config = repo / "toolings" / "minio" / "config.yaml"
        declared = config.read_text()
        for bucket in ("data", "data-cache"):
            if f"- name: {bucket}\n" not in declared:
                declared += f"- name: {bucket}\n"
        config.write_text(declared)
        pushed = gitclient.commit_and_push(self.lab, self.user, repo, "🪣 data buckets added 🪣")
        report, deadline = self.lab.home / "gitops" / f"{self.user}.json", time.monotonic() + 60
        while pushed and (not report.exists() or json.loads(report.read_text())["commit"] != pushed):
            if time.monotonic() > deadline:
                raise StepFailed(
                    "The lab did not reconcile mlops-gitops within 60 s: see `python -m jukebox.lab status`."
                )
            time.sleep(0.5)
        return "declared data and data-cache in mlops-gitops" if pushed else "already declared"

    def chapter_5_data_to_s3(self) -> str:
        script = REPO_ROOT / "5-data-versioning" / "1-data_pipeline_url_to_s3.py"
        self.run(script.name, [sys.executable, script.name], script.parent)
        return "s3://data/song_properties.parquet written"

    def chapter_7_setup_feast(self) -> str:
        notebook = REPO_ROOT / "7-feature_store" / "1-setup_feast.ipynb"
        output = self.folder / notebook.name
        command = [sys.executable, "-m", "papermill", str(notebook), str(output), "--cwd", str(notebook.parent)]
        self.run(notebook.name, [*command, "-k", "python3", "--no-progress-bar"], REPO_ROOT)
        return f"feast apply and materialize: project {self.user}_music (executed copy: {output})"

    def training_through_feast(self) -> str:
        repo = self.fresh_clone("jukebox")
        (repo / TRAINING).write_text(chapter_edits.switch_training_source((repo / TRAINING).read_text(), "feast"))
        commit = gitclient.commit_and_push(self.lab, self.user, repo, "🛍️ fetch data from Feast 🛍️")
        if commit is None and self.deployed_version():
            return f"already switched; version {self.deployed_version()} is deployed"
        run = self.ct_run(commit or gitclient.git(self.lab, self.user, "rev-parse", "HEAD", cwd=repo).stdout.strip())
        return f"CT run {run.id}: trained through the feature store, deployed version {self.deployed_version()}"

    def serving(self) -> str:
        self.run("lab serve", [sys.executable, "-m", "jukebox.lab", "serve", "--user", self.user], REPO_ROOT)
        version, deadline = None, time.monotonic() + 120
        while (version := serving.served_version(self.lab, self.user, "transformer")) is None:
            if time.monotonic() > deadline:
                raise StepFailed("The model server did not load the deployed model within 120 s: see its log.")
            time.sleep(0.5)
        return f"model server, transformer and Jukebox page up; serving version {version}"

    def new_song(self) -> str:
        script = REPO_ROOT / "7-feature_store" / "5-data_pipeline_with_materialize.py"
        parameters = {"dataset_url": f"{self.lab.raw_url}/fav_new_song_properties.parquet"}
        parameters["repo_url"] = f"{self.lab.git_url}/{self.user}/jukebox.git"
        head_before = self.head_of_main()
        command = [sys.executable, "-m", "jukebox.lab", "runs", "start", "data-pipeline-with-feast-adhoc-run"]
        command += ["--script", str(script), "--user", self.user, "--wait"]
        for key, value in parameters.items():
            command += ["--param", f"{key}={value}"]
        self.run("The materializing data pipeline", command, REPO_ROOT)
        head = self.head_of_main()
        if head == head_before:
            return "Live Forever was already in the data: nothing new to version"
        run = self.ct_run(head)
        return f"Live Forever materialized and versioned; CT run {run.id} retrained"

    def page_answers(self) -> str:
        page = serving.url(self.lab, "jukebox-ui", self.user)
        ids = {"name": "input", "shape": [1, 1], "datatype": "STRING", "data": [[LIVE_FOREVER]]}
        request = urllib.request.Request(
            f"{page}/v2/models/jukebox/infer",
            data=json.dumps({"inputs": [ids]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                outputs = {output["name"]: output for output in json.load(response)["outputs"]}
        except urllib.error.HTTPError as error:
            raise StepFailed(f"The page's model path refused Live Forever: {error.read().decode()[:200]}") from None
        countries = zip(outputs["country_codes"]["data"], outputs["probabilities"]["data"], strict=True)
        ranked = sorted(countries, key=lambda country: -country[1])
        return "Live Forever charts most likely in " + ", ".join(f"{code} ({p:.0%})" for code, p in ranked[:3])

    def head_of_main(self) -> str:
        bare = self.lab.home / "git" / self.user / "jukebox.git"
        return gitclient.git(self.lab, self.user, "--git-dir", str(bare), "rev-parse", "main").stdout.strip()

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("chapter 3: the training pipeline", self.chapter_3_training),
            ("GitOps: the data buckets", self.data_buckets),
            ("chapter 5: the song properties into S3", self.chapter_5_data_to_s3),
            ("chapter 7: set up the feature store (notebook 1)", self.chapter_7_setup_feast),
            ("chapter 7: train through the feature store (push → CT)", self.training_through_feast),
            ("chapter 7: serve the model and the Jukebox page", self.serving),
            ("scenario B: a new song through the materializing pipeline", self.new_song),
            ("scenario B: the page's model path answers for it", self.page_answers),
        ]


def main() -> None:
    lab = settings.load()
    if lab is None:
        sys.exit("The lab has never been started here: run `python -m jukebox.lab up` first.")
    workshop, started = Workshop(lab, lab.default_user), time.monotonic()
    for number, (title, step) in enumerate(workshop.steps(), start=1):
        print(f"[{number}] {title} …", flush=True)
        began = time.monotonic()
        try:
            outcome = step()
        except (StepFailed, RuntimeError, TimeoutError) as failure:
            print(f"    ✗ {time.monotonic() - began:.0f} s: {failure}")
            print(f"The workshop stopped at step {number}; the lab stays up. Full log: {workshop.log}")
            sys.exit(1)
        print(f"    ✓ {time.monotonic() - began:.0f} s: {outcome}")
    print(f"\nThe course ran in {time.monotonic() - started:.0f} s. Open:")
    print(f'  the Jukebox page  {serving.url(lab, "jukebox-ui", lab.default_user)}  search "Live Forever" (Oasis)')
    print(f"  MLflow            {lab.url('mlflow')}  model {lab.model_name(lab.default_user)}: versions, lineage")
    print("  the Feast UI      `python -m jukebox.lab feast-ui`: feature service serving_fs")
    print("  JupyterLab        `python -m jukebox.lab jupyter`: the chapters' notebooks")


if __name__ == "__main__":
    main()
