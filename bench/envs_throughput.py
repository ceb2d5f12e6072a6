"""Environment speed: steps per second of every env under its scripted expert and under junk
replies, and WebShop search latency (median, p95) as the catalog grows.

    python bench/envs_throughput.py --out bench/results/envs_throughput.json
    python bench/envs_throughput.py --envs webshop textcraft --catalog-sizes 1000 10000 100000

Goal: WebShop search p95 under 10 ms at 100k products.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs  # noqa: E402

JUNK_REPLIES = ["", "hello", "Action: fly to the moon", "Thought: hmm\nAction: \nAction: x", "\x00\xff" * 50]


def env_steps_per_sec(name: str, episodes: int, max_turns: int) -> dict:
    """Expert episodes on the first test tasks, then as many junk replies; steps/s of each."""
    env = envs.make(name)
    task_ids = envs.tasks(name, "test")[:episodes]
    env.reset(task_ids[0])  # warm-up: shared data, indexes and processes are built on first use
    env.step(env.expert_reply())
    steps, successes, t0 = 0, 0, time.perf_counter()
    for task_id in task_ids:
        env.reset(task_id)
        for _ in range(max_turns):
            _, _, terminated, truncated, info = env.step(env.expert_reply())
            steps += 1
            if terminated or truncated:
                break
        successes += bool(info.get("success"))
    expert_time = time.perf_counter() - t0
    junk_steps, t0 = 0, time.perf_counter()
    for task_id in task_ids:
        env.reset(task_id)
        for reply in JUNK_REPLIES:
            env.step(reply)
            junk_steps += 1
    junk_time = time.perf_counter() - t0
    env.close()
    return {
        "episodes": len(task_ids), "expert_success_rate": successes / max(len(task_ids), 1),
        "expert_steps": steps, "expert_steps_per_sec": steps / expert_time,
        "junk_steps_per_sec": junk_steps / junk_time,
    }


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def webshop_search_latency(num_products: int, queries: int) -> dict:
    from envs.webshop.catalog import get_catalog

    t0 = time.perf_counter()
    catalog = get_catalog(num_products=num_products)
    engine = catalog.search_engine
    build_time = time.perf_counter() - t0
    goals = catalog.goals[:queries]
    latencies = []
    for goal in goals:
        t0 = time.perf_counter()
        engine.search(goal.instruction)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {
        "products": num_products, "build_s": build_time, "queries": len(latencies),
        "median_ms": statistics.median(latencies), "p95_ms": percentile(latencies, 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=[n for n in envs.names() if n != "vowels"], choices=envs.names())
    parser.add_argument("--episodes", type=int, default=10, help="expert episodes per env")
    parser.add_argument("--max-turns", type=int, default=60)
    parser.add_argument("--catalog-sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=500, help="search queries per catalog size")
    parser.add_argument("--out", default="bench/results/envs_throughput.json")
    args = parser.parse_args()

    result = {"envs": {}, "webshop_search": []}
    for name in args.envs:
        result["envs"][name] = env_steps_per_sec(name, args.episodes, args.max_turns)
        print(name, json.dumps(result["envs"][name]), flush=True)
    for size in args.catalog_sizes:
        result["webshop_search"].append(webshop_search_latency(size, args.queries))
        print("webshop search", json.dumps(result["webshop_search"][-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print("| env | expert steps/s | junk steps/s | expert success |\n|---|---|---|---|")
    for name, r in result["envs"].items():
        print(f"| {name} | {r['expert_steps_per_sec']:.0f} | {r['junk_steps_per_sec']:.0f} | "
              f"{r['expert_success_rate']:.2f} |")
    print("| products | search median ms | p95 ms |\n|---|---|---|")
    for r in result["webshop_search"]:
        print(f"| {r['products']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} |")


if __name__ == "__main__":
    main()
