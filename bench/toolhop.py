"""Multi-hop tool use, evaluated with ToolHop's protocol on ToolHop- or FTRL-format files.

    python bench/toolhop.py --data ftrl_test.jsonl --setting mandatory --out toolhop.json  # docs/tooluse.md
    python bench/toolhop.py --data toolhop.json --setting free --model Qwen/Qwen2.5-7B-Instruct --limit 100
    python bench/toolhop.py --data FILE --setting direct --model runs/<run folder>

Protocol (ToolHop, Ye et al., 2025, arXiv:2501.02506): the setting's instructions (direct: no tools;
mandatory: a tool at every step, facts only from tools; free: tools optional), at most 9 model turns, every call of a
turn executed in the sandbox with a 10 s limit, results JSON-encoded, errors as detailed messages.
Correct when the gold answer (commas and a trailing ".0" removed, lowercased) is a substring of
the final assistant message or of the tool message just before it; the denominator is every
task (a failed episode counts as wrong). Episodes are played by grpo_agent.py's own rollout, so
a model is evaluated exactly the way it is trained; decoding is greedy unless --temperature > 0.

Result JSON: accuracy, solve_p / solve_r / solve_f1 (from the gold sub-answers of each tool),
invocation error rates over all calls (tool hallucination, parameter hallucination, missing
required parameter), n, failed, per_scenario, per-episode records; a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpo_agent  # noqa: E402
from bench.common import load_policy, make_sampler  # noqa: E402
from envs.tooluse.data import answer_matches, load_tasks  # noqa: E402
from envs.tooluse.env import ToolUseEnv  # noqa: E402

ERROR_KINDS = ("tool_hallucination", "parameter_hallucination", "missing_required")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="ToolHop- or FTRL-format JSONL (or JSON list)")
    p.add_argument("--setting", choices=["direct", "mandatory", "free"], default="mandatory")
    p.add_argument("--model", default=grpo_agent.EMBEDDED_MODEL,
                   help="HF id, local path, or a run folder of this project")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    p.add_argument("--out", default=None, help="write the result JSON here")
    p.add_argument("--max-turns", type=int, default=9)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--max-episode-tokens", type=int, default=8192)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--batch-size", type=int, default=10, help="episodes played at once")
    p.add_argument("--action-format", choices=["strict", "lenient"], default="strict")
    p.add_argument("--demonstration", action="store_true",
                   help="show the env's one-shot example turns (not in the protocol)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for flag, ok in [("--limit", args.limit is None or args.limit >= 1), ("--max-turns", args.max_turns >= 1),
                     ("--max-new-tokens", args.max_new_tokens >= 1), ("--batch-size", args.batch_size >= 1),
                     ("--temperature", args.temperature >= 0),
                     ("--max-episode-tokens", args.max_episode_tokens > args.max_new_tokens)]:
        if not ok:
            p.error(f"{flag} has an invalid value")
    if not Path(args.data).exists():
        p.error(f"--data: no such file {args.data}")
    return args


def toolhop_correct(answer: str, episode: grpo_agent.Episode) -> bool:
    """The gold answer in the final assistant message or in the tool message just before it."""
    replies = [i for i, line in enumerate(episode.transcript) if line.startswith("[agent] ")]
    if not replies:
        return False
    last = replies[-1]
    before = (episode.transcript[last - 1] if last > 0 and episode.transcript[last - 1].startswith("[observation] ")
              else "")
    return answer_matches(answer, episode.transcript[last][len("[agent] "):],
                          before if "<tool_response>" in before else "")


def summarize(records: list[dict]) -> dict:
    n = len(records)
    calls = sum(r["calls"] for r in records)
    solved = sum(r["solved"] for r in records)
    sub = sum(r["sub_answers"] for r in records)
    out = {
        "n": n, "accuracy": 100 * sum(r["correct"] for r in records) / n if n else 0.0,
        "solve_p": 100 * solved / calls if calls else 0.0, "solve_r": 100 * solved / sub if sub else 0.0,
        "solve_f1": 100 * 2 * solved / (calls + sub) if calls + sub else 0.0, "calls": calls,
        "failed": sum(r["failed"] for r in records), "mean_turns": sum(r["turns"] for r in records) / max(n, 1),
    }
    for kind in ERROR_KINDS:
        out[f"{kind}_rate"] = 100 * sum(r[kind] for r in records) / calls if calls else 0.0
    return out


def evaluate(args) -> dict:
    grpo_agent.seed_everything(args.seed)
    tasks = load_tasks(args.data)[: args.limit]
    model, tokenizer, chat = load_policy(args.model, args.dtype)
    sample = make_sampler(model, tokenizer, chat, args.temperature, args.batch_size)
    run_args = grpo_agent.Args(
        max_new_tokens=args.max_new_tokens, max_episode_tokens=args.max_episode_tokens,
        demonstration=args.demonstration, format_reward=0.0, action_format=args.action_format,
    )
    env_pool = [ToolUseEnv(data=args.data, setting=args.setting, reward="answer", action_format=args.action_format)
                for _ in range(min(args.batch_size, len(tasks)))]
    records, t0 = [], time.perf_counter()
    try:
        for start in range(0, len(tasks), args.batch_size):
            ids = list(range(start, min(start + args.batch_size, len(tasks))))
            episodes = [grpo_agent.Episode(task_id=i, group=i) for i in ids]
            grpo_agent.rollout(sample, chat, env_pool[: len(ids)], episodes, args.max_turns, run_args)
            for env, ep in zip(env_pool, episodes):
                task = tasks[ep.task_id]
                metrics = (env.metrics() if env.task is env.task_list[ep.task_id]
                           else {k: 0 for k in ("calls", "solved", *ERROR_KINDS)})
                records.append({
                    "id": task.id, "scenario": task.scenario, "answer": task.answer,
                    "correct": (not ep.failed) and toolhop_correct(task.answer, ep), "failed": ep.failed,
                    "turns": ep.turns,
                    "tokens": len(ep.token_ids), "calls": metrics["calls"], "solved": metrics["solved"],
                    "sub_answers": task.num_sub_answers, **{k: metrics[k] for k in ERROR_KINDS},
                    "final_reply": next((line[8:] for line in reversed(ep.transcript)
                                         if line.startswith("[agent] ")), "")[:300],
                })
            print(f"{len(records)}/{len(tasks)} tasks, accuracy so far {summarize(records)['accuracy']:.1f}",
                  file=sys.stderr)
    finally:
        for env in env_pool:
            env.close()
    scenarios = sorted({r["scenario"] for r in records})
    return {
        "data": str(args.data), "setting": args.setting, "model": args.model, "temperature": args.temperature,
        "max_turns": args.max_turns, "demonstration": args.demonstration, "action_format": args.action_format,
        "seconds": round(time.perf_counter() - t0, 1), **summarize(records),
        "per_scenario": {s: summarize([r for r in records if r["scenario"] == s]) for s in scenarios},
        "episodes": records,
    }


def markdown(result: dict) -> str:
    cols = ["n", "accuracy", "solve_p", "solve_r", "solve_f1", "tool_hallucination_rate",
            "parameter_hallucination_rate", "missing_required_rate", "mean_turns"]
    lines = [f"ToolHop protocol, setting {result['setting']}, model {result['model']}", "",
             "| scenario | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    rows = [*result["per_scenario"].items(), ("all", result)]
    for name, r in rows:
        lines.append(f"| {name} | " + " | ".join(f"{r[c]:.0f}" if c == "n" else f"{r[c]:.1f}" for c in cols) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = evaluate(args)
    print(markdown(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return result


if __name__ == "__main__":
    main()
