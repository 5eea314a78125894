"""Periodic runs of a pipeline script with parameters: the lab's stand-in for KFP recurring runs.

Schedules live in ``<lab>/schedules.json`` (so they survive ``down``/``up``); the controller checks
them every second and queues a run when one is due. Each run is recorded like a CT run.
"""

import contextlib
import fcntl
import json
import re
import time
from pathlib import Path

from jukebox.lab import runs

_INTERVAL = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def parse_interval(text: str) -> int:
    """``"1d"``, ``"12h"``, ``"30m"``, ``"45s"`` → seconds."""
    match = _INTERVAL.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"Interval {text!r}: write a number and a unit, e.g. 1d, 12h, 30m or 45s.")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _path(home: Path) -> Path:
    return home / "schedules.json"


@contextlib.contextmanager
def _locked(home: Path):
    """One writer at a time: the CLI adds and deletes, the controller moves next runs on."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "schedules.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def load(home: Path) -> dict[str, dict]:
    path = _path(home)
    return json.loads(path.read_text()) if path.exists() else {}


def _save(home: Path, schedules: dict[str, dict]) -> None:
    temporary = _path(home).with_suffix(".tmp")
    temporary.write_text(json.dumps(schedules, indent=2) + "\n")
    temporary.replace(_path(home))


def create(home: Path, name: str, script: Path, every: str, parameters: dict, user: str) -> dict:
    """Add a schedule; its first run is due after one interval, then every ``every``.

    (For a run now, as the workshop's ad-hoc run, start one separately.)
    """
    if not _NAME.match(name):
        raise ValueError(f"Schedule name {name!r}: use lower-case letters, digits and dashes.")
    script = script.resolve()
    if not script.is_file():
        raise ValueError(f"No pipeline script at {script}.")
    seconds = parse_interval(every)
    with _locked(home):
        schedules = load(home)
        if name in schedules:
            raise ValueError(f"A schedule named {name} exists already; delete it first.")
        schedules[name] = {
            "script": str(script),
            "every": every,
            "seconds": seconds,
            "parameters": parameters,
            "user": user,
            "next_run": time.time() + seconds,
        }
        _save(home, schedules)
    return schedules[name]


def delete(home: Path, name: str) -> None:
    with _locked(home):
        schedules = load(home)
        if name not in schedules:
            raise ValueError(f"No schedule named {name}; `schedules list` shows them.")
        del schedules[name]
        _save(home, schedules)


def due_runs(home: Path, now: float | None = None) -> list[tuple[runs.Run, Path]]:
    """Queue a run for each schedule that is due, and move its next run on.

    As with KFP's maximum concurrency of 1, a schedule whose previous run has not finished skips
    its turn instead of piling runs up in the queue.
    """
    now = now or time.time()
    created = []
    with _locked(home):
        schedules = load(home)
        due = [name for name, schedule in schedules.items() if schedule["next_run"] <= now]
        if not due:
            return []
        busy = {run.title for run in runs.load_all(home) if run.kind == "schedule" and run.status not in runs.FINISHED}
        for name in due:
            schedule = schedules[name]
            schedule["next_run"] = now + schedule["seconds"]
            if name not in busy:
                run = runs.create(home, "schedule", name, schedule["user"], parameters=schedule["parameters"])
                created.append((run, Path(schedule["script"])))
        _save(home, schedules)
    return created
