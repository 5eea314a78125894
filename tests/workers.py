"""``make test``'s workers side by side (pytest-xdist, ``-n 2 --dist loadscope``): which tests share one.

A pytest plugin (registered by conftest.py). The scope that runs on one worker is a group: a folder of
``tests/``, but chapter 7's splits in three that share nothing heavy (its notebooks, with the tests
that read the chapter-7 stage tests/stages.py builds for them, scenario B among them; its serving
and page; the rest). So a group's session fixtures (its lab, a participant whose model is served)
are built once, and tests that write one place never run at the same time. The groups start
heaviest first (``START_ORDER``), so the long ones do not end the run alone.

With or without ``-n``, a test marked ``changes_stage`` runs after the other tests of its group (of
the session, without ``-n``): it goes on from a stage the others read as built. Without ``-n``
nothing else changes: the tests run one after the other, in their files' order.
"""

import pytest

# The order the groups start in: by their time in the report of a run one after the other (``pytest``),
# heaviest first, except that the groups that mostly wait (the lab's restarts and schedules; pip's
# downloads in workbench and workshop) come right after a heavy one, so that the other worker's
# heavy group has the CPU they leave idle.
START_ORDER = [
    "chapter7-notebooks",
    "chapter7-serving",
    "lab",
    "chapter7",
    "workbench",
    "workshop",
    "chapter5",
    "course",
    "scenarios",
    "chapter3",
]


# The tests besides chapter 7's notebooks' that read the chapter-7 stage tests/stages.py builds.
READ_STAGES = ("chapter7/test_feast_training.py", "scenarios/test_scenario_b.py")


def group_of(nodeid: str) -> str:
    """The group of a test, from its id (``tests/<folder>/…/<file>::<name>``)."""
    parts = nodeid.split("::")[0].split("/")
    folder, name = (parts[1] if parts[0] == "tests" and len(parts) > 2 else parts[0]), parts[-1]
    if "/".join(parts[-2:]) in READ_STAGES:
        return "chapter7-notebooks"
    if folder == "chapter7" and ("notebooks" in parts[-2:] or name.endswith("_notebooks.py")):
        return "chapter7-notebooks"
    if folder == "chapter7" and name.startswith(("test_serving", "test_jukebox_ui")):
        return "chapter7-serving"
    return folder


def start_order(nodeid: str) -> int:
    group = group_of(nodeid)
    return START_ORDER.index(group) if group in START_ORDER else len(START_ORDER)


def pytest_collection_modifyitems(config, items):
    """In a worker, the groups in ``START_ORDER``; in each group (in the session, without ``-n``), the
    tests marked ``changes_stage`` last. A stable sort: each file's order stays."""
    in_worker = hasattr(config, "workerinput")

    def order(item: pytest.Item) -> tuple[int, bool]:
        group = start_order(item.nodeid) if in_worker else 0
        return group, item.get_closest_marker("changes_stage") is not None

    items.sort(key=order)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which the workshop's CT tasks do not install
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadscope``, a scope is a group of ``group_of``, handed out in the workers' order."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # xdist would put the groups with the most tests first
    return ByGroup(config, log)
