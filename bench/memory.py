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
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None)
    p.add_argument("--interval", type=float, default=0.2)
    args = p.parse_args(own)
    t0 = time.time()
    child = subprocess.Popen([sys.executable, *command], cwd=REPO, stdout=subprocess.PIPE,
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
    records, marks, ready = [], [], None
    for line in child.stdout:
        if line.startswith("test success before training"):
            ready = time.time() - t0
        if line.startswith('{"iteration"'):
            marks.append(time.time() - t0)
            records.append(json.loads(line))
    child.wait()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"error: the run exited with {child.returncode}")
    result = {"command": "python " + " ".join(command), "seconds": round(time.time() - t0, 1),
              "peak_rss_mb": max(mb for _, mb in samples), "peak_rss_mb_by_phase": phase_peaks(samples, ready, marks),
              "iterations": records}
    print(json.dumps({k: v for k, v in result.items() if k != "iterations"}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
