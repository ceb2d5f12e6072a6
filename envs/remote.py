"""A `TextEnv` that plays its episodes on an env server: this project's (`python -m envs.server`)
or one of AgentGym's own.

    env = RemoteEnv("http://127.0.0.1:8000", env="textcraft", timeout=30, retries=3)
    obs, info = env.reset(task_id)                     # same observations, rewards and info as
    obs, reward, terminated, truncated, info = env.step(reply)   # envs.make("textcraft")
    env.close()
    task_ids = remote_tasks("http://127.0.0.1:8000", "test", tier=2)

On this project's server the remote env is the local one: `instructions`, `demonstration`,
`tools`, `tools_text` and `observation_role` come from the server (refreshed at every reset, since
tool-use envs change tools per task), `step` returns the env's whole `info`, and the client's
`action_format` is forwarded (the server parses this client's replies so).

On one of AgentGym's own servers (no /health saying protocol "cleanagent") the client talks as
AgentGym's client class of that env does (`envs.protocol.WIRES`; name the env with `env=`): the
create and reset fields of that env, the command cut out of the reply as that client cuts it
(SearchQA: the whole reply), SciWorld's task description joined to the first observation, rewards
and success on the local env's scale (SciWorld's 0-100 points with -100 on failure, BabyAI's
running score, WebShop's success only for a perfect purchase), no /close on WebShop's server, and
TextCraft task ids translated into that server's goal order (`textcraft_goal_map`). `info` gets
`success`, `score`, and `action` / `format_ok` from parsing the reply here with the local env's
command syntax; `instructions` and `demonstration` are whatever the constructor was given
(AgentGym's servers serve no prompts; the trainers pass the local env's).

Failures. Every request has a timeout and a urllib3 retry policy (`RETRY_POLICIES`, exponential
backoff). Requests that cannot change an episode (health, create, reset, tasks, observation) are
retried on connection errors, timeouts and 503. `step` is retried only where a retry cannot apply
the action twice: this project's server de-duplicates by the client's turn number; against an
AgentGym server only connection attempts that never reached the server are retried. An episode that
cannot go on raises `EpisodeInterrupted` (the trainer catches exceptions from reset/step and masks
that episode): the server restarted or lost the env id (404), was unreachable, or did not answer
within the timeout. No episode is ever silently resumed on a fresh env.

Reconnect. `reset` always works again once the server is back: when the server does not know
this client's env id any more (it restarted, or freed the env after `--idle-timeout`), `reset`
creates a new env on it and resets that one to the task. The server picks random env ids, so an
id from before a restart never names another client's env.
"""

from __future__ import annotations

import operator
import re
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.util.retry import Retry

from envs.base import TextEnv, parse_react
from envs.protocol import (
    HEADER,
    ONE_ACTION_ERROR,
    PROTOCOL,
    PROTOCOL_VERSION,
    WIRES,
    Normalizer,
    TwoActions,
    client_action,
    is_loopback,
)

SPEC_FIELDS = ("instructions", "demonstration", "tools", "tools_text", "observation_role")


class RemoteEnvError(RuntimeError):
    """The env server could not be reached, refused a request, or its env raised."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


class EpisodeInterrupted(RemoteEnvError):
    """The episode in progress was lost (server restart, lost env id, unreachable, timeout).
    It cannot be resumed: mask it; the next `reset` reconnects."""


class ServerAtCapacity(RemoteEnvError):
    """The server already holds `--max-envs` live envs (HTTP 503)."""


class _Transport(Exception):
    """A request that got no HTTP answer (after the retries its policy allows); `cause` is the
    requests error."""

    def __init__(self, cause: Exception, retries: int):
        super().__init__(str(cause))
        self.cause, self.retries = cause, retries

    @property
    def timed_out(self) -> bool:
        """The server took the request but did not answer in time (not: could not connect)."""
        e = self.cause
        if isinstance(e, requests.exceptions.ConnectTimeout):
            return False
        if isinstance(e, requests.exceptions.ReadTimeout):
            return True
        reason = getattr(e.args[0], "reason", None) if e.args else None  # a MaxRetryError inside
        return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


def _normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def _detail(status: int, data) -> tuple[str, str | None]:
    """(message, error code) of an error response, whatever server sent it."""
    if isinstance(data, dict):
        detail = data.get("detail", data.get("error", data))
        return ((detail if isinstance(detail, str) else str(detail)),
                (data.get("error") if isinstance(data.get("error"), str) else None))
    return (str(data)[:2000] or f"HTTP {status}"), None


RETRY_POLICIES = ("all", "unsent", "none")
"""How far a request may be retried (urllib3 counts an error before the request was sent as a
`connect` error, any later one - reset connection, read timeout - as a `read` error):
    all     connect and read errors, and 503 answers: requests that cannot change an episode
            (health, create, reset, tasks, observation)
    unsent  connect errors only: `step` (a step that reached the server may have been applied; this
            project's server would answer a repeat from its cache, AgentGym's would apply it twice,
            and a server that did not answer in time is not asked again)
    none    one attempt (close: best effort)"""


class _Client:
    """JSON requests with a timeout and urllib3 retry policies (backoff `backoff` * 2^k s, at most
    `max_backoff`); one `requests` session per policy."""

    def __init__(self, url: str, timeout: float, retries: int, backoff: float, max_backoff: float):
        self.url, self.timeout, self.retries = _normalize_url(url), float(timeout), max(0, int(retries))
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.loopback = is_loopback(urlsplit(self.url).hostname or "")
        self.sessions: dict[tuple[str, int], requests.Session] = {}

    def session(self, policy: str, retries: int) -> requests.Session:
        if policy not in RETRY_POLICIES:
            raise ValueError(f"unknown retry policy {policy!r}; one of {RETRY_POLICIES}")
        key = (policy, retries if policy != "none" else 0)
        if key not in self.sessions:
            n = key[1]
            retry = Retry(
                total=None, connect=n, read=n if policy == "all" else 0,
                status=n if policy == "all" else 0, other=0, redirect=0, allowed_methods=None,
                status_forcelist=(503,) if policy == "all" else (), raise_on_status=False,
                backoff_factor=self.backoff, backoff_max=self.max_backoff, respect_retry_after_header=True)
            session = requests.Session()
            session.headers[HEADER] = str(PROTOCOL_VERSION)  # our server answers in its own protocol
            if self.loopback:
                session.trust_env = False  # never send loopback traffic through an HTTP(S)_PROXY
            adapter = requests.adapters.HTTPAdapter(max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self.sessions[key] = session
        return self.sessions[key]

    def request(self, method: str, path: str, *, body=None, params=None, retry: str = "all",
                timeout: float | None = None, retries: int | None = None):
        """-> (status, parsed body); raises `_Transport` when no attempt got an HTTP answer."""
        retries = self.retries if retries is None else retries
        try:
            r = self.session(retry, retries).request(method, self.url + path, json=body, params=params,
                                                     timeout=self.timeout if timeout is None else timeout)
        except requests.exceptions.RequestException as e:
            raise _Transport(e, 0 if retry == "none" else retries) from e
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()


class RemoteEnv(TextEnv):
    """A TextEnv whose env runs on the server at `url` (one env on that server per RemoteEnv).

    url          the server, e.g. "http://127.0.0.1:8000"
    env          the env's name: checked against this project's server; on an AgentGym server it
                 picks that env's wire format (`envs.protocol.WIRES`) and the local env's
                 command syntax and reply rule (None: a generic AgentGym-like server)
    timeout      seconds per request
    retries      extra attempts for a request that failed to connect (with backoff `backoff`*2^k s)
    connect      contact the server now (fail fast on a wrong URL); False: at the first reset
    instructions, demonstration   the prompt (AgentGym's servers serve none); they override the
                 server's on this project's server too
    action_format "strict" or "lenient": sent to this project's server, which then parses this
                 client's replies so (None: the server's `--env-options`); against an AgentGym
                 server only used to fill `info["action"]`/`format_ok` from the reply
    map_tasks    on AgentGym's TextCraft server, translate task ids (this project's goal order)
                 into the server's data_idx (its goal order follows its recipe directory's listing)
    """

    def __init__(self, url: str, env: str | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 8.0, connect: bool = True,
                 instructions: str | None = None, demonstration=None, action_format: str | None = None,
                 map_tasks: bool = True):
        super().__init__(action_format or "strict")
        self.requested_format = action_format
        self.client = _Client(url, timeout, retries, backoff, max_backoff)
        self.url = self.client.url
        self.expected_env = env
        self.name = env or "remote"
        self.local_class = _local_class(env)
        if self.local_class is not None:
            self.command_re = self.local_class.command_re
        self.map_tasks = map_tasks
        self.protocol: str | None = None  # "cleanagent" or "agentgym", known after connecting
        self.wire = None  # AgentGym's wire format of this env, on an AgentGym server
        self.normalize: Normalizer | None = None
        self.boot: str | None = None
        self.env_id: int | None = None
        self.id_key = "id"  # the request field naming the env ("env_idx" on some AgentGym servers)
        self.task_id: int | None = None
        self.turn = 0  # steps since the last reset
        self.live = False  # an episode is in progress on the server
        self._instructions, self._demonstration = instructions, demonstration
        # per-instance copies of the prompt attributes (the class defaults are TextEnv's)
        self.instructions = instructions or ""
        self.demonstration = tuple(tuple(t) for t in demonstration) if demonstration else ()
        self.tools, self.tools_text, self.observation_role = None, "", "user"
        if connect:
            self.connect()

    def __repr__(self) -> str:
        return f"RemoteEnv({self.url!r}, env={self.name!r}, id={self.env_id})"

    def reply_complete(self, reply: str) -> bool:
        """The local env's rule for a finished reply when the env is one of ours by name, else ReAct's."""
        if self.local_class is not None:
            return self.local_class.reply_complete(self, reply)
        return super().reply_complete(reply)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connection ------------------------------------------------------------------------

    def _unreachable(self, what: str, t: _Transport, cls=RemoteEnvError) -> RemoteEnvError:
        how = f"no answer within {self.client.timeout:g} s" if t.timed_out else f"{type(t.cause).__name__}: {t.cause}"
        tries = f" (retried up to {t.retries} times)" if t.retries else ""
        return cls(f"env server {self.url}: {what} failed{tries}: {how}")

    def health(self) -> dict | None:
        """The server's /health answer, or None for a server without one (AgentGym's)."""
        try:
            status, data = self.client.request("GET", "/health")
        except _Transport as t:
            raise self._unreachable("GET /health", t) from None
        return data if status == 200 and isinstance(data, dict) else None

    def connect(self) -> None:
        """Find out which protocol the server speaks and create this client's env on it."""
        health = self.health()
        if health is not None and health.get("protocol") == PROTOCOL:
            self.protocol, self.boot = PROTOCOL, health.get("boot")
            served = health.get("env")
            if self.expected_env is not None and served != self.expected_env:
                raise RemoteEnvError(f"env server {self.url} serves {served!r}, not {self.expected_env!r}")
            self.name = served or self.name
            if self.local_class is None:
                self.local_class = _local_class(self.name)
        else:
            self.protocol = "agentgym"
            self.wire = WIRES.get(self.name)
            self.normalize = Normalizer(self.name)
            if self.local_class is not None:  # AgentGym's servers serve no prompt: the local env's
                if self._instructions is None:
                    self.instructions = self.local_class.instructions
                if self._demonstration is None:
                    self.demonstration = tuple(tuple(t) for t in self.local_class.demonstration)
        self._create()

    def _create(self) -> None:
        self.env_id, self.live = None, False
        if self.protocol == PROTOCOL:
            body = {} if self.requested_format is None else {"action_format": self.requested_format}
        else:
            body = dict(self.wire.create_body) if self.wire else {}
        try:
            status, data = self.client.request("POST", "/create", body=body)
        except _Transport as t:
            raise self._unreachable("POST /create", t) from None
        if status == 503:
            message, code = _detail(status, data)
            raise ServerAtCapacity(f"env server {self.url}: {message}", status, code)
        if status >= 400 or (isinstance(data, dict) and "error" in data and "id" not in data):
            message, code = _detail(status, data)
            raise RemoteEnvError(f"env server {self.url}: POST /create -> HTTP {status}: {message}", status, code)
        if isinstance(data, bool) or not isinstance(data, (int, dict)):
            raise RemoteEnvError(f"env server {self.url}: POST /create answered {data!r}, not an env id")
        if isinstance(data, int):  # SearchQA / WebShop: a bare env_idx
            self.env_id, self.id_key = data, "env_idx"
        elif "id" in data and isinstance(data["id"], int):
            self.env_id, self.id_key = data["id"], "id"
        elif isinstance(data.get("env_idx"), int):
            self.env_id, self.id_key = data["env_idx"], "env_idx"
        else:
            raise RemoteEnvError(f"env server {self.url}: POST /create answered {data!r}, with no env id")
        if self.wire is not None:
            self.id_key = self.wire.id_key
        if isinstance(data, dict):
            self.boot = data.get("boot", self.boot)
            if self.protocol == PROTOCOL:
                served_format = data.get("action_format")
                if self.requested_format is not None and served_format not in (None, self.requested_format):
                    raise RemoteEnvError(f"env server {self.url} parses replies {served_format!r}, not "
                                         f"{self.requested_format!r}, and ignored the request to change it")
                self.action_format = served_format or self.action_format
                self._apply_spec(data)

    def _apply_spec(self, data: dict) -> None:
        for key in SPEC_FIELDS:
            if key in data:
                value = data[key]
                if key == "demonstration":
                    value = tuple(tuple(turn) for turn in (value or ()))
                setattr(self, key, value)
        if self._instructions is not None:
            self.instructions = self._instructions
        if self._demonstration is not None:
            self.demonstration = tuple(tuple(t) for t in self._demonstration)

    def _ids(self) -> dict:
        return {self.id_key: self.env_id}

    # -- episode ---------------------------------------------------------------------------

    def reset(self, task_id: int) -> tuple[str, dict]:
        """Start task `task_id` on the server, re-creating this client's env if the server lost it."""
        task_id = operator.index(task_id)
        self.live, self.turn = False, 0
        if self.protocol is None or self.env_id is None:
            self.connect()
        try:
            obs, info = self._reset_once(task_id)
        except _Lost:
            if self.protocol != PROTOCOL:
                self._release()  # an AgentGym server may still hold it
            self.connect()  # the server restarted or freed our env: check it again, a new env, same task
            try:
                obs, info = self._reset_once(task_id)
            except _Lost as lost:
                raise RemoteEnvError(f"env server {self.url}: reset failed on a freshly created env: {lost}") from None
        self.task_id, self.live = task_id, True
        return obs, info

    def _server_task(self, task_id: int) -> int:
        """The server's index of task `task_id` (only TextCraft's goal order differs on AgentGym's server)."""
        if self.protocol == PROTOCOL or self.name != "textcraft" or not self.map_tasks:
            return task_id
        return textcraft_goal_map(self)[task_id]

    def _reset_once(self, task_id: int, server_task: int | None = None) -> tuple[str, dict]:
        server_task = self._server_task(task_id) if server_task is None else server_task
        if self.protocol == PROTOCOL:
            body = {**self._ids(), "data_idx": server_task}
        elif self.wire is not None:
            body = {**self._ids(), self.wire.task_key: server_task}
        else:  # an unknown AgentGym-like server: every spelling of the task
            body = {**self._ids(), "data_idx": server_task}
            if self.id_key == "env_idx":
                body.update(id=server_task, session_id=server_task)
        try:
            status, data = self.client.request("POST", "/reset", body=body)
        except _Transport as t:
            raise self._unreachable(f"POST /reset (task {task_id})", t) from None
        if status >= 400 or (self.protocol != PROTOCOL and isinstance(data, dict) and "error" in data
                             and "observation" not in data):
            message, code = _detail(status, data)
            if self.protocol == PROTOCOL and (status != 404 or code != "unknown_env_id"):
                raise RemoteEnvError(f"env server {self.url}: reset(task {task_id}) -> HTTP {status}: {message}",
                                     status, code)
            raise _Lost(f"HTTP {status}: {message}")  # AgentGym: any failure may be a lost id; retried once
        if self.protocol == PROTOCOL:
            self._apply_spec(data)
            return data["observation"], dict(data.get("info") or {})
        return self._agentgym_reset(data)

    def _agentgym_reset(self, data) -> tuple[str, dict]:
        if self.normalize is not None:
            self.normalize.reset()
        obs = None
        if self.wire is not None and self.wire.reset_answer in ("list", "str"):
            obs = self.observe()  # what AgentGym's WebShop and SearchQA clients show
        elif isinstance(data, str):
            obs = data
        elif isinstance(data, (list, tuple)) and data:
            obs = data[0]
        elif isinstance(data, dict):
            obs = data.get("observation", data.get("state"))
            if self.name == "sciworld" and isinstance(data.get("task_description"), str):
                obs = f"{data['task_description']}\n{obs}"  # as AgentGym's SciWorld client joins them
        if not isinstance(obs, str):
            obs = self.observe()
        score = data.get("score", 0.0) if isinstance(data, dict) else 0.0
        return obs, {"success": False, "score": float(score or 0.0), "action": None, "format_ok": True}

    def observe(self) -> str:
        """The env's latest observation (GET /observation)."""
        try:
            status, data = self.client.request("GET", "/observation", params=self._ids())
        except _Transport as t:
            raise self._unreachable("GET /observation", t) from None
        if status >= 400:
            raise RemoteEnvError(f"env server {self.url}: GET /observation -> HTTP {status}: "
                                 f"{_detail(status, data)[0]}", status)
        if isinstance(data, dict):
            data = data.get("observation", data.get("state", data))
        return data if isinstance(data, str) else str(data)

    def step(self, reply: str) -> tuple[str, float, bool, bool, dict]:
        if not self.live:
            raise RemoteEnvError(f"env server {self.url}: step() with no episode in progress: call "
                                 "reset(task_id) first")
        reply = reply if isinstance(reply, str) else ("" if reply is None else str(reply))
        where = f"task {self.task_id}, step {self.turn + 1}"
        ours = self.protocol == PROTOCOL
        action = reply
        if not ours and self.wire is not None:
            try:  # send what AgentGym's client of this env sends: the command cut out of the reply
                action = client_action(self.wire.action_rule, reply)
            except TwoActions:
                self.turn += 1  # that client answers this itself, sending nothing
                return ONE_ACTION_ERROR, 0.0, False, False, {
                    "success": False, "score": float(self.normalize.previous if self.normalize else 0.0),
                    "action": None, "format_ok": False, "error": ONE_ACTION_ERROR}
        body = {**self._ids(), "action": action}
        if ours:
            body["turn"] = self.turn
        try:
            status, data = self.client.request("POST", "/step", body=body, retry="unsent")
        except _Transport as t:
            self.live = False
            raise self._unreachable(f"POST /step ({where}); the episode is lost", t, EpisodeInterrupted) from None
        if status >= 400:
            message, code = _detail(status, data)
            if status == 404 and (code == "unknown_env_id" or not ours) or not ours and status == 500:
                lost_id, self.live = self.env_id, False
                if ours:
                    self.env_id = None  # gone for sure: the next reset creates a new env at once
                raise EpisodeInterrupted(
                    f"env server {self.url} lost env {lost_id} mid-episode ({where}): {message}. The episode "
                    "cannot be resumed; the next reset creates a new env.", status, code)
            if code == "out_of_order":
                self.live = False
                raise EpisodeInterrupted(f"env server {self.url}: {message}", status, code)
            raise RemoteEnvError(f"env server {self.url}: step ({where}) -> HTTP {status}: {message}", status, code)
        if ours:
            self.turn += 1
            return (data["observation"], float(data["reward"]), bool(data["terminated"]), bool(data["truncated"]),
                    dict(data.get("info") or {}))
        return self._agentgym_step(reply, data, where)

    def _agentgym_step(self, reply: str, data, where: str) -> tuple[str, float, bool, bool, dict]:
        obs_key = self.wire.observation_key if self.wire else "observation"
        if not isinstance(data, dict) or ("error" in data and obs_key not in data and "observation" not in data):
            self.live = False
            cls = EpisodeInterrupted if isinstance(data, dict) else RemoteEnvError
            raise cls(f"env server {self.url}: step ({where}) answered {str(data)[:500]!r}")
        self.turn += 1
        obs = data.get(obs_key, data.get("observation", data.get("state", "")))
        terminated = bool(data.get("done", data.get("terminated", False)))
        truncated = bool(data.get("truncated", False))
        info = dict(data["info"]) if isinstance(data.get("info"), dict) else {}
        if self.wire is not None:
            reward, score, success = self.normalize(data, terminated)
        else:
            reward = float(data.get("reward", 0.0) or 0.0)
            score = float(data.get("score", info.get("score", reward)) or 0.0)
            success = bool(terminated and (reward > 0 or score > 0))
        if self.local_class is not None:  # the local env's parser (SearchQA's tags, ReAct elsewhere)
            parsed = self.local_class.parse(self, reply)
        else:
            parsed = parse_react(reply, self.command_re, lenient=self.action_format == "lenient")
        info.setdefault("score", score)
        info.setdefault("success", success)
        info.setdefault("action", parsed.action)
        info.setdefault("format_ok", parsed.format_ok)
        return obs if isinstance(obs, str) else str(obs), reward, terminated, truncated, info

    def _release(self) -> None:
        """Ask the server to free this client's env (best effort, quick); forget its id."""
        env_id, self.env_id, self.live = self.env_id, None, False
        if env_id is not None and (self.wire is None or self.wire.has_close):  # AgentGym's WebShop has no /close
            try:
                self.client.request("POST", "/close", body={self.id_key: env_id}, retry="none",
                                    timeout=min(self.client.timeout, 5.0))
            except _Transport:
                pass  # the server is gone or busy; its idle timeout frees the env

    def close(self) -> None:
        """Free this client's env on the server and the connection pool. A later reset reconnects."""
        self._release()
        self.client.close()

    # -- tasks -----------------------------------------------------------------------------

    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, url: str | None = None, **options) -> list[int]:
        if url is None:
            raise TypeError("RemoteEnv.tasks needs url=: the task list comes from the server")
        return remote_tasks(url, split, tier,
                            **{k: v for k, v in options.items() if k in ("timeout", "retries", "backoff", "env")})

    def expert_action(self) -> str:
        raise NotImplementedError("a remote env has no scripted expert; play one in a local twin env")


def _local_class(name: str | None):
    """This project's env class of that name, or None."""
    from envs import _REGISTRY, env_class  # lazy: an env module's heavy imports only when used

    return env_class(name) if name in _REGISTRY else None


_GOAL_RE = re.compile(r"\nGoal: craft (.+)\.\s*$")
_GOAL_MAPS: dict[str, dict[int, int]] = {}


def textcraft_goal_map(remote: RemoteEnv) -> dict[int, int]:
    """{this project's TextCraft task id: the data_idx naming the same goal on AgentGym's TextCraft
    server at `remote.url`}, read off the server once per URL: AgentGym orders its 544 goals by
    crafting depth in the order its server lists its recipe directory, which differs between
    file systems, so no fixed table can say it."""
    if remote.url in _GOAL_MAPS:
        return _GOAL_MAPS[remote.url]
    from envs.textcraft import recipe_book, to_id

    ours = {goal: task_id for task_id, goal in enumerate(recipe_book().goals)}
    mapping: dict[int, int] = {}
    for index in range(len(ours)):
        obs, _ = remote._reset_once(index, server_task=index)
        match = _GOAL_RE.search(obs)
        goal = to_id(match.group(1)) if match else None
        if goal in ours:
            mapping.setdefault(ours[goal], index)
    missing = len(ours) - len(mapping)
    if missing:
        raise RemoteEnvError(f"AgentGym TextCraft server {remote.url}: {missing} of this project's {len(ours)} goals "
                             "name no data_idx there (another recipe set?); pass map_tasks=False to use its "
                             "ids as they are")
    _GOAL_MAPS[remote.url] = mapping
    return mapping


class _Lost(Exception):
    """The server does not know this client's env id (any more)."""


def remote_tasks(url: str, split: str = "train", tier: int | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, env: str | None = None) -> list[int]:
    """Task ids of `split` (and `tier`) from the server's /tasks route (this project's servers).
    AgentGym's servers list no tasks: with `env` naming one of this project's envs the local env's
    split is used instead (RemoteEnv maps TextCraft's ids to the server's goal order; the other envs'
    ids go to the server as they are), else it is an error."""
    client = _Client(url, timeout, retries, backoff, 8.0)
    try:
        params = {"split": split} if tier is None else {"split": split, "tier": tier}
        try:
            status, data = client.request("GET", "/tasks", params=params)
        except _Transport as t:
            raise RemoteEnvError(f"env server {client.url}: GET /tasks failed (retried up to {t.retries} "
                                 f"times): {t.cause}") from None
    finally:
        client.close()
    if status == 404 and not (isinstance(data, dict) and "tasks" in data):
        if _local_class(env) is not None:
            from envs import tasks as local_tasks

            return local_tasks(env, split, tier)
        raise RemoteEnvError(f"env server {client.url} has no /tasks route (AgentGym's servers list no tasks): "
                             "name the env (one of this project's) to use its local split, or give the "
                             "task ids yourself", status)
    if status >= 400:
        message, code = _detail(status, data)
        raise RemoteEnvError(f"env server {client.url}: GET /tasks -> HTTP {status}: {message}", status, code)
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise RemoteEnvError(f"env server {client.url}: GET /tasks answered {str(data)[:200]!r}, not a task list")
    return [int(t) for t in tasks]


__all__ = ["EpisodeInterrupted", "RemoteEnv", "RemoteEnvError", "ServerAtCapacity", "remote_tasks",
           "textcraft_goal_map"]
