"""End-to-end runs of the scripts in a subprocess: smoke, bad flags, resume, learning, real model."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ["grpo_agent.py", "reinforce_agent.py", "ppo_agent.py"]
# every method the learning test trains: a script and the flags that select its estimator
METHODS = [
    pytest.param("grpo_agent.py", [], id="grpo"),
    pytest.param("reinforce_agent.py", ["--baseline", "batch"], id="reinforce_pp"),
    pytest.param("reinforce_agent.py", ["--baseline", "rloo"], id="rloo"),
    # the critic's lr is raised from its 1e-5 default like the policy's, so the value baseline really learns here
    pytest.param("ppo_agent.py", ["--critic-learning-rate", "2e-2"], id="ppo"),
]


def run_script(script, *flags, timeout=900):
    proc = subprocess.run([sys.executable, script, *map(str, flags)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, records


def run_dir_of(proc) -> Path:
    return Path(proc.stdout.strip().splitlines()[-1].split("run folder: ")[1])


# every script on two envs, and grpo_agent.py on every other env
NO_JAVA = pytest.mark.skipif(shutil.which("java") is None, reason="ScienceWorld runs on Java 17: no `java` on PATH")
SMOKE = ([(s, e) for s in SCRIPTS for e in ("textcraft", "webshop")]
         + [("grpo_agent.py", e) for e in ("searchqa", "babyai", "tooluse")]
         + [pytest.param("grpo_agent.py", "sciworld", marks=NO_JAVA)])


@pytest.mark.parametrize("script, env", SMOKE)
def test_smoke_tiny_model(script, env, tiny_model_dir, tmp_path):
    proc, records = run_script(
        script, "--env", env, "--model", tiny_model_dir, "--total-iterations", 2, "--num-tasks", 2, "--group-size", 2,
        "--max-new-tokens", 8, "--horizons", 1, 2, "--horizon-phase-iterations", 1, "--runs-dir", tmp_path,
        "--eval-tasks", 2, "--eval-horizon", 3, "--kl-coef", 0.01, "--update-epochs", 2, "--num-minibatches", 2,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["horizon"] for r in records] == [1, 2]
    run_dir = run_dir_of(proc)
    assert (run_dir / "checkpoint.pt").exists() and (run_dir / "model" / "config.json").exists()
    assert list(run_dir.glob("events.out.tfevents.*"))
    # the before/after evaluation on the held-out test tasks: printed, and in eval.json with its CIs
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["horizon"] == 3  # --eval-horizon, not the last phase's 2
    assert (report["tasks"] == 2 and report["k"] == 2
            and len(report["successes_before"]) == len(report["successes_after"]) == 2)
    assert all(len(report[k]) == 3 and report[k][1] <= report[k][0] <= report[k][2]
               for k in ("before", "after", "improvement"))
    assert "improvement" in proc.stdout and "test success" in proc.stdout


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--group-size", "0"], "--group-size"),
        (["--env", "nope"], "--env"),
        (["--horizons", "0"], "--horizons"),
        (["--eval-horizon", "-1"], "--eval-horizon"),
        (["--loss-reduction", "sum"], "loss-reduction"),
        (["--env", "tooluse", "--env-options", "colour=red"], "--env-options: env 'tooluse' has no option 'colour'"),
        (["--env", "tooluse", "--env-options", "setting"], "--env-options: expected key=value"),
        (["--env", "tooluse", "--env-options", "setting=sometimes"], "--env-options: setting must be one of"),
    ],
)
def test_bad_flags_fail_fast_naming_the_flag(flags, message, tmp_path):
    proc, _ = run_script("grpo_agent.py", *flags, "--runs-dir", tmp_path, timeout=120)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


@pytest.mark.parametrize("schedule", [["--horizons", 2], ["--horizons", 1, 2, 3, "--horizon-schedule", "adaptive",
                                                           "--adaptive-patience", 1, "--adaptive-min-iterations", 1]])
def test_resume_equals_uninterrupted_run(schedule, tiny_model_dir, tmp_path):
    common = ["--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 2, "--group-size", 2, "--max-new-tokens", 3,
              *schedule, "--learning-rate", 1e-3, "--save-every", 2, "--update-epochs", 2, "--num-minibatches", 2]
    full, full_records = run_script("grpo_agent.py", *common, "--total-iterations", 4, "--runs-dir", tmp_path / "a")
    assert full.returncode == 0, full.stderr[-3000:]
    part, _ = run_script("grpo_agent.py", *common, "--total-iterations", 2, "--runs-dir", tmp_path / "b")
    assert part.returncode == 0, part.stderr[-3000:]
    resumed, records = run_script("grpo_agent.py", "--resume", run_dir_of(part), "--total-iterations", 4)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["iteration"] for r in records] == [2, 3]
    a = torch.load(run_dir_of(full) / "checkpoint.pt", weights_only=False)
    b = torch.load(run_dir_of(part) / "checkpoint.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 4
    assert a["schedule"] == b["schedule"] and a["horizon"] == b["horizon"]
    if "adaptive" in schedule:
        horizons = [r["horizon"] for r in full_records]
        assert horizons[0] == 1 and horizons == sorted(horizons), horizons
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


@pytest.mark.parametrize("script, method_flags", METHODS)
def test_learns_trivial_two_turn_env(script, method_flags, tiny_model_dir, tmp_path):
    """A real learning signal: a random tiny model must learn to start both replies with a vowel."""
    proc, records = run_script(
        script, *method_flags, "--env", "vowels", "--model", tiny_model_dir, "--total-iterations", 30, "--num-tasks", 4,
        "--group-size", 8, "--max-new-tokens", 2, "--horizons", 2, "--learning-rate", 2e-2, "--update-epochs", 2,
        "--num-minibatches", 2, "--format-reward", 0,
        "--save-every", 0, "--runs-dir", tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = sum(r["success_rate"] for r in records[:3]) / 3
    after = sum(r["success_rate"] for r in records[-3:]) / 3
    print(f"vowels success: first 3 iterations {before:.3f}, last 3 {after:.3f}")
    assert after >= 0.8 and after > before + 0.3


def test_real_default_model_one_iteration(tmp_path):
    proc, records = run_script(
        "grpo_agent.py", "--env", "textcraft", "--total-iterations", 1, "--num-tasks", 1, "--group-size", 2,
        "--max-new-tokens", 24, "--horizons", 2, "--task-tier", 1, "--runs-dir", tmp_path, "--eval-tasks", 0,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(records) == 1 and 0.0 <= records[0]["invalid_action_rate"] <= 1.0


@pytest.mark.parametrize("script", SCRIPTS)
def test_env_server_killed_mid_run(script, tiny_model_dir, tmp_path):
    """Play on an env server (--env-url) and SIGKILL it during the run: the episodes it held are masked
    out and counted (env_failures), the iterations go on, and the clients reconnect once it is back."""
    from test_server import ServerProcess

    server = ServerProcess("vowels", "--max-envs", "64", log_dir=tmp_path).start()
    stderr = open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen(
        [sys.executable, script, "--env", "vowels", "--env-url", server.url, "--model", str(tiny_model_dir),
         "--total-iterations", "8", "--num-tasks", "2", "--group-size", "2", "--max-new-tokens", "3", "--horizons", "2",
         "--save-every", "0", "--runs-dir", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    records = []
    try:
        for line in proc.stdout:
            if line.startswith("{"):
                records.append(json.loads(line))
                if len(records) == 2:
                    server.kill()
                elif len(records) == 4:
                    server.start()  # same port
        assert proc.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    finally:
        proc.kill()
        server.stop()
    failures = [r["env_failures"] for r in records]
    assert len(records) == 8 and failures[:2] == [0, 0], failures
    assert max(failures[2:4]) > 0, failures  # the server was down
    assert failures[-1] == 0, failures  # and the clients reconnected


def test_env_url_refuses_local_env_options(tmp_path):
    proc, _ = run_script("grpo_agent.py", "--env", "vowels", "--env-url", "http://127.0.0.1:9", "--env-options", "a=1",
                         "--runs-dir", tmp_path, timeout=120)
    assert proc.returncode != 0 and "belong to the server" in proc.stderr


def test_resume_continues_a_killed_run_with_its_own_arguments(tiny_model_dir, tmp_path):
    """`--resume FOLDER` alone continues a killed 20-iteration run to iteration 20 and ends with the
    uninterrupted run's parameters; a flag that would not apply is refused, naming it."""
    import os
    import signal

    common = ["--env", "vowels", "--model", str(tiny_model_dir), "--num-tasks", "2", "--group-size", "2",
              "--max-new-tokens", "3", "--horizons", "2", "--learning-rate", "1e-3", "--save-every", "5",
              "--total-iterations", "20", "--eval-tasks", "0"]
    full, _ = run_script("grpo_agent.py", *common, "--runs-dir", tmp_path / "full")
    assert full.returncode == 0, full.stderr[-3000:]
    runs = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "grpo_agent.py", *common, "--runs-dir", str(runs)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith('{"iteration": 7'):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    (run_dir,) = list(runs.iterdir())
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["iteration"] == 5
    refused, _ = run_script("grpo_agent.py", "--resume", run_dir, "--learning-rate", "0.1", timeout=300)
    assert refused.returncode != 0 and "--learning-rate would not apply" in refused.stderr
    resumed, records = run_script("grpo_agent.py", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["iteration"] for r in records] == list(range(5, 20))
    final = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    reference = torch.load(run_dir_of(full) / "checkpoint.pt", weights_only=False)
    assert final["iteration"] == 20 and final["args"]["total_iterations"] == 20
    for name, tensor in reference["model"].items():
        assert torch.equal(tensor, final["model"][name]), name


def test_sigkill_at_any_point_resumes_to_the_uninterrupted_result(tiny_model_dir, tmp_path):
    """SIGKILL during rollout, update or a checkpoint write (kills at several delays after an iteration
    ends, plus a half-written temp checkpoint left behind): checkpoint.pt always loads, the resumed
    run ends with the parameters of an uninterrupted run."""
    import os
    import signal
    import time

    common = ["--env", "vowels", "--model", str(tiny_model_dir), "--num-tasks", "2", "--group-size", "2",
              "--max-new-tokens", "3", "--horizons", "2", "--learning-rate", "1e-3", "--save-every", "1"]
    full, _ = run_script("grpo_agent.py", *common, "--total-iterations", 4, "--runs-dir", tmp_path / "full")
    assert full.returncode == 0, full.stderr[-3000:]
    reference = torch.load(run_dir_of(full) / "checkpoint.pt", weights_only=False)["model"]
    for k, delay in enumerate([0.0, 0.15, 0.4]):
        runs = tmp_path / f"killed{k}"
        proc = subprocess.Popen([sys.executable, "grpo_agent.py", *common, "--total-iterations", "4",
                                 "--runs-dir", str(runs)],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in proc.stdout:
            if line.startswith('{"iteration": 1'):
                time.sleep(delay)
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
        (run_dir,) = list(runs.iterdir())
        saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)  # never half-written
        assert 1 <= saved["iteration"] <= 4
        (run_dir / "checkpoint.tmp99999").write_bytes(b"half a checkpoint")  # as a kill during torch.save leaves
        resumed, _ = run_script("grpo_agent.py", "--resume", run_dir, "--total-iterations", 4)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert not list(run_dir.glob("checkpoint.tmp*"))
        final = torch.load(run_dir / "checkpoint.pt", weights_only=False)["model"]
        for name, tensor in reference.items():
            assert torch.equal(tensor, final[name]), (delay, name)
