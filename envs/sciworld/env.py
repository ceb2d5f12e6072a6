"""SciWorldEnv: elementary-science tasks in ScienceWorld's text simulator (AgentGym's SciWorld).

`reset(task_id)` loads the item's task and variation, takes ScienceWorld's "look around" step
and returns the task description and the room description. Each `step` parses one command in
ScienceWorld's own grammar out of the reply and sends it to the simulator unchanged (bar case,
spacing and a trailing period), so the observations are the simulator's. See `envs.sciworld.tasks`
for the items, tiers and split, and `envs.sciworld.jvm` for how many envs share one JVM.

Score and reward: ScienceWorld scores an episode 0-100 (partial credit for sub-goals) and sets
it to -100 when the task is failed, e.g. by focusing on a wrong object. `info["score"]` is that
raw score. The training reward is the score normalised to [0, 1] with a failure counted as 0:
each step's reward is the change of max(score, 0) / 100 (the first step's counts from 0, so it
also pays any credit the starting room already earns, e.g. "be in the kitchen"), so an episode's
rewards sum to its final max(score, 0) / 100. A step's reward is negative when the score drops
(a failure after partial credit takes the credit back). The episode ends (terminated) when the simulator says the
task is completed or the score is negative; `info["success"]` is ScienceWorld's completion with
the full score of 100. The simulator's own step limit is not used: the horizon is the trainer's.
"""

from __future__ import annotations

import os
import re

from envs.base import TextEnv, check_split, invalid_reply_observation
from envs.sciworld import tasks as _tasks
from envs.sciworld.jvm import World, shared_jvm

MAX_ACTION_CHARS = 200
"""Longer commands are rejected without reaching the simulator (its longest are ~70 characters)."""
NO_MATCH = "No known action matches that input."
"""ScienceWorld's reply to a command its parser does not understand."""

VERBS = (
    "look around", "look at", "look in", "read", "go to", "go", "open", "close", "pick up", "put down",
    "move", "pour", "dunk", "mix", "activate", "deactivate", "use", "connect", "disconnect", "eat",
    "flush", "focus on", "wait1", "wait", "inventory", "task", "help", "objects",
)
_VERB_RE = re.compile(r"(?:%s)(?:\s|$)" % "|".join(re.escape(v) for v in VERBS))
_WORDS = r"[^\n]{1,100}?"

INSTRUCTIONS = """\
You are an agent in ScienceWorld, a text simulation of a house and its surroundings (kitchen, \
bathroom, workshop, greenhouse, foundry, outside, ...) where you carry out elementary-school \
science tasks. The first observation gives the task and describes the room you are in. Act with \
one command per turn:
- look around: describe the room; look at OBJ: describe an object; look in OBJ: a container's contents
- read OBJ: read a book or note
- go to LOCATION: walk through an open door to a neighbouring room
- open OBJ, close OBJ: open or close a door or container
- pick up OBJ: take an object; put down OBJ: drop it
- move OBJ to OBJ: put an object into a container or onto a surface
- pour OBJ in OBJ, dunk OBJ in OBJ, mix OBJ (mixes what a container holds)
- activate OBJ, deactivate OBJ: switch a device (stove, sink, freezer, ...) on or off
- use OBJ on OBJ: use a tool, e.g. use thermometer on water
- connect OBJ to OBJ, disconnect OBJ: wire electrical parts, e.g. connect battery anode to red wire
- eat OBJ, flush OBJ
- focus on OBJ: declare the object the task is about. Focus only on what the task names: \
focusing on a wrong object fails the task.
- wait: let 10 time steps pass; wait1: one step
- inventory: list what you carry; task: repeat the task description
Name objects as the observations do. If the game asks which object you mean, answer with the \
number of your choice (Action: 0). Your score rises as you complete parts of the task.
Reply with one thought and exactly one command per turn, in this form:
Thought: <your reasoning>
Action: <one command>"""

EXPECTED_REPLY = ("a reply ending in 'Action: <command>' with one ScienceWorld command, e.g. "
                  "'Action: look around' or 'Action: open door to kitchen'.")
COMMAND_LIST = ("look around, look at, look in, read, go to, open, close, pick up, put down, move, "
                "pour, dunk, mix, activate, deactivate, use, connect, disconnect, eat, flush, focus on, "
                "wait, wait1, inventory, task")


def clean_observation(text: str) -> str:
    """Simulator text with trailing spaces and blank-line runs removed (nothing else changes)."""
    lines = [line.rstrip() for line in str(text).strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def clean_action(action: str) -> str:
    """A command as the simulator should get it: printable, lower case, single spaces, no
    trailing period; characters UTF-8 cannot carry (lone surrogates) become '?'."""
    action = action.encode("utf-8", "replace").decode("utf-8")
    action = "".join(ch if ch.isprintable() else " " for ch in action)
    action = " ".join(action.split()).lower()
    return action[:-1].rstrip() if action.endswith(".") else action


class SciWorldEnv(TextEnv):
    """ScienceWorld with AgentGym's items, the published 200-item test split and a gold expert.

    Constructor options:
        action_format: "strict" (published ReAct format: one `Action:` line) or "lenient" (also
            accept a bare command line matching `command_re`; format_ok stays False for those).

    Env instances are independent episodes; all instances of a process share one JVM (one
    simulator object each; see `envs.sciworld.jvm`), started on the first `reset`. `close()`
    frees the instance's simulator; `envs.sciworld.close_jvm()` (or interpreter exit) stops
    the JVM. Besides the keys every env reports, `step`'s info carries `executed` (the
    simulator understood the command) and `raw_observation` when a hint was added to it.
    """

    name = "sciworld"
    instructions = INSTRUCTIONS
    demonstration = (
        (
            "Your task is to find a(n) animal. First, focus on the thing. Then, move it to the red box in "
            "the kitchen.\n\n"
            "This room is called the hallway. In it, you see:\n\tthe agent\n\ta substance called air\n\ta picture\n"
            "You also see:\n\tA door to the green house (that is open)\n\tA door to the kitchen (that is open)",
            "Thought: Animals are often outside; the green house leads there.\nAction: go to green house",
        ),
    )
    command_re = re.compile(
        r"(?:look around|look (?:at|in) {w}|read {w}|go to {w}|go {w}|open {w}|close {w}|pick up {w}|"
        r"put down {w}|move {w} to {w}|pour {w} in(?:to)? {w}|dunk {w} in(?:to)? {w}|mix {w}|"
        r"activate {w}|deactivate {w}|use {w}|connect {w} to {w}|disconnect {w}|eat {w}|flush {w}|"
        r"focus on {w}|examine {w}|wait1?|inventory|task|\d{{1,2}})\.?".format(w=_WORDS),
        re.IGNORECASE,
    )

    def __init__(self, action_format: str = "strict"):
        super().__init__(action_format)
        self._world: World | None = None
        self.item: _tasks.TaskItem | None = None
        self.task_description = ""
        self.score = 0.0  # raw ScienceWorld score, -100..100
        self.done = False
        self.success = False
        self._paid = 0.0
        self._history: list[str] = []  # commands sent to the simulator this episode
        self._gold: tuple[str, ...] | None = None
        self._gold_pos = 0
        self._matched = 0  # how much of _history the gold position has been advanced over

    # ------------------------------------------------------------------ tasks
    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, **options) -> list[int]:
        """Stable task ids of `split`; `tier` selects a task family (1 Measure, 2 Test-Conductivity,
        3 Find, 4 Chem-Mix, 5 Lifespan, 6 Matter, 7 Thermometer, 8 Circuits, 9 Life-Stages; only
        1-5 have test items). Reads the shipped task table: no JVM is started."""
        check_split(split)
        unknown = set(options) - {"action_format"}
        if unknown:
            raise TypeError(f"unknown SciWorld option(s): {', '.join(sorted(unknown))}")
        tier = _tasks.check_tier(tier)
        ids = list(_tasks.splits()[split])
        if tier is None:
            return ids
        all_items = _tasks.items()
        return [i for i in ids if all_items[i].tier == tier]

    @classmethod
    def task_info(cls, task_id: int) -> dict:
        """The item of a task id: ScienceWorld task id and name, variation, tier and family."""
        it = _tasks.item(task_id)
        return {"task_id": it.task_id, "sw_task": it.sw_id, "task_name": it.task_name,
                "variation": it.variation, "tier": it.tier, "family": it.family}

    # ------------------------------------------------------------------ episode
    def _acquire_world(self) -> World:
        jvm = shared_jvm()
        if self._world is None or self._world.jvm is not jvm:
            self._world = jvm.new_world()
        return self._world

    def reset(self, task_id: int) -> tuple[str, dict]:
        """Load the task variation, look around, return task description + room description."""
        it = _tasks.item(task_id)
        world = self._acquire_world()
        world.load(it.task_name, it.variation)
        self.item = it
        self.task_description = clean_observation(world.call("getTaskDescription"))
        look, score, completed = world.step("look around")
        self.score, self.done, self.success = score * 100, False, False
        self._paid = 0.0  # reward paid so far; the credit of the starting state is paid with the first step
        self._history, self._gold, self._gold_pos, self._matched = [], None, 0, 0
        obs = f"{self.task_description}\n\n{clean_observation(look)}"
        info = {"success": False, "score": self.score, "action": None, "format_ok": True,
                **self.task_info(it.task_id)}
        return obs, info

    def step(self, reply) -> tuple[str, float, bool, bool, dict]:
        """Parse the reply's command and run it in the simulator. Never raises on any reply."""
        if self.item is None or self._world is None:
            error = "No task is running; call reset(task_id) first."
            return error, 0.0, False, False, self._info(None, False, error)
        if self.done:
            error = "The episode is over."
            return f"{error} Reset to start a new task.", 0.0, True, False, self._info(None, False, error)
        jvm = self._world.jvm
        if jvm.pid != os.getpid() or not jvm.alive():  # the simulator is gone: not the reply's fault
            raise RuntimeError("the ScienceWorld JVM of this episode stopped (closed, crashed or forked "
                               "away); reset(task_id) starts a new episode")
        parsed = self.parse(reply)
        if parsed.action is None:
            return self._invalid(None, parsed.error, EXPECTED_REPLY)
        action = clean_action(parsed.action)
        if not action:
            return self._invalid(action, "The 'Action:' line holds no command.", EXPECTED_REPLY)
        if len(action) > MAX_ACTION_CHARS:
            return self._invalid(action[:80] + "...", f"The command is {len(action)} characters long; "
                                 "ScienceWorld commands are short, e.g. 'open door to kitchen'.", EXPECTED_REPLY)
        if action == "reset task":
            return self._invalid(action, "'reset task' is not available here; keep working on the task.",
                                 EXPECTED_REPLY)
        try:
            raw, score, completed = self._world.step(action)
        except Exception as e:  # a Java exception inside the simulator: the world is unchanged
            from py4j.protocol import Py4JJavaError

            if not isinstance(e, Py4JJavaError):
                raise
            error = f"The simulator could not process '{action[:80]}'."
            return self._invalid(action, error, "a different command.")
        self._history.append(action)
        raw = clean_observation(raw)
        if raw == NO_MATCH:
            hint = self._no_match_hint(action)
            obs = f"{NO_MATCH} {hint}"
            info = self._info(action, False, f"{NO_MATCH} {hint}")
            info["raw_observation"] = raw
            return obs, 0.0, False, False, info
        self.score = score * 100
        reward = max(self.score, 0.0) / 100 - self._paid
        self._paid += reward
        self.done = completed or self.score < 0
        self.success = self.done and self.score >= 100
        obs = raw
        if self.done:
            obs += ("\n(The task is complete: score 100. The episode is over.)" if self.success else
                    f"\n(The task failed: score {self.score:g}. The episode is over.)")
        info = self._info(action, parsed.format_ok)
        info["executed"] = True
        return obs, reward, self.done, False, info

    @staticmethod
    def _no_match_hint(action: str) -> str:
        if _VERB_RE.match(action):
            return ("The command word is known, but the rest does not name anything here in the "
                    "command's form: name objects as the observations do ('look around' lists the room).")
        word = action.split(" ", 1)[0][:30]
        return f"'{word}' starts no command; commands are: {COMMAND_LIST}."

    def _invalid(self, action: str | None, error: str, expected: str):
        return invalid_reply_observation(error, expected), 0.0, False, False, self._info(action, False, error)

    def _info(self, action: str | None, format_ok: bool, error: str | None = None) -> dict:
        info = {"success": self.success, "score": self.score, "action": action,
                "format_ok": format_ok and error is None, "executed": False}
        if error is not None:
            info["error"] = error
        return info

    def close(self) -> None:
        """Free this instance's simulator (the shared JVM keeps running for other instances)."""
        if self._world is not None:
            self._world.close()
        self._world, self.item, self.done = None, None, False

    # ------------------------------------------------------------------ expert
    def gold_actions(self) -> tuple[str, ...]:
        """ScienceWorld's gold action sequence for the current task variation (generated by the
        simulator on first use, in a separate simulator of the same JVM, then cached)."""
        if self.item is None:
            raise RuntimeError("call reset(task_id) before gold_actions()")
        if self._gold is None:
            self._gold = shared_jvm().gold_actions(self.item.task_name, self.item.variation)
        return self._gold

    def expert_action(self) -> str:
        """The next command of ScienceWorld's gold action sequence.

        The expert replays the gold sequence from the start of the episode; its position moves
        on each time a command sent to the simulator equals the next gold command, so other
        commands in between are skipped over (the replay then may or may not still succeed).
        Returns "look around" once the sequence is used up or the episode is over.
        """
        if self.item is None:
            raise RuntimeError("call reset(task_id) before expert_action()")
        if self.done:
            return "look around"
        gold = self.gold_actions()
        for action in self._history[self._matched:]:
            if self._gold_pos < len(gold) and action == clean_action(gold[self._gold_pos]):
                self._gold_pos += 1
        self._matched = len(self._history)
        return gold[self._gold_pos] if self._gold_pos < len(gold) else "look around"
