"""The wire protocols `envs.server` and `envs.remote` share: this project's (named by a header and
/health) and AgentGym's, env by env: what AgentGym's client class of each env sends and reads, so
that `envs.server` can answer those clients and `envs.remote.RemoteEnv` can play on AgentGym's
own servers. Both sides use this one description.

AgentGym (github.com/WooooDyy/AgentGym, `agentenv/agentenv/envs/*.py` and `agentenv-*/`) has no
common wire format; every env's client and server agree on their own:

    env        id field  create ->          reset body              reset ->        step -> obs key  client's reward
    textcraft  id        {id, observation}  {id, data_idx}          dict            observation      reward (0/1)
    babyai     id        {id}               {id, data_idx}          dict            observation      score (running sum)
    sciworld   id        {id}               {id, data_idx}          dict (a)        obs              score (b)
    webshop    env_idx   bare int           {env_idx, session_id}   [obs, null]     state            reward (0..1)
    searchqa   env_idx   bare int ({id} in) {env_idx, id}           bare str        observation      reward (0/1)
    (a) with task_description; (b) 0..100, -100 when failed

Actions: AgentGym's servers take a bare command (`get 1 oak log`), not a whole reply; each
client cuts the command out of the model's reply first (`client_action`). SearchQA alone sends
the whole reply. WebShop's server has no /close. Errors come back as `{"error": msg}` with HTTP
200 (textcraft, babyai, sciworld) or as HTTP 500 (webshop, searchqa).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

PROTOCOL = "cleanagent"
PROTOCOL_VERSION = 1
HEADER = "X-Cleanagent-Protocol"
"""Request header this project's RemoteEnv sends (value: PROTOCOL_VERSION); `envs.server` answers
requests without it in the AgentGym client's shape of the served env."""


def is_loopback(host: str) -> bool:
    """True when `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:  # a host name: loopback only if every address it resolves to is
        infos = socket.getaddrinfo(host, None)
        return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class Wire:
    """How AgentGym's client and server of one env talk."""

    id_key: str
    """the request field (and query parameter) naming the env: "id" or "env_idx"."""
    create_body: dict
    """what AgentGym's client posts to /create."""
    create_answer: str
    """"id": {"id": n}; "id+observation": {"id", "observation", "done", "reward"}; "int": a bare n."""
    task_key: str
    """the /reset field naming the task."""
    reset_answer: str
    """"dict": {"observation", ...}; "list": [observation, null]; "str": the observation."""
    observation_key: str
    """the /step answer's observation field."""
    reward_from: str
    """the /step answer's field AgentGym's client reports as the reward: "reward" or "score"."""
    action_rule: str
    """how the client cuts the action out of a reply: "first-line" (textcraft, babyai), "after-last"
    (sciworld, webshop), "whole" (searchqa)."""
    has_close: bool = True


WIRES: dict[str, Wire] = {
    "textcraft": Wire("id", {"commands": None, "goal": None}, "id+observation", "data_idx", "dict",
                      "observation", "reward", "first-line"),
    "babyai": Wire("id", {}, "id", "data_idx", "dict", "observation", "score", "first-line"),
    "sciworld": Wire("id", {}, "id", "data_idx", "dict", "observation", "score", "after-last"),
    "webshop": Wire("env_idx", {}, "int", "session_id", "list", "state", "reward", "after-last", has_close=False),
    "searchqa": Wire("env_idx", {"id": 0}, "int", "id", "str", "observation", "reward", "whole"),
}

ONE_ACTION_ERROR = "Error: Only one 'Action' is allowed per response. Please adjust your response."
"""TextCraft's and BabyAI's clients answer a reply with two `Action:` lines themselves, sending nothing."""

_FIRST_LINE_RE = re.compile(r"Action:\s*(.*?)(?=\n|$)", re.DOTALL)


class TwoActions(ValueError):
    """A first-line client refuses a reply with more than one `Action:` (it sends nothing)."""


def client_action(rule: str, reply: str) -> str:
    """The action AgentGym's client sends for `reply` (raises TwoActions where that client refuses it)."""
    if rule == "first-line":
        matches = _FIRST_LINE_RE.findall(reply)
        if len(matches) > 1:
            raise TwoActions(ONE_ACTION_ERROR)
        action = matches[-1] if matches else ""
        action = re.sub(r"[^A-Za-z0-9, ]+", "", action)  # letters, digits, commas and spaces only
        return " ".join(action.split()).strip()
    if rule == "after-last":
        parts = reply.rsplit("Action:", 1)
        if len(parts) == 1:  # WebShop's parser takes a marker-less reply whole when it holds a command
            return reply.strip() if ("search[" in reply or "click[" in reply) else ""
        return parts[1].strip()
    if rule == "whole":
        return reply
    raise ValueError(f"unknown action rule {rule!r}")


def bare_command(action: str, command_re: re.Pattern | None) -> str | None:
    """`action` as a one-line command when it fully matches the env's command syntax, else None."""
    if command_re is None or not isinstance(action, str):
        return None
    line = action.strip()
    if not line or "\n" in line or not command_re.fullmatch(line):
        return None
    return line


# --------------------------------------------------------------------------- server side


def create_answer(wire: Wire, env_id: int, observation: str = ""):
    if wire.create_answer == "int":
        return env_id
    if wire.create_answer == "id+observation":
        return {"id": env_id, "observation": observation, "done": False, "reward": 0}
    return {"id": env_id}


def split_sciworld_observation(observation: str, task_description: str) -> tuple[str, str]:
    """(task_description, observation) such that AgentGym's SciWorld client, which shows
    `task_description + "\\n" + observation`, shows exactly `observation`."""
    if task_description and observation.startswith(task_description + "\n"):
        return task_description, observation[len(task_description) + 1:]
    return "", observation  # shown after an empty first line


def reset_answer(env_name: str, wire: Wire, env_id: int, observation: str, info: dict, env=None):
    if wire.reset_answer == "list":
        return [observation, None]
    if wire.reset_answer == "str":
        return observation
    answer = {"id": env_id, "observation": observation, "reward": 0, "done": False}
    if env_name == "babyai":
        answer.update(score=0.0, deleted=False)
    if env_name == "sciworld":
        description, rest = split_sciworld_observation(observation, getattr(env, "task_description", ""))
        answer.update(task_name=str(info.get("task_name", "")), var_num=info.get("variation", 0),
                      task_description=description, observation=rest, score=int(round(info.get("score", 0.0))),
                      deleted=False)
    return answer


def step_answer(env_name: str, wire: Wire, observation: str, reward: float, done: bool, info: dict,
                total_reward: float, previous_score: float) -> dict:
    """The /step answer AgentGym's client of `env_name` reads. `total_reward`: the episode's rewards
    so far, this step's included; `previous_score`: the env's score before this step."""
    answer = {wire.observation_key: observation, "reward": reward, "done": done}
    if env_name == "babyai":
        answer["score"] = total_reward  # AgentGym's BabyAI server: the running sum of rewards
    elif env_name == "sciworld":  # ScienceWorld's points as ints; the client reports `score` as the reward
        score = int(round(info.get("score", 0.0)))
        answer.update(score=score, reward=score - int(round(previous_score)))
    elif env_name in ("webshop", "searchqa"):
        answer["info"] = None
    return answer


# --------------------------------------------------------------------------- client side


@dataclass
class Normalizer:
    """Turns what AgentGym's server answers into the local env's reward, score and success."""

    env_name: str
    previous: float = 0.0  # the last cumulative score seen (babyai, sciworld)

    def reset(self) -> None:
        self.previous = 0.0

    def __call__(self, answer: dict, done: bool) -> tuple[float, float, bool]:
        """-> (reward, score, success) on the local env's scale."""
        if self.env_name == "sciworld":  # 0..100 points, -100 when failed; locally rewards sum to max(score, 0) / 100
            score = float(answer.get("score", 0) or 0)
            paid = max(score, 0.0) / 100
            reward, self.previous = paid - self.previous, paid
            return reward, score, bool(done and score >= 100)
        if self.env_name == "babyai":  # `score` is the running sum of minigrid's rewards
            score = float(answer.get("score", 0) or 0)
            reward, self.previous = score - self.previous, score
            return reward, score, bool(done and score > 0)
        reward = float(answer.get("reward", 0) or 0)
        if self.env_name == "webshop":  # a purchase scores 0..1; only a perfect one is a success
            return reward, reward, bool(done and reward >= 1.0 - 1e-6)
        return reward, reward, bool(done and reward >= 1.0)
