"""Schedules without a running lab: intervals, validation, and no pile-up of runs."""

import pytest

from jukebox.lab import runs, schedules


@pytest.mark.parametrize(("text", "seconds"), [("1d", 86400), ("12h", 43200), ("30m", 1800), ("45s", 45)])
def test_intervals(text, seconds):
    assert schedules.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["0s", "1 week", "d", "-1d"])
def test_bad_intervals_are_one_clear_sentence(text):
    with pytest.raises(ValueError, match="write a number and a unit, e.g. 1d"):
        schedules.parse_interval(text)


def test_first_run_after_one_interval_then_every_interval_without_pile_up(tmp_path):
    script = tmp_path / "pipeline.py"
    script.write_text("")
    created = schedules.create(tmp_path, "daily", script, "1d", {"k": "v"}, "user1")
    start = created["next_run"] - 86400
    assert schedules.due_runs(tmp_path, now=start + 10) == []
    ((run, path),) = schedules.due_runs(tmp_path, now=start + 86400)
    assert (run.title, run.parameters, path) == ("daily", {"k": "v"}, script.resolve())
    assert schedules.due_runs(tmp_path, now=start + 2 * 86400) == [], "the previous run is still queued"
    run.status = "succeeded"
    runs.save(tmp_path, run)
    assert len(schedules.due_runs(tmp_path, now=start + 3 * 86400)) == 1


def test_names_are_unique_and_scripts_must_exist(tmp_path):
    script = tmp_path / "pipeline.py"
    script.write_text("")
    schedules.create(tmp_path, "daily", script, "1d", {}, "user1")
    with pytest.raises(ValueError, match="exists already"):
        schedules.create(tmp_path, "daily", script, "1d", {}, "user1")
    with pytest.raises(ValueError, match="No pipeline script"):
        schedules.create(tmp_path, "other", tmp_path / "missing.py", "1d", {}, "user1")
    schedules.delete(tmp_path, "daily")
    with pytest.raises(ValueError, match="No schedule named daily"):
        schedules.delete(tmp_path, "daily")
