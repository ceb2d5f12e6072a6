"""Scale-out: torchrun data parallelism (DDP, FSDP2), LoRA, gradient checkpointing, bfloat16.

The core check: the scripts' own `update` run on two gloo ranks, each with its share of a fixed set
of episodes, leaves the parameters where one process leaves them on all the episodes (GRPO, and PPO
with both critic layouts; reinforce_agent.py's `update` is GRPO's without the KL term, on the same
`cleanagent_utils.batching` minibatches), for DDP and FSDP2. The rollout is left out on purpose: two ranks sample other
batches than one process, so only
fixed episodes make the two runs comparable. End-to-end, a torchrun run resumes exactly, and the
memory flags run through the scripts on the tiny model."""

import gc
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import cleanagent_utils.distributed
import grpo_agent
import ppo_agent
import reinforce_agent

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
N_GROUPS, GROUP_SIZE = 3, 2  # split 2 + 1 over two ranks: one rank runs out of micro-batches first
GRPO_CASES = {  # name: (Args overrides, with old log-probs)
    "token-mean": (dict(loss_reduction="token-mean", update_epochs=1, num_minibatches=1), False),
    "seq-mean-2x2": (dict(loss_reduction="seq-mean-token-mean", update_epochs=2, num_minibatches=2), True),
    "constant-3mb": (dict(loss_reduction="constant", update_epochs=1, num_minibatches=3), True),
}
PPO_CASES = {"own-critic": False, "shared-backbone": True}


def episodes_and_targets(seed: int = 0):
    """Fixed multi-turn episodes (prompt, turn, observation, turn, closing tokens) of different lengths
    and, per episode, [len-1] tensors: advantages, old and reference log-probs, returns, old values."""
    g = torch.Generator().manual_seed(seed)
    episodes, targets = [], []
    for group in range(N_GROUPS):
        for k in range(GROUP_SIZE):
            prompt, turn1, obs, turn2 = 6 + group, 3 + k, 4, 2 + group + k
            mask = [0] * prompt + [1] * turn1 + [0] * obs + [1] * turn2 + [0] * 2
            ep = grpo_agent.Episode(task_id=group, group=group,
                                    token_ids=torch.randint(0, 1000,
                                                            (len(mask),), generator=g).tolist(), loss_mask=mask)
            width = len(mask) - 1
            sampled = torch.tensor(mask[1:], dtype=torch.float32)
            targets.append({
                "advantages": torch.randn(1, generator=g).expand(width).clone(),  # GRPO: one per episode
                "token_advantages": torch.randn(width, generator=g) * sampled,
                "old": (-10.8 + 0.3 * torch.randn(width, generator=g)) * sampled,
                "ref": (-10.8 + 0.3 * torch.randn(width, generator=g)) * sampled,
                "returns": torch.randn(width, generator=g) * sampled,
                "old_values": 0.1 * torch.randn(width, generator=g) * sampled,
                "value_mask": sampled,
            })
            episodes.append(ep)
    return episodes, targets


def grpo_args(overrides: dict):
    return grpo_agent.Args(env="vowels", max_episode_tokens=32, micro_batch_tokens=40, learning_rate=1e-3,
                           temperature=1.0, kl_coef=0.1, ent_coef=0.01, **overrides)


def ppo_args(shared: bool):
    return ppo_agent.Args(env="vowels", max_episode_tokens=32, micro_batch_tokens=40, learning_rate=1e-3,
                          critic_learning_rate=1e-3, temperature=1.0, ent_coef=0.01, update_epochs=2, num_minibatches=2,
                          shared_backbone=shared)


def load_tiny(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)


def run_grpo(model_dir, case: str, fsdp: bool, episodes, targets):
    """One `grpo_agent.update` on these episodes (this rank's share); returns (full state on rank 0, merged stats)."""
    overrides, with_old = GRPO_CASES[case]
    args = grpo_args(overrides)
    model = load_tiny(model_dir)
    train_model = cleanagent_utils.distributed.wrap_model(model, fsdp, CPU)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay)
    old = [t["old"] for t in targets] if with_old else None
    np.random.seed(0)  # rank 0's permutation is every rank's
    model.train()
    stats, _ = grpo_agent.update(train_model, optimizer, params, episodes, [t["advantages"] for t in targets], old,
                                 [t["ref"] for t in targets], args, CPU)
    return (cleanagent_utils.distributed.full_state_dict(model, fsdp, lora=False),
            cleanagent_utils.distributed.merge_stats(cleanagent_utils.distributed.gather(stats)))


def run_ppo(model_dir, shared: bool, fsdp: bool, episodes, targets):
    args = ppo_args(shared)
    torch.manual_seed(0)
    model = load_tiny(model_dir)
    critic = ppo_agent.Critic(model.get_decoder() if shared else load_tiny(model_dir).get_decoder(),
                              model.config.hidden_size)
    # not the zero init, so the value head's gradient reaches the backbone
    torch.nn.init.normal_(critic.head.weight, std=0.1)
    train_model = cleanagent_utils.distributed.wrap_model(model, fsdp, CPU)
    train_critic = critic if shared else cleanagent_utils.distributed.wrap_model(critic, fsdp, CPU)
    params = [p for p in model.parameters() if p.requires_grad]
    critic_params = list(critic.head.parameters()) if shared else [p for p in critic.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": params}, {"params": critic_params, "lr": args.critic_learning_rate}],
                                  lr=args.learning_rate)
    np.random.seed(0)
    model.train()
    critic.train()
    stats, _ = ppo_agent.update(train_model, train_critic, optimizer, params, critic_params, episodes,
                                [t["token_advantages"] for t in targets], [t["returns"] for t in targets],
                                [t["value_mask"] for t in targets], [t["old"] for t in targets],
                                [t["old_values"] for t in targets], args, CPU)
    states = (cleanagent_utils.distributed.full_state_dict(model, fsdp, lora=False),
              cleanagent_utils.distributed.full_state_dict(critic, fsdp, lora=False))
    return states, cleanagent_utils.distributed.merge_stats(cleanagent_utils.distributed.gather(stats))


def two_rank_results(rank: int, model_dir, episodes, targets) -> dict:
    # whole groups on a rank, as the scripts split them: 3 groups as 2 + 1
    share = [i for i in range(len(episodes))
             if episodes[i].group in cleanagent_utils.distributed.rank_share(list(range(N_GROUPS)), rank, 2)]
    eps, tgs = [episodes[i] for i in share], [targets[i] for i in share]
    out = {}
    for fsdp in (False, True):
        for case in GRPO_CASES:
            out[("grpo", case, fsdp)] = run_grpo(model_dir, case, fsdp, eps, tgs)
        for name, shared in PPO_CASES.items():
            out[("ppo", name, fsdp)] = run_ppo(model_dir, shared, fsdp, eps, tgs)
    # REINFORCE++ / PPO whitening: the statistics of all ranks' tokens
    values = torch.stack([torch.nn.functional.pad(t["returns"], (0, 40 - len(t["returns"]))) for t in tgs])
    mask = torch.stack([torch.nn.functional.pad(t["value_mask"], (0, 40 - len(t["value_mask"]))) for t in tgs])
    out["whiten"] = cleanagent_utils.distributed.gather(reinforce_agent.whiten(values, mask))
    out["whiten_ppo"] = cleanagent_utils.distributed.gather(ppo_agent.whiten(values, mask))
    out["empty_rank_whiten"] = cleanagent_utils.distributed.gather(
        reinforce_agent.whiten(values[:0] if rank else values, mask[:0] if rank else mask))
    return out


def worker(rank: int, port: int, model_dir: str, out_path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    episodes, targets = episodes_and_targets()
    results = two_rank_results(rank, model_dir, episodes, targets)
    if rank == 0:
        torch.save(results, out_path)
    del results
    gc.collect()  # the sharded models hold the process group: freed before it is destroyed
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks") / "results.pt"
    mp.start_processes(worker, args=(free_port(), str(tiny_model_dir), str(out)), nprocs=2, start_method="spawn")
    return torch.load(out, weights_only=False)


@pytest.fixture(scope="module")
def one_process(tiny_model_dir):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks: the same matmul reduction order
    try:
        episodes, targets = episodes_and_targets()
        out = {("grpo", case): run_grpo(tiny_model_dir, case, False, episodes, targets) for case in GRPO_CASES}
        out |= {("ppo", name): run_ppo(tiny_model_dir, shared, False, episodes, targets)
                for name, shared in PPO_CASES.items()}
    finally:
        torch.set_num_threads(threads)
    return out


def assert_same_state(a: dict, b: dict, atol: float) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=atol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("fsdp", [False, True], ids=["ddp", "fsdp"])
@pytest.mark.parametrize("case", list(GRPO_CASES))
def test_grpo_update_on_two_ranks_equals_one_process(case, fsdp, two_ranks, one_process, tiny_model_dir):
    """Minibatches drawn over both ranks' episodes, loss weights normalised over the whole minibatch:
    the same step as one process on all episodes (up to float summation order)."""
    (state2, stats2), (state1, stats1) = two_ranks[("grpo", case, fsdp)], one_process[("grpo", case)]
    before = load_tiny(tiny_model_dir).state_dict()
    assert any(not torch.equal(state1[k], before[k]) for k in state1)  # the update moved the weights
    assert_same_state(state2, state1, atol=5e-7)
    assert (len(stats2["policy_loss"]) == len(stats1["policy_loss"]) == GRPO_CASES[case][0]["num_minibatches"]
            * GRPO_CASES[case][0]["update_epochs"])
    np.testing.assert_allclose(stats2["policy_loss"], stats1["policy_loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats2["grad_norm"], stats1["grad_norm"], rtol=1e-5)


@pytest.mark.parametrize("fsdp", [False, True], ids=["ddp", "fsdp"])
@pytest.mark.parametrize("layout", list(PPO_CASES))
def test_ppo_update_on_two_ranks_equals_one_process(layout, fsdp, two_ranks, one_process):
    """The critic too: its own backbone wrapped like the policy, or a value head on the shared backbone
    whose gradient is averaged by hand."""
    ((model2, critic2), stats2), ((model1, critic1), stats1) = (two_ranks[("ppo", layout, fsdp)],
                                                                one_process[("ppo", layout)])
    assert_same_state(model2, model1, atol=5e-7)
    assert_same_state(critic2, critic1, atol=5e-7)
    np.testing.assert_allclose(stats2["value_loss"], stats1["value_loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats2["critic_grad_norm"], stats1["critic_grad_norm"], rtol=1e-5)


def test_whitening_uses_the_statistics_of_all_ranks(two_ranks):
    """REINFORCE++'s and PPO's batch whitening on two ranks is exactly the one-process whitening."""
    episodes, targets = episodes_and_targets()
    values = torch.stack([torch.nn.functional.pad(t["returns"], (0, 40 - len(t["returns"]))) for t in targets])
    mask = torch.stack([torch.nn.functional.pad(t["value_mask"], (0, 40 - len(t["value_mask"]))) for t in targets])
    expected = reinforce_agent.whiten(values, mask)
    assert torch.equal(torch.cat(two_ranks["whiten"]), expected)
    assert torch.equal(torch.cat(two_ranks["whiten_ppo"]), expected)
    # a rank without episodes still joins
    rank0_only = reinforce_agent.whiten(values[: 2 * GROUP_SIZE], mask[: 2 * GROUP_SIZE])
    assert torch.equal(two_ranks["empty_rank_whiten"][0], rank0_only) and two_ranks["empty_rank_whiten"][1].numel() == 0


def test_rank_share_splits_in_order():
    items = list(range(7))
    shares = [cleanagent_utils.distributed.rank_share(items, r, 3) for r in range(3)]
    assert shares == [[0, 1, 2], [3, 4], [5, 6]]
    assert cleanagent_utils.distributed.rank_share(items, 0, 1) == items


# ---------------------------------------------------------------------------------------------
# end to end


def run(*cmd, env=None, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1].split("run folder: ")[1])


def torchrun(*flags):
    return run(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", 2,
               "--master_port", free_port(), *flags)


def test_torchrun_fsdp_run_resumes_exactly(tiny_model_dir, tmp_path):
    """Two ranks with FSDP2 and LoRA end to end: only rank 0 writes, the checkpoint holds the gathered
    adapter weights, a resumed run ends where the uninterrupted one does, the merged model loads."""
    from transformers import AutoModelForCausalLM

    common = ["--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 3, "--group-size", 2, "--max-new-tokens", 3,
              "--horizons", 2, "--learning-rate", 1e-2, "--num-minibatches", 2, "--kl-coef", 0.05, "--save-every", 1,
              "--fsdp", "--lora-rank", 4]
    full = torchrun("grpo_agent.py", *common, "--total-iterations", 2, "--runs-dir", tmp_path / "a")
    part = torchrun("grpo_agent.py", *common, "--total-iterations", 1, "--runs-dir", tmp_path / "b")
    torchrun("grpo_agent.py", "--resume", part, "--total-iterations", 2)
    a, b = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (full, part))
    assert a["iteration"] == b["iteration"] == 2 and a["model"] and all("lora_" in k for k in a["model"])
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert len(list(full.glob("events.out.tfevents.*"))) == 1  # rank 0 alone logs
    merged, base = AutoModelForCausalLM.from_pretrained(full / "model"), load_tiny(tiny_model_dir)
    assert any(not torch.equal(p, base.state_dict()[k]) for k, p in merged.state_dict().items())


@pytest.mark.parametrize("script", ["reinforce_agent.py", "ppo_agent.py"])
def test_torchrun_ddp_smoke(script, tiny_model_dir, tmp_path):
    run_dir = torchrun(script, "--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 3, "--group-size", 2,
                       "--max-new-tokens", 3, "--horizons", 2, "--total-iterations", 1, "--num-minibatches", 3,
                       "--kl-coef", 0.05, "--eval-tasks", 3, "--runs-dir", tmp_path)
    assert (run_dir / "checkpoint.pt").exists() and (run_dir / "model" / "config.json").exists()


def script_run(*flags):
    return run(sys.executable, "grpo_agent.py", *flags)


def test_lora_checkpoint_holds_adapters_and_resumes(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    common = ["--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 2, "--group-size", 2, "--max-new-tokens", 3,
              "--horizons", 2, "--learning-rate", 1e-2, "--num-minibatches", 2, "--kl-coef", 0.05, "--save-every", 1,
              "--lora-rank", 4]
    full = script_run(*common, "--total-iterations", 2, "--runs-dir", tmp_path / "a")
    part = script_run(*common, "--total-iterations", 1, "--runs-dir", tmp_path / "b")
    script_run("--resume", part, "--total-iterations", 2)
    a, b = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (full, part))
    assert a["model"] and all("lora_" in k for k in a["model"])  # 2 layers x 7 linear layers x (A, B)
    assert len(a["model"]) == 28 and (full / "checkpoint.pt").stat().st_size < 1_000_000
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    merged, base = AutoModelForCausalLM.from_pretrained(full / "model"), load_tiny(tiny_model_dir)
    changed = [k for k, p in merged.state_dict().items() if not torch.equal(p, base.state_dict()[k])]
    assert (sorted(merged.state_dict()) == sorted(base.state_dict()) and len(changed) == 14
            and all("proj" in k for k in changed))


def test_gradient_checkpointing_changes_nothing_and_bfloat16_runs(tiny_model_dir, tmp_path):
    common = ["--env", "vowels", "--model", tiny_model_dir, "--num-tasks", 2, "--group-size", 2, "--max-new-tokens", 3,
              "--horizons", 2, "--learning-rate", 1e-3, "--num-minibatches", 2, "--total-iterations", 1]
    plain = torch.load(script_run(*common, "--runs-dir", tmp_path / "a") / "checkpoint.pt", weights_only=False)["model"]
    recomputed = torch.load(script_run(*common, "--gradient-checkpointing",
                                       "--runs-dir", tmp_path / "b") / "checkpoint.pt", weights_only=False)["model"]
    for name, tensor in plain.items():
        assert torch.equal(tensor, recomputed[name]), name
    bf16 = script_run(*common, "--dtype", "bfloat16", "--gradient-checkpointing", "--kl-coef", 0.05,
                      "--runs-dir", tmp_path / "c")
    state = torch.load(bf16 / "checkpoint.pt", weights_only=False)["model"]
    assert all(t.dtype == torch.bfloat16 and torch.isfinite(t).all() for t in state.values())
