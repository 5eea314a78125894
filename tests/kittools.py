"""The kit's own files, as a fresh clone of this working tree would have them."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from jukebox.paths import REPO_ROOT

# What the workshop's CT task execute-ds-pipeline installs, and nothing else; the tests' stand-in
# for the workbench image's KFP too.
TASK_PACKAGES = ["kfp==2.9.0", "kfp.kubernetes==1.3.0"]


@cache
def kit_files() -> tuple[Path, ...]:
    """The kit's files: tracked, or new and not ignored (what `git add -A` and a clone would carry)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return tuple(REPO_ROOT / name for name in sorted(set(listed.split("\0"))) if name and (REPO_ROOT / name).is_file())


def kit_copy(target: Path) -> Path:
    """A fresh copy of the kit in ``target``, as a clone of this working tree has it; nothing installed."""
    for source in kit_files():
        copy = target / source.relative_to(REPO_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    return target


# pip's environment in the clean virtualenvs: no byte-compiling of every file it installs (half an
# install's time here). What the tests check, what gets installed and what imports, does not depend
# on .pyc files: Python compiles only what a test's process imports.
PIP_WITHOUT_COMPILING = {"PIP_COMPILE": "false"}


def clean_python(folder: Path, *installs: str) -> Path:
    """A clean Python 3.11 (a virtualenv of this one, without its packages) with ``pip install installs``.

    Its pip is today's, as in the workshop's images (``--upgrade-deps``): the pip that comes with
    Python 3.11 resolves the same pins at half the speed. Like containers started from one image,
    each call gets its own copy of a virtualenv built once per test process for those ``installs``
    (``image``): what a test installs or breaks in its copy stays there.
    """
    return copy_of(image(installs), folder) / "bin" / "python"


@cache
def image(installs: tuple[str, ...]) -> Path:
    """A clean virtualenv with ``installs``, built the first time a test of this process asks for it."""
    folder = Path(tempfile.mkdtemp(prefix="clean-python-")) / "venv"
    atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
    if not installs:
        subprocess.run([sys.executable, "-m", "venv", "--upgrade-deps", str(folder)], check=True)
        return folder
    pip = [str(copy_of(image(()), folder) / "bin" / "python"), "-m", "pip", "install", "--quiet", *installs]
    subprocess.run(pip, check=True, env={**os.environ, **PIP_WITHOUT_COMPILING})
    return folder


def copy_of(venv: Path, folder: Path) -> Path:
    """``venv`` copied to ``folder``; the copy's scripts and activation name their own folder."""
    shutil.copytree(venv, folder, symlinks=True)
    for script in (folder / "bin").iterdir():
        if script.is_file() and not script.is_symlink() and str(venv).encode() in (text := script.read_bytes()):
            script.write_bytes(text.replace(str(venv).encode(), str(folder).encode()))
    return folder
