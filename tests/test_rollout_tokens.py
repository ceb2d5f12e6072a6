"""Token bookkeeping of the multi-turn rollout: sampled ids are kept exactly, the loss mask covers
exactly the sampled ids (end-of-turn included), and the whole sequence is what the chat template
gives for the final conversation."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from cleanagent_utils.chat import chat_ids
from cleanagent_utils.samplers import KVSampler, RoomyCache, RoomyLayer
from envs.base import TextEnv
from grpo_agent import Args, ChatFormat, Episode, rollout


class ScriptedEnv(TextEnv):
    """Three observations, then done; records the replies it was given."""

    name = "scripted"
    instructions = "Answer the questions."
    demonstration = (("Example question?", "Thought: example.\nAction: example"),)

    def reset(self, task_id):
        self.replies, self.t = [], 0
        return f"Question 1 of task {task_id}?", {"success": False, "score": 0.0}

    def step(self, reply):
        self.replies.append(reply)
        self.t += 1
        done = self.t == 3
        return (f"Observation {self.t}: ok <b>\n  indented", float(done), done, False,
                {"success": done, "score": 0.0, "format_ok": True})


def scripted_sampler(tokenizer, eot, replies):
    """A 'policy' that emits canonical tokenizations, ending with end-of-turn unless told to be cut."""
    calls = iter(replies)

    def sample(prompts, caps, stops=None):
        text, cut = next(calls)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return [ids if cut else ids + [eot] for _ in prompts]

    return sample


def test_rollout_ids_equal_chat_template_of_final_conversation(tokenizer):
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=64, max_episode_tokens=2048, format_reward=0.0)
    replies = [("Thought: easy.\nAction: look", False), ("Action: cut off mid", True), ("Action: done", False)]
    env = ScriptedEnv()
    ep = rollout(scripted_sampler(tokenizer, chat.end_of_turn, replies), chat, [env], [Episode(task_id=7, group=0)],
                 horizon=5, args=args)[0]

    conversation = [
        {"role": "system", "content": env.instructions},
        {"role": "user", "content": "Example question?"},  # the demonstration turn: prompt, never trained
        {"role": "assistant", "content": "Thought: example.\nAction: example"},
        {"role": "user", "content": "Question 1 of task 7?"},
    ]
    for t, (text, _) in enumerate(replies):
        conversation.append({"role": "assistant", "content": text})
        if t < 2:
            conversation.append({"role": "user", "content": f"Observation {t + 1}: ok <b>\n  indented"})
    assert ep.token_ids == chat_ids(tokenizer, conversation)
    assert env.replies == [text for text, _ in replies]
    assert ep.turns == 3 and ep.success and not ep.truncated and ep.reward == 1.0

    # the loss mask is exactly the sampled ids: each reply's tokens, plus end-of-turn where it was sampled
    expected_sampled = []
    for text, cut in replies:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        expected_sampled += ids if cut else ids + [chat.end_of_turn]
    masked = [tok for tok, m in zip(ep.token_ids, ep.loss_mask) if m]
    assert masked == expected_sampled
    assert len(ep.loss_mask) == len(ep.token_ids)
    # the end-of-turn the cut turn never sampled is in the sequence but not trained
    assert sum(1 for tok, m in zip(ep.token_ids, ep.loss_mask) if tok == chat.end_of_turn and m) == 2


def test_horizon_and_token_budget_truncate(tokenizer):
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=8, max_episode_tokens=4096, format_reward=0.0)
    replies = [("a", False)] * 5
    ep = rollout(scripted_sampler(tokenizer, chat.end_of_turn, replies), chat, [ScriptedEnv()],
                 [Episode(task_id=0, group=0)], horizon=2, args=args)[0]
    assert ep.turns == 2 and ep.truncated and not ep.success

    prompt_len = len(chat.prompt(ScriptedEnv.instructions, "Question 1 of task 0?", ScriptedEnv.demonstration))
    args = Args(max_new_tokens=8, max_episode_tokens=prompt_len + 12, format_reward=0.0)
    ep = rollout(scripted_sampler(tokenizer, chat.end_of_turn, replies), chat, [ScriptedEnv()],
                 [Episode(task_id=0, group=0)], horizon=5, args=args)[0]
    assert ep.truncated and ep.turns == 1 and len(ep.token_ids) <= args.max_episode_tokens


class LongPromptEnv(ScriptedEnv):
    def reset(self, task_id):
        super().reset(task_id)
        return "word " * 3000, {"success": False, "score": 0.0}


def test_episode_whose_prompt_overflows_the_budget_is_cut_and_counted(tokenizer):
    """A first observation longer than --max-episode-tokens: the episode is truncated before any turn
    (no sampled tokens, so it never reaches the update) while the other episodes play on."""
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=8, max_episode_tokens=512, format_reward=0.0)
    seen = []

    def sample(prompts, caps, stops=None):
        seen.append(max(len(p) for p in prompts))
        return scripted_sampler(tokenizer, chat.end_of_turn, [("a", False)])(prompts, caps, stops)

    eps = [Episode(task_id=0, group=0), Episode(task_id=1, group=0)]
    rollout(sample, chat, [LongPromptEnv(), ScriptedEnv()], eps, horizon=3, args=args)
    assert eps[0].truncated and eps[0].turns == 0 and sum(eps[0].loss_mask) == 0 and not eps[0].failed
    assert eps[1].turns == 3 and max(seen) < args.max_episode_tokens


def test_failed_env_is_masked_not_raised(tokenizer):
    class Broken(ScriptedEnv):
        def step(self, reply):
            raise RuntimeError("server went away")

    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=8, format_reward=0.0)
    eps = [Episode(task_id=0, group=0), Episode(task_id=0, group=0)]
    rollout(scripted_sampler(tokenizer, chat.end_of_turn, [("x", False)] * 3), chat, [Broken(), ScriptedEnv()], eps,
            horizon=3, args=args)
    assert eps[0].failed and not eps[1].failed and eps[1].turns == 3
    assert "server went away" in eps[0].transcript[-1]


def test_sampled_ids_from_a_real_model_are_kept_exactly(tiny_model_dir, tokenizer):
    """With real sampling, the masked ids are exactly what generate returned, and every unmasked
    segment after the prompt is the template's closing + observation delta."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=6, format_reward=0.0)
    returned = []
    sampler = KVSampler(model, tokenizer.pad_token_id, chat.end_of_turn, 1.0)

    def sample(prompts, caps, stops=None):
        out = sampler(prompts, caps, stops)
        returned.append(out)
        return out

    torch.manual_seed(0)
    eps = [Episode(task_id=i, group=0) for i in range(3)]
    rollout(sample, chat, [ScriptedEnv() for _ in eps], eps, horizon=3, args=args)
    for k, ep in enumerate(eps):
        sampled = [s for turn in returned for s in [turn[k]]]
        assert [t for t, m in zip(ep.token_ids, ep.loss_mask) if m] == [t for s in sampled for t in s]
        for s in sampled:
            assert len(s) <= 6 and (chat.end_of_turn not in s[:-1])


class VaryingEnv(ScriptedEnv):
    """Observations of a different length per env, four turns."""

    def __init__(self, words):
        super().__init__()
        self.words = words

    def step(self, reply):
        self.replies.append(reply)
        self.t += 1
        return "obs " * self.words, 0.0, self.t == 4, False, {"success": False, "score": 0.0, "format_ok": True}


def test_kv_cache_reuse_matches_encoding_the_whole_history(tiny_model_dir, tokenizer):
    """Greedy turns with the cache kept across turns (padding holes and all) equal greedy turns that
    re-encode every episode's whole history from scratch, for episodes of different lengths."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=7, format_reward=0.0)
    cached = KVSampler(model, tokenizer.pad_token_id, chat.end_of_turn, 0.0)
    fresh = KVSampler(model, tokenizer.pad_token_id, chat.end_of_turn, 0.0)
    reused = []

    def compare(prompts, caps, stops=None):
        reused.append(cached.cache is not None and cached._reuse(prompts) is not None)
        a = cached(prompts, caps, stops)
        fresh.reset()
        assert a == fresh(prompts, caps, stops)
        return a

    eps = [Episode(task_id=i, group=0) for i in range(4)]
    rollout(compare, chat, [VaryingEnv(1 + 3 * i) for i in range(4)], eps, horizon=4, args=args)
    assert reused == [False, True, True, True]


def test_roomy_cache_stores_bf16_and_changes_no_logit(tiny_model_dir, monkeypatch):
    """Under bf16 autocast the attention casts fp32 keys and values to bf16 anyway: a cache that stores them in bf16,
    written in place into buffers with room to spare, gives bit-identical logits to transformers' DynamicCache over
    a padded prefill and 12 decode steps that outgrow the first buffer."""
    from transformers import DynamicCache

    monkeypatch.setattr(RoomyLayer, "room", 16)  # 40 prompt positions: a buffer of 48, then of 64 at the 9th step

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    torch.manual_seed(0)
    ids = torch.randint(0, 1000, (3, 40))
    mask = torch.ones_like(ids)
    mask[0, :9] = 0  # a left-padded row

    def logits_with(cache):
        out, m = [], mask.clone()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            pos = (m.cumsum(1) - 1).clamp(min=0)
            step = dict(use_cache=True, logits_to_keep=1, past_key_values=cache)
            logits = model(input_ids=ids, attention_mask=m, position_ids=pos, **step).logits[:, -1]
            for k in range(12):
                out.append(logits.float())
                m = torch.cat([m, torch.ones(3, 1, dtype=m.dtype)], 1)
                logits = model(input_ids=logits.argmax(-1, keepdim=True), attention_mask=m,
                               position_ids=pos[:, -1:] + 1 + k, **step).logits[:, -1]
        return torch.stack(out)

    plain, cache = logits_with(DynamicCache()), RoomyCache()
    assert torch.equal(logits_with(cache), plain)
    assert cache.layers[0].keys.dtype == cache.layers[0].values.dtype == torch.bfloat16
    assert cache.layers[0].buffers[0].shape[-2] == 64 and cache.get_seq_length() == 40 + 12
    fp32 = RoomyCache()  # without autocast nothing is cast
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask, use_cache=True, past_key_values=fp32)
    assert fp32.layers[0].keys.dtype == torch.float32


def test_kv_sampler_keeps_only_the_episodes_still_live(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    sampler = KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    first = sampler(prompts, [3, 3, 3])
    longer = [prompts[0] + first[0] + [10], prompts[2] + first[2] + [11, 12]]  # episode 1 finished
    assert sampler._reuse(longer) == [0, 2]
    second = sampler(longer, [2, 2])
    sampler.reset()
    assert second == sampler(longer, [2, 2])
    assert sampler._reuse([[99]]) is None


class NanRewardEnv(ScriptedEnv):
    def step(self, reply):
        obs, _, done, truncated, info = super().step(reply)
        return obs, float("nan"), done, truncated, info


def test_non_finite_reward_masks_the_episode(tokenizer):
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=8, format_reward=0.0)
    eps = [Episode(task_id=0, group=0), Episode(task_id=0, group=0)]
    rollout(scripted_sampler(tokenizer, chat.end_of_turn, [("x", False)] * 3), chat, [NanRewardEnv(), ScriptedEnv()],
            eps, horizon=3, args=args)
    assert eps[0].failed and "non-finite reward" in eps[0].transcript[-1]
    assert not eps[1].failed and eps[1].reward == 1.0


def test_identical_first_prompts_are_encoded_once(tiny_model_dir, tokenizer):
    """A GRPO group's members start from the same prompt: it is encoded once and the cache copied, and
    greedy replies (first turn and, through the copied cache, the next) equal one sampler per prompt."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    fed = []
    model.register_forward_pre_hook(lambda module, args,
                                    kwargs: fed.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    group = KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)
    prompts = [[1, 2, 3, 4], [5, 6], [1, 2, 3, 4], [5, 6], [1, 2, 3, 4]]
    first = group(prompts, [3] * 5)
    assert fed[0] == 2  # the prefill saw the two distinct prompts, the decode steps all five rows
    assert all(rows == 5 for rows in fed[1:])
    singles = [KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)([p], [3])[0] for p in prompts]
    assert first == singles
    follow = [p + s + [7 + i] for i, (p, s) in enumerate(zip(prompts, first))]
    second = group(follow, [2] * 5)
    group.reset()
    assert second == group(follow, [2] * 5)  # the copied rows carry on exactly like freshly encoded ones


# -- a turn ends at a complete action, or at any end id of the model ----------------------------


def test_kv_sampler_stops_where_the_stop_function_says_and_carries_on_exactly(tiny_model_dir, tokenizer):
    """A row whose `stops` fires ends there (that token kept, nothing after it); the cache it leaves
    behind gives the next turn exactly what a fresh sampler gives."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    sampler = KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)
    prompts = [[1, 2, 3], [4, 5, 6, 7]]
    free = KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)(prompts, [6, 6])
    stopped = sampler(prompts, [6, 6], [lambda ids: len(ids) >= 2, lambda ids: False])
    assert stopped == [free[0][:2], free[1]]
    follow = [p + s + [9] for p, s in zip(prompts, stopped)]
    second = sampler(follow, [3, 3])
    assert second == KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)(follow, [3, 3])


def test_kv_sampler_ends_a_reply_at_any_stop_id(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    free = KVSampler(model, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0)([[1, 2, 3]], [6])[0]
    stop_id = free[2]  # a token the greedy reply samples third becomes an end id: the reply ends there
    stopped = KVSampler(model, tokenizer.pad_token_id, (tokenizer.eos_token_id, stop_id), 0.0)([[1, 2, 3]], [6])[0]
    assert stopped == free[: free.index(stop_id) + 1]


def test_chat_format_stop_ids_include_the_generation_config_end_ids(tokenizer):
    chat = ChatFormat(tokenizer, [tokenizer.eos_token_id, 0, 7])  # the end-of-turn first, no duplicates
    assert chat.stop_ids == (tokenizer.eos_token_id, 0, 7)
    assert ChatFormat(tokenizer, 5).stop_ids == (tokenizer.eos_token_id, 5)
    assert ChatFormat(tokenizer).stop_ids == (tokenizer.eos_token_id,)


def test_a_reply_ended_by_another_end_id_is_trained_and_closed_by_the_template(tokenizer):
    """Qwen's <|endoftext|> ends a reply like <|im_end|>: it was sampled (mask 1); the template's own
    end-of-turn is appended after it, never sampled (mask 0)."""
    other_end = 0  # SmolLM2's <|endoftext|>
    chat = ChatFormat(tokenizer, [other_end])
    args = Args(max_new_tokens=16, format_reward=0.0)
    reply = tokenizer("Action: look", add_special_tokens=False)["input_ids"] + [other_end]
    ep = rollout(lambda prompts, caps, stops=None: [reply for _ in prompts], chat, [ScriptedEnv()],
                 [Episode(task_id=0, group=0)], horizon=1, args=args)[0]
    start = ep.loss_mask.index(1)
    assert (ep.token_ids[start : start + len(reply)] == reply
            and ep.loss_mask[start : start + len(reply)] == [1] * len(reply))
    assert ep.token_ids[start + len(reply)] == chat.end_of_turn and ep.loss_mask[start + len(reply)] == 0
    assert sum(ep.loss_mask) == len(reply)


class CompleteAfterThreeCharsEnv(ScriptedEnv):
    def reply_complete(self, reply):
        return len(reply) >= 3


def test_rollout_hands_the_env_rule_to_the_sampler_on_the_decoded_reply(tiny_model_dir, tokenizer):
    """--stop-at-action: the sampler's stop functions read the text of the sampled ids through the env's
    `reply_complete`; the stopped reply gets the template's end-of-turn with mask 0."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    chat = ChatFormat(tokenizer)
    sampler = KVSampler(model, tokenizer.pad_token_id, chat.stop_ids, 1.0)
    seen = []

    def sample(prompts, caps, stops=None):
        seen.append(stops)
        return sampler(prompts, caps, stops)

    torch.manual_seed(0)
    args = Args(max_new_tokens=12, format_reward=0.0, stop_at_action=True)
    ep = rollout(sample, chat, [CompleteAfterThreeCharsEnv()], [Episode(task_id=0, group=0)], horizon=2, args=args)[0]
    assert all(stops is not None for stops in seen)
    turns = []  # each turn's sampled ids: the runs of loss mask 1
    for token, m, prev in zip(ep.token_ids, ep.loss_mask, [0] + ep.loss_mask[:-1]):
        if m and not prev:
            turns.append([])
        if m:
            turns[-1].append(token)
    assert len(turns) == 2
    for ids in turns:
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if ids[-1] not in chat.stop_ids and len(ids) < 12:  # stopped by the rule: at the first token that made it true
            assert len(text) >= 3 and len(tokenizer.decode(ids[:-1], skip_special_tokens=True)) < 3
        else:  # ended otherwise: the rule never held before the end
            assert all(len(tokenizer.decode(ids[:n], skip_special_tokens=True)) < 3 for n in range(1, len(ids)))
    args = Args(max_new_tokens=12, format_reward=0.0, stop_at_action=False)
    seen.clear()
    rollout(sample, chat, [CompleteAfterThreeCharsEnv()], [Episode(task_id=0, group=0)], horizon=1, args=args)
    assert seen == [None]


class FormatEnv(ScriptedEnv):
    """Says done with reward 1 at turn `done_at` (never when None); turn t's action is well-formed when
    `well_formed[t]`."""

    def __init__(self, done_at, well_formed):
        super().__init__()
        self.done_at, self.well_formed = done_at, well_formed

    def step(self, reply):
        self.t += 1
        done = self.t == self.done_at
        return ("obs", float(done), done, False,
                {"success": done, "score": 0.0, "format_ok": self.well_formed[self.t - 1]})


def play(tokenizer, env, horizon, format_reward=0.1):
    chat = ChatFormat(tokenizer)
    args = Args(max_new_tokens=8, max_episode_tokens=8192, format_reward=format_reward)
    sampler = scripted_sampler(tokenizer, chat.end_of_turn, [("Action: x", False)] * horizon)
    return rollout(sampler, chat, [env], [Episode(task_id=0, group=0)], horizon=horizon, args=args)[0]


def test_format_reward_is_a_per_turn_mean(tokenizer):
    """--format-reward times the share of well-formed turns: an episode earns at most the coefficient
    however many turns it plays (a per-turn sum paid 3.0 at horizon 30 with 0.1, more than a success)."""
    stalling = play(tokenizer, FormatEnv(None, [True] * 30), horizon=30)
    assert stalling.turns == 30 and stalling.well_formed_turns == 30 and not stalling.success
    assert stalling.format_reward == pytest.approx(0.1) and stalling.total_reward == pytest.approx(0.1)
    half = play(tokenizer, FormatEnv(None, [True, False] * 3), horizon=6)
    assert half.well_formed_turns == 3 and half.format_reward == pytest.approx(0.1 * 3 / 6)
    assert play(tokenizer, FormatEnv(None, [False] * 4), horizon=4).format_reward == 0.0
    assert play(tokenizer, FormatEnv(None, [True] * 4), horizon=4, format_reward=0.0).format_reward == 0.0


def test_finishing_beats_stalling_to_the_horizon(tokenizer):
    short = play(tokenizer, FormatEnv(2, [False, True]), horizon=30)  # one malformed turn, then done
    stalling = play(tokenizer, FormatEnv(None, [True] * 30), horizon=30)
    assert short.success and short.turns == 2 and short.format_reward == pytest.approx(0.05)
    assert short.total_reward > stalling.total_reward
    for coef in (0.1, 0.5, 0.99):  # as long as the coefficient is below the success reward of 1
        short, stalling = (play(tokenizer, FormatEnv(1, [False]), 30, coef),
                           play(tokenizer, FormatEnv(None, [True] * 30), 30, coef))
        assert short.total_reward > stalling.total_reward


class EnvTruncatesEnv(ScriptedEnv):
    """Truncates the episode itself (its own step limit) at turn `at`, never terminates."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def step(self, reply):
        self.t += 1
        return "obs", 0.0, False, self.t == self.at, {"success": False, "score": 0.0, "format_ok": True}


def test_only_the_horizon_sets_horizon_cut(tokenizer):
    """`horizon_cut` (the adaptive horizon's cut rate) is set only when the horizon ended the episode;
    `truncated` also counts the token budget's cuts and the env's own truncation."""
    chat = ChatFormat(tokenizer)

    def ends(env, horizon, max_episode_tokens=4096):
        args = Args(max_new_tokens=8, max_episode_tokens=max_episode_tokens, format_reward=0.0)
        ep = rollout(scripted_sampler(tokenizer, chat.end_of_turn, [("a", False)] * 5), chat, [env],
                     [Episode(task_id=0, group=0)], horizon, args)[0]
        return ep.turns, ep.truncated, ep.horizon_cut

    assert ends(ScriptedEnv(), horizon=2) == (2, True, True)  # the horizon: cut
    assert ends(ScriptedEnv(), horizon=3) == (3, False, False)  # the env terminates on the horizon's last turn: no cut
    assert ends(ScriptedEnv(), horizon=5) == (3, False, False)
    assert ends(EnvTruncatesEnv(2), horizon=5) == (2, True, False)  # the env's own truncation
    assert ends(EnvTruncatesEnv(3), horizon=3) == (3, True, False)  # ... even on the horizon's last turn
    prompt_len = len(chat.prompt(ScriptedEnv.instructions, "Question 1 of task 0?", ScriptedEnv.demonstration))
    assert ends(ScriptedEnv(), horizon=5, max_episode_tokens=prompt_len + 12) == (1, True, False)  # the token budget


def test_a_horizon_cut_keeps_the_state_it_was_cut_in(tokenizer):
    """At a horizon cut the env's last observation is kept as its token delta (with the next assistant
    header) apart from the sequence, for ppo_agent.py's --bootstrap-horizon-cut; every other end keeps
    none, and neither does a cut whose next turn would not have fit the token budget."""
    chat = ChatFormat(tokenizer)

    def play(env, horizon, max_episode_tokens=4096):
        args = Args(max_new_tokens=8, max_episode_tokens=max_episode_tokens, format_reward=0.0)
        return rollout(scripted_sampler(tokenizer, chat.end_of_turn, [("a", False)] * 5), chat, [env],
                       [Episode(task_id=0, group=0)], horizon, args)[0]

    cut = play(ScriptedEnv(), horizon=2)
    assert cut.horizon_cut and cut.cut_observation == chat.observation("Observation 2: ok <b>\n  indented")
    assert cut.transcript[-1] == "[agent] a" and len(cut.loss_mask) == len(cut.token_ids)  # not in the sequence
    assert play(ScriptedEnv(), horizon=3).cut_observation == []  # terminated by the env
    assert play(EnvTruncatesEnv(2), horizon=2).cut_observation == []  # truncated by the env
    one = play(ScriptedEnv(), horizon=1)
    room = len(one.token_ids) + len(one.cut_observation) + 1  # what the next turn needed: a token more than the state
    assert (one.cut_observation
            and play(ScriptedEnv(), horizon=1, max_episode_tokens=room + 1).cut_observation == one.cut_observation)
    short = play(ScriptedEnv(), horizon=1, max_episode_tokens=room)
    assert short.horizon_cut and short.cut_observation == [] and short.token_ids == one.token_ids


def test_kv_cache_bench_times_both_caches(tiny_model_dir, tmp_path):
    import json

    from bench.kv_cache import main

    out = tmp_path / "kv.json"
    result = main(["--model", str(tiny_model_dir), "--rows", "2", "--prompt", "20", "--steps", "3", "--repeats", "1",
                   "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert all(len(v) == 1 and v[0] > 0 for v in result["ms_per_step"].values()) and result["roomy_over_dynamic"] > 0
