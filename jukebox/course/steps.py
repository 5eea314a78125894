"""The course's steps, in order: what each one does (as a participant) and how to tell it is done.

A step's ``do`` makes the participant's edits and runs (``Participant``) and returns what happened
in one line; its ``check`` reads the lab (``LabState``) and says done, not yet (with what to do
next) or failed (with the reason). Chapter 3, then scenario A (mission.md), then scenario B.
"""

import json
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass

from jukebox import chapter_edits
from jukebox.course import workshop_edits
from jukebox.course.lab_state import LabState
from jukebox.course.participant import Participant, StepFailed, page_refusal, top_countries
from jukebox.course.workshop_edits import SERVICE, TRAINING
from jukebox.lab import feast_database, gitops, runs, schedules, serving
from jukebox.paths import REPO_ROOT

URL_TO_S3 = "5-data-versioning/1-data_pipeline_url_to_s3.py"
DVC_PIPELINE = "5-data-versioning/4-data_pipeline_with_dvc_versioning.py"
FEAST_SETUP = "7-feature_store/1-setup_feast.ipynb"
FEAST_PIPELINE = "7-feature_store/5-data_pipeline_with_materialize.py"
DVC_FILE = "song_properties.parquet.dvc"
DVC_RUN, FEAST_RUN, DAILY = (
    "data-pipeline-with-dvc-adhoc-run",
    "data-pipeline-with-feast-adhoc-run",
    "data-pipeline-with-dvc-daily",
)
ABBA, LIVE_FOREVER = "3vkQ5DAB1qQMYO4Mr9zJN6", "1D2SVYXZdtNfJCg8wZWvVz"


@dataclass(frozen=True)
class Status:
    state: str  # "done", "not yet" or "failed"
    detail: str


def done(detail: str) -> Status:
    return Status("done", detail)


def not_yet(detail: str) -> Status:
    return Status("not yet", detail)


def failed(detail: str) -> Status:
    return Status("failed", detail)


@dataclass(frozen=True)
class Step:
    id: str
    part: str
    title: str
    do: Callable[[Participant], str]
    check: Callable[[LabState], Status]
    looks: bool = False  # a step that only looks (at the page): done again each time, it changes nothing


def ct_status(state: LabState, commit: str, success: Callable[[runs.Run], Status] | None = None) -> Status:
    """The status a step takes from the CT run of ``commit``."""
    run = state.ct_run_of(commit)
    if run is None or run.status not in runs.FINISHED:
        return not_yet(f"CT run {run.id} is {run.status}" if run else f"waiting for the CT run of {commit[:7]}")
    if run.status == "succeeded" and success:
        return success(run)
    return failed(f"CT run {run.id} {run.status}: {run.message}")


def push_edit(participant: Participant, edit: workshop_edits.Edit) -> str | None:
    """Make one of the guides' edits in the participant's repo, commit it with the guide's message, push."""
    return participant.edit_and_push(edit.repo, edit.path, edit.change, edit.message)


def first_commit(state: LabState, repo: str, path: str, wanted: Callable[[str], bool]) -> str | None:
    """The first pushed commit where ``path`` satisfies ``wanted``."""
    return next((commit for commit, text in state.versions_of(repo, path) if wanted(text)), None)


def failed_run(state: LabState, title: str) -> runs.Run | None:
    """The participant's last run named ``title``, if it failed."""
    tried = state.latest_runs("adhoc", title)
    return tried[-1] if tried and tried[-1].status == "failed" else None


# -- chapter 3 ----------------------------------------------------------------------------------


def train(participant: Participant) -> str:
    participant.press_play(REPO_ROOT / TRAINING)
    version = LabState(participant.lab, participant.user).trained_from("url")[-1].version
    return f"trained from the song data's URLs; registered version {version}"


def check_train(state: LabState) -> Status:
    trained = state.trained_from("url")
    if trained:
        return done(f"version {trained[-1].version}, accuracy {float(trained[-1].tags['accuracy']):.3f}")
    return not_yet(f"press play on {TRAINING}")


# -- scenario A ---------------------------------------------------------------------------------


def buckets(participant: Participant) -> str:
    pushed = push_edit(participant, workshop_edits.BUCKETS)
    participant.wait_for_gitops(pushed)
    return "declared data and data-cache in mlops-gitops; the lab created them"


def check_buckets(state: LabState) -> Status:
    declared = set(gitops.declared_buckets(state.yaml_on_main("mlops-gitops", gitops.MINIO_CONFIG)))
    if {"data", "data-cache"} - declared:
        return not_yet(f"declare data and data-cache in mlops-gitops {gitops.MINIO_CONFIG} and push")
    if {"data", "data-cache"} - state.buckets():
        return failed("data and data-cache are declared but not created: see `python -m jukebox.lab status`")
    return done("data and data-cache exist in your S3")


def data_to_s3(participant: Participant) -> str:
    participant.press_play(REPO_ROOT / URL_TO_S3)
    return "s3://data/song_properties.parquet written"


def check_data_to_s3(state: LabState) -> Status:
    if "data" in state.buckets() and state.has_object("data", "song_properties.parquet"):
        return done("s3://data/song_properties.parquet is there")
    return not_yet(f"press play on {URL_TO_S3}")


def switch_to_dvc(participant: Participant) -> str:
    pushed = push_edit(participant, workshop_edits.DVC)
    run = runs.wait_for_commit(participant.lab.home, pushed) if pushed else None
    status = check_switch_to_dvc(LabState(participant.lab, participant.user))
    if status.state != "done":
        raise StepFailed(status.detail)
    return f"CT run {run.id}: {status.detail}" if run else status.detail


def check_switch_to_dvc(state: LabState) -> Status:
    commit = first_commit(state, "jukebox", TRAINING, lambda text: chapter_edits.active_source(text) == "dvc")
    if commit is None:
        return not_yet(f"in {TRAINING}, paste the DVC block under ### 🍇 Fetches data from DVC, commit and push")
    status = ct_status(state, commit, lambda run: done(f"CT run {run.id} trained from DVC"))
    if status.state == "failed" and "no DVC-tracked song_properties.parquet" in status.detail:
        return done("CT failed as it should: no DVC-tracked song_properties.parquet yet")
    return status


def dvc_pipeline(participant: Participant) -> str:
    lab, user = participant.lab, participant.user
    parameters = {
        "dataset_url": f"{lab.raw_url}/song_properties.parquet",
        "repo_url": f"{lab.git_url}/{user}/jukebox.git",
    }
    if DAILY not in schedules.load(lab.home):
        options = [item for key, value in parameters.items() for item in ("--param", f"{key}={value}")]
        script = str(REPO_ROOT / DVC_PIPELINE)
        participant.lab_command(DAILY, "schedules", "create", DAILY, "--script", script, "--every", "1d", *options)
    participant.start_run(DVC_RUN, REPO_ROOT / DVC_PIPELINE, parameters)
    status = check_dvc_pipeline(LabState(lab, user))
    if status.state != "done":
        raise StepFailed(status.detail)
    return f"{status.detail}; schedule {DAILY} every 1d"


def check_dvc_pipeline(state: LabState) -> Status:
    versions = state.versions_of("jukebox", DVC_FILE)
    if versions:
        return done(f"{DVC_FILE} pushed: {len(versions)} data version(s) on main")
    run = failed_run(state, DVC_RUN)
    if run:
        return failed(f"run {run.id} failed: {run.message}")
    return not_yet(f"run {DVC_PIPELINE} as {DVC_RUN}")


def ct_with_dvc(participant: Participant) -> str:
    state = LabState(participant.lab, participant.user)
    (commit, _) = state.versions_of("jukebox", DVC_FILE)[-1]
    run = participant.ct_run(commit)
    return f"CT run {run.id}: {check_ct_with_dvc(LabState(participant.lab, participant.user)).detail}"


def check_ct_with_dvc(state: LabState) -> Status:
    trained = state.trained_from("dvc")
    if trained:
        md5 = trained[-1].tags.get("data_dvc_md5", "?")
        return done(f"version {trained[-1].version} trained on data {md5[:8]}: its lineage is in MLflow")
    versions = state.versions_of("jukebox", DVC_FILE)
    if not versions:
        return not_yet("the data pipeline's commit comes first")
    return ct_status(state, versions[-1][0])


# -- scenario B ---------------------------------------------------------------------------------


def feast_setup(participant: Participant) -> str:
    output = participant.run_notebook(REPO_ROOT / FEAST_SETUP)
    return f"feast apply and materialize: project {participant.user}_music (executed copy: {output.name})"


def check_feast_setup(state: LabState) -> Status:
    values = state.online_features(ABBA)
    if values is None:
        return not_yet(f"run {FEAST_SETUP} (feast apply, materialize)")
    if any(value is None for value in values.values()):
        return not_yet(f"project {state.user}_music is applied but not materialized: run {FEAST_SETUP} to its end")
    return done(f"project {state.user}_music: serving_fs with {len(values)} features, songs online")


def feast_database_step(participant: Participant) -> str:
    if feast_database.initialized(participant.lab, participant.user):
        return f"the outer loop's feature store is there already (project {feast_database.PROJECT})"
    since = time.time()
    pushed = push_edit(participant, workshop_edits.FEAST_DATABASE)
    participant.wait_for_gitops(pushed)
    run = participant.wait_for_job(feast_database.INIT_RUN, since)
    return f"{feast_database.CONFIG} declared; run {run.id}: {run.steps[-1]['message']}"


def check_feast_database(state: LabState) -> Status:
    if feast_database.initialized(state.lab, state.user):
        values = state.online_features(ABBA, outer_loop=True)
        return done(f"project {feast_database.PROJECT}: serving_fs with {len(values or {})} features, songs online")
    tried = state.latest_runs("job", feast_database.INIT_RUN)
    if tried and tried[-1].status not in runs.FINISHED:
        return not_yet(f"run {tried[-1].id} ({feast_database.INIT_RUN}) is {tried[-1].status}")
    if tried and tried[-1].status == "failed":
        return failed(f"run {tried[-1].id} failed: {tried[-1].message} (push to mlops-gitops to try again)")
    return not_yet(f"declare {feast_database.CONFIG} in mlops-gitops and push")


def train_with_feast(participant: Participant) -> str:
    pushed = push_edit(participant, workshop_edits.FEAST)
    run = participant.ct_run(pushed) if pushed else None
    status = check_feast_training(LabState(participant.lab, participant.user))
    return f"CT run {run.id}: {status.detail}" if run else status.detail


def check_feast_training(state: LabState) -> Status:
    deployed = state.deployed()
    if state.trained_from("feast") and deployed:
        return done(f"trained through serving_fs; version {deployed.version} deployed")
    commit = first_commit(state, "jukebox", TRAINING, lambda text: chapter_edits.active_source(text) == "feast")
    if commit is None:
        return not_yet(f"in {TRAINING}, paste the Feast block under ### 🛍️ Fetch Data from Feast, commit and push")
    return ct_status(state, commit)


def serve(participant: Participant) -> str:
    participant.lab_command("lab serve", "serve")
    deadline = time.monotonic() + 120
    while (version := serving.served_version(participant.lab, participant.user, "transformer")) is None:
        if time.monotonic() > deadline:
            raise StepFailed("The model server did not load the deployed model within 120 s: see its log.")
        time.sleep(0.5)
    return f"model server, transformer and Jukebox page up; serving version {version}"


def check_serve(state: LabState) -> Status:
    version = state.served_version()
    if version:
        return done(f"serving version {version}; the page: {serving.url(state.lab, 'jukebox-ui', state.user)}")
    return not_yet("start the model server and the Jukebox page: `python -m jukebox.lab serve`")


def new_song(participant: Participant) -> str:
    try:
        participant.ask_page(LIVE_FOREVER)
        before = "the page knew Live Forever already"
    except urllib.error.HTTPError as error:
        before = f'the page said "{page_refusal(error)}"'
    state = LabState(participant.lab, participant.user)
    head = state.git("jukebox", "rev-parse", "main").stdout.strip()
    parameters = {"dataset_url": f"{participant.lab.raw_url}/fav_new_song_properties.parquet"}
    parameters["repo_url"] = f"{participant.lab.git_url}/{participant.user}/jukebox.git"
    participant.start_run(FEAST_RUN, REPO_ROOT / FEAST_PIPELINE, parameters)
    versioned = state.git("jukebox", "rev-parse", "main").stdout.strip()
    if versioned == head:
        return f"{before}; nothing new to version"
    return f"{before}; then materialized, versioned, and CT run {participant.ct_run(versioned).id} retrained"


def check_new_song(state: LabState) -> Status:
    values = state.online_features(LIVE_FOREVER, outer_loop=True)
    if values and all(value is not None for value in values.values()):
        return done("Live Forever is in your online store")
    run = failed_run(state, FEAST_RUN)
    if run:
        return failed(f"run {run.id} failed: {run.message}")
    return not_yet(f"run {FEAST_PIPELINE} as {FEAST_RUN} with the fav_new_song parquet")


def page_answers(participant: Participant) -> str:
    outputs = participant.ask_page(LIVE_FOREVER)
    if "loudness" in (deployed_features(LabState(participant.lab, participant.user)) or ("", ["loudness"]))[1]:
        (participant.folder / "first-answer.json").write_text(json.dumps(outputs))  # page-after compares
    return f"Live Forever charts most likely in {top_countries(outputs)} (version {outputs['model_version']})"


def check_page_answers(state: LabState) -> Status:
    outputs, why = state.page_answer(LIVE_FOREVER)
    return done(f"Live Forever: {top_countries(outputs)}") if outputs else not_yet(why)


def apply_changes(participant: Participant) -> str:
    pushed = push_edit(participant, workshop_edits.FEATURE_CHANGES)
    participant.wait_for_gitops(pushed)
    return "apply_feature_changes: true in mlops-gitops; CT runs feast apply from now on"


def check_apply_changes(state: LabState) -> Status:
    if state.yaml_on_main("mlops-gitops", gitops.CT_CONFIG).get("apply_feature_changes") is True:
        return done("apply_feature_changes: true")
    return not_yet(f"add apply_feature_changes: true to mlops-gitops {gitops.CT_CONFIG} and push")


def drop_loudness(participant: Participant) -> str:
    pushed = push_edit(participant, workshop_edits.LOUDNESS)
    run = participant.ct_run(pushed) if pushed else None
    status = check_drop_loudness(LabState(participant.lab, participant.user))
    return f"CT run {run.id}: {status.detail}" if run else status.detail


def deployed_features(state: LabState) -> tuple[str, list[str]] | None:
    deployed = state.deployed()
    return (deployed.version, json.loads(deployed.tags["features"])) if deployed else None


def check_drop_loudness(state: LabState) -> Status:
    deployed = deployed_features(state)
    if deployed and "loudness" not in deployed[1]:
        return done(f"feast apply, version {deployed[0]} trained on {len(deployed[1])} features and deployed")
    commit = first_commit(state, "jukebox", SERVICE, lambda text: chapter_edits.feature_left_out(text, "loudness"))
    if commit is None:
        return not_yet(f"comment out loudness in {SERVICE}, commit and push")
    return ct_status(state, commit)


def page_after(participant: Participant) -> str:
    state = LabState(participant.lab, participant.user)
    deadline = time.monotonic() + 60
    while (status := check_page_after(state)).state != "done":
        if time.monotonic() > deadline:
            raise StepFailed(status.detail)
        time.sleep(0.5)
    first = participant.folder / "first-answer.json"
    if first.exists():
        return f"{status.detail}; before the change: {top_countries(json.loads(first.read_text()))}"
    return status.detail


def check_page_after(state: LabState) -> Status:
    deployed = deployed_features(state)
    if not deployed or "loudness" in deployed[1]:
        return not_yet("the model without loudness comes first")
    if state.served_version() != deployed[0]:
        return not_yet(f"the page serves version {state.served_version()}; version {deployed[0]} loads in seconds")
    outputs, why = state.page_answer(LIVE_FOREVER)
    if outputs is None:
        return not_yet(why)
    return done(f"the page, untouched, answers with version {deployed[0]}: {top_countries(outputs)}")


STEPS = [
    Step("train", "chapter 3", "the training pipeline (play button)", train, check_train),
    Step("buckets", "scenario A", "the data buckets, declared in mlops-gitops", buckets, check_buckets),
    Step("data-to-s3", "chapter 5", "the song properties into S3 (a tiny ETL)", data_to_s3, check_data_to_s3),
    Step("switch-to-dvc", "scenario A", "training from DVC: CT fails on purpose", switch_to_dvc, check_switch_to_dvc),
    Step("dvc-pipeline", "scenario A", "the data pipeline versions the data", dvc_pipeline, check_dvc_pipeline),
    Step("ct-with-dvc", "scenario A", "CT trains on the data version: lineage", ct_with_dvc, check_ct_with_dvc),
    Step("feast-setup", "chapter 7", "the feature store (notebook 1)", feast_setup, check_feast_setup),
    Step("feast-database", "chapter 7", "the outer loop's feature store", feast_database_step, check_feast_database),
    Step("train-with-feast", "chapter 7", "training through the feature store", train_with_feast, check_feast_training),
    Step("serve", "chapter 7", "the model server and the Jukebox page", serve, check_serve),
    Step("new-song", "scenario B", "Live Forever through the materializing pipeline", new_song, check_new_song),
    Step("page-answers", "scenario B", "the page answers for Live Forever", page_answers, check_page_answers, True),
    Step("apply-changes", "scenario B", "CT applies feature changes", apply_changes, check_apply_changes),
    Step("drop-loudness", "scenario B", "loudness left out: retrained, redeployed", drop_loudness, check_drop_loudness),
    Step("page-after", "scenario B", "the page still works, a new answer", page_after, check_page_after, True),
]


def find(step_id: str) -> int:
    """The index of step ``step_id``; a wrong id is one sentence naming the real ones."""
    ids = [step.id for step in STEPS]
    if step_id not in ids:
        raise LookupError(f"No step {step_id!r}: the steps are {', '.join(ids)}.")
    return ids.index(step_id)
