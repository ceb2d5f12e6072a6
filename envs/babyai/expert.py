"""BabyAI's scripted expert: a planner with privileged access to the full grid (a mixin of `BabyAIEnv`).

See the package docstring (`envs.babyai`) for the method and what it solves.
"""

from __future__ import annotations

import heapq

from envs.babyai.view import CARRYABLE, CHECK, DIRS

EXPERT_SLACK = 2
"""Primitive steps of detour the expert accepts from a high-level action (fewer turns, slightly longer paths)."""
INF = float("inf")


class BabyAIExpert:
    """`expert_action` and its planner (a mixin of `BabyAIEnv`; it reads the env's minigrid level
    `env`, its view `_things` / `_actions`, and keeps `_memo`, `_avoid` and `_drop_choice`)."""

    # -- scripted expert ---------------------------------------------------------------------

    def expert_action(self) -> str:
        """The next high-level command of a scripted expert with full knowledge of the grid.

        See the package docstring (`envs.babyai`) for the method. Returns an available action, or
        "check available actions" once the episode is over or when it finds no plan.
        """
        if self.env is None:
            raise RuntimeError("call reset(task_id) before expert_action()")
        if self.done:
            return CHECK
        self._memo = {}
        atoms = self._atoms(self.env.instrs)
        self._avoid = set()  # cells the current put-next instruction needs free
        if atoms and type(atoms[0]).__name__ == "PutNextInstr":
            self._avoid = {(int(x) + dx, int(y) + dy) for x, y in atoms[0].desc_fixed.obj_poss for dx, dy in DIRS}
        goal = self._expert_subgoal()
        if goal is None:
            return CHECK
        goals, interaction, targets = goal
        return self._expert_choose(goals, interaction, targets)

    # The expert plans over states (x, y, dir). `goals` is a set of states; `interaction` what to do
    # there: "pickup" / "toggle" / "drop", or None for "go to" (facing is the goal).

    def _state(self) -> tuple[int, int, int]:
        env = self.env
        return int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)

    def _enter_cost(self, x: int, y: int, relaxed: bool, use_key: bool, freed: frozenset = frozenset(),
                    sealed: frozenset = frozenset()) -> float:
        """Primitive steps to enter cell (x, y); see `_cost_grid`."""
        cost = self._cost_grid(relaxed, use_key, freed, sealed)
        return cost[x][y] if 0 <= x < len(cost) and 0 <= y < len(cost[0]) else INF

    def _cost_grid(self, relaxed: bool, use_key: bool, freed: frozenset, sealed: frozenset = frozenset()
                   ) -> list[list[float]]:
        """cost[x][y] = primitive steps to enter the cell: 1 when free or an open door, 2 for a
        closed door (toggle + forward) or a locked one while carrying its key (if `use_key`),
        INF for walls, objects and other locked doors. `relaxed` lets a path run through locked
        doors (20) and objects (40) so that the obstacle to remove can be found; `freed` cells
        count as empty (objects an earlier leg of the plan picks up), `sealed` cells as walls (the
        locked door whose key is being fetched). Cached for one expert call."""
        memo_key = (relaxed, use_key, freed, sealed)
        if memo_key in self._memo:
            return self._memo[memo_key]
        grid = self.env.grid
        w, h = grid.width, grid.height
        carrying = self.env.carrying
        key_color = carrying.color if use_key and carrying is not None and carrying.type == "key" else None
        locked = 20 if relaxed else INF
        obj = 40 if relaxed and not self._strict_pickup else INF
        cost = [[INF] * h for _ in range(w)]
        for i, c in enumerate(grid.grid):
            if c is None:
                v = 1
            elif c.type == "door":
                if c.is_open:
                    v = 1
                elif self._strict_open:
                    v = INF  # in a strict level, opening a door that is not the goal fails the episode
                elif not c.is_locked or c.color == key_color:
                    v = 2
                else:
                    v = locked
            elif c.type in CARRYABLE:
                v = obj
            else:
                v = INF
            cost[i % w][i // w] = v
        for x, y in freed:
            cost[x][y] = 1
        for x, y in sealed:
            cost[x][y] = INF
        cost[int(self.env.agent_pos[0])][int(self.env.agent_pos[1])] = 1
        self._memo[memo_key] = cost
        return cost

    def _distances(self, goals: set, relaxed: bool = False, use_key: bool = True,
                   freed: frozenset = frozenset(), stop=None, sealed: frozenset = frozenset()) -> dict:
        """Dijkstra backwards from `goals`: state -> primitive steps to reach a goal state.
        With `stop`, it ends once a state of `stop` is settled (the states it holds are then
        exactly those at most that far away)."""
        cost = self._cost_grid(relaxed, use_key, freed, sealed)
        w, h = len(cost), len(cost[0])
        dist: dict[tuple[int, int, int], float] = {}
        heap = [(0, g) for g in goals if cost[g[0]][g[1]] < INF]
        heapq.heapify(heap)
        while heap:
            d, s = heapq.heappop(heap)
            if s in dist:
                continue
            dist[s] = d
            if stop is not None and s in stop:
                break
            x, y, k = s
            for pk in ((k + 1) % 4, (k - 1) % 4):
                if (x, y, pk) not in dist:
                    heapq.heappush(heap, (d + 1, (x, y, pk)))
            px, py = x - DIRS[k][0], y - DIRS[k][1]
            if 0 <= px < w and 0 <= py < h and cost[px][py] < INF and (px, py, k) not in dist:
                heapq.heappush(heap, (d + cost[x][y], (px, py, k)))
        return dist

    def _facing(self, cells) -> set:
        """States (x, y, dir) whose front cell is one of `cells` (the stand cell may be anything)."""
        out = set()
        grid = self.env.grid
        for cx, cy in cells:
            for k, (dx, dy) in enumerate(DIRS):
                x, y = cx - dx, cy - dy
                if 0 <= x < grid.width and 0 <= y < grid.height:
                    out.add((x, y, k))
        return out

    def _follow(self, dist: dict, state, relaxed: bool, use_key: bool, freed: frozenset = frozenset(),
                sealed: frozenset = frozenset()) -> list:
        """The cells entered along a shortest path from `state` (distances from `_distances`
        with the same `relaxed`, `use_key`, `freed`, `sealed`)."""
        cells = []
        for _ in range(10_000):
            d = dist.get(state)
            if not d:
                break
            x, y, k = state
            nx, ny = x + DIRS[k][0], y + DIRS[k][1]
            fwd = (nx, ny, k)
            if fwd in dist and dist[fwd] + self._enter_cost(nx, ny, relaxed, use_key, freed, sealed) == d:
                cells.append((nx, ny))
                state = fwd
                continue
            state = next((s for s in ((x, y, (k - 1) % 4), (x, y, (k + 1) % 4)) if dist.get(s, INF) + 1 == d), None)
            if state is None:
                break
        return cells

    def _first_obstacle(self, path: list, freed: frozenset = frozenset()) -> tuple[int, int] | None:
        """The first cell of a relaxed path that is an obstacle (a locked door or an object)."""
        return next((c for c in path if self._enter_cost(*c, False, False, freed) == INF), None)

    @classmethod
    def _atoms(cls, instr, pending_only: bool = True) -> list:
        """Atomic instructions in the order they must be done (only those not yet done)."""
        kind = type(instr).__name__
        if kind in ("BeforeInstr", "AndInstr"):
            a = [] if pending_only and instr.a_done == "success" else cls._atoms(instr.instr_a, pending_only)
            b = [] if pending_only and instr.b_done == "success" else cls._atoms(instr.instr_b, pending_only)
            return a + b
        if kind == "AfterInstr":
            b = [] if pending_only and instr.b_done == "success" else cls._atoms(instr.instr_b, pending_only)
            a = [] if pending_only and instr.a_done == "success" else cls._atoms(instr.instr_a, pending_only)
            return b + a
        return [instr]

    def _where(self) -> dict[int, tuple[int, int]]:
        """id(object) -> its cell, for every object on the grid (cur_pos is not reliable: an
        object revealed by opening a box has none)."""
        grid = self.env.grid
        return {id(c): (i % grid.width, i // grid.width) for i, c in enumerate(grid.grid) if c is not None}

    def _on_grid(self, objs) -> list[tuple[object, tuple[int, int]]]:
        """The objects of `objs` lying on the grid (not carried), with their cells."""
        where = self._where()
        return [(o, where[id(o)]) for o in objs if id(o) in where]

    def _drop_cells(self) -> list[set]:
        """Empty cells to drop an object on, best first: (1) cells where it blocks nothing: not
        beside a door, and the free cells around stay connected (the local test of minigrid's
        bot); (2) any cell not beside a door; (3) any empty cell."""
        grid = self.env.grid
        agent = tuple(int(v) for v in self.env.agent_pos)
        ring = ((-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0))
        good, fair, empty = set(), set(), set()
        for x in range(1, grid.width - 1):
            for y in range(1, grid.height - 1):
                if grid.get(x, y) is not None:
                    continue
                empty.add((x, y))  # the agent's own cell too: it can step off and drop there
                near = [grid.get(x + dx, y + dy) for dx, dy in DIRS]
                if any(c is not None and c.type == "door" for c in near):
                    continue
                fair.add((x, y))
                kinds = []
                for dx, dy in ring:
                    c = grid.get(x + dx, y + dy)
                    kinds.append(0 if c is None or (x + dx, y + dy) == agent or (c.type == "door" and c.is_open)
                                 else 1 if c.type == "wall" else 2)
                if sum(bool(kinds[i]) != bool(kinds[(i + 1) % 8]) for i in range(8)) > 2:
                    continue
                if any(kinds[i] == 2 and kinds[i - 1] != 0 and kinds[(i + 1) % 8] != 0 for i in range(8)):
                    continue
                good.add((x, y))
        return [good, fair, empty]

    def _drop_goal(self, path: set = frozenset()):
        """Go and drop the carried object on the best reachable drop cell, off the `path` about
        to be taken and not where the current put-next instruction has to drop its object
        (as a last resort, on any reachable empty cell). The choice is kept while the same
        object is carried, so that the expert does not waver between drop places."""
        here = self._state()
        carried = id(self.env.carrying)
        if self._drop_choice is not None and self._drop_choice[0] == carried:
            cells = {c for c in self._drop_choice[1] if self.env.grid.get(*c) is None}
            goals = self._facing(cells)
            if goals and self._distances(goals, stop={here}).get(here, INF) < INF:
                return goals, "drop", None
        tiers = self._drop_cells()
        for cells in [c - self._avoid - path for c in tiers] + [tiers[-1] - path, tiers[-1]]:
            goals = self._facing(cells)
            if goals and self._distances(goals, stop={here}).get(here, INF) < INF:
                self._drop_choice = (carried, frozenset(cells))
                return goals, "drop", None
        return None

    def _key_legs(self, color: str):
        """Where to get a key of `color`: pick one up, or open a box that holds one."""
        objs = self._on_grid(c for c in self.env.grid.grid if c is not None and c.type in CARRYABLE)
        keys = {p for o, p in objs if o.type == "key" and o.color == color}
        if keys:
            return self._facing(keys), "pickup", keys
        boxes = {p for o, p in objs if o.type == "box" and o.contains is not None
                 and o.contains.type == "key" and o.contains.color == color}
        if boxes:
            return self._facing(boxes), "toggle", boxes
        return None

    def _legs(self, instr) -> list | None:
        """The atomic instruction as legs (goal states, interaction, target cells), in order."""
        kind = type(instr).__name__
        carrying = self.env.carrying
        if kind == "GoToInstr":
            cells = {(int(x), int(y)) for x, y in instr.desc.obj_poss}
            return [(self._facing(cells), None, cells)]
        if kind == "PickupInstr":
            cells = {p for _, p in self._on_grid(instr.desc.obj_set)}
            if not cells:
                return None  # the only matching object is carried: drop it, then pick it up again
            return [(self._facing(cells), "pickup", cells)]
        if kind == "OpenInstr":
            doors = self._on_grid(instr.desc.obj_set)
            usable = {p for d, p in doors if not d.is_locked or (carrying is not None and carrying.type == "key"
                                                                 and carrying.color == d.color)}
            if usable:
                return [(self._facing(usable), "toggle", usable)]
            if not doors:
                return None
            # every matching door is locked: fetch the key of the closest one, then open it
            here = self._state()
            door, pos = min(doors, key=lambda dp: (self._distances(self._facing([dp[1]]), relaxed=True, use_key=False,
                                                                   stop={here}).get(here, INF), dp[1]))
            key_leg = self._key_legs(door.color)
            cells = {pos}
            return ([key_leg] if key_leg else []) + [(self._facing(cells), "toggle", cells)]
        if kind == "PutNextInstr":
            fixed = {(int(x), int(y)) for x, y in instr.desc_fixed.obj_poss}
            grid = self.env.grid
            beside = {(x + dx, y + dy) for x, y in fixed for dx, dy in DIRS
                      if 0 <= x + dx < grid.width and 0 <= y + dy < grid.height}
            spots = {c for c in beside if grid.get(*c) is None}
            cells = {p for _, p in self._on_grid(instr.desc_move.obj_set)}
            if not spots:  # every cell beside the fixed objects is taken: move one of the objects there
                blockers = {c for c in beside - cells if grid.get(*c) is not None and grid.get(*c).type in CARRYABLE}
                return [(self._facing(blockers), "pickup", blockers)] if blockers else None
            drop_leg = (self._facing(spots), "drop", spots)
            if carrying is not None and any(carrying is o for o in instr.desc_move.obj_set):
                return [drop_leg]
            # prefer objects from which the drop spots can be reached without unlocking or unblocking
            onward = self._distances(drop_leg[0], use_key=False, freed=frozenset(cells))
            usable = {c for c in cells if any(onward.get(s, INF) < INF for s in self._facing([c]))}
            cells = usable or cells
            return [(self._facing(cells), "pickup", cells), drop_leg]
        return None

    def _expert_subgoal(self, legs=None, depth: int = 0, sealed: frozenset = frozenset()):
        carrying = self.env.carrying
        if legs is None:
            atoms = self._atoms(self.env.instrs)
            if not atoms:
                return None
            legs = self._legs(atoms[0])
            if legs is None:
                return self._drop_goal() if carrying is not None else None
        if not legs or depth > 6:
            return None
        starts, freed = {self._state()}, frozenset()
        for goals, interaction, cells in legs:
            dist = self._distances(goals, use_key=False, freed=freed, stop=starts if len(starts) == 1 else None)
            if min((dist.get(s, INF) for s in starts), default=INF) < INF:
                starts = {g for g in goals if g in dist}
                if interaction in ("pickup", "toggle") and cells:  # the object (or box) will be gone
                    grid = self.env.grid
                    freed |= {c for c in cells if grid.get(*c) is not None and grid.get(*c).type in CARRYABLE}
                continue
            relaxed = self._distances(goals, relaxed=True, use_key=False, freed=freed,
                                      stop=starts if len(starts) == 1 else None, sealed=sealed)
            start = min(starts, key=lambda s: (relaxed.get(s, INF), s))
            if relaxed.get(start, INF) == INF:
                return None
            path = self._follow(relaxed, start, True, False, freed, sealed)
            obstacle = self._first_obstacle(path, freed)
            if obstacle is None:
                return None
            cell = self.env.grid.get(*obstacle)
            if cell.type == "door":  # locked door in the way
                if carrying is not None and carrying.type == "key" and carrying.color == cell.color:
                    return self._expert_subgoal([(self._facing([obstacle]), "toggle", {obstacle})], depth + 1, sealed)
                # fetch its key; the key may itself lie behind a door the carried key opens, so
                # whether to drop what is carried is decided where the key is picked up
                key_leg = self._key_legs(cell.color)
                # (not through this very door)
                return self._expert_subgoal([key_leg], depth + 1, sealed | {obstacle}) if key_leg else None
            if carrying is not None:  # an object in the way: hands must be free to move it
                return self._drop_goal(set(path))
            return self._expert_subgoal([(self._facing([obstacle]), "pickup", {obstacle})], depth + 1, sealed)
        goals, interaction, cells = legs[0]
        if interaction == "pickup" and carrying is not None:  # drop it off the way to the object
            here = self._state()
            return self._drop_goal(set(self._follow(self._distances(goals, stop={here}), here, False, True)))
        return goals, interaction, cells

    def _expert_choose(self, goals: set, interaction: str | None, targets) -> str:
        state = self._state()
        env = self.env
        acts = self._actions
        front = tuple(int(v) for v in env.front_pos)
        if state in goals:
            thing = next((t for t in self._things if t.pos == front), None)
            if interaction == "pickup" and thing is not None and f"pickup {thing.label}" in acts:
                return f"pickup {thing.label}"
            if interaction in ("toggle", "drop") and interaction in acts:
                return interaction
            if interaction is None:
                return f"go to {thing.label}" if thing is not None and f"go to {thing.label}" in acts else "turn left"
        dist = self._distances(goals, stop={state})
        here = dist.get(state, INF)
        if here == INF:
            return CHECK
        finishing, best = [], None
        for text, m in acts.items():
            if m.end is None or m.kind in ("check", "drop", "toggle"):
                continue
            if m.kind == "toggle_through" and self._strict_open and (targets is None or m.thing.pos not in targets):
                continue
            on_target = m.thing is not None and m.thing.pos in (targets or ())
            if m.kind == "pickup":
                if interaction == "pickup" and on_target:
                    finishing.append((len(m.prims), text))
                continue
            if on_target and ((m.kind == "goto" and interaction is None)
                              or (m.kind == "toggle_through" and interaction == "toggle")):
                finishing.append((len(m.prims), text))
                continue
            progress = here - dist.get(m.end, INF)
            waste = len(m.prims) - progress
            if progress >= 1 and waste <= EXPERT_SLACK:
                key = (-progress, len(m.prims))
                if best is None or key < best[0]:
                    best = (key, text)
        if finishing:
            return min(finishing)[1]
        if best is not None:
            return best[1]
        # a primitive step along a shortest path
        x, y, k = state
        nx, ny = x + DIRS[k][0], y + DIRS[k][1]
        cost = self._enter_cost(nx, ny, False, True)
        if dist.get((nx, ny, k), INF) + cost == here:
            cell = env.grid.get(nx, ny)
            if cell is not None and cell.type == "door" and not cell.is_open and "toggle" in acts:
                return "toggle"
            if "move forward" in acts:
                return "move forward"
        if dist.get((x, y, (k - 1) % 4), INF) + 1 == here:
            return "turn left"
        return "turn right"
