"""bench/learning.py: the before/after aggregation over seeds, and one tiny end-to-end run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.learning import aggregate, algorithm_name

REPO = Path(__file__).resolve().parents[1]


def seed_result(before, after):
    return {"eval": {"successes_before": before, "successes_after": after}}


def test_aggregate_averages_seeds_per_task_then_bootstraps_over_tasks():
    seeds = [seed_result([[0, 0], [1, 0], [0, 0]], [[1, 1], [1, 0], [0, 1]]),
             seed_result([[0, 1], [0, 0], [0, 0]], [[1, 0], [1, 1], [0, 0]])]
    out = aggregate(seeds)
    before = np.mean([[0, 0.5, 0], [0.5, 0, 0]], axis=0)
    after = np.mean([[1, 0.5, 0.5], [0.5, 1, 0]], axis=0)
    assert out["before"] == pytest.approx(100 * before.mean(), abs=0.01)
    assert out["after"] == pytest.approx(100 * after.mean(), abs=0.01)
    assert out["improvement"] == pytest.approx(100 * (after - before).mean(), abs=0.01)
    low, high = out["improvement_ci"]
    assert low <= out["improvement"] <= high and out["test_tasks"] == 3
    assert out["counts"] == (low > 0 or high < 0)


def test_no_change_never_counts():
    same = [[1, 0], [0, 0], [1, 1]]
    out = aggregate([seed_result(same, same)] * 3)
    # no task changed: not the zero-width [0, 0] of a bootstrap but Wilson's bound over the 3 tasks, either way
    assert out["improvement"] == 0 and out["improvement_ci"] == [-56.15, 56.15] and not out["counts"]


def test_algorithm_names():
    assert algorithm_name("grpo_agent.py", []) == "grpo"
    assert algorithm_name("reinforce_agent.py", ["--baseline", "rloo"]) == "rloo"
    assert algorithm_name("reinforce_agent.py", []) == "reinforce++"
    assert algorithm_name("ppo_agent.py", []) == "ppo"


def test_end_to_end_on_a_tiny_model(tiny_model_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, "bench/learning.py", "--name", "tiny", "--seeds", "1", "2", "--results-dir", str(tmp_path),
         "--runs-dir", str(tmp_path / "runs"), "--plot", str(tmp_path / "tiny.png"), "--",
         "--env", "vowels", "--model", str(tiny_model_dir), "--total-iterations", "2", "--eval-tasks", "3", "--eval-k",
         "2", "--max-new-tokens", "4"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [record] = json.loads((tmp_path / "learning_tiny.json").read_text())
    assert record["env"] == "vowels" and record["algorithm"] == "grpo" and record["seeds"] == [1, 2]
    assert set(record) >= {"before", "after", "improvement_ci", "command"}
    assert [len(s["train_success"]) for s in record["per_seed"]] == [2, 2]
    assert (tmp_path / "tiny.png").stat().st_size > 0
    assert (tmp_path / "learning" / "tiny" / "seed2.json").exists()


def test_refuses_a_run_without_test_tasks(tmp_path):
    proc = subprocess.run([sys.executable, "bench/learning.py", "--name", "x", "--results-dir", str(tmp_path),
                           "--", "--env", "vowels"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--eval-tasks" in proc.stderr


def test_flag_values_reads_a_multi_valued_flag():
    from bench.learning import flag_values

    extra = ["--env", "babyai", "--horizons", "3", "6", "--horizon-phase-iterations", "5"]
    assert flag_values(extra, "--horizons") == ["3", "6"] and flag_values(extra, "--eval-horizon") == []


def test_compare_reads_each_result_and_its_schedule(tmp_path):
    from bench.learning import compare

    for name, horizons, schedule, shift in (("short", ["3"], [], 0.0), ("scaling", ["3", "6"], [], 0.5),
                                            ("adaptive", ["3", "6"], ["--horizon-schedule", "adaptive"], 0.25)):
        (tmp_path / "learning" / name).mkdir(parents=True)
        for seed in (1, 2):
            curve = [{"success_rate": shift, "horizon": int(horizons[min(i // 2, len(horizons) - 1)])}
                     for i in range(4)]
            after = [[1, 1], [1, 0]] if shift else [[0, 0], [1, 0]]
            (tmp_path / "learning" / name / f"seed{seed}.json").write_text(json.dumps(
                {"seed": seed, "curve": curve, **seed_result([[0, 0], [1, 0]], after)}))
        command = "python bench/learning.py --name x -- --env babyai --horizons " + " ".join(horizons + schedule)
        (tmp_path / f"learning_{name}.json").write_text(json.dumps([{
            "env": "babyai", "seeds": [1, 2], "before": 10.0, "after": 10.0 + 40 * shift, "improvement": 40 * shift,
            "improvement_ci": [40 * shift - 5, 40 * shift + 5], "command": command}]))
    records = compare(["short", "scaling", "adaptive"], tmp_path, tmp_path / "cmp.png")
    assert [(r["name"], r["horizons"], r["horizon_schedule"]) for r in records] == [
        ("short", ["3"], "fixed"), ("scaling", ["3", "6"], "fixed"), ("adaptive", ["3", "6"], "adaptive")]
    assert [r["improvement"] for r in records] == [0.0, 20.0, 10.0]
    # after minus short's after, per task: [1, 0] on both seeds, mean 50 pp
    assert records[0]["vs_first"] is None and [r["vs_first"]["difference"] for r in records[1:]] == [50.0, 50.0]
    assert (tmp_path / "cmp.png").stat().st_size > 0
    from bench.learning import main

    main(["--name", "sched", "--results-dir", str(tmp_path), "--plot", str(tmp_path / "cmp2.png"),
          "--compare", "short", "scaling"])
    saved = json.loads((tmp_path / "compare_sched.json").read_text())
    assert saved["command"].endswith("--compare short scaling")
    assert [r["vs_first"] for r in saved["results"]] == [None, records[1]["vs_first"]]


def test_paired_difference_matches_seeds_and_averages_them_per_task():
    from bench.learning import paired_difference

    mine = [{"seed": 1, **seed_result([], [[1, 1], [0, 0], [1, 0]])},
            {"seed": 2, **seed_result([], [[1, 0], [0, 1], [1, 1]])},
            {"seed": 9, **seed_result([], [[0, 0], [0, 0], [0, 0]])}]  # no reference seed 9: left out
    reference = [{"seed": 2, **seed_result([], [[0, 0], [0, 0], [1, 1]])},
                 {"seed": 1, **seed_result([], [[1, 0], [0, 0], [0, 0]])}]
    out = paired_difference(mine, reference)
    diff = np.mean([[1, 0, 0.5], [0.5, 0.5, 1]], axis=0) - np.mean([[0.5, 0, 0], [0, 0, 1]], axis=0)
    assert out["seeds"] == [1, 2] and out["difference"] == pytest.approx(100 * diff.mean(), abs=0.01)
    low, high = out["difference_ci"]
    assert low <= out["difference"] <= high
    with pytest.raises(ValueError, match="no seed in common"):
        paired_difference(mine[2:], reference)
