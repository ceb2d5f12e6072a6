"""Interop against AgentGym's own code (not part of `make test`: it needs a checkout of AgentGym).

    git clone https://github.com/WooooDyy/AgentGym /path/AgentGym
    python bench/agentgym_interop.py --agentgym /path/AgentGym [--envs textcraft babyai ...] \\
        [--out bench/results/agentgym_interop.json]

Two checks:
1. clients: for each env, AgentGym's own client class (`agentenv/agentenv/envs/<env>.py`, imported
   from the checkout) plays one expert episode against `python -m envs.server --env <env>` with
   its default options. Every observation, reward and done flag it reports is compared with the
   local env played with the same replies (rewards on AgentGym's scale: BabyAI's running score,
   SciWorld's integer points).
2. server: `envs.remote.RemoteEnv` plays expert episodes on AgentGym's own TextCraft server
   (`agentenv-textcraft`, started from its folder as its README says); the replies come from the
   local env's expert for the same goal, and the episode must end in success.

AgentGym's controller imports `openai` for its API agent; where that package is missing a
module stub stands in for it (the env clients never use it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import envs  # noqa: E402

CLIENTS = {"textcraft": "TextCraftEnvClient", "babyai": "BabyAIEnvClient", "sciworld": "SciworldEnvClient",
           "webshop": "WebshopEnvClient", "searchqa": "SearchQAEnvClient"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {url} exited with code {proc.returncode}")
        try:
            requests.get(url + "/", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"server {url} did not come up in {seconds:g} s")


def import_agentgym(checkout: Path):
    sys.path.insert(0, str(checkout / "agentenv"))
    try:
        import openai  # noqa: F401
    except ImportError:
        stub = types.ModuleType("openai")
        stub.OpenAI = object
        sys.modules["openai"] = stub
    return importlib.import_module("agentenv.envs")


def client_episode(agentgym, env_name: str, task_id: int, max_steps: int = 60) -> dict:
    """One expert episode by AgentGym's client class on our server, checked against the local env."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "envs.server", "--env", env_name, "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_up(url, proc)
        client = getattr(agentgym, CLIENTS[env_name])(env_server_base=url, data_len=1)
        local = envs.make(env_name)
        want_obs, _ = local.reset(task_id)
        client.reset(task_id)
        got_obs = client.observe()
        mismatches = [] if got_obs == want_obs else [{"step": 0, "got": got_obs[:300], "want": want_obs[:300]}]
        total, steps, done, reward = 0.0, 0, False, 0.0
        while not done and steps < max_steps:
            reply = local.expert_reply()
            obs, r, terminated, truncated, info = local.step(reply)
            total += r
            out = client.step(reply)
            steps += 1
            done = terminated or truncated
            want_reward = {"babyai": total, "sciworld": int(round(info["score"]))}.get(env_name, r)
            if out.state != obs or bool(out.done) != done or abs(float(out.reward) - want_reward) > 1e-6:
                mismatches.append({"step": steps, "got": [out.state[:300], out.reward, out.done],
                                   "want": [obs[:300], want_reward, done]})
            reward = float(out.reward)
        client.close()
        return {"env": env_name, "task_id": task_id, "steps": steps, "done": done, "success": bool(info["success"]),
                "client_reward": reward, "mismatches": mismatches, "ok": not mismatches and done}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def remote_on_agentgym_textcraft(checkout: Path, task_ids: list[int]) -> list[dict]:
    """RemoteEnv plays the local expert's replies on AgentGym's own TextCraft server."""
    from envs.remote import RemoteEnv

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = checkout / "agentenv-textcraft"
    env = dict(os.environ, PYTHONPATH=str(folder))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "agentenv_textcraft:app", "--port", str(port)],
                            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = []
    try:
        wait_up(url, proc)
        remote = RemoteEnv(url, env="textcraft", timeout=60)
        for task_id in task_ids:
            local = envs.make("textcraft")
            local.reset(task_id)
            remote.reset(task_id)
            steps, success, log = 0, False, []
            while steps < 40:
                reply = local.expert_reply()
                _, _, local_done, _, _ = local.step(reply)
                obs, reward, terminated, truncated, info = remote.step(reply)
                steps += 1
                log.append([info["action"], obs[:200], reward])
                if terminated:
                    success = bool(info["success"])
                    break
                if local_done:
                    break
            results.append({"task_id": task_id, "goal": local.goal, "steps": steps, "success": success,
                            "ok": success, "log": log if not success else []})
        remote.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agentgym", type=Path, required=True, help="a checkout of github.com/WooooDyy/AgentGym")
    parser.add_argument("--envs", nargs="+", default=list(CLIENTS), choices=list(CLIENTS))
    parser.add_argument("--textcraft-tasks", type=int, default=6, help="expert episodes on AgentGym's TextCraft server")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/agentgym_interop.json")
    args = parser.parse_args()
    if not (args.agentgym / "agentenv" / "agentenv" / "envs").is_dir():
        raise SystemExit(f"error: --agentgym {args.agentgym}: no agentenv/agentenv/envs there (a "
                         "checkout of AgentGym?)")

    agentgym = import_agentgym(args.agentgym)
    clients = []
    for name in args.envs:
        task_id = envs.tasks(name, "test", 1)[0]
        result = client_episode(agentgym, name, task_id)
        clients.append(result)
        print(f"client {name:9s} task {task_id}: {result['steps']} steps, match {not result['mismatches']}, "
              f"done {result['done']}, reward {result['client_reward']}", flush=True)
    server = []
    if args.textcraft_tasks:
        tasks = [t for tier in (1, 2, 3)
                 for t in envs.tasks("textcraft", "test", tier)[:max(1, args.textcraft_tasks // 3)]]
        server = remote_on_agentgym_textcraft(args.agentgym, tasks)
        for r in server:
            print(f"RemoteEnv on AgentGym's TextCraft server, task {r['task_id']} ({r['goal']}): "
                  f"{r['steps']} steps, success {r['success']}", flush=True)
    record = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "clients": clients, "remote_on_agentgym_textcraft": server,
              "ok": all(r["ok"] for r in clients + server)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"all ok: {record['ok']}  -> {args.out}")
    if not record["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
