"""The policy's turn samplers: `KVSampler` (the training model itself, KV cache kept across turns) and
`VLLMSampler` (a colocated vLLM engine), with the vLLM engine's weight sync and its check."""

from __future__ import annotations

import inspect
import os
import socket
import tempfile

import numpy as np
import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from cleanagent_utils.models import LORA_ALPHA_PER_RANK


class RoomyLayer(DynamicLayer):
    """A DynamicLayer whose keys and values are views of buffers with spare room (`room` positions at a time), so
    a decode step writes its one position in place instead of concatenating: no step copies the whole cache
    (decode steps 31% faster: bench/kv_cache.py). Under autocast the keys and values are stored in autocast's dtype:
    the attention casts them to it at every call anyway, so the samples are bit-identical (a test checks) and the
    cache is half the size (8 rows x 2,048 positions of SmolLM2-135M: 377 MB, not 755 MB)."""

    room = 256

    def update(self, key_states, value_states, *args, **kwargs):
        device = key_states.device.type
        if torch.is_autocast_enabled(device) and key_states.dtype == torch.float32:
            dtype = torch.get_autocast_dtype(device)
            key_states, value_states = key_states.to(dtype), value_states.to(dtype)
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.buffers = None
        length, new = self.get_seq_length(), key_states.shape[-2]
        buffers = self.buffers
        # a new buffer when there is none, when the keys are no longer a view of it (transformers replaced them,
        # e.g. reorder_cache), when the batch changed or when it is full
        if (buffers is None or (length and self.keys.data_ptr() != buffers[0].data_ptr())
                or buffers[0].shape[0] != key_states.shape[0] or length + new > buffers[0].shape[-2]):
            capacity = -(-(length + new) // self.room) * self.room
            buffers = tuple(x.new_empty(*x.shape[:-2], capacity, x.shape[-1]) for x in (key_states, value_states))
            if length:
                buffers[0][..., :length, :], buffers[1][..., :length, :] = self.keys, self.values
            self.buffers = buffers
        buffers[0][..., length : length + new, :], buffers[1][..., length : length + new, :] = key_states, value_states
        self.keys, self.values = buffers[0][..., : length + new, :], buffers[1][..., : length + new, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)  # the kept rows, copied out: the old buffers can go now
        self.buffers = None

    def reset(self) -> None:
        self.buffers = None
        super().reset()


class RoomyCache(DynamicCache):
    """A DynamicCache of `RoomyLayer`s: the KV cache of KVSampler."""

    def __init__(self):
        super().__init__()
        self.layer_class_to_replicate = RoomyLayer


class KVSampler:
    """The policy's turn sampler: batched over the live episodes, each episode's KV cache kept across its turns.

    A turn encodes only the tokens added since the last one (the previous reply, the template's glue
    and the observation) instead of re-encoding the whole history. Rows are left-padded and each
    turn's new tokens are left-padded inside their own chunk, so the cache has padding holes: the
    attention mask hides them and position ids count only real tokens, so every episode sees exactly
    its own sequence. Identical prompts of a fresh cache (the members of a GRPO group on their first
    turn) are encoded once and their cache copied to every row. The sampled tokens stay in the cache
    (a row whose reply ended feeds masked pads until the turn's last reply ends: more holes), so the
    next turn encodes only a reply's last token (sampled, never fed), the template's glue and the
    observation.
    Sampling is plain softmax(logits / T), no top-k/top-p; temperature 0 is greedy. A reply ends at
    one of `stop_ids` (kept), at its own token cap, or once its `stops` function says the reply so far
    is complete. Call `reset()` after every rollout: it frees the cache, which is stale once the
    weights change.
    """

    def __init__(self, model, pad_id: int, stop_ids: int | tuple[int, ...], temperature: float):
        self.model, self.pad_id, self.temperature = model, pad_id, temperature
        self.stop_ids = {stop_ids} if isinstance(stop_ids, int) else set(stop_ids)
        # transformers 5 renamed `past_key_values` to `cache`; take whichever this version's forward has
        # (a PEFT model's forward passes it on to its base model's)
        forward = model.get_base_model().forward if hasattr(model, "get_base_model") else model.forward
        self.cache_arg = "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"
        self.reset()

    def reset(self) -> None:
        self.cache, self.rows, self.mask = None, [], None

    def _reuse(self, prompts: list[list[int]]) -> list[int] | None:
        """The cached row each prompt extends (live episodes keep their order), or None to start afresh."""
        picks, r = [], 0
        for prompt in prompts:
            while (r < len(self.rows)
                   and (len(prompt) <= len(self.rows[r]) or prompt[: len(self.rows[r])] != self.rows[r])):
                r += 1
            if r == len(self.rows):
                return None
            picks.append(r)
            r += 1
        return picks

    def _forward(self, input_ids, mask, positions):
        # logits_to_keep=1: the LM head only on the last position (a prompt's other logits are never used)
        return self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                          logits_to_keep=1, **{self.cache_arg: self.cache}).logits[:, -1]

    @torch.no_grad()
    def __call__(self, prompts: list[list[int]], max_new_tokens: list[int], stops=None) -> list[list[int]]:
        """stops: None or per prompt a function(sampled ids) -> the reply is complete (ends it there)."""
        self.model.eval()
        device = self.model.device
        picks = self._reuse(prompts) if self.cache is not None else None
        if picks is None:  # a fresh cache; a GRPO group's identical first prompts are encoded once, then copied
            distinct = {}
            copy_of = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
            self.cache, new = RoomyCache(), [list(p) for p in distinct]
            mask = torch.zeros(len(new), 0, dtype=torch.long, device=device)
        else:
            index = torch.tensor(picks, device=device)
            self.cache.batch_select_indices(index)
            mask, new = self.mask[index], [p[len(self.rows[r]) :] for p, r in zip(prompts, picks)]
        width = max(len(n) for n in new)
        chunk = torch.tensor([[self.pad_id] * (width - len(n)) + n for n in new], device=device)
        mask = torch.cat([mask, torch.tensor([[0] * (width - len(n)) + [1] * len(n) for n in new], device=device)], 1)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        logits = self._forward(chunk, mask, positions[:, -width:])
        if picks is None and len(new) < len(prompts):
            index = torch.tensor(copy_of, device=device)
            self.cache.batch_select_indices(index)
            logits, mask, positions = logits[index], mask[index], positions[index]
        next_position = positions[:, -1:] + 1
        samples, live = [[] for _ in prompts], [cap > 0 for cap in max_new_tokens]
        for _ in range(max(max_new_tokens)):
            if self.temperature == 0:
                tokens = logits.argmax(-1)
            else:
                tokens = torch.multinomial(torch.softmax(logits.float() / self.temperature, -1), 1).squeeze(1)
            for i, token in enumerate(tokens.tolist()):
                if live[i]:
                    samples[i].append(token)
                    live[i] = (token not in self.stop_ids and len(samples[i]) < max_new_tokens[i]
                               and not (stops and stops[i](samples[i])))
            if not any(live):
                break
            alive = torch.tensor(live, device=device)
            mask = torch.cat([mask, alive.long().unsqueeze(1)], 1)  # finished rows feed a masked pad
            logits = self._forward(torch.where(alive, tokens, self.pad_id).unsqueeze(1), mask, next_position)
            next_position = next_position + 1
        # what each row of the cache now holds: its prompt and every sampled token but the last
        self.rows, self.mask = [list(p) + s[:-1] for p, s in zip(prompts, samples)], mask
        return samples


class VLLMSampler:
    """The policy's turn sampler on a colocated vLLM engine (`--rollout-backend vllm`), KVSampler's interface.

    The engine runs in this process on this rank's GPU. It is built from the model's config with
    dummy weights and `load_weights` gives it the trainer's weights before every rollout, so any model
    the trainer can load works (GGUF, LoRA) and no checkpoint is written. Between rollouts it sleeps
    (level 2: its weights and KV cache are freed for the update); its prefix cache plays the part of
    KVSampler's cache across turns and is reset with every weight load. Sampling is softmax(logits / T)
    with a fresh seed per reply drawn from torch's generator (so a seeded run draws the same seeds);
    a reply ends at its end-of-turn token (kept) or at its cap. `last_logprobs`: the engine's log-probs
    of the last call's replies (at T), compared with the trainer's in `debug/logprob_diff`.
    """

    def __init__(self, model, tokenizer, stop_ids: int | tuple[int, ...], args, seed: int):
        from vllm import LLM  # only here: the HF backend never imports vLLM

        if "MASTER_PORT" not in os.environ:  # one process (no torchrun) is rank 0 of 1 to vLLM's launcher
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        folder = tempfile.mkdtemp(prefix="cleanagent-vllm-")
        model.config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        dtype = "float32" if args.dtype == "float32" else "bfloat16"  # bf16-mixed: the engine samples in bf16
        self.llm = LLM(model=folder, load_format="dummy", dtype=dtype, seed=seed, max_model_len=args.max_episode_tokens,
                       gpu_memory_utilization=args.vllm_gpu_memory_utilization, enable_sleep_mode=True,
                       enable_prefix_caching=True, distributed_executor_backend="external_launcher",
                       logprobs_mode="processed_logprobs")
        self.llm.sleep(level=2)
        self.stop_ids = [stop_ids] if isinstance(stop_ids, int) else list(stop_ids)
        self.temperature = args.temperature
        self.weights_loaded, self.kv_awake, self.last_logprobs = False, False, None

    def load_weights(self, weights: dict) -> None:
        """Wake the engine's weights, copy `weights` (transformers' names) into them, reset the prefix cache."""
        torch.cuda.empty_cache()
        self.llm.wake_up(tags=["weights"])
        self.llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights(weights.items())
        self.llm.reset_prefix_cache()  # its entries were computed with the old weights
        self.weights_loaded = True

    def reset(self) -> None:
        """End of a rollout: the engine sleeps until the next `load_weights`."""
        if self.weights_loaded or self.kv_awake:
            self.llm.sleep(level=2)
        self.weights_loaded, self.kv_awake = False, False

    @torch.no_grad()
    def __call__(self, prompts: list[list[int]], max_new_tokens: list[int], stops=None) -> list[list[int]]:
        """As KVSampler's; a reply complete by `stops` is cut there after the engine's generation."""
        from vllm import SamplingParams

        if not self.weights_loaded:
            raise RuntimeError("VLLMSampler: call sync_weights before sampling (the sleeping engine holds no weights)")
        if not self.kv_awake:
            self.llm.wake_up(tags=["kv_cache"])
            self.kv_awake = True
        samples, self.last_logprobs = [[] for _ in prompts], [[] for _ in prompts]
        live = [i for i, cap in enumerate(max_new_tokens) if cap > 0]
        seeds = torch.randint(2**31 - 1, (len(live),)).tolist()
        params = [SamplingParams(temperature=self.temperature, max_tokens=max_new_tokens[i],
                                 stop_token_ids=self.stop_ids, logprobs=0, detokenize=False,
                                 seed=seed) for i, seed in zip(live, seeds)]
        outputs = self.llm.generate([{"prompt_token_ids": prompts[i]} for i in live], params, use_tqdm=False)
        for i, output in zip(live, outputs):
            out = output.outputs[0]
            samples[i] = list(out.token_ids)
            self.last_logprobs[i] = [step[token].logprob for step, token in zip(out.logprobs, out.token_ids)]
            # a stop token left out of the ids
            if out.stop_reason in self.stop_ids and samples[i][-1:] != [out.stop_reason]:
                samples[i].append(out.stop_reason)
                self.last_logprobs[i].append(float("nan"))
            if stops:  # the first complete prefix, as KVSampler would have stopped
                end = next((n for n in range(1, len(samples[i])) if stops[i](samples[i][:n])), len(samples[i]))
                samples[i], self.last_logprobs[i] = samples[i][:end], self.last_logprobs[i][:end]
        return samples


def merged_weights(state: dict, lora_scaling: float) -> dict:
    """transformers-named weights for the engine from a (PEFT) state dict: each adapted layer's base
    weight plus lora_scaling * B @ A, the adapters dropped; a plain state dict passes through."""
    out = {}
    for name, weight in state.items():
        if ".lora_" in name:
            continue
        if ".base_layer." in name:
            stem, leaf = name.split(".base_layer.")
            if leaf == "weight" and f"{stem}.lora_A.default.weight" in state:
                a, b = state[f"{stem}.lora_A.default.weight"], state[f"{stem}.lora_B.default.weight"]
                weight = (weight.float() + lora_scaling * (b.float() @ a.float())).to(weight.dtype)
            name = f"{stem}.{leaf}"
        out[name.removeprefix("base_model.model.")] = weight
    return out


def sync_weights(sampler, model, args) -> None:
    """Before every rollout. vLLM backend: the engine gets the policy's current weights (LoRA merged
    in; FSDP2: gathered on every rank, a collective) and drops its prefix cache. HF backend: nothing
    to do, the training model samples itself."""
    if not isinstance(sampler, VLLMSampler):
        return
    state = (get_model_state_dict(model, options=StateDictOptions(full_state_dict=True)) if args.fsdp
             else model.state_dict())
    sampler.load_weights(merged_weights(state, LORA_ALPHA_PER_RANK if args.lora_rank else 0.0))


def logprob_diffs(episodes: list, trainer_logprobs: list[torch.Tensor]) -> list[float]:
    """|engine - trainer| log-prob of every sampled token the engine reported (vLLM backend): how far
    the distribution the episodes were sampled from is from the one the update assumes."""
    diffs = []
    for ep, logp in zip(episodes, trainer_logprobs):
        for start, engine in ep.engine_logprobs:  # token t's log-prob is logp[t - 1]
            trainer = logp[start - 1 : start - 1 + len(engine)].tolist()
            diffs += [abs(e - t) for e, t in zip(engine, trainer) if np.isfinite(e)]
    return diffs


def make_sampler(args, model, tokenizer, stop_ids, rank: int, world_size: int):
    """The run's turn sampler: the training model itself (--rollout-backend hf) or a colocated vLLM engine."""
    if args.rollout_backend == "vllm":
        return VLLMSampler(model, tokenizer, stop_ids, args, seed=args.seed * world_size + rank)
    return KVSampler(model, tokenizer.pad_token_id, stop_ids, args.temperature)
