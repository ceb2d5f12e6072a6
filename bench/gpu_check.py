"""The short GPU check: a few iterations of grpo_agent.py on a ~0.5B model, HF backend and (where
vLLM is importable) the vLLM backend, reporting sampled tokens/s, seconds per step and peak GPU memory.

    python bench/gpu_check.py [--model M] [--iterations 3] [--env webshop] [--out bench/results/gpu_check.json]

`--model`: an HF id or local path (e.g. Qwen/Qwen2.5-0.5B-Instruct). Without one, a model of
Qwen2.5-0.5B's shape (24 layers, hidden 896, GQA 14/2 heads, MLP 4864) with random weights is built
with the embedded model's tokenizer (or `--tokenizer DIR`): the time and memory of a step depend on
the shapes, not on the weights, but its rewards do (a random model earns ~0 and its replies run to
the token cap every turn, the worst case for the rollout). Each backend is one fresh
`grpo_agent.py` process; the first iteration includes warm-up (CUDA kernels, vLLM's graphs), so the
summary is the mean over the later ones. Prints a markdown table and writes the JSON to `--out`.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_random_model(folder: Path, tokenizer_dir: str | None) -> dict:
    """Save a Qwen2.5-0.5B-shaped model with random weights (bf16) and a tokenizer to `folder`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    import cleanagent_utils.models

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or cleanagent_utils.models.embedded_model_dir())
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                         rope_theta=1_000_000.0, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"parameters": sum(p.numel() for p in model.parameters()), "shape": "Qwen2.5-0.5B (random weights)",
            "vocab": len(tokenizer)}


def run_backend(backend: str, model: str, args, runs_dir: str) -> dict:
    cmd = [sys.executable, "grpo_agent.py", "--model", model, "--env", args.env, "--rollout-backend", backend,
           "--dtype", args.dtype, "--total-iterations", str(args.iterations), "--num-tasks", str(args.num_tasks),
           "--group-size", str(args.group_size), "--max-new-tokens", str(args.max_new_tokens), "--horizons",
           str(args.horizon), "--max-episode-tokens", str(args.max_episode_tokens), "--micro-batch-tokens",
           str(args.micro_batch_tokens), "--runs-dir", runs_dir, "--save-every", "0"]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    wall = time.time() - t0
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    result = {"command": " ".join(cmd), "returncode": proc.returncode, "wall_s": round(wall, 1), "iterations": lines}
    if proc.returncode != 0:
        result["error"] = proc.stderr[-3000:]
    later = lines[1:] or lines  # the first iteration warms up
    if later:
        def mean(key):
            values = [line[key] for line in later if key in line]
            return round(sum(values) / len(values), 3) if values else None

        result["summary"] = {"tokens_per_s": mean("tokens_per_s"), "rollout_s": mean("rollout_s"),
                             "update_s": mean("update_s"),
                             "step_s": round(sum(line["rollout_s"] + line["update_s"] for line in later)
                                             / len(later), 2),
                             "gpu_peak_gb": max((line.get("gpu_peak_gb") or 0.0) for line in lines),
                             "logprob_diff": mean("logprob_diff")}
    return result


def markdown(result: dict) -> str:
    rows = ["| backend | tokens/s | rollout s | update s | s/step | peak GPU GB | logprob diff |",
            "|---|---|---|---|---|---|---|"]
    for backend, r in result["backends"].items():
        s = r.get("summary")
        if s is None:
            rows.append(f"| {backend} | failed: {r.get('error', r.get('skipped', ''))[-200:]!r} | | | | | |")
        else:
            rows.append(f"| {backend} | {s['tokens_per_s']} | {s['rollout_s']} | {s['update_s']} | {s['step_s']} | "
                        f"{s['gpu_peak_gb']} | {s['logprob_diff'] if s['logprob_diff'] is not None else '-'} |")
    return "\n".join(rows)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="HF id or path; default: a random-weight model of Qwen2.5-0.5B's shape")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer folder of the random model (default: the embedded model's)")
    p.add_argument("--env", default="webshop")
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--num-tasks", type=int, default=8)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--horizon", type=int, default=3)
    p.add_argument("--max-episode-tokens", type=int, default=4096)
    p.add_argument("--micro-batch-tokens", type=int, default=32768)
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    p.add_argument("--backends", nargs="+", default=["hf", "vllm"], choices=["hf", "vllm"])
    p.add_argument("--timeout", type=int, default=1200, help="seconds per backend run")
    p.add_argument("--save-model", default=None,
                   help="keep the random model in this folder (e.g. for bench/throughput.py --model)")
    p.add_argument("--out", default="bench/results/gpu_check.json")
    args = p.parse_args(argv)
    for flag, ok in (("--iterations", args.iterations >= 1), ("--num-tasks", args.num_tasks >= 1),
                     ("--group-size", args.group_size >= 1)):
        if not ok:
            p.error(f"{flag} must be >= 1")

    import torch

    result = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
              "torch": torch.__version__, "config": {k: v for k, v in vars(args).items() if k != "out"}, "backends": {}}
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            folder = Path(args.save_model or Path(tmp) / "model")
            result["model"] = build_random_model(folder, args.tokenizer)
            model = str(folder)
        else:
            result["model"] = {"name": model}
        for backend in args.backends:
            if backend == "vllm" and (importlib.util.find_spec("vllm") is None or not torch.cuda.is_available()):
                result["backends"][backend] = {"skipped": "vLLM is not importable here"
                                               if torch.cuda.is_available() else "no CUDA GPU"}
                continue
            result["backends"][backend] = run_backend(backend, model, args, tmp)
            print(f"{backend}: {json.dumps(result['backends'][backend].get('summary'))}", flush=True)
    result["markdown"] = markdown(result)
    print(result["markdown"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
