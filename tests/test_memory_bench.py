"""bench/memory.py: samples fall in the right phase; RSS is read from /proc."""

import os
import sys

import pytest

from bench.memory import phase_peaks, rss_mb


def test_phase_peaks_split_at_the_iteration_lines():
    samples = [(0.5, 100), (1.0, 300), (2.5, 900), (3.0, 400), (4.5, 700), (6.0, 200)]
    marks = [3.5, 5.0]  # the times the two iteration lines were printed; the evaluation before training ended at 2.0
    assert phase_peaks(samples, 2.0, marks) == {"load+eval_before": 300, "iteration 0": 900,
                                                "iteration 1": 700, "eval_after": 200}
    assert phase_peaks(samples, None, marks) == {"iteration 0": 900, "iteration 1": 700, "eval_after": 200}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_rss_of_this_process_and_of_a_gone_one():
    assert 10 < rss_mb(os.getpid()) < 100_000
    assert rss_mb(2**22 + 12345) is None


def test_status_and_smaps_parsed_by_kind_of_mapping():
    from bench.memory import smaps_rss_mb, status_mb

    status = "Name:\tpython\nVmHWM:\t  4194304 kB\nVmRSS:\t  2097152 kB\n"
    assert status_mb("VmHWM", status) == 4096 and status_mb("VmRSS", status) == 2048
    smaps = "\n".join([
        "55d0c0000000-55d0d0000000 rw-p 00000000 00:00 0                          [heap]",
        "Size:             262144 kB", "Rss:              204800 kB", "Pss:              204800 kB",
        "7f0000000000-7f0010000000 rw-p 00000000 00:00 0 ",
        "Rss:              102400 kB",
        "7f1000000000-7f1000100000 r-xp 00000000 08:01 1234                       /usr/lib/libtorch_cpu.so",
        "Rss:               51200 kB",
        "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]",
        "Rss:                1024 kB",
        "VmFlags: rd wr mr mw me ac",
    ])
    assert smaps_rss_mb(smaps) == {"heap": 200, "anon": 101, "file": 50}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_breakdown_reports_each_phase_with_its_live_tensors(tmp_path):
    """A stand-in training script: a 64 MB tensor alive through two 'iterations' (rollout and update
    each end with release_freed_memory, as in the scripts), a 128 MB one made and freed inside the first
    update. The probe must see the live tensor in every phase and the freed one only in that phase's peak."""
    from bench.memory import main

    script = tmp_path / "train.py"
    script.write_text(
        "import json, torch\n"
        "from cleanagent_utils.runs import release_freed_memory\n"
        "kept = torch.ones(16 * 2**20)\n"
        "for i in range(2):\n"
        "    release_freed_memory()\n"
        "    if i == 0:\n"
        "        scratch = torch.ones(32 * 2**20); del scratch\n"
        "    print(json.dumps({'iteration': i}), flush=True)\n"
        "    release_freed_memory()\n")
    result = main(["--breakdown", "--interval", "0.05", "--", str(script)])
    phases = result["phases"]
    assert [(r["iteration"], r["phase"]) for r in phases] == [(0, "rollout"), (0, "update"), (1, "rollout"),
                                                               (1, "update")]
    assert all(64 <= r["live_tensor_mb"] < 128 for r in phases)
    assert phases[1]["peak_mb"] >= phases[1]["rss_after_trim_mb"] + 100  # the freed 128 MB counted in its phase only
    assert phases[3]["peak_mb"] < phases[1]["peak_mb"] - 100
    assert [r["iteration"] for r in result["iterations"]] == [0, 1]
    assert all(r["heap_mb"] + r["anon_mb"] + r["file_mb"] > 64 for r in phases)
