"""Run records: one JSON file per CT or scheduled run, plus its log, under ``<lab>/runs/``.

The controller writes them; the CLI, tests and notebooks read them (``runs list``, ``runs log``,
``runs wait``). A run is created as soon as its trigger arrives (status ``queued``), so every push
gives exactly one run, visible at once.
"""

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass
class Run:
    id: str
    kind: str  # "ct" (a push to a user's jukebox repo), "schedule" or "adhoc"
    title: str
    user: str
    commit: str = ""
    status: str = "queued"  # queued → running → succeeded | failed (or cancelled, by `runs cancel`)
    message: str = ""
    steps: list[dict] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.finished is None else self.finished - self.started


def runs_dir(home: Path) -> Path:
    path = home / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path(home: Path, run_id: str) -> Path:
    return runs_dir(home) / f"{run_id}.log"


def save(home: Path, run: Run) -> None:
    path = runs_dir(home) / f"{run.id}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(run), indent=2) + "\n")
    temporary.replace(path)  # readers never see a half-written record


_numbering = threading.Lock()  # the controller creates runs from several threads (hooks, API, scheduler)


def create(home: Path, kind: str, title: str, user: str, **fields) -> Run:
    with _numbering:
        number = len(list(runs_dir(home).glob("*.json"))) + 1
        run = Run(id=f"{kind}-{number:04d}", kind=kind, title=title, user=user, **fields)
        save(home, run)
    return run


def load_all(home: Path) -> list[Run]:
    return sorted(
        (Run(**json.loads(path.read_text())) for path in runs_dir(home).glob("*.json")),
        key=lambda run: run.created,
    )


def find(home: Path, run_id: str) -> Run:
    path = runs_dir(home) / f"{run_id}.json"
    if not path.exists():
        raise LookupError(f"No run {run_id}; `runs list` shows the runs.")
    return Run(**json.loads(path.read_text()))


def wait_for_commit(home: Path, commit: str, timeout: float = 900.0, kind: str = "ct") -> Run:
    """Wait until the run of ``commit`` (a full or short SHA) has finished; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [run for run in load_all(home) if run.kind == kind and run.commit.startswith(commit)]
        if matching and matching[-1].status in FINISHED:
            return matching[-1]
        time.sleep(0.5)
    raise TimeoutError(f"No finished {kind} run for commit {commit} within {timeout:.0f} s.")


def wait_for_job(home: Path, user: str, title: str, since: float, timeout: float = 600.0) -> Run:
    """Wait until ``user``'s latest Job ``title`` created after ``since`` (``time.time()``) has finished; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matching = [
            run
            for run in load_all(home)
            if run.kind == "job" and run.user == user and run.title == title and run.created >= since
        ]
        if matching and matching[-1].status in FINISHED:
            return matching[-1]
        time.sleep(0.5)
    raise TimeoutError(f"The lab did not finish {title} within {timeout:.0f} s: see `runs`.")


def wait_for(home: Path, run_id: str, timeout: float = 900.0) -> Run:
    """Wait until run ``run_id`` has finished; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = find(home, run_id)
        if run.status in FINISHED:
            return run
        time.sleep(0.5)
    raise TimeoutError(f"Run {run_id} did not finish within {timeout:.0f} s.")
