"""The tests of an earlier commit that still exist today, as pytest node ids: to time the same tests.

Usage: ``pytest $(python benchmarks/same_tests.py 8a2bc8b)``, and compare with that commit's own
``make test`` (``git checkout 8a2bc8b && CI=true bash .ci/run``). A test function counts as the same
when its file and name are unchanged; the ones that moved or were renamed go to stderr.
"""

import re
import subprocess
import sys

from jukebox.paths import REPO_ROOT

TEST_FUNCTION = re.compile(r"^def (test_\w+)\(", re.MULTILINE)


def tests_at(commit: str) -> list[str]:
    """``file::name`` of every test function in ``tests/`` at ``commit``."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout

    files = [path for path in git("ls-tree", "-r", "--name-only", commit, "tests").split() if "/test_" in path]
    return [f"{path}::{name}" for path in files for name in TEST_FUNCTION.findall(git("show", f"{commit}:{path}"))]


def still_here(node_id: str) -> bool:
    path, name = node_id.split("::")
    file = REPO_ROOT / path
    return file.exists() and name in TEST_FUNCTION.findall(file.read_text())


def main() -> None:
    then = tests_at(sys.argv[1])
    same = [node_id for node_id in then if still_here(node_id)]
    for node_id in sorted(set(then) - set(same)):
        print(f"moved or renamed since: {node_id}", file=sys.stderr)
    print(f"{len(same)} of {len(then)} test functions still exist", file=sys.stderr)
    print("\n".join(same))


if __name__ == "__main__":
    main()
