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
