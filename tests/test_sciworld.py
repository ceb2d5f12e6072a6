"""Tests of the SciWorld env: items, split and task table (checked against the scienceworld
package), reset and determinism, reward and failure, the gold-sequence expert, hostile replies,
independent env instances sharing one JVM, and closing."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fresh_process import run_json

pytest.importorskip("scienceworld")
if shutil.which("java") is None:
    pytest.skip("ScienceWorld runs on Java 17: no `java` on PATH", allow_module_level=True)

import envs  # noqa: E402
from envs.sciworld import SciWorldEnv, close_jvm, jvm_running, shared_jvm  # noqa: E402
from envs.sciworld import tasks as T  # noqa: E402
from envs.sciworld.env import MAX_ACTION_CHARS, NO_MATCH, clean_action  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INFO_KEYS = {"success", "score", "action", "format_ok"}
FULL_EXPERT = os.environ.get("SCIWORLD_FULL_EXPERT") == "1"  # all 200 test items (~4 min) instead of 40


def act(text: str) -> str:
    return f"Thought: next step.\nAction: {text}"


def run_expert(env: SciWorldEnv, task_id: int) -> tuple[list[str], float, dict]:
    """Play the gold expert on a task; returns (observations, summed reward, last info)."""
    obs, info = env.reset(task_id)
    seen, total = [obs], 0.0
    for _ in range(len(env.gold_actions()) + 5):
        obs, reward, terminated, truncated, info = env.step(act(env.expert_action()))
        seen.append(obs)
        total += reward
        assert not truncated
        if terminated:
            break
    return seen, total, info


@pytest.fixture(scope="module")
def env():
    e = SciWorldEnv()
    yield e
    e.close()


def test_tasks_do_not_start_the_jvm():
    """Listing tasks (and making an env) reads the shipped table only: run in a fresh process."""
    code = ("import envs, json; from envs.sciworld import jvm_running; "
            "e = envs.make('sciworld'); t = envs.tasks('sciworld', 'test'); "
            "print(json.dumps([jvm_running(), len(t), len(envs.tasks('sciworld', 'train', 3))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert json.loads(out.stdout) == [False, 200, 1156]


# --------------------------------------------------------------------------- items and split


def test_items_follow_agentgym_enumeration():
    items = T.items()
    assert len(items) == 4639
    assert [it.task_id for it in items] == list(range(len(items)))
    kept = [t for t in T.task_table()["tasks"] if not t["excluded"]]
    assert {t["id"] for t in T.task_table()["tasks"] if t["excluded"]} == set(T.EXCLUDED_TASKS)
    # ScienceWorld task-id order, then variation order (AgentGym's data_idx)
    expected = [(t["name"], v) for t in kept for v in range(t["variations"])]
    assert [(it.task_name, it.variation) for it in items] == expected
    assert [t["id"] for t in kept][:6] == ["1-1", "1-2", "1-3", "1-4", "2-1", "2-2"]
    assert (items[0].task_name, items[0].variation) == ("boil", 0)
    assert (items[30].task_name, items[-1].task_name) == ("melt", "identify-life-stages-2")
    assert Counter(it.tier for it in items) == {1: 736, 2: 1500, 3: 1200, 4: 104, 5: 375, 6: 120, 7: 540,
                                               8: 40, 9: 24}


def test_split_sizes_and_published_category_counts():
    train, test = SciWorldEnv.tasks("train"), SciWorldEnv.tasks("test")
    assert len(test) == 200 and len(train) == 4439
    assert not set(train) & set(test) and sorted(train + test) == list(range(4639))
    assert train == sorted(train) and test == sorted(test)
    by_tier = {tier: SciWorldEnv.tasks("test", tier) for tier in T.FAMILIES}
    assert {t: len(ids) for t, ids in by_tier.items()} == {1: 53, 2: 83, 3: 44, 4: 5, 5: 15, 6: 0, 7: 0, 8: 0,
                                                           9: 0}
    assert sorted(sum(by_tier.values(), [])) == test
    for split in ("train", "test"):
        assert sorted(sum((SciWorldEnv.tasks(split, t) for t in T.FAMILIES), [])) == SciWorldEnv.tasks(split)
    names = Counter(T.items()[i].task_name for i in test)
    assert names == {
        "measure-melting-point-known-substance": 31, "measure-melting-point-unknown-substance": 22,
        "test-conductivity": 50, "test-conductivity-of-unknown-substances": 33,
        "find-living-thing": 11, "find-non-living-thing": 11, "find-plant": 11, "find-animal": 11,
        "chemistry-mix": 1, "chemistry-mix-paint-secondary-color": 2, "chemistry-mix-paint-tertiary-color": 2,
        "lifespan-longest-lived": 5, "lifespan-shortest-lived": 5, "lifespan-longest-lived-then-shortest-lived": 5,
    }
    ranges = {t["name"]: range(*t["test_variations"]) for t in T.task_table()["tasks"]}
    assert all(T.items()[i].variation in ranges[T.items()[i].task_name] for i in test)
    assert envs.tasks("sciworld", "test", 4) == by_tier[4]


@pytest.mark.parametrize("split,tier", [("valid", None), ("TEST", None), ("train", 0), ("train", 10),
                                        ("test", "1"), ("test", True), ("test", 1.0)])
def test_bad_split_or_tier_raises_value_error(split, tier):
    with pytest.raises(ValueError, match="split|tier"):
        SciWorldEnv.tasks(split, tier)


def test_unknown_option_and_bad_task_ids_are_refused(env):
    with pytest.raises(TypeError):
        SciWorldEnv.tasks("test", None, simplification="easy")
    for bad in (-1, 4639, "3", 2.0, True, None):
        with pytest.raises(ValueError, match="task id"):
            env.reset(bad)
    with pytest.raises(ValueError):
        SciWorldEnv(action_format="loose")


def test_task_table_matches_the_package(env):
    """The shipped table is what the installed jar reports (names, variations, test ranges)."""
    import scienceworld
    from scienceworld.constants import ID2TASK

    table = T.task_table()
    assert {t["id"]: t["name"] for t in table["tasks"]} == ID2TASK
    world = shared_jvm().new_world()
    try:
        assert T.package_task_table(world) == table
    finally:
        world.close()
    assert table["scienceworld_version"] == scienceworld.__version__
    assert T.format_table(table) == T.TABLE_PATH.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- reset and determinism


def test_reset_shows_task_and_room(env):
    task_id = SciWorldEnv.tasks("test", 2)[0]
    obs, info = env.reset(task_id)
    desc, _, room = obs.partition("\n\n")
    assert desc.startswith("Your task is to determine if") and "conductive" in desc
    assert room.startswith(("This room is called", "This outside location is called"))
    assert "You also see:" in room and "  \n" not in obs
    assert info["success"] is False and 0 <= info["score"] < 100 and info["format_ok"] and info["action"] is None
    it = T.item(task_id)
    assert info["task_name"] == it.task_name and info["variation"] == it.variation and info["tier"] == 2
    assert info["sw_task"] in ("3-3", "3-4") and info["family"] == "Test-Conductivity"
    assert SciWorldEnv.task_info(task_id) == {k: info[k] for k in SciWorldEnv.task_info(task_id)}


def test_same_id_same_first_observation_in_this_and_fresh_processes(env):
    ids = [0, 1234, 3400, 4638] + SciWorldEnv.tasks("test")[::67]
    here = [env.reset(i)[0] for i in ids]
    other = SciWorldEnv()
    other.reset(ids[2])
    other.step(act("look around"))
    assert [other.reset(i)[0] for i in reversed(ids)] == here[::-1]
    other.close()
    code = ("import json; from envs.sciworld import SciWorldEnv as E; e = E(); "
            f"print(json.dumps({{'obs': [e.reset(i)[0] for i in {ids}], 'test': E.tasks('test')}}))")
    assert run_json(code, "123") == {"obs": here, "test": SciWorldEnv.tasks("test")}


# --------------------------------------------------------------------------- expert


def expert_sample() -> list[int]:
    """40 test items spread over the categories (every item when SCIWORLD_FULL_EXPERT=1)."""
    if FULL_EXPERT:
        return SciWorldEnv.tasks("test")
    per_tier = {1: 9, 2: 11, 3: 9, 4: 5, 5: 6}
    sample = []
    for tier, k in per_tier.items():
        ids = SciWorldEnv.tasks("test", tier)
        sample += [ids[j * len(ids) // k] for j in range(k)]
    return sample


def test_expert_solves_test_tasks(env):
    sample = expert_sample()
    assert len(sample) == (200 if FULL_EXPERT else 40)
    solved = []
    for task_id in sample:
        _, total, info = run_expert(env, task_id)
        solved.append(info["success"])
        if info["success"]:
            assert info["score"] == 100 and total == pytest.approx(1.0) and env.done
    assert sum(solved) >= 0.9 * len(sample), f"expert solved {sum(solved)}/{len(sample)}"


def test_expert_follows_gold_and_skips_detours(env):
    task_id = SciWorldEnv.tasks("test", 5)[0]
    env.reset(task_id)
    gold = env.gold_actions()
    assert len(gold) >= 2 and all(isinstance(a, str) and a for a in gold)
    assert env.expert_action() == gold[0]
    env.step(act("inventory"))  # a detour: the expert still wants the first gold command
    assert env.expert_action() == gold[0]
    env.step(act(gold[0].upper() + "."))  # same command, other case and a trailing period
    assert env.expert_action() == gold[1]
    with pytest.raises(RuntimeError):
        SciWorldEnv().expert_action()


# --------------------------------------------------------------------------- reward, failure, invalid actions


def conductivity_task() -> int:
    return next(i for i in SciWorldEnv.tasks("test", 2) if T.item(i).task_name == "test-conductivity")


def test_partial_credit_then_failure_sums_to_zero(env):
    env.reset(conductivity_task())
    rewards = []
    for command in env.gold_actions()[:2]:  # opening a door and going through earn partial credit
        _, reward, terminated, _, info = env.step(act(command))
        rewards.append(reward)
        assert not terminated and info["executed"] and info["format_ok"]
    # the rewards so far include the credit the starting room earned at reset
    assert info["score"] > 0 and sum(rewards) == pytest.approx(info["score"] / 100)
    obs, reward, terminated, truncated, info = env.step(act("focus on air"))  # not the task's substance
    assert terminated and not truncated and not info["success"] and info["score"] == -100
    assert "The task failed" in obs and reward == pytest.approx(-sum(rewards))
    obs, reward, terminated, _, info = env.step(act("look around"))
    assert "episode is over" in obs and reward == 0 and terminated and info["error"]


def test_ambiguous_command_asks_for_a_number(env):
    obs, info = env.reset(conductivity_task())
    assert obs.count("A door to") >= 2
    start_credit = info["score"] / 100  # paid with the first step
    obs, reward, terminated, _, info = env.step(act("focus on door"))
    assert obs.startswith("Ambiguous request") and "\n0:" in obs and "\n1:" in obs
    assert reward == pytest.approx(start_credit) and not terminated and info["executed"]
    choice = obs.splitlines()[2].split(":", 1)[1].strip().removeprefix("focus on ")
    obs, reward, terminated, _, info = env.step(act("1"))
    assert obs.startswith(f"You focus on the {choice}.") and terminated and info["score"] == -100


def test_unknown_commands_get_the_simulators_reply_and_a_hint(env):
    env.reset(conductivity_task())
    obs, reward, terminated, _, info = env.step(act("fly to the moon"))
    assert obs.startswith(NO_MATCH) and "'fly' starts no command" in obs and "focus on" in obs
    assert reward == 0 and not terminated and not info["format_ok"] and not info["executed"]
    assert info["error"].startswith(NO_MATCH) and info["raw_observation"] == NO_MATCH
    obs, *_, info = env.step(act("open the flux capacitor"))
    assert obs.startswith(NO_MATCH) and "command word is known" in obs
    obs, *_, info = env.step(act("reset task"))
    assert obs.startswith("Invalid action.") and not info["executed"]
    obs, *_, info = env.step(act("x" * (MAX_ACTION_CHARS + 1)))
    assert obs.startswith("Invalid action.") and "characters long" in info["error"]
    obs, *_, info = env.step(act("Look Around."))
    assert info["executed"] and info["format_ok"] and info["action"] == "look around" and "error" not in info


def test_clean_action():
    assert clean_action("  Open   Door to KITCHEN. ") == "open door to kitchen"
    assert clean_action("go\tto\x07 hallway") == "go to hallway"
    assert clean_action("focus on \ud800x") == "focus on ?x"


# --------------------------------------------------------------------------- replies


HOSTILE = [
    "", "   ", "\x00\x01\x02\xff", bytes(range(256)).decode("latin-1"), "Action:", "Action: ",
    "x" * 100_000, "Action: " + "look around " * 10_000, "Action: look around\n" * 50,
    "Thought: hmm\nAction: move " + "a " * 3000 + "to b", "Action: \u202e\ud800 open", "Action: 99999999999",
    "Action: -1", "Action: 0", "Action: " + "\u4e2d" * 150, "Action: connect to to to", "Action: pour in in",
    "Action: reset task", "Action: help", "Action: objects", "Action: task", "Action: wait1",
    "Action: " + "é" * MAX_ACTION_CHARS, "Action: use", "Action: go to", "Action: ``", "Action: ...",
]


@pytest.mark.parametrize("action_format", ["strict", "lenient"])
def test_hostile_replies_never_raise(action_format):
    e = SciWorldEnv(action_format=action_format)
    e.reset(SciWorldEnv.tasks("test", 4)[0])
    for reply in HOSTILE + [None, 12345, b"Action: look around"]:
        obs, reward, terminated, truncated, info = e.step(reply)
        assert isinstance(obs, str) and obs and not truncated
        assert reward == 0.0 and not terminated
        assert INFO_KEYS <= set(info) and isinstance(info["score"], float)
        if info["format_ok"]:
            assert info["executed"] and "error" not in info and info["action"]
        if not info["executed"]:
            assert info["error"] and not info["format_ok"]
    e.close()


def test_random_replies_never_raise():
    rng = random.Random(1)
    words = ["Action:", "Thought:", "look", "around", "at", "in", "open", "door", "to", "kitchen", "go",
             "pick", "up", "move", "focus", "on", "water", "thermometer", "use", "connect", "wait", "0", "1",
             "\n", ".", "the", "hallway", "mix", "pour", "inventory", "é", "`", "  ", "activate", "sink"]
    e = SciWorldEnv(action_format="lenient")
    task_ids = SciWorldEnv.tasks("test")[::50]
    e.reset(task_ids[0])
    total = 0.0
    for n in range(400):
        reply = " ".join(rng.choice(words) for _ in range(rng.randint(0, 20)))
        obs, reward, terminated, _, info = e.step(reply)
        total += reward
        assert isinstance(obs, str) and INFO_KEYS <= set(info) and -1.0 <= reward <= 1.0
        if terminated:
            assert total == pytest.approx(max(info["score"], 0) / 100)
            e.reset(task_ids[n % len(task_ids)])
            total = 0.0
    e.close()


def test_strict_rejects_bare_command_lenient_accepts_it():
    strict, lenient = SciWorldEnv(), envs.make("sciworld", action_format="lenient")
    task_id = SciWorldEnv.tasks("test", 3)[0]
    for e in (strict, lenient):
        e.reset(task_id)
    obs, reward, _, _, info = strict.step("I should look.\nlook around")
    assert info["action"] is None and not info["format_ok"] and "Action:" in info["error"]
    assert obs.startswith("Invalid action.") and reward == 0
    obs, _, _, _, info = lenient.step("I should look.\nlook around")
    assert info["action"] == "look around" and info["executed"] and not info["format_ok"]
    assert obs.startswith(("This room is called", "This outside location"))
    _, _, _, _, info = strict.step("Thought: look.\nAction: look around")
    assert info["format_ok"] and info["executed"]
    _, _, _, _, info = strict.step("Action: look around\nAction: inventory")
    assert info["action"] is None and "2 'Action:'" in info["error"]
    strict.close()
    lenient.close()


def test_command_re_matches_command_shaped_lines_only():
    ok = ["look around", "open door to kitchen", "go to kitchen", "pick up thermometer", "focus on red box",
          "move metal pot to stove", "connect battery anode to orange wire", "use thermometer on water",
          "pour cup in pot", "wait", "wait1", "inventory", "task", "0", "12", "Look around.", "activate sink",
          "look at substance in metal pot", "mix bowl", "read book", "put down apple", "dunk cup in water"]
    bad = ["I will look around the room", "open", "focus", "the door is open", "", "123", "wait 5 minutes",
           "go", "connect battery", "move the pot"]
    assert all(SciWorldEnv.command_re.fullmatch(s) for s in ok), [s for s in ok
                                                                  if not SciWorldEnv.command_re.fullmatch(s)]
    assert not any(SciWorldEnv.command_re.fullmatch(s) for s in bad), [s for s in bad
                                                                       if SciWorldEnv.command_re.fullmatch(s)]


def test_instructions_describe_commands_and_reply_format():
    text = SciWorldEnv.instructions
    for needle in ("look around", "go to", "focus on", "wrong object", "connect OBJ to OBJ", "Thought:",
                   "Action:", "exactly one command"):
        assert needle in text


# --------------------------------------------------------------------------- one JVM, independent instances


def test_lockstep_instances_match_solo_runs():
    """Many env instances in one JVM, stepped in lockstep (as the trainer does), see exactly what
    each sees alone, even while another instance keeps reloading tasks (which resets the
    simulator's global object counter and random seed)."""
    ids = [SciWorldEnv.tasks("test", tier)[0] for tier in (1, 2, 3, 4, 5)] + [0, 4000]  # + boil, find-animal
    solo = {}
    e = SciWorldEnv()
    for i in ids:
        solo[i] = run_expert(e, i)[0]
    many = [SciWorldEnv() for _ in ids]
    noisy = SciWorldEnv()
    noisy.reset(ids[-1])
    seen = {i: [m.reset(i)[0]] for m, i in zip(many, ids)}
    live = dict(zip(ids, many))
    rng = random.Random(0)
    while live:
        for i, m in list(live.items()):
            if rng.random() < 0.3:
                noisy.reset(rng.choice(ids))
            noisy.step(act(noisy.expert_action()))
            obs, _, terminated, _, info = m.step(act(m.expert_action()))
            seen[i].append(obs)
            if terminated or len(seen[i]) > len(solo[i]):
                del live[i]
    assert seen == solo
    for m in many + [noisy, e]:
        m.close()


def test_each_world_keeps_its_own_object_counter_and_random_seed():
    jvm = shared_jvm()
    a, b = jvm.new_world(), jvm.new_world()
    try:
        a.load("chemistry-mix", 3)
        a.step("look around")
        state_a = jvm._save()
        b.load("find-animal", 5)
        b.step("wait1")
        state_b = jvm._save()
        assert state_b != state_a and None not in state_a + state_b and jvm.isolates_random
        a.call("getNumMoves")  # any call to a world gives it its own state back
        assert jvm._save() == state_a
        b.call("getNumMoves")
        assert jvm._save() == state_b
        assert jvm.stable_hashing
    finally:
        a.close()
        b.close()


def test_memory_of_sixteen_instances_is_modest():
    many = [SciWorldEnv() for _ in range(16)]
    test = SciWorldEnv.tasks("test")
    for k, m in enumerate(many):
        m.reset(test[k * 12])
        m.step(act("look around"))
    rss = shared_jvm().memory_mb()
    if rss is not None:
        assert rss < 2000, rss
    for m in many:
        m.close()


# --------------------------------------------------------------------------- close


def test_close_frees_the_instance_and_the_jvm_restarts_on_demand():
    e = SciWorldEnv()
    task_id = SciWorldEnv.tasks("test", 3)[1]
    first, _ = e.reset(task_id)
    e.close()
    e.close()  # idempotent
    obs, reward, terminated, _, info = e.step(act("look around"))
    assert "reset" in obs and reward == 0 and not terminated and info["error"]
    assert e.reset(task_id)[0] == first  # a closed instance can start over
    jvm = shared_jvm()
    close_jvm()
    assert not jvm_running() and jvm.process.poll() is not None
    with pytest.raises(RuntimeError, match="JVM"):  # not a reply problem: the episode's simulator is gone
        e.step(act("look around"))
    assert e.reset(task_id)[0] == first  # a fresh JVM is started on demand
    assert jvm_running() and shared_jvm() is not jvm
    e.close()
