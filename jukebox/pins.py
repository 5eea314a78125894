"""Derive components' ``packages_to_install`` from the kit's one set of pins.

Every component asks for its packages by name; the version comes from ``requirements.txt``,
so a cluster pod gets the versions CI tested and a local run (which installs into the running
environment) finds everything already satisfied and changes nothing.
"""

import re
from functools import cache
from importlib import metadata

from jukebox.paths import REQUIREMENTS

# The Python of the kit (pyproject.toml: requires-python) in the image every component runs in.
BASE_IMAGE = "python:3.11-slim"
# The same Python with git, for the steps that clone the participant's repo (the slim image has none).
GIT_IMAGE = "python:3.11"

_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_normalize(match.group(1))] = f"{match.group(1)}=={match.group(2)}"
    return pins


def pinned(*names: str) -> list[str]:
    """Return ``name==version`` for each name, as pinned in requirements.txt."""
    pins = _pins()
    missing = [name for name in names if _normalize(name) not in pins]
    if missing:
        raise KeyError(f"Pin {', '.join(missing)} in requirements.txt before using it in a component.")
    return [pins[_normalize(name)] for name in names]


def check_environment() -> None:
    """Fail in one sentence when this environment's packages differ from the pins.

    A local run starts its steps without their pip prelude (they would install nothing): this
    one check, per run, is what makes that safe.
    """
    drift = []
    for requirement in _pins().values():
        name, version = requirement.split("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            drift.append(f"{name} {installed} (pinned {version})")
    if drift:
        shown = ", ".join(drift[:5]) + (f" and {len(drift) - 5} more" if len(drift) > 5 else "")
        raise RuntimeError(f"This environment differs from requirements.txt: {shown}; run `make setup`.")
