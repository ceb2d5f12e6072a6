"""Pure functions and the critic of ppo_agent.py against plain reference loops, on hand-made
multi-turn masks where observation tokens sit between the sampled tokens of consecutive turns;
and an exact resume that includes the critic."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ppo_agent
from cleanagent_utils.batching import batch_values, with_cut_state
from cleanagent_utils.runs import explained_variance
from ppo_agent import (
    Args,
    Critic,
    Episode,
    clipped_value_loss,
    from_turns,
    gae_advantages,
    to_turns,
    token_rewards,
    turn_starts,
)

REPO = Path(__file__).resolve().parents[1]

# loss masks aligned with the log-prob positions (loss_mask[1:]); every episode ends on an environment token
MASKS = [
    [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0],
    [0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0],  # three turns, the second one token long
    [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0],  # one turn, then padding
    [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # a one-token episode
]
SCORES = [1.0, 0.5, 0.0, 2.0]


def inputs(kl_coef=0.1):
    torch.manual_seed(0)
    mask = torch.tensor(MASKS, dtype=torch.float32)
    kl = torch.randn(mask.shape) * 0.1
    values = torch.rand(mask.shape)
    values = torch.where(mask.bool(), values, 100.0)  # values on environment tokens must never be read
    return mask, token_rewards(torch.tensor(SCORES), mask, kl, kl_coef), values


def runs(mask_row):
    """The turns of a row: lists of consecutive sampled positions."""
    turns = []
    for t, m in enumerate(mask_row):
        if m and (t == 0 or not mask_row[t - 1]):
            turns.append([])
        if m:
            turns[-1].append(t)
    return turns


def reference_gae(step_rewards, step_values, gamma, lam, last_value=0.0):
    """Plain GAE over a list of steps; the value after the last step is `last_value` (0: terminal)."""
    advantages, next_value, next_advantage = [0.0] * len(step_rewards), last_value, 0.0
    for k in reversed(range(len(step_rewards))):
        delta = step_rewards[k] + gamma * next_value - step_values[k]
        advantages[k] = delta + gamma * lam * next_advantage
        next_value, next_advantage = step_values[k], advantages[k]
    return advantages


@pytest.mark.parametrize("gamma, lam", [(1.0, 1.0), (1.0, 0.95), (0.9, 1.0), (0.99, 0.9)])
def test_token_gae_matches_loop_over_sampled_tokens(gamma, lam):
    mask, rewards, values = inputs()
    adv, ret = gae_advantages(rewards, values, mask, gamma, lam)
    for i, row in enumerate(MASKS):
        sampled = [t for t, m in enumerate(row) if m]
        expected = reference_gae([rewards[i, t].item() for t in sampled],
                                 [values[i, t].item() for t in sampled], gamma, lam)
        for t in range(len(row)):
            if t in sampled:
                k = sampled.index(t)
                assert adv[i, t].item() == pytest.approx(expected[k], abs=1e-5)
                assert ret[i, t].item() == pytest.approx(expected[k] + values[i, t].item(), abs=1e-5)
            else:
                assert adv[i, t].item() == 0.0 and ret[i, t].item() == 0.0


def test_gae_with_gamma_and_lambda_one_is_return_minus_value():
    """Telescoping: with gamma = lambda = 1, A_t = (sum of the rewards of this and later sampled tokens) - V_t,
    so the return target is the outcome plus the KL penalties to go, whatever the critic says."""
    mask, rewards, values = inputs()
    adv, ret = gae_advantages(rewards, values, mask, 1.0, 1.0)
    for i, row in enumerate(MASKS):
        for t, m in enumerate(row):
            if m:
                to_go = sum(rewards[i, u].item() for u in range(t, len(row)) if row[u])
                assert ret[i, t].item() == pytest.approx(to_go, abs=1e-5)
                assert adv[i, t].item() == pytest.approx(to_go - values[i, t].item(), abs=1e-5)


def test_gae_lambda_zero_is_one_step_td():
    mask, rewards, values = inputs()
    adv, _ = gae_advantages(rewards, values, mask, 0.9, 0.0)
    for i, row in enumerate(MASKS):
        sampled = [t for t, m in enumerate(row) if m]
        for k, t in enumerate(sampled):
            next_value = values[i, sampled[k + 1]].item() if k + 1 < len(sampled) else 0.0
            assert adv[i, t].item() == pytest.approx(rewards[i, t].item() + 0.9 * next_value
                                                     - values[i, t].item(), abs=1e-5)


def test_terminal_reward_reaches_earlier_turns_across_observations():
    """Only the outcome, on the last sampled token: GAE carries it back over the observation tokens
    with one gamma * lambda per sampled token, none per environment token."""
    mask = torch.tensor([MASKS[0]], dtype=torch.float32)
    rewards = token_rewards(torch.tensor([1.0]), mask, None, 0.0)
    assert rewards[0, 9].item() == 1.0 and rewards.sum().item() == 1.0
    adv, _ = gae_advantages(rewards, torch.zeros_like(mask), mask, 1.0, 0.5)
    sampled = [2, 3, 4, 8, 9]
    assert [adv[0, t].item() for t in sampled] == pytest.approx([0.5**4, 0.5**3, 0.5**2, 0.5, 1.0])


@pytest.mark.parametrize("level", ["token", "turn"])
def test_bootstrap_from_the_cut_state_matches_loop(level):
    """--bootstrap-horizon-cut: the value after a row's last step is the cut state's, not 0; rows whose
    last value is 0 (not cut by the horizon, or the flag off) are terminal, as with no last values at all."""
    mask, rewards, values = inputs()
    steps = turn_starts(mask) if level == "turn" else mask
    rewards = to_turns(rewards, mask) if level == "turn" else rewards
    last = torch.tensor([0.5, 0.0, -0.3, 2.0])
    adv, ret = gae_advantages(rewards, values, steps, 1.0, 0.9, last)
    terminal_adv, terminal_ret = gae_advantages(rewards, values, steps, 1.0, 0.9)
    for i in range(len(MASKS)):
        at = [t for t, m in enumerate(steps[i].tolist()) if m]
        expected = reference_gae([rewards[i, t].item() for t in at], [values[i, t].item() for t in at],
                                 1.0, 0.9, last[i].item())
        terminal = reference_gae([rewards[i, t].item() for t in at], [values[i, t].item() for t in at], 1.0, 0.9)
        assert [adv[i, t].item() for t in at] == pytest.approx(expected, abs=1e-5)
        assert [ret[i, t].item() for t in at] == pytest.approx([a + values[i, t].item()
                                                                for a, t in zip(expected, at)], abs=1e-5)
        assert [terminal_adv[i, t].item() for t in at] == pytest.approx(terminal, abs=1e-5)
        assert (adv[i] == terminal_adv[i]).all() == (last[i].item() == 0.0)
    assert torch.equal(gae_advantages(rewards, values, steps, 1.0, 0.9, torch.zeros(4))[0], terminal_adv)
    # lambda = gamma = 1, V = 0: every step's advantage is the outcome plus the cut state's value
    zero = torch.zeros_like(values)
    adv, _ = gae_advantages(token_rewards(torch.tensor(SCORES), mask, None, 0.0), zero, mask, 1.0, 1.0, last)
    for i, row in enumerate(MASKS):
        assert all(adv[i, t].item() == pytest.approx(SCORES[i] + last[i].item()) for t, m in enumerate(row) if m)


def test_the_critic_reads_the_cut_state_in_the_same_pass():
    """with_cut_state appends the last observation and a placeholder in the mask: the critic reads V at the
    observation's last token (where the next turn would be sampled from), and no value before it changes."""
    critic = Critic(PositionBackbone(), 2)  # V = the position it is read at
    with torch.no_grad():
        critic.head.weight.copy_(torch.tensor([[1.0, 0.0]]))
    cut = Episode(task_id=0, group=0, token_ids=list(range(10, 19)), loss_mask=[0, 0, 1, 1, 0, 0, 1, 1, 0],
                  cut_observation=[7, 8, 9])
    other = Episode(task_id=0, group=0, token_ids=list(range(10, 17)), loss_mask=[0, 1, 1, 0, 1, 0, 0])
    extended = with_cut_state(cut)
    assert (extended.token_ids[:9] == cut.token_ids and extended.token_ids[9:12] == [7, 8, 9]
            and len(extended.token_ids) == 13)
    # the episode itself is untouched
    assert extended.loss_mask == cut.loss_mask + [0, 0, 0, 1] and cut.token_ids == list(range(10, 19))
    args = Args(micro_batch_tokens=4096)
    plain, none = batch_values(critic, [cut, other], args, "cpu")
    values, cut_values = batch_values(critic, [cut, other], args, "cpu", [True, False])
    assert none.tolist() == [0.0, 0.0] and cut_values.tolist() == [11.0, 0.0]  # position 8 + 3 observation tokens
    assert [v.tolist() for v in values] == [v.tolist() for v in plain]
    assert values[0].tolist() == [0, 1, 2, 0, 0, 5, 6, 0] and len(values[1]) == 6


def test_default_lambdas_give_the_first_turn_the_whole_outcome():
    """At the defaults, with the critic as it starts (V = 0), a rewarded episode's first turn gets the
    outcome R as its advantage and its return target, at token and at turn level. With a per-token
    lambda of 0.95 the first token would get 0.95^(sampled tokens after it) x R: nothing, 120 tokens on."""
    args = ppo_agent.Args()
    assert args.gamma == 1.0
    turn = [1] * 40 + [0] * 15  # a 40-token reply, then the template's glue and an observation
    mask = torch.tensor([[0] * 30 + turn * 3], dtype=torch.float32)
    R = 0.75
    rewards, values = token_rewards(torch.tensor([R]), mask, None, 0.0), torch.zeros_like(mask)
    first = [t for t, m in enumerate(mask[0].tolist()) if m][:40]
    adv, _ = gae_advantages(rewards, values, mask, args.gamma, args.gae_lambda)
    _, ret = gae_advantages(rewards, values, mask, args.gamma, args.critic_gae_lambda)
    assert [adv[0, t].item() for t in first] == pytest.approx([R] * 40)
    assert [ret[0, t].item() for t in first] == pytest.approx([R] * 40)
    steps = turn_starts(mask)  # --gae-level turn
    adv, _ = gae_advantages(to_turns(rewards, mask), values, steps, args.gamma, args.gae_lambda)
    _, ret = gae_advantages(to_turns(rewards, mask), values, steps, args.gamma, args.critic_gae_lambda)
    assert [from_turns(adv, mask)[0, t].item() for t in first] == pytest.approx([R] * 40)
    assert ret[0, first[0]].item() == pytest.approx(R)
    adv, _ = gae_advantages(rewards, values, mask, 1.0, 0.95)  # the old per-token default
    assert adv[0, first[0]].item() == pytest.approx(0.95**119 * R, rel=1e-4) and adv[0, first[0]].item() < 0.01 * R


def test_turn_starts_and_sums():
    mask, rewards, _ = inputs()
    starts = turn_starts(mask)
    sums = to_turns(rewards, mask)
    for i, row in enumerate(MASKS):
        turns = runs(row)
        assert [t for t, s in enumerate(starts[i].tolist()) if s] == [turn[0] for turn in turns]
        for turn in turns:
            assert sums[i, turn[0]].item() == pytest.approx(sum(rewards[i, t].item() for t in turn), abs=1e-6)
        assert sums[i].sum().item() == pytest.approx(rewards[i].sum().item(), abs=1e-6)
    assert [len(runs(row)) for row in MASKS] == [2, 3, 1, 1]


@pytest.mark.parametrize("gamma, lam", [(1.0, 1.0), (0.9, 0.8)])
def test_turn_level_gae_matches_loop_over_turns(gamma, lam):
    """--gae-level turn: one value per turn, read at its first sampled token; the turn's reward is the sum
    of its tokens' rewards; GAE over turns; each turn's advantage on all of its sampled tokens."""
    mask, rewards, values = inputs()
    steps = turn_starts(mask)
    step_adv, ret = gae_advantages(to_turns(rewards, mask), values, steps, gamma, lam)
    adv = from_turns(step_adv, mask)
    for i, row in enumerate(MASKS):
        turns = runs(row)
        turn_rewards = [sum(rewards[i, t].item() for t in turn) for turn in turns]
        turn_values = [values[i, turn[0]].item() for turn in turns]
        expected = reference_gae(turn_rewards, turn_values, gamma, lam)
        for k, turn in enumerate(turns):
            for t in turn:
                assert adv[i, t].item() == pytest.approx(expected[k], abs=1e-5)
            assert ret[i, turn[0]].item() == pytest.approx(expected[k] + turn_values[k], abs=1e-5)
        assert all(adv[i, t].item() == 0.0 for t, m in enumerate(row) if not m)
        assert all(ret[i, t].item() == 0.0 for t in range(len(row)) if t not in [turn[0] for turn in turns])


def test_value_clipping_by_hand():
    old = torch.tensor([0.0, 0.0, 0.5, 1.0])
    new = torch.tensor([0.5, -0.5, 0.6, 0.0])
    target = torch.tensor([1.0, 0.0, 0.0, 1.0])
    loss, clipped = clipped_value_loss(new, old, target, 0.2)
    # 1: V_clip 0.2 -> max(0.25, 0.64) = 0.64; 2: V_clip -0.2 -> max(0.25, 0.04); 3: inside the range;
    # 4: V_clip 0.8 -> max(1.0, 0.04)
    assert loss.tolist() == pytest.approx([0.5 * 0.64, 0.5 * 0.25, 0.5 * 0.36, 0.5 * 1.0], abs=1e-6)
    assert clipped.tolist() == [True, False, False, False]
    loss, clipped = clipped_value_loss(new, old, target, 0.0)  # no clipping
    assert loss.tolist() == pytest.approx([0.125, 0.125, 0.18, 0.5], abs=1e-6)
    assert not clipped.any()


def test_value_clipping_blocks_the_gradient_beyond_the_range():
    old, target = torch.tensor([0.0]), torch.tensor([1.0])
    new = torch.tensor([0.5], requires_grad=True)
    loss, _ = clipped_value_loss(new, old, target, 0.2)
    loss.sum().backward()
    assert new.grad.item() == 0.0  # the clipped term dominates and does not depend on V


def test_explained_variance_by_hand():
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    returns = torch.tensor([[1.0, 9.0, 2.0, 3.0]])
    values = torch.tensor([[1.5, -9.0, 2.0, 2.5]])
    ys, vs = [1.0, 2.0, 3.0], [1.5, 2.0, 2.5]
    var = lambda xs: sum((x - sum(xs) / len(xs)) ** 2 for x in xs) / len(xs)  # noqa: E731
    expected = 1 - var([y - v for y, v in zip(ys, vs)]) / var(ys)
    assert explained_variance(values, returns, mask) == pytest.approx(expected, abs=1e-6)
    assert explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert math.isnan(explained_variance(values, torch.ones(1, 4), mask))


class PositionBackbone(torch.nn.Module):
    """A fake backbone whose hidden state at position t is (t, 1), so a value says where it was read."""

    def forward(self, input_ids, attention_mask):
        t = torch.arange(input_ids.shape[1], dtype=torch.float32).expand(input_ids.shape)
        return type("Out", (), {"last_hidden_state": torch.stack([t, torch.ones_like(t)], -1)})()


def test_critic_reads_the_state_before_each_sampled_token():
    critic = Critic(PositionBackbone(), 2)
    with torch.no_grad():
        critic.head.weight.copy_(torch.tensor([[1.0, 0.0]]))
    assert critic(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3),
                  torch.tensor([[0, 1, 0]])).tolist() == [[0.0, 0.0]]
    loss_mask = torch.tensor([[0, 0, 1, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0, 0]])
    ids = torch.zeros_like(loss_mask)
    values = critic(ids, torch.ones_like(loss_mask), loss_mask)
    assert values.shape == (2, 7)
    # the sampled token at position t is predicted from position t - 1: the value is read there
    assert values.tolist() == [[0, 1, 2, 0, 0, 5, 0], [0, 0, 0, 0, 0, 0, 0]]
    # a shared backbone passes its hidden states in: same values, no second forward
    hidden = PositionBackbone()(ids, None).last_hidden_state
    assert torch.equal(Critic(None, 2).head.weight, torch.zeros(1, 2))  # V = 0 at the start
    shared = Critic(None, 2)
    shared.load_state_dict({"head.weight": critic.head.weight, "head.bias": critic.head.bias})
    assert torch.equal(shared(ids, None, loss_mask, hidden), values)


def run(*flags):
    proc = subprocess.run([sys.executable, "ppo_agent.py", *map(str, flags)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1].split("run folder: ")[1])


def test_resume_with_the_critic_equals_uninterrupted_run(tiny_model_dir, tmp_path):
    """The critic (its own backbone copy and head) is in the checkpoint, so a resumed run is exact."""
    common = ["--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 2, "--group-size", 2, "--max-new-tokens", 3,
              "--horizons", 2, "--learning-rate", 1e-3, "--critic-learning-rate", 1e-3, "--save-every", 1,
              "--num-minibatches", 2, "--kl-coef", 0.05]
    full = run(*common, "--total-iterations", 2, "--runs-dir", tmp_path / "a")
    part = run(*common, "--total-iterations", 1, "--runs-dir", tmp_path / "b")
    run("--resume", part, "--total-iterations", 2)
    a = torch.load(full / "checkpoint.pt", weights_only=False)
    b = torch.load(part / "checkpoint.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 2
    assert "head.weight" in a["critic"] and any(k.startswith("backbone.") for k in a["critic"])
    assert not torch.equal(a["critic"]["head.weight"], torch.zeros_like(a["critic"]["head.weight"]))  # it trained
    for part_name in ("model", "critic"):
        for name, tensor in a[part_name].items():
            assert torch.equal(tensor, b[part_name][name]), (part_name, name)


def test_turn_level_shared_backbone_runs(tiny_model_dir, tmp_path):
    """The other critic layout and GAE level, end to end: the value head on the policy's backbone."""
    run_dir = run("--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 2, "--group-size", 2, "--max-new-tokens",
                  3, "--horizons", 2, "--total-iterations", 1, "--shared-backbone", "--gae-level", "turn", "--kl-coef",
                  0.05, "--num-minibatches", 2, "--critic-learning-rate", 1e-3, "--runs-dir", tmp_path)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    for name, tensor in state["model"].items():  # the critic's backbone is the policy's
        if name.startswith("model."):
            assert torch.equal(tensor, state["critic"]["backbone." + name[len("model."):]])


def test_bootstrap_horizon_cut_end_to_end(tiny_model_dir, tmp_path):
    """Horizon 1 of the two-turn env cuts every episode. The first iteration's critic is 0 everywhere, so
    --bootstrap-horizon-cut changes nothing there; from the second on its value of the cut states enters the
    targets and the advantages, and the weights part from the terminal run's."""
    common = ["--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 2, "--group-size", 4, "--max-new-tokens", 3,
              "--horizons", 1, "--learning-rate", 1e-3, "--critic-learning-rate", 1e-2, "--format-reward",
              0.5, "--save-every", 1]
    one = [torch.load(run(*common, *flag, "--total-iterations", 1, "--runs-dir",
                          tmp_path / f"one{k}") / "checkpoint.pt", weights_only=False)
           for k, flag in enumerate([[], ["--bootstrap-horizon-cut"]])]
    assert all(torch.equal(one[0]["critic"][name], one[1]["critic"][name]) for name in one[0]["critic"])
    # the critic learnt something
    assert not torch.equal(one[0]["critic"]["head.bias"], torch.zeros_like(one[0]["critic"]["head.bias"]))
    two = [torch.load(run(*common, *flag, "--total-iterations", 2, "--runs-dir",
                          tmp_path / f"two{k}") / "checkpoint.pt", weights_only=False)
           for k, flag in enumerate([[], ["--bootstrap-horizon-cut"]])]
    assert not torch.equal(two[0]["critic"]["head.weight"], two[1]["critic"]["head.weight"])


@pytest.mark.parametrize("flags, message", [({"gae_lambda": 1.5}, "--gae-lambda"),
                                            ({"critic_gae_lambda": -0.1}, "--critic-gae-lambda"),
                                            ({"gamma": 0.0}, "--gamma"), ({"vf_clip": -0.1}, "--vf-clip"),
                                            ({"critic_learning_rate": 0.0}, "--critic-learning-rate")])
def test_bad_flags_fail_fast_naming_the_flag(flags, message):
    with pytest.raises(SystemExit, match=message):
        ppo_agent.validate_args(ppo_agent.Args(env="vowels", **flags))
    ppo_agent.validate_args(ppo_agent.Args(env="vowels"))  # the defaults are valid
