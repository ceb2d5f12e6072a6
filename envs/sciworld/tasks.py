"""SciWorld task items, families (tiers) and the train/test split, without starting a JVM.

Items are every (task, variation) pair of ScienceWorld except the tasks AgentGym excludes
(5-1, 5-2 grow plant/fruit, 9-1..9-3 inclined planes, 10-1, 10-2 Mendelian genetics), in
ScienceWorld's task-id order (1-1, 1-2, ..., 8-2) and then variation order, exactly as
AgentGym's SciWorld server enumerates them: item id `i` here is AgentGym's `data_idx` `i`.
The number of variations per task comes from `task_table.json`, generated once from the
package (`python -m envs.sciworld.tasks` regenerates it; a test checks it against the jar).

Tiers are task families; 1-5 are the five categories of the published test split:

    tier  family              ScienceWorld tasks                                   test items
    1     Measure             2-2, 2-3 measure-melting-point-(un)known-substance   53
    2     Test-Conductivity   3-3, 3-4 test-conductivity(-of-unknown-substances)    83
    3     Find                4-1..4-4 find-living/non-living-thing, plant, animal  44
    4     Chem-Mix            6-1..6-3 chemistry-mix(-paint-secondary/tertiary)     5
    5     Lifespan            7-1..7-3 lifespan-longest/shortest-lived(-then-...)   15
    6     Matter              1-1..1-4 boil, melt, freeze, change-the-state-of...   0
    7     Thermometer         2-1 use-thermometer                                   0
    8     Circuits            3-1, 3-2 power-component(-renewable-vs-...)           0
    9     Life-Stages         8-1, 8-2 identify-life-stages-1/2                     0

Test split (200 items): each category's count is shared among its tasks in proportion to the
size of their ScienceWorld test-variation range (the simulator's own held-out last quarter of
variations), largest remainder first; within a task the variations are taken in the order of a
SHA-256 hash of "sciworld-test:<task>:<variation>", so the choice is the same on every machine
and does not depend on an RNG implementation. Train = every other item (4,439).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
from dataclasses import dataclass
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("task_table.json")
EXCLUDED_TASKS = ("5-1", "5-2", "9-1", "9-2", "9-3", "10-1", "10-2")
"""ScienceWorld task ids AgentGym leaves out (as published)."""

FAMILIES: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("Measure", ("2-2", "2-3")),
    2: ("Test-Conductivity", ("3-3", "3-4")),
    3: ("Find", ("4-1", "4-2", "4-3", "4-4")),
    4: ("Chem-Mix", ("6-1", "6-2", "6-3")),
    5: ("Lifespan", ("7-1", "7-2", "7-3")),
    6: ("Matter", ("1-1", "1-2", "1-3", "1-4")),
    7: ("Thermometer", ("2-1",)),
    8: ("Circuits", ("3-1", "3-2")),
    9: ("Life-Stages", ("8-1", "8-2")),
}
"""Tier number -> (family name, ScienceWorld task ids)."""
TEST_COUNTS = {1: 53, 2: 83, 3: 44, 4: 5, 5: 15}
"""Published test split: items per category (tier)."""


@dataclass(frozen=True)
class TaskItem:
    task_id: int  # the env's task id (index into `items()`)
    sw_id: str  # ScienceWorld's task id, e.g. "2-2"
    task_name: str  # ScienceWorld's task name, e.g. "measure-melting-point-known-substance"
    variation: int
    tier: int
    family: str


def _sw_key(sw_id: str) -> tuple[int, int]:
    major, minor = sw_id.split("-")
    return int(major), int(minor)


@functools.lru_cache(maxsize=1)
def task_table() -> dict:
    """The shipped table: ScienceWorld's 30 tasks with their variation counts and test ranges."""
    with open(TABLE_PATH, encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=1)
def _tier_of() -> dict[str, int]:
    return {sw: tier for tier, (_, sws) in FAMILIES.items() for sw in sws}


@functools.lru_cache(maxsize=1)
def items() -> tuple[TaskItem, ...]:
    """Every item, in task-id order: (task 1-1, variations 0..n-1), (task 1-2, ...), ..."""
    tier_of = _tier_of()
    out: list[TaskItem] = []
    for task in sorted(task_table()["tasks"], key=lambda t: _sw_key(t["id"])):
        if task["id"] in EXCLUDED_TASKS:
            continue
        tier = tier_of[task["id"]]
        for v in range(task["variations"]):
            out.append(TaskItem(len(out), task["id"], task["name"], v, tier, FAMILIES[tier][0]))
    return tuple(out)


def item(task_id) -> TaskItem:
    """The item of a task id; ValueError for anything that is not a valid id."""
    all_items = items()
    try:
        idx = None if isinstance(task_id, bool) else operator.index(task_id)
    except TypeError:
        idx = None
    if idx is None or not 0 <= idx < len(all_items):
        raise ValueError(f"SciWorld task id must be an integer in [0, {len(all_items)}), got {task_id!r}")
    return all_items[idx]


def _rank(task_name: str, variation: int) -> str:
    return hashlib.sha256(f"sciworld-test:{task_name}:{variation}".encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def splits() -> dict[str, tuple[int, ...]]:
    """{"train": ids, "test": ids}, both sorted (see the module docstring for the rule)."""
    by_sw = {t["id"]: t for t in task_table()["tasks"]}
    first_id: dict[str, int] = {}
    for it in items():
        first_id.setdefault(it.sw_id, it.task_id)
    test: list[int] = []
    for tier, count in TEST_COUNTS.items():
        sws = FAMILIES[tier][1]
        pools = {sw: range(*by_sw[sw]["test_variations"]) for sw in sws}
        total = sum(len(p) for p in pools.values())
        quota = {sw: count * len(pools[sw]) / total for sw in sws}
        take = {sw: math.floor(q) for sw, q in quota.items()}
        for sw in sorted(sws, key=lambda s: (-(quota[s] - take[s]), _sw_key(s)))[: count - sum(take.values())]:
            take[sw] += 1
        for sw in sws:
            name = by_sw[sw]["name"]
            chosen = sorted(pools[sw], key=lambda v: _rank(name, v))[: take[sw]]
            test += [first_id[sw] + v for v in chosen]
    test_set = set(test)
    return {"train": tuple(i for i in range(len(items())) if i not in test_set), "test": tuple(sorted(test))}


def check_tier(tier) -> int | None:
    if tier is None:
        return None
    try:
        t = None if isinstance(tier, bool) else operator.index(tier)
    except TypeError:
        t = None
    if t not in FAMILIES:
        names = ", ".join(f"{k} {v[0]}" for k, v in FAMILIES.items())
        raise ValueError(f"SciWorld tier is a task family number ({names}); got {tier!r}")
    return t


# ------------------------------------------------------------------ (re)generating the table


def package_task_table(world) -> dict:
    """The table as the installed package's jar reports it (needs a `jvm.World`)."""
    import scienceworld
    from scienceworld.constants import TASKS

    jar_names = set(world.call("getTaskNames"))
    tasks = []
    for meta in sorted(TASKS, key=lambda t: _sw_key(t["task_id"])):
        name = meta["task_name"]
        if name not in jar_names:
            raise RuntimeError(f"task {name!r} of tasks.json is unknown to the jar")
        n = int(world.call("getTaskMaxVariations", name))
        world.load(name, 0)
        test = [int(v) for v in world.call("getVariationsTest")]
        if test != list(range(test[0], test[-1] + 1)):
            raise RuntimeError(f"test variations of {name} are not one range")
        tasks.append({"id": meta["task_id"], "name": name, "topic": meta["topic"], "title": meta["task"],
                      "variations": n, "test_variations": [test[0], test[-1] + 1],
                      "excluded": meta["task_id"] in EXCLUDED_TASKS})
    return {"scienceworld_version": scienceworld.__version__, "tasks": tasks}


def format_table(table: dict) -> str:
    """The JSON text of a table, one task per line."""
    rows = ",\n".join("  " + json.dumps(t) for t in table["tasks"])
    return f'{{\n "scienceworld_version": {json.dumps(table["scienceworld_version"])},\n "tasks": [\n{rows}\n ]\n}}\n'


def main() -> None:
    from envs.sciworld.jvm import shared_jvm

    world = shared_jvm().new_world()
    table = package_task_table(world)
    world.close()
    TABLE_PATH.write_text(format_table(table), encoding="utf-8")
    kept = [t for t in table["tasks"] if not t["excluded"]]
    print(f"wrote {TABLE_PATH}: {len(table['tasks'])} tasks, {len(kept)} kept, "
          f"{sum(t['variations'] for t in kept)} items")


if __name__ == "__main__":
    main()
