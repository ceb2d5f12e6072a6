"""BabyAIEnv: BabyAI's levels behind AgentGym's high-level text actions (tasks, episodes, rewards).

See the package docstring (`envs.babyai`) for the observation, the actions and the rewards.
"""

from __future__ import annotations

import contextlib
import io
import operator
import re

from envs.babyai.expert import BabyAIExpert
from envs.babyai.levels import (
    LEVELS,
    MAX_SEED,
    NUM_LEVELS,
    TEST_IDS,
    TIER_LEVELS,
    TRAIN_IDS,
    category_of,
    level_of,
    tier_of,
)
from envs.babyai.view import FORWARD, TOGGLE, BabyAIView, Macro, Thing, _name, _normalize
from envs.base import TextEnv, check_split, invalid_reply_observation

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


class BabyAIEnv(BabyAIView, BabyAIExpert, TextEnv):
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
