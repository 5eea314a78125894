"""JupyterLab with Elyra, as the lab's workbench: the cluster workbench's experience on this machine.

It runs from the kit's Python, on 127.0.0.1 with a token, opened on the kit's folder (or a folder
given with ``jupyter --root``). Its kernels inherit the lab's variables (the cluster secrets' names,
the lab's URLs), so notebooks and the play button reach the lab's services exactly as a cluster
workbench reaches the cluster's. Started on demand (``python -m jukebox.lab jupyter``), not by ``up``.
"""

import json
import os
import secrets
import sys
from pathlib import Path

from jukebox.lab import environment, settings


def token(lab: settings.LabSettings) -> str:
    """JupyterLab's access token: generated once, kept in the lab's folder with mode 0600."""
    path = lab.home / "jupyter" / "token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def url(lab: settings.LabSettings, with_token: bool = False) -> str:
    base = f"{lab.url('jupyter')}/lab"
    return f"{base}?token={token(lab)}" if with_token else base


def root(lab: settings.LabSettings) -> Path:
    """The folder JupyterLab opens on: the one the last ``jupyter --root`` chose, else the kit's."""
    from jukebox.paths import REPO_ROOT

    path = lab.home / "jupyter" / "root"
    return Path(path.read_text().strip()) if path.exists() else REPO_ROOT


def set_root(lab: settings.LabSettings, folder: Path) -> None:
    (lab.home / "jupyter").mkdir(parents=True, exist_ok=True)
    (lab.home / "jupyter" / "root").write_text(str(folder.resolve()))


def command(lab: settings.LabSettings) -> list[str]:
    """No token on the command line (``ps`` shows it): JupyterLab reads it from ``JUPYTER_TOKEN``."""
    as_root = ["--allow-root"] if os.geteuid() == 0 else []  # a container's root user, as in CI
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        *as_root,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={lab.ports['jupyter']}",
        "--port-retries=0",
        f"--ServerApp.root_dir={root(lab)}",
        f"--ServerApp.runtime_dir={lab.home / 'jupyter' / 'runtime'}",  # kernels' connection files stay in the lab
        "--LabApp.news_url=",  # offline: no news feed to fetch
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # the kit's pins decide the extensions
    ]


def _kernel_specs(lab: settings.LabSettings) -> Path:
    """A ``python3`` kernel that is this Python, first on ``JUPYTER_PATH``.

    A ``python3`` kernel of the user or the system (another Python, without the kit) cannot shadow it.
    """
    from ipykernel.kernelspec import write_kernel_spec

    folder = lab.home / "jupyter" / "data"
    spec = folder / "kernels" / "python3" / "kernel.json"
    if not spec.exists() or json.loads(spec.read_text())["argv"][0] != sys.executable:
        write_kernel_spec(folder / "kernels" / "python3", overrides={"display_name": "Python 3 (jukebox)"})
    return folder


def environment_for(lab: settings.LabSettings, base: dict[str, str]) -> dict[str, str]:
    """JupyterLab's environment, hence its kernels': ``base`` plus the lab's variables and the token."""
    return {
        **base,
        **environment.lab_environment(lab),
        "JUPYTER_TOKEN": token(lab),
        "JUPYTER_PATH": str(_kernel_specs(lab)),
    }
