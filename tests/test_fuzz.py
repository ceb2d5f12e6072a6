"""Property-based fuzzing (hypothesis) of every env's `step`, and of the data loaders' errors.

1. Every env of `envs.names()`, in both action formats, gets random and adversarial replies: any
   Unicode text (control characters, NUL, bidi marks), 100 KB replies, thousands of "Action:"
   markers, and commands built from the env's own vocabulary with out-of-range numbers (TextCraft
   counts, BabyAI object numbers, WebShop brackets, SearchQA tags, tool-call JSON that is broken,
   deeply nested, or has arguments that are not an object), mixed with expert replies so that
   mid-episode and finished states are reached too. Properties: `step` never raises and returns
   (str, finite float, bool, bool, info with success / score / action / format_ok); the
   observation stays under `MAX_OBS_CHARS` and is valid Unicode; a step after the episode ended
   is answered with reward 0 and terminated/truncated; and the fuzzed env still plays the
   expert's episode exactly as a fresh env does (same observations, rewards and success).
2. The real-data loaders (`envs/webshop/original.py`, `envs/searchqa/data.py`) reject malformed
   files with a ValueError naming the file, the record (JSONL line; JSON record number or asin)
   and what is wrong, never a bare KeyError / TypeError / JSONDecodeError.

Examples are derandomized (the same every run) and few enough for CI (the file runs in about 30 s
on two shared cores); `CLEANAGENT_FUZZ_SCALE=10` multiplies them for a deeper local run.
Bugs found in files owned elsewhere are kept out of the fuzzed inputs by `known_bugs()` and each
is pinned by a strict xfail test below, which fails (XPASS) once the bug is fixed: then delete
the xfail and its `known_bugs()` entry.
"""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.base import MAX_REPLY_CHARS

NAMES = envs.names()
INFO_KEYS = {"success", "score", "action", "format_ok"}
MAX_OBS_CHARS = MAX_REPLY_CHARS
"""No reply, however long, may make an observation longer than this (it would flood the context)."""
SCALE = float(os.environ.get("CLEANAGENT_FUZZ_SCALE", "1"))
EXAMPLES = {"babyai": 80, "sciworld": 20, "searchqa": 100, "textcraft": 100, "tooluse": 60,
            "vowels": 30, "webshop": 100}
"""Fuzzed episodes per env in the strict format; the lenient format gets half."""


def fuzz_settings(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


# --------------------------------------------------------------------------- known bugs
# Bugs in files this test does not own (reported with these reproducers). `known_bugs` names the
# ones a reply would trigger, so that the fuzz test keeps testing everything else.

_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _nesting(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def known_bugs(name: str, reply: str) -> set[str]:
    """The known (unfixed) bugs `reply` would trigger in env `name` (none at present)."""
    return set()


RAISING_BUGS: set[str] = set()
AFTER_DONE_BUGS: dict[str, tuple[type, str]] = {}
BAD_ID_BUGS: dict[str, tuple[type, str]] = {}
SURROGATE_BUGS: dict[str, tuple[type, str]] = {}


def with_known_bugs(names, bugs: dict[str, tuple[type, str]]) -> list:
    """`names` as test parameters, those in `bugs` marked xfail (strict) for that exception."""
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, raises=bugs[n][0], reason=bugs[n][1]))
            if n in bugs else n for n in names]


# --------------------------------------------------------------------------- strategies

CONTROL = [chr(c) for c in range(32)] + [
    "\x7f", "\x85", "\u00a0", "\u0301", "\u200b", "\u200d", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a",
    "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\ufffd",
    "\uffff", "\U0001f600", "\U0010ffff",
]
CHARS = st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(CONTROL))
JUNK = st.text(CHARS, max_size=40)
ANY_TEXT = st.text(CHARS, max_size=300)
NUMBERS = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["0", "-1", "99999999999", "10001", "1e9", "1.5", "-0", "+3", "007", "0x10", "NaN", "inf",
                     "\u0663", "\uff11\uff12", "\u00b2", "", " "]),
    st.integers(20, 5000).map(lambda n: "9" * n),
)
TEMPLATES = [
    "{a}", "Action: {a}", "Thought: {j}\nAction: {a}", "Action: {a}\nAction: {a}", "```\nAction: {a}\n```",
    "Thought: {j}\nAction: {a}{j}", "{j}\n{a}\n{j}", "ACTION :  {a}  ", "Thought: {j}\n\nAction:\n{a}",
]


def long_text(unit=st.text(CHARS, min_size=1, max_size=12)):
    """A reply of 2 KB to 100 KB, including lengths around the MAX_REPLY_CHARS cut."""
    size = st.one_of(st.integers(2_000, 100_000), st.integers(MAX_REPLY_CHARS - 20, MAX_REPLY_CHARS + 20))
    return st.builds(lambda u, n: (u * (n // len(u) + 1))[:n], unit, size)


MARKERS = st.builds(lambda sep, n, tail: ("Action:" + sep) * n + tail,
                    st.sampled_from(["", " ", "\n", " x\n", "Action", " inventory\n"]), st.integers(2, 6_000), JUNK)


def replies(actions) -> st.SearchStrategy[str]:
    """Hostile replies for an env whose command strings are drawn from `actions`."""
    wrapped = st.builds(lambda t, a, j: t.format(a=a, j=j), st.sampled_from(TEMPLATES), actions, JUNK)
    padded = st.builds(lambda a, pad, n, before: pad * n + a if before else a + pad * n, wrapped,
                       st.sampled_from([" ", "\n", "x", "Action:", "\x00"]), st.integers(0, 100_000), st.booleans())
    return st.one_of(ANY_TEXT, long_text(), MARKERS, wrapped, wrapped, padded)


def textcraft_actions(env) -> st.SearchStrategy[str]:
    from envs.textcraft import display

    vocab = sorted(display(i) for i in env.book.items | env.book.tags)
    item = st.one_of(st.sampled_from(vocab), JUNK, long_text().map(lambda s: s[:5_000]))
    return st.one_of(
        st.builds("get {} {}".format, NUMBERS, item),
        st.builds(lambda c, it, ings: f"craft {c} {it} using " + ", ".join(f"{n} {i}" for n, i in ings),
                  NUMBERS, item, st.lists(st.tuples(NUMBERS, item), max_size=12)),
        st.builds("craft {} using {}".format, item, item),
        st.sampled_from(["inventory", "get", "craft", "craft using", "get  oak logs", "craft 1 using 1",
                         "craft 1 stick using 1 oak planks, 1 oak planks", "get 1 planks", "get 1 oak planks,"]),
    )


def babyai_actions(env) -> st.SearchStrategy[str]:
    verbs = ["go to", "pick up", "pickup", "go through", "toggle and go through", "open", "put", "drop", "toggle",
             "turn left", "turn right", "move forward", "check available actions", "done", "go to the", ""]
    colors = ["red", "green", "blue", "purple", "yellow", "grey", "pink", ""]
    kinds = ["ball", "key", "box", "door", "wall", "goal", ""]
    return st.builds(lambda *parts: " ".join(p for p in parts if p), st.sampled_from(verbs),
                     st.sampled_from(["the", "a", ""]), st.sampled_from(["open", "closed", "locked", ""]),
                     st.sampled_from(colors), st.sampled_from(kinds), st.one_of(st.just(""), NUMBERS, JUNK))


def sciworld_actions(env) -> st.SearchStrategy[str]:
    from envs.sciworld.env import VERBS

    things = ["door to kitchen", "kitchen", "hallway", "agent", "air", "thermometer", "sink", "stove", "water",
              "orange", "red box", "inventory", "greenhouse", "battery anode", "red wire", "seed jar", "flower pot 1",
              "metal pot", "substance in metal pot", "outside", "bathroom", "foundry", "workshop", "", "x" * 199]
    thing = st.one_of(st.sampled_from(things), JUNK)
    return st.one_of(
        st.builds("{} {}".format, st.sampled_from(VERBS), thing),
        st.builds(lambda v, a, b: f"{v[0]} {a} {v[1]} {b}",
                  st.sampled_from([("move", "to"), ("pour", "in"), ("use", "on"), ("connect", "to"), ("dunk", "into")]),
                  thing, thing),
        st.integers(0, 120).map(str), NUMBERS,
        st.sampled_from(["look around", "reset task", "wait1", "task", "help", "objects", "inventory", "wait"]),
    )


def searchqa_actions(env, task_ids) -> st.SearchStrategy[str]:
    golds = [g for t in task_ids for g in env.dataset.questions[t].golden_answers]
    arg = st.one_of(JUNK, st.sampled_from(golds), long_text().map(lambda s: s[:30_000]))
    tags = ["<search>", "</search>", "<answer>", "</answer>", "<information>", "</information>", "<Search>",
            "< search >", "</ answer>", "<search", "search>", "<think>", "</think>"]
    return st.one_of(
        st.builds("<search>{}</search>".format, arg), st.builds("<answer>{}</answer>".format, arg),
        st.lists(st.one_of(st.sampled_from(tags), JUNK, st.sampled_from(golds)), max_size=30).map("".join),
        st.builds(lambda t, n: t * n, st.sampled_from(tags), st.integers(2, 5_000)),
        st.builds("{}[{}]".format, st.sampled_from(["search", "answer", "Search", "click"]), arg),
        st.builds("{}: {}".format, st.sampled_from(["search", "answer", "final answer", "Action: search"]), arg),
    )


def webshop_actions(env, task_ids) -> st.SearchStrategy[str]:
    values = ["buy now", "next >", "< prev", "back to search", "description", "features", "reviews", "", "  ",
              "[", "]", "][", "b0", "red", "large", "small", "black", "buy", "Buy Now", "NEXT >", "< Prev"]
    values += [env.catalog.goals[t].asin.lower() for t in task_ids]
    value = st.one_of(st.sampled_from(values), JUNK)
    words = st.one_of(JUNK, st.sampled_from([env.catalog.goals[t].instruction for t in task_ids]),
                      long_text().map(lambda s: s[:100_000]))
    return st.one_of(
        st.builds("click[{}]".format, value), st.builds("click [{}]".format, value),
        st.builds("search[{}]".format, words), st.builds("search [{}]".format, words),
        st.builds(lambda v, n: "click[" + "[" * n + v + "]" * n, value, st.integers(1, 5_000)),
        st.builds("{}[{}".format, st.sampled_from(["click", "search"]), value),
        st.builds("{} {}".format, st.sampled_from(["click", "search", "buy", "select"]), value),
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(CHARS, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def tooluse_actions(env, task_ids) -> st.SearchStrategy[str]:
    tools = [s["function"] for t in task_ids for s in env.task_list[t].tools]
    names = st.one_of(st.sampled_from([f["name"] for f in tools]), JUNK)
    params = st.one_of(st.sampled_from([p for f in tools for p in f["parameters"].get("properties", {})]), JUNK)
    arguments = st.one_of(st.dictionaries(params, JSON_VALUES, max_size=4), JSON_VALUES,
                          JSON_VALUES.map(json.dumps), JUNK)  # objects, non-objects, JSON strings, junk strings
    call = st.builds(lambda n, a, key: {"name": n, key: a}, names, arguments,
                     st.sampled_from(["arguments", "parameters", "args"]))
    payload = st.one_of(
        call.map(json.dumps),
        st.lists(call, max_size=12).map(json.dumps),
        st.builds(lambda c, k: json.dumps(c)[:k], call, st.integers(0, 120)),  # cut off mid-JSON
        JSON_VALUES.map(json.dumps),
        st.builds(lambda o, n: o * n, st.sampled_from(["[", "{\"a\":", "[{\"x\":", "{"]), st.integers(1, 3_000)),
        st.builds(lambda n, k: json.dumps({"name": n, "arguments": {"q": "z" * k}}), names, st.integers(0, 30_000)),
        st.builds(lambda n, p, esc: f'{{"name": "{n}", "arguments": {{"{p}": "{esc}"}}}}', names, params,
                  st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u0000", "\\\\", "\\\""])),
        JUNK,
    )
    block = st.builds(lambda p, close: f"<tool_call>{p}" + ("</tool_call>" if close else ""), payload, st.booleans())
    python_call = st.builds(lambda n, p, v: f"{n}({p}={v!r})", names, params, JSON_VALUES)
    return st.one_of(
        st.lists(block, min_size=1, max_size=12).map("".join),
        st.builds("[TOOL_CALLS]{}".format, payload), st.builds("<|python_tag|>{}".format, payload), payload,
        python_call, st.builds("Answer: {}".format, JUNK), st.just(""),
    )


def vowels_actions(env) -> st.SearchStrategy[str]:
    return st.one_of(JUNK, st.sampled_from(["a", "E", " o", "\u00e9", "y"]))


def action_strategy(name: str, env, task_ids) -> st.SearchStrategy[str]:
    makers = {"babyai": babyai_actions, "sciworld": sciworld_actions, "textcraft": textcraft_actions,
              "vowels": vowels_actions}
    if name in makers:
        return makers[name](env)
    return {"searchqa": searchqa_actions, "webshop": webshop_actions, "tooluse": tooluse_actions}[name](env, task_ids)


# --------------------------------------------------------------------------- helpers

EXPERT = object()  # in a fuzzed reply list: send the expert's reply here


def expert_reply(env, name: str) -> str:
    return "apple" if name == "vowels" else env.expert_reply()


def fuzz_task_ids(name: str) -> list[int]:
    """Up to 6 test tasks spread over the split (so over levels / tiers where ids are grouped)."""
    ids = envs.tasks(name, "test")
    return ids[:: max(1, len(ids) // 6)][:6]


def check_step(result, reply: str, bugs: set[str] = frozenset()):
    """The step contract of `envs.base`; returns the unpacked result."""
    assert isinstance(result, tuple) and len(result) == 5, result
    obs, reward, terminated, truncated, info = result
    assert isinstance(obs, str)
    if "tooluse-observation-size" not in bugs:
        assert len(obs) <= MAX_OBS_CHARS, f"a {len(reply)}-char reply made a {len(obs)}-char observation"
    obs.encode("utf-8")  # no lone surrogates: they break tokenizers
    assert type(reward) is float and math.isfinite(reward), reward
    assert type(terminated) is bool and type(truncated) is bool
    assert isinstance(info, dict) and INFO_KEYS <= info.keys(), info
    assert type(info["success"]) is bool and type(info["format_ok"]) is bool, info
    assert isinstance(info["score"], (int, float)) and not isinstance(info["score"], bool), info
    assert math.isfinite(info["score"]), info
    assert info["action"] is None or isinstance(info["action"], str), info
    return result


def play(env, name: str, task: int, replies: list) -> None:
    """Reset `task`, send `replies` (EXPERT: the expert's), checking every step; once the episode
    ends, one more reply must be answered with reward 0 and the episode still over."""
    env.reset(task)
    for reply in replies:
        reply = expert_reply(env, name) if reply is EXPERT else reply
        bugs = known_bugs(name, reply)
        if bugs & RAISING_BUGS:
            continue
        _, _, terminated, truncated, info = check_step(env.step(reply), reply, bugs)
        if terminated or truncated:
            if name not in AFTER_DONE_BUGS:
                _, reward, terminated, truncated, again = check_step(env.step(reply), reply, bugs)
                assert reward == 0.0 and (terminated or truncated), "a step after the episode ended"
                assert again["success"] == info["success"]
            return


def expert_trajectory(env, name: str, task: int, limit: int = 120) -> list[tuple]:
    obs, _ = env.reset(task)
    steps = [obs]
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(expert_reply(env, name))
        steps.append((obs, reward, terminated, truncated, info["success"]))
        if terminated or truncated:
            break
    return steps


# Hand-written adversarial replies, always run before the generated ones.
HUGE = "x" * 100_000
FIXED = [
    "", " ", "\x00" * 50_000, "Action:" * 5_000, "Action: " + HUGE, "\u202e\u200fAction: \u202einventory",
    "Thought: a\nAction: \x1b[31m\x07\x08", "Action: 99999999999999999999999999", "Action: -1", "Action: 0",
    "Action:\n\n\n", "Action: " + "\n" * 30_000, "\r\n" * 20_000, "a" * 100_000 + "Action: inventory",
]
FIXED_BY_ENV = {
    "textcraft": ["Action: get 99999999999 oak planks", "Action: craft -1 stick using 1 oak planks",
                  "Action: get 1 " + "oak " * 4_000,
                  "Action: craft 1 stick using " + ", ".join(["1 oak planks"] * 3_000), "Action: get 0 oak logs",
                  "Action: get \u0661 oak logs", "Action: craft stick using"],
    "babyai": ["Action: go to the red ball 99999", "Action: pick up the blue key -1", "Action: drop",
               "Action: toggle and go through the grey door 999", "Action: go to the " + "red " * 5_000 + "ball"],
    "sciworld": ["Action: look at " + "x" * 199, "Action: " + "x" * 201, "Action: 0", "Action: 99",
                 "Action: reset task", "Action: move " + "a to " * 30 + "b", "Action: teleport to kitchen",
                 "Action: focus on agent"],
    "searchqa": ["<search>" + HUGE + "</search>", "<answer>" + HUGE + "</answer>", "<search>" * 5_000,
                 "<search><answer>x</answer></search>", "<search></search>", "<answer> </answer>",
                 "search[" + HUGE + "]", "<information>x</information>" * 1_000],
    "webshop": ["Action: search[" + HUGE + "]", "Action: click[  ]", "Action: click [  ]", "Action: click[]",
                "Action: search[]", "Action: click[buy now]", "Action: click[" + "[" * 5_000 + "]",
                "Action: search[" + "]" * 5_000],
    "tooluse": ["<tool_call>{\"name\": 5}</tool_call>",
                "<tool_call>{\"name\": \"x\", \"arguments\": [1, 2]}</tool_call>",
                "<tool_call>{\"name\": \"x\", \"arguments\": \"{bad\"}</tool_call>", "<tool_call>{\"name\": \"x\"",
                "<tool_call>" + json.dumps([{"name": "x", "arguments": {}}] * 500) + "</tool_call>",
                "[TOOL_CALLS]" + "[" * 400, "{" * 10_000, "<tool_call>{\"name\": \"x\", \"arguments\": {\"a\": 1e999}}",
                "<tool_call>" + json.dumps({"name": "x", "arguments": {"q": "z" * 18_000}}) + "</tool_call>"],
    "vowels": [],
}


@pytest.fixture(scope="module")
def env_cache():
    """One env per (name, action format) for the whole module; closed at the end."""
    made: dict[tuple[str, str], envs.TextEnv] = {}

    def get(name: str, action_format: str = "strict"):
        if (name, action_format) not in made:
            made[name, action_format] = envs.make(name, action_format=action_format)
        return made[name, action_format]

    yield get
    for env in made.values():
        env.close()


# --------------------------------------------------------------------------- 1. step fuzzing


@pytest.mark.parametrize("action_format", ["strict", "lenient"])
@pytest.mark.parametrize("name", NAMES)
def test_step_survives_hostile_replies(name, action_format, env_cache):
    env = env_cache(name, action_format)
    task_ids = fuzz_task_ids(name)
    expected = {}
    fresh = envs.make(name, action_format=action_format)
    try:
        for task in (task_ids[0],) if name == "sciworld" else (task_ids[0], task_ids[-1]):
            expected[task] = expert_trajectory(fresh, name, task)
    finally:
        fresh.close()

    for reply in FIXED + FIXED_BY_ENV[name]:
        play(env, name, task_ids[0], [reply, EXPERT, reply])

    reply = replies(action_strategy(name, env, task_ids))
    n = EXAMPLES[name] if action_format == "strict" else EXAMPLES[name] // 2

    @fuzz_settings(n)
    @given(task=st.sampled_from(task_ids),
           episode=st.lists(st.one_of(reply, reply, reply, st.just(EXPERT)), min_size=1, max_size=4))
    def fuzz(task, episode):
        play(env, name, task, episode)

    fuzz()
    for task, trajectory in expected.items():  # nothing the fuzzing did lingers in the env
        assert expert_trajectory(env, name, task) == trajectory
        assert trajectory[-1][-1], f"the expert should solve {name} task {task}"


# --------------------------------------------------------------------------- contract checks


@pytest.mark.parametrize("name", with_known_bugs(NAMES, AFTER_DONE_BUGS))
def test_step_after_the_episode_ended(name, env_cache):
    """Uniform contract: once terminated or truncated, every further step says so, pays 0 and
    keeps `success`; it never raises (the trainer may send one more reply)."""
    env = env_cache(name)
    trajectory = expert_trajectory(env, name, fuzz_task_ids(name)[0])
    success = trajectory[-1][-1]
    for reply in ["Action: inventory", "", "apple", "a" + "x" * 100_000]:
        _, reward, terminated, truncated, info = check_step(env.step(reply), reply)
        assert reward == 0.0 and (terminated or truncated) and info["success"] == success


@pytest.mark.parametrize("name", NAMES)
def test_step_before_reset_raises_runtime_error_or_answers(name):
    """Not uniform across envs (see the report): either a RuntimeError or an ordinary answer, never
    an AttributeError from half-initialised state."""
    env = envs.make(name)
    try:
        try:
            result = env.step("Action: inventory")
        except RuntimeError:
            return
        check_step(result, "Action: inventory")
    finally:
        env.close()


BAD_IDS = [-1, 10**12, 1.5, "3", None]


@pytest.mark.parametrize("name", with_known_bugs(NAMES, BAD_ID_BUGS))
def test_bad_task_ids_raise_value_error(name, env_cache):
    env = env_cache(name)
    for task_id in BAD_IDS:
        with pytest.raises(ValueError):
            env.reset(task_id)


SURROGATE_REPLIES = ["Action: \udcff inventory", "Action: search[\ud800]", "Action: click[\ud800]",
                     "<search>\ud800</search>", "<answer>\udfff</answer>", "Action: get 1 \ud800",
                     "\ud800Answer: \udc00"]


@pytest.mark.parametrize("name", with_known_bugs(NAMES, SURROGATE_BUGS))
def test_lone_surrogates_are_not_echoed(name, env_cache):
    """A reply decoded with errors="surrogateescape" (or built from JSON escapes) holds lone
    surrogates; no observation may carry one back (UTF-8 cannot encode it, tokenizers fail)."""
    env = env_cache(name)
    task = fuzz_task_ids(name)[0]
    for reply in SURROGATE_REPLIES:
        env.reset(task)
        check_step(env.step(reply), reply)


def _tooluse_call(env, argument_json: str) -> str:
    tool = env.task.tools[0]["function"]
    param = next(iter(tool["parameters"]["properties"]))
    return f'<tool_call>{{"name": "{tool["name"]}", "arguments": {{"{param}": {argument_json}}}}}</tool_call>'


@pytest.mark.parametrize("reply", [
    lambda env: "<tool_call>" + "[" * 10_000,  # nesting deeper than json's recursion limit
    lambda env: _tooluse_call(env, "1" * 5_000),  # an integer past Python's 4,300-digit limit
    lambda env: _tooluse_call(env, '"\\ud800"'),  # a lone surrogate escape in a tool argument
    lambda env: "<tool_call>x</tool_call>" * 900,  # one error message per unreadable call, capped
], ids=["deep-json", "long-int", "surrogate-argument", "observation-size"])
def test_tooluse_hostile_calls(reply, env_cache):
    """Found by this file's fuzzing, fixed in envs/tooluse: each was a crash or an unbounded observation."""
    env = env_cache("tooluse")
    env.reset(fuzz_task_ids("tooluse")[0])
    text = reply(env)
    check_step(env.step(text), text)


# --------------------------------------------------------------------------- 2. malformed data files


def _webshop_files(tmp_path, items=None, attrs=None, human=None, reviews=None, raw=None):
    """Write a small valid WebShop data set; the arguments replace parts of it. `raw`: {file key:
    text} written as is."""
    base_items = [
        {"asin": "B000LIPBA1", "name": "Cherry Lip Balm", "category": "beauty", "query": "lip balm",
         "product_category": "Beauty › Lips", "full_description": "A lip balm.", "small_description": ["Long lasting"],
         "pricing": "$8.99", "customization_options": {"Flavor": [{"value": "Cherry"}, {"value": "Mint"}]},
         "average_rating": 4.5},
        {"asin": "B000SHOES2", "name": "Trail Running Shoes", "category": "fashion", "query": "running shoes",
         "product_category": "Shoes", "full_description": "", "small_description": "Breathable",
         "pricing": "$40.00$60.00", "customization_options": {"Size": [{"value": "9"}, {"value": "10"}]}},
    ]
    base_attrs = {
        "B000LIPBA1": {"attributes": ["long lasting"], "instruction": "i want a long lasting lip balm",
                       "instruction_attributes": ["long lasting"]},
        "B000SHOES2": {"attributes": ["breathable"], "instruction": "i need breathable running shoes",
                       "instruction_attributes": ["breathable"]},
    }
    base_human = {"B000LIPBA1": [{"instruction": "i need a cherry lip balm", "instruction_attributes": ["long lasting"],
                                  "instruction_options": ["cherry"]}]}
    base_reviews = [{"asin": "B000LIPBA1", "reviews": [{"title": "Nice", "score": 5, "body": "Good"}],
                     "average_rating": 4.0}]
    data = {"items": items if items is not None else base_items, "attrs": attrs if attrs is not None else base_attrs,
            "human": human if human is not None else base_human,
            "reviews": reviews if reviews is not None else base_reviews}
    paths = {}
    for key, value in data.items():
        paths[key] = tmp_path / f"{key}.json"
        paths[key].write_text((raw or {}).get(key) or json.dumps(value), encoding="utf-8")
    return paths


def _load_webshop(paths):
    from envs.webshop import load_original_catalog

    return load_original_catalog(paths["items"], paths["attrs"], paths["human"], reviews_path=paths["reviews"])


def _item(**changes):
    item = {"asin": "B000NEWXX3", "name": "Thing", "pricing": "$5.00", "customization_options": None}
    item.update(changes)
    return item


WEBSHOP_CASES = [
    # (file, data of that file, what the message must say after the file name)
    ("items", [_item(), 7], "record 2: a product must be an object, got a number"),
    ("items", [_item(asin=None)], "record 1: no text field 'asin'"),
    ("items", [_item(name=["a"])], "record 1: no text field 'name'"),
    ("items", [_item(pricing={"usd": 5})], "record 1 (asin B000NEWXX3): 'pricing' must be"),
    ("items", [_item(pricing=[5, "x"])], "'pricing' must be"),
    ("items", [_item(pricing=-3)], "'pricing' must be"),
    ("items", [_item(pricing="$" + "9" * 400)], "'pricing'"),
    ("items", [_item(customization_options=["red"])], "'customization_options' must be an object"),
    ("items", [_item(customization_options={"Color": "red"})], "option 'Color' must be a list of values, got a string"),
    ("items", [_item(customization_options={"Color": 3})], "option 'Color' must be a list"),
    ("items", [_item(customization_options={"Color": [{"value": 3}]})], "option 'Color' has a value that is not text"),
    ("items", [_item(small_description={"a": 1})], "'small_description' must be text, got an object"),
    ("items", [_item(small_description=["ok", ["nested"]])], "'small_description[1]' must be text, got a list"),
    ("items", [_item(category=["beauty"])], "'category' must be text, got a list"),
    ("items", [_item(full_description=True)], "'full_description' must be text, got a boolean"),
    ("items", [_item(Reviews="great")], "reviews must be a list"),
    ("items", [_item(Reviews=["great"])], "review 1 must be an object"),
    ("items", [_item(Reviews=[{"title": {"x": 1}}])], "review 1: 'title' must be text"),
    ("attrs", {"B000LIPBA1": ["long lasting"]}, "asin 'B000LIPBA1': expected an object"),
    ("attrs", {"B000LIPBA1": {"attributes": "long lasting"}}, "asin 'B000LIPBA1': 'attributes' must be a list of text"),
    ("attrs", {"B000LIPBA1": {"attributes": [None]}}, "'attributes[0]' must be text, got null"),
    ("attrs", {"B000LIPBA1": {"instruction": 5}}, "asin 'B000LIPBA1': 'instruction' must be text, got a number"),
    ("attrs", {"B000LIPBA1": {"instruction": "x", "instruction_attributes": "y"}},
     "'instruction_attributes' must be a list"),
    ("human", {"B000LIPBA1": "not a list"}, "asin 'B000LIPBA1': must map to a list of instructions"),
    ("human", {"B000LIPBA1": [{"instruction_attributes": ["x"]}]},
     "asin 'B000LIPBA1', instruction 1: 'instruction' must be text"),
    ("human", {"B000LIPBA1": [3]}, "instruction 1: expected an object"),
    ("human", {"B000LIPBA1": [{"instruction": "x", "instruction_options": 3}]}, "'instruction_options' must be a list"),
    ("human", {"B000LIPBA1": [{"instruction": "x", "instruction_options": {"size": [1]}}]},
     "instruction_options['size']"),
    ("reviews", [{"reviews": []}], "record 1: expected an object with an 'asin'"),
    ("reviews", [{"asin": "B000LIPBA1", "reviews": {"a": 1}}], "record 1: reviews must be a list"),
]


@pytest.mark.parametrize("key,data,message", WEBSHOP_CASES)
def test_webshop_loader_names_file_record_and_problem(tmp_path, key, data, message):
    paths = _webshop_files(tmp_path, **{key: data})
    with pytest.raises(ValueError) as err:
        _load_webshop(paths)
    assert str(err.value).startswith(str(paths[key])), err.value
    assert message in str(err.value), err.value


@pytest.mark.parametrize("key", ["items", "attrs", "human", "reviews"])
@pytest.mark.parametrize("text,message", [
    ('[{"asin": "B0", "name": "x",\n  "pricing": }]', "not valid JSON (Expecting value: line 2 column"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"a": ' + "1" * 5_000 + "}", "not usable JSON"),
    ('[{"asin": "B000NEWXX3", "name": "\\ud800 thing"}]', "not valid Unicode"),
])
def test_webshop_loader_rejects_unreadable_json(tmp_path, key, text, message):
    if "not valid Unicode" in message and key != "items":
        text = {"attrs": '{"B000LIPBA1": {"instruction": "\\udfff", "instruction_attributes": ["x"]}}',
                "human": '{"B000LIPBA1": [{"instruction": "\\ud800"}]}',
                "reviews": '[{"asin": "B000LIPBA1", "reviews": [{"body": "\\ud800"}]}]'}[key]
    paths = _webshop_files(tmp_path, raw={key: text})
    with pytest.raises(ValueError) as err:
        _load_webshop(paths)
    assert str(err.value).startswith(str(paths[key])) and message in str(err.value), err.value


CORPUS_LINE = '{"id": "d1", "title": "A", "text": "a"}'
QA_LINE = '{"question": "ok?", "golden_answers": ["x"]}'


@pytest.mark.parametrize("loader,good,line,message", [
    ("corpus", CORPUS_LINE, '{"id": "d2", "title": "T", "text": ' + "1" * 5_000 + "}", "not usable JSON"),
    ("corpus", CORPUS_LINE, "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("corpus", CORPUS_LINE, '{"id": "d2", "title": "\\ud800", "text": "x"}', "'title' is not valid Unicode"),
    ("corpus", CORPUS_LINE, '{"id": "d2", "title": "T", "text": "x \\udfff"}', "'text' is not valid Unicode"),
    ("corpus", CORPUS_LINE, '{"id": "\\ud800", "title": "T", "text": "x"}', "'id' is not valid Unicode"),
    ("corpus", CORPUS_LINE, '{"id": "d2", "title": "T", "text": "x"',
     "not valid JSON (Expecting ',' delimiter at column"),
    ("qa", QA_LINE, '{"question": "\\ud800?", "golden_answers": ["x"]}', "'question' is not valid Unicode"),
    ("qa", QA_LINE, '{"question": "q?", "golden_answers": ["\\udfff x"]}', "'golden_answers' is not valid Unicode"),
    ("qa", QA_LINE, '{"question": "q?", "golden_answers": ["x"], "hops": ' + "2" * 5_000 + "}", "not usable JSON"),
    ("qa", QA_LINE, "[" * 100_000, "nested too deeply"),
])
def test_searchqa_loader_names_file_line_and_problem(tmp_path, loader, good, line, message):
    from envs.searchqa import load_corpus, load_qa

    path = tmp_path / f"{loader}.jsonl"
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        (load_corpus if loader == "corpus" else load_qa)(path)
    assert str(err.value).startswith(f"{path}, line 3: "), err.value
    assert message in str(err.value), err.value


# Random records: a loader either accepts them or raises a ValueError that names the file.
RECORD_FIELDS = {
    "corpus": ["id", "title", "text", "contents"],
    "qa": ["question", "golden_answers", "hops", "split", "id"],
    "items": ["asin", "name", "pricing", "customization_options", "small_description", "category", "Reviews",
              "average_rating", "full_description", "query"],
}


def _mutated(base: dict, fields: list[str]):
    return st.builds(lambda changes, drop: {**{k: v for k, v in base.items() if k not in drop}, **changes},
                     st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=3),
                     st.sets(st.sampled_from(list(base))))


@fuzz_settings(60)
@given(lines=st.lists(st.one_of(_mutated(json.loads(CORPUS_LINE), RECORD_FIELDS["corpus"]).map(json.dumps),
                                _mutated(json.loads(QA_LINE), RECORD_FIELDS["qa"]).map(json.dumps),
                                JSON_VALUES.map(json.dumps), st.text(CHARS, max_size=30)), max_size=5),
       which=st.sampled_from(["corpus", "qa"]))
def test_searchqa_loaders_accept_or_name_the_file(tmp_path_factory, lines, which):
    from envs.searchqa import load_corpus, load_qa

    path = tmp_path_factory.mktemp("fuzz") / f"{which}.jsonl"
    path.write_text("\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines), encoding="utf-8")
    try:
        (load_corpus if which == "corpus" else load_qa)(path)
    except ValueError as e:
        assert str(e).startswith(str(path)), e


@fuzz_settings(60)
@given(items=st.lists(st.one_of(_mutated(_item(), RECORD_FIELDS["items"]), JSON_VALUES), min_size=1, max_size=3),
       attrs=st.dictionaries(st.sampled_from(["B000NEWXX3", "B000LIPBA1"]),
                             st.one_of(_mutated({"attributes": ["a"], "instruction": "i need a thing",
                                                 "instruction_attributes": ["a"]},
                                                ["attributes", "instruction", "instruction_attributes",
                                                 "instruction_options"]), JSON_VALUES), max_size=2))
def test_webshop_loader_accepts_or_names_the_file(tmp_path_factory, items, attrs):
    paths = _webshop_files(tmp_path_factory.mktemp("fuzz"), items=items, attrs=attrs)
    try:
        _load_webshop(paths)
    except ValueError as e:
        assert any(str(e).startswith(str(p)) for p in paths.values()), e
