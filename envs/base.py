"""The text-environment interface every cleanagent env implements, and the ReAct reply parser.

An env follows Gymnasium's signatures with text in and text out:

    obs, info = env.reset(task_id)
    obs, reward, terminated, truncated, info = env.step(reply_text)
    env.close()

`env.reply_complete(text)` says when a reply already holds its action (a sampler may stop there).
`env.instructions` is the task-independent instruction prompt (it becomes the system message);
`env.demonstration` optional example turns that may precede the task;
`reset` returns the first observation of one task. `step` takes the agent's *whole* reply and
parses the action out of it itself, so the trainer never needs to know an env's action syntax.
`info` always carries:

    success    bool   the task is solved
    score      float  the env's own score so far (the published metric)
    action     str | None   the parsed action, None when the reply held none
    format_ok  bool   the reply was well formed (strict format) and its action was valid
    error      str    present when the reply held no valid action: what was expected instead

Bad replies never raise: they produce an observation saying what is expected and reward 0.
The interaction horizon (maximum number of turns) is the trainer's business, not the env's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REPLY_CHARS = 20_000  # longer replies are cut before parsing (a 100 KB reply must not stall a regex)


@dataclass
class ParsedReply:
    action: str | None
    """The command extracted from the reply, None when there is none."""
    format_ok: bool
    """True when the reply follows the strict published format (exactly one `Action:` line)."""
    error: str | None
    """Why no action could be taken from the reply (None when `action` is set)."""


_ACTION_RE = re.compile(r"action\s*:", re.IGNORECASE)
_COMPLETE_ACTION_RE = re.compile(r"action\s*:[ \t]*[^\s][^\n]*\n", re.IGNORECASE)


def reply_has_complete_action(reply: str) -> bool:
    """True once a ReAct reply has an `Action:` marker followed by a command and the end of that line."""
    return _COMPLETE_ACTION_RE.search(reply[:MAX_REPLY_CHARS]) is not None


def parse_react(reply: str, command_re: re.Pattern | None = None, lenient: bool = False) -> ParsedReply:
    """Parse a ReAct reply ("Thought: ... Action: ...") the way AgentGym's envs do.

    Strict (published): the action is the first line of text after the single `Action:` marker;
    no marker is an error and more than one marker is an error.
    Lenient (for small models): if the strict parse finds no action, the first line that
    matches `command_re` (a command-shaped line such as `get 1 oak log`) is taken instead.
    `format_ok` is True only for a strict parse.
    """
    if not isinstance(reply, str):
        reply = "" if reply is None else str(reply)
    # lone surrogates (a reply decoded with errors="surrogateescape") must never be echoed back: UTF-8 cannot carry them
    reply = reply[:MAX_REPLY_CHARS].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    markers = list(_ACTION_RE.finditer(reply))
    if len(markers) == 1:
        rest = reply[markers[0].end():].strip()
        action = rest.splitlines()[0].strip() if rest else ""
        action = action.strip("`*\"' ").strip()
        if action:
            return ParsedReply(action, True, None)
        strict_error = "The reply has an 'Action:' marker but no command after it."
    elif len(markers) > 1:
        strict_error = f"The reply has {len(markers)} 'Action:' lines; give exactly one action per turn."
    else:
        strict_error = "The reply has no 'Action:' line."
    if lenient and command_re is not None and len(markers) <= 1:
        for line in reply.splitlines():
            line = line.strip().strip("`*\"' ").strip()
            line = re.sub(r"^(action|thought)\s*:\s*", "", line, flags=re.IGNORECASE)
            if command_re.fullmatch(line):
                return ParsedReply(line, False, None)
    return ParsedReply(None, False, strict_error)


class TextEnv:
    """Base class: holds the parsing mode and the bookkeeping shared by every env."""

    name: str = "base"
    instructions: str = ""
    command_re: re.Pattern | None = None  # what a command line looks like, for the lenient parser
    tools: list[dict] | None = None
    """OpenAI function schemas of the current task's tools (tool-use envs); a trainer renders them with
    the chat template when it supports tools, else shows `tools_text` in the instructions."""
    tools_text: str = ""
    observation_role: str = "user"
    """the chat role of observations: "tool" for tool results (rendered as such when the template has
    tools, else as user turns)"""
    demonstration: tuple[tuple[str, str], ...] = ()
    """(observation, reply) turns of a short made-up episode, in the env's own page format. A trainer
    may show them as earlier turns before the task (one-shot prompting, as AgentGym's prompts do):
    small instruct models copy the action format from a demonstrated turn far more reliably than
    from a description of it."""

    def __init__(self, action_format: str = "strict"):
        if action_format not in ("strict", "lenient"):
            raise ValueError(f"action_format must be 'strict' or 'lenient', got {action_format!r}")
        self.action_format = action_format

    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, **options) -> list[int]:
        """Stable task ids of a split (identical on every machine); `tier` selects a difficulty tier."""
        raise NotImplementedError

    def parse(self, reply: str) -> ParsedReply:
        return parse_react(reply, self.command_re, lenient=self.action_format == "lenient")

    def reply_complete(self, reply: str) -> bool:
        """Whether the reply so far already holds its action, so a sampler may end the turn there: ReAct's
        first `Action:` line is complete at its newline (what follows is ignored by the parser, or a second
        `Action:` line would make the reply invalid)."""
        return reply_has_complete_action(reply)

    def expert_action(self) -> str:
        """The next command of the env's scripted expert from the current state."""
        raise NotImplementedError

    def expert_reply(self) -> str:
        """The expert's next command as a well-formed reply in the env's action format."""
        return f"Thought: I follow the plan.\nAction: {self.expert_action()}"

    def reset(self, task_id: int) -> tuple[str, dict]:
        raise NotImplementedError

    def step(self, reply: str) -> tuple[str, float, bool, bool, dict]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def invalid_reply_observation(error: str, expected: str) -> str:
    """The observation an agent gets for a reply with no usable action."""
    return f"Invalid action. {error} Expected: {expected}"
