"""bench/memory.py: samples fall in the right phase; RSS is read from /proc."""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bench.memory import phase_peaks, rss_mb

REPO = Path(__file__).resolve().parents[1]


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


MIMALLOC_ARCH = pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                                   reason="cmeel-mimalloc is installed on x86-64 Linux only")


@MIMALLOC_ARCH
def test_make_run_preloads_the_installed_mimalloc():
    if shutil.which("make") is None:
        pytest.skip("no make")
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL would make this make print directory lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    proc = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    line = [ln for ln in proc.stdout.splitlines() if "grpo_agent.py" in ln][-1]
    assert line.startswith("LD_PRELOAD=/") and line.endswith("grpo_agent.py --env webshop"), line
    preload, onednn = line.split()[:2]
    assert Path(preload.split("=", 1)[1]).name == "libmimalloc.so" and Path(preload.split("=", 1)[1]).is_file()
    assert onednn == "ONEDNN_PRIMITIVE_CACHE_CAPACITY=128"


@MIMALLOC_ARCH
def test_release_freed_memory_hands_mimallocs_freed_pages_back():
    """Under the preloaded mimalloc, 400 MB of freed 32 KB blocks stay resident (its pages are kept for reuse)
    until release_freed_memory (mi_collect) returns them; the same code under glibc runs malloc_trim."""
    lib = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "lib" / "libmimalloc.so"
    code = (
        "import gc, os\n"
        "from pathlib import Path\n"
        "from bench.memory import rss_mb\n"
        "from cleanagent_utils.runs import release_freed_memory\n"
        "def rss():\n"
        "    return rss_mb(os.getpid())\n"
        "maps = Path('/proc/self/maps').read_text()\n"
        "blocks = [bytearray(32 * 1024) for _ in range(12800)]\n"
        "del blocks; gc.collect()\n"
        "held = rss(); release_freed_memory()\n"
        "print('libmimalloc' in maps, held, rss())\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LD_PRELOAD": str(lib)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded, held, after = proc.stdout.split()
    assert loaded == "True"
    assert int(after) < int(held) - 200, (held, after)
