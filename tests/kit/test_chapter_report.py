"""The instructors' report (tests/chapter_report.py), run on a tiny suite of two chapters by pytest's own pytester."""

import re
from pathlib import Path

import pytest
from chapter_report import CHAPTERS, in_course_order

pytest_plugins = ["pytester"]


ALPHA = """
import pytest


def test_passes():
    pass

def test_fails():
    print("fetching the charts")
    raise ValueError("the charts have 3 days, expected 5")

def test_shouts():
    assert False, "<script>alert(1)</script>"

def test_skips():
    pytest.skip("no lab here")

@pytest.fixture
def lab():
    raise RuntimeError("the lab did not start")

def test_needs_a_lab(lab):
    pass
"""

BETA = """
import time


def test_takes_its_time():
    time.sleep(0.1)

def test_is_quick():
    pass
"""


@pytest.fixture
def run(pytester):
    """Run the tiny suite with the report; return the reports folder."""
    for chapter, module in (("alpha", ALPHA), ("beta", BETA)):  # a test's chapter is its folder
        pytester.mkdir(chapter)
        (pytester.path / chapter / f"test_{chapter}.py").write_text(module)
    result = pytester.runpytest("-p", "chapter_report")
    result.assert_outcomes(passed=3, failed=2, skipped=1, errors=1)
    return pytester.path / "reports"


def section(page: str, chapter: str) -> str:
    """One chapter's section of the page."""
    return re.search(rf"<section>\s*<h2>{chapter}</h2>.*?</section>", page, re.S).group()


def test_the_page_shows_each_chapter_with_its_counts(run):
    page = (run / "chapters.html").read_text()
    assert re.search(r"<p>\d{4}-\d\d-\d\d \d\d:\d\d · 7 tests: 3 passed, 3 failed, 1 skipped · 0 min 0\d s · ", page)
    assert "<code>pytest -p chapter_report " in page  # pytester adds --basetemp
    assert re.search(
        r'<span class="passed">1 passed</span>, <span class="failed">3 failed</span>', section(page, "alpha")
    )
    assert re.search(r'<span class="passed">2 passed</span>, 0 failed, 0 skipped', section(page, "beta"))


def test_a_failure_shows_its_reason_and_links_its_log(run):
    alpha = section((run / "chapters.html").read_text(), "alpha")
    failure = re.search(r"<li><code>alpha/test_alpha.py::test_fails</code>: (.*?)</li>", alpha).group(1)
    assert failure.startswith("the charts have 3 days, expected 5 (<a href=")
    log = run / re.search(r'href="([^"]+)"', failure).group(1)
    assert log.parent == run / "logs"
    text = log.read_text()
    assert 'raise ValueError("the charts have 3 days, expected 5")' in text  # the traceback
    assert "Captured stdout call" in text and "fetching the charts" in text


def test_an_error_in_set_up_counts_as_a_failure_with_its_log(run):
    alpha = section((run / "chapters.html").read_text(), "alpha")
    error = re.search(
        r"<li><code>alpha/test_alpha.py::test_needs_a_lab</code>: the lab did not start \(<a href=\"(.*?)\">", alpha
    )
    text = (run / error.group(1)).read_text()
    assert "---- setup failed ----" in text and 'raise RuntimeError("the lab did not start")' in text


def test_a_skip_shows_its_reason(run):
    alpha = section((run / "chapters.html").read_text(), "alpha")
    assert "<li><code>alpha/test_alpha.py::test_skips</code>: Skipped: no lab here</li>" in alpha


def test_the_page_escapes_what_the_tests_said(run):
    page = (run / "chapters.html").read_text()
    assert "<script>" not in page
    assert "<code>alpha/test_alpha.py::test_shouts</code>: &lt;script&gt;alert(1)&lt;/script&gt; (<a" in page


def test_each_chapter_lists_its_slowest_tests(run):
    slowest = re.search(
        r"<h3>Slowest tests</h3>\s*<ol>(.*?)</ol>", section((run / "chapters.html").read_text(), "beta"), re.S
    )
    first, second = re.findall(r"<li><code>(.*?)</code>: (\d+\.\d\d) s</li>", slowest.group(1))
    assert first[0] == "beta/test_beta.py::test_takes_its_time" and float(first[1]) >= 0.1
    assert second[0] == "beta/test_beta.py::test_is_quick"
    markdown = (run / "chapters.md").read_text()
    assert re.search(r"- slowest: test_takes_its_time \(0\.\d\d s\), test_is_quick \(0\.\d\d s\)\n", markdown)


def test_the_markdown_report_keeps_its_form(run):
    markdown = (run / "chapters.md").read_text()
    assert markdown.startswith("# Test report by chapter\n\n## alpha: 1 passed, 3 failed, 1 skipped (0 min 00 s)\n")
    assert "- FAILED test_fails: the charts have 3 days, expected 5\n" in markdown
    assert "- SKIPPED test_skips: Skipped: no lab here\n" in markdown
    assert "## beta: 2 passed, 0 failed, 0 skipped (0 min 00 s)\n" in markdown


def test_a_run_starts_without_the_last_runs_logs(pytester):
    old = pytester.path / "reports" / "logs" / "test_gone.py__test_failed.txt"
    old.parent.mkdir(parents=True)
    old.write_text("an earlier run's failure")
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    pytester.runpytest("-p", "chapter_report").assert_outcomes(passed=1)
    assert not old.exists()


def test_every_test_module_is_in_a_folder_the_report_names():
    tests = Path(__file__).resolve().parents[1]
    outside = [
        str(module.relative_to(tests))
        for module in tests.rglob("test_*.py")
        if module.parent.name not in CHAPTERS or module.parent.parent != tests
    ]
    assert not outside, f"Put these in a folder of tests/ that chapter_report.CHAPTERS names: {outside}"


def test_the_report_lists_the_chapters_in_the_courses_order_and_any_other_after():
    shown = sorted(
        ["kit (shared package)", "zeta", "local lab", "7-feature_store", "3-prod_datascience", "alpha"],
        key=in_course_order,
    )
    assert shown == ["3-prod_datascience", "7-feature_store", "local lab", "kit (shared package)", "alpha", "zeta"]
