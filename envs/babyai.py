"""BabyAI: follow a language instruction in a partially observed grid world (AgentGym's BabyAI).

The 40 levels are AgentGym's ordered list (agentenv-babyai `all_levels`), run with `minigrid`.
Task id -> level `id % 40 + 1` (1-based, see `LEVELS`), minigrid seed `id // 40`, exactly as
AgentGym's server resets `data_idx`. AgentGym's level 4 is `BabyAI-GoToObjS6-v0`, which minigrid
3.x registers only as `BabyAI-GoToObjS6-v1` (same class, `GoToObj(room_size=6)`); that id is used.

Observation (compact, for small models): the mission (at reset), the objects in the agent's
7x7 view with a number per name and their position relative to the agent ("red ball 1 (2 steps
ahead, 1 step right)"), the nearest wall ahead / to the left / to the right when in view, what
is carried, and the high-level actions available now.

High-level actions (AgentGym's), each planned into primitive minigrid actions by breadth-first
search over (cell, direction) on the *known grid*, i.e. the cells the agent sees now (unseen,
blocked or out-of-view cells are never entered):

    turn left | turn right | move forward          one primitive action
    go to <object> <n>                             walk to the object (or door) and face it
    pickup <object> <n>                            go to a key / ball / box and pick it up
    go through <open door> <n>                     walk onto the doorway, then one step further
    toggle and go through <closed door> <n>        go to a closed door (or a locked one while
                                                   carrying its key), open it, walk through
    toggle                                         toggle the door or box right in front
    drop                                           drop the carried object in front
    check available actions                        list the actions (no time passes)

Objects are named "<colour> <type>" (ball, key, box) and doors "<colour> <state> door" (state
open / closed / locked), numbered per name by distance (then left to right), as AgentGym does.
Differences from AgentGym, on purpose: "move forward" is offered only when the cell ahead can
be entered (AgentGym only checked walls and boxes); "go through" ends one step past the door
(AgentGym stops on the doorway) so the next room is in view; a macro stops early if the episode
ends; an action that is not available gets an explanation and the list, never a silent no-op.
The mission text is shown verbatim (AgentGym rewrote "then" / "after you" as "and", which
changes the meaning of ordered missions).

Reward is minigrid's, 1 - 0.9 * steps / max_steps on success (steps = primitive actions),
summed over the turn's primitive actions and accumulated in `info["score"]`; the episode is
terminated when minigrid terminates it (success, or failure in the "Debug" strict levels) and
truncated when minigrid's primitive-step budget runs out.

Tiers (level families, by minigrid module): 1 = GoTo* (levels 1-11); 2 = Open*, Pickup*,
PutNext*, Unlock* (levels 12-29); 3 = ActionObjDoor, FindObj, KeyCorridor, OneRoom,
MoveTwoAcross, Synth*, *Boss* (levels 30-40).

Splits. test: the published 90 tasks by category, GoTo 55 (levels 1-11, 5 seeds each),
Pickup 15 (levels 17-21 = Pickup, UnblockPickup, PickupLoc, PickupDistDebug, PickupAbove,
3 seeds each), ActionObjDoor 5, FindObjS7 5, OneRoomS20 5, SynthLoc 5; the seeds are the
smallest ones (from 0) of each level. AgentGym's own test ids are not published with its code,
so the choice of levels within the GoTo and Pickup categories and of seeds is ours (documented
here, fixed). train: every task id with seed < TRAIN_SEEDS (all 40 levels) that is not a test
id (3,910 ids).

Expert (`expert_action`): a planner with privileged access to the full grid and to minigrid's
instruction verifier (`instrs`), written here (minigrid's `BabyAIBot` is not used: it plans
primitive actions with internal state that has to see every primitive step, it fails on
PutNext*Carrying and KeyInBox, and it loops forever where a task is impossible). It decomposes
the mission into its atomic instructions (go to / pick up / open / put next, in the order
Before/After/And require), finds what stands in the way (a locked door: fetch its key, from a
box if need be, and unlock it; objects blocking the only path or every cell beside a put-next
target: pick one up and drop it where it blocks nothing; a full hand: drop), computes the
primitive-step distance to the current subgoal over the full grid (Dijkstra over cell x
direction; a closed door costs a toggle) and returns the available high-level action that makes
the most progress along a shortest path (at most 2 primitive steps of detour), else the first
primitive of a shortest path. It re-plans from the current state at every call (only the place
it chose to drop the carried object is remembered), so it can take over mid-episode. It solves
all 90 test tasks within 20 turns (at most 18). On seeds 0-49 of every level (2,000 tasks) it
fails only where minigrid 3.2.0 makes the task impossible for any agent: OpenDoorsOrderN4Debug
with two doors (the strict verifier re-checks the second door with the toggle that opened the
first one, and fails), GoToImpUnlock seeds 6, 14 and 35 (the only key of the locked door is
generated inside the locked room: minigrid compares numpy ints with `is`) and PickupDistDebug
seed 36 (the target is walled in by other objects, and picking one up fails the strict level).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import operator
import re
from collections import deque
from dataclasses import dataclass

from envs.base import TextEnv, check_split, invalid_reply_observation

LEVELS: tuple[str, ...] = (
    "BabyAI-GoToRedBallGrey-v0",        # 1
    "BabyAI-GoToRedBall-v0",
    "BabyAI-GoToRedBallNoDists-v0",
    "BabyAI-GoToObjS6-v1",              # AgentGym: BabyAI-GoToObjS6-v0 (not registered in minigrid 3.x)
    "BabyAI-GoToLocalS8N7-v0",          # 5
    "BabyAI-GoToObjMazeS7-v0",
    "BabyAI-GoToImpUnlock-v0",
    "BabyAI-GoToSeqS5R2-v0",
    "BabyAI-GoToRedBlueBall-v0",
    "BabyAI-GoToDoor-v0",               # 10
    "BabyAI-GoToObjDoor-v0",
    "BabyAI-Open-v0",
    "BabyAI-OpenRedDoor-v0",
    "BabyAI-OpenDoorLoc-v0",
    "BabyAI-OpenRedBlueDoorsDebug-v0",  # 15
    "BabyAI-OpenDoorsOrderN4Debug-v0",
    "BabyAI-Pickup-v0",
    "BabyAI-UnblockPickup-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDistDebug-v0",        # 20
    "BabyAI-PickupAbove-v0",
    "BabyAI-PutNextLocalS6N4-v0",
    "BabyAI-PutNextS7N4Carrying-v0",
    "BabyAI-Unlock-v0",
    "BabyAI-UnlockLocalDist-v0",        # 25
    "BabyAI-KeyInBox-v0",
    "BabyAI-UnlockPickupDist-v0",
    "BabyAI-BlockedUnlockPickup-v0",
    "BabyAI-UnlockToUnlock-v0",
    "BabyAI-ActionObjDoor-v0",          # 30
    "BabyAI-FindObjS7-v0",
    "BabyAI-KeyCorridorS6R3-v0",
    "BabyAI-OneRoomS20-v0",
    "BabyAI-MoveTwoAcrossS8N9-v0",
    "BabyAI-SynthS5R2-v0",              # 35
    "BabyAI-SynthLoc-v0",
    "BabyAI-SynthSeq-v0",
    "BabyAI-MiniBossLevel-v0",
    "BabyAI-BossLevel-v0",
    "BabyAI-BossLevelNoUnlock-v0",      # 40
)
"""AgentGym's 40 levels in order; task id `i` plays level `LEVELS[i % 40]` (level number i % 40 + 1)."""

NUM_LEVELS = len(LEVELS)
TIER_LEVELS = {1: range(1, 12), 2: range(12, 30), 3: range(30, 41)}
"""Tier -> level numbers: 1 GoTo family, 2 Open/Pickup/PutNext/Unlock, 3 composite levels."""
TEST_LEVELS: dict[str, tuple[tuple[int, ...], int]] = {
    "GoTo": (tuple(range(1, 12)), 5),
    "Pickup": ((17, 18, 19, 20, 21), 3),
    "ActionObjDoor": ((30,), 5),
    "FindObjS7": ((31,), 5),
    "OneRoomS20": ((33,), 5),
    "SynthLoc": ((36,), 5),
}
"""Published test categories: category -> (level numbers, seeds per level). 55+15+5+5+5+5 = 90."""
TEST_SKIP: dict[int, tuple[int, ...]] = {}
"""Seeds left out of the test split per level (none needed: the expert solves seeds 0..4 of all test levels)."""
TRAIN_SEEDS = 100
"""The train split is every task id with seed < TRAIN_SEEDS that is not a test id."""
MAX_SEED = 2**31
"""Task ids go up to 40 * MAX_SEED (exclusive)."""
EXPERT_SLACK = 2
"""Primitive steps of detour the expert accepts from a high-level action (fewer turns, slightly longer paths)."""

# minigrid primitive actions and directions (agent_dir 0..3 = +x, +y, -x, -y)
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5
DIRS = ((1, 0), (0, 1), (-1, 0), (0, -1))
CARRYABLE = ("key", "ball", "box")
INF = float("inf")

CHECK = "check available actions"
_EXPECTED = "a 'Thought: ...' line, then one 'Action: ...' line holding one of the available actions."

INSTRUCTIONS = """\
You are an agent in a grid world of rooms joined by doors. Each task gives a goal, for example \
"go to the red ball", "pick up a blue key", "open the green door" or "put the red ball next to \
the grey box"; some goals chain two or more of these. You only see what is ahead of you (up to \
6 steps ahead and 3 steps to each side; walls block the view). Each observation lists the \
objects in view with their position relative to you, the walls near you, what you carry, and \
the actions you can take now.

Actions:
- turn left, turn right: turn in place.
- move forward: step one cell ahead.
- go to <object> <n>: walk to the object and face it, e.g. "go to red ball 1".
- pickup <object> <n>: walk to the object and pick it up. You can carry one object at a time.
- drop: put the carried object on the empty cell in front of you.
- toggle: open or close the door right in front of you, or open the box in front of you.
- go through <door> <n>: walk through an open door into the next room.
- toggle and go through <door> <n>: open a closed door and walk through it. A locked door \
opens only while you carry a key of its colour.
- check available actions: list the actions you can take now.
Use object names exactly as listed, with their number (e.g. "grey closed door 2"). Finishing in \
fewer steps earns more reward.

Reply with one thought and exactly one action per turn, in this form:
Thought: <your reasoning>
Action: <one available action>"""


# --------------------------------------------------------------------------- levels and splits


def level_of(task_id: int) -> tuple[int, int]:
    """Task id -> (level number 1..40, minigrid seed), as AgentGym's server does."""
    return task_id % NUM_LEVELS + 1, task_id // NUM_LEVELS


def task_of(level: int, seed: int) -> int:
    """(level number 1..40, seed) -> task id."""
    return seed * NUM_LEVELS + level - 1


def tier_of(level: int) -> int:
    return next(t for t, levels in TIER_LEVELS.items() if level in levels)


def category_of(level: int) -> str | None:
    """The published test category of a level (None for levels outside the test split)."""
    return next((c for c, (levels, _) in TEST_LEVELS.items() if level in levels), None)


def _test_ids() -> tuple[int, ...]:
    ids = []
    for levels, per_level in TEST_LEVELS.values():
        for level in levels:
            seeds = [s for s in range(per_level + len(TEST_SKIP.get(level, ()))) if s not in TEST_SKIP.get(level, ())]
            ids += [task_of(level, s) for s in seeds[:per_level]]
    return tuple(sorted(ids))


TEST_IDS: tuple[int, ...] = _test_ids()
TRAIN_IDS: tuple[int, ...] = tuple(i for i in range(TRAIN_SEEDS * NUM_LEVELS) if i not in set(TEST_IDS))


# --------------------------------------------------------------------------- views and actions


@dataclass(frozen=True)
class Thing:
    """An object or door in view."""

    name: str  # "red ball", "green closed door"
    number: int  # 1-based, per name, by distance
    pos: tuple[int, int]  # absolute grid cell
    ahead: int  # steps in front of the agent
    right: int  # steps to the right (negative: left)
    type: str  # "ball" | "key" | "box" | "door"

    @property
    def label(self) -> str:
        return f"{self.name} {self.number}"


@dataclass(frozen=True)
class Macro:
    """One available high-level action and its primitive expansion."""

    text: str
    prims: tuple[int, ...]
    kind: str  # turn | forward | goto | pickup | through | toggle_through | toggle | drop | check
    thing: Thing | None = None
    end: tuple[int, int, int] | None = None  # (x, y, dir) after the last movement primitive


def _steps(n: int, what: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {what}"


def _relative(ahead: int, right: int) -> str:
    parts = [_steps(ahead, "ahead")] if ahead else []
    if right:
        parts.append(_steps(abs(right), "right" if right > 0 else "left"))
    return ", ".join(parts)


def _name(obj) -> str:
    if obj.type == "door":
        state = "open" if obj.is_open else "locked" if obj.is_locked else "closed"
        return f"{obj.color} {state} door"
    return f"{obj.color} {obj.type}"


def _normalize(action: str) -> str:
    """Canonical form of a command: lower case, single spaces, no quotes or trailing period."""
    text = " ".join(action.lower().replace("_", " ").split()).strip("`*\"'[]() .").strip()
    text = re.sub(r"^pick up\b", "pickup", text)
    text = re.sub(r"^toggle and go through the\b", "toggle and go through", text)
    text = re.sub(r"^(go to|pickup|go through) the\b", r"\1", text)
    return text


# --------------------------------------------------------------------------- environment


class BabyAIEnv(TextEnv):
    """BabyAI's 40 levels behind AgentGym's high-level text actions, with a scripted expert.

    Besides the keys every env reports, info carries `level` (env id), `seed`, `steps`
    (primitive actions so far), `executed` (the action ran in the game) and, on reset,
    `task_id`, `tier` and `mission`.
    """

    name = "babyai"
    instructions = INSTRUCTIONS
    demonstration = (
        (
            "Goal: go to the red box.\nYou see: red box 1 (3 steps ahead, 1 step right); green ball 1 (1 step left).\n"
            "Walls: 4 steps ahead.\nYou are carrying nothing.\n"
            "Available actions: turn left, turn right, move forward, go to red box 1, go to green ball 1, "
            "pickup green ball 1, check available actions",
            "Thought: The red box is in view, so I go to it.\nAction: go to red box 1",
        ),
    )
    command_re = re.compile(
        r"(?:turn left|turn right|move forward|drop|toggle|check available actions|"
        r"(?:go to|pick ?up|go through|toggle and go through) (?:the )?(?:red|green|blue|purple|yellow|grey) "
        r"(?:(?:open|closed|locked) )?"
        r"(?:ball|key|box|door)(?: \d{1,3})?)\.?",
        re.IGNORECASE,
    )

    def __init__(self, action_format: str = "strict"):
        super().__init__(action_format)
        self._envs: dict[str, object] = {}
        self.env = None  # the unwrapped minigrid level of the current task
        self.task_id: int | None = None
        self.level: int | None = None
        self.seed: int | None = None
        self.score = 0.0
        self.success = False
        self.done = False
        self.truncated = False
        self._things: list[Thing] = []
        self._actions: dict[str, Macro] = {}
        self._visible: set[tuple[int, int]] = set()
        self._memo: dict = {}  # the expert's cost grids, valid for one call
        self._avoid: set = set()
        self._drop_choice: tuple | None = None  # (id of the carried object, cells the expert drops it on)
        self._strict_pickup = self._strict_open = False

    # -- tasks ------------------------------------------------------------------------------

    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, **options) -> list[int]:
        """Task ids of `split`; `tier` 1 / 2 / 3 keeps the GoTo / single-skill / composite levels.

        `options` are the constructor's (`action_format` does not affect tasks).
        """
        check_split(split)
        unknown = set(options) - {"action_format"}
        if unknown:
            raise TypeError(f"unknown BabyAI option(s): {', '.join(sorted(unknown))}")
        ids = list(TEST_IDS if split == "test" else TRAIN_IDS)
        if tier is None:
            return ids
        try:
            t = None if isinstance(tier, bool) else operator.index(tier)
        except TypeError:
            t = None
        if t not in TIER_LEVELS:
            raise ValueError(f"BabyAI tier is one of {sorted(TIER_LEVELS)} (level family); got {tier!r}")
        return [i for i in ids if tier_of(level_of(i)[0]) == t]

    @classmethod
    def task_info(cls, task_id: int) -> dict:
        """Level, seed, tier and test category of a task id."""
        idx = cls._check_task_id(task_id)
        level, seed = level_of(idx)
        return {"task_id": idx, "level": LEVELS[level - 1], "level_number": level, "seed": seed,
                "tier": tier_of(level), "category": category_of(level)}

    @staticmethod
    def _check_task_id(task_id) -> int:
        try:
            idx = None if isinstance(task_id, bool) else operator.index(task_id)
        except TypeError:
            idx = None
        if idx is None or not 0 <= idx < NUM_LEVELS * MAX_SEED:
            raise ValueError(f"BabyAI task id must be an integer in [0, {NUM_LEVELS * MAX_SEED}), got {task_id!r}")
        return idx

    # -- episode ----------------------------------------------------------------------------

    def reset(self, task_id: int) -> tuple[str, dict]:
        idx = self._check_task_id(task_id)
        level, seed = level_of(idx)
        env_id = LEVELS[level - 1]
        if env_id not in self._envs:
            import gymnasium as gym
            import minigrid  # noqa: F401  (registers the BabyAI ids)

            self._envs[env_id] = gym.make(env_id, disable_env_checker=True).unwrapped
        self.env = self._envs[env_id]
        with contextlib.redirect_stdout(io.StringIO()):  # level generation prints rejected samples
            self.env.reset(seed=seed)
        self.task_id, self.level, self.seed = idx, level, seed
        self.score, self.success, self.done, self.truncated = 0.0, False, False, False
        self._drop_choice = None
        atoms = self._atoms(self.env.instrs, pending_only=False)
        # "Debug" levels fail the episode on picking up / opening a wrong object: the expert must
        # not move blockers (strict pickup) nor open doors on its way (strict open)
        self._strict_pickup = any(getattr(i, "strict", False) for i in atoms
                                  if type(i).__name__ in ("PickupInstr", "PutNextInstr"))
        self._strict_open = any(getattr(i, "strict", False) for i in atoms if type(i).__name__ == "OpenInstr")
        self._scan()
        obs = f"Goal: {self.env.mission}.\n{self._view_text()}"
        info = self._info(None, True)
        info.update(task_id=idx, tier=tier_of(level), mission=self.env.mission)
        return obs, info

    def step(self, reply) -> tuple[str, float, bool, bool, dict]:
        """Parse the reply's action and run it. Never raises on any reply text."""
        if self.env is None:
            raise RuntimeError("call reset(task_id) before step()")
        parsed = self.parse(reply)
        if self.done:
            info = self._info(parsed.action, False, "The episode is over.")
            return "The episode is over; reset to start a new task.", 0.0, not self.truncated, self.truncated, info
        if parsed.action is None:
            obs = f"{invalid_reply_observation(parsed.error, _EXPECTED)}\n{self._actions_line()}"
            return obs, 0.0, False, False, self._info(None, False, parsed.error)
        action = parsed.action.encode("utf-8", "replace").decode("utf-8")[:200]
        command = self._complete(_normalize(action))
        macro = self._actions.get(command)
        if macro is None:
            error = self._why_unavailable(command, action)
            obs = f"{invalid_reply_observation(error, 'one of the available actions.')}\n{self._actions_line()}"
            return obs, 0.0, False, False, self._info(action, False, error)
        if macro.kind == "check":
            return self._actions_line(), 0.0, False, False, self._info(action, parsed.format_ok, executed=True)
        feedback, reward = self._execute(macro)
        self._scan()
        obs = f"{feedback}\n{self._view_text()}"
        if self.done:
            obs = f"{feedback}\n" + ("The task is complete." if self.success else
                                      "The task failed." if not self.truncated else
                                      "You ran out of steps; the episode is over.")
        terminated = self.done and not self.truncated
        return obs, reward, terminated, self.truncated, self._info(action, parsed.format_ok, executed=True)

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        self.env = None

    def _info(self, action: str | None, format_ok: bool, error: str | None = None, executed: bool = False) -> dict:
        info = {
            "success": self.success, "score": self.score, "action": action,
            "format_ok": bool(format_ok and error is None), "executed": executed,
            "level": LEVELS[self.level - 1] if self.level else None, "seed": self.seed,
            "steps": int(self.env.step_count) if self.env is not None else 0,
        }
        if error is not None:
            info["error"] = error
        return info

    # -- running a macro --------------------------------------------------------------------

    def _execute(self, macro: Macro) -> tuple[str, float]:
        env = self.env
        total = 0.0
        start_pos, start_carrying = tuple(env.agent_pos), env.carrying
        for prim in macro.prims:
            before = tuple(env.agent_pos)
            _, reward, terminated, truncated, _ = env.step(prim)
            total += float(reward)
            if terminated or truncated:
                self.done = True
                self.success = bool(terminated and reward > 0)
                self.truncated = bool(truncated and not terminated)
                break
            if prim == FORWARD and tuple(env.agent_pos) == before:
                break  # blocked: the plan no longer fits the world
            if prim == TOGGLE and macro.kind == "toggle_through" and not env.grid.get(*env.front_pos).is_open:
                break
        self.score += total
        return self._feedback(macro, start_pos, start_carrying), total

    def _feedback(self, macro: Macro, start_pos, start_carrying) -> str:
        env, kind, label = self.env, macro.kind, macro.thing.label if macro.thing else ""
        if kind == "turn":
            return f"You turned {macro.text.split()[-1]}."
        if kind == "forward":
            return "You moved forward." if tuple(env.agent_pos) != start_pos else "You could not move forward."
        if kind == "goto":
            return f"You went to {label}."
        if kind == "pickup":
            return f"You picked up {label}." if env.carrying is not None else f"You could not pick up {label}."
        if kind == "through":
            return f"You went through {label}."
        if kind == "toggle_through":
            return f"You opened {label} and went through it."
        if kind == "drop":
            return f"You dropped the {_name(start_carrying)}." if env.carrying is None else "You could not drop it."
        front = env.grid.get(*env.front_pos)
        if front is not None and front.type == "door":
            if front.is_locked:
                return f"The door is locked: it opens only while you carry a {front.color} key."
            return f"You toggled the door: it is now {'open' if front.is_open else 'closed'}."
        if front is not None:
            return f"You opened the box: it held a {_name(front)}."
        return "You opened the box: it was empty." if macro.thing and macro.thing.type == "box" else "Nothing happened."

    # -- what the agent sees ----------------------------------------------------------------

    def _scan(self) -> None:
        """Compute the visible cells, the objects in view and the available actions."""
        env = self.env
        grid = env.grid
        _, vis_mask = env.gen_obs_grid()
        size = env.agent_view_size
        ax, ay = (int(v) for v in env.agent_pos)
        d = int(env.agent_dir)
        fx, fy = DIRS[d]
        rx, ry = DIRS[(d + 1) % 4]
        visible: set[tuple[int, int]] = set()
        seen: list[tuple[int, int, int, int, object]] = []
        for j in range(size):
            for i in range(size):
                if not vis_mask[i, j]:
                    continue
                ahead, right = size - 1 - j, i - size // 2
                x, y = ax + fx * ahead + rx * right, ay + fy * ahead + ry * right
                if not (0 <= x < grid.width and 0 <= y < grid.height):
                    continue
                visible.add((x, y))
                cell = grid.get(x, y)
                if (ahead or right) and cell is not None and cell.type in ("key", "ball", "box", "door"):
                    seen.append((abs(ahead) + abs(right), right, ahead, x, y, cell))
        seen.sort(key=lambda t: (t[0], t[1], t[2]))
        counts: dict[str, int] = {}
        things = []
        for _, right, ahead, x, y, cell in seen:
            name = _name(cell)
            counts[name] = counts.get(name, 0) + 1
            things.append(Thing(name, counts[name], (x, y), ahead, right, cell.type))
        self._visible, self._things = visible, things
        self._actions = self._plan_actions()

    def _passable(self, x: int, y: int) -> bool:
        cell = self.env.grid.get(x, y)
        return cell is None or (cell.type == "door" and cell.is_open)

    def _view_bfs(self):
        """BFS over (x, y, dir) inside the visible free cells; returns states in BFS order and parents."""
        env = self.env
        start = (int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir))
        free = {c for c in self._visible if self._passable(*c)} | {start[:2]}
        parent: dict[tuple[int, int, int], tuple] = {start: None}
        queue = deque([start])
        while queue:
            s = queue.popleft()
            x, y, d = s
            dx, dy = DIRS[d]
            for prim, n in ((FORWARD, (x + dx, y + dy, d)), (LEFT, (x, y, (d - 1) % 4)), (RIGHT, (x, y, (d + 1) % 4))):
                if n in parent or (prim == FORWARD and n[:2] not in free):
                    continue
                parent[n] = (s, prim)
                queue.append(n)
        return parent

    @staticmethod
    def _path(parent, state) -> tuple[int, ...]:
        prims = []
        while parent[state] is not None:
            state, prim = parent[state]
            prims.append(prim)
        return tuple(reversed(prims))

    def _plan_actions(self) -> dict[str, Macro]:
        env = self.env
        grid = env.grid
        parent = self._view_bfs()
        face: dict[tuple[int, int], tuple[int, int, int]] = {}  # cell -> first state facing it
        arrive: dict[tuple[int, int], tuple[int, int, int]] = {}  # cell -> first state standing on it
        for s in parent:  # insertion order = BFS order (shortest first)
            x, y, d = s
            dx, dy = DIRS[d]
            face.setdefault((x + dx, y + dy), s)
            arrive.setdefault((x, y), s)
        x0, y0, d0 = int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)
        carrying = env.carrying
        front = grid.get(*env.front_pos)
        acts: dict[str, Macro] = {}

        def add(text, prims, kind, thing=None, end=None):
            acts[text] = Macro(text, tuple(prims), kind, thing, end)

        add("turn left", [LEFT], "turn", end=(x0, y0, (d0 - 1) % 4))
        add("turn right", [RIGHT], "turn", end=(x0, y0, (d0 + 1) % 4))
        fx, fy = x0 + DIRS[d0][0], y0 + DIRS[d0][1]
        if self._passable(fx, fy):
            add("move forward", [FORWARD], "forward", end=(fx, fy, d0))
        goto, pickup, doors = {}, {}, {}
        for t in self._things:
            s = face.get(t.pos)
            if s is not None:
                path = self._path(parent, s)
                goto[t.label] = (path or (LEFT, RIGHT), s)
                if t.type in CARRYABLE and carrying is None:
                    pickup[t.label] = (path + (PICKUP,), s)
            if t.type != "door":
                continue
            door = grid.get(*t.pos)
            if door.is_open:
                s = arrive.get(t.pos)
                if s is not None and self._path(parent, s):
                    path = self._path(parent, s)
                    bx, by = t.pos[0] + DIRS[s[2]][0], t.pos[1] + DIRS[s[2]][1]
                    if grid.get(bx, by) is None:
                        path, s = path + (FORWARD,), (bx, by, s[2])
                    doors[t.label] = ("go through", path, "through", s)
            elif s is not None and (not door.is_locked or (carrying is not None and carrying.type == "key"
                                                            and carrying.color == door.color)):
                path = self._path(parent, s)
                end = (t.pos[0], t.pos[1], s[2])
                prims = path + (TOGGLE, FORWARD)
                bx, by = t.pos[0] + DIRS[s[2]][0], t.pos[1] + DIRS[s[2]][1]
                if grid.get(bx, by) is None:
                    prims, end = prims + (FORWARD,), (bx, by, s[2])
                doors[t.label] = ("toggle and go through", prims, "toggle_through", end)
        by_label = {t.label: t for t in self._things}
        for label, (prims, s) in goto.items():
            add(f"go to {label}", prims, "goto", by_label[label], s)
        for label, (prims, s) in pickup.items():
            add(f"pickup {label}", prims, "pickup", by_label[label], s)
        for label, (verb, prims, kind, s) in doors.items():
            add(f"{verb} {label}", prims, kind, by_label[label], s)
        if front is not None and front.type in ("door", "box"):
            add("toggle", [TOGGLE], "toggle", next((t for t in self._things if t.pos == tuple(env.front_pos)), None))
        if carrying is not None and front is None and 0 <= fx < grid.width and 0 <= fy < grid.height:
            add("drop", [DROP], "drop")
        add(CHECK, [], "check")
        return acts

    def _walls_text(self) -> str:
        env = self.env
        x0, y0, d0 = int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)
        parts = []
        for what, d in (("ahead", d0), ("to your left", (d0 - 1) % 4), ("to your right", (d0 + 1) % 4)):
            dx, dy = DIRS[d]
            for k in range(1, env.agent_view_size):
                c = (x0 + dx * k, y0 + dy * k)
                if c not in self._visible:
                    break
                cell = env.grid.get(*c)
                if cell is not None:
                    if cell.type == "wall":
                        parts.append(_steps(k, what))
                    break
        return f"Walls: {', '.join(parts)}." if parts else ""

    def _view_text(self) -> str:
        if self._things:
            seen = "; ".join(f"{t.label} ({_relative(t.ahead, t.right)})" for t in self._things)
            lines = [f"You see: {seen}."]
        else:
            lines = ["You see no objects."]
        walls = self._walls_text()
        if walls:
            lines.append(walls)
        carrying = self.env.carrying
        lines.append(f"You are carrying a {_name(carrying)}." if carrying is not None else "You are carrying nothing.")
        lines.append(self._actions_line())
        return "\n".join(lines)

    def _actions_line(self) -> str:
        return "Available actions: " + ", ".join(self._actions)

    def _complete(self, command: str) -> str:
        """Add the number to 'go to red ball' when exactly one red ball is in view."""
        m = re.fullmatch(r"(go to|pickup|go through|toggle and go through) (.+)", command)
        if m is not None and not re.search(r" \d+$", command):
            same = [t for t in self._things if t.name == m.group(2)]
            if len(same) == 1:
                return f"{m.group(1)} {same[0].label}"
        return command

    def _why_unavailable(self, command: str, raw: str) -> str:
        """Explain why a command cannot be taken now (what is expected instead)."""
        env = self.env
        shown = raw if len(raw) <= 80 else raw[:80] + "..."
        carrying = env.carrying
        if command == "move forward":
            front = env.grid.get(*env.front_pos)
            return f"You cannot move forward: there is a {_name(front) if front.type != 'wall' else 'wall'} in front of you."
        if command == "drop":
            if carrying is None:
                return "You are not carrying anything to drop."
            return "You cannot drop here: the cell in front of you is not empty."
        if command == "toggle":
            return "There is no door or box right in front of you to toggle."
        m = re.fullmatch(r"(go to|pickup|go through|toggle and go through) (.+)", command)
        if m is None:
            return (f"'{shown}' is not an action. Actions look like 'go to red ball 1', 'pickup grey key 1', "
                    "'toggle and go through blue closed door 1', 'turn left' or 'move forward'.")
        verb, label = m.groups()
        if not re.search(r" \d+$", label):
            if any(t.name == label for t in self._things):
                return f"Several {label}s are in view; add the number, e.g. '{verb} {label} 1'."
            return f"There is no {label[:60]} in view; use the names and numbers listed under 'You see'."
        thing = next((t for t in self._things if t.label == label), None)
        if thing is None:
            return f"There is no {label[:60]} in view; use the names and numbers listed under 'You see'."
        if verb == "pickup":
            if thing.type == "door":
                return "Doors cannot be picked up."
            if carrying is not None:
                return f"You are already carrying a {_name(carrying)}; drop it first."
        if verb in ("go through", "toggle and go through") and thing.type != "door":
            return f"{label} is not a door."
        if verb == "go through" and not env.grid.get(*thing.pos).is_open:
            return f"{label} is not open; use 'toggle and go through {label}'."
        if verb == "toggle and go through":
            door = env.grid.get(*thing.pos)
            if door.is_open:
                return f"{label} is already open; use 'go through {label}'."
            if door.is_locked:
                return f"{label} is locked; you must carry a {door.color} key to open it."
        return f"No path to {label} is known from here; move or turn to find a way."

    # -- scripted expert ---------------------------------------------------------------------

    def expert_action(self) -> str:
        """The next high-level command of a scripted expert with full knowledge of the grid.

        See the module docstring for the method. Returns an available action, or
        "check available actions" once the episode is over or when it finds no plan.
        """
        if self.env is None:
            raise RuntimeError("call reset(task_id) before expert_action()")
        if self.done:
            return CHECK
        self._memo = {}
        atoms = self._atoms(self.env.instrs)
        self._avoid = set()  # cells the current put-next instruction needs free
        if atoms and type(atoms[0]).__name__ == "PutNextInstr":
            self._avoid = {(int(x) + dx, int(y) + dy) for x, y in atoms[0].desc_fixed.obj_poss for dx, dy in DIRS}
        goal = self._expert_subgoal()
        if goal is None:
            return CHECK
        goals, interaction, targets = goal
        return self._expert_choose(goals, interaction, targets)

    # The expert plans over states (x, y, dir). `goals` is a set of states; `interaction` what to do
    # there: "pickup" / "toggle" / "drop", or None for "go to" (facing is the goal).

    def _state(self) -> tuple[int, int, int]:
        env = self.env
        return int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)

    def _enter_cost(self, x: int, y: int, relaxed: bool, use_key: bool, freed: frozenset = frozenset(),
                    sealed: frozenset = frozenset()) -> float:
        """Primitive steps to enter cell (x, y); see `_cost_grid`."""
        cost = self._cost_grid(relaxed, use_key, freed, sealed)
        return cost[x][y] if 0 <= x < len(cost) and 0 <= y < len(cost[0]) else INF

    def _cost_grid(self, relaxed: bool, use_key: bool, freed: frozenset, sealed: frozenset = frozenset()
                   ) -> list[list[float]]:
        """cost[x][y] = primitive steps to enter the cell: 1 when free or an open door, 2 for a
        closed door (toggle + forward) or a locked one while carrying its key (if `use_key`),
        INF for walls, objects and other locked doors. `relaxed` lets a path run through locked
        doors (20) and objects (40) so that the obstacle to remove can be found; `freed` cells
        count as empty (objects an earlier leg of the plan picks up), `sealed` cells as walls (the
        locked door whose key is being fetched). Cached for one expert call."""
        memo_key = (relaxed, use_key, freed, sealed)
        if memo_key in self._memo:
            return self._memo[memo_key]
        grid = self.env.grid
        w, h = grid.width, grid.height
        carrying = self.env.carrying
        key_color = carrying.color if use_key and carrying is not None and carrying.type == "key" else None
        locked = 20 if relaxed else INF
        obj = 40 if relaxed and not self._strict_pickup else INF
        cost = [[INF] * h for _ in range(w)]
        for i, c in enumerate(grid.grid):
            if c is None:
                v = 1
            elif c.type == "door":
                if c.is_open:
                    v = 1
                elif self._strict_open:
                    v = INF  # in a strict level, opening a door that is not the goal fails the episode
                elif not c.is_locked or c.color == key_color:
                    v = 2
                else:
                    v = locked
            elif c.type in CARRYABLE:
                v = obj
            else:
                v = INF
            cost[i % w][i // w] = v
        for x, y in freed:
            cost[x][y] = 1
        for x, y in sealed:
            cost[x][y] = INF
        cost[int(self.env.agent_pos[0])][int(self.env.agent_pos[1])] = 1
        self._memo[memo_key] = cost
        return cost

    def _distances(self, goals: set, relaxed: bool = False, use_key: bool = True,
                   freed: frozenset = frozenset(), stop=None, sealed: frozenset = frozenset()) -> dict:
        """Dijkstra backwards from `goals`: state -> primitive steps to reach a goal state.
        With `stop`, it ends once a state of `stop` is settled (the states it holds are then
        exactly those at most that far away)."""
        cost = self._cost_grid(relaxed, use_key, freed, sealed)
        w, h = len(cost), len(cost[0])
        dist: dict[tuple[int, int, int], float] = {}
        heap = [(0, g) for g in goals if cost[g[0]][g[1]] < INF]
        heapq.heapify(heap)
        while heap:
            d, s = heapq.heappop(heap)
            if s in dist:
                continue
            dist[s] = d
            if stop is not None and s in stop:
                break
            x, y, k = s
            for pk in ((k + 1) % 4, (k - 1) % 4):
                if (x, y, pk) not in dist:
                    heapq.heappush(heap, (d + 1, (x, y, pk)))
            px, py = x - DIRS[k][0], y - DIRS[k][1]
            if 0 <= px < w and 0 <= py < h and cost[px][py] < INF and (px, py, k) not in dist:
                heapq.heappush(heap, (d + cost[x][y], (px, py, k)))
        return dist

    def _facing(self, cells) -> set:
        """States (x, y, dir) whose front cell is one of `cells` (the stand cell may be anything)."""
        out = set()
        grid = self.env.grid
        for cx, cy in cells:
            for k, (dx, dy) in enumerate(DIRS):
                x, y = cx - dx, cy - dy
                if 0 <= x < grid.width and 0 <= y < grid.height:
                    out.add((x, y, k))
        return out

    def _follow(self, dist: dict, state, relaxed: bool, use_key: bool, freed: frozenset = frozenset(),
                sealed: frozenset = frozenset()) -> list:
        """The cells entered along a shortest path from `state` (distances from `_distances`
        with the same `relaxed`, `use_key`, `freed`, `sealed`)."""
        cells = []
        for _ in range(10_000):
            d = dist.get(state)
            if not d:
                break
            x, y, k = state
            nx, ny = x + DIRS[k][0], y + DIRS[k][1]
            fwd = (nx, ny, k)
            if fwd in dist and dist[fwd] + self._enter_cost(nx, ny, relaxed, use_key, freed, sealed) == d:
                cells.append((nx, ny))
                state = fwd
                continue
            state = next((s for s in ((x, y, (k - 1) % 4), (x, y, (k + 1) % 4)) if dist.get(s, INF) + 1 == d), None)
            if state is None:
                break
        return cells

    def _first_obstacle(self, path: list, freed: frozenset = frozenset()) -> tuple[int, int] | None:
        """The first cell of a relaxed path that is an obstacle (a locked door or an object)."""
        return next((c for c in path if self._enter_cost(*c, False, False, freed) == INF), None)

    @classmethod
    def _atoms(cls, instr, pending_only: bool = True) -> list:
        """Atomic instructions in the order they must be done (only those not yet done)."""
        kind = type(instr).__name__
        if kind in ("BeforeInstr", "AndInstr"):
            a = [] if pending_only and instr.a_done == "success" else cls._atoms(instr.instr_a, pending_only)
            b = [] if pending_only and instr.b_done == "success" else cls._atoms(instr.instr_b, pending_only)
            return a + b
        if kind == "AfterInstr":
            b = [] if pending_only and instr.b_done == "success" else cls._atoms(instr.instr_b, pending_only)
            a = [] if pending_only and instr.a_done == "success" else cls._atoms(instr.instr_a, pending_only)
            return b + a
        return [instr]

    def _where(self) -> dict[int, tuple[int, int]]:
        """id(object) -> its cell, for every object on the grid (cur_pos is not reliable: an
        object revealed by opening a box has none)."""
        grid = self.env.grid
        return {id(c): (i % grid.width, i // grid.width) for i, c in enumerate(grid.grid) if c is not None}

    def _on_grid(self, objs) -> list[tuple[object, tuple[int, int]]]:
        """The objects of `objs` lying on the grid (not carried), with their cells."""
        where = self._where()
        return [(o, where[id(o)]) for o in objs if id(o) in where]

    def _drop_cells(self) -> list[set]:
        """Empty cells to drop an object on, best first: (1) cells where it blocks nothing: not
        beside a door, and the free cells around stay connected (the local test of minigrid's
        bot); (2) any cell not beside a door; (3) any empty cell."""
        grid = self.env.grid
        agent = tuple(int(v) for v in self.env.agent_pos)
        ring = ((-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0))
        good, fair, empty = set(), set(), set()
        for x in range(1, grid.width - 1):
            for y in range(1, grid.height - 1):
                if grid.get(x, y) is not None:
                    continue
                empty.add((x, y))  # the agent's own cell too: it can step off and drop there
                near = [grid.get(x + dx, y + dy) for dx, dy in DIRS]
                if any(c is not None and c.type == "door" for c in near):
                    continue
                fair.add((x, y))
                kinds = []
                for dx, dy in ring:
                    c = grid.get(x + dx, y + dy)
                    kinds.append(0 if c is None or (x + dx, y + dy) == agent or (c.type == "door" and c.is_open)
                                 else 1 if c.type == "wall" else 2)
                if sum(bool(kinds[i]) != bool(kinds[(i + 1) % 8]) for i in range(8)) > 2:
                    continue
                if any(kinds[i] == 2 and kinds[i - 1] != 0 and kinds[(i + 1) % 8] != 0 for i in range(8)):
                    continue
                good.add((x, y))
        return [good, fair, empty]

    def _drop_goal(self, path: set = frozenset()):
        """Go and drop the carried object on the best reachable drop cell, off the `path` about
        to be taken and not where the current put-next instruction has to drop its object
        (as a last resort, on any reachable empty cell). The choice is kept while the same
        object is carried, so that the expert does not waver between drop places."""
        here = self._state()
        carried = id(self.env.carrying)
        if self._drop_choice is not None and self._drop_choice[0] == carried:
            cells = {c for c in self._drop_choice[1] if self.env.grid.get(*c) is None}
            goals = self._facing(cells)
            if goals and self._distances(goals, stop={here}).get(here, INF) < INF:
                return goals, "drop", None
        tiers = self._drop_cells()
        for cells in [c - self._avoid - path for c in tiers] + [tiers[-1] - path, tiers[-1]]:
            goals = self._facing(cells)
            if goals and self._distances(goals, stop={here}).get(here, INF) < INF:
                self._drop_choice = (carried, frozenset(cells))
                return goals, "drop", None
        return None

    def _key_legs(self, color: str):
        """Where to get a key of `color`: pick one up, or open a box that holds one."""
        objs = self._on_grid(c for c in self.env.grid.grid if c is not None and c.type in CARRYABLE)
        keys = {p for o, p in objs if o.type == "key" and o.color == color}
        if keys:
            return self._facing(keys), "pickup", keys
        boxes = {p for o, p in objs if o.type == "box" and o.contains is not None
                 and o.contains.type == "key" and o.contains.color == color}
        if boxes:
            return self._facing(boxes), "toggle", boxes
        return None

    def _legs(self, instr) -> list | None:
        """The atomic instruction as legs (goal states, interaction, target cells), in order."""
        kind = type(instr).__name__
        carrying = self.env.carrying
        if kind == "GoToInstr":
            cells = {(int(x), int(y)) for x, y in instr.desc.obj_poss}
            return [(self._facing(cells), None, cells)]
        if kind == "PickupInstr":
            cells = {p for _, p in self._on_grid(instr.desc.obj_set)}
            if not cells:
                return None  # the only matching object is carried: drop it, then pick it up again
            return [(self._facing(cells), "pickup", cells)]
        if kind == "OpenInstr":
            doors = self._on_grid(instr.desc.obj_set)
            usable = {p for d, p in doors if not d.is_locked or (carrying is not None and carrying.type == "key"
                                                                 and carrying.color == d.color)}
            if usable:
                return [(self._facing(usable), "toggle", usable)]
            if not doors:
                return None
            # every matching door is locked: fetch the key of the closest one, then open it
            here = self._state()
            door, pos = min(doors, key=lambda dp: (self._distances(self._facing([dp[1]]), relaxed=True, use_key=False,
                                                                   stop={here}).get(here, INF), dp[1]))
            key_leg = self._key_legs(door.color)
            cells = {pos}
            return ([key_leg] if key_leg else []) + [(self._facing(cells), "toggle", cells)]
        if kind == "PutNextInstr":
            fixed = {(int(x), int(y)) for x, y in instr.desc_fixed.obj_poss}
            grid = self.env.grid
            beside = {(x + dx, y + dy) for x, y in fixed for dx, dy in DIRS
                      if 0 <= x + dx < grid.width and 0 <= y + dy < grid.height}
            spots = {c for c in beside if grid.get(*c) is None}
            cells = {p for _, p in self._on_grid(instr.desc_move.obj_set)}
            if not spots:  # every cell beside the fixed objects is taken: move one of the objects there
                blockers = {c for c in beside - cells if grid.get(*c) is not None and grid.get(*c).type in CARRYABLE}
                return [(self._facing(blockers), "pickup", blockers)] if blockers else None
            drop_leg = (self._facing(spots), "drop", spots)
            if carrying is not None and any(carrying is o for o in instr.desc_move.obj_set):
                return [drop_leg]
            # prefer objects from which the drop spots can be reached without unlocking or unblocking
            onward = self._distances(drop_leg[0], use_key=False, freed=frozenset(cells))
            usable = {c for c in cells if any(onward.get(s, INF) < INF for s in self._facing([c]))}
            cells = usable or cells
            return [(self._facing(cells), "pickup", cells), drop_leg]
        return None

    def _expert_subgoal(self, legs=None, depth: int = 0, sealed: frozenset = frozenset()):
        carrying = self.env.carrying
        if legs is None:
            atoms = self._atoms(self.env.instrs)
            if not atoms:
                return None
            legs = self._legs(atoms[0])
            if legs is None:
                return self._drop_goal() if carrying is not None else None
        if not legs or depth > 6:
            return None
        starts, freed = {self._state()}, frozenset()
        for goals, interaction, cells in legs:
            dist = self._distances(goals, use_key=False, freed=freed, stop=starts if len(starts) == 1 else None)
            if min((dist.get(s, INF) for s in starts), default=INF) < INF:
                starts = {g for g in goals if g in dist}
                if interaction in ("pickup", "toggle") and cells:  # the object (or box) will be gone
                    grid = self.env.grid
                    freed |= {c for c in cells if grid.get(*c) is not None and grid.get(*c).type in CARRYABLE}
                continue
            relaxed = self._distances(goals, relaxed=True, use_key=False, freed=freed,
                                      stop=starts if len(starts) == 1 else None, sealed=sealed)
            start = min(starts, key=lambda s: (relaxed.get(s, INF), s))
            if relaxed.get(start, INF) == INF:
                return None
            path = self._follow(relaxed, start, True, False, freed, sealed)
            obstacle = self._first_obstacle(path, freed)
            if obstacle is None:
                return None
            cell = self.env.grid.get(*obstacle)
            if cell.type == "door":  # locked door in the way
                if carrying is not None and carrying.type == "key" and carrying.color == cell.color:
                    return self._expert_subgoal([(self._facing([obstacle]), "toggle", {obstacle})], depth + 1, sealed)
                # fetch its key; the key may itself lie behind a door the carried key opens, so
                # whether to drop what is carried is decided where the key is picked up
                key_leg = self._key_legs(cell.color)
                # (not through this very door)
                return self._expert_subgoal([key_leg], depth + 1, sealed | {obstacle}) if key_leg else None
            if carrying is not None:  # an object in the way: hands must be free to move it
                return self._drop_goal(set(path))
            return self._expert_subgoal([(self._facing([obstacle]), "pickup", {obstacle})], depth + 1, sealed)
        goals, interaction, cells = legs[0]
        if interaction == "pickup" and carrying is not None:  # drop it off the way to the object
            here = self._state()
            return self._drop_goal(set(self._follow(self._distances(goals, stop={here}), here, False, True)))
        return goals, interaction, cells

    def _expert_choose(self, goals: set, interaction: str | None, targets) -> str:
        state = self._state()
        env = self.env
        acts = self._actions
        front = tuple(int(v) for v in env.front_pos)
        if state in goals:
            thing = next((t for t in self._things if t.pos == front), None)
            if interaction == "pickup" and thing is not None and f"pickup {thing.label}" in acts:
                return f"pickup {thing.label}"
            if interaction in ("toggle", "drop") and interaction in acts:
                return interaction
            if interaction is None:
                return f"go to {thing.label}" if thing is not None and f"go to {thing.label}" in acts else "turn left"
        dist = self._distances(goals, stop={state})
        here = dist.get(state, INF)
        if here == INF:
            return CHECK
        finishing, best = [], None
        for text, m in acts.items():
            if m.end is None or m.kind in ("check", "drop", "toggle"):
                continue
            if m.kind == "toggle_through" and self._strict_open and (targets is None or m.thing.pos not in targets):
                continue
            on_target = m.thing is not None and m.thing.pos in (targets or ())
            if m.kind == "pickup":
                if interaction == "pickup" and on_target:
                    finishing.append((len(m.prims), text))
                continue
            if on_target and ((m.kind == "goto" and interaction is None)
                              or (m.kind == "toggle_through" and interaction == "toggle")):
                finishing.append((len(m.prims), text))
                continue
            progress = here - dist.get(m.end, INF)
            waste = len(m.prims) - progress
            if progress >= 1 and waste <= EXPERT_SLACK:
                key = (-progress, len(m.prims))
                if best is None or key < best[0]:
                    best = (key, text)
        if finishing:
            return min(finishing)[1]
        if best is not None:
            return best[1]
        # a primitive step along a shortest path
        x, y, k = state
        nx, ny = x + DIRS[k][0], y + DIRS[k][1]
        cost = self._enter_cost(nx, ny, False, True)
        if dist.get((nx, ny, k), INF) + cost == here:
            cell = env.grid.get(nx, ny)
            if cell is not None and cell.type == "door" and not cell.is_open and "toggle" in acts:
                return "toggle"
            if "move forward" in acts:
                return "move forward"
        if dist.get((x, y, (k - 1) % 4), INF) + 1 == here:
            return "turn left"
        return "turn right"
