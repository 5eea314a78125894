"""Where a participant stands in the course (`progress`), for the instructor too (`--all`), and
`checkpoint`, which brings a stuck participant past the steps before one, keeping their own commits.

The scenario tests check that `progress` marks their steps done once they have lived them.
"""

import pytest
from labtools import Participant, steps_done

from jukebox.chapter_edits import active_source
from jukebox.course.steps import DVC_PIPELINE, DVC_RUN, STEPS, TRAINING
from jukebox.paths import REPO_ROOT


@pytest.fixture
def newcomer(shared_lab) -> Participant:
    return Participant(shared_lab, shared_lab.add_participant("newcomer"))


def progress_of(participant: Participant) -> str:
    return participant.cli("progress", "--user", participant.name).stdout


def row(output: str, step: str) -> str:
    (line,) = [line for line in output.splitlines() if line.split()[2:3] == [step]]
    return line


def test_a_new_participant_has_every_step_to_do_and_is_told_the_first(newcomer):
    output = progress_of(newcomer)
    lines = output.splitlines()
    assert lines[0] == f"{newcomer.name}: 0 of {len(STEPS)} steps done"
    assert len(lines) == 1 + len(STEPS) and steps_done(output) == set()
    assert row(output, "train").endswith(f"not yet: press play on {TRAINING}")
    assert "✗" not in output and "failed" not in output


def test_a_failed_run_is_named_with_its_reason_and_the_instructor_sees_everyone(newcomer):
    newcomer.lab.ensure_buckets("data", "data-cache", user=newcomer.name)
    missing = f"{newcomer.settings.raw_url}/no_such_songs.parquet"
    run = ["runs", "start", DVC_RUN, "--script", str(REPO_ROOT / DVC_PIPELINE), "--user", newcomer.name, "--wait"]
    newcomer.cli(*run, "--param", f"dataset_url={missing}", "--param", f"repo_url={newcomer.repo_url}", check=False)

    failed = row(progress_of(newcomer), "dvc-pipeline")
    assert failed.lstrip().startswith("✗") and "failed: run adhoc-" in failed and "no_such_songs.parquet" in failed

    table = newcomer.cli("progress", "--all").stdout.splitlines()
    participants = {line.split()[0]: line for line in table[1:] if not line.startswith(("steps:", "marks:"))}
    assert set(participants) == set(newcomer.settings.users)
    assert "✗" in participants[newcomer.name] and participants[newcomer.name].endswith(f"press play on {TRAINING}")
    assert table[-2].startswith("steps: 1 train, 2 buckets")


def test_a_wrong_step_or_participant_is_one_sentence(shared_lab):
    wrong_step = shared_lab.cli("checkpoint", "no-such-step", check=False)
    assert wrong_step.returncode == 1 and "No step 'no-such-step': the steps are train, buckets" in wrong_step.stderr
    wrong_user = shared_lab.cli("progress", "--user", "nobody", check=False)
    assert wrong_user.returncode == 1 and "No participant nobody in this lab" in wrong_user.stderr


@pytest.mark.slow
def test_a_checkpoint_does_the_steps_before_on_top_of_the_participants_own_commits(newcomer, tmp_path):
    clone = newcomer.clone("jukebox", tmp_path / "jukebox")
    notes = clone / "README.md"
    notes.write_text(notes.read_text() + "\nWhat I learnt today.\n")
    own = newcomer.commit_and_push(clone, "my notes")
    newcomer.cli("runs", "cancel", "--user", newcomer.name)  # its CT run would only retrain from the URLs

    done = newcomer.cli("checkpoint", "dvc-pipeline", "--user", newcomer.name).stdout
    assert f"{newcomer.name} is at step 5 (dvc-pipeline)" in done

    newcomer.git("pull", "--quiet", "origin", "main", cwd=clone)
    assert newcomer.git("merge-base", "--is-ancestor", own, "HEAD", cwd=clone).returncode == 0, "own commit kept"
    assert notes.read_text().endswith("\nWhat I learnt today.\n")
    assert active_source((clone / TRAINING).read_text()) == "dvc"
    output = progress_of(newcomer)
    assert steps_done(output) == {"train", "buckets", "data-to-s3", "switch-to-dvc"}
    assert "CT failed as it should: no DVC-tracked song_properties.parquet yet" in row(output, "switch-to-dvc")
    assert row(output, "dvc-pipeline").lstrip().startswith("·")

    head = newcomer.git("rev-parse", "HEAD", cwd=clone).stdout
    again = newcomer.cli("checkpoint", "dvc-pipeline", "--user", newcomer.name).stdout
    assert again.count("already done") == 4
    newcomer.git("pull", "--quiet", "origin", "main", cwd=clone)
    assert newcomer.git("rev-parse", "HEAD", cwd=clone).stdout == head, "nothing pushed the second time"
