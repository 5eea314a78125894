"""Start, find and stop the lab's background processes.

Each service runs detached (its own session, so it outlives the command that started it) with
its output in ``logs/<name>.log`` and its pid in ``run/<name>.pid``. ``stop`` ends exactly the
processes the lab started: it checks the pid still runs the command it recorded, sends SIGTERM,
waits out the service's grace, and escalates to SIGKILL.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers with any HTTP status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (OSError, ValueError):
        return False


def _pid_file(home: Path, name: str) -> Path:
    return home / "run" / f"{name}.pid"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_pid(home: Path, name: str) -> int | None:
    """The pid of service ``name`` if the lab started it and it still runs, else None."""
    path = _pid_file(home, name)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    pid = record["pid"]
    if record["marker"] in _cmdline(pid):
        return pid
    path.unlink(missing_ok=True)  # a stale record: that process is gone (or the pid was reused)
    return None


def start(home: Path, name: str, command: list[str], env: dict[str, str], marker: str, cwd: Path | None = None) -> int:
    """Start ``command`` detached; ``marker`` is a piece of its command line that identifies it."""
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "run").mkdir(parents=True, exist_ok=True)
    with open(home / "logs" / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _pid_file(home, name).write_text(json.dumps({"pid": process.pid, "marker": marker}))
    return process.pid


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path | None = None,
    running: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until it is true; fail with the log's last lines after ``timeout`` seconds,
    or as soon as ``running`` says the process has ended."""
    deadline = time.monotonic() + timeout
    problem = f"did not become healthy within {timeout:.0f} s"
    while time.monotonic() < deadline:
        if check():
            return
        if running is not None and not running():
            problem = "stopped while starting"
            break
        time.sleep(0.3)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise RuntimeError(f"{what} {problem}; see {log}.{tail}")


GRACE = 10.0  # seconds from SIGTERM to SIGKILL, unless a service says otherwise (``Service.stop_grace``)


def stop(home: Path, name: str, grace: float = GRACE) -> bool:
    """Stop service ``name`` (its whole process group); return whether it was running."""
    return name in stop_all(home, {name: grace})


def stop_all(home: Path, graces: dict[str, float]) -> list[str]:
    """Stop the services named in ``graces`` together; return those that were running, in the order given.

    Each process group gets SIGTERM, and what still runs after its service's grace (seconds) SIGKILL.
    The services wait out their grace side by side: one at a time, a lab of 24 participants' S3
    servers would take minutes to stop.
    """
    pids = {name: pid for name in graces if (pid := running_pid(home, name)) is not None}
    remaining = {name: pid for name, pid in pids.items() if _signal(pid, signal.SIGTERM)}
    started, killed = time.monotonic(), set()
    deadline = started + max((graces[name] for name in remaining), default=0) + 5.0  # SIGKILL's own 5 s
    while remaining and time.monotonic() < deadline:
        remaining = {name: pid for name, pid in remaining.items() if alive(pid)}
        for name, pid in remaining.items():
            if name not in killed and time.monotonic() - started >= graces[name]:
                _signal(pid, signal.SIGKILL)
                killed.add(name)
        time.sleep(0.2)
    for name in pids:
        _pid_file(home, name).unlink(missing_ok=True)
    return list(pids)


def _signal(pid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the process group ``pid`` leads; False when it is gone already."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    return True


def alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
