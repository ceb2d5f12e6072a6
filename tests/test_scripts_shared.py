"""The three scripts duplicate on purpose what a reader of the papers recognises (the episode, the
rollout, the horizon schedule, the KL estimators, the loss weights, PPO-clip) and the shared parts
of the main loop; these tests pin every such duplicate to grpo_agent.py's text, so that
`diff grpo_agent.py ppo_agent.py` shows the algorithm and nothing else. The machinery lives once,
in `cleanagent_utils`."""

import inspect
import re
from pathlib import Path

import pytest

import grpo_agent
import ppo_agent
import reinforce_agent

REPO = Path(__file__).resolve().parents[1]
DUPLICATES = ["Episode", "rollout", "horizon_at", "adaptive_advance", "kl_penalty", "loss_weights",
              "clipped_policy_loss"]
OTHERS = {"ppo_agent": ppo_agent, "reinforce_agent": reinforce_agent}


@pytest.mark.parametrize("script", sorted(OTHERS))
@pytest.mark.parametrize("name", DUPLICATES)
def test_duplicated_method_code_is_identical(script, name):
    assert inspect.getsource(getattr(OTHERS[script], name)) == inspect.getsource(getattr(grpo_agent, name))


def main_segments(path: Path) -> list[str]:
    """The parts of a script's `__main__` that every script shares: set-up up to the policy's load, the
    sampler to the advantages, the horizon schedule's step to the checkpoint, and the end."""
    text = path.read_text()
    main = text[text.index('if __name__ == "__main__":'):]
    cuts = [("", "    model, tokenizer, chat, ref_model = load_policy(args, device)"),
            ("    train_tasks, test_tasks = task_splits(args)\n", "        # ADVANTAGES"),
            ("        if args.horizon_schedule == \"adaptive\"", "            run.save_checkpoint("),
            ("    held_out.final(play_test)", "        del train_model")]
    segments = []
    for start, end in cuts:
        i = main.index(start) if start else 0
        segments.append(main[i : main.index(end, i)])
    return segments


@pytest.mark.parametrize("script", sorted(OTHERS))
def test_shared_parts_of_main_are_identical(script):
    assert main_segments(REPO / f"{script}.py") == main_segments(REPO / "grpo_agent.py")


def test_scripts_import_no_machinery_they_duplicate():
    """Every name a script imports from cleanagent_utils is defined there once; no script redefines one."""
    for path in ("grpo_agent.py", "ppo_agent.py", "reinforce_agent.py"):
        text = (REPO / path).read_text()
        imported = set()
        for block in re.findall(r"from cleanagent_utils\.\w+ import \(?([^)\n]+(?:\n[^)\n]+)*)\)?", text):
            imported |= {n.strip() for n in block.replace("\n", " ").split(",") if n.strip()}
        defined = set(re.findall(r"^(?:def|class) (\w+)", text, re.M))
        assert imported and not imported & defined, (path, imported & defined)
