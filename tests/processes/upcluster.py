"""A cluster run by a real `zmqzab up` process, for the view, control and browser tests.

Ports come from the OS and the config is written as for LocalCluster (``make_config``); the
config and the data live in a temp dir; every wait polls a condition with a deadline
(tests/processes/procs.py's helpers). What is specific to `zmqzab up` stays here: one process
to start and stop, its control file, and views over each node's HTTP.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.polling import wait_for
from tests.processes.procs import base_config
from zmqzab.config import Timing, load_config
from zmqzab.up.localcluster import make_config
from zmqzab.security.runsecret import SECRET_HEADER
from zmqzab.up.control import page_address, read_control_file


def http_json(url: str, method: str = "GET", body: Any = None, headers: dict | None = None,
              timeout: float = 2.0, raw: bytes | None = None) -> tuple[int, Any, dict]:
    """(status, decoded JSON or text, headers) of one request; (0, None, {}) if no answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read()
        try:
            decoded: Any = json.loads(text) if text else None
        except ValueError:
            decoded = text.decode(errors="replace")
        return resp.status, decoded, {k.lower(): v for k, v in resp.getheaders()}
    except (OSError, http.client.HTTPException):
        return 0, None, {}
    finally:
        conn.close()


class UpCluster:
    """`zmqzab up` over a config of ``n`` nodes on free ports in ``root``."""

    def __init__(self, root: Path, n: int = 5, timing: Timing | None = None,
                 storage_extra: dict | None = None) -> None:
        self.root = root
        self.config_path = make_config(root, n, base_config(timing, storage_extra))
        self.config = load_config(self.config_path)
        self.ids = list(range(n))
        self.proc: subprocess.Popen | None = None
        self.control: str | None = None
        self.secret: str | None = None

    @property
    def page(self) -> str:
        """The page with the controls: the address `zmqzab up` prints (it holds the secret)."""
        return page_address(self.control, self.config, self.secret)

    @property
    def node_page(self) -> str:
        return self.config.nodes[0].http_url + "/"

    @property
    def auth(self) -> dict[str, str]:
        """The header the CLI sends with every control request."""
        return {SECRET_HEADER: self.secret or ""}

    def http(self, i: int) -> str:
        return self.config.node(i).http_url

    def start(self, timeout: float = 20.0, args: tuple[str, ...] = ()) -> None:
        out = open(self.root / "up.console", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zmqzab", "up", "--config", str(self.config_path), *args],
            stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
        )
        def ready() -> dict | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"zmqzab up exited: {self.console()[-2000:]}")
            try:
                return read_control_file(self.config)
            except Exception:  # not written yet (RunFileError), or half-way
                return None

        try:
            found = wait_for(ready, timeout, "zmqzab up to write its control file")
        except BaseException:
            self.stop()  # a start that failed leaves no supervisor (and its nodes) behind
            raise
        self.control, self.secret = found["control"], found["secret"]

    def console(self) -> str:
        path = self.root / "up.console"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    # ------------------------------------------------------------------ views

    def status(self, i: int, timeout: float = 1.0) -> dict | None:
        code, data, _ = http_json(self.http(i) + "/status", timeout=timeout)
        return data if code == 200 and isinstance(data, dict) and data.get("role") else None

    def statuses(self) -> dict[int, dict | None]:
        return {i: self.status(i) for i in self.ids}

    def leader(self, among: list[int] | None = None) -> int | None:
        """The one LEADING node in BROADCAST that every node (or every answering one of ``among``)
        follows."""
        everyone = self.statuses()
        if among is None and any(s is None for s in everyone.values()):
            return None  # all nodes must answer unless told which
        st = {i: s for i, s in everyone.items() if s is not None and (among is None or i in among)}
        leaders = [i for i, s in st.items() if s["role"] == "LEADING" and s["phase"] == "BROADCAST"]
        if len(leaders) != 1:
            return None
        ld = leaders[0]
        if all(s["phase"] == "BROADCAST" and s["leader"] == ld for s in st.values()):
            return ld
        return None

    def wait_leader(self, timeout: float = 20.0, among: list[int] | None = None) -> int:
        return wait_for(lambda: self.leader(among), timeout, "one leader followed by every answering node")

    def act(self, action: str, body: dict | None = None, timeout: float = 15.0) -> tuple[int, Any]:
        assert self.control is not None
        code, data, _ = http_json(f"{self.control}/control/{action}", "POST", body or {}, timeout=timeout,
                                  headers=self.auth)
        return code, data
