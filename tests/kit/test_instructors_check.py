"""The instructors' check: the CI workflow runs the Makefile's targets; ``make test-latest``'s pins and bisection.

``tools/latest_pins.py`` is run for real by ``make test-latest`` (minutes: a virtualenv of today's
releases and the whole check); these tests check its parts that decide what the report says.
"""

import importlib.util
import re
import subprocess
import sys
import time

import pytest
import yaml

from jukebox.paths import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "instructors-check.yml"


def load_tool():
    spec = importlib.util.spec_from_file_location("latest_pins", REPO_ROOT / "tools" / "latest_pins.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["latest_pins"] = module
    spec.loader.exec_module(module)
    return module


latest = load_tool()


def makefile_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.MULTILINE))


def workflow_jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def commands(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def test_every_command_of_the_workflow_is_a_makefile_target():
    for name, job in workflow_jobs().items():
        for command in commands(job):
            words = command.split()
            assert words[0] == "make" and len(words) == 2, f"job {name} runs {command!r}: only `make TARGET` steps"
            assert words[1] in makefile_targets(), f"job {name} runs make {words[1]}, which the Makefile lacks"


def test_a_push_runs_what_ci_and_the_readme_run_and_the_week_runs_todays_releases():
    jobs = workflow_jobs()
    triggers = yaml.safe_load(WORKFLOW.read_text())[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "schedule", "workflow_dispatch"} <= set(triggers)
    assert (
        "make test" in (REPO_ROOT / ".ci" / "run").read_text() and "make test " in (REPO_ROOT / "README.md").read_text()
    )
    assert commands(jobs["test"]) == ["make test"] and "push" in jobs["test"]["if"]
    assert commands(jobs["test-latest"]) == ["make test-latest"]
    assert "schedule" in jobs["test-latest"]["if"] and "workflow_dispatch" in jobs["test-latest"]["if"]
    assert re.fullmatch(r"\S+ \S+ \* \* \d", triggers["schedule"][0]["cron"]), "weekly: one day of the week"
    for job in jobs.values():
        kept = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
        assert kept and kept[0]["if"] == "always()" and "reports/" in kept[0]["with"]["path"]


PINS = """# header
# the workbench
jupyterlab==4.6.6
pandas==2.3.3  # a comment stays

# what the packages above pull in, pinned too so that every machine gets the same
numpy==2.4.6
pytz==2026.6
"""


def installed(**versions) -> dict:
    return {latest.normalize(name): (name, version) for name, version in versions.items()}


def test_the_candidate_keeps_the_direct_dependencies_in_place_and_rebuilds_what_they_pull_in():
    now = installed(jupyterlab="4.7.0", pandas="3.1.1", numpy="2.5.0", tzdata="2026.7")
    text = latest.candidate_pins(PINS, now)
    assert "jupyterlab==4.7.0\npandas==3.1.1  # a comment stays\n" in text
    assert text.endswith("every machine gets the same\nnumpy==2.5.0\ntzdata==2026.7\n"), "pytz is no longer pulled in"
    assert latest.direct_names(text) == ["jupyterlab", "pandas"]
    assert latest.read_pins(text) == now


def test_no_package_may_go_below_its_pin_unless_forced():
    assert latest.floors(PINS, set()) == "jupyterlab>=4.6.6\npandas>=2.3.3\nnumpy>=2.4.6\npytz>=2026.6\n"
    assert latest.floors(PINS, {"pandas"}) == "jupyterlab>=4.6.6\nnumpy>=2.4.6\npytz>=2026.6\n", "--pin may go below"


def test_what_moved_is_listed_with_its_old_and_new_version():
    old = latest.read_pins(PINS)
    now = installed(jupyterlab="4.6.6", pandas="3.1.1", numpy="2.4.6", tzdata="2026.7")
    assert latest.moved(old, now) == [("pandas", "2.3.3", "3.1.1"), ("pytz", "2026.6", ""), ("tzdata", "", "2026.7")]
    changes = [("numpy", "2.4.6", "2.5.0"), ("pandas", "2.3.3", "3.1.1"), ("tzdata", "", "2026.7")]
    assert latest.bisect_order(changes, ["jupyterlab", "pandas"]) == [changes[1], changes[0]], "direct first"
    said = "AttributeError: module 'numpy.core' has no attribute 'float_'"
    assert latest.bisect_order(changes, ["jupyterlab", "pandas"], said) == [changes[0], changes[1]], "named first"


def test_a_chapters_requirements_follow_the_pins_and_keep_their_comments():
    chapter = "feast==0.67.0  # apply-features\nrequests==2.33.0\nkfp==2.9.0\n"
    now = installed(feast="0.68.0", requests="2.34.0")
    assert latest.with_versions(chapter, now) == "feast==0.68.0  # apply-features\nrequests==2.34.0\nkfp==2.9.0\n"


class Environment:
    """Versions a chapter's failing tests pass with: they fail while ``breaking`` is at its new version."""

    def __init__(self, changes, breaking: str, conflicting: str = ""):
        self.versions = {name: new for name, _, new in changes}
        self.breaking, self.new, self.conflicting = breaking, dict(self.versions), conflicting
        self.runs = 0

    def install(self, versions):
        self.versions.update(versions)
        alone = len(versions) == 1 and versions[0][0] == self.conflicting
        return "conflicts: b needs a newer a" if alone and versions[0][1] != self.new[self.conflicting] else ""

    def passes(self):
        self.runs += 1
        return self.versions[self.breaking] != self.new[self.breaking]


CHANGES = [("a", "1", "2"), ("b", "1", "2"), ("c", "1", "2")]


def bisect(environment, deadline_in: float = 60):
    return latest.find_breaking_upgrade(
        CHANGES, environment.install, environment.passes, time.monotonic() + deadline_in
    )


def test_the_bisection_names_the_one_upgrade_whose_pin_makes_the_tests_pass_and_leaves_the_rest_new():
    environment = Environment(CHANGES, breaking="b", conflicting="a")
    breaking, tried = bisect(environment)
    assert breaking == "b 1 → 2"
    assert tried == ["all at once: passes", "a 1: conflicts: b needs a newer a"], "a conflict is said, not run"
    assert environment.runs == 2, "all at once, then b alone"
    assert environment.versions == environment.new, "every package is back at its new version"


def test_a_failure_with_every_package_at_its_pin_is_not_blamed_on_an_upgrade():
    environment = Environment(CHANGES, breaking="b")
    environment.passes = lambda: False
    breaking, tried = bisect(environment)
    assert breaking == latest.NOT_AN_UPGRADE and "fail with every package at its pin too" in breaking
    assert tried == ["all at once: still fails"], "no package is tried alone"
    assert environment.versions == environment.new


def test_the_bisection_says_when_no_single_upgrade_is_to_blame_or_time_ran_out():
    environment = Environment(CHANGES, breaking="b")
    environment.passes = lambda: all(environment.versions[name] == "1" for name in ("a", "b"))  # a and b together
    breaking, tried = bisect(environment)
    assert breaking == "" and tried == [
        "all at once: passes",
        "a 1: still fails",
        "b 1: still fails",
        "c 1: still fails",
    ]
    assert environment.versions == environment.new
    breaking, tried = bisect(environment, deadline_in=-1)
    assert breaking == "" and tried == ["(out of time before taking any back)"]


def test_pins_update_adopts_the_candidate_in_the_pins_and_the_chapters(tmp_path, monkeypatch):
    (tmp_path / "7-feature_store").mkdir()
    (tmp_path / "requirements.txt").write_text(PINS)
    for relative in latest.CHAPTER_REQUIREMENTS:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("pandas==2.3.3\nkfp==2.9.0\n")
    candidate = latest.candidate_pins(PINS, installed(jupyterlab="4.7.0", pandas="3.1.1", numpy="2.5.0"))
    monkeypatch.setattr(latest, "ROOT", tmp_path)
    monkeypatch.setattr(latest, "CANDIDATE", tmp_path / "requirements.latest.txt")
    with pytest.raises(SystemExit, match="run `make test-latest` first"):
        latest.adopt()
    (tmp_path / "requirements.latest.txt").write_text(candidate)
    (tmp_path / "requirements.txt").write_text(PINS.replace("pandas==", "pytest-xdist==3.8.0\npandas=="))
    with pytest.raises(SystemExit, match="before requirements.txt named pytest-xdist: run `make test-latest` again"):
        latest.adopt()
    assert (tmp_path / "requirements.latest.txt").read_text() == candidate, "a stale candidate is kept, not adopted"
    (tmp_path / "requirements.txt").write_text(PINS)
    assert latest.adopt() == 0
    assert (tmp_path / "requirements.txt").read_text() == candidate
    assert (tmp_path / "7-feature_store" / "requirements.txt").read_text() == "pandas==3.1.1\nkfp==2.9.0\n"
    assert not (tmp_path / "requirements.latest.txt").exists()


def test_the_report_says_what_moved_what_is_held_back_and_which_change_breaks_a_chapter():
    failures = {"3-prod_datascience": [{"name": "test_fetch", "reason": "No module named 'pandera.pandas'"}]}
    verdicts = {"3-prod_datascience": ("pandera 0.35.0 → 0.23.1", ["kfp 2.17.0: still fails"])}
    changes = [("pandera", "0.35.0", "0.23.1"), ("urllib3", "2.7.0", "2.8.0")]
    text = latest.report(changes, [("pandas", "2.3.3", "3.1.1")], ["pandera"], failures, verdicts, 2)
    assert "- pandera: 0.35.0 → 0.23.1 (direct)\n- urllib3: 2.7.0 → 2.8.0\n" in text
    assert "- pandas: 2.3.3, newest 3.1.1" in text
    assert "## 3-prod_datascience: 1 failed\n\n- test_fetch: No module named 'pandera.pandas'\n" in text
    assert (
        "- the change that breaks it: pandera 0.35.0 → 0.23.1\n- taken back, one at a time: kfp 2.17.0: still fails"
        in text
    )
    assert "requirements.latest.txt" not in text, "no candidate when something failed"


def test_the_kits_copy_is_a_repository_of_its_own_that_lists_the_kits_files(tmp_path, monkeypatch):
    """The copy lives inside the kit's working tree, where ``.latest/`` is ignored; git in it must answer for it."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    (tmp_path / "chapter").mkdir()
    (tmp_path / "chapter" / "step.py").write_text("print('a step')\n")
    (tmp_path / ".gitignore").write_text(".latest/\n")
    (tmp_path / "new.md").write_text("not committed yet\n")
    subprocess.run([*git, "init", "--quiet"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "chapter", ".gitignore"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "kit"], cwd=tmp_path, check=True)
    monkeypatch.setattr(latest, "ROOT", tmp_path)
    copy = latest.KitCopy(tmp_path / ".latest" / "kit")
    copy.make()
    listed = subprocess.run(["git", "ls-files"], cwd=copy.folder, capture_output=True, text=True, check=True).stdout
    assert listed.split() == [".gitignore", "chapter/step.py", "new.md"]
    assert (copy.folder / "new.md").read_text() == "not committed yet\n"


def test_what_test_latest_writes_is_never_committed_by_accident():
    """The copy and the candidate pins are the run's, not the kit's: ``git add -A`` leaves them out."""
    written = [latest.WORK.relative_to(REPO_ROOT) / "kit" / "requirements.txt", latest.CANDIDATE.relative_to(REPO_ROOT)]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *map(str, written)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.split() == [str(path) for path in written], ignored.stdout
