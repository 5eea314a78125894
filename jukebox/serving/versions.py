"""The model versions a server keeps in memory, and the thread that follows the registry.

``ModelVersions`` loads each version once (a version asked for by two requests at the same
moment is still read once) and keeps the last few, so that a request naming a version that was
served a moment ago finds it in memory.

Its follower thread asks the source, about every second, which version to serve (one registry
query). When that changes, it loads the new version *in the background* and only then switches:
requests keep being answered by the old version while the new one loads, and never wait for it.
A version that fails to load is logged in one sentence; the old one keeps serving, and the load
is tried again a little later.
"""

import contextvars
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from jukebox.serving.served_model import ServedModel

log = logging.getLogger("jukebox.serving")

RETRY_SECONDS = 30  # how long a version that failed to load is left alone


def one_line(error: BaseException) -> str:
    """An error's first line, without any ``user:password@`` of a URL in it (for the logs)."""
    lines = str(error).strip().splitlines()
    return re.sub(r"://[^/@\s]+@", "://", lines[0] if lines else type(error).__name__)


class ModelVersions:
    """The versions of the model in memory, and the one being served.

    Args:
        source: where versions come from (``RegistrySource`` or ``FolderSource``).
        keep: how many versions stay in memory (the served one is never dropped).
    """

    def __init__(self, source, keep: int = 3):
        self.source = source
        self.keep = keep
        self.current: ServedModel | None = None
        self._loaded: OrderedDict[str, ServedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._failed: dict[str, float] = {}
        self._said = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cached(self, version: str) -> ServedModel | None:
        """The version if it is in memory (no loading)."""
        with self._lock:
            model = self._loaded.get(version)
            if model is not None:
                self._loaded.move_to_end(version)
            return model

    def get(self, version: str) -> ServedModel:
        """The version, loaded from the source unless it is in memory (blocks while it loads)."""
        model = self.cached(version)
        if model is not None:
            return model
        with self._lock:
            loading = self._loading.setdefault(version, threading.Lock())
        with loading:  # one load per version: a second caller waits for the first one's result
            model = self.cached(version)
            if model is None:
                started = time.monotonic()
                model = self.source.load(version)
                log.info(
                    "Loaded version %s of the model from %s (%d features, %d countries) in %.1f s.",
                    version,
                    self.source.name,
                    len(model.features),
                    len(model.countries),
                    time.monotonic() - started,
                )
                self._remember(model)
        return model

    def _remember(self, model: ServedModel) -> None:
        with self._lock:
            self._loaded[model.version] = model
            self._loading.pop(model.version, None)
            for version in list(self._loaded)[: max(0, len(self._loaded) - self.keep)]:
                if self.current is None or version != self.current.version:
                    del self._loaded[version]

    def follow(self, before_switch: Callable[[ServedModel], None] | None = None, interval: float = 1.0) -> None:
        """Start the follower thread: serve the source's version, switching when it changes.

        Args:
            before_switch: called with a newly loaded version before it is served (in the thread).
            interval: seconds between two questions to the source.
        """

        def run():
            while not self._stop.is_set():
                self.poll(before_switch)
                self._stop.wait(interval)

        # The thread runs in a copy of this context: kserve keeps its predictor configuration in a context variable.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(run,), name="model-version-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll(self, before_switch: Callable[[ServedModel], None] | None = None) -> None:
        """Ask the source once which version to serve; load it and switch to it if it is new."""
        try:
            version = self.source.current_version()
        except Exception as error:  # the registry is down, say: keep serving, say it once
            self._say(f"Cannot ask {self.source.name} which version to serve: {one_line(error)}")
            return
        if version is None:
            self._say(f"Not ready: waiting for {self.source.waiting_for()}.")
            return
        if self.current is not None and version == self.current.version:
            return
        if time.monotonic() < self._failed.get(version, 0):
            return
        try:
            model = self.get(version)
            if before_switch is not None:
                before_switch(model)
        except Exception as error:
            self._failed[version] = time.monotonic() + RETRY_SECONDS
            serving = f"version {self.current.version} keeps serving" if self.current else "nothing is served yet"
            log.error("Could not load version %s of the model: %s; %s.", version, one_line(error), serving)
            return
        previous, self.current = self.current, model
        self._said = ""
        log.info("Serving version %s of the model%s.", version, f" (was {previous.version})" if previous else "")

    def _say(self, message: str) -> None:
        """Log a waiting or failing state once, not every second."""
        if message != self._said:
            log.warning(message)
            self._said = message
