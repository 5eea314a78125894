"""``progress`` and ``checkpoint``: where a participant stands in the course, and a way past a step.

``progress`` checks each step of the course (``jukebox.course.steps``) against what the lab holds
for the participant (git, S3, runs, registry, feature store, page) and prints done / not yet /
failed with the reason or what to do next; ``--all`` prints one line per participant for the
instructor. ``checkpoint STEP`` does, for a stuck participant, the steps before ``STEP`` that are not
done: the guides' edits as commits on top of their own, and the runs those edits need.
"""

from jukebox.course.lab_state import LabState
from jukebox.course.steps import STEPS, Status, find
from jukebox.lab import settings

MARKS = {"done": "✓", "not yet": "·", "failed": "✗"}


def statuses(lab: settings.LabSettings, user: str) -> list[Status]:
    """Each step's status for ``user``, in the course's order."""
    state = LabState(lab, user)
    return [step.check(state) for step in STEPS]


def report(lab: settings.LabSettings, user: str) -> list[str]:
    """One participant's progress: a line per step."""
    found = statuses(lab, user)
    lines = [f"{user}: {sum(status.state == 'done' for status in found)} of {len(STEPS)} steps done"]
    for number, (step, status) in enumerate(zip(STEPS, found, strict=True), start=1):
        detail = status.detail if status.state == "done" else f"{status.state}: {status.detail}"
        lines.append(f"  {MARKS[status.state]} {number:>2} {step.id:<17} {step.part:<11} {step.title:<48} {detail}")
    return lines


def table(lab: settings.LabSettings) -> list[str]:
    """Every participant on one line: a mark per step, and their first step not done."""
    numbers = " ".join(f"{number:>2}" for number in range(1, len(STEPS) + 1))
    lines = [f"{'participant':<14} {numbers}  first step not done"]
    for user in lab.users:
        found = statuses(lab, user)
        marks = " ".join(f"{MARKS[status.state]:>2}" for status in found)
        todo = next(((step, status) for step, status in zip(STEPS, found, strict=True) if status.state != "done"), None)
        next_step = f"{todo[0].id}: {todo[1].state}: {todo[1].detail}" if todo else "all done"
        lines.append(f"{user:<14} {marks}  {next_step}")
    legend = ", ".join(f"{number} {step.id}" for number, step in enumerate(STEPS, start=1))
    return [*lines, f"steps: {legend}", "marks: ✓ done, · not yet, ✗ failed"]


def steps_before(step_id: str) -> list:
    """The steps a checkpoint at ``step_id`` does (those before it)."""
    return STEPS[: find(step_id)]
