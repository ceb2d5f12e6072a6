"""WebShop's recitation probe: goals with one constraint inverted (WebShopEnv's `perturb="invert"`).

`invert_goal` inverts one constraint of a goal ("price lower than 50.00 dollars" -> "price higher
than 50.00 dollars", "in red color" -> "in a color other than red"), checked with the reward
function to be satisfiable by some product and failed by what the original goal asks for.
`inverted_goal` is what the env plays for a task id. Imported by the env only when `perturb` is
set, and by `bench/ror.py`; nothing here is needed to play the ordinary goals.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import weakref

from envs.webshop import vocab
from envs.webshop.catalog import NO_BUDGET, TEST_SIZE, Catalog, Goal, allowed_option, price_phrase
from envs.webshop.reward import score_purchase

FULL_SCORE = 1.0 - 1e-9

_INVERTED: weakref.WeakKeyDictionary[Catalog, dict[int, Goal | None]] = weakref.WeakKeyDictionary()
"""catalog -> {goal id: invert_goal's result}, filled on use (catalogs are shared by every env)."""
_LOCK = threading.Lock()


def _price_inverted(catalog: Catalog, goal: Goal) -> Goal | None:
    """"price lower than X" -> "price higher than Y", with the same attributes and options; the
    target becomes a product of the same type that fully matches them and costs more than Y, while
    the original target costs at most Y. Y = X where such a product exists, else a round number."""
    phrase = price_phrase(goal.price_upper)
    original = catalog.by_asin[goal.asin]
    if not phrase or not goal.instruction.endswith(phrase):
        return None
    unpriced = dataclasses.replace(goal, price_upper=NO_BUDGET)
    full = [p for p in catalog.products_of_type(goal.query)
            if all(v in p.options.get(k, ()) for k, v in goal.options.items())
            and score_purchase(p, unpriced, goal.options)[0] >= FULL_SCORE]
    top = max((p.price for p in full), default=0.0)
    low = original.price
    threshold = next((y for y in (goal.price_upper, math.ceil(top / 10) * 10 - 10, math.ceil(top) - 1, low)
                      if low <= y < top), None)
    if threshold is None:
        return None
    target = min((p for p in full if p.price > threshold), key=lambda p: (p.price, p.asin))
    return dataclasses.replace(
        goal, asin=target.asin, name=target.title, category=target.category, product_category=target.product_category,
        instruction=goal.instruction[: -len(phrase)] + f", and price higher than {threshold:.2f} dollars",
        price_upper=NO_BUDGET, price_lower=float(threshold),
    )


def _option_inverted(catalog: Catalog, goal: Goal) -> Goal | None:
    """"in red color" -> "in a color other than red" for one goal option (colour first): the target
    stays, bought with another value of that option."""
    product = catalog.by_asin[goal.asin]
    for kind in sorted(goal.options, key=lambda k: k != "color"):
        value = goal.options[kind]
        phrase = vocab.OPTION_PHRASES.get(kind, "with {kind} {v}").format(v=value, kind=kind)
        if goal.instruction.count(phrase) != 1 or allowed_option(product, kind, value) is None:
            continue
        label = {"pack": "pack size", "set": "set size"}.get(kind, kind)
        negated = f"{'in' if phrase.startswith('in ') else 'with'} a {label} other than {value}"
        return dataclasses.replace(
            goal, instruction=goal.instruction.replace(phrase, negated),
            options={k: v for k, v in goal.options.items() if k != kind}, excluded_options={kind: value},
        )
    return None


def invert_goal(catalog: Catalog, goal: Goal) -> Goal | None:
    """The goal with one constraint inverted, so that the product that satisfies the original goal
    (bought with the original options) no longer scores 1 while some product still does: the price
    bound if a pricier product of the same type matches everything else, else one option. None when
    neither works. Both outcomes are checked with the reward function itself."""
    for inverted in (_price_inverted(catalog, goal), _option_inverted(catalog, goal)):
        if inverted is None:
            continue
        target = catalog.by_asin[inverted.asin]
        options = dict(inverted.options)
        for kind, excluded in inverted.excluded_options.items():
            options[kind] = allowed_option(target, kind, excluded)
        recited = score_purchase(catalog.by_asin[goal.asin], inverted, goal.options)[0]
        if score_purchase(target, inverted, options)[0] >= FULL_SCORE and recited < FULL_SCORE:
            return inverted
    return None


def inverted_goal(catalog: Catalog, task_id: int) -> Goal:
    """The recitation probe's version of goal `task_id`: `invert_goal` of it, or, for the few
    goals that cannot be inverted, of the next goal of the same split (cyclically) that can.
    The returned goal's `id` is the goal it was made from."""
    with _LOCK:
        cache = _INVERTED.setdefault(catalog, {})
    n_test = min(TEST_SIZE, len(catalog.goals))
    ids = range(n_test) if task_id < n_test else range(n_test, len(catalog.goals))
    start = task_id - ids.start
    for k in range(len(ids)):
        i = ids[(start + k) % len(ids)]
        if i not in cache:
            cache[i] = invert_goal(catalog, catalog.goals[i])
        if cache[i] is not None:
            return cache[i]
    raise ValueError(f"no goal of task {task_id}'s split can be inverted")
