"""The instructors' report: what passed, failed and was skipped, chapter by chapter, and where the time went.

A pytest plugin (registered by conftest.py). At the end of a run it prints the report and writes it to
``reports/chapters.md`` and, as a page that needs nothing but a browser, ``reports/chapters.html``
(and, for tools, ``reports/results.json``).
Each failed test's whole log (traceback and captured output) goes to ``reports/logs/<test id>.txt``,
which the page links to. A test's chapter is its folder under ``tests/``, named in ``CHAPTERS``. A
notebook cell (an nbval item, ``tests/nbvaltools.py``) fails with one sentence: the notebook, the cell's
number and first line, and the error; its log holds the cell, its output and the traceback.
"""

import dataclasses
import html
import json
import re
import shlex
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest

# The folders of tests/ and the chapter each stands for in the report, in the course's order.
CHAPTERS = {
    "chapter3": "3-prod_datascience",
    "chapter5": "5-data-versioning",
    "chapter7": "7-feature_store",
    "data": "99-data_prep",
    "workbench": "workbench (play button, JupyterLab)",
    "workshop": "the workshop's instructions and cluster (its CT tasks)",
    "scenarios": "scenarios A and B, end to end",
    "course": "the course (workshop, progress, checkpoints)",
    "lab": "local lab",
    "guides": "guides (English and Korean)",
    "kit": "kit (shared package)",
}
STATES = ("passed", "failed", "skipped")
SLOWEST = 3  # how many of each chapter's slowest tests the report lists


@dataclass
class Result:
    """One test as the report shows it: its outcome (of the test, or of a set-up that did not pass) and time."""

    nodeid: str
    name: str  # as pytest reports it: a test function's name, a notebook cell's ``<notebook>::Cell <n>``
    outcome: str = "passed"
    reason: str = ""
    seconds: float = 0.0  # set-up, call and tear-down
    log: str = ""  # the failure's log file, in reports/logs/


def pytest_configure(config):
    """The report is kept where the run is reported: in pytest's own process, not in an xdist worker."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ChapterReport(config.rootpath / "reports", config.invocation_params.args))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark each phase's report, where the test runs, with what only the test itself knows.

    Its chapter, its name as pytest shows it (a test function's, a notebook cell's ``<notebook>::Cell
    <n>``) and the one-sentence reason. They travel with the report to the process that writes the
    report by chapter (pytest-xdist sends a report's attributes to it).
    """
    report = yield
    report.chapter, report.test_name, report.reason = chapter_of(item), item.location[2], reason_of(report, call)
    return report


def chapter_of(item) -> str:
    """The chapter of a test: the nearest of its folders that ``CHAPTERS`` names, else its folder's own name.

    A chapter's notebook cells (nbval items, ``tests/chapter7/notebooks/*.ipynb``) are their chapter's.
    """
    path, root = Path(item.path), item.config.rootpath
    folders = (path.relative_to(root) if path.is_relative_to(root) else path).parents
    return next((CHAPTERS[folder.name] for folder in folders if folder.name in CHAPTERS), path.parent.name)


def in_course_order(chapter: str) -> tuple[int, str]:
    """The key that lists the chapters as ``CHAPTERS`` does, any other after them by name."""
    titles = list(CHAPTERS.values())
    return (titles.index(chapter), "") if chapter in titles else (len(titles), chapter)


def reason_of(report, call) -> str:
    """The one sentence an instructor reads: the first line of the error, or the reason given for a skip."""
    if report.failed:
        said = str(call.excinfo.value).strip().splitlines() if call.excinfo else []
        return (said or [call.excinfo.typename if call.excinfo else "failed"])[0][:200]
    if report.skipped and isinstance(report.longrepr, tuple):
        return report.longrepr[2]
    return ""


def log_name(nodeid: str) -> str:
    """A file name for a test's log: its id with anything but letters, digits, ``.``, ``_`` and ``-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150] + ".txt"


def minutes(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


def counts(results: list[Result]) -> dict[str, int]:
    return {state: sum(1 for result in results if result.outcome == state) for state in STATES}


def skips(results: list[Result]) -> dict[str, list[str]]:
    """The skipped tests' names by reason, in their order: a notebook's cells after a failed one share one line."""
    by_reason: dict[str, list[str]] = {}
    for result in results:
        if result.outcome == "skipped":
            by_reason.setdefault(result.reason, []).append(result.name)
    return by_reason


def slowest(results: list[Result]) -> list[Result]:
    return sorted(results, key=lambda result: result.seconds, reverse=True)[:SLOWEST]


class ChapterReport:
    """The report of one run: each test's result as it ends, the files and the printed summary at the end."""

    def __init__(self, folder: Path, args):
        self.folder = folder
        self.command = shlex.join(["pytest", *args])
        self.chapters: dict[str, dict[str, Result]] = {}  # chapter → test id → result
        self.failures: dict[str, list[str]] = {}  # test id → what each failed phase said
        self.started = datetime.now()
        self.start = time.perf_counter()

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    def pytest_sessionstart(self):
        """Logs of an earlier run would pass for this run's: they go before any test runs."""
        shutil.rmtree(self.logs, ignore_errors=True)

    def pytest_runtest_logreport(self, report):
        """Add one phase (set-up, call, tear-down) of a test, as it ends, wherever it ran."""
        results = self.chapters.setdefault(report.chapter, {})
        result = results.setdefault(report.nodeid, Result(report.nodeid, report.test_name))
        result.seconds += report.duration
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            result.outcome, result.reason = report.outcome, report.reason
        if report.failed:
            self.failures.setdefault(report.nodeid, []).append(f"---- {report.when} failed ----\n{report.longreprtext}")
        if report.when == "teardown":
            failures = self.failures.pop(report.nodeid, [])
            if result.outcome == "failed":
                result.log = self.write_log(result, failures, report.sections)

    def write_log(self, result: Result, failures: list[str], sections: list[tuple[str, str]]) -> str:
        """Write a failed test's tracebacks and captured output (the tear-down's report holds every phase's)."""
        parts = [result.nodeid, *failures, *(f"---- {title} ----\n{content}" for title, content in sections)]
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / log_name(result.nodeid)).write_text("\n\n".join(parts) + "\n")
        return log_name(result.nodeid)

    def pytest_terminal_summary(self, terminalreporter):
        if not self.chapters:
            return
        self.folder.mkdir(exist_ok=True)
        lines = self.markdown()
        (self.folder / "chapters.md").write_text("\n".join(lines))
        (self.folder / "chapters.html").write_text(self.html(time.perf_counter() - self.start))
        (self.folder / "results.json").write_text(json.dumps(self.as_data(), indent=1))
        terminalreporter.section("report by chapter")
        for line in lines[2:]:
            if line:
                terminalreporter.write_line(line)
        terminalreporter.write_line(
            "(also in reports/chapters.md and reports/chapters.html, failures' logs in reports/logs/)"
        )

    def results(self, chapter: str) -> list[Result]:
        return list(self.chapters[chapter].values())

    def as_data(self) -> dict[str, list[dict]]:
        """Each chapter's results, for tools that read a run (``tools/latest_pins.py``)."""
        return {
            chapter: [dataclasses.asdict(result) for result in self.results(chapter)]
            for chapter in sorted(self.chapters, key=in_course_order)
        }

    def markdown(self) -> list[str]:
        lines = ["# Test report by chapter", ""]
        for chapter in sorted(self.chapters, key=in_course_order):
            results = self.results(chapter)
            n = counts(results)
            seconds = sum(result.seconds for result in results)
            lines.append(
                f"## {chapter}: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped ({minutes(seconds)})"
            )
            lines += [f"- FAILED {r.name}: {r.reason}" for r in results if r.outcome == "failed"]
            lines += [f"- SKIPPED {', '.join(names)}: {reason}" for reason, names in skips(results).items()]
            lines.append("- slowest: " + ", ".join(f"{r.name} ({r.seconds:.2f} s)" for r in slowest(results)))
            lines.append("")
        return lines

    def html(self, run_seconds: float) -> str:
        all_results = [result for chapter in self.chapters for result in self.results(chapter)]
        n = counts(all_results)
        header = (
            f"<h1>Test report by chapter</h1>\n<p>{self.started:%Y-%m-%d %H:%M} · {len(all_results)} tests: "
            f"{n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped · {minutes(run_seconds)}"
            f" · <code>{html.escape(self.command)}</code></p>"
        )
        chapters = sorted(self.chapters, key=in_course_order)
        sections = [html_chapter(chapter, self.results(chapter)) for chapter in chapters]
        return HTML_PAGE.format(body="\n".join([header, *sections]))


def html_chapter(chapter: str, results: list[Result]) -> str:
    """One chapter's section: its counts and time, its failures (with their logs), skips and slowest tests."""
    n = counts(results)
    seconds = sum(result.seconds for result in results)
    failed = [
        f"<li><code>{html.escape(r.nodeid)}</code>: {html.escape(r.reason)}{log_link(r)}</li>"
        for r in results
        if r.outcome == "failed"
    ]
    skipped = [
        f"<li><code>{html.escape(r.nodeid)}</code>: {html.escape(r.reason)}</li>"
        for r in results
        if r.outcome == "skipped"
    ]
    slow = [f"<li><code>{html.escape(r.nodeid)}</code>: {r.seconds:.2f} s</li>" for r in slowest(results)]
    parts = [
        f"<section>\n<h2>{html.escape(chapter)}</h2>",
        f"<p>{', '.join(count_span(n[state], state) for state in STATES)} ({minutes(seconds)})</p>",
    ]
    for title, items, tag in (("Failed", failed, "ul"), ("Skipped", skipped, "ul"), ("Slowest tests", slow, "ol")):
        if items:
            parts += [f"<h3>{title}</h3>\n<{tag}>", *items, f"</{tag}>"]
    return "\n".join([*parts, "</section>"])


def count_span(count: int, state: str) -> str:
    """``3 failed``, coloured by its state when there are any."""
    return f'<span class="{state}">{count} {state}</span>' if count else f"0 {state}"


def log_link(result: Result) -> str:
    """A link to the failure's log, relative to the page (none if the run stopped before the test ended)."""
    return f' (<a href="logs/{quote(result.log)}">log</a>)' if result.log else ""


HTML_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Test report by chapter</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
section {{ border-top: 1px solid #ccc; margin-top: 1.5rem; }}
h3 {{ font-size: 1rem; margin-bottom: 0.3rem; }}
li {{ margin: 0.2rem 0; }}
code {{ font-size: 0.9em; }}
.passed {{ color: #1a7f37; }}
.failed {{ color: #cf222e; font-weight: bold; }}
.skipped {{ color: #9a6700; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
