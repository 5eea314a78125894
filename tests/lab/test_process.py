"""Stopping the lab's processes: SIGTERM to all of them together, then SIGKILL after each one's own grace."""

import os
import sys
import threading
import time

from jukebox.lab import process

# A service that ignores SIGTERM, as SeaweedFS does for 15 s: only SIGKILL ends it.
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(99)
"""


def start_stubborn(home, name: str) -> int:
    marker = str(home / name)  # an argument of its own, so that the lab finds it by its command line
    pid = process.start(home, name, [sys.executable, "-c", STUBBORN, marker], dict(os.environ), marker)
    log = home / "logs" / f"{name}.log"
    process.wait_until(lambda: log.exists() and "ready" in log.read_text(), 30, name, log)
    return pid


def test_each_service_is_killed_after_its_own_grace_and_all_stop_together(tmp_path):
    pids = {name: start_stubborn(tmp_path, name) for name in ("quick", "patient")}
    stopped = []
    stopping = threading.Thread(target=lambda: stopped.extend(process.stop_all(tmp_path, {"quick": 0.5, "patient": 6})))
    stopping.start()
    deadline = time.monotonic() + 5
    while process.alive(pids["quick"]):
        assert time.monotonic() < deadline, "quick still runs 5 s after SIGTERM, its grace being 0.5 s"
        time.sleep(0.05)
    assert process.alive(pids["patient"]), "patient was killed before its own grace ran out"
    stopping.join(30)
    assert not process.alive(pids["patient"]) and stopped == ["quick", "patient"]
    assert process.running_pid(tmp_path, "quick") is None and not (tmp_path / "run" / "patient.pid").exists()
