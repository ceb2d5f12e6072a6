"""Tests of the BabyAI env: levels and splits, observation, high-level actions, reward, expert,
robustness to hostile replies, determinism across processes."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

import envs
from envs.babyai import (
    DIRS,
    LEVELS,
    TEST_LEVELS,
    TRAIN_SEEDS,
    BabyAIEnv,
    category_of,
    level_of,
    task_of,
    tier_of,
)
from fresh_process import run_json

ROOT = Path(__file__).resolve().parents[1]
INFO_KEYS = {"success", "score", "action", "format_ok"}
HORIZON = 20  # the published BabyAI horizon (turns)


def act(command: str) -> str:
    return f"Thought: next step.\nAction: {command}"


@pytest.fixture(scope="module")
def env():
    e = BabyAIEnv()
    yield e
    e.close()


def run_expert(env: BabyAIEnv, task_id: int, limit: int = 60) -> tuple[int, dict]:
    env.reset(task_id)
    for turn in range(1, limit + 1):
        command = env.expert_action()
        assert command in env._actions, (task_id, command)
        _, reward, terminated, truncated, info = env.step(act(command))
        assert info["format_ok"] and "error" not in info, (task_id, command, info)
        if terminated or truncated:
            assert info["success"] and reward > 0 and not truncated, (task_id, info)
            return turn, info
    raise AssertionError(f"expert did not finish task {task_id} ({LEVELS[level_of(task_id)[0] - 1]})")


# --------------------------------------------------------------------------- levels and splits


def test_levels_are_agentgyms_forty_and_registered():
    import gymnasium as gym
    import minigrid  # noqa: F401

    assert len(LEVELS) == len(set(LEVELS)) == 40
    assert LEVELS[0] == "BabyAI-GoToRedBallGrey-v0" and LEVELS[39] == "BabyAI-BossLevelNoUnlock-v0"
    assert LEVELS[3] == "BabyAI-GoToObjS6-v1"  # AgentGym's -v0 id is not registered by minigrid 3.x
    for name in LEVELS:
        gym.spec(name)
    assert level_of(0) == (1, 0) and level_of(39) == (40, 0) and level_of(40) == (1, 1) and level_of(1234) == (35, 30)
    assert all(level_of(task_of(lv, s)) == (lv, s) for lv in range(1, 41) for s in (0, 7))
    assert [tier_of(lv) for lv in (1, 11, 12, 29, 30, 40)] == [1, 1, 2, 2, 3, 3]


def test_test_split_has_the_published_categories():
    test = BabyAIEnv.tasks("test")
    assert len(test) == len(set(test)) == 90 and test == sorted(test)
    counts = Counter(category_of(level_of(i)[0]) for i in test)
    assert counts == {"GoTo": 55, "Pickup": 15, "ActionObjDoor": 5, "FindObjS7": 5, "OneRoomS20": 5, "SynthLoc": 5}
    assert {LEVELS[level_of(i)[0] - 1] for i in test if category_of(level_of(i)[0]) == "FindObjS7"} == \
        {"BabyAI-FindObjS7-v0"}
    per_level = Counter(level_of(i)[0] for i in test)
    for levels, seeds in TEST_LEVELS.values():
        assert all(per_level[lv] == seeds for lv in levels)


def test_train_split_is_the_rest_of_the_first_seeds():
    train, test = BabyAIEnv.tasks("train"), BabyAIEnv.tasks("test")
    assert len(train) == TRAIN_SEEDS * 40 - 90 and not set(train) & set(test)
    assert set(train) | set(test) == set(range(TRAIN_SEEDS * 40))
    assert envs.tasks("babyai", "train") == train


def test_tiers_partition_the_splits():
    for split in ("train", "test"):
        ids = BabyAIEnv.tasks(split)
        by_tier = [BabyAIEnv.tasks(split, t) for t in (1, 2, 3)]
        assert sorted(sum(by_tier, [])) == ids
        for t, tier_ids in enumerate(by_tier, 1):
            assert all(tier_of(level_of(i)[0]) == t for i in tier_ids)
    assert len(BabyAIEnv.tasks("test", 1)) == 55


@pytest.mark.parametrize("split,tier", [("dev", None), ("test", 0), ("test", 4), ("test", "1"), ("test", True),
                                        ("test", 1.0)])
def test_bad_split_or_tier_raises_value_error(split, tier):
    with pytest.raises(ValueError):
        BabyAIEnv.tasks(split, tier)


def test_tasks_options_and_task_info():
    assert BabyAIEnv.tasks("test", action_format="lenient") == BabyAIEnv.tasks("test")
    with pytest.raises(TypeError):
        BabyAIEnv.tasks("test", colour="red")
    info = BabyAIEnv.task_info(35 + 40 * 2)
    assert info == {"task_id": 115, "level": "BabyAI-SynthLoc-v0", "level_number": 36, "seed": 2, "tier": 3,
                    "category": "SynthLoc"}


def test_reset_rejects_bad_task_ids(env):
    for bad in (-1, 40 * 2**31, "3", 1.5, None, True):
        with pytest.raises(ValueError):
            env.reset(bad)
    with pytest.raises(RuntimeError):
        BabyAIEnv().step(act("turn left"))


# --------------------------------------------------------------------------- observation


def test_reset_observation_format(env):
    obs, info = env.reset(0)
    lines = obs.split("\n")
    assert lines[0] == "Goal: go to the red ball."
    assert lines[1].startswith("You see: grey key 1 (1 step ahead, 1 step left); grey ball 1 (1 step "
                               "ahead, 1 step right)")
    assert "red ball 1 (4 steps ahead, 3 steps right)" in lines[1]
    assert lines[2] == "Walls: 6 steps ahead, 2 steps to your left."
    assert lines[3] == "You are carrying nothing."
    assert lines[4].startswith("Available actions: turn left, turn right, move forward, go to grey key 1, ")
    assert lines[4].endswith("pickup red ball 1, check available actions")
    assert info == {"success": False, "score": 0.0, "action": None, "format_ok": True, "executed": False,
                    "level": "BabyAI-GoToRedBallGrey-v0", "seed": 0, "steps": 0, "task_id": 0, "tier": 1,
                    "mission": "go to the red ball"}


def test_objects_in_view_are_where_the_text_says(env):
    for task_id in range(0, 400, 7):
        obs, _ = env.reset(task_id)
        x0, y0, d = env._state()
        (fx, fy), (rx, ry) = DIRS[d], DIRS[(d + 1) % 4]
        assert env._things or "You see no objects." in obs
        for t in env._things:
            assert t.pos == (x0 + fx * t.ahead + rx * t.right, y0 + fy * t.ahead + ry * t.right)
            cell = env.env.grid.get(*t.pos)
            assert t.name.split()[0] == cell.color and t.name.split()[-1] == cell.type
            assert f"{t.label} (" in obs
            assert t.ahead >= 0 and abs(t.right) <= 3 and t.ahead <= 6
        labels = [t.label for t in env._things]
        assert len(labels) == len(set(labels))


def test_observations_are_compact(env):
    sizes = []
    for task_id in BabyAIEnv.tasks("test"):
        obs, _ = env.reset(task_id)
        sizes.append(len(obs))
        for _ in range(3):
            obs, *_ = env.step(act(env.expert_action()))
            sizes.append(len(obs))
    assert sum(sizes) / len(sizes) / 4 < 120  # tokens, at about 4 characters per token
    assert max(sizes) < 2000


# --------------------------------------------------------------------------- actions


def _check_effect(env: BabyAIEnv, text: str, task_id: int) -> None:
    """Reset `task_id`, take the listed action `text` and check its effect on the minigrid state."""
    env.reset(task_id)
    macro = env._actions[text]
    grid, u = env.env.grid, env.env
    before_steps, before_state = u.step_count, env._state()
    target = grid.get(*macro.thing.pos) if macro.thing else None
    was_open = getattr(target, "is_open", None)
    obs, reward, terminated, truncated, info = env.step(act(text))
    assert info["executed"] and info["format_ok"] and "error" not in info and not truncated
    assert u.step_count - before_steps == len(macro.prims) or terminated, (task_id, text)
    if terminated:  # the action happened to complete the mission
        assert info["success"] and reward > 0
        return
    assert reward == 0.0
    state = env._state()
    front = tuple(int(v) for v in u.front_pos)
    if macro.kind == "turn":
        turn = 1 if text == "turn right" else -1
        assert state == macro.end == (*before_state[:2], (before_state[2] + turn) % 4)
    elif macro.kind == "forward":
        assert state == macro.end != before_state and obs.startswith("You moved forward.")
    elif macro.kind == "goto":
        assert front == macro.thing.pos and grid.get(*front) is target and state == macro.end
        assert obs.startswith(f"You went to {macro.thing.label}.")
    elif macro.kind == "pickup":
        assert u.carrying is target and grid.get(*macro.thing.pos) is None and state == macro.end
        assert f"You are carrying a {macro.thing.name}." in obs
    elif macro.kind in ("through", "toggle_through"):
        assert target.is_open and state == macro.end
        back = (state[0] - DIRS[state[2]][0], state[1] - DIRS[state[2]][1])
        assert macro.thing.pos in (state[:2], back)
    elif macro.kind == "toggle":
        assert state == before_state
        if target is not None and target.type == "door" and not target.is_locked:
            assert target.is_open != was_open


def test_every_listed_action_does_what_it_says(env):
    checked = Counter()
    for task_id in [task_of(lv, s) for lv in (3, 6, 7, 12, 17, 18, 24, 30, 36) for s in range(3)]:
        env.reset(task_id)
        for text in list(env._actions):
            if text != "check available actions":
                _check_effect(env, text, task_id)
                checked[env._actions.get(text).kind if text in env._actions else "?"] += 1
    for kind in ("turn", "forward", "goto", "pickup", "toggle_through"):
        assert checked[kind] > 0, checked


def test_carry_drop_toggle_and_go_through(env):
    # find a task whose first view holds a closed door and an object
    for task_id in range(6, 4000, 40):  # GoToObjMazeS7: 3x3 rooms with doors
        env.reset(task_id)
        doors = [t for t in env._things if t.type == "door" and f"toggle and go through {t.label}" in env._actions]
        objs = [t for t in env._things if f"pickup {t.label}" in env._actions]
        if doors and objs:
            break
    door = doors[0]
    obs, *_ = env.step(act(f"pickup {objs[0].label}"))
    assert f"You picked up {objs[0].label}." in obs and "drop" in env._actions or "drop" not in obs
    carried = env.env.carrying
    assert carried is not None and not any(a.startswith("pickup ") for a in env._actions)
    other = next((t for t in env._things if t.type != "door"), None)
    if other is not None:
        obs, _, _, _, info = env.step(act(f"pickup {other.label}"))
        assert "already carrying" in info["error"] and "already carrying" in obs and not info["format_ok"]
    while "drop" not in env._actions:
        env.step(act("turn left"))
    obs, *_ = env.step(act("drop"))
    assert env.env.carrying is None and env.env.grid.get(*env.env.front_pos) is carried
    assert obs.startswith(f"You dropped the {carried.color} {carried.type}.")
    # a closed door: go to it, toggle it open and closed, then go through
    env.reset(task_id)
    door = next(t for t in env._things if t.type == "door" and f"go to {t.label}" in env._actions)
    env.step(act(f"go to {door.label}"))
    door_obj = env.env.grid.get(*door.pos)
    assert "toggle" in env._actions and f"toggle and go through {door.label}" in env._actions
    obs, *_ = env.step(act("toggle"))
    assert door_obj.is_open and obs.startswith("You toggled the door: it is now open.")
    open_label = next(t.label for t in env._things if t.pos == door.pos)
    assert open_label.split()[1] == "open" and f"go through {open_label}" in env._actions
    obs, *_ = env.step(act(f"go through {open_label}"))
    x, y, d = env._state()
    assert (x - DIRS[d][0], y - DIRS[d][1]) == door.pos or (x, y) == door.pos
    assert obs.startswith(f"You went through {open_label}.")


def test_check_available_actions_takes_no_time(env):
    env.reset(17)
    obs, reward, terminated, truncated, info = env.step(act("check available actions"))
    assert obs.startswith("Available actions: turn left") and info["steps"] == 0 and reward == 0.0
    assert info["format_ok"] and not terminated and not truncated


def test_go_to_when_already_facing_the_object(env):
    env.reset(0)  # go to the red ball: put the agent right in front of it
    u = env.env
    (bx, by), = u.instrs.desc.obj_poss
    for k, (dx, dy) in enumerate(DIRS):
        if u.grid.get(bx - dx, by - dy) is None:
            u.agent_pos, u.agent_dir = (bx - dx, by - dy), k
            break
    env._scan()
    assert "red ball 1 (1 step ahead)" in env._view_text()
    _, reward, terminated, _, info = env.step(act("go to red ball 1"))  # turns away and back: the verifier sees it
    assert terminated and info["success"] and info["steps"] == 2 and reward > 0


def test_unavailable_actions_are_explained(env):
    env.reset(0)
    cases = {
        "go to purple ball 9": "no purple ball 9 in view",
        "pickup grey key": "Several grey keys",
        "go to blue box": "no blue box in view",
        "drop": "not carrying anything",
        "toggle": "no door or box",
        "fly away": "is not an action",
        "go through grey key 1": "not a door",
        "pickup red ball 7": "no red ball 7",
    }
    for command, expected in cases.items():
        obs, reward, terminated, truncated, info = env.step(act(command))
        assert expected in obs and expected in info["error"], (command, obs)
        assert obs.startswith("Invalid action.") and "\nAvailable actions: turn left" in obs
        assert reward == 0.0 and not terminated and not truncated and not info["format_ok"]
        assert info["action"] == command and info["steps"] == 0
    env.reset(0)  # facing an object: it is in the way
    env.step(act("go to grey key 1"))
    obs, _, _, _, info = env.step(act("move forward"))
    assert "move forward" not in env._actions and "cannot move forward: there is a grey key" in info["error"]
    for seed in range(20):  # a locked door cannot be opened without its key
        env.reset(task_of(24, seed))  # Unlock
        locked = next((t for t in env._things if t.name.endswith("locked door")), None)
        if locked is not None and env.env.carrying is None:
            break
    obs, _, _, _, info = env.step(act(f"toggle and go through {locked.label}"))
    assert "is locked; you must carry a" in info["error"] and info["steps"] == 0


def test_case_and_wording_variants_are_accepted(env):
    env.reset(0)
    for variant in ("Go To the Red Ball 1.", "go to red ball", "`go to red ball 1`", "pick up red ball 1"):
        env.reset(0)
        obs, reward, terminated, _, info = env.step(act(variant))
        assert info["format_ok"] and terminated and info["success"], (variant, obs)


# --------------------------------------------------------------------------- reward and episode end


def test_reward_is_minigrids_and_accumulates(env):
    env.reset(0)
    _, reward, terminated, truncated, info = env.step(act("turn left"))
    assert reward == 0.0 and info["score"] == 0.0 and info["steps"] == 1
    env.step(act("turn right"))
    _, reward, terminated, truncated, info = env.step(act("go to red ball 1"))
    steps, max_steps = info["steps"], env.env.max_steps
    assert terminated and not truncated and info["success"]
    assert reward == pytest.approx(1 - 0.9 * steps / max_steps) and info["score"] == pytest.approx(reward)
    obs, reward, terminated, truncated, info = env.step(act("turn left"))
    assert reward == 0.0 and terminated and "over" in obs and info["success"] and info["score"] > 0


def test_out_of_steps_truncates(env):
    env.reset(0)
    for _ in range(env.env.max_steps - 1):
        _, _, terminated, truncated, _ = env.step(act("turn left"))
        assert not terminated and not truncated
    obs, reward, terminated, truncated, info = env.step(act("turn left"))
    assert truncated and not terminated and not info["success"] and reward == 0.0 and "ran out of steps" in obs
    assert env.step(act("turn left"))[3]


def test_wrong_pickup_fails_a_strict_level(env):
    for seed in range(50):
        env.reset(task_of(20, seed))  # PickupDistDebug: picking up a wrong object fails
        targets = {id(o) for o in env.env.instrs.desc.obj_set}
        wrong = next((t for t in env._things if f"pickup {t.label}" in env._actions
                      and id(env.env.grid.get(*t.pos)) not in targets), None)
        if wrong is not None:
            break
    obs, reward, terminated, truncated, info = env.step(act(f"pickup {wrong.label}"))
    assert terminated and not truncated and not info["success"] and reward == 0.0 and "The task failed." in obs


# --------------------------------------------------------------------------- expert


def test_expert_solves_every_test_task_within_the_horizon(env):
    turns = {i: run_expert(env, i)[0] for i in BabyAIEnv.tasks("test")}
    assert max(turns.values()) <= HORIZON, max(turns.items(), key=lambda kv: kv[1])


# Impossible in minigrid 3.2.0 (see the module docstring): OpenDoorsOrderN4Debug's strict verifier
# fails every two-door mission on the first toggle; GoToImpUnlock seed 6 has the only key of the
# locked door inside the locked room.
UNSOLVABLE = {task_of(16, s) for s in (0, 1, 2, 4, 5, 7, 8, 9)} | {task_of(7, 6)}


def test_impossible_tasks_are_impossible(env):
    env.reset(task_of(16, 0))  # "open the purple door after you open the red door"
    _, reward, terminated, _, info = env.step(act(env.expert_action()))  # opens the red door
    assert terminated and not info["success"] and reward == 0.0
    env.reset(task_of(7, 6))
    assert env.expert_action() == "check available actions"


def test_expert_solves_train_tasks_of_every_level(env):
    for task_id in range(0, 80):
        if task_id not in UNSOLVABLE:
            run_expert(env, task_id, limit=80)


def test_expert_takes_over_after_a_detour(env):
    rng = random.Random(0)
    checked = 0
    for task_id in BabyAIEnv.tasks("test", 1)[::3] + BabyAIEnv.tasks("test", 3) + BabyAIEnv.tasks("test", 2)[::2]:
        env.reset(task_id)
        for _ in range(4):  # random moves; plain toggles are left out (opening a box destroys it)
            choices = [a for a in env._actions if a not in ("toggle", "check available actions")]
            env.step(act(rng.choice(choices)))
        if env.done:  # the detour ended the episode (it found the goal, or a strict level failed)
            continue
        for _ in range(40):
            if env.done:
                break
            env.step(act(env.expert_action()))
        assert env.success, task_id
        checked += 1
    assert checked >= 20


# --------------------------------------------------------------------------- replies


HOSTILE = [
    "", "   ", "\x00\x01\x02\xff", bytes(range(256)).decode("latin-1"), "Action:", "Action: ",
    "x" * 100_000, "Action: " + "go to red ball 1" * 10_000, "Action: turn left\n" * 50,
    "Action: go to " + "red " * 5000 + "ball 1", "Action: go to red ball 99999999999999999999",
    "Action: go to red ball ١", "Action: pickup", "Action: go to", "Action: toggle and go through",
    "Action: \u202e\ud800 go to", "Action: [go to red ball 1]]]", "Action: go to red ball -1",
    "Action: go through " + "door " * 3000, "Action: check available actions please",
    "Thought: " + "\n" * 5000 + "Action: nothing",
]


@pytest.mark.parametrize("action_format", ["strict", "lenient"])
def test_hostile_replies_never_raise(action_format):
    env = BabyAIEnv(action_format=action_format)
    env.reset(7)
    for reply in HOSTILE + [None, 12345, b"bytes"]:
        obs, reward, terminated, truncated, info = env.step(reply)
        assert isinstance(obs, str) and len(obs) < 3000
        assert reward == 0.0 and not terminated and not truncated
        assert INFO_KEYS <= set(info) and not info["format_ok"]
        assert "error" in info and info["steps"] == 0
    env.close()


def test_random_replies_never_raise():
    rng = random.Random(1)
    words = ["go", "to", "through", "toggle", "and", "pickup", "pick", "up", "drop", "turn", "left", "right",
             "move", "forward", "red", "grey", "ball", "key", "box", "door", "closed", "open", "1", "2", "Action:",
             "Thought:", "\n", ".", "check", "available", "actions", "é", "`"]
    env = BabyAIEnv(action_format="lenient")
    for task_id in (0, 6, 17, 36):
        env.reset(task_id)
        for _ in range(300):
            reply = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
            obs, reward, terminated, truncated, info = env.step(reply)
            assert isinstance(obs, str) and INFO_KEYS <= set(info)
            if terminated or truncated:
                env.reset(task_id)
    env.close()


def test_strict_rejects_bare_command_lenient_accepts_it():
    strict, lenient = BabyAIEnv(), envs.make("babyai", action_format="lenient")
    for e in (strict, lenient):
        e.reset(0)
    obs, _, _, _, info = strict.step("I should turn.\nturn left")
    assert info["action"] is None and not info["format_ok"] and "Action:" in info["error"]
    assert obs.startswith("Invalid action.") and "Available actions:" in obs and info["steps"] == 0
    obs, _, _, _, info = lenient.step("I should turn.\nturn left")
    assert obs.startswith("You turned left.") and info["action"] == "turn left" and not info["format_ok"]
    obs, _, _, _, info = strict.step("Action: turn left\nAction: turn right")
    assert info["action"] is None and "2 'Action:'" in info["error"]
    obs, _, _, _, info = strict.step("Thought: turn.\nAction: turn left")
    assert info["format_ok"] and info["steps"] == 1


def test_command_re_matches_command_shaped_lines_only():
    ok = ["turn left", "move forward", "go to red ball 1", "pickup grey key 2", "pick up blue box 1",
          "go through green open door 1", "toggle and go through red locked door 2", "drop", "toggle",
          "check available actions", "Go to red ball 1.", "go to purple ball"]
    bad = ["I will go to the red ball", "turn around", "go to red ball 1 now", "pickup the ball", ""]
    assert all(BabyAIEnv.command_re.fullmatch(s) for s in ok)
    assert not any(BabyAIEnv.command_re.fullmatch(s) for s in bad)


def test_instructions_describe_actions_and_reply_format():
    text = BabyAIEnv.instructions
    for needle in ("turn left", "move forward", "go to <object> <n>", "pickup <object> <n>", "drop", "toggle",
                   "go through <door> <n>", "toggle and go through <door> <n>", "check available actions",
                   "Thought:", "Action:", "exactly one action"):
        assert needle in text


def test_close_frees_the_minigrid_envs():
    e = BabyAIEnv()
    e.reset(0)
    e.reset(41)
    assert len(e._envs) == 2
    e.close()
    assert e._envs == {} and e.env is None
    with pytest.raises(RuntimeError):
        e.step(act("turn left"))
    assert e.reset(0)[0].startswith("Goal: go to the red ball.")
    e.close()


# --------------------------------------------------------------------------- determinism


def test_reset_is_repeatable_across_envs(env):
    for task_id in (5, 6, 77, 1234):
        first = env.reset(task_id)[0]
        env.step(act(env.expert_action()))
        other = BabyAIEnv()
        assert other.reset(task_id)[0] == first == env.reset(task_id)[0]
        other.close()


def test_identical_in_fresh_processes_with_other_hash_seed(env):
    ids = [0, 6, 36, 115, 1234, 3999]
    code = (
        "import json; from envs.babyai import BabyAIEnv as E; e = E(); out = []\n"
        f"for i in {ids}:\n"
        "    obs = [e.reset(i)[0]]\n"
        "    for _ in range(6):\n"
        "        o, r, t, tr, info = e.step('Action: ' + e.expert_action()); obs.append(o)\n"
        "        if t or tr: break\n"
        "    out.append(obs)\n"
        "print(json.dumps({'obs': out, 'test': E.tasks('test')}))"
    )
    seen = [run_json(code, seed) for seed in ("1", "4321")]
    assert seen[0] == seen[1]
    assert seen[0]["test"] == BabyAIEnv.tasks("test")
    here = []
    for i in ids:
        obs = [env.reset(i)[0]]
        for _ in range(6):
            o, _, t, tr, _ = env.step("Action: " + env.expert_action())
            obs.append(o)
            if t or tr:
                break
        here.append(obs)
    assert here == seen[0]["obs"]
