"""Helpers of the browser tests: a second kernel client, polling, scratch notebooks."""

from __future__ import annotations

import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Kernel:
    """A second client on a notebook's kernel, to read and change the kernel's state."""

    def __init__(self, connection_file: Path):
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        # no heartbeat channel: on a loaded machine a late heartbeat makes jupyter_client
        # declare the kernel dead; JupyterLab's server owns the kernel and watches it
        self.client.start_channels(hb=False)
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute code; return its stdout, raise with the traceback on error."""
        out = []

        def hook(msg):
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook, store_history=False,
                                                allow_stdin=False)
        content = reply["content"]
        if content["status"] != "ok":
            raise AssertionError(f"kernel error: {content.get('ename')}: {content.get('evalue')}\n"
                                 + "\n".join(content.get("traceback", [])))
        return "".join(out)

    def value(self, expression: str, timeout: float = 120):
        """Value of a JSON-serialisable expression evaluated in the kernel."""
        text = self.run(f"import json as _json\nprint(_json.dumps({expression}))", timeout=timeout)
        return json.loads(text.strip().splitlines()[-1])

    def close(self) -> None:
        self.client.stop_channels()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Poll ``predicate()`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message} (last value: {last!r})")


def scratch_notebook(source: Path, target: Path, parameters: dict) -> Path:
    """Copy a notebook, replacing assignments in its ``parameters`` cell."""
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if "parameters" in cell.metadata.get("tags", []):
            lines = cell.source.splitlines()
            for name, value in parameters.items():
                for i, line in enumerate(lines):
                    if line.startswith(f"{name} ="):
                        lines[i] = f"{name} = {value!r}"
                        break
                else:
                    lines.append(f"{name} = {value!r}")
            cell.source = "\n".join(lines)
            break
    else:
        raise AssertionError(f"{source} has no cell tagged 'parameters'")
    nbformat.write(notebook, target)
    return target
