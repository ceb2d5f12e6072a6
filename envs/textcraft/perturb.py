"""TextCraft's recitation probe: recipe books whose goal tree contradicts Minecraft.

Used by `TextCraftEnv(perturb="recipes")` (imported only when that option is set) and by
`bench/ror.py`. Nothing here is needed to play the ordinary tasks.
"""

from __future__ import annotations

import random

from envs.textcraft.recipes import Ingredient, Recipe, RecipeBook

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
            kind = ing.name.rsplit("_", 1)[-1].rstrip("s")
            siblings = [n for n in pool if n.rsplit("_", 1)[-1].rstrip("s") == kind]
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
        taken = {_signature(r) for r in book.recipes.get(recipe.output, ())}
        taken |= {_signature(r) for r in changed.values()}
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
    tag_keys = outputs | {book.item_tag.get(o) for o in outputs}
    use_keys = {i.name for r in todo.values() for i in r.inputs}  # distractors: no original tree recipe
    for table, keys in ((view.recipes, outputs), (view.tag_recipes, tag_keys), (view.uses, use_keys)):
        for key in keys & table.keys():
            table[key] = tuple(dict.fromkeys(changed.get(r.command, r) for r in table[key]))
    view._depth = {}
    return view
