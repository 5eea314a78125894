"""The lab's feature store: its configuration, its folder, and the Feast UI as an on-demand service.

One SQLite registry and one SQLite online store under ``<lab>/feast/`` hold every participant's
project (``<user>_music``), as one PostgreSQL does on the cluster; ``jukebox/lab/feature_store.yaml``
describes them (``environment.LAB_FEATURE_STORE``), and ``lab env`` points ``FEAST_FS_YAML_FILE_PATH`` at it.

The Feast UI (``feast ui``) shows the registry: every participant's project, its entities, feature
views and feature service ``serving_fs``. It took ~30 s to start and ~330 MB of memory here, so
it starts on demand (``python -m jukebox.lab feast-ui``), not at every ``up``.
"""

import sys
from pathlib import Path

from jukebox.lab import environment, settings


def folder(lab: settings.LabSettings) -> Path:
    """Where the registry and the online store live (the UI's service creates it: SQLite does not)."""
    return lab.home / "feast"


def url(lab: settings.LabSettings) -> str:
    return lab.url("feast-ui")


def command(lab: settings.LabSettings) -> list[str]:
    """``feast ui`` on 127.0.0.1 (its default is 0.0.0.0), run in the store's folder.

    The UI reads only the registry, so it needs no feature repo: the lab's folder in its command
    line also lets the lab recognize the process as its own.
    """
    return [
        str(Path(sys.executable).with_name("feast")),
        "--chdir",
        str(folder(lab)),
        "--feature-store-yaml",
        str(environment.LAB_FEATURE_STORE),
        "ui",
        "--host",
        "127.0.0.1",
        "--port",
        str(lab.ports["feast-ui"]),
    ]


def environment_for(lab: settings.LabSettings, base: dict[str, str]) -> dict[str, str]:
    """The UI's environment: ``base`` plus the first participant's variables (their project opens first)."""
    return {**base, **environment.lab_environment(lab)}
