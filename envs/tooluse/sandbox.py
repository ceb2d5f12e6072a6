"""Run third-party tool code in a sandboxed worker process, never in the caller's process.

    sandbox = Sandbox(timeout=10.0, memory_mb=1024)
    errors = sandbox.load({"add": "def add(a, b):\\n    return a + b"})  # fresh namespace; {name: error}
    ok, text = sandbox.call("add", {"a": 1, "b": 2})                      # (True, "3")
    sandbox.close()

The worker (`_worker.py`) is a separate Python process started in its own session, with its own
temporary directory as working directory, an empty environment, and resource limits: address
space `memory_mb`, 64 MB per written file, 64 open files, no core dumps. Inside it an audit hook
refuses processes, sockets, ctypes and file access outside its directory (see `_worker.py`).
A call that runs past `timeout` seconds gets a TimeoutError raised inside it; one that ignores
that is killed (with its process group) after a grace period, and the worker is restarted with
the same tools. A worker that dies (os._exit, a crash) is restarted the same way. Every failure
comes back as `(False, message)`: the message says what went wrong, because detailed feedback is
what lets a model recover from a bad call.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
GRACE_SECONDS = 2.0  # after the in-worker timer fires, how long before the worker is killed


def _limits(memory_mb: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class Sandbox:
    def __init__(self, timeout: float = 10.0, memory_mb: int = 1024):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if memory_mb < 128:
            raise ValueError(f"memory_mb must be at least 128, got {memory_mb}")
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.codes: dict[str, str] = {}
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._buffer = b""

    # -- process management ------------------------------------------------------------------

    def _start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="cleanagent-tools-")
        self._proc = subprocess.Popen(
            [sys.executable, "-I", WORKER, str(self.timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self._dir,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "TZ": "UTC"},
            start_new_session=True, preexec_fn=_limits(self.memory_mb), close_fds=True,
        )
        self._buffer = b""

    def _kill(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _restart(self) -> None:
        self._kill()
        self.restarts += 1
        self._start()
        if self.codes:
            self._request({"op": "load", "codes": self.codes}, self.timeout * (len(self.codes) + 1))

    def _request(self, request: dict, deadline_seconds: float) -> dict | None:
        """Send one request and read one reply line; None if the worker died or missed the deadline."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        try:
            # ASCII escapes: a lone surrogate in a model's arguments must not break the encoding
            self._proc.stdin.write((json.dumps(request, default=str) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        fd = self._proc.stdout.fileno()
        end = time.monotonic() + deadline_seconds
        while b"\n" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    # -- API ---------------------------------------------------------------------------------

    def load(self, codes: dict[str, str]) -> dict[str, str]:
        """Define the tools of one environment in a fresh namespace; returns {name: error} for failures."""
        self.codes = {str(name): str(source) for name, source in codes.items()}
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._start()
        reply = self._request({"op": "load", "codes": self.codes}, (self.timeout + GRACE_SECONDS) * (len(self.codes) + 1))
        if reply is None:  # top-level tool code hung or killed the worker: start over, report every tool
            self._restart_without_codes()
            return {name: "defining the tool hung or crashed the sandbox" for name in self.codes}
        return reply["errors"]

    def _restart_without_codes(self) -> None:
        self.codes = {}
        self._kill()
        self.restarts += 1
        self._start()

    def call(self, name: str, arguments) -> tuple[bool, str]:
        """Call a loaded tool with keyword arguments; (True, JSON-encoded result) or (False, error message)."""
        if self._proc is None:
            self._start()
            if self.codes:
                self._request({"op": "load", "codes": self.codes}, self.timeout * (len(self.codes) + 1))
        reply = self._request({"op": "call", "name": name, "arguments": arguments}, self.timeout + GRACE_SECONDS)
        if reply is not None:
            return bool(reply["ok"]), reply["text"]
        code = self._proc.poll() if self._proc is not None else None
        if code is None:
            message = f"the tool call exceeded its time limit of {self.timeout:g} s and was stopped"
        elif code < 0:
            message = f"the tool's process was killed by signal {-code} (e.g. it exceeded the memory limit of {self.memory_mb} MB)"
        else:
            message = f"the tool's process exited with code {code}"
        self._restart()
        return False, message

    def close(self) -> None:
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self._kill()
        except Exception:
            pass
