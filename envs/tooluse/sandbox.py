"""Run third-party tool code in a sandboxed worker process, never in the caller's process.

    sandbox = Sandbox(timeout=10.0, memory_mb=1024)
    errors = sandbox.load({"add": "def add(a, b):\\n    return a + b"})  # fresh namespace; {name: error}
    ok, text = sandbox.call("add", {"a": 1, "b": 2})                      # (True, "3")
    sandbox.close()

The worker (`_worker.py`) is a separate Python process started in its own session, with its own
temporary directory as working directory, an empty environment, and resource limits: address
space `memory_mb`, 64 MB per written file, 64 open files, no core dumps. Inside it an audit hook
refuses processes, sockets, ctypes and file access outside its directory (see `_worker.py`).
A call that computes for more than `timeout` seconds of CPU time, or lasts more than
`wall_timeout` seconds (default 3 x `timeout`; for tools that wait rather than compute), gets a
TimeoutError raised inside it; one that ignores that is killed (with its process group) after a
grace period, and the worker is restarted with the same tools. The limit is CPU time so that a
loaded machine, which slows the worker down, does not turn a correct call into a timeout. A
worker that dies (os._exit, a crash) is restarted the same way, and reported as dead, with its
exit code or signal, even when its death and a time limit coincide: the exit status is read
before a timeout is concluded. Every failure comes back as `(False, message)`: the message says
what went wrong, because detailed feedback is what lets a model recover from a bad call.
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
WALL_FACTOR = 3.0  # default wall_timeout = WALL_FACTOR * timeout
POLL_SECONDS = 0.1  # while a request is pending, how often the worker's CPU time is checked
try:
    _TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc's CPU times
except (AttributeError, ValueError, OSError):
    _TICKS = 100


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) the process has used, from /proc; None where that is unavailable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


def _limits(memory_mb: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class Sandbox:
    def __init__(self, timeout: float = 10.0, memory_mb: int = 1024, wall_timeout: float | None = None):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if memory_mb < 128:
            raise ValueError(f"memory_mb must be at least 128, got {memory_mb}")
        wall_timeout = WALL_FACTOR * timeout if wall_timeout is None else wall_timeout
        if wall_timeout < timeout:
            raise ValueError(f"wall_timeout must be >= timeout ({timeout} s), got {wall_timeout}")
        self.timeout = timeout  # CPU seconds per call
        self.wall_timeout = wall_timeout  # wall-clock seconds per call
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
            [sys.executable, "-I", WORKER, str(self.timeout), str(self.wall_timeout)],
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
            self._request({"op": "load", "codes": self.codes}, len(self.codes) + 1)

    def _request(self, request: dict, calls: int = 1) -> tuple[dict | None, str]:
        """Send one request and read one reply line, allowing `calls` times a call's limits.

        Returns (reply, "ok"), or (None, "exited") when the worker's output ended (it died), or
        (None, "timeout") when it used more than the limits plus the grace period: `timeout` of
        CPU time (where /proc tells it) or `wall_timeout` of wall-clock time.
        """
        if self._proc is None or self._proc.poll() is not None:
            return None, "exited"
        pid = self._proc.pid
        cpu_start = _cpu_seconds(pid)
        cpu_limit = (self.timeout + GRACE_SECONDS) * calls
        wall_limit = (self.wall_timeout + GRACE_SECONDS) * calls
        try:
            # ASCII escapes: a lone surrogate in a model's arguments must not break the encoding
            self._proc.stdin.write((json.dumps(request, default=str) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None, "exited"
        fd = self._proc.stdout.fileno()
        start = time.monotonic()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], POLL_SECONDS)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None, "exited"
                self._buffer += chunk
                continue
            cpu = _cpu_seconds(pid) if cpu_start is not None else None
            if (cpu is not None and cpu - cpu_start > cpu_limit) or time.monotonic() - start > wall_limit:
                if select.select([fd], [], [], 0)[0]:  # a reply or the end of the output came in meanwhile
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        return None, "exited"
                    self._buffer += chunk
                    if b"\n" in self._buffer:
                        break
                return None, "timeout"
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line), "ok"

    def _failure(self, why: str) -> str:
        """What happened to a worker that gave no reply (`why` from `_request`), as a message.

        The exit status decides, whatever `why` says: a worker that exited is reported as such
        even if a limit ran out meanwhile (on a slow machine both can be true), and one whose
        output ended is waited for, since the end of its output comes just before its exit.
        """
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=0 if why == "timeout" else GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                code = None
        if code is None and why == "timeout":
            return (f"the tool call exceeded its time limit of {self.timeout:g} s "
                    f"(CPU time; {self.wall_timeout:g} s in all) and was stopped")
        if code is None:
            return "the tool's process closed its output stream and was stopped"
        if code < 0:
            return (f"the tool's process was killed by signal {-code} "
                    f"(e.g. it exceeded the memory limit of {self.memory_mb} MB)")
        return f"the tool's process exited with code {code}"

    # -- API ---------------------------------------------------------------------------------

    def load(self, codes: dict[str, str]) -> dict[str, str]:
        """Define the tools of one environment in a fresh namespace; returns {name: error} for failures."""
        self.codes = {str(name): str(source) for name, source in codes.items()}
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._start()
        reply, _ = self._request({"op": "load", "codes": self.codes}, len(self.codes) + 1)
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
                self._request({"op": "load", "codes": self.codes}, len(self.codes) + 1)
        reply, why = self._request({"op": "call", "name": name, "arguments": arguments})
        if reply is not None:
            return bool(reply["ok"]), reply["text"]
        message = self._failure(why)
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
