"""Learning curves of horizon schedules: ScalingInter phases against a fixed short horizon, a fixed
long horizon and the adaptive schedule, over several seeds, with one training script.

    python bench/curves.py --script grpo_agent.py --env vowels --iterations 30 --seeds 1 2 3
    python bench/curves.py --script grpo_agent.py --env textcraft --short 10 --long 30 --scaling 10 20 30 \\
        --phase-iterations 100 --iterations 300 --resume-existing -- --task-tier 1 --save-every 0

Each (schedule, seed) is one run of the script, in a subprocess, one at a time (two torch
processes on a few cores slow each other down far more than they gain). Flags after `--` go to
every run unchanged. The schedules:

    scaling   --horizons <scaling...> --horizon-phase-iterations <phase-iterations>   (ScalingInter-RL)
    short     --horizons <short>
    long      --horizons <long>
    adaptive  --horizons <scaling...> --horizon-schedule adaptive

Writes to --out-dir:
- `curves.csv`: one row per (schedule, seed, iteration), the script's per-iteration JSON line;
  rows are appended as each run ends, so an interrupted benchmark keeps its finished runs and
  `--resume-existing` skips them;
- `runs.json`: per run, its wall seconds, exit status and run folder;
- `summary.json`: per schedule, the final success rate (each seed's mean over the last 20% of its
  iterations, then mean and std over seeds), the area under the success curve (each seed's mean
  success over all iterations, 0-1, then mean and std over seeds), the last horizon, and seconds;
- `curves.png`: success rate and horizon against iteration, the mean over seeds with a band
  (min-max over seeds by default, or +-1 std with `--band std`);
- `{schedule}_seed{seed}.stderr.txt`: the end of a failed run's stderr (the other runs go on).

Std is the population std over seeds (ddof=0), so one seed gives 0 rather than nan.
"""

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCHEDULES = ("scaling", "short", "long", "adaptive")
FIELDS = ["schedule", "seed", "iteration", "success_rate", "episodic_return", "horizon", "invalid_action_rate",
          "rollout_s", "update_s"]
INT_FIELDS = {"seed", "iteration", "horizon"}
FINAL_FRACTION = 0.2  # "final" success = the mean over this last share of a run's iterations
# flags this benchmark sets itself for every run; passing them after `--` would silently change what a schedule means
OWN_FLAGS = ("--env", "--seed", "--total-iterations", "--horizons", "--horizon-phase-iterations", "--horizon-schedule",
             "--runs-dir", "--exp-name", "--resume")
STDERR_TAIL_LINES = 200
LINE_STYLES = ("-", "--", "-.", ":")


def schedule_flags(schedule: str, short: int, long: int, scaling: list[int], phase_iterations: int) -> list[str]:
    """The script flags that select one horizon schedule."""
    if schedule == "scaling":
        return ["--horizons", *map(str, scaling), "--horizon-phase-iterations", str(phase_iterations)]
    if schedule == "short":
        return ["--horizons", str(short)]
    if schedule == "long":
        return ["--horizons", str(long)]
    if schedule == "adaptive":
        return ["--horizons", *map(str, scaling), "--horizon-schedule", "adaptive"]
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {SCHEDULES}")


def conflicting_flags(extra: list[str]) -> list[str]:
    """The flags among `extra` that this benchmark sets itself (`--a_b` and `--a-b=x` forms too)."""
    found = []
    for flag in extra:
        name = flag.split("=", 1)[0].replace("_", "-")
        if name in OWN_FLAGS:
            found.append(flag)
    return found


def parse_records(stdout: str) -> list[dict]:
    """The script's per-iteration JSON lines; progress bars and other output are skipped."""
    records = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return records


def to_rows(schedule: str, seed: int, records: list[dict]) -> list[dict]:
    """Records of one run -> CSV rows (a field the script did not print is left empty)."""
    return [{"schedule": schedule, "seed": seed, **{k: r.get(k, "") for k in FIELDS[2:]}} for r in records]


def read_csv(path: Path) -> list[dict]:
    """The rows of curves.csv with their numbers parsed ([] when there is no file)."""
    if not path.exists():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k in FIELDS[1:]:
                value = row.get(k, "")
                row[k] = None if value in ("", None) else int(float(value)) if k in INT_FIELDS else float(value)
            rows.append(row)
    return rows


def append_csv(path: Path, rows: list[dict]) -> None:
    """Append rows, writing the header first when the file is new."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def completed_runs(rows: list[dict]) -> set[tuple[str, int]]:
    """(schedule, seed) pairs that have rows."""
    return {(r["schedule"], r["seed"]) for r in rows}


def by_run(rows: list[dict]) -> dict[str, dict[int, list[dict]]]:
    """schedule -> seed -> that run's rows sorted by iteration (schedules in first-seen order)."""
    runs: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        runs[r["schedule"]][r["seed"]].append(r)
    return {s: {seed: sorted(rs, key=lambda r: r["iteration"]) for seed, rs in sorted(seeds.items())}
            for s, seeds in runs.items()}


def final_window(n: int) -> int:
    """How many of a run's last iterations count as 'final': 20% of them, at least one."""
    return max(1, round(n * FINAL_FRACTION))


def summarize(rows: list[dict], wall_s: dict[tuple[str, int], float] | None = None) -> dict:
    """Per schedule: seeds, iterations, final success and area under the success curve (mean, std
    over seeds), the last horizon (mean over seeds), training seconds (rollout + update, summed
    over seeds) and wall seconds (whole subprocesses, summed over the seeds that have one)."""
    wall_s = wall_s or {}
    summary = {}
    for schedule, seeds in by_run(rows).items():
        finals, aucs, last_horizons = [], [], []
        for run in seeds.values():
            success = [r["success_rate"] for r in run]
            finals.append(float(np.mean(success[-final_window(len(success)):])))
            aucs.append(float(np.mean(success)))
            last_horizons.append(run[-1]["horizon"])
        walls = [wall_s[(schedule, seed)] for seed in seeds if (schedule, seed) in wall_s]
        summary[schedule] = {
            "seeds": list(seeds),
            "iterations": max(len(run) for run in seeds.values()),
            "final_success_mean": float(np.mean(finals)),
            "final_success_std": float(np.std(finals)),
            "final_success_per_seed": finals,
            "auc_mean": float(np.mean(aucs)),
            "auc_std": float(np.std(aucs)),
            "last_horizon_mean": float(np.mean(last_horizons)),
            "train_s": float(sum((r["rollout_s"] or 0.0) + (r["update_s"] or 0.0)
                                 for run in seeds.values() for r in run)),
            "wall_s": float(sum(walls)) if walls else None,
        }
    return summary


def band_curve(runs: dict[int, list[dict]], key: str,
               band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(iterations, mean, low, high) of `key` over seeds at each iteration any seed reached;
    low/high are min/max over seeds (band='minmax') or mean -+ std (band='std')."""
    values = defaultdict(list)
    for run in runs.values():
        for r in run:
            values[r["iteration"]].append(r[key])
    iterations = np.array(sorted(values))
    stacked = [np.array(values[i], dtype=float) for i in iterations]
    mean = np.array([v.mean() for v in stacked])
    if band == "std":
        std = np.array([v.std() for v in stacked])
        return iterations, mean, mean - std, mean + std
    return iterations, mean, np.array([v.min() for v in stacked]), np.array([v.max() for v in stacked])


def plot(rows: list[dict], path: Path, band: str = "minmax", title: str = "") -> None:
    """Two panels sharing the iteration axis: success rate, then horizon; per schedule the mean over
    seeds as a line and the band as a shaded area."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    band_name = "min-max over seeds" if band == "minmax" else "mean ± 1 std over seeds"
    fig, (ax_success, ax_horizon) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                                 gridspec_kw={"height_ratios": [2, 1]})
    for k, (schedule, runs) in enumerate(by_run(rows).items()):
        label = f"{schedule} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
        for ax, key in ((ax_success, "success_rate"), (ax_horizon, "horizon")):
            x, mean, low, high = band_curve(runs, key, band)
            # a line style per schedule too, so curves that coincide (e.g. every horizon >= an env's turn count) stay
            # visible
            (line,) = ax.plot(x, mean, label=label, linestyle=LINE_STYLES[k % len(LINE_STYLES)],
                              drawstyle="steps-post" if key == "horizon" else "default")
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, step="post" if key == "horizon" else None)
    ax_success.set_ylabel("success rate")
    ax_success.set_ylim(-0.02, 1.02)
    ax_success.set_title(f"{title + ': ' if title else ''}mean line, band = {band_name}")
    ax_success.legend(loc="best")
    ax_success.grid(alpha=0.3)
    ax_horizon.set_ylabel("horizon (max turns)")
    ax_horizon.set_xlabel("iteration")
    ax_horizon.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_one(script: str, flags: list[str], stderr_path: Path) -> tuple[list[dict], int, float, str | None]:
    """Run the script once; (its records, exit status, wall seconds, run folder or None). Its JSON
    lines are echoed as they come; stderr goes to `stderr_path`, kept (as its tail) only on failure."""
    t0 = time.time()
    lines = []
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen([sys.executable, script, *flags], stdout=subprocess.PIPE, stderr=err,
                                text=True, bufsize=1)
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("{"):
                print(f"  {line.rstrip()}", flush=True)
        returncode = proc.wait()
    wall = time.time() - t0
    stdout = "".join(lines)
    run_dir = next((line.split("run folder: ", 1)[1].strip() for line in reversed(lines)
                    if "run folder: " in line), None)
    if returncode == 0:
        stderr_path.unlink()
    else:
        tail = stderr_path.read_text(errors="replace").splitlines()[-STDERR_TAIL_LINES:]
        stderr_path.write_text("\n".join(tail) + "\n")
    return parse_records(stdout), returncode, wall, run_dir


def write_outputs(out_dir: Path, runs_info: dict, band: str, title: str) -> dict:
    """summary.json and curves.png from curves.csv and runs.json's records (`runs_info`)."""
    rows = read_csv(out_dir / "curves.csv")
    wall_s = {(info["schedule"], info["seed"]): info["wall_s"] for info in runs_info.values()
              if info["returncode"] == 0}
    failed = [{k: info[k] for k in ("schedule", "seed", "returncode", "iterations", "stderr")}
              for info in runs_info.values() if info["returncode"] != 0 or not info["iterations"]]
    summary = {"band": band, "final_fraction": FINAL_FRACTION, "schedules": summarize(rows, wall_s), "failed": failed}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if rows:
        plot(rows, out_dir / "curves.png", band, title)
    return summary


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our flags, and the flags after `--` that go to every run."""
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", default="grpo_agent.py",
                        help="the training script (grpo_agent.py, reinforce_agent.py, ppo_agent.py)")
    parser.add_argument("--env", default="vowels", help="the environment")
    parser.add_argument("--iterations", type=int, default=30, help="--total-iterations of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=SCHEDULES)
    parser.add_argument("--short", type=int, default=2, help="the fixed short horizon")
    parser.add_argument("--long", type=int, default=6, help="the fixed long horizon")
    parser.add_argument("--scaling", type=int, nargs="+", default=[2, 4, 6],
                        help="the horizons of the scaling and adaptive schedules")
    parser.add_argument("--phase-iterations", type=int, default=10, help="iterations per phase of the scaling schedule")
    parser.add_argument("--out-dir", default=None, help="default: bench/results/curves_<env>")
    parser.add_argument("--runs-dir", default="runs", help="where the runs write their run folders")
    parser.add_argument("--band", choices=("minmax", "std"), default="minmax",
                        help="the plot's band: min-max over seeds, or +-1 std")
    parser.add_argument("--resume-existing", action="store_true",
                        help="keep curves.csv and skip the (schedule, seed) runs that already have rows in it")
    args = parser.parse_args(argv)
    if conflicting_flags(extra):
        parser.error(f"flags after -- must not set what the benchmark sets itself: {conflicting_flags(extra)}")
    for name in ("iterations", "phase_iterations", "short", "long"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.out_dir is None:
        args.out_dir = str(REPO / "bench" / "results" / f"curves_{args.env}")
    script = Path(args.script)
    if not script.exists() and (REPO / script).exists():
        script = REPO / script
    if not script.exists():
        parser.error(f"--script {args.script}: no such file")
    args.script = str(script)
    return args, extra


def main(argv: list[str] | None = None) -> dict:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, runs_path = out_dir / "curves.csv", out_dir / "runs.json"
    if not args.resume_existing:
        csv_path.unlink(missing_ok=True)
        runs_path.unlink(missing_ok=True)
    runs_info = json.loads(runs_path.read_text()) if runs_path.exists() else {}
    done = completed_runs(read_csv(csv_path))
    title = f"{Path(args.script).stem} on {args.env}"
    todo = [(s, seed) for s in args.schedules for seed in args.seeds]
    for k, (schedule, seed) in enumerate(todo):
        if (schedule, seed) in done:
            print(f"[{k + 1}/{len(todo)}] {schedule} seed {seed}: already in {csv_path}, skipped", flush=True)
            continue
        flags = ["--env", args.env, "--seed", str(seed), "--total-iterations", str(args.iterations), "--runs-dir",
                 args.runs_dir, "--exp-name", f"{Path(args.script).stem}-{schedule}",
                 *schedule_flags(schedule, args.short, args.long, args.scaling, args.phase_iterations), *extra]
        print(f"[{k + 1}/{len(todo)}] {schedule} seed {seed}: {Path(args.script).name} {' '.join(flags)}", flush=True)
        stderr_path = out_dir / f"{schedule}_seed{seed}.stderr.txt"
        records, returncode, wall, run_dir = run_one(args.script, flags, stderr_path)
        runs_info[f"{schedule}/{seed}"] = {"schedule": schedule, "seed": seed, "returncode": returncode,
                                           "wall_s": round(wall, 1), "iterations": len(records), "run_dir": run_dir,
                                           "flags": flags, "stderr": str(stderr_path) if stderr_path.exists() else None}
        runs_path.write_text(json.dumps(runs_info, indent=2) + "\n")
        if returncode == 0 and records:
            append_csv(csv_path, to_rows(schedule, seed, records))
        else:
            # a failed run's partial curve is not written, so --resume-existing runs it again
            tail = stderr_path.read_text(errors="replace").splitlines()[-10:] if stderr_path.exists() else []
            print(f"  FAILED (exit {returncode}, {len(records)} iterations); stderr tail in {stderr_path}:", *tail,
                  sep="\n    ", flush=True)
        write_outputs(out_dir, runs_info, args.band, title)
    summary = write_outputs(out_dir, runs_info, args.band, title)
    for schedule, s in summary["schedules"].items():
        wall = f"{s['wall_s']:.0f}" if s["wall_s"] is not None else "?"
        print(f"{schedule:>9}: final success {s['final_success_mean']:.3f} ± {s['final_success_std']:.3f}, "
              f"AUC {s['auc_mean']:.3f} ± {s['auc_std']:.3f}, last horizon {s['last_horizon_mean']:.1f}, "
              f"{len(s['seeds'])} seeds, {wall} s wall")
    print(f"results in {out_dir}")
    return summary


if __name__ == "__main__":
    summary = main()
    sys.exit(1 if summary["failed"] else 0)
