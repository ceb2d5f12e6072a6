"""Held-out evaluation: test tasks before and after training, success with percentile bootstrap CIs over
tasks (a task's k episodes are not independent, so tasks are the unit)."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np

from cleanagent_utils.distributed import gather
from cleanagent_utils.runs import seed_everything


def bootstrap_ci(per_task: list[float], seed: int = 0, resamples: int = 10_000, level: float = 0.95,
                 bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float]:
    """(mean, low, high): the mean over tasks and its percentile bootstrap interval, tasks resampled with
    replacement (a task's k episodes are not independent, so tasks are the unit). Where every task has the
    same value (nothing solved, everything solved, no task changed) the bootstrap has nothing to resample
    and would claim [v, v]; the interval is then the Wilson score bound of an all-or-nothing outcome over
    the n tasks, half-width z^2 / (n + z^2) (0 of 16 tasks solved: [0, 0.19]), cut to `bounds` (the values'
    possible range: [0, 1] for success rates, [-1, 1] for paired improvements)."""
    values = np.asarray(per_task, dtype=np.float64)
    if len(values) == 0:
        return 0.0, 0.0, 0.0
    mean = float(values.mean())
    if np.all(values == values[0]):
        z = float(NormalDist().inv_cdf((1 + level) / 2))
        half = z * z / (len(values) + z * z)
        return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)
    means = values[np.random.default_rng(seed).integers(0, len(values), (resamples, len(values)))].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return mean, float(low), float(high)


def eval_report(before: list[list[bool]] | None, after: list[list[bool]], seed: int = 0) -> dict:
    """Test success (%) before and after training with 95% CIs, and the paired per-task improvement's CI
    (percentage points): it counts only when the interval excludes 0."""
    def pct(values):
        return [round(100 * v, 2) for v in values]

    report = {"tasks": len(after), "k": len(after[0]) if after else 0,
              "after": pct(bootstrap_ci([np.mean(s) for s in after], seed))}
    if before is not None:
        report["before"] = pct(bootstrap_ci([np.mean(s) for s in before], seed))
        report["improvement"] = pct(bootstrap_ci([np.mean(a) - np.mean(b) for a, b in zip(after, before)], seed,
                                                 bounds=(-1.0, 1.0)))
    return report


def play_test_tasks(play, tasks: list[int], k: int, batch: int) -> list[list[bool]]:
    """Each of `tasks` played `k` times, `batch` episodes at a time by `play([(group, task_id), ...]) ->
    episodes`; per task the success of each of its episodes (an episode whose env failed is unsolved)."""
    jobs = [(g, t) for g, t in enumerate(tasks) for _ in range(k)]
    out = [[] for _ in tasks]
    for start in range(0, len(jobs), batch):
        for ep in play(jobs[start : start + batch]):
            out[ep.group].append(ep.success and not ep.failed)
    return out


class HeldOutEval:
    """Test tasks before training and at the end (at `--eval-horizon`, `--eval-k` episodes each, the same
    sampling seed every time: paired draws), printed with 95% CIs and written to the run folder's eval.json
    (a resumed run reads its `successes_before` back)."""

    def __init__(self, run, test_tasks: list[int], my_test_tasks: list[int], batch: int):
        self.run, self.args, self.tasks, self.mine, self.batch = run, run.args, test_tasks, my_test_tasks, batch
        self.path = run.dir / "eval.json"
        self.before = None
        if self.args.resume and self.path.exists():
            self.before = json.loads(self.path.read_text())["successes_before"]

    def evaluate(self, play, iteration: int) -> list[list[bool]]:
        seed_everything(self.args.seed * 7919 + self.run.rank)
        successes = play_test_tasks(play, self.mine, self.args.eval_k, self.batch)
        successes = [s for part in gather(successes) for s in part]
        self.run.scalar("eval/success_rate", float(np.mean([np.mean(s) for s in successes])), iteration)
        return successes

    def initial(self, play) -> None:
        if not self.tasks or self.run.start_iteration > 0:
            return
        if self.run.rank == 0:
            print(f"evaluating the initial model: {len(self.tasks)} {self.args.env} test tasks x "
                  f"{self.args.eval_k} episodes", flush=True)
        self.before = self.evaluate(play, -1)
        if self.run.rank == 0:
            self.path.write_text(json.dumps({"successes_before": self.before}))
            mean, low, high = eval_report(None, self.before, seed=self.args.seed)["after"]
            print(f"test success before training: {mean:.1f} % [{low:.1f}, {high:.1f}] (95% CI over tasks)", flush=True)

    def final(self, play) -> None:
        if not self.tasks:
            return
        after = self.evaluate(play, self.args.total_iterations - 1)
        if self.run.rank != 0:
            return
        report = eval_report(self.before, after, seed=self.args.seed)
        horizon = self.args.eval_horizon or self.args.horizons[-1]
        self.path.write_text(json.dumps({"env": self.args.env, "task_tier": self.args.task_tier,
                                         "test_tasks": self.tasks, "horizon": horizon, **report,
                                         "successes_before": self.before, "successes_after": after}, indent=1))
        print(f"test success, {report['tasks']} {self.args.env} test tasks x {report['k']} episodes "
              "(95% CI over tasks):")
        for label in ("before", "after", "improvement"):
            if label in report:
                mean, low, high = report[label]
                print(f"  {label:<12} {mean:6.1f}{' pp' if label == 'improvement' else ' % '} [{low:.1f}, {high:.1f}]")
