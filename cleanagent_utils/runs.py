"""Run plumbing: seeding, memory hand-back, the envs of a run (in this process or on env servers)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import random
import sys

import numpy as np
import torch

import envs


def release_freed_memory() -> None:
    """Hand the memory the last phase freed (the rollout's KV cache, the update's activations) back to the OS.
    glibc keeps freed heap chunks for reuse, and tensors grown step by step (a KV cache) fragment its heap,
    so without this the process holds the peak of the rollout and the peak of the update at once."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


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
