"""Serve any cleanagent env over HTTP, in AgentGym's env-server protocol plus what a client needs
to rebuild the `TextEnv` faithfully.

    python -m envs.server --env textcraft --port 8000 [--host 127.0.0.1] [--max-envs 64]
                          [--env-options action_format=lenient,...] [--idle-timeout 3600]

Two kinds of clients. This project's `envs.remote.RemoteEnv` names its protocol in the header
`X-Cleanagent-Protocol` and gets the answers below. Any other request to a server of one of
AgentGym's envs (textcraft, babyai, sciworld, webshop, searchqa) is taken to come from AgentGym's
client class of that env and is answered in exactly the shape that client reads (a bare int
from /create for webshop and searchqa, `[observation, null]` from WebShop's /reset, `state` in
WebShop's /step, `score` as ScienceWorld's integer points, ...: see `envs.agentgym`). Such
clients send the command alone (`get 1 oak log`, cut out of the model's reply): a one-line action
that fully matches the env's command syntax is taken as that command, in strict mode too.

Routes (JSON in and out; an env id is an integer the server picks at random, so ids never repeat
across server restarts and a stale client can never drive another client's env):

    GET  /                        a one-line greeting (AgentGym's servers have one)
    GET  /health                  {status, protocol, version, env, live_envs, max_envs, idle_timeout, boot, uptime_s}
    GET  /tasks?split=&tier=      {env, split, tier, tasks: [task ids]}
    GET  /spec[?id=]              the env's prompt attributes: {env, instructions, demonstration, tools,
                                  tools_text, observation_role} (of env `id`, or of a fresh env)
    GET  /list_envs               [live env ids]
    POST /create   {action_format?}  {id, env_idx, observation: "", reward: 0, done: false, boot, action_format, **spec}
    POST /reset    {id, data_idx} {observation, reward: 0, done: false, score, info, **spec}
    POST /step     {id, action, turn?}
                                  {observation, reward, done, terminated, truncated, score, info, turn}
    GET  /observation?id=         the last observation (a JSON string)
    POST /close    {id}           {closed: true}

`env_idx` is accepted wherever `id` is, and `task_id` or `session_id` wherever `data_idx` is
(AgentGym's servers use all of these spellings). `action_format` in /create makes that env parse
replies strictly or leniently whatever `--env-options` say (the trainer forwards its own). `turn` in /step is the number
of steps the client has taken since its reset:
a retried step whose first try was applied is answered from a cache instead of being applied
twice, and an out-of-order step is refused (409).

Errors are JSON `{error, detail}` with a status: 404 `unknown_env_id` (never created, closed,
idle-expired, or the server restarted), 503 `capacity` (`--max-envs` live envs already), 409
`not_reset` / `out_of_order` / `busy` (an earlier call on the env has run for over 30 s), 400 `env_error` for an env's
ValueError/TypeError/KeyError/IndexError
(e.g. a bad task id), 500 `env_error` for any other exception an env raises. An env's exception
never takes the server down. A bad *reply* is not an error: the env answers it with an
observation, as it does locally.

Calls on one env id are serialized by a per-env lock; different ids run concurrently in
FastAPI's thread pool (sized to `--max-envs`). Closed envs are freed at once, envs unused for
`--idle-timeout` seconds are freed by a reaper thread (AgentGym's WebShop server never frees its
envs and runs out of memory in long training runs).

There is no authentication: anyone who can reach the port can create envs and run actions (the
tool-use env executes code). The server binds loopback by default and warns loudly otherwise;
to reach it from another machine, tunnel (`ssh -L 8000:127.0.0.1:8000 host`).
"""

# no `from __future__ import annotations`: FastAPI must resolve the request models defined inside
# create_app from their annotations at run time
import argparse
import contextlib
import json
import math
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

import envs
from envs.base import TextEnv
from envs.protocol import (
    HEADER,
    PROTOCOL,
    PROTOCOL_VERSION,
    WIRES,
    bare_command,
    create_answer,
    is_loopback,
    reset_answer,
    step_answer,
)

CLIENT_ERRORS = (ValueError, TypeError, KeyError, IndexError)
"""Env exceptions that mean the request was bad (answered 400); anything else is a 500."""


# --------------------------------------------------------------------------- helpers


class ApiError(Exception):
    """An error answered as JSON `{error: code, detail: message}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def jsonable(x):
    """`x` as plain JSON types: tuples/sets -> lists, numpy scalars -> Python, NaN/inf -> None,
    anything else unknown -> its str (an env's info must never make a response fail)."""
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in (sorted(x, key=repr) if isinstance(x, (set, frozenset)) else x)]
    if hasattr(x, "item") and callable(x.item):  # numpy / torch scalars
        try:
            return jsonable(x.item())
        except Exception:
            pass
    if hasattr(x, "tolist") and callable(x.tolist):
        try:
            return jsonable(x.tolist())
        except Exception:
            pass
    return str(x)


def dumps(content) -> bytes:
    # ensure_ascii keeps lone surrogates (possible in echoed model text) as \\ud800 escapes, which
    # round-trip, instead of failing to encode as UTF-8
    return json.dumps(jsonable(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def env_spec(env: TextEnv) -> dict:
    """The attributes a client needs to prompt the model exactly as with the local env."""
    return {
        "env": getattr(env, "name", ""),
        "instructions": env.instructions,
        "demonstration": [list(turn) for turn in env.demonstration],
        "tools": env.tools,
        "tools_text": env.tools_text,
        "observation_role": env.observation_role,
    }


def exposure_warning(host: str) -> str | None:
    """The loud warning printed when binding `host` exposes the server beyond this machine."""
    if is_loopback(host):
        return None
    bar = "!" * 78
    return (
        f"{bar}\nWARNING: binding {host!r}, not loopback: this env server has NO authentication. Anyone who can\n"
        "reach this port can create environments and run actions in them (the tool-use env runs code).\n"
        "Prefer --host 127.0.0.1 and an SSH tunnel (ssh -L PORT:127.0.0.1:PORT host).\n" + bar
    )


# --------------------------------------------------------------------------- env pool


@dataclass(eq=False)
class Slot:
    """One live env and its bookkeeping; `lock` serializes every call on it."""

    env: TextEnv
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    task_id: int | None = None
    turn: int = 0  # steps since the last reset
    total_reward: float = 0.0  # rewards of the episode so far
    score: float = 0.0  # the env's score after the latest reset or step
    observation: str = ""
    last_step: tuple[int, str, dict] | None = None  # (turn, action, response) of the latest step
    closed: bool = False


class EnvPool:
    """The server's live envs: create (up to `max_envs`), look up, close, reap idle ones."""

    def __init__(self, name: str, options: dict | None = None, max_envs: int = 64, idle_timeout: float = 3600.0,
                 busy_timeout: float = 30.0):
        if max_envs < 1:
            raise ValueError(f"--max-envs must be at least 1, got {max_envs}")
        self.name, self.options = name, dict(options or {})
        self.max_envs, self.idle_timeout, self.busy_timeout = max_envs, idle_timeout, busy_timeout
        self.boot = secrets.token_hex(8)
        self.started = time.monotonic()
        self._slots: dict[int, Slot] = {}
        self._pending = 0  # creates in progress (they hold a place under the cap)
        self._lock = threading.Lock()
        self._task_cache: dict[tuple[str, int | None], list[int]] = {}
        # build one env now: a bad name or option fails at start-up, not at the first create, and
        # the env's caches (recipe books, indexes) are warm before the first client arrives
        probe = envs.make(name, **self.options)
        try:
            self.spec = env_spec(probe)
        finally:
            probe.close()

    # -- registry --------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._slots)

    def create(self, action_format: str | None = None) -> tuple[int, Slot]:
        with self._lock:
            if len(self._slots) + self._pending >= self.max_envs:
                raise ApiError(
                    503, "capacity",
                    f"server at capacity: {self.max_envs} live environments (--max-envs {self.max_envs}); "
                    "close finished envs (POST /close) or restart the server with a larger --max-envs",
                )
            self._pending += 1
        try:
            options = dict(self.options)
            if action_format is not None:  # the client's own parsing mode (this project's RemoteEnv sends it)
                if action_format not in ("strict", "lenient"):
                    raise ApiError(422, "bad_action_format",
                                   f"action_format must be 'strict' or 'lenient', got {action_format!r}")
                options["action_format"] = action_format
            try:
                env = envs.make(self.name, **options)
            except Exception as e:
                raise ApiError(500, "env_error", f"creating env {self.name!r} failed: {type(e).__name__}: {e}") from e
            slot = Slot(env)
            with self._lock:
                env_id = secrets.randbelow(2**53)
                while env_id in self._slots:
                    env_id = secrets.randbelow(2**53)
                self._slots[env_id] = slot
            return env_id, slot
        finally:
            with self._lock:
                self._pending -= 1

    def get(self, env_id: int | None) -> Slot:
        if env_id is None:
            raise ApiError(422, "missing_id", "the request names no env id (field 'id' or 'env_idx')")
        with self._lock:
            slot = self._slots.get(env_id)
        if slot is None:
            raise ApiError(404, "unknown_env_id", self._unknown(env_id))
        return slot

    def _unknown(self, env_id) -> str:
        return (f"unknown env id {env_id}: it was never created here, was closed, was idle longer than "
                f"--idle-timeout ({self.idle_timeout:g} s), or the server restarted; POST /create a new one")

    @contextlib.contextmanager
    def use(self, env_id: int | None):
        """Hold env `env_id`'s lock for one call; 404 if it is unknown or got closed meanwhile."""
        slot = self.get(env_id)
        if not slot.lock.acquire(timeout=self.busy_timeout):  # never pile up threads behind a stuck env
            raise ApiError(409, "busy", f"env {env_id} is still busy with an earlier call (for over "
                                        f"{self.busy_timeout:g} s); try again later or close it")
        try:
            if slot.closed:
                raise ApiError(404, "unknown_env_id", self._unknown(env_id))
            yield slot
        finally:
            slot.last_used = time.monotonic()
            slot.lock.release()

    def close(self, env_id: int | None) -> None:
        slot = self.get(env_id)
        if not slot.lock.acquire(timeout=self.busy_timeout):  # waits for a call in progress on this env
            raise ApiError(409, "busy", f"env {env_id} is still busy with an earlier call (for over "
                                        f"{self.busy_timeout:g} s); it is closed once idle past --idle-timeout")
        try:
            if slot.closed:
                raise ApiError(404, "unknown_env_id", self._unknown(env_id))
            slot.closed = True
            with self._lock:
                self._slots.pop(env_id, None)
            _close_quietly(slot.env, env_id)
        finally:
            slot.lock.release()

    def reap_idle(self) -> list[int]:
        """Close envs unused for `idle_timeout` seconds (skipping any busy right now)."""
        if not self.idle_timeout or self.idle_timeout <= 0:
            return []
        now = time.monotonic()
        reaped: list[tuple[int, Slot]] = []
        with self._lock:
            for env_id, slot in list(self._slots.items()):
                if now - slot.last_used > self.idle_timeout and slot.lock.acquire(blocking=False):
                    if now - slot.last_used > self.idle_timeout and not slot.closed:
                        slot.closed = True
                        del self._slots[env_id]
                        reaped.append((env_id, slot))
                    else:
                        slot.lock.release()
        for env_id, slot in reaped:
            try:
                _close_quietly(slot.env, env_id)
            finally:
                slot.lock.release()
        if reaped:
            print(f"[envs.server] freed {len(reaped)} env(s) idle > {self.idle_timeout:g} s",
                  file=sys.stderr, flush=True)
        return [env_id for env_id, _ in reaped]

    def close_all(self) -> None:
        with self._lock:
            slots = list(self._slots.items())
            self._slots.clear()
        for env_id, slot in slots:
            slot.closed = True
            _close_quietly(slot.env, env_id)

    def tasks(self, split: str, tier: int | None) -> list[int]:
        key = (split, tier)
        if key not in self._task_cache:
            self._task_cache[key] = [int(t) for t in call_env(envs.tasks, self.name, split, tier, **self.options)]
        return self._task_cache[key]


def _close_quietly(env: TextEnv, env_id) -> None:
    try:
        env.close()
    except Exception as e:  # the env is dropped either way
        print(f"[envs.server] closing env {env_id} raised {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def call_env(fn, *args, **kwargs):
    """Run an env call; its exception becomes an ApiError carrying the message."""
    try:
        return fn(*args, **kwargs)
    except ApiError:
        raise
    except (Exception, SystemExit) as e:
        status = 400 if isinstance(e, CLIENT_ERRORS) else 500
        if status == 500:
            traceback.print_exc(file=sys.stderr)
        raise ApiError(status, "env_error", f"{type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------- app


def create_app(pool: EnvPool):
    """The FastAPI app serving `pool` (a reaper thread frees idle envs while it runs)."""
    from fastapi import Body, FastAPI, Request
    from fastapi.responses import Response
    from pydantic import BaseModel

    class JSON(Response):
        media_type = "application/json"

        def render(self, content) -> bytes:
            return dumps(content)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:  # one worker thread per possible live env, so slow envs do not queue behind each other
            import anyio.to_thread

            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = max(limiter.total_tokens, pool.max_envs + 8)
        except Exception:
            pass
        stop = threading.Event()
        reaper = None
        if pool.idle_timeout and pool.idle_timeout > 0:
            interval = max(0.05, min(pool.idle_timeout / 4, 5.0))

            def reap():
                while not stop.wait(interval):
                    try:
                        pool.reap_idle()
                    except Exception:
                        traceback.print_exc(file=sys.stderr)

            reaper = threading.Thread(target=reap, name="envs.server-reaper", daemon=True)
            reaper.start()
        try:
            yield
        finally:
            stop.set()
            if reaper is not None:
                reaper.join(timeout=5)
            pool.close_all()

    app = FastAPI(title=f"cleanagent env server: {pool.name}", lifespan=lifespan, default_response_class=JSON)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSON({"error": exc.code, "detail": exc.message}, status_code=exc.status)

    class IdBody(BaseModel):
        id: int | None = None
        env_idx: int | None = None

        def env_id(self) -> int | None:
            return self.id if self.id is not None else self.env_idx

    class ResetBody(IdBody):
        data_idx: int | None = None
        task_id: int | None = None
        session_id: int | None = None  # WebShop's spelling

    class StepBody(IdBody):
        action: str
        turn: int | None = None

    def query_id(id: int | None, env_idx: int | None) -> int | None:
        return id if id is not None else env_idx

    wire = WIRES.get(pool.name)

    def agentgym_caller(request: Request) -> bool:
        """A request from AgentGym's client of this env (not from this project's RemoteEnv, which
        names its protocol in a header): answered in that client's shape."""
        return wire is not None and request.headers.get(HEADER) is None

    @app.get("/")
    def hello():
        return JSON(f"This is the cleanagent env server for {pool.name}.")

    @app.get("/health")
    def health():
        return JSON({
            "status": "ok", "protocol": PROTOCOL, "version": PROTOCOL_VERSION, "env": pool.name,
            "live_envs": len(pool), "max_envs": pool.max_envs, "idle_timeout": pool.idle_timeout,
            "boot": pool.boot, "uptime_s": round(time.monotonic() - pool.started, 3),
        })

    @app.get("/tasks")
    def tasks(split: str = "train", tier: int | None = None):
        return JSON({"env": pool.name, "split": split, "tier": tier, "tasks": pool.tasks(split, tier)})

    @app.get("/spec")
    def spec(id: int | None = None, env_idx: int | None = None):
        env_id = query_id(id, env_idx)
        if env_id is None:
            return JSON(pool.spec)
        with pool.use(env_id) as slot:
            return JSON(env_spec(slot.env))

    @app.get("/list_envs")
    def list_envs():
        return JSON(pool.ids())

    @app.post("/create")
    def create(request: Request, body: dict | None = Body(None)):
        action_format = body.get("action_format") if isinstance(body, dict) else None
        env_id, _ = pool.create(action_format)
        if agentgym_caller(request):
            return JSON(create_answer(wire, env_id))
        with pool.use(env_id) as slot:
            return JSON({"id": env_id, "env_idx": env_id, "observation": "", "reward": 0.0, "done": False,
                         "boot": pool.boot, "action_format": slot.env.action_format, **env_spec(slot.env)})

    @app.post("/reset")
    def reset(request: Request, body: ResetBody):
        env_id = body.env_id()
        task = next((t for t in (body.data_idx, body.task_id, body.session_id) if t is not None), None)
        if task is None and body.env_idx is not None and body.id is not None:
            env_id, task = body.env_idx, body.id  # SearchQA's spelling: {env_idx, id: task}
        if task is None:
            raise ApiError(422, "missing_task", "the request names no task (field 'data_idx' or 'task_id')")
        with pool.use(env_id) as slot:
            slot.task_id, slot.turn, slot.last_step = None, 0, None
            obs, info = call_env(slot.env.reset, task)
            slot.task_id, slot.observation = task, obs
            info = jsonable(info) if isinstance(info, dict) else {}
            slot.total_reward, slot.score = 0.0, float(info.get("score", 0.0) or 0.0)
            if agentgym_caller(request):
                return JSON(reset_answer(pool.name, wire, env_id, obs, info, slot.env))
            return JSON({"observation": obs, "reward": 0.0, "done": False, "score": info.get("score", 0.0),
                         "info": info, "task_id": task, **env_spec(slot.env)})

    @app.post("/step")
    def step(request: Request, body: StepBody):
        agentgym = agentgym_caller(request)
        with pool.use(body.env_id()) as slot:
            if slot.task_id is None:
                raise ApiError(409, "not_reset", f"env {body.env_id()} has no task: POST /reset before /step")
            if body.turn is not None and body.turn != slot.turn:
                last = slot.last_step
                if last is not None and body.turn == last[0] and body.action == last[1]:
                    return JSON({**last[2], "replayed": True})  # a retry of an applied step
                raise ApiError(409, "out_of_order", f"step for turn {body.turn} but env {body.env_id()} is at turn "
                                                    f"{slot.turn} of task {slot.task_id}")
            action = body.action
            command = bare_command(action, slot.env.command_re) if agentgym else None
            if command is not None:  # AgentGym's clients send the command alone, cut out of the reply
                action = f"Action: {command}"
            obs, reward, terminated, truncated, info = call_env(slot.env.step, action)
            info = jsonable(info) if isinstance(info, dict) else {}
            previous_score, slot.score = slot.score, float(info.get("score", reward) or 0.0)
            slot.total_reward += float(reward)
            if agentgym:
                slot.turn += 1
                slot.observation = obs
                return JSON(step_answer(pool.name, wire, obs, float(reward), bool(terminated or truncated), info,
                                        slot.total_reward, previous_score))
            response = {"observation": obs, "reward": float(reward), "done": bool(terminated or truncated),
                        "terminated": bool(terminated), "truncated": bool(truncated),
                        "score": info.get("score", float(reward)), "info": info, "turn": slot.turn + 1}
            slot.last_step = (slot.turn, body.action, response)
            slot.turn += 1
            slot.observation = obs
            return JSON(response)

    @app.get("/observation")
    def observation(id: int | None = None, env_idx: int | None = None):
        with pool.use(query_id(id, env_idx)) as slot:
            return JSON(slot.observation)

    @app.post("/close")
    def close(request: Request, body: IdBody):
        pool.close(body.env_id())
        return JSON(True if agentgym_caller(request) else {"closed": True})

    return app


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m envs.server",
                                     description="Serve a cleanagent env over HTTP (AgentGym's protocol).")
    parser.add_argument("--env", required=True, choices=envs.names(), help="the env to serve")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; anything else is unauthenticated exposure)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-envs", type=int, default=64, help="most live envs at once; a create beyond it gets 503")
    parser.add_argument("--env-options", default="",
                        help="constructor options for every env, k=v,k2=v2 (e.g. action_format=lenient)")
    parser.add_argument("--idle-timeout", type=float, default=3600.0,
                        help="free envs unused this many seconds (0: never)")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)

    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        options = envs.parse_options(args.env_options)
        pool = EnvPool(args.env, options, args.max_envs, args.idle_timeout)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"error: --env {args.env} --env-options {args.env_options!r}: {e}") from None
    import uvicorn

    print(f"[envs.server] serving {args.env} on http://{args.host}:{args.port} (max {args.max_envs} envs, "
          f"idle timeout {args.idle_timeout:g} s)", file=sys.stderr, flush=True)
    uvicorn.run(create_app(pool), host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                timeout_keep_alive=30)


if __name__ == "__main__":
    main()
