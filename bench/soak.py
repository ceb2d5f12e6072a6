"""Soak test: memory growth and failures over many env lifetimes, in process and through the env server.

    python bench/soak.py [--envs textcraft webshop ...] [--cycles 10000] [--server-cycles 1000]
                         [--out bench/results/soak.json]

Per env, `--cycles` cycles of: create the env, reset a test task (the test ids in turn), `--steps`
steps (the expert's replies on even cycles, junk replies on odd ones, a 100 KB one among them),
close. A fresh env every cycle is the point: a leak in `close()` (a simulator left in SciWorld's
shared JVM, a tool-use sandbox worker not reaped) shows up as growth. Resident memory is this
process's VmRSS plus that of its child processes (SciWorld's JVM, the sandbox workers), read from
/proc after a garbage collection: at the start (after `--warmup` cycles, which fill the caches:
data sets, indexes, the JVM's heap), every `cycles / 20` cycles, and at the end. Reported per env:
start / end / peak RSS, growth % (start to end) and growth % over the second half (a plateau after
warm-up shows as ~0 there, a leak does not), failures (exceptions, counted, with the first few
messages), cycles/s.

Then `--server-cycles` cycles against the env server (`python -m envs.server --env textcraft` in a
subprocess on a free loopback port): `envs.remote.RemoteEnv` create, reset, steps (a local twin
env supplies the expert's replies on even cycles), close. Reported: the server process's RSS at
start (after `--server-warmup` cycles) and end, growth %, failures, the server's live env count
at the end (must be 0: closed envs are freed), cycles/s.

Goal: under 5% growth everywhere, no failures. Prints a markdown table; writes the JSON to `--out`
and the table next to it (same name, .md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import envs  # noqa: E402

GOAL_GROWTH_PCT = 5.0
MAX_MESSAGES = 5  # failure messages kept per env
JUNK_REPLIES = [
    "", "hello", "Action: fly to the moon", "Thought: hmm\nAction: \nAction: x", "\x00\u202e" * 50,
    "Action: " + "x" * 100_000, "<tool_call>{\"name\": \"nope\", \"arguments\": [1]}</tool_call>",
    "<search>what</search>", "Action: click[  ]", "Action: get 99999999999 oak planks",
]


# --------------------------------------------------------------------------- memory


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (VmRSS), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """All live descendants of `pid` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])  # the name may hold spaces and parentheses
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def memory(pid: int | None = None) -> dict:
    """{"self", "children", "total"} RSS in MB of `pid` (default: this process) and its descendants."""
    if pid is None:
        gc.collect()
        pid = os.getpid()
    own = rss_mb(pid)
    kids = sum(rss_mb(p) for p in descendants(pid))
    return {"self": round(own, 1), "children": round(kids, 1), "total": round(own + kids, 1)}


def growth_pct(start: float, end: float) -> float:
    return round(100.0 * (end - start) / start, 2) if start else 0.0


class Failures:
    """Exceptions of a soak run: how many, and the first few with their cycle."""

    def __init__(self):
        self.count, self.messages = 0, []

    def add(self, cycle: int, e: BaseException) -> None:
        self.count += 1
        if len(self.messages) < MAX_MESSAGES:
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.messages.append(f"cycle {cycle}: {type(e).__name__}: {str(e)[:300]} "
                                 f"({Path(where.filename).name}:{where.lineno})")


# --------------------------------------------------------------------------- in-process cycles


def expert_or_junk(env, name: str, cycle: int, step: int) -> str:
    if cycle % 2 == 0:
        return "apple" if name == "vowels" else env.expert_reply()
    return JUNK_REPLIES[(cycle // 2 + step) % len(JUNK_REPLIES)]


def one_cycle(name: str, task_id: int, cycle: int, steps: int) -> None:
    env = envs.make(name)
    try:
        env.reset(task_id)
        for step in range(steps):
            _, _, terminated, truncated, _ = env.step(expert_or_junk(env, name, cycle, step))
            if terminated or truncated:
                break
    finally:
        env.close()


def soak_env(name: str, cycles: int, warmup: int, steps: int) -> dict:
    """`warmup` + `cycles` create/reset/step/close cycles of env `name`; memory and failures."""
    task_ids = envs.tasks(name, "test")
    failures = Failures()

    def run(cycle: int) -> None:
        try:
            one_cycle(name, task_ids[cycle % len(task_ids)], cycle, steps)
        except Exception as e:  # noqa: BLE001 - counted and reported, the soak goes on
            failures.add(cycle, e)

    for cycle in range(warmup):
        run(cycle)
    warmup_failures = failures.count
    start = memory()
    samples, every = [[0, start["total"]]], max(1, cycles // 20)
    peak = start["total"]
    t0 = time.perf_counter()
    for i in range(cycles):
        run(warmup + i)
        if (i + 1) % every == 0 or i + 1 == cycles:
            sample = memory()
            peak = max(peak, sample["total"])
            samples.append([i + 1, sample["total"]])
            print(f"  {name}: {i + 1}/{cycles} cycles, RSS {sample['total']:.0f} MB "
                  f"({sample['children']:.0f} MB in children), {failures.count} failures", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    end = memory()
    middle = min(samples, key=lambda s: abs(s[0] - cycles / 2))[1]
    result = {
        "cycles": cycles, "warmup": warmup, "steps_per_cycle": steps, "seconds": round(seconds, 2),
        "cycles_per_s": round(cycles / seconds, 2) if seconds else None,
        "rss_mb": {"start": start, "end": end, "peak_total": round(peak, 1)},
        "growth_pct": growth_pct(start["total"], end["total"]),
        "second_half_growth_pct": growth_pct(middle, end["total"]),
        "failures": failures.count, "warmup_failures": warmup_failures, "failure_messages": failures.messages,
        "samples": samples,
    }
    result["ok"] = result["failures"] == 0 and result["growth_pct"] < GOAL_GROWTH_PCT
    return result


# --------------------------------------------------------------------------- server cycles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(name: str, port: int, timeout: float = 120.0) -> subprocess.Popen:
    """`python -m envs.server --env name` on 127.0.0.1:port, once its /health answers."""
    import requests

    server = subprocess.Popen([sys.executable, "-m", "envs.server", "--env", name, "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    session = requests.Session()
    session.trust_env = False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            raise RuntimeError(f"the env server exited with {server.returncode}: "
                               f"{server.stderr.read().decode()[-2000:]}")
        try:
            if session.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the env server did not answer /health within {timeout:g} s")


def soak_server(name: str, cycles: int, warmup: int, steps: int) -> dict:
    """`warmup` + `cycles` RemoteEnv create/reset/step/close cycles against a fresh env server."""
    import requests

    from envs.remote import RemoteEnv

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(name, port)
    local = envs.make(name)  # a twin for the expert's replies: a remote env has no expert
    task_ids = envs.tasks(name, "test")
    failures = Failures()

    def run(cycle: int) -> None:
        task_id = task_ids[cycle % len(task_ids)]
        try:
            with RemoteEnv(url, env=name, timeout=30, retries=2) as remote:
                remote.reset(task_id)
                local.reset(task_id)
                for step in range(steps):
                    reply = expert_or_junk(local, name, cycle, step)
                    _, _, terminated, truncated, _ = remote.step(reply)
                    local.step(reply)
                    if terminated or truncated:
                        break
        except Exception as e:  # noqa: BLE001
            failures.add(cycle, e)

    try:
        for cycle in range(warmup):
            run(cycle)
        start = memory(server.pid)
        t0 = time.perf_counter()
        for i in range(cycles):
            run(warmup + i)
        seconds = time.perf_counter() - t0
        time.sleep(0.5)  # let the last close finish
        end = memory(server.pid)
        session = requests.Session()
        session.trust_env = False
        health = session.get(f"{url}/health", timeout=10).json()
    finally:
        local.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    result = {
        "env": name, "cycles": cycles, "warmup": warmup, "steps_per_cycle": steps, "seconds": round(seconds, 2),
        "cycles_per_s": round(cycles / seconds, 2) if seconds else None,
        "server_rss_mb": {"start": start, "end": end}, "growth_pct": growth_pct(start["total"], end["total"]),
        "live_envs_at_end": health.get("live_envs"), "failures": failures.count,
        "failure_messages": failures.messages,
    }
    result["ok"] = (result["failures"] == 0 and result["growth_pct"] < GOAL_GROWTH_PCT
                    and result["live_envs_at_end"] == 0)
    return result


# --------------------------------------------------------------------------- report


def markdown(report: dict) -> str:
    lines = [f"Goal: RSS growth under {GOAL_GROWTH_PCT:g}% and no failures.", "",
             "| env | cycles | cycles/s | RSS start MB (children) | RSS end MB (children) | growth % | "
             "2nd-half growth % | failures | ok |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["envs"].items():
        s, e = r["rss_mb"]["start"], r["rss_mb"]["end"]
        lines.append(f"| {name} | {r['cycles']} | {r['cycles_per_s']} | {s['total']:.0f} ({s['children']:.0f}) | "
                     f"{e['total']:.0f} ({e['children']:.0f}) | {r['growth_pct']:+.2f} | "
                     f"{r['second_half_growth_pct']:+.2f} | {r['failures']} | {'yes' if r['ok'] else 'NO'} |")
    server = report.get("server")
    if server:
        s, e = server["server_rss_mb"]["start"], server["server_rss_mb"]["end"]
        lines.append(f"| server ({server['env']}) | {server['cycles']} | {server['cycles_per_s']} | {s['total']:.0f} | "
                     f"{e['total']:.0f} | {server['growth_pct']:+.2f} | - | {server['failures']} "
                     f"(live envs at end: {server['live_envs_at_end']}) | {'yes' if server['ok'] else 'NO'} |")
    failures = [(n, m) for n, r in [*report["envs"].items(), ("server", server or {})]
                for m in r.get("failure_messages", [])]
    if failures:
        lines += ["", "First failures:"] + [f"- {n}: {m}" for n, m in failures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=envs.names(), choices=envs.names())
    parser.add_argument("--cycles", type=int, default=10_000, help="measured create/reset/step/close cycles per env")
    parser.add_argument("--warmup", type=int, default=100, help="cycles per env before the start RSS is read")
    parser.add_argument("--steps", type=int, default=3, help="steps per cycle")
    parser.add_argument("--server-cycles", type=int, default=1_000,
                        help="RemoteEnv cycles against the env server (0: skip)")
    parser.add_argument("--server-warmup", type=int, default=50)
    parser.add_argument("--server-env", default="textcraft", choices=envs.names())
    parser.add_argument("--out", default="bench/results/soak.json")
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.warmup < 0 or args.steps < 1 or args.server_cycles < 0 or args.server_warmup < 0:
        parser.error("--cycles and --steps must be >= 1, --warmup / --server-cycles / --server-warmup >= 0")

    report = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "goal_growth_pct": GOAL_GROWTH_PCT, "envs": {}, "server": None}
    for name in args.envs:
        print(f"soak {name}: {args.warmup} warm-up + {args.cycles} cycles", file=sys.stderr, flush=True)
        report["envs"][name] = soak_env(name, args.cycles, args.warmup, args.steps)
    if args.server_cycles:
        print(f"soak env server ({args.server_env}): {args.server_warmup} warm-up + {args.server_cycles} cycles",
              file=sys.stderr, flush=True)
        report["server"] = soak_server(args.server_env, args.server_cycles, args.server_warmup, args.steps)
    report["ok"] = all(r["ok"] for r in report["envs"].values()) and (report["server"] or {"ok": True})["ok"]

    table = markdown(report)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(table + "\n")
    return report


if __name__ == "__main__":
    main()
