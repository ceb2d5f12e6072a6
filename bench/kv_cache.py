"""Decode step time of KVSampler's cache (`RoomyCache`) against transformers' `DynamicCache`, in one process.

    python bench/kv_cache.py --out bench/results/kv_cache.json

The default model under bf16-mixed autocast: `--rows` rows of a `--prompt`-token prompt are prefilled, then
`--steps` greedy decode steps are timed; the two caches alternate for `--repeats` rounds, so both see the same
machine load. Writes ms per decode step for each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import DynamicCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cleanagent_utils.models import EMBEDDED_MODEL, autocast, load_weights  # noqa: E402
from cleanagent_utils.samplers import RoomyCache  # noqa: E402


def decode_ms(model, cache, rows: int, prompt: int, steps: int) -> float:
    """Prefill `rows` x `prompt` random tokens into `cache`, then ms per greedy decode step."""
    torch.manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (rows, prompt))
    mask = torch.ones_like(ids)
    with torch.no_grad(), autocast("bf16-mixed", torch.device("cpu")):
        position = torch.arange(prompt).expand(rows, -1)
        step = dict(use_cache=True, logits_to_keep=1, past_key_values=cache)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position, **step).logits[:, -1]
        start = time.perf_counter()
        for k in range(steps):
            mask = torch.cat([mask, torch.ones(rows, 1, dtype=mask.dtype)], 1)
            logits = model(input_ids=logits.argmax(-1, keepdim=True), attention_mask=mask,
                           position_ids=torch.full((rows, 1), prompt + k), **step).logits[:, -1]
        return (time.perf_counter() - start) / steps * 1000


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=EMBEDDED_MODEL)
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--prompt", type=int, default=800)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    model = load_weights(args.model, "float32").eval()
    times = {"DynamicCache": [], "RoomyCache": []}
    for _ in range(args.repeats):
        for name, cache_class in (("DynamicCache", DynamicCache), ("RoomyCache", RoomyCache)):
            times[name].append(round(decode_ms(model, cache_class(), args.rows, args.prompt, args.steps), 1))
    result = {"command": "python bench/kv_cache.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "threads": torch.get_num_threads(), "ms_per_step": times,
              "roomy_over_dynamic": round(min(times["RoomyCache"]) / min(times["DynamicCache"]), 3)}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
