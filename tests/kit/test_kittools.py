"""The tests' clean Pythons: each test gets a copy of one image, and the copy is a virtualenv of its own."""

import subprocess

import pytest
from kittools import clean_python, image


@pytest.mark.slow
def test_each_clean_python_is_a_virtualenv_of_its_own_copied_from_one_image(tmp_path):
    pythons = [clean_python(tmp_path / name) for name in ("first", "second")]
    for python in pythons:
        venv = python.parent.parent
        prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
        assert prefix.stdout.strip() == str(venv)
        # A script runs the copy's Python, so `pip install` in a terminal installs into the copy, not the image.
        pip = subprocess.run([venv / "bin" / "pip", "--version"], capture_output=True, text=True, check=True)
        assert f"from {venv}/lib/python3.11/site-packages/pip" in pip.stdout, pip.stdout
        scripts = [path for path in (venv / "bin").iterdir() if not path.is_symlink()]
        assert scripts and not [path for path in scripts if str(image(())) in path.read_text()]
    (tmp_path / "first" / "lib" / "python3.11" / "site-packages" / "only_in_first.py").write_text("")
    imported = subprocess.run([pythons[1], "-c", "import only_in_first"], capture_output=True, text=True)
    assert imported.returncode == 1 and "No module named 'only_in_first'" in imported.stderr
