"""What the evaluation benchmarks share: loading a policy (HF id, local path, or a run folder of
this project) and a turn sampler, both over grpo_agent.py's own code so that evaluation plays
episodes exactly the way training does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from transformers import GenerationConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpo_agent  # noqa: E402


def resolve_model(name: str) -> str:
    """A run folder (with the `model/` every script saves at the end) stands for its final model."""
    if os.path.isdir(name) and (Path(name) / "model" / "config.json").exists():
        return str(Path(name) / "model")
    return name


def load_policy(name: str = grpo_agent.EMBEDDED_MODEL, dtype: str = "float32"):
    """(model in eval mode, tokenizer, ChatFormat)."""
    model, tokenizer = grpo_agent.load_model(resolve_model(name), dtype)
    model.eval()
    return model, tokenizer, grpo_agent.ChatFormat(tokenizer)


@torch.no_grad()
def greedy_sample(model, tokenizer, end_of_turn: int, prompts: list[list[int]], max_new_tokens: list[int]) -> list[list[int]]:
    """hf_sample's contract (left padding, each result ends at end-of-turn or its cap), greedy."""
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=model.device)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=model.device)
    config = GenerationConfig(do_sample=False, max_new_tokens=max(max_new_tokens), eos_token_id=end_of_turn, pad_token_id=pad)
    out = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
    samples = []
    for row, cap in zip(out[:, width:].tolist(), max_new_tokens):
        row = row[:cap]
        if end_of_turn in row:
            row = row[: row.index(end_of_turn) + 1]
        samples.append(row)
    return samples


def make_sampler(model, tokenizer, chat, temperature: float, batch_size: int = 16):
    """sample_fn(prompts, caps) for grpo_agent.rollout: greedy at temperature 0, else plain sampling;
    prompts go through the model in chunks of `batch_size`."""

    def sample(prompts, caps):
        out = []
        for start in range(0, len(prompts), batch_size):
            chunk, chunk_caps = prompts[start : start + batch_size], caps[start : start + batch_size]
            if temperature == 0:
                out += greedy_sample(model, tokenizer, chat.end_of_turn, chunk, chunk_caps)
            else:
                out += grpo_agent.hf_sample(model, tokenizer, chat.end_of_turn, chunk, chunk_caps, temperature)
        return out

    return sample
