"""Does every chapter still work with today's releases? ``make test-latest``, the instructor's question.

The workshop's images and the participants' workbenches install what is current; ``make test``
answers for the pins in ``requirements.txt``. This answers for the newest releases:

1. **resolve**: a copy of the kit in ``.latest/kit/`` gets a virtualenv where the packages named at
   the top of ``requirements.txt`` (the design card's and the kit's direct dependencies) are
   installed at the newest releases the registry offers, with the kit's Python. What was installed
   becomes the copy's pins: its ``requirements.txt`` and the chapters' requirements files.
2. **test**: the copy runs ``make test``, the whole check, as CI runs it, with its own report.
3. **bisect**: for each chapter with a failure, its failing tests run again with every upgraded
   package back at its pin: if they still fail, no release is to blame. Otherwise the upgrades go
   back one at a time (those the failures name first, then the direct dependencies): the first
   package whose pin makes them pass is the upgrade that breaks the chapter.
4. **report**: ``reports/latest.md`` lists the packages that moved (old → new) and, by chapter, each
   failure (test, one-sentence reason) with the upgrade that breaks it; the copy's whole report is
   in ``reports/latest/``. When everything passed, ``requirements.latest.txt`` is the candidate and
   ``make pins-update`` adopts it (``adopt``).

No package is capped: the resolver keeps the set consistent (``pip check`` must pass), and a release
that breaks a chapter is what the report is for. No package goes below its pin either (``floors``):
"today's releases" are never older than the pins, and without the floor pip's backtracking can sink
into releases of years ago (a ``dask`` whose ``distributed`` of the same day the registry lacks took
it down to a 2016 source archive that no longer builds). The workshop's own cluster packages (kfp 2.9.0 and
kfp-kubernetes 1.3.0 of its CT task) are its machinery, not the kit's pins, and stay as they are.

Usage::

    python tools/latest_pins.py test [--pin NAME==VERSION ...] [--tests PYTEST_ARGS]
    python tools/latest_pins.py adopt
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = "requirements.txt"
CANDIDATE = ROOT / "requirements.latest.txt"
# The chapters' own requirements (a cluster workbench's notebooks, the CT unit-tests task): the kit's pins.
CHAPTER_REQUIREMENTS = [
    "5-data-versioning/requirements.txt",
    "7-feature_store/requirements.txt",
    "3-prod_datascience/tests/requirements.txt",
]
PULLED_IN = "# what the packages above pull in"  # the line that ends requirements.txt's direct dependencies
WORK = ROOT / ".latest"
REPORTS = ROOT / "reports"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")
NOT_AN_UPGRADE = "none: the tests fail with every package at its pin too (the kit's fault, not a release's)"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, tuple[str, str]]:
    """The ``name==version`` lines of a requirements text: normalized name → (name as written, version)."""
    pins = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalize(match.group(1))] = (match.group(1), match.group(2))
    return pins


def direct_names(text: str) -> list[str]:
    """The packages ``requirements.txt`` names above its pulled-in section, as written."""
    return [name for name, _ in read_pins(text.split(PULLED_IN)[0]).values()]


def with_versions(text: str, versions: dict[str, tuple[str, str]]) -> str:
    """``text`` with each pinned line at the version in ``versions`` (lines of other packages stay)."""

    def repin(line: str) -> str:
        match = PIN.match(line.strip())
        if not match or normalize(match.group(1)) not in versions:
            return line
        return line.replace(f"=={match.group(2)}", f"=={versions[normalize(match.group(1))][1]}", 1)

    return "\n".join(repin(line) for line in text.splitlines()) + "\n"


def floors(text: str, forced: set[str]) -> str:
    """A pip constraints text: every package pinned in ``text`` at its pin or newer (``forced`` names left out)."""
    pins = read_pins(text)
    return "".join(f"{name}>={version}\n" for key, (name, version) in pins.items() if key not in forced)


def candidate_pins(text: str, installed: dict[str, tuple[str, str]]) -> str:
    """``requirements.txt`` rewritten for what was installed: the direct dependencies in place, the rest rebuilt."""
    top, _, _ = text.partition(PULLED_IN)
    direct = {normalize(name) for name in direct_names(text)}
    pulled_in = sorted((name for key, (name, _) in installed.items() if key not in direct), key=str.lower)
    lines = [f"{name}=={installed[normalize(name)][1]}" for name in pulled_in]
    return (
        with_versions(top, installed)
        + PULLED_IN
        + ", pinned too so that every machine gets the same\n"
        + ("\n".join(lines) + "\n")
    )


def moved(old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The packages whose version differs: (name, old version or "", new version or "")."""
    names = sorted(set(old) | set(new))
    changes = [((new.get(key) or old[key])[0], old.get(key, ("", ""))[1], new.get(key, ("", ""))[1]) for key in names]
    return [change for change in changes if change[1] != change[2]]


def bisect_order(changes: list[tuple[str, str, str]], direct: list[str], said: str = "") -> list[tuple[str, str, str]]:
    """The upgrades to take back one at a time: those the failures name first, then the direct ones, then the rest.

    Args:
        changes: (name, pinned version, new version) of each package that moved.
        direct: the direct dependencies, in the pins' order.
        said: what the failing tests said (their reasons), where a package's name may appear.
    """
    rank = {normalize(name): position for position, name in enumerate(direct)}
    words = {normalize(word) for word in re.findall(r"[A-Za-z][A-Za-z0-9_-]*", said)}  # "pandera.pandas": pandera
    upgraded = [change for change in changes if change[1] and change[2]]
    return sorted(
        upgraded,
        key=lambda change: (
            normalize(change[0]) not in words,
            rank.get(normalize(change[0]), len(rank)),
            change[0].lower(),
        ),
    )


def find_breaking_upgrade(candidates, install, passes, deadline: float) -> tuple[str, list[str]]:
    """The upgrade that breaks the failing tests, and what was tried (with the notes).

    First every upgrade goes back at once: if the tests still fail, no upgrade is to blame (they fail
    with the pins too). Otherwise one at a time: the first whose pin makes them pass is named.

    Args:
        candidates: (name, pinned version, new version), in the order to try.
        install: installs ``[(name, version), ...]``; returns "" or why the set is inconsistent (a conflict).
        passes: runs the failing tests again; true if they all pass.
        deadline: a ``time.monotonic()`` after which no new package is tried.
    """
    if not candidates:
        return "", ["no upgraded package to take back"]
    if time.monotonic() > deadline:
        return "", ["(out of time before taking any back)"]
    install([(name, old) for name, old, _ in candidates])
    with_the_pins = passes()
    install([(name, new) for name, _, new in candidates])
    if not with_the_pins:
        return NOT_AN_UPGRADE, ["all at once: still fails"]
    tried = ["all at once: passes"]
    for name, old, new in candidates:
        if time.monotonic() > deadline:
            tried.append(f"(out of time before {name})")
            break
        conflict = install([(name, old)])
        if conflict:
            tried.append(f"{name} {old}: {conflict}")
        elif passes():
            install([(name, new)])
            return f"{name} {old} → {new}", tried
        else:
            tried.append(f"{name} {old}: still fails")
        install([(name, new)])
    return "", tried


class KitCopy:
    """The copy of the kit in ``.latest/kit/`` with its own virtualenv, where the candidate pins are tried."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.python = folder / ".venv" / "bin" / "python"

    def make(self) -> None:
        """Copy what git tracks and what it does not ignore (the working tree as it is), as a repository of its own.

        Its own repository, as a fresh clone is: the tests that list the kit's files ask git, and
        inside this working tree git would answer for the outer repository, where ``.latest/`` is ignored.
        """
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        shutil.rmtree(self.folder, ignore_errors=True)
        for relative in filter(None, listed.split("\0")):
            source, target = ROOT / relative, self.folder / relative
            if source.is_symlink() or source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target, follow_symlinks=False)
        identity = ["-c", "user.name=make test-latest", "-c", "user.email=test-latest@localhost"]
        for command in (
            ["init", "--quiet"],
            ["add", "--all"],
            [*identity, "commit", "--quiet", "-m", "the kit as it is"],
        ):
            subprocess.run(["git", *command], cwd=self.folder, check=True)

    def pip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), "-m", "pip", *args], capture_output=True, text=True, check=check)

    def resolve(self, direct: list[str], pins: list[str]) -> dict[str, tuple[str, str]]:
        """Install the newest releases of ``direct`` (``pins`` forced: ``NAME==VERSION``); return what is installed."""
        subprocess.run([sys.executable, "-m", "venv", str(self.folder / ".venv")], check=True)
        self.pip("install", "--quiet", "--upgrade", "pip")
        forced = {normalize(PIN.match(pin).group(1)) for pin in pins}
        wanted = [name for name in direct if normalize(name) not in forced] + list(pins)
        constraints = self.folder.parent / "floors.txt"
        constraints.write_text(floors((self.folder / PINS).read_text(), forced))
        print(f"Resolving the newest releases of {len(direct)} packages (none below its pin)…", flush=True)
        result = self.pip("install", "--quiet", "-c", str(constraints), *wanted, check=False)
        if result.returncode != 0:
            raise SystemExit(f"The newest releases cannot be installed together: {result.stderr.strip()[-600:]}")
        check = self.pip("check", check=False)
        if check.returncode != 0:
            raise SystemExit(f"The newest releases are not consistent: {check.stdout.strip()}")
        return read_pins(self.pip("freeze", "--exclude-editable").stdout)

    def held_back(self, direct: list[str]) -> list[tuple[str, str, str]]:
        """The direct dependencies with a newer release than the one installed: (name, installed, newest)."""
        listed = json.loads(self.pip("list", "--outdated", "--format=json").stdout or "[]")
        wanted = {normalize(name) for name in direct}
        return [(p["name"], p["version"], p["latest_version"]) for p in listed if normalize(p["name"]) in wanted]

    def pin(self, installed: dict[str, tuple[str, str]]) -> None:
        """Write the installed versions as the copy's pins, and in its chapters' requirements."""
        pins = self.folder / PINS
        pins.write_text(candidate_pins(pins.read_text(), installed))
        for relative in CHAPTER_REQUIREMENTS:
            path = self.folder / relative
            path.write_text(with_versions(path.read_text(), installed))

    def make_test(self, tests: str) -> int:
        """``make test`` in the copy (or only ``tests``, pytest's arguments), its output shown as it goes."""
        env = {**os.environ, "CI": "true"}
        command = ["make", "test"] if not tests else ["make", "setup"]
        code = subprocess.run(command, cwd=self.folder, env=env).returncode
        if tests:
            code = subprocess.run(
                [str(self.python), "-m", "pytest", *tests.split()], cwd=self.folder, env=env
            ).returncode
        return code

    def failures(self) -> dict[str, list[dict]]:
        """The failed tests of the copy's last run, by chapter (its report's ``results.json``)."""
        results = json.loads((self.folder / "reports" / "results.json").read_text())
        return {
            chapter: failed
            for chapter, tests in results.items()
            if (failed := [test for test in tests if test["outcome"] == "failed"])
        }

    def tests_pass(self, nodeids: list[str]) -> bool:
        command = [str(self.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *nodeids]
        run = subprocess.run(command, cwd=self.folder, capture_output=True, text=True, env={**os.environ, "CI": "true"})
        return run.returncode == 0

    def install(self, versions: list[tuple[str, str]]) -> str:
        """Install these exact versions (not their requirements); "" or the first conflict ``pip check`` finds."""
        self.pip("install", "--quiet", "--no-deps", *(f"{name}=={version}" for name, version in versions))
        check = self.pip("check", check=False)
        return "" if check.returncode == 0 else "conflicts: " + check.stdout.strip().splitlines()[0]


def report(changes, held_back, direct, failures, verdicts, code: int) -> str:
    """``reports/latest.md``: what moved, and by chapter what broke and which upgrade breaks it."""
    direct_keys = {normalize(name) for name in direct}
    lines = ["# The whole check with today's releases", ""]
    lines.append(
        f"{len(changes)} packages differ from the pins ({sum(normalize(c[0]) in direct_keys for c in changes)} direct):"
    )
    lines.append("")
    lines += [
        f"- {name}: {old or '(new)'} → {new or '(gone)'}{' (direct)' if normalize(name) in direct_keys else ''}"
        for name, old, new in sorted(changes, key=lambda c: (normalize(c[0]) not in direct_keys, c[0].lower()))
    ]
    lines.append("")
    if held_back:
        lines += [
            "Held back (a newer release exists, but another package's requirement keeps this one; "
            "`.latest/kit/.venv/bin/pip install --dry-run NAME==NEWEST` says which):",
            "",
        ]
        lines += [f"- {name}: {version}, newest {newest}" for name, version, newest in held_back]
        lines.append("")
    if code == 0 and not failures:
        lines.append(f"Every test passed: `{CANDIDATE.name}` holds the candidate pins; `make pins-update` adopts them.")
    elif not failures:
        lines.append(f"The check failed before any test did (exit status {code}): see reports/latest/.")
    for chapter, failed in failures.items():
        breaking, tried = verdicts.get(chapter, ("", []))
        lines += ["", f"## {chapter}: {len(failed)} failed", ""]
        lines += [f"- {test['name']}: {test['reason']}" for test in failed]
        lines.append(f"- the change that breaks it: {breaking or 'not found by taking back one package at a time'}")
        if tried:
            lines.append("- taken back, one at a time: " + "; ".join(tried))
    return "\n".join(lines) + "\n"


def test_latest(pins: list[str], tests: str, budget_minutes: float) -> int:
    old_text = (ROOT / PINS).read_text()
    direct = direct_names(old_text)
    kit = KitCopy(WORK / "kit")
    kit.make()
    installed = kit.resolve(direct, pins)
    kit.pin(installed)
    changes = moved(read_pins(old_text), installed)
    forced = {normalize(PIN.match(pin).group(1)) for pin in pins}
    held_back = [package for package in kit.held_back(direct) if normalize(package[0]) not in forced]
    print(f"{len(changes)} packages differ from the pins; running the check in {kit.folder}…", flush=True)
    code = kit.make_test(tests)
    failures = kit.failures() if (kit.folder / "reports" / "results.json").exists() else {}
    verdicts = {}
    deadline = time.monotonic() + budget_minutes * 60
    for chapter, failed in failures.items():
        nodeids = [test["nodeid"] for test in failed][:3]
        print(f"{chapter}: {len(failed)} failed; taking upgrades back one at a time…", flush=True)
        said = " ".join(test["reason"] for test in failed)
        verdicts[chapter] = find_breaking_upgrade(
            bisect_order(changes, direct, said),
            kit.install,
            lambda nodeids=nodeids: kit.tests_pass(nodeids),
            deadline,
        )
    REPORTS.mkdir(exist_ok=True)
    shutil.rmtree(REPORTS / "latest", ignore_errors=True)
    if (kit.folder / "reports").is_dir():
        shutil.copytree(kit.folder / "reports", REPORTS / "latest")
    text = report(changes, held_back, direct, failures, verdicts, code)
    if pins:
        text = text.replace("\n\n", f"\n\nForced with --pin: {', '.join(pins)}.\n\n", 1)
    (REPORTS / "latest.md").write_text(text)
    if code == 0 and not failures and not tests:
        CANDIDATE.write_text((kit.folder / PINS).read_text())
    print(text)
    return 0 if code == 0 and not failures else 1


def adopt() -> int:
    """``make pins-update``: the candidate becomes the pins, in requirements.txt and the chapters' files."""
    if not CANDIDATE.is_file():
        raise SystemExit(f"No {CANDIDATE.name}: run `make test-latest` first (it writes one when every test passes).")
    candidate, pins_text = CANDIDATE.read_text(), (ROOT / PINS).read_text()
    added = sorted(set(direct_names(pins_text)) - set(direct_names(candidate)))
    if added:
        raise SystemExit(
            f"{CANDIDATE.name} was made before {PINS} named {', '.join(added)}: run `make test-latest` again."
        )
    new = read_pins(candidate)
    changes = moved(read_pins(pins_text), new)
    (ROOT / PINS).write_text(candidate)
    for relative in CHAPTER_REQUIREMENTS:
        path = ROOT / relative
        path.write_text(with_versions(path.read_text(), new))
    CANDIDATE.unlink()
    print(f"Adopted {len(changes)} new versions; run `make setup` (and `make test`) to use them.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    test = commands.add_parser("test", help="the whole check with the newest releases, and the report")
    test.add_argument("--pin", action="append", default=[], help="force NAME==VERSION into the candidate")
    test.add_argument("--tests", default="", help="run only these pytest arguments instead of make test")
    test.add_argument("--budget-minutes", type=float, default=30, help="the longest the bisection may take")
    commands.add_parser("adopt", help="make the candidate requirements.latest.txt the pins")
    args = parser.parse_args()
    if args.command == "adopt":
        return adopt()
    return test_latest(args.pin, args.tests, args.budget_minutes)


if __name__ == "__main__":
    sys.exit(main())
