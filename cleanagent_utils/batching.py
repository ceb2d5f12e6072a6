"""Log-probs of sampled tokens, and the update's minibatches and micro-batches: micro-batched to a token
budget (a memory knob that never changes the result), the same minibatches on every rank, so that an
update written for one process takes the same step on N."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import torch
import torch.distributed as dist

from cleanagent_utils.distributed import broadcast, gather, gradient_sync
from cleanagent_utils.models import autocast


def token_logprobs(model, input_ids, attention_mask, loss_mask, temperature: float, with_entropy: bool = False,
                   with_hidden: bool = False, entropy_grad: bool = False):
    """Log-probs of input_ids[:, 1:] under the model at `temperature`, only where loss_mask[:, 1:] is 1.

    input_ids, attention_mask, loss_mask: [B, T]. Returns logprobs [B, T-1] (0 off the mask), the
    entropy [B, T-1] if asked (else None) and, with `with_hidden`, the backbone's last hidden states
    [B, T, H] as a third value (for the value head on the shared backbone). The entropy is
    differentiable only with `entropy_grad` (an entropy bonus; as a metric it would double the backward
    through the vocabulary-sized tensors). The LM head runs only on
    the positions the loss needs (the model's boolean `logits_to_keep`), which is what keeps long
    episodes (mostly environment tokens) cheap. It is one call of the model's forward, so DDP's and
    FSDP's hooks run.
    """
    select = loss_mask[:, 1:].bool()
    keep = torch.nn.functional.pad(select, (0, 1))  # the hidden state at t predicts token t + 1
    out = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, use_cache=False,
                output_hidden_states=with_hidden)
    logp_all = torch.log_softmax(out.logits.float() / temperature, dim=-1)
    logp = logp_all.gather(-1, input_ids[:, 1:][select].unsqueeze(-1)).squeeze(-1)
    dense = torch.zeros(select.shape, dtype=logp.dtype, device=logp.device).masked_scatter(select, logp)
    entropy = None
    if with_entropy:
        with torch.enable_grad() if entropy_grad else torch.no_grad():
            entropy = torch.zeros_like(dense).masked_scatter(select, -(logp_all.exp() * logp_all).sum(-1))
    return (dense, entropy, out.hidden_states[-1]) if with_hidden else (dense, entropy)


def micro_batches(lengths: list[int], token_budget: int) -> list[list[int]]:
    """Group indices (sorted by length) so that each group's padded size len * max_len fits the budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > token_budget:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def pad_batch(episodes: list, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ep.token_ids) for ep in episodes)
    ids = torch.tensor([ep.token_ids + [0] * (width - len(ep.token_ids)) for ep in episodes], device=device)
    attn = torch.tensor([[1] * len(ep.token_ids) + [0] * (width - len(ep.token_ids)) for ep in episodes], device=device)
    mask = torch.tensor([ep.loss_mask + [0] * (width - len(ep.loss_mask)) for ep in episodes], device=device)
    return ids, attn, mask


@torch.no_grad()
def batch_logprobs(model, episodes: list, args, device) -> list[torch.Tensor]:
    """Per-episode log-probs [len-1] of the current weights, without gradients, micro-batched."""
    out = [None] * len(episodes)
    for mb in micro_batches([len(ep.token_ids) for ep in episodes], args.micro_batch_tokens):
        ids, attn, mask = pad_batch([episodes[i] for i in mb], device)
        with autocast(args.dtype, device):  # as in the update: the ratio and the KL compare like with like
            logp, _ = token_logprobs(model, ids, attn, mask, args.temperature)
        for row, i in enumerate(mb):
            out[i] = logp[row, : len(episodes[i].token_ids) - 1]
    return out


def global_totals(masks: list[torch.Tensor]) -> tuple[int, float]:
    """(episodes, sampled tokens) of a minibatch over all ranks, so every rank weights its loss terms as one
    process would weight the whole minibatch."""
    return tuple(sum(column) for column in zip(*gather((len(masks), sum(float(m.sum()) for m in masks)))))


def minibatches(episodes: list, num_minibatches: int):
    """This rank's share (indices into `episodes`) of each of `num_minibatches` minibatches drawn over the
    episodes of all ranks in rank order, the same draw on every rank: N ranks take the steps one process
    takes on all their episodes."""
    counts = gather(len(episodes))
    rank = dist.get_rank() if dist.is_initialized() else 0
    offset, total = sum(counts[:rank]), sum(counts)
    order = broadcast(np.random.permutation(total))
    for minibatch in np.array_split(order, num_minibatches) if total else []:
        yield [i - offset for i in minibatch.tolist() if offset <= i < offset + len(episodes)]


class MicroBatch:
    """Some episodes of a minibatch, padded: `ids`, `attn`, `mask` [b, T]; `dense(per_episode)` pads per-episode
    [len-1] tensors to [b, T-1]; `backward(loss)` for a loss already weighted over the whole minibatch."""

    def __init__(self, episodes: list, rows: list[int], minibatch: list[int], device, world_size: int):
        self.rows = rows  # positions in the minibatch
        self.index = [minibatch[j] for j in rows]  # positions in the rank's episodes
        self.ids, self.attn, self.mask = pad_batch([episodes[i] for i in self.index], device)
        self.tokens = self.mask[:, 1:].float()
        self.world_size = world_size

    def dense(self, per_episode: list[torch.Tensor], by_row: bool = False) -> torch.Tensor:
        """Per-episode tensors (indexed like the episodes, or like the minibatch with `by_row`) as [b, T-1]."""
        width = self.ids.shape[1] - 1
        picked = [per_episode[j] for j in self.rows] if by_row else [per_episode[i] for i in self.index]
        return torch.stack([torch.nn.functional.pad(x, (0, width - len(x))) for x in picked])

    def backward(self, loss: torch.Tensor) -> None:
        (loss * self.world_size).backward()  # DDP and FSDP average the ranks' gradients; the weights already are global


def micro_batch_passes(modules: list, episodes: list, minibatch: list[int], token_budget: int, device, zero_loss):
    """The micro-batches of this rank's share of a minibatch, each within `token_budget` padded tokens.
    Every rank runs as many forward/backward passes (collectives under DDP/FSDP2): where a rank has run out,
    `zero_loss()` (a zero loss through the same modules) is backpropagated instead. The gradients of
    `modules` are synchronised only in the last pass (they accumulate locally before)."""
    world_size = len(gather(0))
    chunks = micro_batches([len(episodes[i].token_ids) for i in minibatch], token_budget)
    chunks += [[]] * (max(gather(len(chunks))) - len(chunks))
    for k, rows in enumerate(chunks):
        with contextlib.ExitStack() as stack:
            for module in modules:
                stack.enter_context(gradient_sync(module, k == len(chunks) - 1))
            if not rows:
                zero_loss().backward()
                continue
            yield MicroBatch(episodes, rows, minibatch, device, world_size)


def clipped_step(optimizer, param_groups: list[list], max_norm: float) -> tuple[list[float], bool]:
    """Clip each group's gradient norm to `max_norm`, step unless a norm is not finite (a non-finite gradient is
    never applied), zero the gradients. Returns (the norms before clipping, whether the step was taken)."""
    norms = []
    for params in param_groups:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        norms.append(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP2: a DTensor
    applied = all(bool(torch.isfinite(n)) for n in norms)
    if applied:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return [float(n) for n in norms], applied


def with_cut_state(ep):
    """A copy of a horizon-cut episode for the critic to read V(the state it was cut in) from: the last
    observation (`cut_observation`, mask 0), then one placeholder token with mask 1, so that the critic,
    which reads the state before each masked-in token, reads that state at the sequence's new last position
    but one. The tokens after the sequence change no value before them (causal attention)."""
    return replace(ep, token_ids=ep.token_ids + ep.cut_observation + [0],
                   loss_mask=ep.loss_mask + [0] * len(ep.cut_observation) + [1])


@torch.no_grad()
def batch_values(critic, episodes: list, args, device,
                 bootstrap: list[bool] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per-episode critic values [len-1] (0 off the sampled tokens), without gradients, micro-batched; and [N] on
    the CPU the value of the state a horizon cut left each episode in where `bootstrap` says so, else 0."""
    bootstrap = bootstrap or [False] * len(episodes)
    seqs = [with_cut_state(ep) if b else ep for ep, b in zip(episodes, bootstrap)]  # the same forward pass reads both
    out, cut_values = [None] * len(episodes), torch.zeros(len(episodes))
    for mb in micro_batches([len(s.token_ids) for s in seqs], args.micro_batch_tokens):
        ids, attn, mask = pad_batch([seqs[i] for i in mb], device)
        with autocast(args.dtype, device):
            values = critic(ids, attn, mask)
        for row, i in enumerate(mb):
            out[i] = values[row, : len(episodes[i].token_ids) - 1]
            if bootstrap[i]:
                cut_values[i] = values[row, len(seqs[i].token_ids) - 2].float().cpu()
    return out, cut_values
