"""Scenario B end to end in the local lab, done as a participant does it (mission.md, scenario B, steps 1-6).

The participant starts where chapter 7 leaves them: the chapter-7 stage of tests/stages.py, which
the chapter's notebook tests read too (built once per session; this test, which changes it, runs
after them: ``changes_stage``). They have the song properties in their ``s3://data``, ran notebook 1
of chapter 7 (``feast apply`` and the first materialization, in the workbench's store), declared
their outer loop's feature store in mlops-gitops (project ``music``, filled by
``initialize-feast-database``), switched the training pipeline to its Feast block and pushed (CT
trains and deploys), and started their serving (``python -m jukebox.lab serve``). Then the scenario:
the Jukebox page in a real browser (headless Debian Chromium) does not know Live Forever; the
materializing data pipeline runs ad hoc; the page shows where Live Forever will chart;
``apply_feature_changes`` turned on and ``loudness`` left out of ``serving_fs``, pushed; CT applies,
trains on 12 features, registers and deploys; the page still works and its answer changed. All
along, a client asks the page's model path for a song every few milliseconds: no request may fail.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browsertools import browser_page
from labtools import Participant, steps_done
from mlflow import MlflowClient
from notebooktools import outputs_text

from jukebox import chapter_edits
from jukebox.course import workshop_edits
from jukebox.course.steps import STEPS
from jukebox.data_contract import FEATURES
from jukebox.lab import gitops, serving
from jukebox.paths import REPO_ROOT

DATA_PIPELINE = REPO_ROOT / "7-feature_store" / "5-data_pipeline_with_materialize.py"
TRAINING = Path("3-prod_datascience") / "prod_train_save_pipeline.py"
SERVICE = Path("7-feature_store") / "feature_repo" / "feature_service.py"
ABBA = "3vkQ5DAB1qQMYO4Mr9zJN6"
LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"


class SteadyClient(threading.Thread):
    """Asks for a song through the page's model path (``/v2/…`` on the page's server) until stopped.

    Every answer other than 200 with probabilities is recorded: the scenario's deployments must not
    make a single request fail.
    """

    def __init__(self, page_url: str, song_id: str):
        super().__init__(daemon=True)
        ids = {"name": "input", "shape": [1, 1], "datatype": "STRING", "data": [[song_id]]}
        self.request = json.dumps({"inputs": [ids]}).encode()
        self.url = f"{page_url}/v2/models/jukebox/infer"
        self.stopping = threading.Event()
        self.answered, self.failures, self.versions = 0, [], []

    def run(self) -> None:
        while not self.stopping.is_set():
            request = urllib.request.Request(self.url, data=self.request, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.load(response)
                assert any(output["name"] == "probabilities" for output in answer["outputs"])
                self.answered += 1
                if not self.versions or self.versions[-1] != answer.get("model_version"):
                    self.versions.append(answer.get("model_version"))
            except (OSError, AssertionError, ValueError) as error:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {error}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)


class JukeboxPage:
    """The Jukebox page in the browser, used as a participant does: type, pick a song, read the answer.

    Each action opens the page afresh, so that what it reads is the answer of that moment.
    """

    SETTLED = ":not([data-state=idle]):not([data-state=loading])"

    def __init__(self, page, url: str):
        self.page, self.url = page, url

    def search(self, text: str) -> list[dict]:
        """The songs the search box lists for ``text``."""
        self.page.goto(self.url)
        self.page.fill("#query", text)
        self.page.wait_for_selector(f"#search[data-query={json.dumps(text)}]:not([data-state=searching])")
        return [
            {
                "spotify_id": song.get_attribute("data-id"),
                "name": song.locator(".song-name").inner_text(),
                "artists": song.locator(".song-artists").inner_text(),
            }
            for song in self.page.locator("#results .song").all()
        ]

    def open_id(self, song_id: str) -> str:
        """Type a song's id (enough to ask the model); the prediction's state."""
        self.page.goto(self.url)
        self.page.fill("#query", song_id)
        self.page.wait_for_selector(f"#prediction[data-song={json.dumps(song_id)}]{self.SETTLED}", timeout=60_000)
        return self.page.get_attribute("#prediction", "data-state")

    def choose_first(self, text: str) -> list[dict]:
        """Search ``text``, pick the first song: its countries as the table shows them, most likely first."""
        assert self.search(text), f"no song found for {text!r}"
        self.page.click("#results .song")
        self.page.wait_for_selector(f"#prediction{self.SETTLED}", timeout=60_000)
        state = self.page.get_attribute("#prediction", "data-state")
        assert state == "result", f"{text}: {state}: {self.page.inner_text('#prediction-message')}"
        rows = [row.split("\t") for row in self.page.locator("#countries tbody tr").all_inner_texts()]
        assert self.page.locator("#chart rect.bar").count() == 10
        tiny = "< 0.1"  # how the page writes a probability under 0.1 %
        return [{"country": c, "name": n, "probability": 0.0 if p == tiny else float(p)} for c, n, p in rows]

    def model_version(self) -> str:
        return self.page.inner_text("#model-version").removeprefix("model version ").strip()


def ct_run(participant: Participant, commit: str) -> dict:
    run = json.loads(participant.cli("runs", "wait", commit[:7], check=False).stdout)
    assert run["status"] == "succeeded", run["message"]
    return run


def deployed(participant: Participant) -> tuple[str, list[str]]:
    """The version with alias ``test`` and the features it was trained on."""
    version = MlflowClient(participant.settings.url("mlflow")).get_model_version_by_alias(
        participant.model_name, "test"
    )
    return version.version, json.loads(version.tags["features"])


def wait_for_served(participant: Participant, version: str) -> None:
    deadline = time.monotonic() + 60
    kinds = ("model-server", "transformer")
    while {serving.served_version(participant.settings, participant.name, kind) for kind in kinds} != {version}:
        assert time.monotonic() < deadline, f"the model server and transformer did not switch to version {version}"
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.changes_stage
def test_scenario_b(served, feast_set_up, tmp_path):
    # Before the scenario (tests/stages.py): chapter 7's notebook 1, training through Feast, serving.
    participant = served
    assert "14,245 of 14,245 songs are in the online store." in outputs_text(nbformat.read(feast_set_up, as_version=4))
    jukebox = participant.clone("jukebox", tmp_path / "jukebox")
    assert chapter_edits.active_source((jukebox / TRAINING).read_text()) == "feast", "the stage pushed the Feast block"
    first_version, first_features = deployed(participant)
    assert first_features == FEATURES
    wait_for_served(participant, first_version)
    page_url = serving.url(participant.settings, "jukebox-ui", participant.name)
    steady = SteadyClient(page_url, ABBA)
    steady.start()
    try:
        with browser_page() as page:
            jukebox_page = JukeboxPage(page, page_url)

            # 1. Before: Live Forever is not in the feature store; the page says so (by name: no match).
            assert jukebox_page.search("Live Forever") == []
            assert jukebox_page.open_id(LIVE_FOREVER) == "not-in-store"
            assert "not in the feature store yet" in page.inner_text("#prediction-message")
            abba_before = jukebox_page.choose_first("Gimme! Gimme! Gimme!")

            # 2. The materializing ETL, ad hoc, with the new song's parquet.
            run_now = ["runs", "start", "data-pipeline-with-feast-adhoc-run", "--script", str(DATA_PIPELINE)]
            parameters = ["--param", f"dataset_url={participant.settings.raw_url}/fav_new_song_properties.parquet"]
            parameters += ["--param", f"repo_url={participant.repo_url}", "--user", participant.name, "--wait"]
            assert "succeeded" in participant.cli(*run_now, *parameters).stdout
            participant.git("pull", "--quiet", "origin", "main", cwd=jukebox)
            data_commit = participant.git("rev-parse", "HEAD", cwd=jukebox).stdout.strip()
            ct_run(participant, data_commit)  # the data commit retrains; the page keeps answering meanwhile
            second_version, _ = deployed(participant)
            wait_for_served(participant, second_version)

            # 3. After: Live Forever is found by name and shows where it will chart.
            (found,) = jukebox_page.search("Live Forever")
            assert found["spotify_id"] == LIVE_FOREVER and "Oasis" in found["artists"]
            live_forever_before = jukebox_page.choose_first("Live Forever")
            assert len(live_forever_before) > 10 and live_forever_before == sorted(
                live_forever_before, key=lambda row: -row["probability"]
            )

            # 4. apply_feature_changes: true in mlops-gitops.
            gitops_repo = participant.clone("mlops-gitops", tmp_path / "mlops-gitops")
            config = gitops_repo / "toolings" / "ct-pipeline" / "config.yaml"
            config.write_text(workshop_edits.FEATURE_CHANGES.change(config.read_text()))
            participant.commit_and_push(gitops_repo, workshop_edits.FEATURE_CHANGES.message)
            deadline = time.monotonic() + 30
            while not gitops.ct_options(participant.settings, participant.name).get("apply_feature_changes"):
                assert time.monotonic() < deadline, "the gitops push did not turn apply_feature_changes on"
                time.sleep(0.5)

            # 5. loudness left out of serving_fs, pushed.
            (jukebox / SERVICE).write_text(workshop_edits.LOUDNESS.change((jukebox / SERVICE).read_text()))
            run = ct_run(participant, participant.commit_and_push(jukebox, workshop_edits.LOUDNESS.message))

            # 6. CT applied, trained on 12 features, registered and deployed; the page, untouched, still works.
            assert {step["name"]: step["status"] for step in run["steps"]}["feast-apply"] == "succeeded"
            third_version, third_features = deployed(participant)
            assert third_features == [feature for feature in FEATURES if feature != "loudness"]
            wait_for_served(participant, third_version)
            live_forever_after = jukebox_page.choose_first("Live Forever")
            assert {row["country"] for row in live_forever_after} == {row["country"] for row in live_forever_before}
            assert live_forever_after != live_forever_before, "the same countries, other probabilities"
            assert jukebox_page.model_version() == third_version
            assert jukebox_page.choose_first("Gimme! Gimme! Gimme!") != abba_before
    finally:
        steady.stop()
    assert steady.answered > 100, "the steady client asked all along"
    assert steady.failures == [], f"{len(steady.failures)} requests failed, the first: {steady.failures[:3]}"
    assert steady.versions[0] == first_version and steady.versions[-1] == third_version

    # The participant's progress says so, step by step.
    progress = participant.cli("progress", "--user", participant.name).stdout
    scenario_b = {step.id for step in STEPS if step.part == "scenario B"}
    assert scenario_b <= steps_done(progress), progress
