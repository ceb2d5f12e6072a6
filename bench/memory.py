"""Peak memory of a training run, by phase: the script in a subprocess, its RSS sampled from /proc.

    python bench/memory.py --out bench/results/memory_webshop.json -- grpo_agent.py --env webshop --total-iterations 2
    python bench/memory.py --out bench/results/memory_webshop_no_ckpt.json -- grpo_agent.py --env webshop \\
        --total-iterations 2 --no-gradient-checkpointing

Every `--interval` seconds the child's VmRSS (Linux /proc) is read; the script's output lines are
timestamped as they come, so each sample falls in a phase: `load+eval_before` (the model load and
the evaluation before training, up to the first iteration line), `iteration N` (its rollout and
update, up to its JSON line) and `eval_after` (the rest: the evaluation after
training and the saving). Writes the peak RSS
overall and per phase (MB), the iteration lines and the command to `--out`.

`--breakdown` runs the script under a probe of its `release_freed_memory` calls (one after each rollout,
one after each update: the three scripts call it there and nowhere else) that reports, for each phase,
the peak RSS within it (VmHWM, reset at each call), the RSS before and after `malloc_trim`, the bytes of
the live tensors (found through `gc`) and where the resident memory lies after the trim (glibc's heap,
other anonymous mappings, files: `/proc/self/smaps`). That is how docs/bench.md separates live data from
memory the allocator holds:

    python bench/memory.py --breakdown --out bench/results/memory_make_run_breakdown.json -- grpo_agent.py
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import runpy
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE_PREFIX = "MEMORY_PHASE "


def rss_mb(pid: int) -> int | None:
    try:
        return status_mb("VmRSS", Path(f"/proc/{pid}/status").read_text())
    except (FileNotFoundError, ProcessLookupError, KeyError):  # gone, or a zombie without VmRSS
        return None


def status_mb(key: str, text: str) -> int:
    """A `/proc/PID/status` field in kB (VmRSS, VmHWM) as MB."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(key)


def smaps_rss_mb(text: str) -> dict[str, int]:
    """Resident MB of `/proc/PID/smaps` by kind of mapping: glibc's `[heap]`, other anonymous mappings
    (large malloc blocks, thread stacks, the torch allocator's mmaps) and file-backed ones (libraries,
    the model's safetensors if mapped)."""
    kb = {"heap": 0, "anon": 0, "file": 0}
    kind = None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if "-" in parts[0] and not parts[0].endswith(":"):  # a mapping's header: range perms offset dev inode [path]
            path = parts[5] if len(parts) > 5 else ""
            kind = "heap" if path == "[heap]" else ("file" if path.startswith("/") else "anon")
        elif parts[0] == "Rss:" and kind is not None:
            kb[kind] += int(parts[1])
    return {k: v // 1024 for k, v in kb.items()}


def live_tensor_mb() -> int:
    """MB of the distinct storages of every tensor the garbage collector can see (parameters,
    gradients, optimizer state, anything a phase leaves alive)."""
    import torch

    storages = {}
    for obj in gc.get_objects():
        if isinstance(obj, torch.Tensor) and obj.device.type == "cpu":
            with contextlib.suppress(RuntimeError):  # meta or sparse tensors have no storage
                storage = obj.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values()) // 2**20


def run_probe(command: list[str]) -> None:
    """Run `command` (SCRIPT.py [flags]) in this process with `release_freed_memory` wrapped to print one
    PROBE_PREFIX + JSON line per phase on stdout."""
    sys.path.insert(0, str(REPO))
    import cleanagent_utils.runs as runs

    release = runs.release_freed_memory
    calls = [0]

    def release_and_report():
        status = Path("/proc/self/status").read_text()
        record = {"phase": ("rollout", "update")[calls[0] % 2], "iteration": calls[0] // 2,
                  "peak_mb": status_mb("VmHWM", status), "rss_before_trim_mb": status_mb("VmRSS", status)}
        calls[0] += 1
        release()
        record["rss_after_trim_mb"] = status_mb("VmRSS", Path("/proc/self/status").read_text())
        record["live_tensor_mb"] = live_tensor_mb()
        record.update({f"{k}_mb": v for k, v in smaps_rss_mb(Path("/proc/self/smaps").read_text()).items()})
        print(PROBE_PREFIX + json.dumps(record), flush=True)
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the next record is the next phase's peak

    runs.release_freed_memory = release_and_report  # before the script imports it by name
    script = str(Path(command[0]).resolve())
    sys.argv = [script, *command[1:]]
    sys.path.insert(0, str(Path(script).parent))
    runpy.run_path(script, run_name="__main__")


def phase_peaks(samples: list[tuple[float, int]], ready: float | None, marks: list[float]) -> dict:
    """Peak RSS (MB) per phase: until `ready` (the line saying the evaluation before training is done;
    None: no such evaluation), from there to the i-th iteration line (`iteration i`, from 0), after the
    last one (`eval_after`)."""
    peaks: dict[str, int] = {}
    for t, mb in samples:
        k = sum(m <= t for m in marks)
        if ready is not None and t < ready:
            name = "load+eval_before"
        else:
            name = "eval_after" if k == len(marks) else f"iteration {k}"
        peaks[name] = max(peaks.get(name, 0), mb)
    return peaks


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        raise SystemExit("usage: python bench/memory.py [--out FILE] [--interval S] -- SCRIPT.py [flags]")
    own, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    if own == ["--probe"]:
        return run_probe(command)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--breakdown", action="store_true",
                   help="also report each rollout's and update's peak, live tensors and heap (a probe in the child)")
    args = p.parse_args(own)
    if args.breakdown and not sys.platform.startswith("linux"):
        raise SystemExit("error: --breakdown reads /proc: Linux only")
    t0 = time.time()
    launch = [str(Path(__file__).resolve()), "--probe", "--"] if args.breakdown else []
    child = subprocess.Popen([sys.executable, *launch, *command], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    samples: list[tuple[float, int]] = []

    def sample():
        while child.poll() is None:
            mb = rss_mb(child.pid)
            if mb is not None:
                samples.append((time.time() - t0, mb))
            time.sleep(args.interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    records, marks, ready, phases = [], [], None, []
    for line in child.stdout:
        if line.startswith(PROBE_PREFIX):
            phases.append(json.loads(line[len(PROBE_PREFIX):]))
        if line.startswith("test success before training"):
            ready = time.time() - t0
        if line.startswith('{"iteration"'):
            marks.append(time.time() - t0)
            records.append(json.loads(line))
    child.wait()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"error: the run exited with {child.returncode}")
    memory_vars = ("LD_PRELOAD", "ONEDNN_PRIMITIVE_CACHE_CAPACITY", "MALLOC_", "MIMALLOC_")
    allocator_env = {k: v for k, v in os.environ.items() if k.startswith(memory_vars)}  # they change the result
    result = {"command": "python " + " ".join(command), "environment": allocator_env,
              "seconds": round(time.time() - t0, 1),
              "peak_rss_mb": max(mb for _, mb in samples), "peak_rss_mb_by_phase": phase_peaks(samples, ready, marks),
              "iterations": records}
    if args.breakdown:
        result["phases"] = phases
    print(json.dumps({k: v for k, v in result.items() if k not in ("iterations", "phases")}, indent=1))
    for r in phases:
        print(f"iteration {r['iteration']:>2} {r['phase']:<7} peak {r['peak_mb']:>5} MB, after trim "
              f"{r['rss_after_trim_mb']:>5} MB: tensors {r['live_tensor_mb']} MB, heap {r['heap_mb']}, "
              f"other anonymous {r['anon_mb']}, files {r['file_mb']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
