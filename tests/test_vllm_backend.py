"""The vLLM rollout backend (`--rollout-backend vllm`).

vLLM needs CUDA, so most of these tests drive `VLLMSampler` with a stand-in engine that has vLLM's
offline interface (`LLM(...)`, `generate`, `sleep`, `wake_up`, `reset_prefix_cache`, the worker
model's `load_weights`, `SamplingParams`) and samples from an HF copy of the model with the weights
it was given. That checks everything on our side of the interface: the weights we push (names,
LoRA merged), the sleep/wake order, the stop token, and the alignment of the engine's log-probs with
the trainer's (`debug/logprob_diff`). The last test runs the real engine where vLLM and a GPU exist.
"""

import math
import os
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import cleanagent_utils.models
import envs
from cleanagent_utils.samplers import KVSampler, VLLMSampler, merged_weights
from grpo_agent import Args, ChatFormat, Episode, batch_logprobs, logprob_diffs, rollout, sync_weights

REPO = Path(__file__).resolve().parents[1]


class FakeLLM:
    """vLLM's `LLM` as far as VLLMSampler uses it, sampling with an HF model (float32, exact log-probs)."""

    include_stop_token = True  # vLLM keeps a stop token id in the output ids; False checks the other case

    def __init__(self, model, load_format, dtype, seed, max_model_len, gpu_memory_utilization, enable_sleep_mode,
                 enable_prefix_caching, distributed_executor_backend, logprobs_mode):
        assert load_format == "dummy" and enable_sleep_mode and logprobs_mode == "processed_logprobs"
        # random weights, like load_format="dummy"
        self.net = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).eval()
        self.events, self.loaded = [], None
        self.llm_engine = SimpleNamespace(model_executor=SimpleNamespace(
            driver_worker=SimpleNamespace(model_runner=SimpleNamespace(model=self))))

    def sleep(self, level):
        self.events.append(f"sleep{level}")

    def wake_up(self, tags):
        self.events.append("wake_" + "+".join(tags))

    def reset_prefix_cache(self):
        self.events.append("reset_prefix_cache")

    def load_weights(self, weights):  # the worker model's method
        self.loaded = dict(weights)
        self.net.load_state_dict(self.loaded, strict=True)  # every weight, under transformers' names
        self.events.append("load_weights")

    @torch.no_grad()
    def generate(self, prompts, params, use_tqdm=False):
        outputs = []
        for prompt, p in zip(prompts, params):
            generator = torch.Generator().manual_seed(p.seed)
            ids, token_ids, logprobs, stop_reason = list(prompt["prompt_token_ids"]), [], [], None
            for _ in range(p.max_tokens):
                logp = torch.log_softmax(self.net(torch.tensor([ids])).logits[0, -1].float() / p.temperature, -1)
                token = int(torch.multinomial(logp.exp(), 1, generator=generator))
                ids.append(token)
                if token in p.stop_token_ids:
                    stop_reason = token
                    if self.include_stop_token:
                        token_ids.append(token)
                        logprobs.append({token: SimpleNamespace(logprob=float(logp[token]))})
                    break
                token_ids.append(token)
                logprobs.append({token: SimpleNamespace(logprob=float(logp[token]))})
            outputs.append(SimpleNamespace(outputs=[SimpleNamespace(token_ids=token_ids, logprobs=logprobs,
                                                                    stop_reason=stop_reason, finish_reason="stop"
                                                                    if stop_reason is not None else "length")]))
        return outputs


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(key, raising=False)
    yield module
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)  # set by VLLMSampler for vLLM's launcher


def setup(tiny_model_dir, **overrides):
    args = Args(model=str(tiny_model_dir), env="vowels", temperature=1.0, max_new_tokens=6,
                max_episode_tokens=512, **overrides)
    model, tokenizer = cleanagent_utils.models.load_model(args.model, args.dtype)
    return args, model, tokenizer, ChatFormat(tokenizer)


def test_merged_weights_equals_peft_merge_and_unload(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    model, _ = cleanagent_utils.models.load_model(str(tiny_model_dir), "float32")
    rank = 4
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=cleanagent_utils.models.LORA_ALPHA_PER_RANK * rank,
                                                  target_modules="all-linear", lora_dropout=0.0))
    with torch.no_grad():  # LoRA's B starts at zero: give the adapters something to merge
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    ours = merged_weights(peft_model.state_dict(), cleanagent_utils.models.LORA_ALPHA_PER_RANK)
    reference = peft_model.merge_and_unload().state_dict()
    assert set(ours) == set(reference)
    for name in reference:
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-5, atol=1e-6)
    plain, _ = cleanagent_utils.models.load_model(str(tiny_model_dir), "float32")
    assert all(torch.equal(a, b) for a, b in zip(merged_weights(plain.state_dict(), 0.0).values(),
                                                 plain.state_dict().values()))


def test_logprob_diffs_matches_a_plain_loop():
    ep = Episode(task_id=0, group=0, token_ids=list(range(12)), loss_mask=[0] * 12)
    ep.engine_logprobs = [(3, [-1.0, -2.0]), (8, [-0.5, float("nan"), -3.0])]
    trainer = torch.arange(11, dtype=torch.float32) * -0.25  # trainer[t - 1] is token t's log-prob
    expected = [abs(-1.0 - trainer[2].item()), abs(-2.0 - trainer[3].item()), abs(-0.5 - trainer[7].item()),
                abs(-3.0 - trainer[9].item())]
    assert logprob_diffs([ep], [trainer]) == pytest.approx(expected)


@pytest.mark.parametrize("include_stop_token", [True, False])
def test_rollout_on_the_engine_matches_the_trainer(tiny_model_dir, fake_vllm, monkeypatch, include_stop_token):
    """Weights synced into the engine, episodes played on it, the trainer's log-probs of the sampled
    tokens equal the engine's (the same float32 weights here), the end-of-turn token kept in the ids."""
    monkeypatch.setattr(FakeLLM, "include_stop_token", include_stop_token)
    args, model, tokenizer, chat = setup(tiny_model_dir)
    torch.manual_seed(0)
    sampler = VLLMSampler(model, tokenizer, chat.end_of_turn, args, seed=0)
    engine = sampler.llm
    assert engine.events == ["sleep2"]
    with pytest.raises(RuntimeError, match="sync_weights"):
        sampler([[1, 2, 3]], [4])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # the trainer's weights moved since the engine was built
        # and end-of-turn became likely (a random model would almost never stop on its own)
        hidden = model.get_decoder()(
            input_ids=torch.tensor([chat.prompt("Say a word.", "hello")])).last_hidden_state[0].mean(0)
        model.get_output_embeddings().weight[chat.end_of_turn] = hidden / hidden.norm() ** 2 * 12.0
    sync_weights(sampler, model, args)
    for name, value in model.state_dict().items():
        assert torch.equal(engine.loaded[name], value)
    env_list = [envs.make("vowels") for _ in range(4)]
    episodes = [Episode(task_id=t, group=t) for t in range(4)]
    rollout(sampler, chat, env_list, episodes, horizon=3, args=args)
    sampler.reset()
    assert engine.events[:4] == ["sleep2", "wake_weights", "load_weights", "reset_prefix_cache"]
    assert (engine.events[4] == "wake_kv_cache" and engine.events[-1] == "sleep2"
            and engine.events.count("wake_kv_cache") == 1)
    turns = sum(len(ep.engine_logprobs) for ep in episodes)
    assert turns == sum(ep.turns for ep in episodes) > 0
    for ep in episodes:  # each recorded reply sits where its sampled tokens (mask 1) are
        for start, logps in ep.engine_logprobs:
            assert ep.loss_mask[start : start + len(logps)] == [1] * len(logps)
    ended = [ep.token_ids[start + len(logps) - 1] == chat.end_of_turn for ep in episodes
             for start, logps in ep.engine_logprobs]
    assert any(ended)  # a reply that stopped at end-of-turn has the token in its ids either way
    diffs = logprob_diffs(episodes, batch_logprobs(model, episodes, args, "cpu"))
    assert len(diffs) == sum(len(logps) for ep in episodes
                             for _, logps in ep.engine_logprobs) - (0 if include_stop_token else sum(ended))
    assert max(diffs) < 1e-4


def test_sync_weights_is_a_no_op_for_the_hf_sampler(tiny_model_dir):
    args, model, tokenizer, chat = setup(tiny_model_dir)
    sampler = KVSampler(model, tokenizer.pad_token_id, chat.end_of_turn, args.temperature)
    sync_weights(sampler, model, args)  # nothing to push: the training model samples itself
    episodes = [Episode(task_id=0, group=0)]
    rollout(sampler, chat, [envs.make("vowels")], episodes, horizon=2, args=args)
    assert episodes[0].engine_logprobs == []


@pytest.mark.parametrize("script", ["grpo_agent.py", "ppo_agent.py", "reinforce_agent.py"])
@pytest.mark.parametrize("flags, message", [
    (["--rollout-backend", "vllm"], "--rollout-backend vllm needs a CUDA GPU"),
    (["--vllm-gpu-memory-utilization", "1.5"], "--vllm-gpu-memory-utilization must be in (0, 1)"),
])
def test_bad_backend_flags_fail_fast(script, flags, message):
    if "--rollout-backend" in flags and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the flag is valid here")
    proc = subprocess.run([sys.executable, script, "--env", "vowels", *flags], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and message in proc.stderr + proc.stdout


def test_the_hf_path_never_imports_vllm(tiny_model_dir, tmp_path):
    """A `vllm` package that raises when imported is first on the path: the HF backend trains anyway."""
    (tmp_path / "poison" / "vllm").mkdir(parents=True)
    (tmp_path / "poison" / "vllm" / "__init__.py").write_text("raise RuntimeError('the HF path imported vllm')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "poison"), str(REPO)])}
    proc = subprocess.run([sys.executable, "grpo_agent.py", "--env", "vowels", "--model", str(tiny_model_dir),
                           "--total-iterations", "1", "--num-tasks", "1", "--group-size", "2", "--max-new-tokens", "3",
                           "--horizons", "1", "--runs-dir", str(tmp_path / "runs")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the vLLM backend needs a CUDA GPU")
def test_real_vllm_engine_two_iterations(tiny_model_dir, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install -r requirements-gpu.txt)")
    proc = subprocess.run([sys.executable, "grpo_agent.py", "--env", "vowels", "--model", str(tiny_model_dir),
                           "--rollout-backend", "vllm", "--total-iterations", "2", "--num-tasks", "2", "--group-size",
                           "4", "--max-new-tokens", "8", "--horizons", "2", "--runs-dir",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert (len(lines) == 2
            and all(math.isfinite(line["logprob_diff"]) and line["logprob_diff"] < 0.05 for line in lines))
