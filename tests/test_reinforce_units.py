"""Pure functions of reinforce_agent.py against plain reference loops, on hand-made multi-turn
masks where observation tokens sit between the sampled tokens of consecutive turns."""

import math

import pytest
import torch

import reinforce_agent
from grpo_agent import grpo_advantages
from reinforce_agent import discounted_returns, reinforce_pp_advantages, rloo_advantages, token_rewards, whiten

# loss masks aligned with the log-prob positions (loss_mask[1:]): prompt, turn 1, closing + observation,
# turn 2, closing (the last token of an episode is an environment token, REFERENCE 1.3 defect 2)
MASKS = [
    [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0],
    [0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0],  # three turns, the second one token long
    [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0],  # one turn, then padding
    [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # a one-token episode
]
SCORES = [1.0, 0.5, 0.0, 2.0]


def kl_values():
    torch.manual_seed(0)
    return torch.randn(len(MASKS), len(MASKS[0])) * 0.1


def reference_returns(mask, score, kl, kl_coef, gamma):
    """Plain loop: rewards on sampled tokens only, score on the last sampled one; the return of a
    sampled token accumulates the rewards of the later sampled tokens, env tokens contribute nothing."""
    sampled = [t for t, m in enumerate(mask) if m]
    rewards = {t: -kl_coef * kl[t] for t in sampled}
    rewards[sampled[-1]] += score
    returns = [0.0] * len(mask)
    for k, t in enumerate(sampled):
        returns[t] = sum(gamma ** (j - k) * rewards[u] for j, u in enumerate(sampled) if j >= k)
    return returns


def test_token_rewards_put_the_score_on_the_last_sampled_token():
    mask = torch.tensor(MASKS, dtype=torch.float32)
    kl = kl_values()
    r = token_rewards(torch.tensor(SCORES), mask, None, 0.0)
    for i, row in enumerate(MASKS):
        last = max(t for t, m in enumerate(row) if m)
        expected = [SCORES[i] if t == last else 0.0 for t in range(len(row))]
        assert r[i].tolist() == expected
        assert row[-1] == 0 and r[i, -1] == 0.0  # never on the trailing environment token
    r = token_rewards(torch.tensor(SCORES), mask, kl, 0.5)
    for i, row in enumerate(MASKS):
        last = max(t for t, m in enumerate(row) if m)
        for t, m in enumerate(row):
            expected = (-0.5 * kl[i, t].item() + (SCORES[i] if t == last else 0.0)) if m else 0.0
            assert r[i, t].item() == pytest.approx(expected, abs=1e-6)


def test_token_rewards_empty_row_gets_nothing():
    mask = torch.tensor([[0, 0, 0], [0, 1, 0]], dtype=torch.float32)
    assert token_rewards(torch.tensor([3.0, 1.0]), mask, None, 0.0).tolist() == [[0, 0, 0], [0, 1.0, 0]]


@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("kl_coef", [0.0, 0.3])
def test_discounted_returns_match_loop(gamma, kl_coef):
    mask = torch.tensor(MASKS, dtype=torch.float32)
    kl = kl_values()
    returns = discounted_returns(token_rewards(torch.tensor(SCORES), mask, kl, kl_coef), mask, gamma)
    for i, row in enumerate(MASKS):
        expected = reference_returns(row, SCORES[i], kl[i].tolist(), kl_coef, gamma)
        assert returns[i].tolist() == pytest.approx(expected, abs=1e-6)


def test_without_kl_every_sampled_token_returns_the_outcome():
    """kl_coef 0 (no reference model): with gamma 1 each sampled token's return is the episode's reward."""
    mask = torch.tensor(MASKS, dtype=torch.float32)
    returns = discounted_returns(token_rewards(torch.tensor(SCORES), mask, None, 0.0), mask, 1.0)
    assert returns.tolist() == [[SCORES[i] * m for m in row] for i, row in enumerate(MASKS)]


@pytest.mark.parametrize("gamma", [1.0, 0.95])
def test_reinforce_pp_advantages_whiten_over_the_whole_batch(gamma):
    mask = torch.tensor(MASKS, dtype=torch.float32)
    kl = kl_values()
    adv = reinforce_pp_advantages(torch.tensor(SCORES), mask, kl, 0.2, gamma)
    returns = [reference_returns(row, SCORES[i], kl[i].tolist(), 0.2, gamma) for i, row in enumerate(MASKS)]
    flat = [returns[i][t] for i, row in enumerate(MASKS) for t, m in enumerate(row) if m]
    mean = sum(flat) / len(flat)
    var = sum((x - mean) ** 2 for x in flat) / len(flat)
    for i, row in enumerate(MASKS):
        expected = [(returns[i][t] - mean) / math.sqrt(var + 1e-8) if m else 0.0 for t, m in enumerate(row)]
        assert adv[i].tolist() == pytest.approx(expected, abs=1e-5)
    sampled = adv[mask.bool()]
    assert sampled.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert sampled.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_whiten_constant_returns_is_zero_not_nan():
    mask = torch.tensor(MASKS, dtype=torch.float32)
    out = whiten(torch.ones_like(mask) * 3.0, mask)
    assert torch.isfinite(out).all() and out.abs().max().item() == 0.0
    assert whiten(torch.ones(2, 3), torch.zeros(2, 3)).abs().max().item() == 0.0  # nothing sampled


def test_rloo_group_size_two():
    adv = rloo_advantages(torch.tensor([1.0, 0.25, 0.0, 0.0]), torch.tensor([0, 0, 1, 1]))
    assert adv.tolist() == [0.75, -0.75, 0.0, 0.0]


def test_rloo_singleton_group_gets_zero_like_grpo():
    """A singleton group has no other member to form a leave-one-out baseline: advantage 0, as GRPO gives it."""
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.75, 0.25])
    groups = torch.tensor([0, 1, 2, 3, 3])
    assert rloo_advantages(rewards, groups).tolist() == [0.0, 0.0, 0.0, 0.5, -0.5]
    singles = rloo_advantages(rewards[:3], groups[:3])
    assert singles.tolist() == grpo_advantages(rewards[:3], groups[:3]).tolist() == [0.0, 0.0, 0.0]


def test_rloo_interleaved_groups_match_loop():
    torch.manual_seed(1)
    rewards = torch.rand(11)
    groups = torch.tensor([2, 0, 1, 0, 2, 1, 1, 0, 2, 3, 0])
    adv = rloo_advantages(rewards, groups)
    for i in range(11):
        others = [rewards[j].item() for j in range(11) if groups[j] == groups[i] and j != i]
        expected = rewards[i].item() - sum(others) / len(others) if others else 0.0
        assert adv[i].item() == pytest.approx(expected, abs=1e-6)


def test_rloo_token_advantages_on_multi_turn_masks():
    """--baseline rloo: the leave-one-out score on the last sampled token, returns over sampled tokens, no whitening."""
    mask = torch.tensor(MASKS, dtype=torch.float32)
    kl = kl_values()
    groups = torch.tensor([0, 0, 1, 1])
    scores = rloo_advantages(torch.tensor(SCORES), groups)
    adv = discounted_returns(token_rewards(scores, mask, kl, 0.1), mask, 1.0)
    for i, row in enumerate(MASKS):
        other = SCORES[i ^ 1]
        expected = reference_returns(row, SCORES[i] - other, kl[i].tolist(), 0.1, 1.0)
        assert adv[i].tolist() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("flags, message",
                         [({"gamma": 0.0}, "--gamma"), ({"gamma": 1.5}, "--gamma"), ({"kl_coef": -1.0}, "--kl-coef"),
                                            ({"baseline": "rloo", "group_size": 1},
                                             "--baseline rloo needs --group-size >= 2")])
def test_bad_flags_fail_fast_naming_the_flag(flags, message):
    with pytest.raises(SystemExit, match=message):
        reinforce_agent.validate_args(reinforce_agent.Args(env="vowels", **flags))
    reinforce_agent.validate_args(reinforce_agent.Args(env="vowels"))  # the defaults are valid
