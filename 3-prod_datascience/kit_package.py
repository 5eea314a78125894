"""Lets this folder's modules import the kit's own package, ``jukebox``, without installing it.

The workshop's CT task (``execute-ds-pipeline``) runs ``from prod_train_save_pipeline import
training_pipeline`` in this folder with only kfp and kfp-kubernetes installed, and its unit-tests
task runs pytest here with ``PYTHONPATH=$(pwd)``. The package is in the same repo, one folder up:
this puts that folder at the end of ``sys.path``. Where the kit is installed (``make setup``), the
installed copy is found first and this changes nothing. The scripts of chapters 5 and 7 do the same
in a workbench where nothing of the kit is installed: their ``kit_package.py`` is a link to this file.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if (REPO / "jukebox" / "__init__.py").is_file() and str(REPO) not in sys.path:
    sys.path.append(str(REPO))
