"""BabyAI: follow a language instruction in a partially observed grid world (AgentGym's BabyAI).

The 40 levels are AgentGym's ordered list (agentenv-babyai `all_levels`), run with `minigrid`.
Task id -> level `id % 40 + 1` (1-based, see `LEVELS`), minigrid seed `id // 40`, exactly as
AgentGym's server resets `data_idx`. AgentGym's level 4 is `BabyAI-GoToObjS6-v0`, which minigrid
3.x registers only as `BabyAI-GoToObjS6-v1` (same class, `GoToObj(room_size=6)`); that id is used.

Observation (compact, for small models): the mission (at reset), the objects in the agent's
7x7 view with a number per name and their position relative to the agent ("red ball 1 (2 steps
ahead, 1 step right)"), the nearest wall ahead / to the left / to the right when in view, what
is carried, and the high-level actions available now.

High-level actions (AgentGym's), each planned into primitive minigrid actions by breadth-first
search over (cell, direction) on the *known grid*, i.e. the cells the agent sees now (unseen,
blocked or out-of-view cells are never entered):

    turn left | turn right | move forward          one primitive action
    go to <object> <n>                             walk to the object (or door) and face it
    pickup <object> <n>                            go to a key / ball / box and pick it up
    go through <open door> <n>                     walk onto the doorway, then one step further
    toggle and go through <closed door> <n>        go to a closed door (or a locked one while
                                                   carrying its key), open it, walk through
    toggle                                         toggle the door or box right in front
    drop                                           drop the carried object in front
    check available actions                        list the actions (no time passes)

Objects are named "<colour> <type>" (ball, key, box) and doors "<colour> <state> door" (state
open / closed / locked), numbered per name by distance (then left to right), as AgentGym does.
Differences from AgentGym, on purpose: "move forward" is offered only when the cell ahead can
be entered (AgentGym only checked walls and boxes); "go through" ends one step past the door
(AgentGym stops on the doorway) so the next room is in view; a macro stops early if the episode
ends; an action that is not available gets an explanation and the list, never a silent no-op.
The mission text is shown verbatim (AgentGym rewrote "then" / "after you" as "and", which
changes the meaning of ordered missions).

Reward is minigrid's, 1 - 0.9 * steps / max_steps on success (steps = primitive actions),
summed over the turn's primitive actions and accumulated in `info["score"]`; the episode is
terminated when minigrid terminates it (success, or failure in the "Debug" strict levels) and
truncated when minigrid's primitive-step budget runs out.

Tiers (level families, by minigrid module): 1 = GoTo* (levels 1-11); 2 = Open*, Pickup*,
PutNext*, Unlock* (levels 12-29); 3 = ActionObjDoor, FindObj, KeyCorridor, OneRoom,
MoveTwoAcross, Synth*, *Boss* (levels 30-40).

Splits. test: the published 90 tasks by category, GoTo 55 (levels 1-11, 5 seeds each),
Pickup 15 (levels 17-21 = Pickup, UnblockPickup, PickupLoc, PickupDistDebug, PickupAbove,
3 seeds each), ActionObjDoor 5, FindObjS7 5, OneRoomS20 5, SynthLoc 5; the seeds are the
smallest ones (from 0) of each level. AgentGym's own test ids are not published with its code,
so the choice of levels within the GoTo and Pickup categories and of seeds is ours (documented
here, fixed). train: every task id with seed < TRAIN_SEEDS (all 40 levels) that is not a test
id (3,910 ids).

Expert (`expert_action`): a planner with privileged access to the full grid and to minigrid's
instruction verifier (`instrs`), written here (minigrid's `BabyAIBot` is not used: it plans
primitive actions with internal state that has to see every primitive step, it fails on
PutNext*Carrying and KeyInBox, and it loops forever where a task is impossible). It decomposes
the mission into its atomic instructions (go to / pick up / open / put next, in the order
Before/After/And require), finds what stands in the way (a locked door: fetch its key, from a
box if need be, and unlock it; objects blocking the only path or every cell beside a put-next
target: pick one up and drop it where it blocks nothing; a full hand: drop), computes the
primitive-step distance to the current subgoal over the full grid (Dijkstra over cell x
direction; a closed door costs a toggle) and returns the available high-level action that makes
the most progress along a shortest path (at most 2 primitive steps of detour), else the first
primitive of a shortest path. It re-plans from the current state at every call (only the place
it chose to drop the carried object is remembered), so it can take over mid-episode. It solves
all 90 test tasks within 20 turns (at most 18). On seeds 0-49 of every level (2,000 tasks) it
fails only where minigrid 3.2.0 makes the task impossible for any agent: OpenDoorsOrderN4Debug
with two doors (the strict verifier re-checks the second door with the toggle that opened the
first one, and fails), GoToImpUnlock seeds 6, 14 and 35 (the only key of the locked door is
generated inside the locked room: minigrid compares numpy ints with `is`) and PickupDistDebug
seed 36 (the target is walled in by other objects, and picking one up fails the strict level).

Layout: `levels` (the 40 levels, task ids, tiers, test categories, splits), `view` (what the agent
sees and the high-level actions, planned over the known grid), `expert` (the scripted expert's
planner over the full grid) and `env` (`BabyAIEnv`, which combines them). Every public name is
re-exported here.
"""

from envs.babyai.env import INSTRUCTIONS, BabyAIEnv
from envs.babyai.expert import EXPERT_SLACK, INF
from envs.babyai.levels import (
    LEVELS,
    MAX_SEED,
    NUM_LEVELS,
    TEST_IDS,
    TEST_LEVELS,
    TEST_SKIP,
    TIER_LEVELS,
    TRAIN_IDS,
    TRAIN_SEEDS,
    category_of,
    level_of,
    task_of,
    tier_of,
)
from envs.babyai.view import CARRYABLE, CHECK, DIRS, DROP, FORWARD, LEFT, PICKUP, RIGHT, TOGGLE, Macro, Thing

__all__ = [
    "CARRYABLE", "CHECK", "DIRS", "DROP", "EXPERT_SLACK", "FORWARD", "INF", "INSTRUCTIONS", "LEFT", "LEVELS",
    "MAX_SEED", "NUM_LEVELS", "PICKUP", "RIGHT", "TEST_IDS", "TEST_LEVELS", "TEST_SKIP", "TIER_LEVELS", "TOGGLE",
    "TRAIN_IDS", "TRAIN_SEEDS", "BabyAIEnv", "Macro", "Thing", "category_of", "level_of", "task_of", "tier_of",
]
