"""Every training command shown in README.md and docs/*.md parses with its script's own argument
parser and passes its validation, as a user would run it (placeholders such as `runs/<run folder>`
stand for the user's paths). Hardware is not checked here: a vLLM command counts as valid as if a
GPU and vLLM were present."""

import re
import shlex
from pathlib import Path

import pytest
import tyro

import grpo_agent
import ppo_agent
import reinforce_agent

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {"grpo_agent.py": grpo_agent, "ppo_agent.py": ppo_agent, "reinforce_agent.py": reinforce_agent}
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def shown_commands() -> list[tuple[str, str]]:
    """(page, command) for every line in a fenced code block that runs one of the scripts (continuation
    lines joined)."""
    found = []
    for page in PAGES:
        blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", page.read_text(), re.S)
        for block in blocks:
            text = re.sub(r"\\\n\s*", " ", block)
            for line in text.splitlines():
                line = line.split("  #")[0].split(" # ")[0].strip()
                if any(f"{script}" in line for script in SCRIPTS) and ("python" in line or "torchrun" in line):
                    found.append((page.name, line))
    return found


COMMANDS = shown_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 20 and {p for p, _ in COMMANDS} >= {"README.md", "grpo_agent.md", "ppo_agent.md"}


def script_and_flags(command: str):
    """(script module, its flags) of a command line: `python SCRIPT ...`, `torchrun ... SCRIPT ...`, or
    `python bench/learning.py --script SCRIPT ... -- FLAGS` (bench/learning.py passes FLAGS on)."""
    command = re.sub(r"<[^>]+>", "PLACEHOLDER", command.split("&&")[-1])  # `runs/<run folder>`: a user's path
    words = [w for w in shlex.split(command) if w != "..."]
    if "bench/learning.py" in words:
        return SCRIPTS[words[words.index("--script") + 1]], words[words.index("--") + 1 :]
    if words[0] == "python" and words[1] in SCRIPTS or words[0] == "torchrun":
        script = next(w for w in words if w in SCRIPTS)
        return SCRIPTS[script], words[words.index(script) + 1 :]
    return None, []


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_command_parses_and_validates(page, command, monkeypatch):
    module, flags = script_and_flags(command)
    if module is None or "--help" in flags:  # another program that takes a script's name, or the help text
        return
    args = tyro.cli(module.Args, args=flags)
    if args.resume:  # continues a run: only --total-iterations may be given again (checked by start_run)
        assert set(f.split("=")[0] for f in flags if f.startswith("--")) <= {"--resume", "--total-iterations"}
        return
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # a vLLM command as on a GPU machine
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    args.dtype = "float32" if args.dtype == "auto" else args.dtype
    module.validate_args(args)
