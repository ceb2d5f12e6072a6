"""A trivially learnable two-turn env, for the "does the trainer learn at all" test.

Each of the two turns asks for a reply that starts with a vowel. The episode reward is the
share of the two replies that did (0, 0.5 or 1), paid when the episode ends; success means
both did. A randomly initialised model starts a reply with a vowel with probability ~0.2, so the
signal is there from iteration 0 and a working policy-gradient update raises it quickly. It has
no action syntax: the whole reply is the action.
"""

from __future__ import annotations

from envs.base import TextEnv, check_split

VOWELS = set("aeiouAEIOU")
TURNS = 2


class VowelsEnv(TextEnv):
    name = "vowels"
    instructions = "Start every reply with a vowel."

    def __init__(self, action_format: str = "strict"):
        super().__init__(action_format)
        self.turn = 0
        self.hits = 0

    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, **options) -> list[int]:
        check_split(split)
        return list(range(16)) if split == "train" else list(range(16, 24))

    def reset(self, task_id: int) -> tuple[str, dict]:
        if isinstance(task_id, bool) or not isinstance(task_id, int) or not 0 <= task_id < 24:
            raise ValueError(f"vowels task ids are integers 0-23, got {task_id!r}")
        self.turn, self.hits = 0, 0
        return f"Task {task_id}, turn 1 of {TURNS}: reply.", {"success": False, "score": 0.0}

    def step(self, reply: str) -> tuple[str, float, bool, bool, dict]:
        reply = reply if isinstance(reply, str) else ""
        if self.turn >= TURNS:  # a reply after the end changes nothing
            return "The episode is over.", 0.0, True, False, {"success": self.hits == TURNS, "score": self.hits / TURNS,
                                                             "action": None, "format_ok": False}
        hit = reply.lstrip()[:1] in VOWELS
        self.turn += 1
        self.hits += hit
        done = self.turn >= TURNS
        reward = self.hits / TURNS if done else 0.0
        info = {"success": done and self.hits == TURNS, "score": self.hits / TURNS,
                "action": reply.lstrip()[:1], "format_ok": hit}
        return f"Turn {self.turn + 1} of {TURNS}: reply.", reward, done, False, info
