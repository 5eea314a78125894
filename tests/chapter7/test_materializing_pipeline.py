"""Chapter 7's data pipeline in the lab: new songs go to S3, the online store and git, exactly once.

A participant of their own (an untouched repo, S3 and Feast project), with the song properties in
``s3://data`` as chapter 5 leaves them and the feature repo applied (notebook 1's ``feast apply``).
Then ``5-data_pipeline_with_materialize.py --local`` runs as the play button's ``--local`` does:
first with the songs already there (the first materialization loads all history), then with Live
Forever, then with Live Forever again, and with bad files. Each step's state is recorded by the
fixture that makes it, so each test passes alone and in any order.
"""

import hashlib
import io
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from labtools import Participant

from jukebox.feature_store import FEATURE_REPO, counting_online_writes
from jukebox.paths import DATA_PREP, REPO_ROOT

SCRIPT = REPO_ROOT / "7-feature_store" / "5-data_pipeline_with_materialize.py"
SONGS = DATA_PREP / "song_properties.parquet"
LIVE_FOREVER = "1D2SVYXZdtNfJCg8wZWvVz"
NEW_SONG = "fav_new_song_properties.parquet"  # Live Forever
KEY = "song_properties.parquet"


class FeastParticipant(Participant):
    """A participant with chapter 7's set-up, and what the tests look at: S3, git, the online store."""

    @property
    def project(self) -> str:
        return f"{self.name}_music"

    def run_pipeline(self, dataset_url: str) -> subprocess.CompletedProcess:
        command = [sys.executable, SCRIPT.name, "--local", "--set", f"dataset_url={dataset_url}"]
        return subprocess.run(
            command, cwd=SCRIPT.parent, env=self.variables(), capture_output=True, text=True, timeout=900
        )

    def state(self) -> dict:
        """What a run may change: the S3 object, the repo's main, the songs in the online store."""
        body = self.s3().get_object(Bucket="data", Key=KEY)["Body"].read()
        main = self.main_commit()
        with sqlite3.connect(self.online_store) as db:
            (songs,) = db.execute(f"SELECT COUNT(DISTINCT entity_key) FROM {self.table}").fetchone()
        return {"s3_md5": hashlib.md5(body).hexdigest(), "main": main, "online_songs": songs, "body": body}

    @property
    def online_store(self) -> Path:
        return self.home / "feast" / "online.db"

    @property
    def table(self) -> str:
        return f"{self.project}_song_properties"

    def counting_online_writes(self):
        """Count the songs a run writes to the participant's online store."""
        return counting_online_writes(self.online_store, self.table)


def feast_apply(participant: Participant) -> None:
    command = [str(Path(sys.executable).with_name("feast")), "apply"]
    result = subprocess.run(
        command, cwd=FEATURE_REPO, env=participant.variables(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def succeeded(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def participant(shared_lab) -> FeastParticipant:
    """A new participant, their S3 holding the song properties as chapter 5 loads them, the feature repo applied."""
    who = FeastParticipant(shared_lab, shared_lab.add_participant("feast"))
    shared_lab.ensure_buckets("data", "data-cache", user=who.name)
    who.s3().upload_file(str(SONGS), "data", KEY)
    feast_apply(who)
    return who


@pytest.fixture(scope="module")
def first_run(participant) -> dict:
    """The pipeline with the songs S3 already holds: the store was empty, nothing is new."""
    before = participant.state()
    with participant.counting_online_writes() as written:
        result = succeeded(participant.run_pipeline(f"{participant.settings.raw_url}/{SONGS.name}"))
    return {"before": before, "after": participant.state(), "result": result, "written": written[0]}


@pytest.fixture(scope="module")
def live_forever_run(participant, first_run) -> dict:
    """The ad-hoc run of the workshop: ``dataset_url`` = the new song's parquet."""
    before, started = participant.state(), time.time()
    with participant.counting_online_writes() as written:
        result = succeeded(participant.run_pipeline(f"{participant.settings.raw_url}/{NEW_SONG}"))
    return {"before": before, "after": participant.state(), "result": result, "started": started, "written": written[0]}


@pytest.mark.slow
def test_the_first_materialization_of_an_empty_store_loads_all_history(first_run):
    assert first_run["before"]["online_songs"] == 0, "the participant's online store starts empty"
    assert first_run["written"] == first_run["after"]["online_songs"] == len(pd.read_parquet(SONGS)) == 14_245
    assert first_run["after"]["s3_md5"] == first_run["before"]["s3_md5"], "the same songs: S3 is not written"
    assert "nothing added" in _full_log(first_run["result"])


@pytest.mark.slow
def test_a_new_song_goes_to_s3_the_online_store_and_git_once(participant, live_forever_run, tmp_path):
    before, after = live_forever_run["before"], live_forever_run["after"]
    assert live_forever_run["written"] == 1, "materializing one new song writes one song to the online store"
    assert after["online_songs"] == before["online_songs"] + 1
    songs = pd.read_parquet(io.BytesIO(after["body"]))
    assert len(songs) == 14_245 + 1 and (songs["spotify_id"] == LIVE_FOREVER).sum() == 1
    stamp = songs.loc[songs["spotify_id"] == LIVE_FOREVER, "event_timestamp"].iloc[0]
    assert stamp.tzinfo is not None and stamp.timestamp() >= live_forever_run["started"], "stamped now, in UTC"
    assert after["main"] != before["main"], "the new version is committed and pushed"
    clone = participant.clone("jukebox", tmp_path / "jukebox")
    dvc_file = participant.git("show", f"{after['main']}:song_properties.parquet.dvc", cwd=clone).stdout
    assert hashlib.md5(after["body"]).hexdigest() in dvc_file, "the commit versions exactly what S3 holds"


@pytest.mark.slow
def test_the_same_file_again_changes_nothing(participant, live_forever_run):
    before = participant.state()
    with participant.counting_online_writes() as written:
        result = succeeded(participant.run_pipeline(f"{participant.settings.raw_url}/{NEW_SONG}"))
    after = participant.state()
    assert after["s3_md5"] == before["s3_md5"], "no S3 write"
    assert written == [0], "no online write"
    assert after["main"] == before["main"], "no commit"
    assert "already known with the same properties" in _full_log(result)


def bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Bad new-song files and the step that must refuse each one."""
    song = pd.read_parquet(DATA_PREP / "fav_new_song_properties.parquet")
    files = {
        "empty file": (b"", "extract-data"),
        "not a parquet": (b"PAR1 but not really", "extract-data"),
        "missing column": (song.drop(columns=["tempo"]), "validate-data"),
        "energy as text (breaks the feature schema)": (song.assign(energy="high"), "validate-data"),
        "tempo out of range": (song.assign(tempo=-3.0), "validate-data"),
    }
    made = {}
    for name, (content, step) in files.items():
        path = folder / f"{name.split(' ')[0]}-{len(made)}.parquet"
        path.write_bytes(content) if isinstance(content, bytes) else content.to_parquet(path, index=False)
        made[name] = (path, step)
    return made


@pytest.mark.slow
def test_bad_new_songs_fail_in_one_sentence_and_change_nothing(participant, live_forever_run, tmp_path):
    from jukebox.data_server import serve_folder

    before = participant.state()
    with serve_folder(tmp_path) as url, participant.counting_online_writes() as written:
        for name, (path, step) in bad_files(tmp_path).items():
            result = participant.run_pipeline(f"{url}/{path.name}")
            failure = (result.stderr.strip().splitlines() or [""])[-1]
            assert result.returncode != 0, name
            assert failure.startswith(f"The pipeline failed at step {step}: "), f"{name}: {failure}"
            assert "Traceback" not in failure and failure.count(". ") <= 1, f"{name}: one sentence: {failure}"
    after = participant.state()
    assert written == [0], "nothing written to the online store"
    assert (after["s3_md5"], after["main"]) == (before["s3_md5"], before["main"]), "nor to S3 and git"


def _full_log(result: subprocess.CompletedProcess) -> str:
    from jukebox import local_run

    return "".join(path.read_text() for path in local_run.full_logs(result.stdout))
