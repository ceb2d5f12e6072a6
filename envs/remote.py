"""A `TextEnv` that plays its episodes on an env server: this project's (`python -m envs.server`)
or one of AgentGym's own.

    env = RemoteEnv("http://127.0.0.1:8000", env="textcraft", timeout=30, retries=3)
    obs, info = env.reset(task_id)                     # same observations, rewards and info as
    obs, reward, terminated, truncated, info = env.step(reply)   # envs.make("textcraft")
    env.close()
    task_ids = remote_tasks("http://127.0.0.1:8000", "test", tier=2)

On this project's server the remote env is the local one: `instructions`, `demonstration`,
`tools`, `tools_text` and `observation_role` come from the server (refreshed at every reset, since
tool-use envs change tools per task) and `step` returns the env's whole `info`. On an AgentGym
server (no `/health` route saying protocol "cleanagent") only AgentGym's fields exist: the
observation text, `reward`, `done` (and `score`, `info` where the server sends them); `info`
then gets `success` (done with a positive reward or score), `score`, and `action` / `format_ok`
from parsing the reply here with the ReAct parser; `instructions` and `demonstration` are
whatever the constructor was given (AgentGym's servers do not serve prompts).

Failures. Every request has a timeout. Requests that cannot change an episode (health, create,
reset, tasks, close) are retried with exponential backoff on connection errors and timeouts.
`step` is retried only on connection errors, and only where a retry cannot apply the action
twice: this project's server de-duplicates by the client's turn number; against an AgentGym
server only connection attempts that never reached the server are retried. An episode that
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
import time
from urllib.parse import urlsplit

import requests

from envs.base import TextEnv, parse_react
from envs.server import PROTOCOL, is_loopback

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
    """A request that got no HTTP answer after its retries; `cause` is the last requests error."""

    def __init__(self, cause: Exception, attempts: int):
        super().__init__(str(cause))
        self.cause, self.attempts = cause, attempts

    @property
    def timed_out(self) -> bool:
        return isinstance(self.cause, requests.exceptions.Timeout) and not isinstance(
            self.cause, requests.exceptions.ConnectTimeout)


def _never_sent(exc: BaseException) -> bool:
    """True when a requests error happened before the request reached the server (refused
    connection, connect timeout, unresolvable host), so retrying it cannot apply anything twice."""
    import urllib3.exceptions as u3

    stack, seen = [exc], set()
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (requests.exceptions.ConnectTimeout, u3.NewConnectionError, u3.ConnectTimeoutError,
                          u3.NameResolutionError, ConnectionRefusedError)):
            return True
        if isinstance(e, u3.MaxRetryError):
            stack.append(e.reason)
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        stack.extend((e.__cause__, e.__context__))
    return False


def _normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def _detail(status: int, data) -> tuple[str, str | None]:
    """(message, error code) of an error response, whatever server sent it."""
    if isinstance(data, dict):
        detail = data.get("detail", data.get("error", data))
        return (detail if isinstance(detail, str) else str(detail)), (data.get("error") if isinstance(data.get("error"), str) else None)
    return (str(data)[:2000] or f"HTTP {status}"), None


class _Client:
    """Requests with a timeout, retries with backoff, and parsed JSON answers."""

    def __init__(self, url: str, timeout: float, retries: int, backoff: float, max_backoff: float):
        self.url, self.timeout, self.retries = _normalize_url(url), float(timeout), max(0, int(retries))
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.session = requests.Session()
        if is_loopback(urlsplit(self.url).hostname or ""):
            self.session.trust_env = False  # never send loopback traffic through an HTTP(S)_PROXY

    def request(self, method: str, path: str, *, body=None, params=None, retry: str = "all",
                retry_status: tuple[int, ...] = (), timeout: float | None = None, retries: int | None = None):
        """-> (status, parsed body). `retry`: "all" (connection errors and timeouts), "connection"
        (connection errors), "unsent" (only errors before the request reached the server), "none".
        Raises `_Transport` when no attempt got an HTTP answer."""
        retries = self.retries if retries is None else retries
        timeout = self.timeout if timeout is None else timeout
        for attempt in range(retries + 1):
            try:
                r = self.session.request(method, self.url + path, json=body, params=params, timeout=timeout)
            except requests.exceptions.RequestException as e:
                retryable = (
                    retry == "all" and isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))
                    or retry == "connection" and isinstance(e, requests.exceptions.ConnectionError)
                    and not isinstance(e, requests.exceptions.ReadTimeout)
                    or retry == "unsent" and _never_sent(e)
                )
                if not retryable or attempt == retries:
                    raise _Transport(e, attempt + 1) from e
            else:
                try:
                    data = r.json()
                except ValueError:
                    data = r.text
                if r.status_code not in retry_status or attempt == retries:
                    return r.status_code, data
            time.sleep(min(self.max_backoff, self.backoff * 2**attempt))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.session.close()


class RemoteEnv(TextEnv):
    """A TextEnv whose env runs on the server at `url` (one env on that server per RemoteEnv).

    url          the server, e.g. "http://127.0.0.1:8000"
    env          the env name the server must serve (checked on this project's server; None: any)
    timeout      seconds per request
    retries      extra attempts for a request that failed to connect (with backoff `backoff`*2^k s)
    connect      contact the server now (fail fast on a wrong URL); False: at the first reset
    instructions, demonstration   prompts to use with an AgentGym server (which serves none);
                 they override the server's on this project's server too
    action_format only used to parse replies for `info` against an AgentGym server; this
                 project's server parses with its own `--env-options action_format=...`
    """

    def __init__(self, url: str, env: str | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 8.0, connect: bool = True,
                 instructions: str | None = None, demonstration=None, action_format: str = "strict"):
        super().__init__(action_format)
        self.client = _Client(url, timeout, retries, backoff, max_backoff)
        self.url = self.client.url
        self.expected_env = env
        self.name = env or "remote"
        self.protocol: str | None = None  # "cleanagent" or "agentgym", known after connecting
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
        from envs import _REGISTRY, env_class  # lazy: an env module's heavy imports only when used

        if self.name in _REGISTRY:
            return env_class(self.name).reply_complete(self, reply)
        return super().reply_complete(reply)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connection ------------------------------------------------------------------------

    def _unreachable(self, what: str, t: _Transport, cls=RemoteEnvError) -> RemoteEnvError:
        how = f"no answer within {self.client.timeout:g} s" if t.timed_out else f"{type(t.cause).__name__}: {t.cause}"
        return cls(f"env server {self.url}: {what} failed after {t.attempts} attempt(s): {how}")

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
        else:
            self.protocol = "agentgym"
        self._create()

    def _create(self) -> None:
        self.env_id, self.live = None, False
        try:
            status, data = self.client.request("POST", "/create", body={}, retry_status=(503,))
        except _Transport as t:
            raise self._unreachable("POST /create", t) from None
        if status == 503:
            message, code = _detail(status, data)
            raise ServerAtCapacity(f"env server {self.url}: {message}", status, code)
        if status >= 400:
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
        if isinstance(data, dict):
            self.boot = data.get("boot", self.boot)
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

    def _reset_once(self, task_id: int) -> tuple[str, dict]:
        body = {**self._ids(), "data_idx": task_id}
        if self.protocol != PROTOCOL and self.id_key == "env_idx":  # AgentGym's spellings of the task
            body.update(id=task_id, session_id=task_id, idx=task_id)
        try:
            status, data = self.client.request("POST", "/reset", body=body)
        except _Transport as t:
            raise self._unreachable(f"POST /reset (task {task_id})", t) from None
        if status >= 400 or (self.protocol != PROTOCOL and isinstance(data, dict) and "error" in data
                             and "observation" not in data):
            message, code = _detail(status, data)
            if self.protocol == PROTOCOL and (status != 404 or code != "unknown_env_id"):
                raise RemoteEnvError(f"env server {self.url}: reset(task {task_id}) -> HTTP {status}: {message}", status, code)
            raise _Lost(f"HTTP {status}: {message}")  # AgentGym: any failure may be a lost id; retried once
        if self.protocol == PROTOCOL:
            self._apply_spec(data)
            return data["observation"], dict(data.get("info") or {})
        return self._agentgym_reset(data)

    def _agentgym_reset(self, data) -> tuple[str, dict]:
        obs = None
        if isinstance(data, str):
            obs = data
        elif isinstance(data, (list, tuple)) and data:
            obs = data[0]
        elif isinstance(data, dict):
            obs = data.get("observation", data.get("state"))
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
            raise RemoteEnvError(f"env server {self.url}: GET /observation -> HTTP {status}: {_detail(status, data)[0]}", status)
        if isinstance(data, dict):
            data = data.get("observation", data.get("state", data))
        return data if isinstance(data, str) else str(data)

    def step(self, reply: str) -> tuple[str, float, bool, bool, dict]:
        if not self.live:
            raise RemoteEnvError(f"env server {self.url}: step() with no episode in progress: call reset(task_id) first")
        reply = reply if isinstance(reply, str) else ("" if reply is None else str(reply))
        where = f"task {self.task_id}, step {self.turn + 1}"
        ours = self.protocol == PROTOCOL
        body = {**self._ids(), "action": reply}
        if ours:
            body["turn"] = self.turn
        try:
            status, data = self.client.request("POST", "/step", body=body, retry="connection" if ours else "unsent")
        except _Transport as t:
            self.live = False
            raise self._unreachable(f"POST /step ({where}); the episode is lost", t, EpisodeInterrupted) from None
        if status >= 400:
            message, code = _detail(status, data)
            if status == 404 and (code == "unknown_env_id" or not ours):
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
        if not isinstance(data, dict) or ("error" in data and "observation" not in data and "state" not in data):
            self.live = False
            raise RemoteEnvError(f"env server {self.url}: step ({where}) answered {str(data)[:500]!r}")
        self.turn += 1
        obs = data.get("observation", data.get("state", ""))
        reward = float(data.get("reward", 0.0) or 0.0)
        terminated = bool(data.get("done", data.get("terminated", False)))
        truncated = bool(data.get("truncated", False))
        info = dict(data["info"]) if isinstance(data.get("info"), dict) else {}
        score = float(data.get("score", info.get("score", reward)) or 0.0)
        parsed = parse_react(reply, self.command_re, lenient=self.action_format == "lenient")
        info.setdefault("score", score)
        info.setdefault("success", bool(terminated and (reward > 0 or score > 0)))
        info.setdefault("action", parsed.action)
        info.setdefault("format_ok", parsed.format_ok)
        return obs if isinstance(obs, str) else str(obs), reward, terminated, truncated, info

    def _release(self) -> None:
        """Ask the server to free this client's env (best effort, quick); forget its id."""
        env_id, self.env_id, self.live = self.env_id, None, False
        if env_id is not None:
            try:
                self.client.request("POST", "/close", body={self.id_key: env_id}, retry="none",
                                    timeout=min(self.client.timeout, 5.0), retries=0)
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
        return remote_tasks(url, split, tier, **{k: v for k, v in options.items() if k in ("timeout", "retries", "backoff")})

    def expert_action(self) -> str:
        raise NotImplementedError("a remote env has no scripted expert; play one in a local twin env")


class _Lost(Exception):
    """The server does not know this client's env id (any more)."""


def remote_tasks(url: str, split: str = "train", tier: int | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5) -> list[int]:
    """Task ids of `split` (and `tier`) from the server's /tasks route (this project's servers)."""
    client = _Client(url, timeout, retries, backoff, 8.0)
    try:
        params = {"split": split} if tier is None else {"split": split, "tier": tier}
        try:
            status, data = client.request("GET", "/tasks", params=params)
        except _Transport as t:
            raise RemoteEnvError(f"env server {client.url}: GET /tasks failed after {t.attempts} attempt(s): {t.cause}") from None
    finally:
        client.close()
    if status == 404 and not (isinstance(data, dict) and "tasks" in data):
        raise RemoteEnvError(f"env server {client.url} has no /tasks route (AgentGym's servers list no tasks): "
                             "give the task ids yourself", status)
    if status >= 400:
        message, code = _detail(status, data)
        raise RemoteEnvError(f"env server {client.url}: GET /tasks -> HTTP {status}: {message}", status, code)
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise RemoteEnvError(f"env server {client.url}: GET /tasks answered {str(data)[:200]!r}, not a task list")
    return [int(t) for t in tasks]


__all__ = ["EpisodeInterrupted", "RemoteEnv", "RemoteEnvError", "ServerAtCapacity", "remote_tasks"]
