"""What a local pipeline run shows: one line per step, and the full output in a log file.

``kfp.local`` prints every step's raw output (the executor's JSON included): over a thousand
lines for the training pipeline. A participant needs to see which step runs, how long each took,
and whether it worked; the rest goes to a log file whose path the run prints at the end.
``verbose=True`` also echoes everything to the console.
"""

import io
import re
import threading
import time
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r"Executing task '?([\w-]+)'?")
_FINISHED = re.compile(r"Task '?([\w-]+)'? finished with status (\w+)")


class StepProgress(io.TextIOBase):
    """A stdout for the run: every line to the log, a line per step start and end to the console.

    Args:
        console: where progress goes (the real stdout).
        log_path: the file that receives the run's full output.
        verbose: echo the full output to the console too.
        heartbeat: seconds between "still running" lines for a long step.
    """

    def __init__(self, console, log_path: Path, verbose: bool = False, heartbeat: float = 15.0):
        self.console, self.verbose, self.heartbeat = console, verbose, heartbeat
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path, self.log = log_path, open(log_path, "w", encoding="utf-8")  # noqa: SIM115
        self.partial = ""
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def write(self, text: str) -> int:
        with self.lock:
            self.log.write(text)
            if self.verbose:
                self.console.write(text)
            self.partial += text
            *lines, self.partial = self.partial.split("\n")
        for line in lines:
            self._progress(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        if not self.log.closed:
            self.log.flush()
        self.console.flush()

    def say(self, line: str) -> None:
        """A line for the participant: to the console, and into the log."""
        with self.lock:
            self.log.write(line + "\n")
            self.console.write(line + "\n")
            self.console.flush()

    def _progress(self, line: str) -> None:
        if started := _STARTED.search(line):
            self.running[started.group(1)] = time.monotonic()
            if not self.verbose:
                self.say(f"  … {started.group(1)}")
        elif finished := _FINISHED.search(line):
            step, state = finished.groups()
            seconds = time.monotonic() - self.running.pop(step, time.monotonic())
            mark = "✓" if state == "SUCCESS" else "✗"
            self.say(f"  {mark} {step} ({seconds:.1f} s)")

    def beat(self, now: float | None = None) -> None:
        """Say which steps have been running for a heartbeat or more, and for how long."""
        now = time.monotonic() if now is None else now
        for step, since in list(self.running.items()):
            if now - since >= self.heartbeat:
                self.say(f"    {step} still running ({now - since:.0f} s)")

    def _tick(self) -> None:
        while not self.stopping.wait(self.heartbeat):
            self.beat()

    def close(self) -> None:
        self.stopping.set()
        with self.lock:
            self.log.close()
