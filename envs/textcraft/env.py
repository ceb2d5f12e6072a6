"""TextCraftEnv: the TextCraft environment (tasks, episodes, the scripted expert).

See the package docstring (`envs.textcraft`) for the game and its rules.
"""

from __future__ import annotations

import math
import operator
import random
import re
from collections import Counter

from envs.base import TextEnv, check_split, invalid_reply_observation
from envs.textcraft.commands import COMMAND_FORMS, EXPECTED_REPLY, Command, CommandError, parse_command
from envs.textcraft.recipes import Ingredient, Recipe, RecipeBook, display, recipe_book, splits

MAX_DISTRACTORS = 10
"""Distractor recipes added to each task's list of crafting commands (as published)."""
DISTRACTORS_PER_INGREDIENT = 10
"""Recipes sampled per ingredient of the tree before the final draw (as the package does)."""


class TextCraftEnv(TextEnv):
    """TextCraft with stable task ids, deterministic observations and a scripted expert.

    Task ids index the goal pool (`RecipeBook.goals`, sorted by depth then name); `tier` is the
    goal's crafting depth (1-4). Besides the keys every env reports, `step`'s info carries
    `executed` (the command took effect). `format_ok` means the strict parse succeeded and the
    command follows the grammar; a well-formed command can still fail in the game (unknown item,
    missing ingredients, no such recipe), which `executed` tells apart.

    `perturb="recipes"` is a recitation probe (RoR-Bench's idea for agents): the same tasks, but
    every recipe of the goal's tree is changed so that it contradicts Minecraft (other counts, a
    base ingredient swapped; see `perturbed_book`). The listed crafting commands show the changed
    recipes and crafting follows them, so an agent that reads the list solves the task as easily
    as the original, while one that recites Minecraft's recipes fails.
    """

    name = "textcraft"
    demonstration = (
        (
            "Crafting commands:\ncraft 4 oak planks using 1 oak logs\ncraft 1 crafting table using 4 oak planks\n"
            "craft 4 stick using 2 bamboo planks\n\nGoal: craft crafting table.",
            "Thought: I need 4 oak planks, made from 1 oak logs, which I can get.\nAction: get 1 oak logs",
        ),
        ("Got 1 oak logs", "Thought: Now I craft the planks.\nAction: craft 4 oak planks using 1 oak logs"),
    )
    instructions = (
        "You are playing a crafting game built on Minecraft's recipes. Each task shows a list of "
        "crafting commands (recipes) and a goal item. Your inventory starts empty; the task is "
        "solved as soon as you craft the goal item. Not every listed recipe is needed.\n\n"
        "Commands:\n"
        "- get <n> <item>: take n of a base item, i.e. one no recipe produces. Items that have a "
        "recipe cannot be taken; craft them.\n"
        "- craft <n> <item> using <n> <ingredient>, <n> <ingredient>, ...: apply one listed "
        "recipe, with exactly its ingredients and counts, taken from your inventory. Where a "
        "recipe names a category such as 'planks', use one specific item of it, such as "
        "'oak planks'. You receive the recipe's output count.\n"
        "- inventory: list what you carry.\n\n"
        "Example: given 'craft 4 oak planks using 1 oak logs', first 'get 1 oak logs', then "
        "'craft 4 oak planks using 1 oak logs'.\n\n"
        "Reply with one thought and exactly one command per turn, in this form:\n"
        "Thought: <your reasoning>\n"
        "Action: <one command>"
    )
    command_re = re.compile(
        r"(?:craft\s+.+?\s+using\s+\d+\s+.+|get\s+\d+\s+.+|inventory)\.?", re.IGNORECASE
    )

    def __init__(self, action_format: str = "strict", minecraft_dir: str | None = None, perturb: str | None = None):
        super().__init__(action_format)
        if perturb is not None:
            from envs.textcraft.perturb import PERTURBATIONS  # the recitation probe, only when asked for

            if perturb not in PERTURBATIONS:
                raise ValueError(f"TextCraft perturb must be None or one of {PERTURBATIONS}, got {perturb!r}")
        self.minecraft_dir = minecraft_dir
        self.perturb = perturb
        self.original_book = recipe_book(minecraft_dir)
        self.book = self.original_book
        """The recipes of the current task: the original book, or with perturb="recipes" a copy in
        which the task's crafting tree contradicts Minecraft (`perturbed_book`)."""
        self.task_id: int | None = None
        self.goal: str | None = None
        self.inventory: Counter[str] = Counter()
        self.success = False

    # -- tasks ------------------------------------------------------------------------------

    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, **options) -> list[int]:
        """Task ids of `split`; `tier` (1-4) keeps only goals of that crafting depth.

        `options` are the constructor's (`minecraft_dir` selects the data; `action_format` and
        `perturb` do not affect tasks), so the same options can be passed to `make` and to `tasks`.
        """
        check_split(split)
        unknown = set(options) - {"minecraft_dir", "action_format", "perturb"}
        if unknown:
            raise TypeError(f"unknown TextCraft option(s): {', '.join(sorted(unknown))}")
        minecraft_dir = options.get("minecraft_dir")
        book = recipe_book(minecraft_dir)
        ids = list(splits(minecraft_dir)[split])
        if tier is None:
            return ids
        tiers = sorted({book.depth(g) for g in book.goals})
        try:
            depth = None if isinstance(tier, bool) else operator.index(tier)
        except TypeError:
            depth = None
        if depth not in tiers:
            raise ValueError(f"TextCraft tier is the crafting depth, one of {tiers}; got {tier!r}")
        return [i for i in ids if book.depth(book.goals[i]) == depth]

    @classmethod
    def task_info(cls, task_id: int, minecraft_dir: str | None = None) -> dict:
        """The goal item (as the agent reads it) and crafting depth of a task id."""
        book = recipe_book(minecraft_dir)
        goal = book.goals[cls._check_task_id(task_id, book)]
        return {"task_id": int(task_id), "goal": display(goal), "depth": book.depth(goal)}

    @staticmethod
    def _check_task_id(task_id: int, book: RecipeBook) -> int:
        try:
            idx = operator.index(task_id)
        except TypeError:
            raise ValueError(f"TextCraft task id must be an integer, got {task_id!r}") from None
        if not 0 <= idx < len(book.goals):
            raise ValueError(f"TextCraft task id must be in 0..{len(book.goals) - 1}, got {idx}")
        return idx

    def _perturbed_book(self, idx: int) -> RecipeBook:
        """The first of up to PERTURB_ATTEMPTS perturbations (each seeded by task id and attempt)
        whose expert plan is within PLAN_LENGTH_TOLERANCE commands of the original's, else the
        closest: changed counts can halve or double the crafts needed, and the probe should change
        what the recipes say, not how long the task is. Needs an empty inventory."""
        from envs.textcraft.perturb import PERTURB_ATTEMPTS, PLAN_LENGTH_TOLERANCE, perturbed_book

        self.book = self.original_book
        length = len(self.expert_plan())
        best: tuple[int, RecipeBook] | None = None
        for attempt in range(PERTURB_ATTEMPTS):
            self.book = perturbed_book(self.original_book, self.goal, f"{idx}:{attempt}")
            gap = abs(len(self.expert_plan()) - length)
            if best is None or gap < best[0]:
                best = (gap, self.book)
            if gap <= PLAN_LENGTH_TOLERANCE:
                break
        return best[1]

    # -- episode ----------------------------------------------------------------------------

    def reset(self, task_id: int) -> tuple[str, dict]:
        """Start task `task_id`: empty inventory, and the goal's recipes plus distractors,
        shuffled by an RNG seeded with the task id (so the observation is always the same)."""
        idx = self._check_task_id(task_id, self.original_book)
        self.task_id, self.goal = idx, self.original_book.goals[idx]
        self.inventory = Counter()
        self.book = self.original_book if self.perturb is None else self._perturbed_book(idx)
        self.success = False
        rng = random.Random(idx)
        tree = self.book.tree(self.goal)
        tree_cmds = {r.command for r in tree}
        pool: set[str] = set()
        for name in dict.fromkeys(i.name for r in tree for i in r.inputs):
            uses = self.book.uses.get(name, ())
            pool.update(r.command for r in rng.sample(uses, min(len(uses), DISTRACTORS_PER_INGREDIENT)))
        candidates = sorted(pool - tree_cmds)
        commands = sorted(tree_cmds) + rng.sample(candidates, min(len(candidates), MAX_DISTRACTORS))
        rng.shuffle(commands)
        obs = "Crafting commands:\n{}\n\nGoal: craft {}.".format("\n".join(commands), display(self.goal))
        info = {
            "success": False, "score": 0.0, "action": None, "format_ok": True,
            "task_id": idx, "goal": display(self.goal), "depth": self.book.depth(self.goal),
        }
        return obs, info

    def step(self, reply: str) -> tuple[str, float, bool, bool, dict]:
        """Parse the reply's action and apply it. Never raises on any reply text."""
        if self.goal is None:
            raise RuntimeError("call reset(task_id) before step()")
        parsed = self.parse(reply)
        info = {"success": self.success, "score": float(self.success), "action": parsed.action,
                "format_ok": False, "executed": False}
        if self.success:
            return "The goal is already crafted; the episode is over.", 0.0, True, False, info
        if parsed.action is None:
            info["error"] = parsed.error
            return invalid_reply_observation(parsed.error, EXPECTED_REPLY), 0.0, False, False, info
        # Lone surrogates would break tokenizers downstream if echoed back in an error message.
        action = parsed.action.encode("utf-8", "replace").decode("utf-8")
        try:
            command = parse_command(action)
        except CommandError as e:
            info["error"] = str(e)
            return invalid_reply_observation(str(e), COMMAND_FORMS + "."), 0.0, False, False, info
        info["format_ok"] = parsed.format_ok
        obs, executed = self._execute(command)
        info["executed"] = executed
        reward = 0.0
        if executed and command.kind == "craft" and command.item == self.goal:
            self.success = True
            reward = 1.0
            obs += " You crafted the goal: task complete."
        info["success"], info["score"] = self.success, float(self.success)
        return obs, reward, self.success, False, info

    def _execute(self, cmd: Command) -> tuple[str, bool]:
        """Apply a well-formed command; returns (observation, whether it took effect)."""
        book = self.book
        if cmd.kind == "inventory":
            if not self.inventory:
                return "Inventory: You are not carrying anything.", True
            return "Inventory: " + " ".join(f"[{display(k)}] ({v})" for k, v in sorted(self.inventory.items())), True

        if cmd.kind == "get":
            name = cmd.item
            problem = self._item_problem(name)
            if problem:
                return problem, False
            if book.is_tag(name):
                return (f"'{display(name)}' is a category, not an item: name one specific item of it, "
                        f"e.g. {self._examples(name)}.", False)
            if book.craftable(name):
                return (f"You cannot get {display(name)}: it has a recipe, so craft it. Only base "
                        f"items (ones no recipe produces) can be taken with 'get'.", False)
            self.inventory[name] += cmd.count
            return f"Got {cmd.count} {display(name)}", True

        out = cmd.item
        problem = self._item_problem(out)
        if problem:
            return problem, False
        if book.is_tag(out):
            return (f"'{display(out)}' is a category; craft one specific item of it, e.g. "
                    f"{self._examples(out)}.", False)
        if not book.craftable(out):
            return f"{display(out)} has no recipe; it is a base item: use 'get <n> {display(out)}'.", False
        for name, _ in cmd.inputs:
            problem = self._item_problem(name)
            if problem:
                return problem, False
            if book.is_tag(name):
                return (f"'{display(name)}' is a category: in the command, name the specific item you "
                        f"use, e.g. {self._examples(name)}.", False)
        given = dict(cmd.inputs)
        recipe = book.match(out, given)
        if recipe is None:
            return (f"No recipe crafts {display(out)} from exactly "
                    f"{', '.join(f'{n} {display(i)}' for i, n in cmd.inputs)}. Use a listed crafting "
                    f"command with exactly its ingredients and counts, naming one specific item for a "
                    f"category such as 'planks'.", False)
        missing = [f"{n} {display(i)} (you have {self.inventory[i]})" for i, n in cmd.inputs if self.inventory[i] < n]
        if missing:
            return (f"Not enough ingredients to craft {display(out)}: you need {', '.join(missing)}. "
                    f"Get base items with 'get' and craft the others first.", False)
        for i, n in cmd.inputs:
            self.inventory[i] -= n
            if self.inventory[i] == 0:
                del self.inventory[i]
        self.inventory[out] += recipe.count
        return f"Crafted {recipe.count} {display(out)}", True

    def _item_problem(self, name: str) -> str | None:
        if not name:
            return "The command names no item."
        if self.book.known(name):
            return None
        shown = display(name)
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        return (f"Unknown item '{shown}'.{self.book.suggest(name)} Use item names exactly as they "
                f"appear in the crafting commands.")

    def _examples(self, tag: str) -> str:
        """Up to three members of a category, those in the inventory first (the likely intent)."""
        members = sorted(self.book.members(tag), key=lambda m: (self.inventory[m] == 0, m))
        return " or ".join(f"'{display(m)}'" for m in members[:3]) or "a member"

    # -- scripted expert --------------------------------------------------------------------

    def expert_action(self) -> str:
        """The next command of a scripted expert from the current state (any inventory).

        It plans depth first on a copy of the inventory: to have n of an item, take it if it is a
        base item, else pick the item's shallowest recipe (ties: fewest ingredients, then text),
        make sure all ingredients for the needed number of crafts are present (re-checking, since
        making one ingredient may consume another, e.g. sticks consume planks), then craft. A
        category slot uses the member already held in the largest amount, else the shallowest
        member. Following the returned commands always crafts the goal.
        """
        if self.goal is None:
            raise RuntimeError("call reset(task_id) before expert_action()")
        if self.success:
            return "inventory"
        plan = self.expert_plan()
        return plan[0] if plan else "inventory"

    def expert_plan(self) -> list[str]:
        """The expert's remaining commands, from the current inventory to crafting the goal."""
        inv = Counter(self.inventory)
        actions: list[str] = []
        self._obtain(self.goal, inv[self.goal] + 1, inv, actions, 0)
        return actions

    def _expert_recipe(self, item: str) -> Recipe:
        return min(self.book.recipes[item], key=lambda r: (self.book.recipe_depth(r), len(r.inputs), r.command))

    def _concrete(self, ing: Ingredient, need: int, inv: Counter) -> str:
        if not ing.is_tag:
            return ing.name
        members = [m for m in self.book.members(ing.name) if m in self.book.recipes or self.book.base(m)]
        held = [m for m in members if inv[m] > 0]
        if held:
            return max(held, key=lambda m: (inv[m] >= need, inv[m], -self.book.depth(m)))
        return min(members, key=lambda m: (self.book.depth(m), m))

    def _obtain(self, item: str, n: int, inv: Counter, actions: list[str], level: int) -> None:
        if inv[item] >= n:
            return
        if level > 30:
            raise RuntimeError(f"TextCraft expert: recipe tree too deep at {item}")
        if self.book.base(item):
            actions.append(f"get {n - inv[item]} {display(item)}")
            inv[item] = n
            return
        recipe = self._expert_recipe(item)
        crafts = math.ceil((n - inv[item]) / recipe.count)
        slots = [(self._concrete(ing, ing.count * crafts, inv), ing.count) for ing in recipe.inputs]
        for _ in range(20):
            lacking = [(name, c) for name, c in slots if inv[name] < c * crafts]
            if not lacking:
                break
            for name, c in lacking:
                self._obtain(name, c * crafts, inv, actions, level + 1)
        else:
            raise RuntimeError(f"TextCraft expert: could not gather ingredients for {item}")
        command = "craft {} {} using {}".format(
            recipe.count, display(item), ", ".join(f"{c} {display(name)}" for name, c in slots)
        )
        for _ in range(crafts):
            for name, c in slots:
                inv[name] -= c
            inv[item] += recipe.count
            actions.append(command)
