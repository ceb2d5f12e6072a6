"""Pure functions of grpo_agent.py against plain reference computations."""

import math

import numpy as np
import pytest
import torch

import cleanagent_utils.models
import grpo_agent
import ppo_agent
import reinforce_agent
from cleanagent_utils.batching import micro_batches
from grpo_agent import adaptive_advance, clipped_policy_loss, grpo_advantages, horizon_at, kl_penalty, loss_weights


def test_grpo_advantages_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 2.0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    adv = grpo_advantages(rewards, groups)
    # group 0: mean 0.5, unbiased std sqrt(((.5^2)*4)/3) = sqrt(1/3)
    std = math.sqrt(1 / 3)
    expected0 = [(r - 0.5) / (std + 1e-6) for r in (1.0, 0.0, 0.0, 1.0)]
    assert adv[:4].tolist() == pytest.approx(expected0, rel=1e-6)
    assert adv[4:6].tolist() == [0.0, 0.0]  # zero-variance group: no signal, no NaN
    assert adv[6].item() == 0.0  # singleton group: no baseline, no signal
    assert torch.isfinite(adv).all()


def test_grpo_advantages_interleaved_groups_match_loop():
    torch.manual_seed(0)
    rewards = torch.rand(12)
    groups = torch.tensor([2, 0, 1, 0, 2, 1, 1, 0, 2, 2, 0, 1])
    adv = grpo_advantages(rewards, groups)
    for i in range(12):
        members = [rewards[j].item() for j in range(12) if groups[j] == groups[i]]
        mean = sum(members) / len(members)
        std = math.sqrt(sum((m - mean) ** 2 for m in members) / (len(members) - 1))
        assert adv[i].item() == pytest.approx((rewards[i].item() - mean) / (std + 1e-6), rel=1e-5)


def test_kl_estimators_by_hand():
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.5, -1.0, -0.5])
    for i in range(3):
        r = ref[i].item() - logp[i].item()  # log(pi_ref / pi)
        assert kl_penalty(logp, ref, "k1")[i].item() == pytest.approx(-r)
        assert kl_penalty(logp, ref, "k2")[i].item() == pytest.approx(0.5 * r * r)
        assert kl_penalty(logp, ref, "k3")[i].item() == pytest.approx(math.exp(r) - 1 - r)
    assert kl_penalty(logp, logp, "k3").abs().max().item() == 0.0
    with pytest.raises(ValueError):
        kl_penalty(logp, ref, "k4")


def test_k3_is_unbiased_for_kl():
    # sampling from p, mean of k1 and k3 approach KL(p || q); k3 is always >= 0
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    true_kl = float((p * (p / q).log()).sum())
    torch.manual_seed(0)
    x = torch.multinomial(p, 200_000, replacement=True)
    k1 = kl_penalty(p.log()[x], q.log()[x], "k1")
    k3 = kl_penalty(p.log()[x], q.log()[x], "k3")
    assert k1.mean().item() == pytest.approx(true_kl, abs=0.01)
    assert k3.mean().item() == pytest.approx(true_kl, abs=0.01)
    assert (k3 >= 0).all()


def test_expected_gradient_of_each_kl_estimator_in_a_loss():
    """Over samples of pi (pi's probabilities as fixed weights, summed over a small vocabulary: exact),
    the expected gradient of k1 is 0, of k2 that of KL(pi || ref), of k3 that of KL(ref || pi)."""
    torch.manual_seed(0)
    logits = torch.randn(6, requires_grad=True)
    ref = torch.log_softmax(torch.randn(6), 0)

    def expected_gradient(estimator):
        logp = torch.log_softmax(logits, 0)
        weights = logp.exp().detach()  # the samples come from pi; their probabilities are not differentiated
        return torch.autograd.grad((weights * kl_penalty(logp, ref, estimator)).sum(), logits)[0]

    logp = torch.log_softmax(logits, 0)
    forward = torch.autograd.grad((logp.exp() * (logp - ref)).sum(), logits)[0]  # KL(pi || ref)
    logp = torch.log_softmax(logits, 0)
    reverse = torch.autograd.grad((ref.exp() * (ref - logp)).sum(), logits)[0]  # KL(ref || pi)
    assert (forward - reverse).abs().max() > 0.05  # the two directions differ here
    assert expected_gradient("k1").abs().max().item() < 1e-6
    assert expected_gradient("k2").tolist() == pytest.approx(forward.tolist(), abs=1e-6)
    assert expected_gradient("k3").tolist() == pytest.approx(reverse.tolist(), abs=1e-6)


def test_k1_in_the_loss_is_refused():
    """GRPO adds the KL estimate to the loss, where k1 has zero expected gradient: refused with a reason.
    Without a KL penalty the estimator is unused; PPO and REINFORCE++ put k1 in the rewards, where it is fine."""
    with pytest.raises(SystemExit, match="--kl-estimator k1 with --kl-coef > 0.*expected gradient"):
        grpo_agent.validate_args(grpo_agent.Args(env="vowels", kl_coef=0.001, kl_estimator="k1"))
    grpo_agent.validate_args(grpo_agent.Args(env="vowels", kl_coef=0.0, kl_estimator="k1"))
    for estimator in ("k2", "k3"):
        grpo_agent.validate_args(grpo_agent.Args(env="vowels", kl_coef=0.001, kl_estimator=estimator))
    assert grpo_agent.Args().kl_estimator == "k3"
    for script in (ppo_agent, reinforce_agent):
        script.validate_args(script.Args(env="vowels", kl_coef=0.001, kl_estimator="k1"))


def test_loss_reductions_by_hand():
    masks = [torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 1, 1, 1, 0])]
    loss = [torch.tensor([9.0, 1.0, 3.0, 9.0]), torch.tensor([1.0, 1.0, 1.0, 1.0, 6.0, 9.0])]

    def reduce(reduction):
        weights = loss_weights(masks, reduction, max_episode_tokens=10)
        return sum(float((w * x).sum()) for w, x in zip(weights, loss))

    assert reduce("token-mean") == pytest.approx((1 + 3 + 1 + 1 + 1 + 1 + 6) / 7)
    assert reduce("seq-mean-token-mean") == pytest.approx(((1 + 3) / 2 + (10 / 5)) / 2)
    assert reduce("constant") == pytest.approx((4 + 10) / (2 * 10))
    with pytest.raises(ValueError):
        loss_weights(masks, "sum", 10)


def test_loss_weights_are_global_across_micro_batches():
    masks = [torch.ones(3), torch.ones(5), torch.ones(2)]
    total = sum(float(w.sum()) for w in loss_weights(masks, "token-mean", 10))
    assert total == pytest.approx(1.0)


def test_clipped_policy_loss_by_hand():
    old = torch.zeros(4)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1, 0.7]))
    adv = torch.tensor([1.0, -1.0, -2.0, 1.0])
    loss, ratio = clipped_policy_loss(logp, old, adv, 0.2)
    # ratio 1.5, A>0 -> clipped at 1.2; ratio 0.5, A<0 -> min(-0.5*-1... ) pessimistic: -min(-0.5, -0.8) = 0.8
    expected = [-1.2, 0.8, 2.2, -0.7]
    assert loss.tolist() == pytest.approx(expected, rel=1e-6)
    assert ratio.tolist() == pytest.approx([1.5, 0.5, 1.1, 0.7], rel=1e-6)


def test_horizon_schedule():
    assert [horizon_at(i, (5, 8, 10), 100) for i in (0, 99, 100, 199, 200, 10_000)] == [5, 5, 8, 8, 10, 10]
    assert [horizon_at(i, (7,), 3) for i in range(10)] == [7] * 10


def test_micro_batches_respect_budget_and_cover_all():
    lengths = [5, 100, 30, 30, 7, 64, 1]
    batches = micro_batches(lengths, 128)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 128 or len(b) == 1


def test_adaptive_advance():
    patience, cut, least = 2, 0.1, 2
    # never before the minimum number of iterations, whatever the numbers say
    assert not adaptive_advance([0.0], [0.0], patience, cut, least)
    # still improving and many episodes cut: stay
    assert not adaptive_advance([0.1, 0.2, 0.3], [0.9, 0.8, 0.7], patience, cut, least)
    # best success 2 iterations old (a tie is not an improvement): move on
    assert adaptive_advance([0.1, 0.5, 0.5, 0.4], [0.9, 0.9, 0.9, 0.9], patience, cut, least)
    assert not adaptive_advance([0.1, 0.5, 0.5], [0.9, 0.9, 0.9], patience, cut, least)
    # few episodes cut at the horizon on the last iteration: move on
    assert adaptive_advance([0.1, 0.2], [0.5, 0.05], patience, cut, least)
    # a plain reference: argmax age and the last cut rate
    import random

    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(1, 8)
        s = [rng.choice([0.0, 0.25, 0.5]) for _ in range(n)]
        c = [rng.random() for _ in range(n)]
        best = max(range(n), key=lambda i: (s[i], -i))
        expected = n >= least and (n - 1 - best >= patience or c[-1] < cut)
        assert adaptive_advance(s, c, patience, cut, least) == expected


# -- precision -------------------------------------------------------------------------------


def test_resolve_dtype_auto_follows_the_hardware(monkeypatch):

    cpu = torch.device("cpu")
    monkeypatch.setattr(cleanagent_utils.models, "hardware_bf16", lambda device: True)
    assert cleanagent_utils.models.resolve_dtype("auto", cpu) == "bf16-mixed"
    monkeypatch.setattr(cleanagent_utils.models, "hardware_bf16", lambda device: False)
    assert cleanagent_utils.models.resolve_dtype("auto", cpu) == "float32"
    for explicit in ("float32", "bf16-mixed", "bfloat16"):
        assert cleanagent_utils.models.resolve_dtype(explicit, cpu) == explicit


def test_bf16_mixed_keeps_fp32_weights_and_optimizer_state_and_close_logprobs(tiny_model_dir):
    """bf16-mixed: the matmuls in bf16, everything the optimizer touches in fp32; its log-probs are the
    fp32 ones up to bf16 rounding, and the same function gives the same numbers in rollout and update."""
    import grpo_agent

    model, _ = cleanagent_utils.models.load_model(str(tiny_model_dir), "bf16-mixed")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    ids = torch.randint(5, 200, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    exact, _ = grpo_agent.token_logprobs(model, ids, mask, mask, 1.0)
    with grpo_agent.autocast("bf16-mixed", torch.device("cpu")):
        mixed, _ = grpo_agent.token_logprobs(model, ids, mask, mask, 1.0)
        again, _ = grpo_agent.token_logprobs(model, ids, mask, mask, 1.0)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, again)
    assert (mixed - exact).abs().max() < 0.1 and not torch.equal(mixed, exact)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with grpo_agent.autocast("bf16-mixed", torch.device("cpu")):
        loss = -grpo_agent.token_logprobs(model, ids, mask, mask, 1.0)[0].sum()
    loss.backward()
    optimizer.step()
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)
    assert all(s["exp_avg"].dtype == torch.float32 for s in optimizer.state.values())


# -- held-out evaluation ---------------------------------------------------------------------


def test_bootstrap_ci_matches_a_plain_resampling_loop():
    from cleanagent_utils.evaluation import bootstrap_ci

    values = [0.0, 0.25, 1.0, 0.5, 0.0, 0.75]
    rng = np.random.default_rng(3)
    draws = rng.integers(0, len(values), (2000, len(values)))
    means = sorted(sum(values[i] for i in row) / len(values) for row in draws)
    mean, low, high = bootstrap_ci(values, seed=3, resamples=2000)
    assert mean == pytest.approx(sum(values) / len(values))
    assert (low == pytest.approx(float(np.quantile(means, 0.025)))
            and high == pytest.approx(float(np.quantile(means, 0.975))))


def test_bootstrap_ci_is_not_zero_width_when_every_task_agrees():
    """Nothing solved (or everything, or no task changed): a Wilson score bound over the tasks, not [v, v]."""
    from cleanagent_utils.evaluation import bootstrap_ci

    z = 1.959963984540054
    n = 16
    half = z * z / (n + z * z)  # Wilson's upper bound for 0 successes of n: z^2 / (n + z^2)
    assert bootstrap_ci([0.0] * n) == pytest.approx((0.0, 0.0, half))
    assert bootstrap_ci([1.0] * n) == pytest.approx((1.0, 1.0 - half, 1.0))
    assert bootstrap_ci([0.0] * n, bounds=(-1.0, 1.0)) == pytest.approx((0.0, -half, half))
    assert half == pytest.approx(0.1936, abs=1e-4)


def test_eval_report_pairs_the_tasks():
    from cleanagent_utils.evaluation import eval_report

    before = [[False, False], [True, False], [False, False], [True, True]]
    after = [[True, True], [True, True], [False, True], [True, True]]
    report = eval_report(before, after, seed=0)
    assert report["tasks"] == 4 and report["k"] == 2
    assert report["before"][0] == pytest.approx(37.5) and report["after"][0] == pytest.approx(87.5)
    assert report["improvement"][0] == pytest.approx(50.0)
    # every task improved or stayed: the CI excludes 0
    assert 0 < report["improvement"][1] <= 50.0 <= report["improvement"][2]
    assert "before" not in eval_report(None, after)


def test_play_test_tasks_plays_each_task_k_times_in_batches():
    from cleanagent_utils.chat import ChatFormat
    from cleanagent_utils.evaluation import play_test_tasks
    from envs.base import TextEnv

    class OddTasksSucceed(TextEnv):
        name, instructions = "odd", "x"

        def reset(self, task_id):
            self.task = task_id
            return "go", {}

        def step(self, reply):
            return "", 1.0, True, False, {"success": self.task % 2 == 1}

    from transformers import AutoTokenizer

    from cleanagent_utils.models import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    chat = ChatFormat(tokenizer)
    played = []

    def sample(prompts, caps, stops=None):
        played.append(len(prompts))
        return [[chat.end_of_turn] for _ in prompts]

    env_list, args = [OddTasksSucceed() for _ in range(4)], grpo_agent.Args(format_reward=0.0)

    def play(jobs):  # as the scripts' held-out evaluation plays: one rollout per batch of (group, task) jobs
        return grpo_agent.rollout(sample, chat, env_list, [grpo_agent.Episode(task_id=t, group=g) for g, t in jobs],
                                  2, args)

    out = play_test_tasks(play, [3, 4, 5], 3, len(env_list))
    assert out == [[True] * 3, [False] * 3, [True] * 3]
    assert played == [4, 4, 1]  # 9 episodes on 4 envs
