"""The env server (envs/server.py) and its client RemoteEnv (envs/remote.py), over real HTTP.

Servers run as subprocesses on free loopback ports (the kill/restart test SIGKILLs one), except the
fake AgentGym-style servers, which run in a thread of this process. Timeouts are kept short.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import requests  # noqa: E402

import envs  # noqa: E402
from envs import server as env_server  # noqa: E402
from envs.remote import EpisodeInterrupted, RemoteEnv, RemoteEnvError, ServerAtCapacity, remote_tasks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(timeout=30.0, retries=2, backoff=0.05)  # RemoteEnv settings for tests (a loaded machine is slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m envs.server` in a subprocess; `start` returns once /health answers."""

    def __init__(self, env: str, *args: str, port: int | None = None, log_dir: Path):
        self.env, self.args, self.port = env, list(args), port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{env}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: float = 30.0) -> "ServerProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envs.server", "--env", self.env, "--port", str(self.port), *self.args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /health within {wait} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> dict:
        return requests.get(self.url + "/health", timeout=30).json()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("env_server_logs")


@pytest.fixture(scope="module")
def textcraft_server(log_dir):
    server = ServerProcess("textcraft", "--max-envs", "16", log_dir=log_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def vowels_server(log_dir):
    """A small cap (2 live envs) and no idle timeout."""
    server = ServerProcess("vowels", "--max-envs", "2", "--idle-timeout", "0", log_dir=log_dir).start()
    yield server
    server.stop()


def post(url: str, path: str, body: dict) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30)


def play_expert(remote: RemoteEnv, local, task_id: int, extra_replies=()) -> int:
    """Reset both envs to `task_id`, send the same replies (the local twin's expert's, after
    `extra_replies`) to both; assert identical results; return the number of steps."""
    assert remote.reset(task_id) == local.reset(task_id)
    steps = 0
    for reply in extra_replies:
        assert remote.step(reply) == local.step(reply)
        steps += 1
    while True:
        reply = local.expert_reply()
        got, want = remote.step(reply), local.step(reply)
        assert got == want
        steps += 1
        if want[2] or want[3]:
            assert want[4]["success"] and want[1] == 1.0
            return steps
        assert steps < 50


# --------------------------------------------------------------------------- routes


def test_health_tasks_and_spec(textcraft_server):
    health = textcraft_server.health()
    assert health["status"] == "ok" and health["protocol"] == "cleanagent"
    assert health["env"] == "textcraft" and health["max_envs"] == 16 and isinstance(health["live_envs"], int)
    assert remote_tasks(textcraft_server.url, "test") == envs.tasks("textcraft", "test")
    assert remote_tasks(textcraft_server.url, "train", tier=2) == envs.tasks("textcraft", "train", 2)
    r = requests.get(textcraft_server.url + "/tasks", params={"split": "nope"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "env_error" and "split" in r.json()["detail"]
    with pytest.raises(RemoteEnvError, match="split"):
        remote_tasks(textcraft_server.url, "nope", **FAST)
    local = envs.make("textcraft")
    spec = requests.get(textcraft_server.url + "/spec", timeout=30).json()
    assert spec["instructions"] == local.instructions and spec["env"] == "textcraft"
    assert requests.get(textcraft_server.url + "/", timeout=30).status_code == 200


def test_expert_episodes_match_local_env(textcraft_server):
    """Same observations, rewards, flags and full info as the local env, bad replies included."""
    local = envs.make("textcraft")
    with RemoteEnv(textcraft_server.url, env="textcraft", **FAST) as remote:
        for attr in ("instructions", "demonstration", "tools", "tools_text", "observation_role"):
            assert getattr(remote, attr) == getattr(local, attr), attr
        assert isinstance(remote.demonstration, tuple) and all(isinstance(t, tuple) for t in remote.demonstration)
        bad = ["no action here", "Action: get 1 a\nAction: inventory", "Action: dance wildly", "", "x" * 30_000,
               "Action: get 1 \ud800 lone surrogate"]
        for tier in (1, 3):
            task_id = envs.tasks("textcraft", "test", tier)[0]
            assert play_expert(remote, local, task_id, extra_replies=bad if tier == 1 else ()) >= 1
        # the observation route is AgentGym's
        obs = requests.get(textcraft_server.url + "/observation", params={"id": remote.env_id}, timeout=30).json()
        assert "task complete" in obs
        # stepping after the end behaves as the local env does
        assert remote.step("Action: inventory") == local.step("Action: inventory")


def test_env_exception_is_an_http_error_not_a_crash(textcraft_server):
    with RemoteEnv(textcraft_server.url, **FAST) as remote:
        with pytest.raises(RemoteEnvError, match="task id must be") as e:
            remote.reset(10**9)
        assert e.value.status == 400 and not isinstance(e.value, EpisodeInterrupted)
        with pytest.raises(RemoteEnvError, match="reset"):
            remote.step("Action: inventory")  # no episode in progress
        assert textcraft_server.health()["status"] == "ok"
        assert remote.reset(0)[0].startswith("Crafting commands")  # the same env still works


def test_concurrent_episodes_on_one_server(textcraft_server):
    task_ids = envs.tasks("textcraft", "test", 2)[:4]
    errors = []

    def play(task_id):
        try:
            with RemoteEnv(textcraft_server.url, **FAST) as remote:
                play_expert(remote, envs.make("textcraft"), task_id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=play, args=(t,)) for t in task_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors


def test_step_retry_is_deduplicated_and_order_checked(vowels_server):
    url = vowels_server.url
    env_id = post(url, "/create", {}).json()["id"]
    try:
        r = post(url, "/step", {"id": env_id, "action": "a"})
        assert r.status_code == 409 and r.json()["error"] == "not_reset"
        assert post(url, "/reset", {"id": env_id, "data_idx": 3}).json()["observation"].startswith("Task 3")
        first = post(url, "/step", {"id": env_id, "action": "apple", "turn": 0}).json()
        again = post(url, "/step", {"id": env_id, "action": "apple", "turn": 0}).json()
        assert again.pop("replayed") is True and again == first and first["turn"] == 1
        r = post(url, "/step", {"id": env_id, "action": "apple", "turn": 5})
        assert r.status_code == 409 and r.json()["error"] == "out_of_order"
        last = post(url, "/step", {"id": env_id, "action": "egg", "turn": 1}).json()
        assert last["done"] and last["reward"] == 1.0 and last["info"]["success"]
        # AgentGym's spelling of the env id
        assert post(url, "/reset", {"env_idx": env_id, "data_idx": 4}).status_code == 200
    finally:
        post(url, "/close", {"id": env_id})


def test_cap_close_and_unknown_id(vowels_server):
    url = vowels_server.url
    ids = [post(url, "/create", {}).json()["id"] for _ in range(2)]
    try:
        assert vowels_server.health()["live_envs"] == 2
        r = post(url, "/create", {})
        assert r.status_code == 503 and r.json()["error"] == "capacity" and "--max-envs 2" in r.json()["detail"]
        t0 = time.monotonic()
        with pytest.raises(ServerAtCapacity, match="max-envs 2"):
            RemoteEnv(url, retries=1, backoff=0.05, timeout=30)
        assert time.monotonic() - t0 < 30  # no hang (the bound is loose: a loaded machine is slow)
        # close frees a place
        assert post(url, "/close", {"id": ids[0]}).json() == {"closed": True}
        assert vowels_server.health()["live_envs"] == 1
        with RemoteEnv(url, env="vowels", **FAST) as remote:
            assert vowels_server.health()["live_envs"] == 2
            remote.reset(1)
            assert remote.step("apple")[:3] == ("Turn 2 of 2: reply.", 0.0, False)
        assert vowels_server.health()["live_envs"] == 1  # RemoteEnv.close freed it
        # unknown / closed ids: a clear 404
        for bad in (ids[0], 12345):
            r = post(url, "/step", {"id": bad, "action": "apple"})
            assert r.status_code == 404 and r.json()["error"] == "unknown_env_id"
            assert f"unknown env id {bad}" in r.json()["detail"]
        assert post(url, "/close", {"id": ids[0]}).status_code == 404
        assert requests.get(url + "/observation", params={"id": 12345}, timeout=30).status_code == 404
    finally:
        for env_id in ids:
            post(url, "/close", {"id": env_id})
    assert vowels_server.health()["live_envs"] == 0


def test_wrong_env_name_is_refused(vowels_server):
    with pytest.raises(RemoteEnvError, match="serves 'vowels', not 'textcraft'"):
        RemoteEnv(vowels_server.url, env="textcraft", **FAST)


def test_idle_timeout_frees_envs_and_reset_reconnects(log_dir):
    # 2 s: long enough that the requests of one step of the test never outlast it on a loaded machine
    server = ServerProcess("vowels", "--idle-timeout", "2", log_dir=log_dir).start()
    try:
        remote = RemoteEnv(server.url, **FAST)
        remote.reset(0)
        assert server.health()["live_envs"] == 1
        deadline = time.monotonic() + 30
        while server.health()["live_envs"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.health()["live_envs"] == 0
        with pytest.raises(EpisodeInterrupted, match="idle"):
            remote.step("apple")
        old_id = remote.env_id
        assert remote.reset(5)[0].startswith("Task 5")  # a new env, same task
        assert remote.env_id != old_id and remote.step("apple")[1] == 0.0
        remote.close()
        assert server.health()["live_envs"] == 0
        assert "freed 1 env(s) idle" in server.log()
    finally:
        server.stop()


def test_kill_mid_episode_then_restart(log_dir, caplog):
    server = ServerProcess("textcraft", log_dir=log_dir).start()
    try:
        local = envs.make("textcraft")
        task_id = envs.tasks("textcraft", "test", 2)[1]
        remote = RemoteEnv(server.url, env="textcraft", **FAST)
        assert remote.reset(task_id) == local.reset(task_id)
        reply = local.expert_reply()
        assert remote.step(reply) == local.step(reply)
        old_id = remote.env_id

        # a server that accepts connections but does not answer (stopped): a timeout, not a hang
        frozen = RemoteEnv(server.url, timeout=30.0, retries=2, backoff=0.05)
        frozen.reset(task_id)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            caplog.clear()
            frozen.client.timeout = 1.0  # short only while the server is stopped, where it must run out
            with pytest.raises(EpisodeInterrupted, match="no answer within 1 s"):
                frozen.step("Action: inventory")
            assert not [r for r in caplog.records if "Retrying" in r.getMessage()]  # a timed-out step is not retried
        finally:
            frozen.client.timeout = 30.0
            os.kill(server.proc.pid, signal.SIGCONT)
        assert frozen.reset(task_id)[0] == local.reset(task_id)[0]  # same env, works again
        frozen.close()
        local.reset(task_id)
        local.step(reply)

        server.kill()
        t0 = time.monotonic()
        with pytest.raises(EpisodeInterrupted, match=f"{server.url}.*episode is lost"):
            remote.step(local.expert_reply())
        assert time.monotonic() - t0 < 30  # no hang (the bound is loose: a loaded machine is slow)
        t0 = time.monotonic()
        with pytest.raises(RemoteEnvError, match="POST /reset"):
            remote.reset(task_id)  # the server is still down: a clear error, no hang
        assert time.monotonic() - t0 < 30

        server.start()  # same port
        assert play_expert(remote, local, task_id) >= 1  # reset reconnects: new env on the new server
        assert remote.env_id != old_id
        assert server.health()["live_envs"] == 1
        remote.close()
        assert server.health()["live_envs"] == 0
    finally:
        server.stop()


def test_non_loopback_warning(monkeypatch, capsys):
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert env_server.exposure_warning(host) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.5"):
        assert "NO authentication" in env_server.exposure_warning(host), host
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    env_server.main(["--env", "vowels", "--host", "0.0.0.0", "--port", "9"])
    assert calls and calls[0]["host"] == "0.0.0.0"
    assert "WARNING: binding '0.0.0.0'" in capsys.readouterr().err
    env_server.main(["--env", "vowels", "--port", "9"])
    assert calls[1]["host"] == "127.0.0.1" and "WARNING" not in capsys.readouterr().err
    with pytest.raises(SystemExit, match="env-options"):
        env_server.main(["--env", "vowels", "--env-options", "action_format=sideways"])


def test_env_options_parsing():
    assert envs.parse_options("a=1, b=0.5,c=true,d=none,e=lenient") == {
        "a": 1, "b": 0.5, "c": True, "d": None, "e": "lenient"}
    assert envs.parse_options("") == {}
    with pytest.raises(ValueError):
        envs.parse_options("novalue")


# --------------------------------------------------------------------------- AgentGym's servers


class ThreadServer:
    """A FastAPI app served by uvicorn in a thread of this process."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


class FakeAgentGym(ThreadServer):
    """An AgentGym-style server around a local env, in a thread: no /health, /tasks or prompts.

    style "id": TextCraft's shape (create -> {id, observation, done, reward}, reset {id, data_idx}
    -> {observation, ...}); style "env_idx": SearchQA's (create -> int, reset {env_idx, id} -> str).
    """

    def __init__(self, env_name: str, style: str):
        from fastapi import Body, FastAPI, HTTPException

        app, pool = FastAPI(), {}
        self.pool = pool

        @app.post("/create")
        def create(body: dict | None = Body(None)):
            env_id = len(pool)
            pool[env_id] = envs.make(env_name)
            return {"id": env_id, "observation": "", "done": False, "reward": 0} if style == "id" else env_id

        @app.post("/reset")
        def reset(body: dict = Body(...)):
            if body["id" if style == "id" else "env_idx"] not in pool:
                raise HTTPException(404, "no such env")
            if style == "id":
                obs, info = pool[body["id"]].reset(body["data_idx"])
                return {"observation": obs, "reward": 0, "score": 0, "done": False}
            obs, info = pool[body["env_idx"]].reset(body["id"])
            return obs

        @app.post("/step")
        def step(body: dict = Body(...)):
            key = "id" if style == "id" else "env_idx"
            if body[key] not in pool:
                return {"error": f"env {body[key]} not found"}
            obs, reward, terminated, truncated, info = pool[body[key]].step(body["action"])
            return {"observation": obs, "reward": reward, "done": terminated or truncated}

        @app.post("/close")
        def close(body: dict = Body(...)):
            pool.pop(body["id" if style == "id" else "env_idx"], None)
            return {"closed": True}

        super().__init__(app)


@pytest.mark.parametrize("style", ["id", "env_idx"])
def test_agentgym_server_fallback(style):
    local = envs.make("textcraft")
    task_id = envs.tasks("textcraft", "test", 2)[2]
    with FakeAgentGym("textcraft", style) as fake:
        remote = RemoteEnv(fake.url, instructions="Craft things.", **FAST)
        assert remote.protocol == "agentgym" and remote.id_key == style
        assert remote.instructions == "Craft things." and remote.demonstration == ()
        obs, info = remote.reset(task_id)
        assert obs == local.reset(task_id)[0] and info["success"] is False
        bad = remote.step("no action")
        assert bad[0] == local.step("no action")[0] and bad[4]["format_ok"] is False and bad[4]["action"] is None
        while True:
            reply = local.expert_reply()
            want = local.step(reply)
            got = remote.step(reply)
            assert got[:3] == want[:3] and got[4]["format_ok"] and got[4]["action"] == want[4]["action"]
            if want[2]:
                assert got[4]["success"] and got[4]["score"] == 1.0
                break
        # the server loses the env: step says so; reset re-creates it
        fake.pool.clear()
        with pytest.raises(RemoteEnvError):
            remote.step("Action: inventory")
        assert remote.reset(task_id)[0] == obs
        with pytest.raises(RemoteEnvError, match="no /tasks route"):
            remote_tasks(fake.url, "test", **FAST)
        remote.close()
        assert not fake.pool


def test_pool_busy_env_and_reaper_skip():
    """A call on an env stuck in an earlier call gets 409 `busy` instead of piling up threads, and
    the idle reaper never frees an env in use."""
    pool = env_server.EnvPool("vowels", max_envs=2, idle_timeout=0.01, busy_timeout=0.1)
    env_id, slot = pool.create()
    with slot.lock:  # an earlier call still running
        with pytest.raises(env_server.ApiError) as e:
            with pool.use(env_id):
                pass
        assert e.value.status == 409 and e.value.code == "busy"
        time.sleep(0.05)
        assert pool.reap_idle() == [] and len(pool) == 1
    assert pool.reap_idle() == [env_id] and len(pool) == 0
    with pytest.raises(env_server.ApiError, match="unknown env id"):
        pool.get(env_id)
    assert env_server.jsonable({"a": (1, 2), "n": float("nan"), 3: {4}}) == {"a": [1, 2], "n": None, "3": [4]}
