"""`env.reply_complete(text)`: when a reply already holds its action, so the sampler may end the turn."""

import pytest

import envs
from envs.base import parse_react, reply_has_complete_action


@pytest.mark.parametrize("text, complete", [
    ("Thought: go.\nAction: go to grey box 1\n", True),
    ("Action: go to grey box 1", False),  # the line may still grow
    ("Thought: go.\nAction:", False),
    ("Action: \n", False),  # no command on the marker's line yet
    ("action : take key\nThought", True),
    ("Thought: no action yet\n", False),
    ("", False),
])
def test_react_rule(text, complete):
    assert reply_has_complete_action(text) is complete


def test_the_stopped_prefix_parses_to_the_action_the_model_wrote_first():
    """What the issue saw: a valid action line followed by a second `Action:` line is rejected whole;
    stopped at the first complete line it is the action."""
    reply = "Thought: the box is near.\nAction: go to grey box 1.\nAction: go to grey box 1.\n"
    assert parse_react(reply).action is None
    prefix = next(reply[:n] for n in range(len(reply) + 1) if reply_has_complete_action(reply[:n]))
    assert parse_react(prefix).action == "go to grey box 1."


@pytest.mark.parametrize("name", ["babyai", "textcraft", "webshop", "vowels"])
def test_react_envs_use_the_react_rule(name):
    env = envs.env_class(name).__new__(envs.env_class(name))  # the rule reads no state
    assert env.reply_complete("Action: look\n") and not env.reply_complete("Action: look")


def test_searchqa_is_complete_at_a_closed_tag():
    env = envs.env_class("searchqa").__new__(envs.env_class("searchqa"))
    assert not env.reply_complete("I should search. <search>Brindle Press")
    assert env.reply_complete("I should search. <search>Brindle Press founded</search>")
    assert env.reply_complete("<answer>Lusk</answer>")
    assert not env.reply_complete("<search></search>")  # an empty pair is no action


def test_tooluse_never_stops_early():
    env = envs.env_class("tooluse").__new__(envs.env_class("tooluse"))
    assert not env.reply_complete('<tool_call>{"name": "f", "arguments": {}}</tool_call>\nAction: x\n')


def test_remote_env_uses_the_local_envs_rule():
    from envs.remote import RemoteEnv

    remote = RemoteEnv("http://127.0.0.1:9", env="searchqa", connect=False)
    assert remote.reply_complete("<search>q</search>") and not remote.reply_complete("Action: look\n")
    other = RemoteEnv("http://127.0.0.1:9", env=None, connect=False)
    assert other.reply_complete("Action: look\n")
