"""Where the kit's files and the local state live."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_PREP = REPO_ROOT / "99-data_prep"
REQUIREMENTS = REPO_ROOT / "requirements.txt"


def lab_home() -> Path:
    """The one folder (git-ignored) that holds every local run's state: registry, runs, logs."""
    return Path(os.environ.get("JUKEBOX_LAB_HOME", REPO_ROOT / ".lab")).resolve()
