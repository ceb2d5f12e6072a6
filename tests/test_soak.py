"""bench/soak.py at a tiny scale, in a subprocess as it is run: every env and the env server go
through a few create/reset/step/close cycles without a failure, and the report has its structure.
(Memory growth is not checked here: a few cycles measure noise; the full soak checks it.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import envs

ROOT = Path(__file__).resolve().parents[1]


def test_soak_tiny_run(tmp_path):
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "bench/soak.py", "--cycles", "4", "--warmup", "1", "--steps", "2",
           "--server-cycles", "4", "--server-warmup", "1", "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| env | cycles | cycles/s |" in run.stdout and "| server (textcraft) |" in run.stdout

    report = json.loads(out.read_text())
    assert out.with_suffix(".md").read_text().strip() == run.stdout.strip()
    assert report["goal_growth_pct"] == 5.0 and set(report["envs"]) == set(envs.names())
    for name, r in report["envs"].items():
        assert r["failures"] == 0 and r["warmup_failures"] == 0, (name, r["failure_messages"])
        assert r["cycles"] == 4 and r["cycles_per_s"] > 0
        for when in ("start", "end"):
            memory = r["rss_mb"][when]
            assert abs(memory["total"] - memory["self"] - memory["children"]) < 0.15 and memory["self"] > 0
        assert isinstance(r["growth_pct"], float) and isinstance(r["second_half_growth_pct"], float)
        assert r["samples"][0][0] == 0 and r["samples"][-1][0] == 4
    server = report["server"]
    assert server["env"] == "textcraft" and server["cycles"] == 4
    assert server["failures"] == 0, server["failure_messages"]
    assert server["live_envs_at_end"] == 0  # every closed RemoteEnv freed its env on the server
    assert server["server_rss_mb"]["start"]["self"] > 0
    assert isinstance(report["ok"], bool)
