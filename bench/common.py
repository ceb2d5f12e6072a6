"""What the evaluation benchmarks share: loading a policy (HF id, local path, or a run folder of
this project) and a turn sampler, both over grpo_agent.py's own code so that evaluation plays
episodes exactly the way training does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cleanagent_utils.models  # noqa: E402
import cleanagent_utils.samplers  # noqa: E402
import grpo_agent  # noqa: E402


def resolve_model(name: str) -> str:
    """A run folder (with the `model/` every script saves at the end) stands for its final model."""
    if os.path.isdir(name) and (Path(name) / "model" / "config.json").exists():
        return str(Path(name) / "model")
    return name


def load_policy(name: str = grpo_agent.EMBEDDED_MODEL, dtype: str = "float32"):
    """(model in eval mode, tokenizer, ChatFormat)."""
    model, tokenizer = cleanagent_utils.models.load_model(resolve_model(name), dtype)
    model.eval()
    return model, tokenizer, grpo_agent.ChatFormat(tokenizer, model.generation_config.eos_token_id)


def make_sampler(model, tokenizer, chat, temperature: float, batch_size: int = 16):
    """sample_fn(prompts, caps, stops) for grpo_agent.rollout: the scripts' KVSampler (greedy at temperature 0).
    The caller plays at most `batch_size` episodes per rollout and calls `.reset()` between rollouts."""
    return cleanagent_utils.samplers.KVSampler(model, tokenizer.pad_token_id, chat.stop_ids, temperature)
