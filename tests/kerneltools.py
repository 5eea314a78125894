"""Run code the way a participant's JupyterLab does: in a real kernel, not with ``python file.py``.

- ``press_play``: what Elyra's run button does with a ``.py`` file (a kernel started in the file's
  folder; the file's text sent as one execute request); ``compile_in_kernel``: the same kernel and
  text, compiled instead of run.
- ``ServerKernel``: a kernel of a running Jupyter server, driven over its websocket, as the
  JupyterLab page drives it.
"""

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager


@dataclass
class Execution:
    """What one execute request printed, and the error it raised (``None`` when it succeeded)."""

    output: str = ""
    error: dict | None = field(default=None)

    def check(self) -> str:
        assert self.error is None, f"{self.error['ename']}: {self.error['evalue']}\n{self.output[-3000:]}"
        return self.output


def _collect(execution: Execution, message: dict) -> bool:
    """Add an iopub message to ``execution``; True when the kernel is idle again."""
    kind, content = message["msg_type"], message["content"]
    if kind == "stream":
        execution.output += content["text"]
    elif kind in ("execute_result", "display_data"):
        execution.output += content["data"].get("text/plain", "") + "\n"
    elif kind == "error":
        execution.error = {"ename": content["ename"], "evalue": content["evalue"]}
    return kind == "status" and content["execution_state"] == "idle"


def press_play(script: Path, env: dict[str, str], timeout: float = 900) -> Execution:
    """Run ``script`` as Elyra's run button does: a fresh ``python3`` kernel of this Python, in
    the script's folder, with ``env``; the file's text as one cell (no ``__file__``, kernel argv)."""
    return run_in_kernel(script.parent, script.read_text(), env, timeout)


def compile_in_kernel(script: Path, pipeline: str, env: dict[str, str]) -> Execution:
    """The play button's kernel, but the file's text runs as a module's would (not as ``__main__``), then
    ``pipeline`` is compiled to ``<script>.yaml`` next to it: the script as a participant's kernel sees it,
    without running the pipeline."""
    code = (
        f"namespace = {{'__name__': 'played'}}\nexec({script.read_text()!r}, namespace)\n"
        "from kfp import compiler\n"
        f"compiler.Compiler().compile(namespace[{pipeline!r}], {script.stem + '.yaml'!r})\n"
    )
    return run_in_kernel(script.parent, code, env)


def run_in_kernel(folder: Path, code: str, env: dict[str, str], timeout: float = 900) -> Execution:
    """Run ``code`` as one cell of a fresh ``python3`` kernel of this Python, started in ``folder`` with ``env``."""
    kernels = write_kernel_spec()  # a temporary folder with this Python's kernel spec
    specs = KernelSpecManager(kernel_dirs=[str(Path(kernels).parent)])
    manager = KernelManager(kernel_name=Path(kernels).name, kernel_spec_manager=specs)
    manager.start_kernel(cwd=str(folder), env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        msg_id = client.execute(code)
        execution = Execution()
        while True:
            message = client.get_iopub_msg(timeout=timeout)
            if message["parent_header"].get("msg_id") == msg_id and _collect(execution, message):
                return execution
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


class ServerKernel:
    """A notebook session of a running Jupyter server (``url`` like ``http://127.0.0.1:P``)."""

    def __init__(self, url: str, token: str, notebook: str):
        self.url, self.headers = url, {"Authorization": f"token {token}"}
        session = requests.post(
            f"{url}/api/sessions",
            json={"path": notebook, "type": "notebook", "name": Path(notebook).name, "kernel": {"name": "python3"}},
            headers=self.headers,
            timeout=60,
        )
        session.raise_for_status()
        self.session = session.json()
        kernel = self.session["kernel"]["id"]
        self.client_id = uuid.uuid4().hex
        ws_url = url.replace("http://", "ws://") + f"/api/kernels/{kernel}/channels?session_id={self.client_id}"
        self.socket = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=900)

    def execute(self, code: str) -> Execution:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": self.client_id, "version": "5.3"}
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
        request = {"header": {**header, "username": "participant"}, "parent_header": {}, "metadata": {}}
        self.socket.send(json.dumps({**request, "content": content, "channel": "shell", "buffers": []}))
        execution = Execution()
        while True:
            message = json.loads(self.socket.recv())
            if message.get("channel") != "iopub" or message["parent_header"].get("msg_id") != msg_id:
                continue
            if _collect(execution, message):
                return execution

    def close(self) -> None:
        self.socket.close()
        requests.delete(f"{self.url}/api/sessions/{self.session['id']}", headers=self.headers, timeout=60)
