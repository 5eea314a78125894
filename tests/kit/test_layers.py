"""The house's layers, read from the imports: the course above the lab, the lab above the bottom.

The bottom (the components, the serving, ``jukebox/*.py`` but the course runner ``workshop.py``)
is what the chapters' code and the cluster import; the lab (``jukebox/lab/``) runs it on this
machine; the course (``jukebox/course/``, ``workshop.py``) drives the lab as a participant. An
arrow may point down only. Where a lower layer must reach a higher one's code, an entry point of
``pyproject.toml`` does it (the course's CLI commands, the lab's environment for a local run).
"""

import ast
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from jukebox.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "jukebox"
COURSE = ("jukebox.course", "jukebox.workshop")
LAB = ("jukebox.lab",)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, by its full name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaching(paths: list[Path], above: tuple[str, ...]) -> list[str]:
    """``file: module`` for each import of a module of ``above`` in ``paths``."""
    return [
        f"{path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}: {name}"
        for path in paths
        for name in sorted(imported(path))
        if any(name == top or name.startswith(f"{top}.") for top in above)
    ]


def bottom_modules() -> list[Path]:
    top_level = [path for path in PACKAGE.glob("*.py") if path.name != "workshop.py"]
    return top_level + sorted((PACKAGE / "components").rglob("*.py")) + sorted((PACKAGE / "serving").rglob("*.py"))


def test_nothing_under_lab_imports_the_course():
    assert reaching(sorted((PACKAGE / "lab").rglob("*.py")), COURSE) == []


def test_nothing_at_the_bottom_imports_the_lab_or_the_course():
    assert len(bottom_modules()) > 20, "the bottom is found"
    assert reaching(bottom_modules(), LAB + COURSE) == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from jukebox.course.steps import STEPS\n    import jukebox.workshop\n")
    assert reaching([module], COURSE) == [
        f"{module}: jukebox.course.steps",
        f"{module}: jukebox.course.steps.STEPS",
        f"{module}: jukebox.workshop",
    ]


@pytest.mark.parametrize(
    "group, target",
    [
        ("jukebox.lab.commands", "jukebox.course.commands:add_commands"),
        ("jukebox.local_run.environment", "jukebox.lab.environment:running_lab_environment"),
    ],
)
def test_the_arrows_up_are_the_entry_points_pyproject_declares_and_the_install_has(group, target):
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"][group]
    assert list(declared.values()) == [target]
    installed = [point.value for point in entry_points(group=group)]
    assert installed == [target], "run `make setup`: the installed kit predates pyproject.toml's entry points"
    assert callable(entry_points(group=group)[0].load())


def test_no_test_imports_a_conftest():
    """Fixtures come from ``conftest.py``; helpers from ``tests/*tools.py``.

    Chapters have ``conftest.py`` files of their own, so ``from conftest import`` would get
    whichever was imported first.
    """
    tests = REPO_ROOT / "tests"
    importing = [str(path.relative_to(tests)) for path in sorted(tests.rglob("*.py")) if "conftest" in imported(path)]
    assert not importing, f"Import helpers from a tests/*tools.py module, not from conftest: {importing}"
