"""The instructors' report: what passed, failed and was skipped, chapter by chapter.

A pytest plugin (registered by conftest.py). At the end of a run it prints the report and writes it to
``reports/chapters.md``. A test module declares its chapter with ``CHAPTER = "…"``.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED = "kit (shared package)"  # the chapter of tests that declare none
STATES = ("passed", "failed", "skipped")


@dataclass
class Result:
    """One test as the report shows it: its outcome (of the test, or of a set-up that did not pass) and time."""

    nodeid: str
    name: str
    outcome: str = "passed"
    reason: str = ""
    seconds: float = 0.0  # set-up, call and tear-down


def pytest_configure(config):
    config.pluginmanager.register(ChapterReport(config.rootpath / "reports"))


def chapter_of(item) -> str:
    return getattr(item.module, "CHAPTER", SHARED)


def reason_of(report, call) -> str:
    """The one sentence an instructor reads: the first line of the error, or the reason given for a skip."""
    if report.failed:
        said = str(call.excinfo.value).strip().splitlines() if call.excinfo else []
        return (said or [call.excinfo.typename if call.excinfo else "failed"])[0][:200]
    if report.skipped and isinstance(report.longrepr, tuple):
        return report.longrepr[2]
    return ""


def minutes(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


def counts(results: list[Result]) -> dict[str, int]:
    return {state: sum(1 for result in results if result.outcome == state) for state in STATES}


class ChapterReport:
    """The report of one run: each test's result as it ends, the file and the printed summary at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.chapters: dict[str, dict[str, Result]] = {}  # chapter → test id → result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        result = self.chapters.setdefault(chapter_of(item), {}).setdefault(item.nodeid, Result(item.nodeid, item.name))
        result.seconds += report.duration
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            result.outcome, result.reason = report.outcome, reason_of(report, call)
        return report

    def pytest_terminal_summary(self, terminalreporter):
        if not self.chapters:
            return
        self.folder.mkdir(exist_ok=True)
        lines = self.markdown()
        (self.folder / "chapters.md").write_text("\n".join(lines))
        terminalreporter.section("report by chapter")
        for line in lines[2:]:
            if line:
                terminalreporter.write_line(line)
        terminalreporter.write_line("(also in reports/chapters.md)")

    def results(self, chapter: str) -> list[Result]:
        return list(self.chapters[chapter].values())

    def markdown(self) -> list[str]:
        lines = ["# Test report by chapter", ""]
        for chapter in sorted(self.chapters):
            results = self.results(chapter)
            n = counts(results)
            seconds = sum(result.seconds for result in results)
            lines.append(
                f"## {chapter}: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped ({minutes(seconds)})"
            )
            lines += [f"- {r.outcome.upper()} {r.name}: {r.reason}" for r in results if r.outcome != "passed"]
            lines.append("")
        return lines
