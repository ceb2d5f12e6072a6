"""bench/throughput.py on a tiny random model: the JSON's structure, sampled tokens counted exactly in the
batched and the sequential rollout, and the tokens a forward hook sees: with the KV cache kept, a turn
encodes only what it adds, without it the whole history; part b in float32 and bf16-mixed, each arm proven
to run in its precision (its LM head's output dtype), every ratio within one precision. No timed assertions."""

import json

import pytest
import torch

from bench import throughput

EPISODES, TURNS, NEW_TOKENS = 3, 4, 3
TINY = ["--episodes", str(EPISODES), "--turns", str(TURNS), "--max-new-tokens", str(NEW_TOKENS), "--repeats", "1",
        "--threads", "1", "--num-prompts", "2", "--num-generations", "2", "--completion-tokens", "3", "--steps", "1"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """--threads 1 sets torch's thread count for the whole process: give it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_parts_a_c_count_tokens_and_encoding_work(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "throughput.json"
    result = throughput.main(["--model", str(tiny_model_dir), "--parts", "a", "c", "d", "--fixed-length",
                              "--in-process", "--out", str(out), *TINY])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert {"machine", "config", "arms", "a", "c", "d"} <= set(result) and "b" not in result
    assert {"cpu_count", "torch", "torch_threads", "device", "load_average_at_start"} <= set(result["machine"])
    assert result["machine"]["torch_threads"] == 1
    assert set(result["arms"]) == {"a.batched", "a.sequential", "c.reuse", "c.no_reuse"}
    assert result["a"]["goal"] == ">= 5.0" and result["c"]["goal"] == "<= 1.5"
    assert result["a"]["dtype"] == result["c"]["dtype"] == "float32"  # the default precision
    assert all(arm["dtype"] == "float32" and arm["lm_head_dtypes"] == ["float32"] for arm in result["arms"].values())
    assert isinstance(result["a"]["met"], bool) and isinstance(result["c"]["met"], bool)
    assert result["a"]["tokens_per_s_ratio"] > 0 and result["c"]["reuse_last_over_first"] > 0
    assert "in one process" in result["d"]["method"]
    assert all(result["d"]["peak_rss_mb"][arm] > 0 for arm in result["arms"])
    printed = capsys.readouterr().out
    assert "| a | float32 | sampled tokens/s, batched vs sequential |" in printed and "| c.no_reuse |" in printed

    # part a: every episode plays every turn and samples exactly its cap (end-of-turn is never sampled)
    batched, sequential = result["arms"]["a.batched"], result["arms"]["a.sequential"]
    for arm in (batched, sequential):
        assert arm["episodes"] == EPISODES and arm["turns"] == EPISODES * TURNS and arm["failed"] == 0
        assert arm["sampled_tokens"] == arm["policy_sampled_tokens"] == EPISODES * TURNS * NEW_TOKENS
        assert arm["tokens_per_s"] > 0 and arm["episodes_per_s"] > 0
    assert batched["policy_calls"] == TURNS and sequential["policy_calls"] == EPISODES * TURNS
    # the scripted episodes are token-for-token the same length, so batching adds no padding: the same work
    assert batched["prefill_tokens"] == sequential["prefill_tokens"]
    assert batched["decode_tokens"] == sequential["decode_tokens"] == EPISODES * TURNS * (NEW_TOKENS - 1)

    # part c: tokens given to the model's forward, counted by a forward hook
    reuse, no_reuse = result["arms"]["c.reuse"], result["arms"]["c.no_reuse"]
    context = reuse["context_tokens"]
    assert context == no_reuse["context_tokens"] and len(context) == TURNS and context == sorted(context)
    assert reuse["rows"] == no_reuse["rows"] == [EPISODES] * TURNS
    assert reuse["sampled_tokens"] == no_reuse["sampled_tokens"] == [EPISODES * NEW_TOKENS] * TURNS
    # without reuse a turn encodes the whole history; with it only what the turn added (glue, observation)
    # and the reply's last token: the others were fed while sampling and stayed in the cache
    assert no_reuse["prefill_tokens"] == [EPISODES * c for c in context]
    assert reuse["prefill_tokens"] == [EPISODES * context[0]] + [EPISODES * (b - a - (NEW_TOKENS - 1))
                                                                 for a, b in zip(context, context[1:])]
    assert reuse["prefill_last_over_first"] <= 1.0 < 2.0 <= no_reuse["prefill_last_over_first"]
    assert result["c"]["reuse_prefill_last_over_first"] == reuse["prefill_last_over_first"]
    assert len(reuse["turn_seconds"]) == len(no_reuse["turn_seconds"]) == TURNS


def test_part_a_natural_lengths_count_the_loss_mask(tiny_model_dir):
    """Without --fixed-length the policy may end a reply early: the count is still the loss masks' sum."""
    result = throughput.main(["--model", str(tiny_model_dir), "--parts", "a", "--in-process", *TINY])
    for arm in result["arms"].values():
        assert arm["sampled_tokens"] == arm["policy_sampled_tokens"] <= EPISODES * TURNS * NEW_TOKENS
        assert arm["turns"] == EPISODES * TURNS


def test_part_b_against_trl_and_plain_generate_in_both_precisions(tiny_model_dir, capsys):
    pytest.importorskip("trl", reason="TRL is not installed (pip install trl, see requirements.txt)")
    result = throughput.main(["--model", str(tiny_model_dir), "--parts", "b", "--in-process", "--dtypes",
                              "float32", "bf16-mixed", *TINY])
    arms = result["arms"]
    assert set(arms) == {f"b.{k}/{d}" for k in ("ours", "trl", "plain") for d in ("float32", "bf16-mixed")}
    for key, arm in arms.items():
        dtype = key.split("/")[1]
        assert "error" not in arm and "skipped" not in arm and arm["dtype"] == dtype
        assert len(arm["step_seconds"]) == 2 and arm["median_step_s"] > 0  # a warm-up step, then --steps 1
        # 2 prompts x 2 samples x at most 3 tokens (end-of-turn, if sampled, counts)
        assert len(arm["sampled_tokens_per_step"]) == 2 and all(0 < n <= 12 for n in arm["sampled_tokens_per_step"])
        # every forward (sampling and training, TRL's included) ran in the arm's precision; the weights stayed fp32
        assert arm["lm_head_dtypes"] == ["bfloat16" if dtype == "bf16-mixed" else "float32"], key
        assert arm["param_dtypes"] == ["float32"], key
    for dtype in ("float32", "bf16-mixed"):
        trl_arm = arms[f"b.trl/{dtype}"]
        assert trl_arm["trl_version"] and trl_arm["gradient_checkpointing"] is False
        assert trl_arm["trl_bf16"] is (dtype == "bf16-mixed")
        assert trl_arm["accelerate_mixed_precision"] == ("bf16" if dtype == "bf16-mixed" else "no")
    assert list(result["b"]) == ["float32", "bf16-mixed"]
    for dtype, b in result["b"].items():
        med = b["median_step_s"]
        assert (b["dtype"] == dtype
                and med == {k: arms[f"b.{k}/{dtype}"]["median_step_s"] for k in ("ours", "trl", "plain")})
        assert b["ours_over_trl"] == pytest.approx(med["ours"] / med["trl"])
        assert b["ours_over_plain"] == pytest.approx(med["ours"] / med["plain"])
        assert b["trl_over_plain"] == pytest.approx(med["trl"] / med["plain"])
        assert b["goal"] == "<= 0.75" and isinstance(b["met"], bool) and b["met"] == (b["ours_over_trl"] <= 0.75)
        assert b["plain_goal"] == "<= 1.1" and b["plain_met"] == (b["ours_over_plain"] <= 1.1)
    printed = capsys.readouterr().out
    for dtype in ("float32", "bf16-mixed"):
        assert f"| b | {dtype} | s/step, ours vs TRL GRPOTrainer |" in printed
        assert f"| b | {dtype} | s/step, ours vs plain generate + backward |" in printed


def test_fresh_subprocess_per_arm_reports_its_own_peak(tiny_model_dir):
    """Also: the precision reaches the subprocess through --arm-config (parts a and c run in the first of --dtypes)."""
    result = throughput.main(["--model", str(tiny_model_dir), "--parts", "c", "d", *TINY, "--turns", "2", "--dtypes",
                              "bf16-mixed", "float32"])
    assert "subprocess" in result["d"]["method"] and result["c"]["dtype"] == "bf16-mixed"
    for name, arm in result["arms"].items():
        assert "error" not in arm and arm["peak_rss_mb"] > 50 and len(arm["turn_seconds"]) == 2
        assert (arm["dtype"] == "bf16-mixed" and arm["lm_head_dtypes"] == ["bfloat16"]
                and arm["param_dtypes"] == ["float32"])


def test_bad_flags_are_refused():
    for argv in (["--parts", "d"], ["--num-generations", "1"], ["--turns", "0"],
                 ["--dtypes", "bfloat16"], ["--dtypes"]):
        with pytest.raises(SystemExit):
            throughput.parse_args(argv)


def test_dtypes_auto_is_resolved_once_each():
    auto = throughput.cleanagent_utils.models.resolve_dtype("auto", throughput.device())
    assert throughput.parse_args([]).dtypes == ["float32"]
    assert throughput.parse_args(["--dtypes", "auto", "float32",
                                  "bf16-mixed", "auto"]).dtypes == list(dict.fromkeys([auto, "float32", "bf16-mixed"]))
