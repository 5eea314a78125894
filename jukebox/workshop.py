"""``make workshop``: the whole course in the local lab, as its first participant (user1) lives it.

The steps are the course's (``jukebox.course.steps``): chapter 3's training pipeline; scenario A
(the data buckets, chapter 5's ETL, training switched to DVC and failing on purpose, the data
pipeline versioning the data, CT training on that version); scenario B (the feature store,
training through it, serving and the Jukebox page, Live Forever through the materializing
pipeline, CT applying a feature change, the page still answering). One line per step with its
outcome and time; a step that fails stops the run with its reason and leaves the lab up for a look.

Run twice, it continues: a step that is done already (``python -m jukebox.lab progress`` says so)
is not done again, so a second run only checks.
"""

import sys
import time

from jukebox.course.lab_state import LabState
from jukebox.course.participant import Participant, StepFailed
from jukebox.course.steps import STEPS, Step
from jukebox.lab import serving, settings


def do_steps(participant: Participant, steps: list[Step], total: int = len(STEPS)) -> bool:
    """Do each of ``steps`` that is not done yet, printing a line per step; False at the first failure."""
    for step in steps:
        number = STEPS.index(step) + 1
        print(f"[{number:>2}/{total}] {step.part}: {step.title} …", flush=True)
        began = time.monotonic()
        status = step.check(LabState(participant.lab, participant.user))
        try:
            skip = status.state == "done" and not step.looks
            outcome = f"already done: {status.detail}" if skip else step.do(participant)
        except (StepFailed, RuntimeError, TimeoutError, OSError) as failure:
            print(f"        ✗ {time.monotonic() - began:.0f} s: {failure}")
            print(f"Stopped at step {number} ({step.id}); the lab stays up. Full log: {participant.log}")
            return False
        print(f"        ✓ {time.monotonic() - began:.0f} s: {outcome}")
    return True


def summary(lab: settings.LabSettings, user: str) -> list[str]:
    """Where to look once the course has run, and what to look at."""
    return [
        f'  the Jukebox page  {serving.url(lab, "jukebox-ui", user)}  search "Live Forever" (Oasis): its countries',
        f"  MLflow            {lab.url('mlflow')}  model {lab.model_name(user)}: versions, the data lineage tags",
        f"  the Feast UI      `python -m jukebox.lab feast-ui`: project {user}_music, feature service serving_fs",
        "  JupyterLab        `python -m jukebox.lab jupyter`: the chapters' notebooks, the play button",
        "  the runs          `python -m jukebox.lab runs`: every CT run, the one that failed on purpose too",
        "  your progress     `python -m jukebox.lab progress`: each step of the course, done or not",
    ]


def main() -> None:
    lab = settings.load()
    if lab is None:
        sys.exit("The lab has never been started here: run `python -m jukebox.lab up` first.")
    started = time.monotonic()
    if not do_steps(Participant(lab, lab.default_user), STEPS):
        sys.exit(1)
    print(f"\nThe course ran in {time.monotonic() - started:.0f} s. Open:")
    print("\n".join(summary(lab, lab.default_user)))


if __name__ == "__main__":
    main()
