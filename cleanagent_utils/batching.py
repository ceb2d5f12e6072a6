"""Log-probs of sampled tokens, micro-batched to a token budget (a memory knob that never changes
the result)."""

from __future__ import annotations

import torch

from cleanagent_utils.models import autocast


def token_logprobs(model, input_ids, attention_mask, loss_mask, temperature: float, with_entropy: bool = False, with_hidden: bool = False,
                   entropy_grad: bool = False):
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
    out = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, use_cache=False, output_hidden_states=with_hidden)
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
