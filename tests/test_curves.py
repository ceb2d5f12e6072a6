"""bench/curves.py: the summary numbers on a table checked by hand, the CSV and the plot, the run loop
with a fake script (flags, failures, --resume-existing), and one real tiny run of grpo_agent.py."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import curves  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def row(schedule, seed, iteration, success, horizon=2, rollout_s=1.0, update_s=0.5):
    return {"schedule": schedule, "seed": seed, "iteration": iteration, "success_rate": success,
            "episodic_return": success, "horizon": horizon, "invalid_action_rate": 0.0, "rollout_s": rollout_s,
            "update_s": update_s}


# schedule "a": 2 seeds x 5 iterations; the final window is round(5 * 0.2) = 1 iteration
TABLE = (
    [row("a", 1, i, s, horizon=h) for i, (s, h) in enumerate(zip([0.0, 0.2, 0.4, 0.6, 0.8], [2, 2, 4, 4, 6]))]
    + [row("a", 2, i, s, horizon=h) for i, (s, h) in enumerate(zip([0.0, 0.0, 0.2, 0.2, 0.4], [2, 2, 2, 4, 4]))]
    # schedule "b": 1 seed x 10 iterations, listed out of order; the final window is 2 iterations
    + [row("b", 7, i, s, horizon=6) for i, s in reversed(list(enumerate([0.0] * 6 + [0.5, 0.5, 0.5, 1.0])))]
)


def test_summary_numbers_by_hand():
    summary = curves.summarize(TABLE, wall_s={("a", 1): 10.0, ("a", 2): 12.0})
    a, b = summary["a"], summary["b"]
    assert a["seeds"] == [1, 2] and a["iterations"] == 5
    assert a["final_success_per_seed"] == pytest.approx([0.8, 0.4])
    assert a["final_success_mean"] == pytest.approx(0.6)
    assert a["final_success_std"] == pytest.approx(0.2)  # population std of [0.8, 0.4]
    # AUC = mean success over iterations: seed 1 2.0/5 = 0.4, seed 2 0.8/5 = 0.16
    assert a["auc_mean"] == pytest.approx(0.28) and a["auc_std"] == pytest.approx(0.12)
    assert a["last_horizon_mean"] == pytest.approx(5.0)  # last horizons 6 and 4
    assert a["train_s"] == pytest.approx(10 * 1.5) and a["wall_s"] == pytest.approx(22.0)
    assert b["seeds"] == [7] and b["iterations"] == 10
    assert b["final_success_mean"] == pytest.approx(0.75)  # last two iterations, sorted by iteration: 0.5, 1.0
    assert b["final_success_std"] == 0.0
    assert b["auc_mean"] == pytest.approx(2.5 / 10)
    assert b["wall_s"] is None  # no wall time recorded for it


def test_final_window():
    assert [curves.final_window(n) for n in (1, 2, 5, 10, 30, 100)] == [1, 1, 1, 2, 6, 20]


def test_band_curve_minmax_and_std():
    runs = curves.by_run(TABLE)["a"]
    x, mean, low, high = curves.band_curve(runs, "success_rate", "minmax")
    assert list(x) == [0, 1, 2, 3, 4]
    assert mean == pytest.approx([0.0, 0.1, 0.3, 0.4, 0.6])
    assert low == pytest.approx([0.0, 0.0, 0.2, 0.2, 0.4]) and high == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    _, mean, low, high = curves.band_curve(runs, "success_rate", "std")
    # 2 seeds: std = half-range
    assert low == pytest.approx([0.0, 0.0, 0.2, 0.2, 0.4]) and high == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])


def test_schedule_flags_and_conflicts():
    assert curves.schedule_flags("scaling", 2, 6, [2, 4, 6], 10) == ["--horizons", "2", "4", "6",
                                                                     "--horizon-phase-iterations", "10"]
    assert curves.schedule_flags("short", 2, 6, [2, 4, 6], 10) == ["--horizons", "2"]
    assert curves.schedule_flags("long", 2, 6, [2, 4, 6], 10) == ["--horizons", "6"]
    assert curves.schedule_flags("adaptive", 2, 6, [2, 4], 10) == ["--horizons", "2", "4",
                                                                   "--horizon-schedule", "adaptive"]
    with pytest.raises(ValueError):
        curves.schedule_flags("nope", 2, 6, [2], 1)
    assert curves.conflicting_flags(["--num-tasks", "2", "--horizons=3", "--total_iterations", "5",
                                     "--adaptive-patience", "1"]) == [
        "--horizons=3", "--total_iterations"]


def test_parse_records_skips_other_output():
    stdout = 'loading\n{"iteration": 0, "success_rate": 0.5, "horizon": 2}\n{not json\nrun folder: runs/x\n'
    assert curves.parse_records(stdout) == [{"iteration": 0, "success_rate": 0.5, "horizon": 2}]


def test_csv_round_trip_and_completed_runs(tmp_path):
    path = tmp_path / "curves.csv"
    assert curves.read_csv(path) == []
    curves.append_csv(path, TABLE[:5])
    curves.append_csv(path, TABLE[5:])
    assert path.read_text().splitlines()[0] == ",".join(curves.FIELDS)  # one header
    rows = curves.read_csv(path)
    assert rows == TABLE
    assert curves.completed_runs(rows) == {("a", 1), ("a", 2), ("b", 7)}
    missing = curves.to_rows("c", 3, [{"iteration": 0, "success_rate": 1.0}])
    curves.append_csv(path, missing)
    assert curves.read_csv(path)[-1]["horizon"] is None


@pytest.mark.parametrize("band", ["minmax", "std"])
def test_plot_writes_a_png(band, tmp_path):
    path = tmp_path / "curves.png"
    curves.plot(TABLE, path, band=band, title="synthetic")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


# a stand-in for a training script: echoes its flags into its JSON lines; seed 2 fails half-way
FAKE_SCRIPT = textwrap.dedent('''
    import json, sys
    argv = sys.argv[1:]
    def flag(name):
        return argv[argv.index(name) + 1]
    horizons = []
    for a in argv[argv.index("--horizons") + 1:]:
        if a.startswith("--"):
            break
        horizons.append(int(a))
    seed, n = int(flag("--seed")), int(flag("--total-iterations"))
    with open(flag("--runs-dir") + "/calls.txt", "a") as f:
        f.write(" ".join(argv) + "\\n")
    for i in range(n):
        if seed == 2 and i == 1:
            print("Traceback: boom at iteration 1", file=sys.stderr)
            sys.exit(3)
        print(json.dumps({"iteration": i, "success_rate": seed / 10, "episodic_return": 0.0, "invalid_action_rate": 0.0,
                          "horizon": horizons[min(i, len(horizons) - 1)], "rollout_s": 0.1, "update_s": 0.1}))
    print("run folder: " + flag("--runs-dir") + "/fake")
''')


def run_curves(*flags, timeout=300):
    return subprocess.run([sys.executable, "bench/curves.py", *map(str, flags)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_run_loop_with_fake_script_failures_and_resume(tmp_path):
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE_SCRIPT)
    out, runs = tmp_path / "out", tmp_path / "runs"
    runs.mkdir()
    flags = ["--script", script, "--env", "vowels", "--iterations", 3, "--seeds", 1, 2, "--schedules", "scaling",
             "long", "--scaling", 1, 2, "--long", 5, "--out-dir", out, "--runs-dir", runs, "--", "--num-tasks", 2]
    proc = run_curves(*flags)
    assert proc.returncode == 1, proc.stderr  # seed 2 failed
    assert "FAILED (exit 3" in proc.stdout
    calls = (runs / "calls.txt").read_text().splitlines()
    assert len(calls) == 4
    assert calls[0].endswith("--horizons 1 2 --horizon-phase-iterations 10 --num-tasks 2") and "--seed 1" in calls[0]
    assert "--exp-name fake_agent-long" in calls[2] and calls[2].endswith("--horizons 5 --num-tasks 2")
    rows = curves.read_csv(out / "curves.csv")
    assert curves.completed_runs(rows) == {("scaling", 1), ("long", 1)}  # the failed runs' partial rows are not kept
    assert [r["horizon"] for r in rows if r["schedule"] == "scaling"] == [1, 2, 2]
    assert "boom at iteration 1" in (out / "scaling_seed2.stderr.txt").read_text()
    assert not (out / "scaling_seed1.stderr.txt").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["band"] == "minmax"
    assert summary["schedules"]["scaling"]["final_success_mean"] == pytest.approx(0.1)
    assert {(f["schedule"], f["seed"], f["returncode"])
            for f in summary["failed"]} == {("scaling", 2, 3), ("long", 2, 3)}
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC

    # --resume-existing reruns only the failed runs (they fail again) and keeps the finished ones
    proc = run_curves(*flags[:-3], "--resume-existing", "--", "--num-tasks", 2)
    assert proc.returncode == 1
    assert proc.stdout.count("skipped") == 2
    assert len((runs / "calls.txt").read_text().splitlines()) == 6
    assert curves.read_csv(out / "curves.csv") == rows

    # conflicting pass-through flags fail fast, before any run
    proc = run_curves(*flags[:-3], "--", "--horizons", 3)
    assert proc.returncode == 2 and "--horizons" in proc.stderr
    assert len((runs / "calls.txt").read_text().splitlines()) == 6


def test_real_tiny_run(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    proc = run_curves(
        "--script", "grpo_agent.py", "--env", "vowels", "--iterations", 2, "--seeds", 1, "--schedules", "short",
        "adaptive", "--out-dir", out, "--runs-dir", tmp_path / "runs",
        "--", "--num-tasks", 2, "--group-size", 2, "--max-new-tokens", 2, "--model", tiny_model_dir, "--save-every", 0,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = curves.read_csv(out / "curves.csv")
    assert [(r["schedule"], r["seed"], r["iteration"]) for r in rows] == [("short", 1, 0), ("short", 1, 1),
                                                                          ("adaptive", 1, 0), ("adaptive", 1, 1)]
    assert all(0.0 <= r["success_rate"] <= 1.0 and r["rollout_s"] is not None for r in rows)
    assert [r["horizon"] for r in rows if r["schedule"] == "short"] == [2, 2]
    assert [r["horizon"] for r in rows if r["schedule"] == "adaptive"][0] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["schedules"]) == {"short", "adaptive"} and summary["failed"] == []
    assert summary["schedules"]["short"]["wall_s"] > 0
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC
    runs_info = json.loads((out / "runs.json").read_text())
    assert all(Path(info["run_dir"]).is_dir() for info in runs_info.values())
    assert len({info["run_dir"] for info in runs_info.values()}) == 2  # distinct run folders despite the same seed
