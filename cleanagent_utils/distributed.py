"""Several processes (torchrun): each rank plays a share of the task groups, the gradients are summed
(DDP) or sharded (FSDP2). In one process every helper is a no-op, so a script reads as
single-process code."""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.nn.parallel import DistributedDataParallel
from transformers.modeling_layers import GradientCheckpointingLayer


def init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE set) join the process group, nccl with
    one GPU per rank or gloo on CPU; a plain `python script.py` is rank 0 of 1 and joins nothing."""
    cuda = torch.cuda.is_available()
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, torch.device("cuda" if cuda else "cpu")
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    return dist.get_rank(), dist.get_world_size(), device


def gather(obj) -> list:
    """`obj` (picklable, tensors on CPU) of every rank, in rank order; [obj] in one process."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj):
    """Rank 0's `obj` on every rank."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank_share(items: list, rank: int, world_size: int) -> list:
    """This rank's contiguous block of `items` (sizes differ by at most one): in rank order the blocks
    are `items` again, so the ranks' episodes in rank order are the episodes of one process."""
    size, extra = divmod(len(items), world_size)
    start = rank * size + min(rank, extra)
    return items[start : start + size + (rank < extra)]


def wrap_model(model, fsdp: bool, device):
    """The module the update runs forward and backward through. DDP: a wrapper whose backward
    all-reduces the gradients (the model itself stays unwrapped for the rollout and the saving).
    FSDP2: the model itself, its parameters, gradients and optimizer state sharded over the ranks
    (one unit per decoder layer, the rest, e.g. embeddings, final norm and head, in the root)."""
    if not dist.is_initialized():
        return model
    if fsdp:
        # transformers' decoder layers
        for layer in [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]:
            fully_shard(layer)
        fully_shard(model)
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


@contextlib.contextmanager
def full_parameters(model):
    """FSDP2: every rank holds the full parameters inside, so the ranks may run different numbers of
    forward passes (rollout, log-probs without gradients) without meeting in collectives. No-op otherwise."""
    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for unit in units:
        unit.unshard()
        unit.set_reshard_after_forward(False, recurse=False)
    try:
        yield
    finally:
        for unit in units:
            # FSDP's default: the root keeps its parameters
            unit.set_reshard_after_forward(unit is not model, recurse=False)
            unit.reshard()


def gradient_sync(train_model, sync: bool):
    """Whether this backward all-reduces (DDP) or reduce-scatters (FSDP2) the gradients; without, they
    accumulate locally. A context manager (DDP's `no_sync`), a setting for FSDP2."""
    if isinstance(train_model, FSDPModule):
        train_model.set_requires_gradient_sync(sync)
    elif isinstance(train_model, DistributedDataParallel) and not sync:
        return train_model.no_sync()
    return contextlib.nullcontext()


def full_state_dict(module, fsdp: bool, lora: bool) -> dict:
    """The module's unsharded state dict, with LoRA only its trainable weights (the adapters). FSDP2:
    gathered to rank 0, a collective every rank calls; empty on the other ranks."""
    state = (get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True)) if fsdp
             else module.state_dict())
    if lora:
        trainable = {name for name, p in module.named_parameters() if p.requires_grad}
        state = {k: v for k, v in state.items() if k in trainable}
    return state


def full_optimizer_state(module, optimizer, fsdp: bool) -> dict:
    """The optimizer's unsharded state dict; FSDP2: keyed by the names of `module`'s parameters, gathered
    to rank 0 (a collective). `load_optimizer_state` reads it back."""
    return (get_optimizer_state_dict(module, optimizer,
                                     options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            if fsdp else optimizer.state_dict())


def load_optimizer_state(module, optimizer, state: dict, fsdp: bool) -> None:
    if fsdp:  # every rank keeps its shard of the full state
        set_optimizer_state_dict(module, optimizer, state, options=StateDictOptions(full_state_dict=True))
    else:
        optimizer.load_state_dict(state)


def merge_stats(per_rank: list[dict]) -> dict:
    """The update's metric lists of all ranks as one: a minibatch's loss is the sum of the ranks'
    shares (the loss weights are global), a grad norm is the same on every rank, the rest is pooled."""
    merged = {}
    for k in per_rank[0]:
        if k.endswith("_loss"):
            merged[k] = [sum(v) for v in zip(*(stats[k] for stats in per_rank))]
        elif k.endswith("grad_norm"):
            merged[k] = per_rank[0][k]
        else:
            merged[k] = [v for stats in per_rank for v in stats[k]]
    return merged


def average_gradients(params: list) -> None:
    """Average the gradients of parameters that are in no DDP/FSDP module over the ranks (no-op in one process)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    for p in params:
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()
