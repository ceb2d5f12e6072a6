"""Learning evidence on real envs: a training script run over several seeds, each run evaluated on the
env's held-out test tasks before and after training, the improvement with a 95% CI.

    python bench/learning.py --name babyai_grpo --script grpo_agent.py --seeds 1 2 3 -- \\
        --env babyai --task-tier 1 --horizons 6 --num-tasks 4 --group-size 4 --total-iterations 10 \\
        --eval-tasks 16 --eval-k 2

Each seed is one run of the script in a subprocess, one at a time (two torch processes on a few cores
slow each other down far more than they gain); flags after `--` go to every run. The script itself
plays the test tasks (`--eval-tasks` of the test split, `--eval-k` episodes each, at its last horizon or
`--eval-horizon`) before its first update and after its last one, and writes them to its run folder's
eval.json. Hyperparameters are the caller's, chosen on training tasks: the test tasks only report.

Per seed, `bench/results/learning/{name}/seed{S}.json` keeps the run's eval.json and its per-iteration
lines (the training curve), so an interrupted benchmark keeps its finished seeds (`--resume-existing`
skips them). Then:
- `bench/results/learning_{name}.json`: a list of one record: `env`, `algorithm`, `seeds`, `before`,
  `after` (test success %, mean over seeds), `improvement` and `improvement_ci` ([low, high],
  percentage points: each test task's after - before success averaged over the seeds, the mean over
  tasks with a percentile bootstrap over tasks), `counts` (whether the CI excludes 0), the command,
  per-seed numbers and seconds;
- `docs/img/learning_{name}.png`: training success (and the test success before/after) and the invalid-
  action rate against iteration, mean over seeds with a min-max band.

`--compare NAME...` runs nothing: it draws results already made side by side (horizon schedules or
algorithms on one env, evaluated at one test horizon) into `docs/img/learning_{name}.png` and prints
their table, with each result's test success after training minus the first NAME's, paired by seed and
test task (the runs of one seed share the before evaluation), with its 95% CI; the same in
`bench/results/compare_{name}.json`:

    python bench/learning.py --name babyai_schedules --compare babyai_scaling babyai_short babyai_grpo babyai_adaptive
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.curves import parse_records  # noqa: E402
from cleanagent_utils.evaluation import bootstrap_ci  # noqa: E402

OWN_FLAGS = ("--seed", "--runs-dir", "--resume")
ALGORITHMS = {"grpo_agent.py": "grpo", "ppo_agent.py": "ppo", "reinforce_agent.py": "reinforce++"}


def algorithm_name(script: str, extra: list[str]) -> str:
    name = ALGORITHMS.get(Path(script).name, Path(script).stem)
    if name == "reinforce++" and "rloo" in extra:
        return "rloo"
    return name


def flag_value(extra: list[str], flag: str, default=None):
    for i, item in enumerate(extra):
        if item == flag and i + 1 < len(extra):
            return extra[i + 1]
        if item.startswith(flag + "="):
            return item.split("=", 1)[1]
    return default


def aggregate(per_seed: list[dict], seed: int = 0) -> dict:
    """Before/after test success (% , mean over seeds) and the improvement's CI over test tasks.

    per_seed: each seed's result, its "eval" the run's eval.json (`successes_before` / `successes_after`: per task, its
    episodes' successes; the same test tasks in every seed)."""
    def task_means(successes):
        return np.array([np.mean(s) for s in successes], dtype=np.float64)

    before = np.mean([task_means(r["eval"]["successes_before"]) for r in per_seed], axis=0)
    after = np.mean([task_means(r["eval"]["successes_after"]) for r in per_seed], axis=0)
    mean, low, high = bootstrap_ci(list(after - before), seed=seed, bounds=(-1.0, 1.0))
    return {"before": round(100 * float(before.mean()), 2), "after": round(100 * float(after.mean()), 2),
            "improvement": round(100 * mean, 2), "improvement_ci": [round(100 * low, 2), round(100 * high, 2)],
            "counts": bool(low > 0 or high < 0), "test_tasks": len(before)}


def paired_difference(per_seed: list[dict], reference: list[dict], seed: int = 0) -> dict:
    """Test success after training of one result minus a reference's (pp), with its 95% CI over test tasks.

    Both lists hold the seeds' results (as in `aggregate`), matched by seed: a seed plays the same test tasks
    with the same sampling seed before training in every run, so the two results share their before and the
    difference of their afters is paired by task: each task's after success averaged over the seeds, minus
    the reference's, bootstrapped over tasks."""
    mine, theirs = {r["seed"]: r for r in per_seed}, {r["seed"]: r for r in reference}
    seeds = sorted(set(mine) & set(theirs))
    if not seeds:
        raise ValueError("no seed in common with the reference")

    def after(results):
        return np.mean([[np.mean(s) for s in results[sd]["eval"]["successes_after"]] for sd in seeds], axis=0)

    mean, low, high = bootstrap_ci(list(after(mine) - after(theirs)), seed=seed, bounds=(-1.0, 1.0))
    return {"seeds": seeds, "difference": round(100 * mean, 2),
            "difference_ci": [round(100 * low, 2), round(100 * high, 2)]}


def flag_values(extra: list[str], flag: str) -> list[str]:
    """Every value of a multi-valued flag (`--horizons 3 6`), up to the next flag."""
    if flag not in extra:
        return []
    values = []
    for item in extra[extra.index(flag) + 1 :]:
        if item.startswith("--"):
            break
        values.append(item)
    return values


def compare(names: list[str], results_dir: Path, path: Path) -> list[dict]:
    """Results of one env side by side: each name's record (`learning_{name}.json`) and its seeds' curves.
    One PNG: training success and horizon (invalid-action rate where all share one horizon schedule) against
    iteration (mean over seeds), and each name's test improvement with its 95% CI. Returns the records in
    `names`' order, each with its paired difference from the first name's (`vs_first`, see
    `paired_difference`; the first's own is None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records, curves = [], []
    for name in names:
        [record] = json.loads((results_dir / f"learning_{name}.json").read_text())
        seeds = [json.loads((results_dir / "learning" / name / f"seed{s}.json").read_text()) for s in record["seeds"]]
        extra = shlex.split(record["command"])
        extra = extra[extra.index("--") + 1 :] if "--" in extra else []
        records.append({"name": name, **record, "horizons": flag_values(extra, "--horizons"),
                        "horizon_schedule": flag_value(extra, "--horizon-schedule", "fixed")})
        curves.append(seeds)
        records[-1]["vs_first"] = paired_difference(seeds, curves[0]) if len(curves) > 1 else None
    fig, (ax, ax_middle, ax_test) = plt.subplots(1, 3, figsize=(15, 4))
    # the middle panel: the horizon where the results' horizons differ, else the invalid-action rate
    schedules = {(tuple(r["horizons"]), r["horizon_schedule"]) for r in records}
    middle = ("horizon", 1, "horizon (turns)") if len(schedules) > 1 else (
        "invalid_action_rate", 100, "invalid actions (% of turns, mean over seeds)")
    for name, seeds in zip(names, curves):
        n = min(len(r["curve"]) for r in seeds)
        for axis, key, scale in ((ax, "success_rate", 100), (ax_middle, *middle[:2])):
            values = scale * np.array([[rec[key] for rec in r["curve"][:n]] for r in seeds], dtype=np.float64)
            axis.plot(np.arange(n), values.mean(0), label=f"{name} ({len(seeds)} seeds)")
    for i, record in enumerate(records):
        low, high = record["improvement_ci"]
        mid = record["improvement"]
        ax_test.errorbar([i], [mid], yerr=[[mid - low], [high - mid]], fmt="o", capsize=4)
    ax_test.axhline(0, color="k", lw=0.8)
    ax_test.set_xticks(range(len(records)), names, rotation=20, fontsize=8)
    ax_test.set_ylabel("test success after - before (pp, 95% CI)")
    ax.set_ylabel("training success (%, mean over seeds)")
    ax_middle.set_ylabel(middle[2])
    for axis in (ax, ax_middle):
        axis.set_xlabel("iteration")
        axis.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return records


def plot(seed_results: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(r["curve"]) for r in seed_results)
    x = np.arange(n)
    fig, (ax, ax_invalid) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, key, label in ((ax, "success_rate", "training tasks"),
                             (ax_invalid, "invalid_action_rate", "invalid actions")):
        values = 100 * np.array([[rec[key] for rec in r["curve"][:n]] for r in seed_results])
        axis.plot(x, values.mean(0), label=f"{label} (mean of {len(seed_results)} seeds)")
        axis.fill_between(x, values.min(0), values.max(0), alpha=0.25, label="min-max over seeds")
    ax_invalid.set_xlabel("iteration")
    ax_invalid.set_ylabel("share of turns (%)")
    ax_invalid.legend(fontsize=8)
    for key, x_at, marker in (("before", -1, "o"), ("after", n - 1, "s")):
        values = [100 * np.mean([np.mean(s) for s in r["eval"][f"successes_{key}"]]) for r in seed_results]
        ax.errorbar([x_at], [np.mean(values)], yerr=[[np.mean(values) - min(values)], [max(values) - np.mean(values)]],
                    fmt=marker, color="k", capsize=4, label=f"test tasks, {key} training (min-max over seeds)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("success rate (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_seed(script: str, seed: int, extra: list[str], runs_dir: Path) -> dict:
    cmd = [sys.executable, script, "--seed", str(seed), "--runs-dir", str(runs_dir), *extra]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"error: seed {seed} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    run_dir = Path(proc.stdout.strip().splitlines()[-1].split("run folder: ")[1])
    return {"seed": seed, "seconds": round(seconds, 1), "run_dir": str(run_dir),
            "eval": json.loads((run_dir / "eval.json").read_text()), "curve": parse_records(proc.stdout)}


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="names the result files")
    p.add_argument("--script", default="grpo_agent.py", choices=list(ALGORITHMS))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--runs-dir", default="/tmp/cleanagent-learning", help="where the runs' folders (models, logs) go")
    p.add_argument("--results-dir", default=str(REPO / "bench" / "results"))
    p.add_argument("--plot", default=None, help="PNG path (default docs/img/learning_{name}.png)")
    p.add_argument("--resume-existing", action="store_true", help="keep the seeds whose results exist")
    p.add_argument("--compare", nargs="+", default=None, metavar="NAME",
                   help="run nothing: plot these names' results side by side as docs/img/learning_{name}.png")
    args = p.parse_args(own)
    results_dir = Path(args.results_dir)
    if args.compare:
        png = Path(args.plot or REPO / "docs" / "img" / f"learning_{args.name}.png")
        records = compare(args.compare, results_dir, png)
        summary = [{k: v for k, v in r.items() if k != "per_seed"} for r in records]
        (results_dir / f"compare_{args.name}.json").write_text(json.dumps(
            {"command": "python bench/learning.py " + shlex.join(own), "results": summary}, indent=1) + "\n")
        print(f"| result | horizons | schedule | seeds | before % | after % | improvement, pp [95% CI] | "
              f"after - {args.compare[0]}'s after, pp [95% CI] |")
        print("|---|---|---|---|---|---|---|---|")
        for r in records:
            low, high = r["improvement_ci"]
            vs = r["vs_first"] and "{difference:+} [{difference_ci[0]}, {difference_ci[1]}]".format(**r["vs_first"])
            print(f"| {r['name']} | {' '.join(r['horizons'])} | {r['horizon_schedule']} | "
                  f"{' '.join(map(str, r['seeds']))} | {r['before']} | {r['after']} | "
                  f"{r['improvement']:+} [{low}, {high}] | {vs or '-'} |")
        return records
    clash = [f for f in extra if f.split("=", 1)[0] in OWN_FLAGS]
    if clash:
        p.error(f"{clash} are set by this benchmark")
    if not flag_value(extra, "--eval-tasks") or int(flag_value(extra, "--eval-tasks")) < 1:
        p.error("pass --eval-tasks N (N >= 1) after `--`: the script's before/after evaluation is the result")
    seed_dir = results_dir / "learning" / args.name
    seed_dir.mkdir(parents=True, exist_ok=True)
    command = "python bench/learning.py " + shlex.join([*own, "--", *extra])
    seed_results = []
    for seed in args.seeds:
        path = seed_dir / f"seed{seed}.json"
        if args.resume_existing and path.exists():
            seed_results.append(json.loads(path.read_text()))
            continue
        result = run_seed(args.script, seed, extra, Path(args.runs_dir))
        path.write_text(json.dumps(result, indent=1))
        seed_results.append(result)
        print(f"seed {seed}: {result['seconds']} s, test success {result['eval']['before'][0]} -> "
              f"{result['eval']['after'][0]} %", flush=True)
    env = flag_value(extra, "--env", "webshop")
    record = {"env": env, "task_tier": flag_value(extra, "--task-tier"),
              "algorithm": algorithm_name(args.script, extra),
              "horizons": flag_values(extra, "--horizons"),
              "horizon_schedule": flag_value(extra, "--horizon-schedule", "fixed"),
              "eval_horizon": flag_value(extra, "--eval-horizon"),
              "seeds": args.seeds, **aggregate(seed_results), "command": command,
              "per_seed": [{"seed": r["seed"], "seconds": r["seconds"], "before": r["eval"]["before"],
                            "after": r["eval"]["after"], "improvement": r["eval"]["improvement"],
                            "train_success": [rec["success_rate"] for rec in r["curve"]]} for r in seed_results]}
    out = results_dir / f"learning_{args.name}.json"
    out.write_text(json.dumps([record], indent=1) + "\n")
    plot(seed_results, Path(args.plot or REPO / "docs" / "img" / f"learning_{args.name}.png"),
         f"{record['algorithm']} on {env} (tier {record['task_tier']}): test {record['before']}% -> {record['after']}%")
    print(json.dumps({k: v for k, v in record.items() if k != "per_seed"}))
    return [record]


if __name__ == "__main__":
    main()
