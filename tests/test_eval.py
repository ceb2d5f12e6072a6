"""bench/eval.py: the statistics against plain reference computations, scripted policies on the
vowels env played through the real rollout, categories from real env resets, and a smoke run on
a tiny random model."""

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest

import envs
from bench import eval as bench_eval

# --------------------------------------------------------------------------- statistics


def test_pass_at_k_matches_subset_enumeration():
    for n in range(1, 7):
        for c in range(n + 1):
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(range(n), k))  # samples 0..c-1 are the correct ones
                brute = sum(any(i < c for i in s) for s in subsets) / len(subsets)
                assert bench_eval.pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12), (n, c, k)
    assert bench_eval.pass_at_k(4, 0, 4) == 0.0 and bench_eval.pass_at_k(4, 1, 4) == 1.0  # n = k: any success
    for bad in [(3, 4, 1), (3, 1, 0), (3, 1, 4)]:
        with pytest.raises(ValueError):
            bench_eval.pass_at_k(*bad)


def test_bootstrap_ci_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    for size in (3, 10, 50):
        values = rng.integers(0, 5, size=size) / 4  # per-task Avg@4 values
        lo, hi = bench_eval.bootstrap_ci(values, seed=0)
        assert 0 <= lo <= values.mean() <= hi <= 1
        assert bench_eval.bootstrap_ci(values, seed=0) == (lo, hi)
        # plain reference: the same resampled index rows, one mean at a time, then the percentiles
        rows = np.random.default_rng(0).integers(0, size, size=(bench_eval.BOOTSTRAP_RESAMPLES, size))
        means = [sum(values[i] for i in row) / size for row in rows]
        assert (lo, hi) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    values = rng.random(40)
    assert bench_eval.bootstrap_ci(values, seed=0) != bench_eval.bootstrap_ci(values, seed=1)
    # every task agrees: not the zero-width [1, 1] / [0, 0] of a bootstrap, Wilson's interval of 5 of 5 / 0 of 5
    assert bench_eval.bootstrap_ci([1.0] * 5, seed=0) == bench_eval.wilson_interval(5, 5)
    lo, hi = bench_eval.bootstrap_ci([0.0] * 5, seed=0)
    assert lo == 0.0 and hi == pytest.approx(bench_eval.wilson_interval(0, 5)[1]) and hi > 0.4


def test_wilson_interval_by_hand():
    z2 = bench_eval.Z95 ** 2
    # 8 of 10: p = 0.8, centre (p + z^2/2n) / (1 + z^2/n), half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    centre = (0.8 + z2 / 20) / (1 + z2 / 10)
    half = bench_eval.Z95 * math.sqrt(0.8 * 0.2 / 10 + z2 / 400) / (1 + z2 / 10)
    assert bench_eval.wilson_interval(8, 10) == pytest.approx((centre - half, centre + half))
    assert bench_eval.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # published tables
    # 0 of n: [0, z^2 / (n + z^2)]; n of n: [n / (n + z^2), 1]
    assert bench_eval.wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
    assert bench_eval.wilson_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))


# --------------------------------------------------------------------------- scripted policies


def scripted(reply_for_position):
    """A sampler whose reply to the i-th prompt of a batch is reply_for_position(i)."""

    def make_sampler(model, tokenizer, chat, temperature, batch_size):
        def sample(prompts, caps, stops=None):
            return [tokenizer(reply_for_position(i), add_special_tokens=False).input_ids + [chat.end_of_turn]
                    for i in range(len(prompts))]

        return sample

    return make_sampler


def run_vowels(monkeypatch, tiny_model_dir, tmp_path, reply_for_position, *flags):
    monkeypatch.setattr(bench_eval, "make_sampler", scripted(reply_for_position))
    out = tmp_path / "result.json"
    result = bench_eval.main(["--env", "vowels", "--model", str(tiny_model_dir), "--limit", "3",
                              "--out", str(out), *flags])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["command"].startswith("python bench/eval.py --env vowels --model ") and str(out) in result["command"]
    return result["envs"]["vowels"]


def test_scripted_policies_on_vowels(monkeypatch, tiny_model_dir, tmp_path):
    right = run_vowels(monkeypatch, tiny_model_dir, tmp_path, lambda i: "apple", "--k", "2")
    assert right["avg_at_k"] == right["pass_at_k"] == right["score"] == 100.0
    # every task solved: Wilson's interval of 3 of 3 tasks, not a zero-width bootstrap
    assert right["avg_ci"] == right["pass_ci"] == pytest.approx([100 * x for x in bench_eval.wilson_interval(3, 3)])
    assert right["n_tasks"] == 3 and right["mean_turns"] == 2 and right["invalid_action_rate"] == 0.0
    assert list(right["per_category"]) == ["all"] and [t["task_id"] for t in right["tasks"]] == [16, 17, 18]
    assert all(len(t["samples"]) == 2 and t["solved"] == 2 for t in right["tasks"])

    wrong = run_vowels(monkeypatch, tiny_model_dir, tmp_path, lambda i: "banana", "--k", "2")
    assert wrong["avg_at_k"] == wrong["pass_at_k"] == wrong["score"] == 0.0
    assert wrong["avg_ci"] == pytest.approx([100 * x for x in bench_eval.wilson_interval(0, 3)])

    # episodes run task by task, k samples each: with k = 2 (batch 4, even), the first sample of
    # every task is right, the second wrong -> Avg@2 = 50, Pass@2 = 100
    half = run_vowels(monkeypatch, tiny_model_dir, tmp_path, lambda i: "apple" if i % 2 == 0 else "banana",
                      "--k", "2", "--batch-size", "4")
    assert half["avg_at_k"] == 50.0 and half["pass_at_k"] == 100.0 and half["score"] == 50.0
    assert [[s["success"] for s in t["samples"]] for t in half["tasks"]] == [[True, False]] * 3

    # k = 1: Wilson's interval, and Avg@1 = Pass@1; batch 1 puts every episode at position 0 (right)
    one = run_vowels(monkeypatch, tiny_model_dir, tmp_path, lambda i: "apple", "--k", "1", "--batch-size", "1")
    assert one["avg_at_k"] == one["pass_at_k"] == 100.0
    assert one["avg_ci"] == one["pass_ci"] == pytest.approx([100 * x for x in bench_eval.wilson_interval(3, 3)])


# --------------------------------------------------------------------------- categories


def categories_of_test_split(name):
    env = envs.make(name)
    try:
        out = Counter()
        for t in envs.tasks(name, "test"):
            env.reset(t)
            out[bench_eval.category(name, env, t)] += 1
        return out
    finally:
        env.close()


def test_categories_match_the_published_test_splits():
    assert categories_of_test_split("textcraft") == {"depth 1": 31, "depth 2": 41, "depth 3": 25, "depth 4": 3}
    assert categories_of_test_split("babyai") == {"GoTo": 55, "Pickup": 15, "ActionObjDoor": 5, "FindObjS7": 5,
                                                  "OneRoomS20": 5, "SynthLoc": 5}
    assert bench_eval.category("vowels", envs.make("vowels"), 16) is None


def test_tier_fallback():
    ids = envs.tasks("textcraft", "test")
    tiers = bench_eval.tier_partition("textcraft", "test", {}, ids)
    book = envs.make("textcraft").book
    assert tiers == {i: f"tier {book.depth(book.goals[i])}" for i in ids}
    assert bench_eval.tier_partition("vowels", "test", {}, envs.tasks("vowels", "test")) == {}  # tier is ignored


# --------------------------------------------------------------------------- smoke run


def test_smoke_on_the_tiny_model_and_bad_flags(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "result.json"
    bench_eval.main(["--env", "textcraft", "vowels", "--model", str(tiny_model_dir), "--limit", "2", "--k", "2",
                     "--max-new-tokens", "8", "--max-turns", "2", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["k"] == 2 and list(saved["envs"]) == ["textcraft", "vowels"]
    metrics = {"n_tasks", "k", "avg_at_k", "avg_ci", "pass_at_k", "pass_ci", "score", "invalid_action_rate",
               "mean_turns", "failed"}
    tc = saved["envs"]["textcraft"]
    assert set(tc) == metrics | {"max_turns", "per_category", "tasks"} and tc["max_turns"] == 2
    assert tc["n_tasks"] == 2 and tc["failed"] == 0 and 1 <= tc["mean_turns"] <= 2
    assert all(set(m) == metrics for m in tc["per_category"].values())
    assert (tc["avg_ci"][0] <= tc["avg_at_k"] <= tc["avg_ci"][1]
            and tc["pass_ci"][0] <= tc["pass_at_k"] <= tc["pass_ci"][1])
    for task in tc["tasks"]:
        assert task["category"].startswith("depth ") and len(task["samples"]) == 2
        assert set(task["samples"][0]) == {"success", "score", "score_pct", "reward", "turns", "invalid_actions",
                                           "truncated", "failed", "final_reply"}
    printed = capsys.readouterr().out
    assert "| env | category | n tasks | k | Avg@2 [95% CI] | Pass@2 [95% CI] |" in printed
    assert "| textcraft | all | 2 | 2 |" in printed and "| vowels | all | 2 | 2 |" in printed
    assert printed.count("| vowels |") == 1  # one category: only the overall row
    for bad in (["--env", "vowels", "--k", "0"], ["--env", "nope"], ["--env", "vowels", "--env-options", "oops"],
                ["--env", "vowels", "--max-episode-tokens", "8", "--max-new-tokens", "8"],
                ["--env", "vowels", "--env-options", "foo=1"], ["--env", "textcraft", "--tier", "9"]):
        with pytest.raises(SystemExit):  # all before a model loads (the tiny one, should a check be missed)
            bench_eval.main([*bad, "--model", str(tiny_model_dir)])
