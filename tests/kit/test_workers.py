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

import pytest


{mark}
def test_{name}():
    with open(Path(__file__).parents[{depth}] / "workers.txt", "a") as said:
        said.write("{name} " + os.environ.get("PYTEST_XDIST_WORKER", "-") + "\\n")
"""
CHANGES_STAGE = "@pytest.mark.changes_stage"


def write_tests(pytester, tests: dict[str, str], changers: tuple[str, ...] = ()) -> None:
    """Each test of ``tests`` (path: name) writes its name and worker, in its turn, to workers.txt."""
    for path, name in tests.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        mark = CHANGES_STAGE if name in changers else ""
        (pytester.path / path).write_text(TEST_WRITES_ITS_WORKER.format(name=name, mark=mark, depth=path.count("/")))
    (pytester.path / "pytest.ini").write_text("[pytest]\nmarkers =\n    changes_stage: changes a stage\n")


def test_each_group_runs_on_one_worker_the_stage_s_changers_last_and_the_report_has_every_chapter(
    pytester, monkeypatch
):
    tests = {  # in collection order: the test that changes a stage comes first in its group
        "tests/chapter7/test_feast_a.py": "feast_a",
        "tests/chapter7/test_feast_b.py": "feast_b",
        "tests/chapter7/test_feast_training.py": "changes_a",
        "tests/chapter7/test_serving_a.py": "serving_a",
        "tests/chapter7/test_jukebox_ui_a.py": "page_a",
        "tests/chapter7/test_serving_notebooks.py": "notebooks_a",
        "tests/lab/test_lab_a.py": "lab_a",
        "tests/lab/test_lab_b.py": "lab_b",
    }
    write_tests(pytester, tests, changers=("changes_a",))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the workers import the plugins from tests/
    result = pytester.runpytest_subprocess(
        "-p", "chapter_report", "-p", "workers", "--strict-markers", "-n", "2", "--dist", "loadscope"
    )
    result.assert_outcomes(passed=len(tests))
    turns = [line.split() for line in (pytester.path / "workers.txt").read_text().splitlines()]
    ran_on = dict(turns)
    assert len(set(ran_on.values())) == 2, f"both workers had work: {ran_on}"
    for together in (["feast_a", "feast_b"], ["serving_a", "page_a"], ["lab_a", "lab_b"], ["notebooks_a", "changes_a"]):
        assert len({ran_on[name] for name in together}) == 1, f"{together} ran apart: {ran_on}"
    order = [name for name, _ in turns]
    assert order.index("changes_a") > order.index("notebooks_a"), f"the stage changed before it was read: {order}"
    report = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert sorted(report) == ["7-feature_store", "local lab"]
    assert sum(len(results) for results in report.values()) == len(tests)


def test_without_workers_the_tests_that_change_a_stage_run_last(pytester, monkeypatch):
    tests = {
        "tests/chapter7/test_feast_training.py": "changes_a",
        "tests/chapter7/test_serving_notebooks.py": "reads_a",
        "tests/lab/test_lab.py": "lab_a",
        "tests/scenarios/test_scenario_b.py": "changes_b",
        "tests/scenarios/test_scenario_c.py": "reads_b",
    }
    write_tests(pytester, tests, changers=("changes_a", "changes_b"))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = pytester.runpytest_subprocess("-p", "workers", "--strict-markers")
    result.assert_outcomes(passed=len(tests))
    order = [line.split()[0] for line in (pytester.path / "workers.txt").read_text().splitlines()]
    assert order == ["reads_a", "lab_a", "reads_b", "changes_a", "changes_b"]
