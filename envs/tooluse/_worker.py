"""The sandbox worker: runs third-party tool code in its own process (started by `sandbox.Sandbox`).

Never imported by the trainer. It reads one JSON request per line on stdin and answers one JSON
line on a private copy of stdout:

    {"op": "load", "codes": {name: source}}        -> {"ok": true, "errors": {name: message}}
    {"op": "call", "name": n, "arguments": {...}}  -> {"ok": true|false, "text": result or error}

Containment inside the process (the parent adds the kill of a tool that ignores its limits, and the restart):
- resource limits set by the parent before exec: address space, file size, open files, no core;
- an audit hook (PEP 578) that refuses processes (fork, exec, system, spawn, subprocess), sockets,
  ctypes, signals to other processes, and any file access outside the sandbox's temporary
  directory and the interpreter's own library directories (read-only);
- per-call timers that raise TimeoutError inside the tool: `timeout` seconds of CPU time (argv[1];
  a loaded machine does not make a call time out) and `wall_timeout` seconds of wall-clock time
  (argv[2]; for a tool that waits instead of computing);
- SystemExit / KeyboardInterrupt / MemoryError from a tool are caught and reported.
An audit hook is not a security boundary against native code; it contains what Python tool code
can do, which is what datasets of tools contain.
"""

import builtins
import inspect
import io
import json
import os
import signal
import sys

# modules tool code commonly uses, imported before the audit hook so their files are already read
# isort: off
import calendar, collections, copy, datetime, decimal, fractions, functools, itertools, math  # noqa: E401,F401
import random, re, statistics, string, time, typing, uuid  # noqa: E401,F401
# isort: on

try:  # optional, only if installed
    import pytz  # noqa: F401
except Exception:
    pass

SANDBOX_DIR = os.path.realpath(os.getcwd())
READ_ROOTS = tuple(
    os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr/share/zoneinfo", *sys.path} if p
)
MAX_RESULT_CHARS = 20_000
BLOCKED_PREFIXES = ("socket.", "ctypes.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "pty.")
BLOCKED = {
    "os.system", "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.chdir", "os.chroot", "os.setuid",
    "resource.setrlimit", "resource.prlimit", "sys.addaudithook", "sys.setprofile", "sys.settrace", "os.startfile",
    "signal.pthread_kill", "_posixsubprocess.fork_exec", "shutil.rmtree", "webbrowser.open", "urllib.Request",
}
PATH_EVENTS = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate",
    "os.utime", "os.listdir", "os.scandir", "os.replace",
}


def _inside(path, roots) -> bool:
    try:
        real = os.path.realpath(os.fsdecode(path))
    except Exception:
        return False
    return any(real == root or real.startswith(root.rstrip("/") + "/") for root in roots)


def _audit(event, args):
    if event in BLOCKED or event.startswith(BLOCKED_PREFIXES):
        raise PermissionError(f"sandbox: {event} is not allowed in tool code")
    if event == "open":
        path, mode = args[0], args[1]
        if isinstance(path, int):
            return
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        if isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writing = True
        roots = (SANDBOX_DIR,) if writing else (SANDBOX_DIR, *READ_ROOTS)
        if not _inside(path, roots):
            raise PermissionError(f"sandbox: access to {os.fsdecode(path)!r} is not allowed (files only inside the "
                                  "sandbox directory)")
    elif event in PATH_EVENTS:
        for path in args[:2]:
            if isinstance(path, (str, bytes, os.PathLike)) and not _inside(path, (SANDBOX_DIR,)):
                raise PermissionError(f"sandbox: {event} on {os.fsdecode(path)!r} is not allowed")


def _on_alarm(signum, frame):
    what = "CPU time" if signum == signal.SIGPROF else "wall-clock time"
    raise TimeoutError(f"the tool call exceeded its time limit ({what})")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the tool tried to exit the interpreter (SystemExit: {exc.code!r})"
    if isinstance(exc, MemoryError):
        return "the tool ran out of memory (MemoryError)"
    return f"{type(exc).__name__}: {exc}"


def main():
    proto = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8", line_buffering=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # tool prints (Python or C level) must never reach the protocol stream
    sys.stdout = io.StringIO()
    requests = io.TextIOWrapper(os.fdopen(os.dup(0), "rb"), encoding="utf-8")
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    wall_timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 3 * timeout
    signal.signal(signal.SIGPROF, _on_alarm)
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.addaudithook(_audit)
    namespace: dict = {}

    def run(fn):
        sys.stdout = io.StringIO()
        signal.setitimer(signal.ITIMER_PROF, timeout)
        signal.setitimer(signal.ITIMER_REAL, wall_timeout)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.setitimer(signal.ITIMER_PROF, 0)

    for line in requests:
        try:
            request = json.loads(line)
        except Exception:
            continue
        if request.get("op") == "load":
            namespace = {"__name__": "tools", "__builtins__": builtins}
            errors = {}
            for name, source in request["codes"].items():
                try:
                    run(lambda: exec(compile(source, f"<tool {name}>", "exec"), namespace))
                except BaseException as exc:  # noqa: BLE001 - third-party code may raise anything
                    errors[name] = _describe(exc)
            reply = {"ok": True, "errors": errors}
        elif request.get("op") == "call":
            name, arguments = request.get("name"), request.get("arguments")
            fn = namespace.get(name)
            if not callable(fn):
                reply = {"ok": False, "text": f"unknown tool {name!r}"}
            elif not isinstance(arguments, dict):
                reply = {"ok": False,
                         "text": "arguments must be a JSON object of parameter names to values, got "
                                 f"{type(arguments).__name__}"}
            else:
                try:
                    inspect.signature(fn).bind(**arguments)
                except TypeError as exc:
                    reply = {"ok": False, "text": f"{exc}"}
                except ValueError:
                    reply = None
                else:
                    reply = None
                if reply is None:
                    try:
                        result = run(lambda: fn(**arguments))
                        text = json.dumps(result, ensure_ascii=False, default=str)
                        if len(text) > MAX_RESULT_CHARS:
                            text = text[:MAX_RESULT_CHARS] + " ...(truncated)"
                        reply = {"ok": True, "text": text}
                    except BaseException as exc:  # noqa: BLE001
                        reply = {"ok": False, "text": _describe(exc)}
        else:
            reply = {"ok": False, "text": f"unknown request {request.get('op')!r}"}
        try:
            proto.write(json.dumps(reply, ensure_ascii=False) + "\n")
        except BaseException:  # noqa: BLE001 - e.g. an unserialisable error message
            proto.write(json.dumps({"ok": False, "text": "the tool's result could not be encoded"}) + "\n")


if __name__ == "__main__":
    main()
