"""BabyAI's levels (AgentGym's 40, in order), task ids, tiers, test categories and the splits.

See the package docstring (`envs.babyai`) for how task ids map to levels and seeds.
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = (
    "BabyAI-GoToRedBallGrey-v0",        # 1
    "BabyAI-GoToRedBall-v0",
    "BabyAI-GoToRedBallNoDists-v0",
    "BabyAI-GoToObjS6-v1",              # AgentGym: BabyAI-GoToObjS6-v0 (not registered in minigrid 3.x)
    "BabyAI-GoToLocalS8N7-v0",          # 5
    "BabyAI-GoToObjMazeS7-v0",
    "BabyAI-GoToImpUnlock-v0",
    "BabyAI-GoToSeqS5R2-v0",
    "BabyAI-GoToRedBlueBall-v0",
    "BabyAI-GoToDoor-v0",               # 10
    "BabyAI-GoToObjDoor-v0",
    "BabyAI-Open-v0",
    "BabyAI-OpenRedDoor-v0",
    "BabyAI-OpenDoorLoc-v0",
    "BabyAI-OpenRedBlueDoorsDebug-v0",  # 15
    "BabyAI-OpenDoorsOrderN4Debug-v0",
    "BabyAI-Pickup-v0",
    "BabyAI-UnblockPickup-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDistDebug-v0",        # 20
    "BabyAI-PickupAbove-v0",
    "BabyAI-PutNextLocalS6N4-v0",
    "BabyAI-PutNextS7N4Carrying-v0",
    "BabyAI-Unlock-v0",
    "BabyAI-UnlockLocalDist-v0",        # 25
    "BabyAI-KeyInBox-v0",
    "BabyAI-UnlockPickupDist-v0",
    "BabyAI-BlockedUnlockPickup-v0",
    "BabyAI-UnlockToUnlock-v0",
    "BabyAI-ActionObjDoor-v0",          # 30
    "BabyAI-FindObjS7-v0",
    "BabyAI-KeyCorridorS6R3-v0",
    "BabyAI-OneRoomS20-v0",
    "BabyAI-MoveTwoAcrossS8N9-v0",
    "BabyAI-SynthS5R2-v0",              # 35
    "BabyAI-SynthLoc-v0",
    "BabyAI-SynthSeq-v0",
    "BabyAI-MiniBossLevel-v0",
    "BabyAI-BossLevel-v0",
    "BabyAI-BossLevelNoUnlock-v0",      # 40
)
"""AgentGym's 40 levels in order; task id `i` plays level `LEVELS[i % 40]` (level number i % 40 + 1)."""

NUM_LEVELS = len(LEVELS)
TIER_LEVELS = {1: range(1, 12), 2: range(12, 30), 3: range(30, 41)}
"""Tier -> level numbers: 1 GoTo family, 2 Open/Pickup/PutNext/Unlock, 3 composite levels."""
TEST_LEVELS: dict[str, tuple[tuple[int, ...], int]] = {
    "GoTo": (tuple(range(1, 12)), 5),
    "Pickup": ((17, 18, 19, 20, 21), 3),
    "ActionObjDoor": ((30,), 5),
    "FindObjS7": ((31,), 5),
    "OneRoomS20": ((33,), 5),
    "SynthLoc": ((36,), 5),
}
"""Published test categories: category -> (level numbers, seeds per level). 55+15+5+5+5+5 = 90."""
TEST_SKIP: dict[int, tuple[int, ...]] = {}
"""Seeds left out of the test split per level (none needed: the expert solves seeds 0..4 of all test levels)."""
TRAIN_SEEDS = 100
"""The train split is every task id with seed < TRAIN_SEEDS that is not a test id."""
MAX_SEED = 2**31
"""Task ids go up to 40 * MAX_SEED (exclusive)."""


def level_of(task_id: int) -> tuple[int, int]:
    """Task id -> (level number 1..40, minigrid seed), as AgentGym's server does."""
    return task_id % NUM_LEVELS + 1, task_id // NUM_LEVELS


def task_of(level: int, seed: int) -> int:
    """(level number 1..40, seed) -> task id."""
    return seed * NUM_LEVELS + level - 1


def tier_of(level: int) -> int:
    return next(t for t, levels in TIER_LEVELS.items() if level in levels)


def category_of(level: int) -> str | None:
    """The published test category of a level (None for levels outside the test split)."""
    return next((c for c, (levels, _) in TEST_LEVELS.items() if level in levels), None)


def _test_ids() -> tuple[int, ...]:
    ids = []
    for levels, per_level in TEST_LEVELS.values():
        for level in levels:
            seeds = [s for s in range(per_level + len(TEST_SKIP.get(level, ()))) if s not in TEST_SKIP.get(level, ())]
            ids += [task_of(level, s) for s in seeds[:per_level]]
    return tuple(sorted(ids))


TEST_IDS: tuple[int, ...] = _test_ids()
TRAIN_IDS: tuple[int, ...] = tuple(i for i in range(TRAIN_SEEDS * NUM_LEVELS) if i not in set(TEST_IDS))
