"""The course's two commands in the lab's CLI: ``progress`` and ``checkpoint``.

progress [--user NAME | --all]       each step of the course: done, not yet or failed (and why)
checkpoint STEP [--user NAME]        do the steps before STEP that are not done (edits as commits)

The lab knows no step of the course: its CLI (``python -m jukebox.lab``) adds the commands that
installed packages declare in the entry-point group ``jukebox.lab.commands``, and the kit's
``pyproject.toml`` declares ``add_commands`` there. So the commands keep their names, and the lab
stays below the course.
"""

from jukebox.course import progress
from jukebox.course.participant import Participant
from jukebox.lab import cli, process, services


def progress_command(options) -> None:
    lab = cli.lab_settings()
    if process.running_pid(lab.home, "controller") is None:
        raise cli.LabError("The lab is down, and progress reads it: run `python -m jukebox.lab up` first.")
    if options.all:
        print("\n".join(progress.table(lab)))
        return
    print("\n".join(progress.report(lab, cli.participant_name(lab, options.user))))


def checkpoint_command(options) -> None:
    """Bring a participant's repos (and what the runs make of them) to the state before a step."""
    from jukebox.workshop import do_steps

    lab = cli.lab_settings()
    user = cli.participant_name(lab, options.user)
    todo = progress.steps_before(options.step)
    services.start_core(lab)
    if not do_steps(Participant(lab, user), todo):
        raise SystemExit(1)
    print(f"{user} is at step {len(todo) + 1} ({options.step}): your turn. `progress` shows where you stand.")


def add_commands(commands) -> None:
    """Add ``progress`` and ``checkpoint`` to the lab CLI's subcommands (an ``argparse`` subparsers object)."""
    progress_parser = commands.add_parser("progress", help="each step of the course: done or not")
    whose = progress_parser.add_mutually_exclusive_group()
    whose.add_argument("--user", help="the participant (default: user1)")
    whose.add_argument("--all", action="store_true", help="every participant, one line each")
    progress_parser.set_defaults(run=progress_command)
    checkpoint_parser = commands.add_parser("checkpoint", help="do the steps before STEP that are not done")
    checkpoint_parser.add_argument("step", help="a step's name, as `progress` shows it")
    checkpoint_parser.add_argument("--user", help="the participant (default: user1)")
    checkpoint_parser.set_defaults(run=checkpoint_command)
