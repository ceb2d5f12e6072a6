"""Evaluate a model or a run folder on any env's test split: k samples per task, Avg@k and Pass@k
with 95% confidence intervals, overall and per published category.

    python bench/eval.py --env textcraft --model runs/<run folder> --out bench/results/textcraft.json
    python bench/eval.py --env textcraft babyai --model Qwen/Qwen2.5-7B-Instruct --full   # the published protocol
    python bench/eval.py --env searchqa --limit 50 --max-turns 5 --env-options seed=0

By default the evaluation is small enough for a laptop (minutes on 2 cores): the first 16 tasks
(`--limit`), k = 2 samples each (`--k`), at most 10 turns (`--max-turns`). `--full` runs AgentGym-RL's
protocol (Xi et al., 2025, arXiv:2509.08755; hours on 2 cores): every task of the split played
k = 4 times at --temperature (1.0 as published; 0 = greedy, then k > 1 only repeats itself) up to
the env's published horizon (the last ScalingInter phase, `DEFAULT_MAX_TURNS`; 10 where none is
published); explicit `--limit`, `--k` and `--max-turns` still apply. Episodes are played by
grpo_agent.py's own rollout, so a model is evaluated exactly the way it is trained (same prompt,
demonstration and parser), with no format reward. A sample is solved when the env reports
`success`; an episode whose env raised counts as unsolved (the denominator is every sample).

Metrics, per env, overall and per category (`category`):
- Avg@k: mean success over all k samples of all tasks, %.
- Pass@k: Chen et al. (2021)'s unbiased estimator 1 - C(n-c, k) / C(n, k) averaged over tasks;
  with n = k samples per task, as here, it is the share of tasks solved at least once.
- 95% CIs: a percentile bootstrap over tasks (1000 resamples, seeded by --seed; tasks are the
  independent units, the k samples of a task are not), or Wilson's interval when k = 1.
- score: the env's own final `info["score"]` (the metric of the published tables, partial credit
  included), as a %: negative scores (SciWorld's -100 for a failed task) count as 0, SciWorld's
  0-100 scale is divided by 100. `grpo_agent.Episode` keeps only reward and success, so a thin
  wrapper (`Recorded`) keeps the last info each env returned.
- invalid_action_rate: turns whose reply held no valid action, % of all turns; mean_turns.

Note: AgentGym-RL reports Avg@k as the mean final score; here Avg@k is the
mean success and the score is its own column, so partial-credit envs (SciWorld, BabyAI, WebShop)
are reported both ways.

Result JSON: the settings, then per env its horizon, overall metrics, per_category metrics and a
record per task (category, every sample's success, score, reward, turns, invalid actions and
final reply); a markdown table for the README is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cleanagent_utils.models  # noqa: E402
import cleanagent_utils.runs  # noqa: E402
import envs  # noqa: E402
import grpo_agent  # noqa: E402
from bench.common import load_policy, make_sampler  # noqa: E402

DEFAULT_MAX_TURNS = {"textcraft": 30, "babyai": 20, "sciworld": 30, "searchqa": 10, "tooluse": 9}
"""Published horizons: the last ScalingInter-RL phase of AgentGym-RL, ToolHop's 9 turns."""
SMALL = {"limit": 16, "k": 2, "max_turns": 10}
"""The default (small) evaluation; `--full` leaves out what is not given: all tasks, k = 4, published horizons."""
SCORE_SCALE = {"sciworld": 100.0}
"""Envs whose `info["score"]` is not on a 0-1 scale."""
Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 1000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", required=True, choices=envs.names(),
                   help="one or more envs (one combined table)")
    p.add_argument("--model", default=grpo_agent.EMBEDDED_MODEL,
                   help="HF id, local path, or a run folder of this project")
    p.add_argument("--full", action="store_true",
                   help="the published protocol: every task, k = 4, the published horizon")
    p.add_argument("--k", type=int, default=None, help="samples per task (default 2; 4 with --full)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--limit", type=int, default=None,
                   help="only the first N tasks of each env (default 16; all with --full)")
    p.add_argument("--tier", type=int, default=None, help="only tasks of this difficulty tier (see each env's `tasks`)")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--max-turns", type=int, default=None,
                   help="horizon (default 10; with --full the env's published one, else 10)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="token cap of one turn")
    p.add_argument("--max-episode-tokens", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=16, help="episodes played at once")
    p.add_argument("--action-format", choices=["strict", "lenient"], default="lenient")
    p.add_argument("--demonstration", action=argparse.BooleanOptionalAction, default=True,
                   help="show the env's one-shot example turns (as training does by default)")
    p.add_argument("--env-options", default="", help="key=value,... passed to every env listed")
    p.add_argument("--dtype", choices=["auto", "float32", "bf16-mixed", "bfloat16"], default="auto",
                   help="as the scripts' --dtype (auto: bf16-mixed where the hardware multiplies in bf16)")
    p.add_argument("--stop-at-action", action=argparse.BooleanOptionalAction, default=True,
                   help="end a turn at the reply's first complete action (as the scripts do by default)")
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed")
    p.add_argument("--out", default=None, help="write the result JSON here")
    args = p.parse_args(argv)
    if not args.full:  # the small default evaluation; --full leaves unset values to the published protocol
        args.limit = SMALL["limit"] if args.limit is None else args.limit
        args.max_turns = SMALL["max_turns"] if args.max_turns is None else args.max_turns
    args.k = args.k if args.k is not None else (4 if args.full else SMALL["k"])
    for flag, ok in [("--k", args.k >= 1), ("--limit", args.limit is None or args.limit >= 1),
                     ("--max-turns", args.max_turns is None or args.max_turns >= 1),
                     ("--max-new-tokens", args.max_new_tokens >= 1), ("--batch-size", args.batch_size >= 1),
                     ("--temperature", args.temperature >= 0),
                     ("--max-episode-tokens", args.max_episode_tokens > args.max_new_tokens)]:
        if not ok:
            p.error(f"{flag} has an invalid value")
    args.env = list(dict.fromkeys(args.env))
    for name in args.env:  # a malformed or unknown --env-options fails here, before the model loads
        grpo_agent.validate_args(grpo_agent.Args(env=name, env_options=args.env_options))
    return args


# ---------------------------------------------------------------------------------------------
# statistics (pure functions, tested against plain reference computations)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021): 1 - C(n-c, k) / C(n, k), the chance that k of n samples (c correct) hold
    a correct one, as the numerically stable product 1 - prod_{i=n-c+1..n} (1 - k / i)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def bootstrap_ci(values, seed: int, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one per task), resampling tasks. Where every
    task has the same value the bootstrap would claim [v, v]: Wilson's bound over the tasks instead (the
    interval of 0 or n successes of n)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return 0.0, 0.0
    if np.all(values == values[0]) and values[0] in (0.0, 1.0):
        return wilson_interval(int(values[0]) * len(values), len(values))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion, as fractions."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, center - half), min(1.0, center + half)


def summarize(tasks: list[dict], k: int, seed: int) -> dict:
    """Metrics over per-task records (each with k samples); percentages throughout."""
    samples = [s for t in tasks for s in t["samples"]]
    solved = [sum(s["success"] for s in t["samples"]) for t in tasks]
    avg = [c / k for c in solved]
    passed = [pass_at_k(k, c, k) for c in solved]
    if k == 1:  # one Bernoulli trial per task: Avg@1 = Pass@1, Wilson's interval
        avg_ci = pass_ci = wilson_interval(sum(solved), len(tasks))
    else:
        avg_ci, pass_ci = bootstrap_ci(avg, seed), bootstrap_ci(passed, seed)
    turns = sum(s["turns"] for s in samples)
    return {
        "n_tasks": len(tasks), "k": k,
        "avg_at_k": 100 * float(np.mean(avg)) if tasks else 0.0, "avg_ci": [100 * x for x in avg_ci],
        "pass_at_k": 100 * float(np.mean(passed)) if tasks else 0.0, "pass_ci": [100 * x for x in pass_ci],
        "score": float(np.mean([s["score_pct"] for s in samples])) if samples else 0.0,
        "invalid_action_rate": 100 * sum(s["invalid_actions"] for s in samples) / turns if turns else 0.0,
        "mean_turns": turns / len(samples) if samples else 0.0,
        "failed": sum(s["failed"] for s in samples),
    }


# ---------------------------------------------------------------------------------------------
# categories and the env wrapper


def category(env_name: str, env, task_id: int) -> str | None:
    """The published category of the task `env` was just reset to (None: the env exposes none).

    textcraft: crafting depth; babyai: the test category of the level (GoTo, Pickup, ...), else its
    tier (level family); sciworld: the task family (Measure, Test-Conductivity, ...); searchqa:
    hop count (the generated data; a user's QA file may have none); webshop: tier by number of
    goal constraints (1: 1-2, 2: 3, 3: 4+); tooluse: FTRL scenario.
    """
    if env_name == "textcraft":
        return f"depth {env.book.depth(env.goal)}"
    if env_name == "babyai":
        from envs.babyai import category_of, tier_of

        return category_of(env.level) or f"tier {tier_of(env.level)}"
    if env_name == "sciworld":
        return env.item.family
    if env_name == "searchqa":
        return f"{env.question.hops}-hop" if env.question.hops is not None else None
    if env_name == "webshop":
        return f"tier {env.goal.tier}"
    if env_name == "tooluse":
        return env.task.scenario
    return None


def tier_partition(env_name: str, split: str, options: dict, task_ids: list[int]) -> dict[int, str]:
    """task id -> "tier t", when `tasks(tier=t)` partitions the split's tasks; else {}."""
    owner: dict[int, list[int]] = {}
    for tier in range(1, 10):
        try:
            ids = envs.tasks(env_name, split, tier, **options)
        except (TypeError, ValueError):
            continue
        for i in ids:
            owner.setdefault(i, []).append(tier)
    if any(len(owner.get(i, ())) != 1 for i in task_ids):
        return {}
    return {i: f"tier {owner[i][0]}" for i in task_ids}


class Recorded:
    """An env that keeps the info of its last reset (None when reset raised) and last step; every
    other attribute is the env's own, so rollout sees the env itself."""

    def __init__(self, env):
        self.env, self.reset_info, self.info = env, None, {}

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, task_id):
        self.reset_info, self.info = None, {}
        obs, info = self.env.reset(task_id)
        self.reset_info, self.info = dict(info), dict(info)
        return obs, info

    def step(self, reply):
        obs, reward, terminated, truncated, info = self.env.step(reply)
        self.info = dict(info)
        return obs, reward, terminated, truncated, info


# ---------------------------------------------------------------------------------------------
# evaluation


def select_tasks(name: str, args) -> list[int]:
    try:
        task_ids = envs.tasks(name, args.split, args.tier, **cleanagent_utils.runs.env_options(args))[: args.limit]
    except (TypeError, ValueError) as e:
        raise SystemExit(f"error: {name}: {e}") from None
    if not task_ids:
        raise SystemExit(f"error: {name} has no {args.split} tasks of tier {args.tier}")
    return task_ids


def evaluate_env(name: str, task_ids: list[int], sample, chat, args) -> dict:
    """Play every task k times; per-task records and the metrics over them."""
    grpo_agent.seed_everything(args.seed)  # each env's samples do not depend on the envs listed before it
    horizon = args.max_turns or DEFAULT_MAX_TURNS.get(name, 10)
    run_args = grpo_agent.Args(
        env=name, action_format=args.action_format, env_options=args.env_options, format_reward=0.0,
        max_new_tokens=args.max_new_tokens, max_episode_tokens=args.max_episode_tokens,
        demonstration=args.demonstration, stop_at_action=args.stop_at_action, dtype=args.dtype,
    )
    jobs = [(g, t) for g, t in enumerate(task_ids) for _ in range(args.k)]
    pool = [Recorded(grpo_agent.make_env(run_args)) for _ in range(min(args.batch_size, len(jobs)))]
    samples: dict[int, list[dict]] = {t: [] for t in task_ids}
    categories: dict[int, str | None] = {}
    scale = SCORE_SCALE.get(name, 1.0)
    try:
        for start in range(0, len(jobs), args.batch_size):
            chunk = jobs[start : start + args.batch_size]
            episodes = [grpo_agent.Episode(task_id=t, group=g) for g, t in chunk]
            with grpo_agent.autocast(args.dtype, torch.device("cuda" if torch.cuda.is_available() else "cpu")):
                grpo_agent.rollout(sample, chat, pool[: len(chunk)], episodes, horizon, run_args)
            for env, ep in zip(pool, episodes):
                reset_ok = env.reset_info is not None
                if reset_ok and categories.get(ep.task_id) is None:
                    categories[ep.task_id] = category(name, env.env, ep.task_id)
                score = float(env.info.get("score", ep.reward)) if reset_ok and not ep.failed else 0.0
                samples[ep.task_id].append({
                    "success": ep.success and not ep.failed, "score": score, "score_pct": 100 * max(score, 0.0) / scale,
                    "reward": ep.reward, "turns": ep.turns, "invalid_actions": ep.invalid_actions,
                    "truncated": ep.truncated, "failed": ep.failed,
                    "final_reply": next((line[8:] for line in reversed(ep.transcript)
                                         if line.startswith("[agent] ")), "")[:300],
                })
            done = sum(len(s) for s in samples.values())
            print(f"{name}: {done}/{len(jobs)} episodes, success so far "
                  f"{100 * np.mean([s['success'] for v in samples.values() for s in v]):.1f}%", file=sys.stderr)
    finally:
        for env in pool:
            env.close()
    if any(categories.get(t) is None for t in task_ids):
        fallback = tier_partition(name, args.split, cleanagent_utils.runs.env_options(args), task_ids)
        categories = {t: categories.get(t) or fallback.get(t, "all") for t in task_ids}
    tasks = [{"task_id": t, "category": categories[t], "solved": sum(s["success"] for s in samples[t]),
              "samples": samples[t]} for t in task_ids]
    names = sorted({t["category"] for t in tasks})
    return {
        "max_turns": horizon, **summarize(tasks, args.k, args.seed),
        "per_category": {c: summarize([t for t in tasks if t["category"] == c], args.k, args.seed) for c in names},
        "tasks": tasks,
    }


def evaluate(args) -> dict:
    t0 = time.perf_counter()
    # bad --tier / options fail before the model loads
    task_lists = {name: select_tasks(name, args) for name in args.env}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.dtype = cleanagent_utils.models.resolve_dtype(args.dtype, device)
    model, tokenizer, chat = load_policy(args.model, args.dtype)
    model.to(device)
    sample = make_sampler(model, tokenizer, chat, args.temperature, args.batch_size)
    result = {
        "model": args.model, "split": args.split, "tier": args.tier, "limit": args.limit, "k": args.k,
        "temperature": args.temperature, "max_new_tokens": args.max_new_tokens,
        "max_episode_tokens": args.max_episode_tokens, "action_format": args.action_format,
        "demonstration": args.demonstration, "env_options": args.env_options, "dtype": args.dtype,
        "stop_at_action": args.stop_at_action, "seed": args.seed, "envs": {},
    }
    for name in args.env:
        result["envs"][name] = evaluate_env(name, task_lists[name], sample, chat, args)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def markdown(result: dict) -> str:
    k = result["k"]
    horizons = ", ".join(f"{name} {r['max_turns']}" for name, r in result["envs"].items())
    lines = [f"model {result['model']}, {result['split']} split, k = {k}, temperature {result['temperature']}, "
             f"horizon {horizons}; 95% CIs " + ("(Wilson)" if k == 1 else "(bootstrap over tasks)"), "",
             f"| env | category | n tasks | k | Avg@{k} [95% CI] | Pass@{k} [95% CI] | score | invalid % | turns |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["envs"].items():
        rows = [] if list(r["per_category"]) == ["all"] else [*r["per_category"].items()]
        for cat, m in [*rows, ("all", r)]:
            lines.append(
                f"| {name} | {cat} | {m['n_tasks']} | {k} | {m['avg_at_k']:.1f} [{m['avg_ci'][0]:.1f}, "
                f"{m['avg_ci'][1]:.1f}] "
                f"| {m['pass_at_k']:.1f} [{m['pass_ci'][0]:.1f}, {m['pass_ci'][1]:.1f}] | {m['score']:.1f} "
                f"| {m['invalid_action_rate']:.1f} | {m['mean_turns']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    result = {**evaluate(args), "command": "python bench/eval.py " + shlex.join(argv)}  # re-creates the result
    print(markdown(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
