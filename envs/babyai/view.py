"""What the BabyAI agent sees and can do: the text view of the grid and the high-level actions.

`BabyAIView` is a mixin of `BabyAIEnv`: from the minigrid level in `self.env` it computes the
visible cells, the objects in view (`Thing`s, numbered per name by distance), the observation
text, and the available high-level actions (`Macro`s) planned into primitive actions by
breadth-first search over the known grid; it also explains why an action is not available.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

# minigrid primitive actions and directions (agent_dir 0..3 = +x, +y, -x, -y)
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5
DIRS = ((1, 0), (0, 1), (-1, 0), (0, -1))
CARRYABLE = ("key", "ball", "box")

CHECK = "check available actions"


@dataclass(frozen=True)
class Thing:
    """An object or door in view."""

    name: str  # "red ball", "green closed door"
    number: int  # 1-based, per name, by distance
    pos: tuple[int, int]  # absolute grid cell
    ahead: int  # steps in front of the agent
    right: int  # steps to the right (negative: left)
    type: str  # "ball" | "key" | "box" | "door"

    @property
    def label(self) -> str:
        return f"{self.name} {self.number}"


@dataclass(frozen=True)
class Macro:
    """One available high-level action and its primitive expansion."""

    text: str
    prims: tuple[int, ...]
    kind: str  # turn | forward | goto | pickup | through | toggle_through | toggle | drop | check
    thing: Thing | None = None
    end: tuple[int, int, int] | None = None  # (x, y, dir) after the last movement primitive


def _steps(n: int, what: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {what}"


def _relative(ahead: int, right: int) -> str:
    parts = [_steps(ahead, "ahead")] if ahead else []
    if right:
        parts.append(_steps(abs(right), "right" if right > 0 else "left"))
    return ", ".join(parts)


def _name(obj) -> str:
    if obj.type == "door":
        state = "open" if obj.is_open else "locked" if obj.is_locked else "closed"
        return f"{obj.color} {state} door"
    return f"{obj.color} {obj.type}"


def _normalize(action: str) -> str:
    """Canonical form of a command: lower case, single spaces, no quotes or trailing period."""
    text = " ".join(action.lower().replace("_", " ").split()).strip("`*\"'[]() .").strip()
    text = re.sub(r"^pick up\b", "pickup", text)
    text = re.sub(r"^toggle and go through the\b", "toggle and go through", text)
    text = re.sub(r"^(go to|pickup|go through) the\b", r"\1", text)
    return text


class BabyAIView:
    """The agent's view and actions (a mixin of `BabyAIEnv`, which holds `env`, `_things`,
    `_actions` and `_visible`)."""

    # -- what the agent sees ----------------------------------------------------------------

    def _scan(self) -> None:
        """Compute the visible cells, the objects in view and the available actions."""
        env = self.env
        grid = env.grid
        _, vis_mask = env.gen_obs_grid()
        size = env.agent_view_size
        ax, ay = (int(v) for v in env.agent_pos)
        d = int(env.agent_dir)
        fx, fy = DIRS[d]
        rx, ry = DIRS[(d + 1) % 4]
        visible: set[tuple[int, int]] = set()
        seen: list[tuple[int, int, int, int, object]] = []
        for j in range(size):
            for i in range(size):
                if not vis_mask[i, j]:
                    continue
                ahead, right = size - 1 - j, i - size // 2
                x, y = ax + fx * ahead + rx * right, ay + fy * ahead + ry * right
                if not (0 <= x < grid.width and 0 <= y < grid.height):
                    continue
                visible.add((x, y))
                cell = grid.get(x, y)
                if (ahead or right) and cell is not None and cell.type in ("key", "ball", "box", "door"):
                    seen.append((abs(ahead) + abs(right), right, ahead, x, y, cell))
        seen.sort(key=lambda t: (t[0], t[1], t[2]))
        counts: dict[str, int] = {}
        things = []
        for _, right, ahead, x, y, cell in seen:
            name = _name(cell)
            counts[name] = counts.get(name, 0) + 1
            things.append(Thing(name, counts[name], (x, y), ahead, right, cell.type))
        self._visible, self._things = visible, things
        self._actions = self._plan_actions()

    def _passable(self, x: int, y: int) -> bool:
        cell = self.env.grid.get(x, y)
        return cell is None or (cell.type == "door" and cell.is_open)

    def _view_bfs(self):
        """BFS over (x, y, dir) inside the visible free cells; returns states in BFS order and parents."""
        env = self.env
        start = (int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir))
        free = {c for c in self._visible if self._passable(*c)} | {start[:2]}
        parent: dict[tuple[int, int, int], tuple] = {start: None}
        queue = deque([start])
        while queue:
            s = queue.popleft()
            x, y, d = s
            dx, dy = DIRS[d]
            for prim, n in ((FORWARD, (x + dx, y + dy, d)), (LEFT, (x, y, (d - 1) % 4)), (RIGHT, (x, y, (d + 1) % 4))):
                if n in parent or (prim == FORWARD and n[:2] not in free):
                    continue
                parent[n] = (s, prim)
                queue.append(n)
        return parent

    @staticmethod
    def _path(parent, state) -> tuple[int, ...]:
        prims = []
        while parent[state] is not None:
            state, prim = parent[state]
            prims.append(prim)
        return tuple(reversed(prims))

    def _plan_actions(self) -> dict[str, Macro]:
        env = self.env
        grid = env.grid
        parent = self._view_bfs()
        face: dict[tuple[int, int], tuple[int, int, int]] = {}  # cell -> first state facing it
        arrive: dict[tuple[int, int], tuple[int, int, int]] = {}  # cell -> first state standing on it
        for s in parent:  # insertion order = BFS order (shortest first)
            x, y, d = s
            dx, dy = DIRS[d]
            face.setdefault((x + dx, y + dy), s)
            arrive.setdefault((x, y), s)
        x0, y0, d0 = int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)
        carrying = env.carrying
        front = grid.get(*env.front_pos)
        acts: dict[str, Macro] = {}

        def add(text, prims, kind, thing=None, end=None):
            acts[text] = Macro(text, tuple(prims), kind, thing, end)

        add("turn left", [LEFT], "turn", end=(x0, y0, (d0 - 1) % 4))
        add("turn right", [RIGHT], "turn", end=(x0, y0, (d0 + 1) % 4))
        fx, fy = x0 + DIRS[d0][0], y0 + DIRS[d0][1]
        if self._passable(fx, fy):
            add("move forward", [FORWARD], "forward", end=(fx, fy, d0))
        goto, pickup, doors = {}, {}, {}
        for t in self._things:
            s = face.get(t.pos)
            if s is not None:
                path = self._path(parent, s)
                goto[t.label] = (path or (LEFT, RIGHT), s)
                if t.type in CARRYABLE and carrying is None:
                    pickup[t.label] = (path + (PICKUP,), s)
            if t.type != "door":
                continue
            door = grid.get(*t.pos)
            if door.is_open:
                s = arrive.get(t.pos)
                if s is not None and self._path(parent, s):
                    path = self._path(parent, s)
                    bx, by = t.pos[0] + DIRS[s[2]][0], t.pos[1] + DIRS[s[2]][1]
                    if grid.get(bx, by) is None:
                        path, s = path + (FORWARD,), (bx, by, s[2])
                    doors[t.label] = ("go through", path, "through", s)
            elif s is not None and (not door.is_locked or (carrying is not None and carrying.type == "key"
                                                            and carrying.color == door.color)):
                path = self._path(parent, s)
                end = (t.pos[0], t.pos[1], s[2])
                prims = path + (TOGGLE, FORWARD)
                bx, by = t.pos[0] + DIRS[s[2]][0], t.pos[1] + DIRS[s[2]][1]
                if grid.get(bx, by) is None:
                    prims, end = prims + (FORWARD,), (bx, by, s[2])
                doors[t.label] = ("toggle and go through", prims, "toggle_through", end)
        by_label = {t.label: t for t in self._things}
        for label, (prims, s) in goto.items():
            add(f"go to {label}", prims, "goto", by_label[label], s)
        for label, (prims, s) in pickup.items():
            add(f"pickup {label}", prims, "pickup", by_label[label], s)
        for label, (verb, prims, kind, s) in doors.items():
            add(f"{verb} {label}", prims, kind, by_label[label], s)
        if front is not None and front.type in ("door", "box"):
            add("toggle", [TOGGLE], "toggle", next((t for t in self._things if t.pos == tuple(env.front_pos)), None))
        if carrying is not None and front is None and 0 <= fx < grid.width and 0 <= fy < grid.height:
            add("drop", [DROP], "drop")
        add(CHECK, [], "check")
        return acts

    def _walls_text(self) -> str:
        env = self.env
        x0, y0, d0 = int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)
        parts = []
        for what, d in (("ahead", d0), ("to your left", (d0 - 1) % 4), ("to your right", (d0 + 1) % 4)):
            dx, dy = DIRS[d]
            for k in range(1, env.agent_view_size):
                c = (x0 + dx * k, y0 + dy * k)
                if c not in self._visible:
                    break
                cell = env.grid.get(*c)
                if cell is not None:
                    if cell.type == "wall":
                        parts.append(_steps(k, what))
                    break
        return f"Walls: {', '.join(parts)}." if parts else ""

    def _view_text(self) -> str:
        if self._things:
            seen = "; ".join(f"{t.label} ({_relative(t.ahead, t.right)})" for t in self._things)
            lines = [f"You see: {seen}."]
        else:
            lines = ["You see no objects."]
        walls = self._walls_text()
        if walls:
            lines.append(walls)
        carrying = self.env.carrying
        lines.append(f"You are carrying a {_name(carrying)}." if carrying is not None else "You are carrying nothing.")
        lines.append(self._actions_line())
        return "\n".join(lines)

    def _actions_line(self) -> str:
        return "Available actions: " + ", ".join(self._actions)

    def _complete(self, command: str) -> str:
        """Add the number to 'go to red ball' when exactly one red ball is in view."""
        m = re.fullmatch(r"(go to|pickup|go through|toggle and go through) (.+)", command)
        if m is not None and not re.search(r" \d+$", command):
            same = [t for t in self._things if t.name == m.group(2)]
            if len(same) == 1:
                return f"{m.group(1)} {same[0].label}"
        return command

    def _why_unavailable(self, command: str, raw: str) -> str:
        """Explain why a command cannot be taken now (what is expected instead)."""
        env = self.env
        shown = raw if len(raw) <= 80 else raw[:80] + "..."
        carrying = env.carrying
        if command == "move forward":
            front = env.grid.get(*env.front_pos)
            what = _name(front) if front.type != "wall" else "wall"
            return f"You cannot move forward: there is a {what} in front of you."
        if command == "drop":
            if carrying is None:
                return "You are not carrying anything to drop."
            return "You cannot drop here: the cell in front of you is not empty."
        if command == "toggle":
            return "There is no door or box right in front of you to toggle."
        m = re.fullmatch(r"(go to|pickup|go through|toggle and go through) (.+)", command)
        if m is None:
            return (f"'{shown}' is not an action. Actions look like 'go to red ball 1', 'pickup grey key 1', "
                    "'toggle and go through blue closed door 1', 'turn left' or 'move forward'.")
        verb, label = m.groups()
        if not re.search(r" \d+$", label):
            if any(t.name == label for t in self._things):
                return f"Several {label}s are in view; add the number, e.g. '{verb} {label} 1'."
            return f"There is no {label[:60]} in view; use the names and numbers listed under 'You see'."
        thing = next((t for t in self._things if t.label == label), None)
        if thing is None:
            return f"There is no {label[:60]} in view; use the names and numbers listed under 'You see'."
        if verb == "pickup":
            if thing.type == "door":
                return "Doors cannot be picked up."
            if carrying is not None:
                return f"You are already carrying a {_name(carrying)}; drop it first."
        if verb in ("go through", "toggle and go through") and thing.type != "door":
            return f"{label} is not a door."
        if verb == "go through" and not env.grid.get(*thing.pos).is_open:
            return f"{label} is not open; use 'toggle and go through {label}'."
        if verb == "toggle and go through":
            door = env.grid.get(*thing.pos)
            if door.is_open:
                return f"{label} is already open; use 'go through {label}'."
            if door.is_locked:
                return f"{label} is locked; you must carry a {door.color} key to open it."
        return f"No path to {label} is known from here; move or turn to find a way."
