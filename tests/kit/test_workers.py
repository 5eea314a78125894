"""make test's workers side by side (tests/workers.py): a group on one worker, every chapter in the report."""

import json
from pathlib import Path

import pytest
from workers import START_ORDER, group_of

pytest_plugins = ["pytester"]

TESTS = Path(__file__).parents[1]


@pytest.mark.parametrize(
    ("nodeid", "group"),
    [
        ("tests/chapter7/notebooks/3-test_load_online_features.ipynb::Cell 0", "chapter7-notebooks"),
        ("tests/chapter7/test_serving_notebooks.py::test_x", "chapter7-notebooks"),
        ("tests/chapter7/test_jukebox_ui.py::test_x[phone]", "chapter7-serving"),
        ("tests/chapter7/test_serving.py::test_x", "chapter7-serving"),
        ("tests/chapter7/test_feast_training.py::test_x", "chapter7-notebooks"),
        ("tests/scenarios/test_scenario_b.py::test_scenario_b", "chapter7-notebooks"),
        ("tests/scenarios/test_scenario_a.py::test_scenario_a", "scenarios"),
        ("tests/chapter7/test_feast_database.py::test_x", "chapter7"),
        ("tests/chapter5/notebooks/2-dvc-s3-track-remote-data.ipynb::Cell 1", "chapter5"),
        ("tests/chapter5/test_dvc_notebooks.py::test_x", "chapter5"),
        ("tests/lab/test_lab.py::test_x", "lab"),
    ],
)
def test_a_test_goes_with_its_folder_and_chapter_7_in_three(nodeid, group):
    assert group_of(nodeid) == group


def test_every_group_in_the_start_order_has_tests():
    groups = {group_of(f"tests/{path.relative_to(TESTS).as_posix()}") for path in TESTS.rglob("test_*.py")}
    assert set(START_ORDER) <= groups, set(START_ORDER) - groups


TEST_WRITES_ITS_WORKER = """
import os
from pathlib import Path


def test_{name}():
    with open(Path(__file__).parents[{depth}] / "workers.txt", "a") as said:
        said.write("{name} " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_each_group_runs_on_one_worker_and_the_report_has_every_chapter(pytester, monkeypatch):
    tests = {
        "tests/chapter7/test_feast_a.py": "feast_a",
        "tests/chapter7/test_feast_b.py": "feast_b",
        "tests/chapter7/test_serving_a.py": "serving_a",
        "tests/chapter7/test_jukebox_ui_a.py": "page_a",
        "tests/chapter7/test_serving_notebooks.py": "notebooks_a",
        "tests/lab/test_lab_a.py": "lab_a",
        "tests/lab/test_lab_b.py": "lab_b",
    }
    for path, name in tests.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(TEST_WRITES_ITS_WORKER.format(name=name, depth=path.count("/")))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the workers import the plugins from tests/
    result = pytester.runpytest_subprocess("-p", "chapter_report", "-p", "workers", "-n", "2", "--dist", "loadscope")
    result.assert_outcomes(passed=len(tests))
    ran_on = dict(line.split() for line in (pytester.path / "workers.txt").read_text().splitlines())
    assert len(set(ran_on.values())) == 2, f"both workers had work: {ran_on}"
    for together in (["feast_a", "feast_b"], ["serving_a", "page_a"], ["lab_a", "lab_b"]):
        assert len({ran_on[name] for name in together}) == 1, f"{together} ran apart: {ran_on}"
    report = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert sorted(report) == ["7-feature_store", "local lab"]
    assert sum(len(results) for results in report.values()) == len(tests)


TEST_WRITES_ITS_TURN = """
from pathlib import Path

import pytest


{mark}
def test_{name}():
    with open(Path(__file__).parents[{depth}] / "turns.txt", "a") as said:
        said.write("{name}\\n")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadscope"]], ids=["one-by-one", "two-workers"])
def test_a_test_that_changes_a_stage_runs_after_its_groups_readers(pytester, monkeypatch, workers):
    tests = {  # in collection order: the changers come first in their folders
        "tests/chapter7/test_feast_training.py": ("changes_a", "@pytest.mark.changes_stage"),
        "tests/chapter7/test_serving_notebooks.py": ("reads_a", ""),
        "tests/lab/test_lab.py": ("lab_a", ""),
        "tests/scenarios/test_scenario_a.py": ("scenario_a", ""),
        "tests/scenarios/test_scenario_b.py": ("changes_b", "@pytest.mark.changes_stage"),
        "tests/chapter7/test_serving_notebooks_2.py": ("reads_b", ""),
    }
    for path, (name, mark) in tests.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        test = TEST_WRITES_ITS_TURN.format(name=name, mark=mark, depth=path.count("/"))
        (pytester.path / path).write_text(test)
    (pytester.path / "pytest.ini").write_text("[pytest]\nmarkers =\n    changes_stage: changes a stage\n")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = pytester.runpytest_subprocess("-p", "workers", "--strict-markers", *workers)
    result.assert_outcomes(passed=len(tests))
    turns = (pytester.path / "turns.txt").read_text().split()
    readers = [turns.index(name) for name in ("reads_a", "reads_b")]
    assert min(turns.index("changes_a"), turns.index("changes_b")) > max(readers), turns
