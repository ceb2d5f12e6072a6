"""Non-finite loss or gradients: each script's `update()` skips the optimizer step, counts it
(`charts/skipped_updates`) and leaves the weights exactly as they were; a finite step still applies."""

import copy

import pytest
import torch

import grpo_agent
import ppo_agent
import reinforce_agent
from cleanagent_utils.models import load_model


def episodes(module, n=4):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        prompt, reply = (torch.randint(5, 400, (6,), generator=g).tolist(),
                         torch.randint(5, 400, (4 + i,), generator=g).tolist())
        out.append(module.Episode(task_id=i, group=i // 2, token_ids=prompt + reply,
                                  loss_mask=[0] * 6 + [1] * len(reply)))
    return out


def poisoned(advantages, poison):
    if poison == "nan_advantage":  # e.g. a NaN reward that slipped through: the loss is NaN
        advantages[1] = advantages[1].clone().fill_(float("nan"))
    return advantages


def snapshot(params):
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("module", [grpo_agent, reinforce_agent])
@pytest.mark.parametrize("poison", ["none", "nan_advantage", "inf_weight"])
def test_policy_gradient_update_skips_non_finite_steps(tiny_model_dir, module, poison):
    model, _ = load_model(str(tiny_model_dir), "float32")
    if poison == "inf_weight":  # an overflowing activation: the forward is finite nowhere downstream
        with torch.no_grad():
            model.get_decoder().layers[0].mlp.down_proj.weight[0, 0] = float("inf")
    args = module.Args(model=str(tiny_model_dir), env="vowels", num_tasks=2, group_size=2, learning_rate=1e-2,
                       update_epochs=2, num_minibatches=2)
    eps = episodes(module)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate)
    advantages = poisoned([torch.tensor(float(i) - 1.5).expand(len(ep.token_ids) - 1)
                           for i, ep in enumerate(eps)], poison)
    before = snapshot(params)
    old = module.batch_logprobs(model, eps, args, "cpu")
    # REINFORCE++ has its KL in the rewards, GRPO may have it in the loss
    refs = () if module is reinforce_agent else (None,)
    stats, skipped = module.update(model, optimizer, params, eps, advantages, old, *refs, args, torch.device("cpu"))
    changed = any(not torch.equal(a, b) for a, b in zip(before, params))
    if poison == "none":
        assert skipped == 0 and changed and all(torch.isfinite(torch.tensor(stats["grad_norm"])))
    # one episode: the one minibatch per epoch that holds it is skipped, the other applies
    elif poison == "nan_advantage":
        assert skipped == args.update_epochs and changed
        assert all(torch.isfinite(p).all() for p in params), "a NaN reached the weights"
    else:  # every forward is non-finite: every step skipped, nothing moved, not even Adam's moments
        assert skipped == args.update_epochs * args.num_minibatches
        assert not changed, "a non-finite step was applied"
        assert all(not state for state in optimizer.state.values())


@pytest.mark.parametrize("poison", ["none", "nan_advantage"])
def test_ppo_update_skips_non_finite_steps(tiny_model_dir, poison):
    model, _ = load_model(str(tiny_model_dir), "float32")
    critic = ppo_agent.Critic(copy.deepcopy(model.get_decoder()), model.config.hidden_size)
    args = ppo_agent.Args(model=str(tiny_model_dir), env="vowels", num_tasks=2, group_size=2, learning_rate=1e-2,
                          update_epochs=1, num_minibatches=1)
    eps = episodes(ppo_agent)
    params, critic_params = list(model.parameters()), list(critic.parameters())
    optimizer = torch.optim.AdamW([{"params": params}, {"params": critic_params}], lr=args.learning_rate)
    advantages = poisoned([torch.full((len(ep.token_ids) - 1,), float(i) - 1.5) for i, ep in enumerate(eps)], poison)
    returns = [torch.ones(len(ep.token_ids) - 1) for ep in eps]
    value_masks = [torch.tensor(ep.loss_mask[1:], dtype=torch.float32) for ep in eps]
    old_values = [torch.zeros(len(ep.token_ids) - 1) for ep in eps]
    before = snapshot(params + critic_params)
    _, skipped = ppo_agent.update(model, critic, optimizer, params, critic_params, eps, advantages, returns,
                                  value_masks, None, old_values, args, torch.device("cpu"))
    changed = any(not torch.equal(a, b) for a, b in zip(before, params + critic_params))
    assert (skipped, changed) == ((0, True) if poison == "none" else (1, False))
