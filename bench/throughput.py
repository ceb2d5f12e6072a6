"""Rollout and update speed of grpo_agent.py: one run, one model, one machine, every number a ratio within it.

    python bench/throughput.py --out bench/results/throughput.json
    python bench/throughput.py --parts b d --dtypes float32 bf16-mixed --out bench/results/throughput_b_dtypes.json
    python bench/throughput.py --parts a c --env textcraft --episodes 8 --turns 8
    python bench/throughput.py --model MODEL_DIR --parts b --steps 5

Precision (`--dtypes`, default float32; grpo_agent.py's `--dtype` values): float32, or bf16-mixed (fp32
weights, gradients and AdamW state, matmuls in bf16 under torch.autocast: grpo_agent.autocast), or auto
(bf16-mixed where the hardware multiplies in bf16, else float32). Part b runs all three of its arms once
in every listed precision; parts a and c run in the first one. Every row of the table names its precision,
and every ratio of part b is taken within one precision.

a. Batched multi-turn rollout (grpo_agent.rollout with the script's KVSampler, `--episodes` episodes at
   once) vs the same code playing one episode at a time: sampled tokens/s and episodes/s. Goal >= 5x.
b. One grpo_agent.py iteration vs one step of TRL's GRPOTrainer on TRL's single-turn workload
   (`--num-prompts` 8 x `--num-generations` 4 samples x `--completion-tokens` 32, the same length reward,
   the same sampling temperature). Ours is the script's loop for one iteration through the script's own
   functions: rollout of 1-turn episodes, GRPO advantages, PPO-clip loss, backward, clipping, AdamW step,
   with one forward/backward over the whole batch like TRL (--micro-batch-tokens large enough).
   Also the compute limit: plain `model.generate` of the same samples plus one forward/backward and one
   AdamW step, no framework. Median seconds per step over `--steps` steps after one warm-up step.
   In each precision: float32 = everything in fp32 (TRL `bf16=False`); bf16-mixed = ours with the run's
   `dtype` bf16-mixed (the rollout inside grpo_agent.autocast, batch_logprobs and update enter it
   themselves), TRL with `bf16=True` (accelerate wraps the model's forward in the same bf16 autocast, for
   generation and training alike; weights and AdamW stay fp32), the limit's generate and forward inside
   grpo_agent.autocast. Each arm reports the dtype its LM head's output had (`lm_head_dtypes`) as proof.
   Goals, in each precision: ours / TRL <= 0.75 and ours / limit <= 1.1.
c. Policy seconds per turn as the conversation grows: turn `--turns` vs turn 1, with the KV cache kept
   across turns and with it dropped before every turn (the whole history re-encoded); per-turn median
   over `--repeats` rollouts. Goal: <= 1.5x with reuse.
d. Peak memory of every arm above: by default each arm runs in a fresh subprocess and reports its own
   peak RSS (getrusage ru_maxrss, which includes the imports and the model) and, on a GPU,
   torch.cuda.max_memory_allocated. With `--in-process` (fast, for tests) a thread samples VmRSS instead
   and earlier arms' memory stays counted.

Workloads are made equal where a ratio needs it: a and c play a scripted env (fixed-length observations,
never done before `--turns`) unless `--env` names a real one; c, and a with `--fixed-length`, never
sample a stop token nor stop at a complete action, so every turn samples exactly `--max-new-tokens`
tokens; b's replies end at a stop token (the script's: end-of-turn and the generation config's end ids)
or their cap, in every arm. Sampled tokens are counted as the sum of the episodes' loss masks. Every
arm seeds the same way and warms up first.
TRL runs without gradient checkpointing (its default is on; the script has none) and without a
reference model (beta 0, as kl_coef 0 here). Prints a markdown table; writes everything, machine
information included, to `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cleanagent_utils.models  # noqa: E402
import cleanagent_utils.samplers  # noqa: E402
import envs  # noqa: E402
import grpo_agent  # noqa: E402
from bench.common import load_policy  # noqa: E402
from envs.base import TextEnv  # noqa: E402

GOALS = {"a": (">=", 5.0), "b": ("<=", 0.75), "b.plain": ("<=", 1.1), "c": ("<=", 1.5)}
# grpo_agent.py's --dtype values that keep fp32 weights (bfloat16 weights: not compared here)
DTYPES = ["float32", "bf16-mixed"]
PART_ARMS = {"a": ["a.batched", "a.sequential"], "b": ["b.ours", "b.trl", "b.plain"], "c": ["c.reuse", "c.no_reuse"]}
INSTRUCTIONS = "You are a helpful assistant. Answer in one or two sentences."
TOPICS = ["the sea", "a forest", "bread", "the moon", "trains", "a library", "winter", "coffee",
          "bicycles", "rain", "a garden", "music", "mountains", "a market", "clocks", "bridges"]


# ---------------------------------------------------------------------------------------------
# workloads


class ScriptedEnv(TextEnv):
    """Fixed-length observations, reward 0, never done: every episode lasts exactly the horizon."""

    name = "scripted"
    instructions = "You explore a quiet house. Reply with one action per turn, e.g. 'Action: look'."

    def reset(self, task_id):
        self.t = 0
        return (f"Task {task_id % 10}. You are in the hall. There is a door to the north and a lamp here.",
                {"success": False})

    def step(self, reply):
        self.t += 1
        # the same number of tokens every turn: the step count is one digit (turns <= 9 differ only in it)
        return (f"Step {self.t % 10}: nothing happens. The hall is quiet; the lamp is off and the door is closed.", 0.0,
                False, False, {"success": False, "format_ok": True})


def length_reward(text: str) -> float:
    """The trivial reward of part b, identical for every arm: reply length in characters / 100, capped at 1."""
    return min(len(text), 100) / 100


def trl_length_reward(completions, **kwargs) -> list[float]:
    """length_reward in TRL's reward-function signature (conversational completions are message lists)."""
    return [length_reward(c[-1]["content"] if isinstance(c, list) else c) for c in completions]


class OneTurnEnv(TextEnv):
    """Part b for grpo_agent.rollout: the prompt is the observation, the reply ends the episode."""

    name = "one-turn"
    instructions = INSTRUCTIONS

    def reset(self, task_id):
        return f"Write a sentence about {TOPICS[task_id % len(TOPICS)]}.", {"success": False}

    def step(self, reply):
        return "", length_reward(reply), True, False, {"success": False, "format_ok": True}

    def reply_complete(self, reply):
        return False  # no action to stop at: a reply ends at a stop token or its cap, as in TRL and in the limit


class FixedLengthSampler(cleanagent_utils.samplers.KVSampler):
    """The script's KVSampler with no stop token ever sampled and no env stop rule (a complete action):
    every turn is exactly its token cap."""

    def __call__(self, prompts, max_new_tokens, stops=None):
        return super().__call__(prompts, max_new_tokens, None)

    def _forward(self, input_ids, mask, positions):
        logits = super()._forward(input_ids, mask, positions)
        logits[:, sorted(self.stop_ids)] = float("-inf")
        return logits


class ForwardCounter:
    """Tokens given to each forward call of `model` (rows x width, padding included), via a pre-hook."""

    def __init__(self, model):
        self.calls: list[int] = []
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.calls.append(int(ids.numel()))


class OutputDtypes:
    """The dtypes of the LM head's output over every forward of `model` (a forward hook): float32 in fp32,
    bfloat16 where the matmuls ran under a bf16 autocast. Proof of the precision an arm really ran in."""

    def __init__(self, model):
        self.seen: set[str] = set()
        model.get_output_embeddings().register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        self.seen.add(str(output.dtype).removeprefix("torch."))

    def report(self, model) -> dict:
        return {"lm_head_dtypes": sorted(self.seen),
                "param_dtypes": sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})}


class TimedPolicy:
    """sample_fn for grpo_agent.rollout that logs each call (one turn of the live episodes): wall seconds,
    rows, tokens fed to the model (prefill = the call's first forward, decode = the rest) and sampled."""

    def __init__(self, model, sampler, counter: ForwardCounter, reuse: bool = True):
        self.model, self.sampler, self.counter, self.reuse, self.turns = model, sampler, counter, reuse, []

    def __call__(self, prompts, caps, stops=None):
        if not self.reuse:
            self.sampler.reset()  # drop the cache: the whole history is encoded again
        self.model.eval()
        start, t0 = len(self.counter.calls), time.perf_counter()
        samples = self.sampler(prompts, caps, stops)
        sync()
        calls = self.counter.calls[start:]
        self.turns.append({"seconds": time.perf_counter() - t0, "rows": len(prompts),
                           "context_tokens": max(map(len, prompts)), "prefill_tokens": calls[0] if calls else 0,
                           "decode_tokens": sum(calls[1:]), "sampled_tokens": sum(map(len, samples))})
        return samples


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer, chat = load_policy(args.model)
    model.to(device())
    model.config.use_cache = True
    return model, tokenizer, chat


def rollout_args(args) -> grpo_agent.Args:
    return grpo_agent.Args(max_new_tokens=args.max_new_tokens, max_episode_tokens=args.max_episode_tokens,
                           temperature=args.temperature, format_reward=0.0, demonstration=args.env != "scripted")


def make_envs(args, n: int) -> tuple[list, list[int]]:
    """n envs and --episodes task ids: the scripted env's, or the first train tasks of a real env."""
    if args.env == "scripted":
        return [ScriptedEnv() for _ in range(n)], list(range(args.episodes))
    return ([envs.make(args.env, action_format="lenient") for _ in range(n)],
            envs.tasks(args.env, "train")[: args.episodes])


def warm_up(sampler, chat) -> None:
    """One short sampler call, so first-call costs (allocator, lazy init) land in no arm's timing."""
    sampler([chat.prompt(INSTRUCTIONS, "Hello.")], [2])
    sampler.reset()


# ---------------------------------------------------------------------------------------------
# arms: each returns a dict; memory is added by run_arm


def arm_rollout(args, batched: bool) -> dict:
    """Part a: all episodes in one batched rollout, or one rollout per episode (same code, same seed)."""
    model, tokenizer, chat = load(args)
    counter, dtypes = ForwardCounter(model), OutputDtypes(model)
    sampler_cls = FixedLengthSampler if args.fixed_length else cleanagent_utils.samplers.KVSampler
    sampler = sampler_cls(model, tokenizer.pad_token_id, chat.stop_ids, args.temperature)
    policy = TimedPolicy(model, sampler, counter)
    env_list, task_ids = make_envs(args, args.episodes if batched else 1)
    with grpo_agent.autocast(args.dtype, device()):
        warm_up(sampler, chat)
    grpo_agent.seed_everything(args.seed)
    episodes = [grpo_agent.Episode(task_id=t, group=i) for i, t in enumerate(task_ids)]
    t0 = time.perf_counter()
    for batch in [episodes] if batched else [[ep] for ep in episodes]:
        with grpo_agent.autocast(args.dtype, device()):  # as grpo_agent.py's loop wraps its rollout
            grpo_agent.rollout(policy, chat, env_list[: len(batch)], batch, args.turns, rollout_args(args))
        sampler.reset()
    seconds = time.perf_counter() - t0
    for env in env_list:
        env.close()
    sampled = sum(sum(ep.loss_mask) for ep in episodes)
    return {
        "dtype": args.dtype, "seconds": seconds, "episodes": len(episodes), "turns": sum(ep.turns for ep in episodes),
        "failed": sum(ep.failed for ep in episodes), "sampled_tokens": sampled,
        "policy_sampled_tokens": sum(t["sampled_tokens"] for t in policy.turns), "tokens_per_s": sampled / seconds,
        "episodes_per_s": len(episodes) / seconds, "policy_calls": len(policy.turns),
        "prefill_tokens": sum(t["prefill_tokens"] for t in policy.turns),
        "decode_tokens": sum(t["decode_tokens"] for t in policy.turns),
    } | dtypes.report(model)


def arm_turns(args, reuse: bool) -> dict:
    """Part c: per-turn policy seconds of a batched rollout, the cache kept across turns or dropped before each."""
    model, tokenizer, chat = load(args)
    counter, dtypes = ForwardCounter(model), OutputDtypes(model)
    sampler = FixedLengthSampler(model, tokenizer.pad_token_id, chat.stop_ids, args.temperature)
    env_list, task_ids = make_envs(args, args.episodes)
    with grpo_agent.autocast(args.dtype, device()):
        warm_up(sampler, chat)
    repeats = []
    for r in range(args.repeats):
        grpo_agent.seed_everything(args.seed + r)
        policy = TimedPolicy(model, sampler, counter, reuse)
        episodes = [grpo_agent.Episode(task_id=t, group=i) for i, t in enumerate(task_ids)]
        with grpo_agent.autocast(args.dtype, device()):
            grpo_agent.rollout(policy, chat, env_list, episodes, args.turns, rollout_args(args))
        sampler.reset()
        repeats.append(policy.turns)
    for env in env_list:
        env.close()
    turns = min(map(len, repeats))
    seconds = [statistics.median(rep[t]["seconds"] for rep in repeats) for t in range(turns)]
    last = repeats[-1]
    return {
        "dtype": args.dtype, "turn_seconds": seconds,
        "turn_seconds_all": [[t["seconds"] for t in rep] for rep in repeats],
        "prefill_tokens": [t["prefill_tokens"] for t in last[:turns]],
        "decode_tokens": [t["decode_tokens"] for t in last[:turns]],
        "context_tokens": [t["context_tokens"] for t in last[:turns]], "rows": [t["rows"] for t in last[:turns]],
        "sampled_tokens": [t["sampled_tokens"] for t in last[:turns]],
        "last_over_first": seconds[-1] / seconds[0] if turns > 1 else None,
        "prefill_last_over_first": last[turns - 1]["prefill_tokens"] / max(last[0]["prefill_tokens"], 1),
    } | dtypes.report(model)


def grpo_iteration(model, optimizer, sampler, chat, env_list, task_ids: list[int],
                   args: grpo_agent.Args, device) -> dict:
    """One iteration of grpo_agent.py's main loop (rollout, advantages, update) with its own functions
    (`rollout`, `grpo_advantages`, `update`); the logging and the reference model (kl_coef 0) are left out.
    The rollout runs inside grpo_agent.autocast(args.dtype) as in the script; batch_logprobs and update enter it
    themselves."""
    episodes = [grpo_agent.Episode(task_id=t, group=g) for g, t in enumerate(task_ids) for _ in range(args.group_size)]
    with grpo_agent.autocast(args.dtype, device):
        grpo_agent.rollout(sampler, chat, env_list, episodes, 1, args)
    sampler.reset()
    trainable = [ep for ep in episodes if not ep.failed and sum(ep.loss_mask) > 0]
    rewards = torch.tensor([ep.total_reward for ep in trainable], dtype=torch.float32)
    groups = torch.tensor([ep.group for ep in trainable])
    advantages = grpo_agent.grpo_advantages(rewards, groups) if trainable else torch.zeros(0)
    model.train()
    need_old = args.update_epochs * args.num_minibatches > 1
    old_logprobs = grpo_agent.batch_logprobs(model, trainable, args, device) if need_old and trainable else None
    token_advantages = [a.to(device).expand(len(ep.token_ids) - 1) for a, ep in zip(advantages, trainable)]
    params = [p for p in model.parameters() if p.requires_grad]
    grpo_agent.update(model, optimizer, params, trainable, token_advantages, old_logprobs, None, args, device)
    return {"sampled_tokens": sum(sum(ep.loss_mask) for ep in episodes), "episodes": len(episodes)}


def arm_ours(args) -> dict:
    """Part b, ours: --steps + 1 iterations of the script's loop on the one-turn workload."""
    model, tokenizer, chat = load(args)
    dtypes = OutputDtypes(model)
    run_args = grpo_agent.Args(
        num_tasks=args.num_prompts, group_size=args.num_generations, max_new_tokens=args.completion_tokens,
        temperature=args.temperature, format_reward=0.0, demonstration=False, dtype=args.dtype,
        # one forward/backward over the whole batch, as TRL's per_device_train_batch_size = 32 does
        micro_batch_tokens=16384,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=run_args.learning_rate, weight_decay=run_args.weight_decay)
    # as grpo_agent.py builds it
    sampler = cleanagent_utils.samplers.KVSampler(model, tokenizer.pad_token_id, chat.stop_ids, run_args.temperature)
    env_list = [OneTurnEnv() for _ in range(args.num_prompts * args.num_generations)]
    times, tokens = [], []
    for step in range(args.steps + 1):
        grpo_agent.seed_everything(args.seed * 1_000_003 + step)
        t0 = time.perf_counter()
        out = grpo_iteration(model, optimizer, sampler, chat, env_list,
                             list(range(args.num_prompts)), run_args, device())
        sync()
        times.append(time.perf_counter() - t0)
        tokens.append(out["sampled_tokens"])
    return step_summary(times, tokens) | dtypes.report(model) | {"dtype": run_args.dtype,
                                                                 "micro_batch_tokens": run_args.micro_batch_tokens,
                                                                 "loss_reduction": run_args.loss_reduction}


def arm_trl(args) -> dict:
    """Part b, TRL: GRPOTrainer.train() over --steps + 1 steps, step end times from a callback."""
    try:
        import trl
        from datasets import Dataset
        from transformers import TrainerCallback
    except ImportError as e:
        return {"skipped": f"TRL is not installed ({e}); pip install trl"}

    class StepTimes(TrainerCallback):
        def on_train_begin(self, *a, **kw):
            self.ends = [time.perf_counter()]

        def on_step_end(self, *a, **kw):
            sync()
            self.ends.append(time.perf_counter())

    model, tokenizer, chat = load(args)
    dtypes = OutputDtypes(model)
    prompts = [[{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": OneTurnEnv().reset(i)[0]}]
               for i in range(args.num_prompts)]
    timer = StepTimes()
    with tempfile.TemporaryDirectory() as tmp:
        config = trl.GRPOConfig(
            output_dir=tmp, per_device_train_batch_size=args.num_prompts * args.num_generations,
            gradient_accumulation_steps=1,
            num_generations=args.num_generations, max_completion_length=args.completion_tokens,
            temperature=args.temperature,
            learning_rate=grpo_agent.Args.learning_rate, weight_decay=grpo_agent.Args.weight_decay,
            max_grad_norm=grpo_agent.Args.max_grad_norm,
            beta=0.0, max_steps=args.steps + 1, logging_steps=1, report_to=[], save_strategy="no", disable_tqdm=True,
            # bf16=True (TRL's own default): TrainingArguments sets mixed_precision "bf16", and accelerate (native_amp
            # on
            # CPU as on a bf16 GPU) wraps the model's forward in torch.autocast(device, bfloat16) and casts its outputs
            # back to fp32. The weights stay as loaded (fp32 here) and so do the gradients and AdamW's state; TRL's
            # generation calls the same wrapped forward (unwrap_model keeps the autocast wrapper), so it samples
            # under the autocast too. That is bf16-mixed; bf16=False is plain fp32.
            use_cpu=not torch.cuda.is_available(), bf16=args.dtype == "bf16-mixed", fp16=False,
            gradient_checkpointing=False, seed=args.seed,
        )
        trainer = trl.GRPOTrainer(model=model, reward_funcs=[trl_length_reward], args=config,
                                  processing_class=tokenizer,
                                  train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), callbacks=[timer])
        trainer.train()
    precision = {"dtype": args.dtype, "trl_bf16": config.bf16,
                 "accelerate_mixed_precision": trainer.accelerator.mixed_precision,
                 "accelerate_native_amp": trainer.accelerator.native_amp}
    times = np.diff(timer.ends).tolist()
    tokens = [round(h["completions/mean_length"] * args.num_prompts * args.num_generations)
              for h in trainer.state.log_history if "completions/mean_length" in h]
    return step_summary(times, tokens) | dtypes.report(model) | precision | {"trl_version": trl.__version__,
                                                                             "loss_type": config.loss_type,
                                                                             "gradient_checkpointing": False}


def arm_plain(args) -> dict:
    """Part b, the compute limit: model.generate of the same samples, one forward/backward, one AdamW step; the
    generate and the forward inside grpo_agent.autocast(--dtype), the backward and the step outside, as in the
    script."""
    from transformers import GenerationConfig

    model, tokenizer, chat = load(args)
    dtypes = OutputDtypes(model)
    dev, n, g = device(), args.num_prompts, args.num_generations
    prompts = [chat.prompt(INSTRUCTIONS, OneTurnEnv().reset(i)[0]) for i in range(n) for _ in range(g)]
    width = max(map(len, prompts))
    input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts], device=dev)
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=dev)
    gen = GenerationConfig(do_sample=True, temperature=args.temperature, top_k=0, top_p=1.0,
                           max_new_tokens=args.completion_tokens,
                           # the script's stop tokens
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=list(chat.stop_ids))
    optimizer = torch.optim.AdamW(model.parameters(), lr=grpo_agent.Args.learning_rate,
                                  weight_decay=grpo_agent.Args.weight_decay)
    times, tokens = [], []
    for step in range(args.steps + 1):
        grpo_agent.seed_everything(args.seed * 1_000_003 + step)
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad(), grpo_agent.autocast(args.dtype, dev):
            seqs = model.generate(input_ids=input_ids, attention_mask=attention, generation_config=gen)
        completion = seqs[:, width:]
        is_eot = torch.isin(completion, torch.tensor(chat.stop_ids, device=dev))
        first = torch.where(is_eot.any(1), is_eot.int().argmax(1), completion.shape[1])
        # up to and with the stop token
        cmask = (torch.arange(completion.shape[1], device=dev) <= first.unsqueeze(1)).float()
        rewards = torch.tensor([length_reward(tokenizer.decode(c[: int(k)], skip_special_tokens=True))
                                for c, k in zip(completion, first)]).view(n, g)
        advantages = ((rewards
                       - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-6)).view(-1, 1).to(dev)
        model.train()
        with grpo_agent.autocast(args.dtype, dev):
            logits = model(input_ids=seqs,
                           attention_mask=torch.cat([attention, cmask.long()], 1)).logits[:, width - 1 : -1]
        logp = torch.log_softmax(logits.float() / args.temperature, -1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)
        (-(logp * advantages * cmask).sum() / cmask.sum()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grpo_agent.Args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter() - t0)
        tokens.append(int(cmask.sum()))
    return step_summary(times, tokens) | dtypes.report(model) | {"dtype": args.dtype}


def step_summary(times: list[float], tokens: list[int]) -> dict:
    """The first step is the warm-up; the median is over the rest."""
    timed = times[1:] or times
    return {"step_seconds": times, "median_step_s": statistics.median(timed), "sampled_tokens_per_step": tokens}


ARMS = {
    "a.batched": lambda args: arm_rollout(args, batched=True),
    "a.sequential": lambda args: arm_rollout(args, batched=False), "b.ours": arm_ours, "b.trl": arm_trl,
    "b.plain": arm_plain, "c.reuse": lambda args: arm_turns(args, reuse=True),
    "c.no_reuse": lambda args: arm_turns(args, reuse=False),
}


# ---------------------------------------------------------------------------------------------
# memory and running arms


def rss_mb() -> float:
    """Current resident memory of this process (VmRSS), MB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return 0.0


class PeakRSS:
    """Samples VmRSS every 5 ms in a thread while the block runs (the in-process peak)."""

    def __enter__(self):
        self.peak, self.stop = rss_mb(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_mb())


def run_in_this_process(name: str, args) -> dict:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as peak:
        out = ARMS[name](args)
    out["peak_rss_mb"] = peak.peak
    if torch.cuda.is_available():
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def arm_runs(args) -> list[tuple[str, str, str]]:
    """(result key, arm, precision) of every arm to run: part b's three in every --dtypes precision (keys
    `b.ours/float32`, ...), part a's and c's in the first one (keys without it)."""
    runs = []
    for part in ("a", "b", "c"):
        if part in args.parts:
            for dtype in args.dtypes if part == "b" else args.dtypes[:1]:
                runs += [(f"{name}/{dtype}" if part == "b" else name, name, dtype) for name in PART_ARMS[part]]
    return runs


def run_arm(name: str, args, dtype: str = "float32") -> dict:
    """An arm in a fresh subprocess (its ru_maxrss is its own peak), or here with --in-process; `dtype` is
    the arm's precision (args.dtype of the arm, carried in its config)."""
    print(f"[throughput] {name} ({dtype}) ...", file=sys.stderr, flush=True)
    args = argparse.Namespace(**(vars(args) | {"dtype": dtype}))
    if args.in_process:
        return run_in_this_process(name, args)
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "arm.json"
        config = json.dumps({k: v for k, v in vars(args).items() if k not in ("arm", "arm_out")})
        proc = subprocess.run([sys.executable, __file__, "--arm", name, "--arm-config", config,
                               "--arm-out", str(out_file)])
        if proc.returncode != 0 or not out_file.exists():
            return {"error": f"arm {name} exited with status {proc.returncode}"}
        return json.loads(out_file.read_text())


def arm_child(args) -> None:
    """Subprocess side of run_arm: run one arm, add this process's peak memory, write the JSON."""
    config = argparse.Namespace(**json.loads(args.arm_config))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    out = ARMS[args.arm](config)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    if torch.cuda.is_available():
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    Path(args.arm_out).write_text(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# report


def machine_info(threads: int | None = None) -> dict:
    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads() if not threads else threads,
        "load_average_at_start": list(os.getloadavg()), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
        "torch": torch.__version__, "transformers": version("transformers"), "trl": version("trl"),
        "accelerate": version("accelerate"), "device": str(device()),
        "hardware_bf16": cleanagent_utils.models.hardware_bf16(device()),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def goal(part: str, ratio: float | None) -> dict:
    op, target = GOALS[part]
    met = None if ratio is None else (ratio >= target if op == ">=" else ratio <= target)
    return {"goal": f"{op} {target}", "met": met}


def ratio(x, y):
    return x / y if x is not None and y else None


def summarize(args, arms: dict, machine: dict) -> dict:
    result = {"machine": machine,
              "config": {k: v for k, v in vars(args).items() if not k.startswith("arm")}, "arms": arms}
    if "a.batched" in arms and "error" not in arms["a.batched"] and "error" not in arms["a.sequential"]:
        b, s = arms["a.batched"], arms["a.sequential"]
        r = ratio(b["tokens_per_s"], s["tokens_per_s"])
        result["a"] = {"dtype": args.dtypes[0], "tokens_per_s_ratio": r,
                       "episodes_per_s_ratio": ratio(b["episodes_per_s"], s["episodes_per_s"]), **goal("a", r)}
    if "b" in args.parts:  # one entry per precision; every ratio within it
        result["b"] = {}
        for dtype in args.dtypes:
            med = {k: arms[f"b.{k}/{dtype}"].get("median_step_s") for k in ("ours", "trl", "plain")}
            r, r_plain = ratio(med["ours"], med["trl"]), ratio(med["ours"], med["plain"])
            limit = goal("b.plain", r_plain)
            result["b"][dtype] = {"dtype": dtype, "median_step_s": med, "ours_over_trl": r, "ours_over_plain": r_plain,
                                  "trl_over_plain": ratio(med["trl"], med["plain"]), **goal("b", r),
                                  "plain_goal": limit["goal"], "plain_met": limit["met"]}
            if "skipped" in arms[f"b.trl/{dtype}"]:
                result["b"][dtype]["trl_skipped"] = arms[f"b.trl/{dtype}"]["skipped"]
    if "c.reuse" in arms and "error" not in arms["c.reuse"] and "error" not in arms["c.no_reuse"]:
        r = arms["c.reuse"]["last_over_first"]
        result["c"] = {"dtype": args.dtypes[0], "reuse_last_over_first": r,
                       "no_reuse_last_over_first": arms["c.no_reuse"]["last_over_first"],
                       "reuse_prefill_last_over_first": arms["c.reuse"]["prefill_last_over_first"],
                       "no_reuse_prefill_last_over_first": arms["c.no_reuse"]["prefill_last_over_first"],
                       **goal("c", r)}
    if "d" in args.parts:
        result["d"] = {
            "method": "VmRSS sampled every 5 ms in one process (earlier arms' memory stays counted)" if args.in_process
            else "getrusage(RUSAGE_SELF).ru_maxrss of a fresh subprocess per arm (imports and model included)",
            "cuda_method": "torch.cuda.max_memory_allocated per arm" if torch.cuda.is_available() else None,
            "peak_rss_mb": {name: arm.get("peak_rss_mb") for name, arm in arms.items()},
            "cuda_max_allocated_mb": {name: arm.get("cuda_max_allocated_mb") for name,
                                      arm in arms.items()} if torch.cuda.is_available() else None,
        }
    return result


def markdown(result: dict) -> str:
    def f(x, spec=".2f"):
        return "-" if x is None else format(x, spec)

    def x(r):  # a ratio
        return "-" if r is None else f"{r:.2f}x"

    def met(entry, key="met"):
        return {True: "met", False: "not met", None: "-"}[entry[key]]

    m, arms = result["machine"], result["arms"]
    lines = [f"Throughput, model {result['config']['model']}, {m['device']} ({m['cpu_count']} CPUs, "
             f"{m['torch_threads']} torch threads, "
             f"torch {m['torch']}, load {m['load_average_at_start'][0]:.1f})", "",
             "| part | precision | measure | value | baseline | ratio | goal | |", "|---|---|---|---|---|---|---|---|"]
    if "a" in result:
        b, s, dtype = arms["a.batched"], arms["a.sequential"], result["a"]["dtype"]
        lines.append(f"| a | {dtype} | sampled tokens/s, batched vs sequential | {f(b['tokens_per_s'], '.1f')} | "
                     f"{f(s['tokens_per_s'], '.1f')} | "
                     f"{x(result['a']['tokens_per_s_ratio'])} | {result['a']['goal']} | {met(result['a'])} |")
        lines.append(f"| a | {dtype} | episodes/s, batched vs sequential | {f(b['episodes_per_s'], '.3f')} | "
                     f"{f(s['episodes_per_s'], '.3f')} | "
                     f"{x(result['a']['episodes_per_s_ratio'])} | | |")
    for dtype, b in result.get("b", {}).items():
        med = b["median_step_s"]
        lines.append(f"| b | {dtype} | s/step, ours vs TRL GRPOTrainer | {f(med['ours'])} | {f(med['trl'])} | "
                     f"{x(b['ours_over_trl'])} | "
                     f"{b['goal']} | {met(b)} |")
        lines.append(f"| b | {dtype} | s/step, ours vs plain generate + backward | {f(med['ours'])} | "
                     f"{f(med['plain'])} | "
                     f"{x(b['ours_over_plain'])} | {b['plain_goal']} | {met(b, 'plain_met')} |")
        lines.append(f"| b | {dtype} | s/step, TRL vs plain generate + backward | {f(med['trl'])} | {f(med['plain'])} "
                     f"| {x(b['trl_over_plain'])} | | |")
    if "c" in result:
        for key, name in (("reuse", "KV cache kept"), ("no_reuse", "cache dropped each turn")):
            t = arms[f"c.{key}"]["turn_seconds"]
            lines.append(f"| c | {result['c']['dtype']} | s/turn, turn {len(t)} vs turn 1, {name} | {f(t[-1], '.3f')} "
                         f"| {f(t[0], '.3f')} | "
                         f"{x(result['c'][f'{key}_last_over_first'])} | "
                         f"{result['c']['goal'] if key == 'reuse' else ''} | "
                         f"{met(result['c']) if key == 'reuse' else ''} |")
    if "d" in result:
        lines += ["", f"Peak memory ({result['d']['method']}):", "",
                  "| arm | peak RSS MB | CUDA max allocated MB |", "|---|---|---|"]
        cuda = result["d"]["cuda_max_allocated_mb"] or {}
        lines += [f"| {name} | {f(mb, '.0f')} | {f(cuda.get(name), '.0f')} |"
                  for name, mb in result["d"]["peak_rss_mb"].items()]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=grpo_agent.EMBEDDED_MODEL,
                   help="HF id, local path, or a run folder of this project")
    p.add_argument("--parts", nargs="+", choices=["a", "b", "c", "d"], default=["a", "b", "c", "d"])
    p.add_argument("--env", default="scripted", choices=["scripted", *envs.names()], help="the env of parts a and c")
    p.add_argument("--episodes", type=int, default=8, help="episodes of parts a and c")
    p.add_argument("--turns", type=int, default=8, help="horizon of parts a and c")
    p.add_argument("--max-new-tokens", type=int, default=32, help="token cap of one turn, parts a and c")
    p.add_argument("--max-episode-tokens", type=int, default=4096)
    p.add_argument("--fixed-length", action="store_true",
                   help="part a never samples a stop token nor stops at a complete action (part c never does)")
    p.add_argument("--repeats", type=int, default=3, help="part c: rollouts per arm, per-turn median")
    p.add_argument("--num-prompts", type=int, default=8, help="part b: prompts per step")
    p.add_argument("--num-generations", type=int, default=4, help="part b: samples per prompt")
    p.add_argument("--completion-tokens", type=int, default=32, help="part b: max new tokens per sample")
    p.add_argument("--steps", type=int, default=3, help="part b: timed steps after one warm-up step")
    p.add_argument("--temperature", type=float, default=grpo_agent.Args.temperature)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dtypes", nargs="+", choices=[*DTYPES, "auto"], default=["float32"],
                   help="precisions (grpo_agent.py's --dtype): part b runs in each, parts a and c in the first; auto = "
                        "bf16-mixed where "
                        "the hardware multiplies in bf16, else float32")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of every arm (default: torch's own choice)")
    p.add_argument("--in-process", action="store_true",
                   help="run every arm in this process (fast; memory then sampled, not per arm)")
    p.add_argument("--out", default=None, help="write the result JSON here")
    p.add_argument("--arm", choices=list(ARMS), help=argparse.SUPPRESS)
    p.add_argument("--arm-config", help=argparse.SUPPRESS)
    p.add_argument("--arm-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.arm:
        return args
    for flag, ok in [("--episodes", args.episodes >= 1), ("--turns", args.turns >= 1),
                     ("--max-new-tokens", args.max_new_tokens >= 1), ("--repeats", args.repeats >= 1),
                     ("--num-prompts", args.num_prompts >= 1), ("--num-generations", args.num_generations >= 2),
                     ("--completion-tokens", args.completion_tokens >= 1), ("--steps", args.steps >= 1),
                     ("--threads", args.threads is None or args.threads >= 1), ("--temperature", args.temperature > 0),
                     ("--max-episode-tokens", args.max_episode_tokens > args.max_new_tokens)]:
        if not ok:
            p.error(f"{flag} has an invalid value")
    if set(args.parts) == {"d"}:
        p.error("--parts d reports the memory of parts a, b, c: name at least one of them")
    # auto resolved, each once
    args.dtypes = list(dict.fromkeys(cleanagent_utils.models.resolve_dtype(d, device()) for d in args.dtypes))
    return args


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.arm:
        return arm_child(args)
    machine = machine_info(args.threads)  # before the arms: the load average is the machine's, not ours
    arms = {key: run_arm(name, args, dtype) for key, name, dtype in arm_runs(args)}
    result = summarize(args, arms, machine)
    print(markdown(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
