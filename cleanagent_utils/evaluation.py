"""Held-out evaluation statistics: success over test tasks with percentile bootstrap CIs, tasks as
the unit."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(per_task: list[float], seed: int = 0, resamples: int = 10_000, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean over tasks and its percentile bootstrap interval, tasks resampled with
    replacement (a task's k episodes are not independent, so tasks are the unit)."""
    values = np.asarray(per_task, dtype=np.float64)
    if len(values) == 0:
        return 0.0, 0.0, 0.0
    means = values[np.random.default_rng(seed).integers(0, len(values), (resamples, len(values)))].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(values.mean()), float(low), float(high)


def eval_report(before: list[list[bool]] | None, after: list[list[bool]], seed: int = 0) -> dict:
    """Test success (%) before and after training with 95% CIs, and the paired per-task improvement's CI
    (percentage points): it counts only when the interval excludes 0."""
    def pct(values):
        return [round(100 * v, 2) for v in values]

    report = {"tasks": len(after), "k": len(after[0]) if after else 0, "after": pct(bootstrap_ci([np.mean(s) for s in after], seed))}
    if before is not None:
        report["before"] = pct(bootstrap_ci([np.mean(s) for s in before], seed))
        report["improvement"] = pct(bootstrap_ci([np.mean(a) - np.mean(b) for a, b in zip(after, before)], seed))
    return report
