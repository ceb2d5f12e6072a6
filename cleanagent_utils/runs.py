"""Run plumbing: the command line and resume, the run folder, logs and checkpoints, seeding, memory
hand-back, the envs and task splits of a run (in this process or on env servers)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import inspect
import json
import os
import random
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import tyro
from torch.utils.tensorboard import SummaryWriter

import envs
from cleanagent_utils.distributed import broadcast, gather, init_distributed, merge_stats
from cleanagent_utils.models import resolve_dtype


def release_freed_memory() -> None:
    """Hand the memory the last phase freed (the rollout's KV cache, the update's activations) back to the OS.
    glibc keeps freed heap chunks for reuse, and tensors grown step by step (a KV cache) fragment its heap,
    so without this the process holds the peak of the rollout and the peak of the update at once."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        with contextlib.suppress(OSError, AttributeError):  # mimalloc preloaded (`make run`): its pages too
            ctypes.CDLL(None).mi_collect(True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def env_options(args) -> dict:
    """--env-options "a=1,b=x" -> {"a": 1, "b": "x"} (ints, floats, true/false/none converted)."""
    try:
        return envs.parse_options(args.env_options)
    except ValueError as e:
        raise SystemExit(f"error: --env-options: {e}") from None


def make_env(args, slot: int = 0):
    """The env of episode slot `slot`: in this process, or a client of one of the --env-url servers."""
    if args.env_url:
        from envs.remote import RemoteEnv

        return RemoteEnv(args.env_url[slot % len(args.env_url)], env=args.env, action_format=args.action_format)
    try:
        return envs.make(args.env, action_format=args.action_format, **env_options(args))
    except (TypeError, ValueError) as e:  # a bad option value: name the flag, no traceback
        raise SystemExit(f"error: --env-options: {e}") from None


def task_splits(args) -> tuple[list[int], list[int]]:
    """(train task ids, the first --eval-tasks test task ids) of --env and --task-tier: from the env server's
    /tasks with --env-url (AgentGym's servers list none: the local env's split), else from the local env."""
    if args.env_url:
        from envs.remote import remote_tasks

        train, test = (remote_tasks(args.env_url[0], split, args.task_tier, env=args.env)
                       for split in ("train", "test"))
    else:
        train, test = (envs.tasks(args.env, split, tier=args.task_tier, **env_options(args))
                       for split in ("train", "test"))
    if len(train) < args.num_tasks:
        raise SystemExit(f"error: --num-tasks {args.num_tasks} exceeds the {len(train)} train tasks of {args.env} tier "
                         f"{args.task_tier}")
    return train, test[: args.eval_tasks]


def horizon_of(args, iteration: int, schedule: dict, horizon_at) -> int:
    """The interaction horizon of `iteration`: the fixed ScalingInter phases, or the adaptive schedule's phase."""
    if args.horizon_schedule == "fixed":
        return horizon_at(iteration, args.horizons, args.horizon_phase_iterations)
    return args.horizons[schedule["phase"]]


class Run:
    """A run's folder, logs and checkpoint: created, or resumed from `--resume FOLDER`.

    Rank 0 writes (tensorboard in the folder, optionally mirrored to W&B); every rank knows `start_iteration`,
    the adaptive horizon's `schedule` and the `checkpoint` it resumed from (None for a new run).
    """

    def __init__(self, args, rank: int, world_size: int, device, checkpoint: dict | None):
        self.args, self.rank, self.world_size, self.device = args, rank, world_size, device
        self.checkpoint = checkpoint
        self.start_iteration = checkpoint["iteration"] if checkpoint else 0
        self.schedule = checkpoint.get("schedule") if checkpoint else None
        self.schedule = self.schedule or {"phase": 0, "success": [], "cut": []}
        self.dir = Path(args.resume) if args.resume else Path(args.runs_dir) / args.run_name
        self.writer = None
        if rank == 0:  # rank 0 writes the logs, checkpoints and the final model
            self.dir.mkdir(parents=True, exist_ok=True)
            # a checkpoint write cut short by a kill: never read, removed
            for stale in self.dir.glob("checkpoint.tmp*"):
                stale.unlink()
            if args.track:
                try:
                    import wandb
                except ImportError:
                    raise SystemExit("error: --track needs `pip install wandb`")
                # the run's name is its W&B id, so a resumed run continues its own W&B run
                wandb.init(project=args.wandb_project_name, sync_tensorboard=True, config=vars(args),
                           name=args.run_name, id=args.run_name.replace(".", "-"), save_code=True, resume="allow")
            self.writer = SummaryWriter(str(self.dir), purge_step=self.start_iteration if args.resume else None)
            self.writer.add_text("hyperparameters",
                                 "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    def scalar(self, name: str, value: float, iteration: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(name, value, iteration)

    def save_checkpoint(self, state: dict) -> None:
        """Write atomically (rank 0): a temp file renamed over the old one, so a kill never leaves half a checkpoint."""
        if self.rank != 0:
            return
        path = self.dir / "checkpoint.pt"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.rank == 0:
            print(f"run folder: {self.dir}")


def start_run(args_class, validate):
    """Parse the command line, resume or name the run, validate, resolve the precision; -> (args, Run).

    `--resume FOLDER` continues a run with the arguments it was started with, from its last checkpoint; only
    `--total-iterations` may be given again (to extend it). Any other flag given with `--resume` is refused,
    since it would silently not apply.
    """
    args = tyro.cli(args_class)
    rank, world_size, device = init_distributed()
    checkpoint = None
    if args.resume:
        checkpoint_path = Path(args.resume) / "checkpoint.pt"
        if not checkpoint_path.exists():
            raise SystemExit(f"error: --resume {args.resume}: no checkpoint.pt in that folder")
        defaults = args_class()
        given = [f.name for f in fields(args) if f.init and f.name not in ("resume", "total_iterations")
                 and getattr(args, f.name) != getattr(defaults, f.name)]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise SystemExit(f"error: --resume continues a run with the arguments it was started with; {flags} "
                             "would not apply "
                             "(only --total-iterations may be given, to extend the run)")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        saved = {k: v for k, v in checkpoint["args"].items() if k != "run_name"}
        saved["horizons"] = tuple(saved["horizons"])
        saved["env_url"] = tuple(saved.get("env_url", ()))
        extend = args.total_iterations if args.total_iterations != defaults.total_iterations else None
        resume = args.resume
        args = args_class(**saved)
        args.resume, args.run_name = resume, Path(resume).name
        args.total_iterations = extend if extend is not None else saved["total_iterations"]
    else:
        # rank 0's clock names the run
        args.run_name = broadcast(f"{args.env}__{args.exp_name}__{args.seed}__{int(time.time())}")
    validate(args)
    args.dtype = resolve_dtype(args.dtype, device)  # saved resolved: a resume keeps the precision it started with
    if rank == 0:
        print(f"precision: {args.dtype}"
              + (" (--dtype auto: this device multiplies in bf16)" if args.dtype == "bf16-mixed" else ""))
    if args.num_tasks < world_size:
        raise SystemExit(f"error: --num-tasks must be >= the {world_size} processes (a group is played on one rank)")
    if args.fsdp and not dist.is_initialized():
        raise SystemExit("error: --fsdp shards over the processes that torchrun starts (`torchrun "
                         "--nproc_per_node N ... --fsdp`)")
    return args, Run(args, rank, world_size, device, checkpoint)


def log_iteration(run: Run, progress, iteration: int, episodes: list, horizon: int, stats: dict, skipped_updates: int,
                  advantage_abs: tuple[float, float], times: dict, sampled_tokens: int, diffs: list[float],
                  extra: dict | None = None) -> dict:
    """Every rank: the iteration's metrics over the episodes of all ranks (the adaptive horizon needs them);
    rank 0 writes them to tensorboard and prints one JSON line. `advantage_abs`: (sum of |advantage| over the
    sampled tokens, their count) on this rank; `extra`: more scalars by tensorboard name. Returns the metrics."""
    args = run.args
    slim = [replace(ep, token_ids=[], loss_mask=[], transcript=[],
                    engine_logprobs=[], cut_observation=[]) for ep in episodes]
    played = [ep for part in gather(slim) for ep in part if not ep.failed]  # the episodes whose env did not fail
    sampled_tokens, rollout_time = sum(gather(sampled_tokens)), max(gather(times["rollout"]))
    stats = merge_stats(gather(stats))
    abs_sums, token_counts = zip(*gather(tuple(float(x) for x in advantage_abs)))
    diffs = [d for part in gather(diffs) for d in part]
    turns = max(sum(ep.turns for ep in played), 1)

    def mean(values):
        return float(np.mean(values)) if played else 0.0

    metrics = {
        "success_rate": mean([ep.success for ep in played]),
        "episodic_return": mean([ep.reward for ep in played]),
        "format_reward": mean([ep.format_reward for ep in played]),
        "episode_turns": mean([ep.turns for ep in played]),
        "truncated_rate": mean([ep.truncated for ep in played]),
        # the adaptive horizon counts only the horizon's cuts: the token budget's and the env's own are no sign that it
        # is short
        "horizon_cut_rate": mean([ep.horizon_cut for ep in played]),
        "invalid_action_rate": sum(ep.invalid_actions for ep in played) / turns,
        "env_failures": args.num_tasks * args.group_size - len(played),
        "tokens_per_sec": sampled_tokens / max(rollout_time, 1e-9),
    }
    if run.rank == 0:
        for name, value in metrics.items():
            run.scalar(f"charts/{name}", value, iteration)
        run.scalar("charts/horizon", horizon, iteration)
        run.scalar("charts/skipped_updates", skipped_updates, iteration)
        for name, values in stats.items():
            if values:
                run.scalar(f"losses/{name}", float(np.mean(values)), iteration)
        run.scalar("losses/advantage_abs_mean",
                   sum(abs_sums) / sum(token_counts) if sum(token_counts) else 0.0, iteration)
        for name, value in (extra or {}).items():
            run.scalar(name, value, iteration)
        run.scalar("time/rollout", rollout_time, iteration)
        run.scalar("time/update", times["update"], iteration)
        gpu_peak_gb = torch.cuda.max_memory_allocated(run.device) / 2**30 if run.device.type == "cuda" else None
        if gpu_peak_gb is not None:
            run.scalar("perf/gpu_peak_memory_gb", gpu_peak_gb, iteration)
        if diffs:  # vLLM: |engine - trainer| log-prob of the sampled tokens
            run.scalar("debug/logprob_diff", float(np.mean(diffs)), iteration)
            run.scalar("debug/logprob_diff_max", float(np.max(diffs)), iteration)
        run.writer.add_text("episodes/sample", "\n\n".join(episodes[0].transcript), iteration)
        progress.set_postfix(success=f"{metrics['success_rate']:.2f}",
                             ret=f"{metrics['episodic_return']:.2f}", horizon=horizon)
        line = {"iteration": iteration, "success_rate": round(metrics["success_rate"], 4),
                "episodic_return": round(metrics["episodic_return"], 4),
                "invalid_action_rate": round(metrics["invalid_action_rate"], 4), "horizon": horizon,
                "env_failures": metrics["env_failures"], "rollout_s": round(rollout_time, 1),
                "update_s": round(times["update"], 1), "tokens_per_s": round(metrics["tokens_per_sec"], 1)}
        if gpu_peak_gb is not None:
            line["gpu_peak_gb"] = round(gpu_peak_gb, 2)
        if diffs:
            line["logprob_diff"] = round(float(np.mean(diffs)), 5)
        progress.write(json.dumps(line))
    return metrics


def check_args(args, method_checks: list[tuple[bool, str]]) -> None:
    """Fail fast, naming the flag, before anything expensive happens: the flags every script has, then the
    method's own `(condition, message)` checks."""
    checks = [
        (args.env in envs.names(), f"--env must be one of {envs.names()}, got {args.env!r}"),
        (args.total_iterations >= 1, "--total-iterations must be >= 1"),
        (args.num_tasks >= 1, "--num-tasks must be >= 1"),
        (args.group_size >= 1, "--group-size must be >= 1"),
        (args.learning_rate > 0, "--learning-rate must be > 0"),
        (args.max_new_tokens >= 1, "--max-new-tokens must be >= 1"),
        (args.max_episode_tokens > args.max_new_tokens, "--max-episode-tokens must exceed --max-new-tokens"),
        (args.temperature > 0, "--temperature must be > 0 (log-probs are computed at this temperature)"),
        (len(args.horizons) >= 1 and min(args.horizons) >= 1, "--horizons must be one or more integers >= 1"),
        (args.horizon_phase_iterations >= 1, "--horizon-phase-iterations must be >= 1"),
        (args.adaptive_patience >= 1 and args.adaptive_min_iterations >= 1,
         "--adaptive-patience and --adaptive-min-iterations must be >= 1"),
        (0.0 <= args.adaptive_cut_rate <= 1.0, "--adaptive-cut-rate must be in [0, 1]"),
        (args.clip_coef > 0, "--clip-coef must be > 0"),
        (args.kl_coef >= 0, "--kl-coef must be >= 0"),
        *method_checks,
        (args.update_epochs >= 1, "--update-epochs must be >= 1"),
        (1 <= args.num_minibatches <= args.num_tasks * args.group_size,
         "--num-minibatches must be in [1, num_tasks * group_size]"),
        (args.micro_batch_tokens >= args.max_episode_tokens, "--micro-batch-tokens must be >= --max-episode-tokens"),
        (args.lora_rank >= 0, "--lora-rank must be >= 0"),
        (0 < args.vllm_gpu_memory_utilization < 1, "--vllm-gpu-memory-utilization must be in (0, 1)"),
        (args.save_every >= 0 and args.eval_every >= 0 and args.eval_tasks >= 0,
         "--save-every, --eval-every, --eval-tasks must be >= 0"),
        (args.eval_k >= 1, "--eval-k must be >= 1"),
        (args.eval_horizon >= 0, "--eval-horizon must be >= 0 (0: the last of --horizons)"),
    ]
    for ok, message in checks:
        if not ok:
            raise SystemExit(f"error: {message}")
    if args.rollout_backend == "vllm" and not torch.cuda.is_available():
        raise SystemExit("error: --rollout-backend vllm needs a CUDA GPU (the default --rollout-backend "
                         "hf runs anywhere)")
    if args.rollout_backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise SystemExit("error: --rollout-backend vllm needs vLLM: pip install -r requirements-gpu.txt")
    options = env_options(args)
    if args.env_url and options:
        raise SystemExit("error: --env-options: with --env-url the env's options belong to the server (`python -m "
                         "envs.server --env-options ...`)")
    accepted = inspect.signature(envs.env_class(args.env).__init__).parameters
    for key in options:
        if key not in accepted or key in ("self", "action_format"):
            names = [p for p in accepted if p not in ("self", "action_format")]
            raise SystemExit(f"error: --env-options: env {args.env!r} has no option {key!r}; its options are: "
                             f"{', '.join(names) or 'none'}")


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over the masked entries (nan when Var(R) is 0), as CleanRL logs it."""
    m = mask.bool()
    y, v = returns[m], values[m]
    if y.numel() == 0 or y.var(unbiased=False) == 0:
        return float("nan")
    return float(1 - (y - v).var(unbiased=False) / y.var(unbiased=False))
