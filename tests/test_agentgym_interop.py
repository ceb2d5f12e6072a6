"""Interop with AgentGym (github.com/WooooDyy/AgentGym), both directions, one expert episode per env:

- our `envs.server` driven by stand-ins of AgentGym's client classes (`agentenv/agentenv/envs/*.py`);
- our `RemoteEnv` playing on stand-ins of AgentGym's env servers (`agentenv-*/`).

The stand-ins are written here from AgentGym's code, field by field, independently of
`envs.protocol` (what they reproduce: the id field and its type, the create/reset/step bodies and
answers, the action each client cuts out of a reply, bare commands only on the servers, errors as
`{"error": ...}` with HTTP 200 or as HTTP 500, BabyAI's running score, SciWorld's integer points and
split task description, WebShop's `state` key and missing /close, SearchQA's required create id,
TextCraft's own goal order). Game state comes from this project's envs. The same check against
AgentGym's real code is `bench/agentgym_interop.py --agentgym <checkout>`.
"""

# no `from __future__ import annotations`: FastAPI resolves the request models defined inside functions at run time

import random
import re
import shutil

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import requests  # noqa: E402
from fastapi import Body, FastAPI, HTTPException  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import envs  # noqa: E402
from envs import server as env_server  # noqa: E402
from envs.remote import EpisodeInterrupted, RemoteEnv, remote_tasks  # noqa: E402
from test_server import ThreadServer  # noqa: E402

FAST = dict(timeout=60.0, retries=2, backoff=0.05)  # generous: a loaded machine must not time a request out


def sciworld_ready() -> bool:
    try:
        import scienceworld  # noqa: F401
    except ImportError:
        return False
    return shutil.which("java") is not None


ENVS = ["textcraft", "babyai", "webshop", "searchqa",
        pytest.param("sciworld", marks=pytest.mark.skipif(not sciworld_ready(), reason="needs scienceworld and java"))]


# --------------------------------------------------------------------------- AgentGym's clients


def first_action_line(reply: str) -> str | None:
    """TextCraft's and BabyAI's clients: the first line after the only `Action:`, letters, digits,
    commas and spaces kept; None for two `Action:` (they answer that themselves)."""
    found = re.findall(r"Action:\s*(.*?)(?=\n|$)", reply, re.DOTALL)
    if len(found) > 1:
        return None
    action = re.sub(r"[^A-Za-z0-9, ]+", "", found[-1] if found else "")
    return " ".join(action.split()).strip()


def after_last_action(reply: str, webshop: bool = False) -> str:
    """SciWorld's and WebShop's ReAct parser: everything after the last `Action:`, stripped."""
    parts = reply.rsplit("Action:", 1)
    if len(parts) == 1:
        return reply if webshop and ("search[" in reply or "click[" in reply) else ""
    return parts[1].strip()


class Client:
    """What every AgentGym client does: POST JSON with its id field added, insist on HTTP 200,
    index the answer's fields directly (a missing field is a KeyError)."""

    id_key = "id"

    def __init__(self, url: str):
        self.url = url
        self.sent_steps = 0

    def post(self, path: str, body: dict):
        r = requests.post(f"{self.url}/{path}", json={**body, self.id_key: self.env_id}, timeout=60)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def get(self, path: str):
        r = requests.get(f"{self.url}/{path}", params={self.id_key: self.env_id}, timeout=60)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def close(self):
        return self.post("close", {})


class TextCraftClient(Client):
    def __init__(self, url):
        super().__init__(url)
        answer = requests.post(f"{url}/create", json={"minecraft_dir": "agentenv_textcraft/", "commands": None,
                                                      "goal": None}, timeout=60).json()
        self.env_id, self.observation = answer["id"], answer["observation"]

    def reset(self, idx):
        self.observation = self.post("reset", {"data_idx": idx})["observation"]

    def observe(self):
        return self.observation

    def step(self, reply):
        action = first_action_line(reply)
        if action is None:
            return "Error: Only one 'Action' is allowed per response. Please adjust your response.", 0, False
        self.sent_steps += 1
        answer = self.post("step", {"action": action})
        self.observation = answer["observation"]
        return answer["observation"], answer["reward"], answer["done"]


class BabyAIClient(Client):
    def __init__(self, url):
        super().__init__(url)
        self.env_id = requests.post(f"{url}/create", timeout=60).json()["id"]

    def reset(self, idx):
        answer = self.post("reset", {"data_idx": idx})
        self.observation = answer["observation"]
        assert {"reward", "score", "done"} <= set(answer)

    def observe(self):
        return self.observation

    def step(self, reply):
        action = first_action_line(reply)
        if action is None:
            return "Error: Only one 'Action' is allowed per response. Please adjust your response.", 0, False
        answer = self.post("step", {"action": action})
        self.observation = answer["observation"]
        return answer["observation"], answer["score"], answer["done"]  # the client reports `score`


class SciWorldClient(Client):
    def __init__(self, url):
        super().__init__(url)
        self.env_id = requests.post(f"{url}/create", timeout=60).json()["id"]

    def reset(self, idx):
        answer = self.post("reset", {"data_idx": idx})
        self.observation = answer["task_description"] + "\n" + answer["observation"]

    def observe(self):
        return self.observation

    def step(self, reply):
        answer = self.post("step", {"action": after_last_action(reply)})
        self.observation = answer["observation"]
        return answer["observation"], answer["score"], answer["done"]


class WebShopClient(Client):
    id_key = "env_idx"

    def __init__(self, url):
        super().__init__(url)
        self.env_id = requests.post(f"{url}/create", timeout=60).json()
        assert isinstance(self.env_id, int)  # a bare int

    def reset(self, idx):
        answer = self.post("reset", {"session_id": idx})
        assert isinstance(answer, list) and len(answer) == 2 and answer[1] is None

    def observe(self):
        return self.get("observation")

    def step(self, reply):
        answer = self.post("step", {"action": after_last_action(reply, webshop=True)})
        return answer["state"], answer["reward"], answer["done"]


class SearchQAClient(Client):
    id_key = "env_idx"

    def __init__(self, url):
        super().__init__(url)
        self.env_id = requests.post(f"{url}/create", json={"id": 0}, timeout=60).json()
        assert isinstance(self.env_id, int)

    def reset(self, idx):
        assert isinstance(self.post("reset", {"id": idx}), str)

    def observe(self):
        return self.get("observation")

    def step(self, reply):
        answer = self.post("step", {"action": reply})  # the whole reply
        return answer["observation"], answer["reward"], answer["done"]


CLIENTS = {"textcraft": TextCraftClient, "babyai": BabyAIClient, "sciworld": SciWorldClient,
           "webshop": WebShopClient, "searchqa": SearchQAClient}


def serve_ours(name: str) -> ThreadServer:
    return ThreadServer(env_server.create_app(env_server.EnvPool(name, max_envs=8)))


@pytest.mark.parametrize("name", ENVS)
def test_our_server_serves_agentgym_clients(name):
    """AgentGym's client class of each env plays a whole expert episode on `python -m envs.server
    --env NAME` (default options) and sees the local env's observations and rewards."""
    local = envs.make(name)
    task_id = envs.tasks(name, "test", 1)[0]
    with serve_ours(name) as server:
        client = CLIENTS[name](server.url)
        want_obs, _ = local.reset(task_id)
        client.reset(task_id)
        assert client.observe() == want_obs
        total, done, steps = 0.0, False, 0
        while not done:
            reply = local.expert_reply()
            obs, reward, terminated, truncated, info = local.step(reply)
            total += reward
            done = terminated or truncated
            got = client.step(reply)
            want_reward = {"babyai": total, "sciworld": int(round(info["score"]))}.get(name, reward)
            assert got[0] == obs and bool(got[2]) == done and got[1] == pytest.approx(want_reward)
            steps += 1
            assert steps < 60
        assert info["success"]
        client.close()


def test_our_server_takes_bare_commands_only_from_agentgym_clients():
    """A bare command is an action for AgentGym's clients, in strict mode too; this project's
    RemoteEnv (which sends whole replies) is parsed exactly as before; a whole reply from an
    AgentGym-style client is parsed by the env too."""
    task_id = envs.tasks("textcraft", "test", 1)[0]
    with serve_ours("textcraft") as server:
        client = TextCraftClient(server.url)
        client.reset(task_id)
        obs, _, _ = client.step("Thought: check.\nAction: inventory")  # the client sends "inventory"
        assert obs.startswith("Inventory")
        r = requests.post(f"{server.url}/step", json={"id": client.env_id, "action": "inventory"}).json()
        assert r["observation"].startswith("Inventory") and set(r) == {"observation", "reward", "done"}
        ours = RemoteEnv(server.url, env="textcraft", **FAST)
        ours.reset(task_id)
        obs, _, _, _, info = ours.step("inventory")  # strict: a bare line is no ReAct reply
        assert obs.startswith("Invalid action") and info["format_ok"] is False
        lenient = RemoteEnv(server.url, env="textcraft", action_format="lenient", **FAST)  # forwarded to the server
        lenient.reset(task_id)
        obs, _, _, _, info = lenient.step("inventory")
        assert obs.startswith("Inventory") and info["action"] == "inventory"
        ours.close()
        lenient.close()


# --------------------------------------------------------------------------- AgentGym's servers


def bare(action: str) -> bool:
    """AgentGym's servers parse a bare command; a reply with a Thought or an Action marker is none."""
    return bool(action) and "\n" not in action and ":" not in action


class StandInServer:
    """State shared by the stand-in servers: envs by id, steps received."""

    def __init__(self, name: str):
        self.name = name
        self.envs: dict[int, object] = {}
        self.done: dict[int, bool] = {}
        self.score: dict[int, float] = {}
        self.steps = 0
        self.next_id = 0

    def new(self) -> int:
        env_id, self.next_id = self.next_id, self.next_id + 1
        self.envs[env_id] = envs.make(self.name)
        return env_id

    def act(self, env_id: int, action: str):
        self.steps += 1
        return self.envs[env_id].step(f"Action: {action}")


def textcraft_server(state: StandInServer) -> FastAPI:
    """agentenv-textcraft: {"error"} with HTTP 200; its own goal order; create resets to goal `id`."""
    from envs.textcraft import recipe_book

    app = FastAPI()
    book = recipe_book()  # AgentGym's goal order: by depth, ties in the order its recipe files were listed
    order = sorted(range(len(book.goals)), key=lambda i: (book.depth(book.goals[i]), book.goals[i][::-1]))

    class Reset(BaseModel):
        id: int
        data_idx: int = 0

    class Step(BaseModel):
        id: int
        action: str

    class Close(BaseModel):
        id: int

    def reset_to(env_id, data_idx):
        obs, _ = state.envs[env_id].reset(order[data_idx % len(order)])
        return obs

    @app.post("/create")
    def create(body: dict | None = Body(None)):
        env_id = state.new()
        return {"id": env_id, "observation": reset_to(env_id, env_id), "done": False, "reward": 0}

    @app.post("/reset")
    def reset(body: Reset):
        if body.id not in state.envs:
            return {"error": f"The id {body.id} is not valid."}
        return {"id": body.id, "observation": reset_to(body.id, body.data_idx), "done": False, "reward": 0}

    @app.post("/step")
    def step(body: Step):
        if body.id not in state.envs:
            return {"error": f"The id {body.id} is not valid."}
        if not bare(body.action):
            state.steps += 1
            return {"observation": f"Could not execute {body.action}", "reward": 0, "done": False}
        obs, reward, terminated, _, _ = state.act(body.id, body.action)
        return {"observation": obs, "reward": int(reward), "done": terminated}

    @app.post("/close")
    def close(body: Close):
        return state.envs.pop(body.id, None) is not None

    return app


def babyai_server(state: StandInServer) -> FastAPI:
    """agentenv-babyai: create answers {"id"} only; `score` is the running sum; no step after done."""
    app = FastAPI()

    class Reset(BaseModel):
        id: int
        data_idx: int

    class Step(BaseModel):
        id: int
        action: str

    @app.post("/create")
    def create():
        return {"id": state.new()}

    @app.post("/reset")
    def reset(body: Reset):
        if body.id not in state.envs:
            return {"error": f"The id {body.id} is not valid."}
        obs, _ = state.envs[body.id].reset(body.data_idx)
        state.done[body.id], state.score[body.id] = False, 0.0
        return {"observation": obs, "reward": 0, "score": 0, "deleted": False, "done": False}

    @app.post("/step")
    def step(body: Step):
        if body.id not in state.envs:
            return {"error": f"The id {body.id} is not valid."}
        if state.done[body.id]:
            return {"error": f"The task with environment {body.id} has finished."}
        if not bare(body.action):
            return {"observation": "The action is not recognized. Please check valid actions.", "reward": 0,
                    "score": state.score[body.id], "done": False}
        obs, reward, terminated, truncated, _ = state.act(body.id, body.action.lower().strip())
        state.score[body.id] += reward
        state.done[body.id] = terminated
        return {"observation": obs, "reward": reward, "score": state.score[body.id], "done": terminated}

    @app.post("/close")
    def close(body: dict = Body(...)):
        return state.envs.pop(body["id"], None) is not None

    return app


def sciworld_server(state: StandInServer) -> FastAPI:
    """agentenv-sciworld: the task description apart from the first observation; integer points
    (`reward` the change, `score` the total, -100 when failed)."""
    app = FastAPI()

    class Reset(BaseModel):
        id: int
        data_idx: int

    class Step(BaseModel):
        id: int
        action: str

    @app.post("/create")
    def create():
        return {"id": state.new()}

    @app.post("/reset")
    def reset(body: Reset):
        env = state.envs[body.id]
        obs, info = env.reset(body.data_idx)
        description = env.task_description
        look = obs[len(description) + 1:]  # what follows "description\n"
        state.score[body.id], state.done[body.id] = 0, False
        return {"task_name": info.get("task_name", ""), "var_num": 0, "task_description": description,
                "observation": look, "reward": 0, "score": 0, "deleted": False, "done": False}

    @app.post("/step")
    def step(body: Step):
        if state.done[body.id]:
            return {"error": f"The task with environment {body.id} has finished."}
        if not bare(body.action):
            return {"observation": "No known action matches that input.", "reward": 0,
                    "score": state.score[body.id], "done": False}
        obs, _, terminated, _, info = state.act(body.id, body.action)
        score = int(round(info["score"]))
        reward, state.score[body.id] = score - state.score[body.id], score
        state.done[body.id] = terminated
        return {"observation": obs, "reward": reward, "score": score, "done": terminated}

    @app.post("/close")
    def close(body: dict = Body(...)):
        state.envs.pop(body["id"])  # KeyError (HTTP 500) on an unknown id, as AgentGym's
        return True

    return app


def webshop_server(state: StandInServer) -> FastAPI:
    """agentenv-webshop: random bare-int ids, `session_id` names the task, `[obs, null]` from reset,
    `state` in step answers, HTTP 500 on an unknown id, and no /close route."""
    app = FastAPI()
    rng = random.Random(0)
    pages: dict[int, str] = {}

    class Reset(BaseModel):
        env_idx: int
        session_id: int | None = None

    class Step(BaseModel):
        env_idx: int
        action: str

    @app.post("/create")
    def create():
        env_id = state.new()
        idx = rng.randint(0, 48950076)
        state.envs[idx] = state.envs.pop(env_id)
        return idx

    @app.post("/reset")
    def reset(body: Reset):
        if body.env_idx not in state.envs:
            raise HTTPException(500, "Internal Server Error")
        pages[body.env_idx], _ = state.envs[body.env_idx].reset(body.session_id)
        return [pages[body.env_idx], None]

    @app.get("/observation")
    def observation(env_idx: int):
        return pages[env_idx]

    @app.post("/step")
    def step(body: Step):
        if body.env_idx not in state.envs:
            raise HTTPException(500, "Internal Server Error")
        if not re.match(r"(.+)\[(.+)\]", body.action) or not bare(body.action):
            return {"state": pages[body.env_idx], "reward": 0.0, "done": False, "info": None}  # a silent no-op
        obs, reward, terminated, _, _ = state.act(body.env_idx, body.action)
        pages[body.env_idx] = obs
        return {"state": obs, "reward": reward, "done": terminated, "info": None}

    return app


def searchqa_server(state: StandInServer) -> FastAPI:
    """agentenv-searchqa: create needs {"id"}; reset {env_idx, id} answers the bare observation; the
    whole reply is the action; HTTP 500 on an unknown id."""
    app = FastAPI()
    pages: dict[int, str] = {}

    class Create(BaseModel):
        id: int

    class Reset(BaseModel):
        env_idx: int
        id: int | None = None

    class Step(BaseModel):
        env_idx: int
        action: str

    @app.post("/create")
    def create(body: Create):
        return state.new()

    @app.post("/reset")
    def reset(body: Reset):
        if body.env_idx not in state.envs or body.id is None:
            raise HTTPException(500, "Internal Server Error")
        pages[body.env_idx], _ = state.envs[body.env_idx].reset(body.id)
        return pages[body.env_idx]

    @app.get("/observation")
    def observation(env_idx: int):
        return pages[env_idx]

    @app.post("/step")
    def step(body: Step):
        if body.env_idx not in state.envs:
            raise HTTPException(500, "Internal Server Error")
        state.steps += 1
        obs, reward, terminated, _, _ = state.envs[body.env_idx].step(body.action)
        return {"observation": obs, "reward": reward, "done": terminated, "info": None}

    @app.post("/close")
    def close(body: dict = Body(...)):
        return state.envs.pop(body["env_idx"], None) is not None

    return app


SERVERS = {"textcraft": textcraft_server, "babyai": babyai_server, "sciworld": sciworld_server,
           "webshop": webshop_server, "searchqa": searchqa_server}


@pytest.mark.parametrize("name", ENVS)
def test_remote_env_plays_on_agentgym_servers(name):
    """RemoteEnv on AgentGym's server of each env: the local env's observations, rewards on the local
    scale, success, the local prompt; no /close where the server has none."""
    local = envs.make(name)
    task_id = envs.tasks(name, "test", 1)[0]
    state = StandInServer(name)
    with ThreadServer(SERVERS[name](state)) as server:
        remote = RemoteEnv(server.url, env=name, **FAST)
        assert remote.protocol == "agentgym"
        assert remote.instructions == local.instructions and remote.demonstration == tuple(local.demonstration)
        obs, info = remote.reset(task_id)
        assert obs == local.reset(task_id)[0] and info["success"] is False
        for _ in range(60):
            reply = local.expert_reply()
            want = local.step(reply)
            got = remote.step(reply)
            # SciWorld's wire carries whole points (0.33 for 1/3 of the task): rewards agree to 0.01
            assert got[0] == want[0] and got[1] == pytest.approx(want[1], abs=0.01 if name == "sciworld" else 1e-9)
            assert got[2] == want[2] and got[4]["action"] == want[4]["action"] and got[4]["format_ok"]
            if want[2]:
                break
        assert got[4]["success"] and want[4]["success"]
        assert got[4]["score"] == pytest.approx(want[4]["score"], abs=0.5)
        remote.close()  # WebShop's server has no /close: nothing is sent, nothing fails
        if name != "webshop":
            assert not state.envs


def test_remote_env_sends_what_agentgym_clients_send():
    """Two `Action:` lines are answered by the client itself (nothing sent, as AgentGym's TextCraft
    client); a whole reply reaches the server as its command only; TextCraft ids follow the server's
    own goal order; a lost env interrupts the episode and the next reset re-creates it."""
    local = envs.make("textcraft")
    task_id = envs.tasks("textcraft", "test", 2)[0]
    state = StandInServer("textcraft")
    with ThreadServer(textcraft_server(state)) as server:
        remote = RemoteEnv(server.url, env="textcraft", **FAST)
        assert remote.reset(task_id)[0] == local.reset(task_id)[0]  # the goal map found its data_idx
        sent = state.steps
        obs, reward, done, _, info = remote.step("Action: inventory\nAction: inventory")
        assert obs.startswith("Error: Only one 'Action'") and state.steps == sent and info["format_ok"] is False
        obs, *_ = remote.step("Thought: look first.\nAction: inventory")
        assert obs == local.step("Action: inventory")[0]
        state.envs.clear()  # the server forgets the env ({"error": ...} with HTTP 200)
        with pytest.raises(EpisodeInterrupted):
            remote.step("Action: inventory")
        assert remote.reset(task_id)[0] == local.reset(task_id)[0]
        # the trainer's task ids: the local split, since AgentGym's servers list none
        assert remote_tasks(server.url, "test", 1, env="textcraft", **FAST) == envs.tasks("textcraft", "test", 1)
        remote.close()


def test_trainer_runs_on_an_agentgym_server(tiny_model_dir, tmp_path):
    """`grpo_agent.py --env textcraft --env-url <AgentGym's TextCraft server>` trains: task ids from the
    local split (mapped to the server's goal order), the local env's prompt, the trainer's
    --action-format used to read replies."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    state = StandInServer("textcraft")
    with ThreadServer(textcraft_server(state)) as server:
        proc = subprocess.run(
            [sys.executable, "grpo_agent.py", "--env", "textcraft", "--env-url", server.url, "--model",
             str(tiny_model_dir), "--total-iterations", "1", "--num-tasks", "1", "--group-size", "2",
             "--max-new-tokens", "4", "--horizons", "2", "--task-tier", "1", "--eval-tasks", "1", "--eval-k", "1",
             "--save-every", "0", "--runs-dir", str(tmp_path)],
            cwd=repo, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 1 and records[0]["env_failures"] == 0
    assert state.steps > 0  # episodes were played there
