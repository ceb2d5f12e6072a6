"""TextCraft's command grammar: `get`, `craft ... using ...` and `inventory`, parsed into `Command`s."""

from __future__ import annotations

import re
from dataclasses import dataclass

from envs.textcraft.recipes import display, to_id

MAX_COUNT = 10_000
"""Largest count a command may state; bigger numbers are rejected rather than parsed."""

COMMAND_FORMS = (
    "get <n> <item>, craft <n> <item> using <n> <ingredient>, <n> <ingredient>, ..., or inventory"
)
EXPECTED_REPLY = f"a reply ending in 'Action: <command>' with one command: {COMMAND_FORMS}."


@dataclass(frozen=True)
class Command:
    """A syntactically valid command. Item names are ids (`to_id`); validity is checked later."""

    kind: str  # "get" | "craft" | "inventory"
    item: str = ""
    count: int = 0  # for craft: the stated output count (informational, as in the package)
    inputs: tuple[tuple[str, int], ...] = ()


class CommandError(ValueError):
    """A command that does not follow the grammar; the message says what is expected."""


_GET_RE = re.compile(r"get\s+(\S+)\s+(.+)", re.IGNORECASE | re.DOTALL)
_CRAFT_RE = re.compile(r"craft\s+(.+?)\s+using\s+(.+)", re.IGNORECASE | re.DOTALL)
_COUNTED_RE = re.compile(r"(\d+)\s+(.+)", re.DOTALL)


def _count(text: str, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise CommandError(f"{what} must be a whole number, got '{text[:20]}'.")
    if len(text) > 6 or not 1 <= int(text) <= MAX_COUNT:
        raise CommandError(f"{what} must be between 1 and {MAX_COUNT}, got {text[:20]}.")
    return int(text)


def parse_command(action: str) -> Command:
    """Parse one TextCraft command (case-insensitive, a trailing period is ignored).

    Raises CommandError saying what is wrong and what form is expected.
    """
    text = " ".join(action.split()).rstrip(".").strip()
    low = text.lower()
    if low == "inventory":
        return Command("inventory")
    if low.startswith("get ") or low == "get":
        m = _GET_RE.fullmatch(text)
        if not m:
            raise CommandError("Use 'get <n> <item>', e.g. 'get 2 oak logs'.")
        count = _count(m.group(1), "The number of items to get")
        return Command("get", to_id(m.group(2)), count)
    if low.startswith("craft ") or low == "craft":
        m = _CRAFT_RE.fullmatch(text)
        if not m:
            raise CommandError(
                "Use 'craft <n> <item> using <n> <ingredient>, <n> <ingredient>', "
                "e.g. 'craft 4 oak planks using 1 oak logs'."
            )
        head = _COUNTED_RE.fullmatch(m.group(1))
        count, item = (_count(head.group(1), "The output count"), head.group(2)) if head else (1, m.group(1))
        inputs: list[tuple[str, int]] = []
        for part in m.group(2).split(","):
            part = part.strip()
            ing = _COUNTED_RE.fullmatch(part)
            if not ing:
                raise CommandError(
                    f"Each ingredient must be '<n> <item>', got '{part[:60]}'; separate ingredients with commas."
                )
            name = to_id(ing.group(2))
            if any(name == seen for seen, _ in inputs):
                raise CommandError(
                    f"The ingredient '{display(name)[:40]}' is listed twice; give it once with its total count."
                )
            inputs.append((name, _count(ing.group(1), f"The count of '{display(name)[:40]}'")))
        return Command("craft", to_id(item), count, tuple(inputs))
    raise CommandError(f"Unknown command '{text[:60]}'.")
