"""A tiny randomly initialised Llama with the default model's tokenizer and chat template, for fast tests."""

import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from cleanagent_utils.models import embedded_model_dir  # noqa: E402


def build_tiny_model(path: Path, seed: int = 0) -> Path:
    if (path / "config.json").exists():
        return path
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


if __name__ == "__main__":  # python tests/tiny_model.py DIR: write the tiny model, e.g. for bench/curves.py --model DIR
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/tiny_model.py OUTPUT_DIR")
    print(build_tiny_model(Path(sys.argv[1])))
