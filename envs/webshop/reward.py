"""WebShop's purchase reward, as small pure functions.

The published reward (princeton-nlp/WebShop, `web_agent_site/engine/goal.py`), paid when the
agent clicks Buy Now:

    R = r_type * (attribute matches + option matches + 1[price <= budget])
               / (#goal attributes + #goal options + 1)

* attribute match: a goal attribute counts when some product attribute has a token-set ratio
  > 85 with it (rapidfuzz, with thefuzz's default preprocessing as in the original), or when
  it is a substring of the title, the bullet points or the description (all lower-cased);
* option match: a goal option counts when some selected option value matches it: exactly for
  the "size" option kind (sizes such as "7" vs "7.5" must not fuzzy-match), by token-set ratio
  > 85 otherwise; colours are first reduced to a base colour ("heather grey" -> "grey");
* r_type: 1, 0.5, 0.1 or 0 by how well the product's type matches the goal's, from the query,
  the category path and the nouns of the titles (see `type_reward`).

Three deliberate departures from the original, to keep the reward in [0, 1] and free of
shortcuts: the original counted *selected* options (so extra selections whose value happened to
appear in the title could push the reward above 1), normalised every option value as a colour
(so "standard" became "tan"), and let token-set fuzz match different quantities ("pack of 3"
vs "pack of 6" scores 89, "16 fl oz" vs "12 fl oz" 88). Here each goal option counts at most
once, only colour options are colour-normalised, and a fuzzy option match also needs the same
numbers in both values. The original finds title nouns with spaCy; to keep spaCy (and
its model download) out of the dependencies, `title_nouns` approximates NOUN/PROPN tokens by
dropping stop words, numbers, units, colours and common adjectives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from rapidfuzz import fuzz, utils

FUZZY_THRESHOLD = 85
EXACT_MATCH_OPTIONS = ("size",)

# web_agent_site/engine/normalize.py's colour list: an option value containing one of these is
# reduced to it (first hit in this order wins, exactly as in the original).
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral",
    "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia",
    "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime", "magenta",
    "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom", "mustard",
    "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple",
    "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise",
    "violet", "walnut", "wheat", "white", "wine", "yellow",
)

_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or our that the this to was with "
    "without your you we up out into over per pcs pc set pack piece count".split()
)
_NON_NOUNS = frozenset(
    # adjectives and modifiers that spaCy would not tag NOUN/PROPN in product titles
    "new best premium natural organic original classic professional portable lightweight durable "
    "soft extra ultra super mini large small medium big long short high low free fast quick easy "
    "heavy light thick thin slim deep daily everyday simple modern casual comfortable compatible "
    "adjustable waterproof wireless electric digital smart compact multi full half double single "
    "non anti stainless resistant proof safe friendly lasting dry wet hot cold warm cool fresh "
    "real pure true fine bold bright dark clean gentle sensitive rich smooth crispy crunchy chewy "
    "sweet spicy salted unscented unsweetened unflavored plush cozy sturdy foldable dimmable "
    "rechargeable breathable washable absorbent insulated padded cushioned quiet silent ergonomic "
    "men's women's mens womens unisex kids adult own great perfect ideal".split()
)
_UNITS = frozenset("oz fl lb lbs inch inches ft mm cm ml l g kg gb tb mah w mph".split())
_COLORS = frozenset(COLOR_SET)
_WORD_RE = re.compile(r"[a-z][a-z'&-]*")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class TypeMatch:
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


def fuzzy(a: str, b: str) -> float:
    """thefuzz's token_set_ratio as WebShop called it: lower-cased, punctuation to spaces."""
    return fuzz.token_set_ratio(a, b, processor=utils.default_process)


def normalize_color(value: str) -> str:
    """The base colour contained in `value`, or `value` itself (WebShop's normalize_color)."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def title_nouns(title: str) -> list[str]:
    """Approximate the NOUN/PROPN tokens spaCy finds in a product title.

    Keeps order and duplicates (the original divides by the length of this list, duplicates
    included). Brand and product words survive; stop words, numbers, units, colours and common
    adjectives do not.
    """
    words = _WORD_RE.findall(title.lower())
    return [
        w.strip("'-&") for w in words
        if len(w.strip("'-&")) > 1 and w not in _STOPWORDS and w not in _NON_NOUNS
        and w not in _UNITS and w not in _COLORS
    ]


def category_levels(product_category: str) -> set[str]:
    """The levels of a category path such as "Beauty & Personal Care › Skin Care › Lip Care"."""
    return {level.strip() for level in product_category.split("›") if level.strip()}


def type_reward(
    purchased_query: str, purchased_category: str, purchased_title: str,
    goal_query: str, goal_category: str, goal_title: str,
) -> TypeMatch:
    """WebShop's get_type_reward: does the bought product have the asked-for type?

    A match needs the same search query, or at least two shared category-path levels, or more
    than 20% of the goal title's nouns in the bought title; no match halves the reward. Titles
    sharing under 10% of the nouns get 0.1, titles sharing none get 0 - whatever the query and
    category say, exactly as in the original.
    """
    query_match = purchased_query.strip().lower() == goal_query.strip().lower()
    category_match = len(category_levels(purchased_category) & category_levels(goal_category)) >= 2
    desired = title_nouns(goal_title)
    purchased = set(title_nouns(purchased_title))
    title_score = 0.2 if not desired else len(purchased & set(desired)) / len(desired)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeMatch(r_type, query_match, category_match, title_score)


def attribute_matches(
    goal_attributes: Sequence[str], product_attributes: Iterable[str],
    title: str, bullets: Iterable[str], description: str,
) -> int:
    """How many goal attributes the product has (fuzzy against its attributes, else substring)."""
    product_attributes = list(product_attributes)
    title_l, bullets_l, description_l = title.lower(), " ".join(bullets).lower(), description.lower()
    count = 0
    for goal_attr in goal_attributes:
        goal_attr = goal_attr.lower()
        if any(fuzzy(p, goal_attr) > FUZZY_THRESHOLD for p in product_attributes):
            count += 1
        elif goal_attr in title_l or goal_attr in bullets_l or goal_attr in description_l:
            count += 1
    return count


def _normalize_option(kind: str, value: str) -> str:
    value = value.strip().lower()
    return normalize_color(value) if "color" in kind.lower() or "colour" in kind.lower() else value


def option_matches(goal_options: Mapping[str, str], selected_options: Mapping[str, str]) -> int:
    """How many goal options (kind -> value) are matched by some selected option (kind -> value)."""
    count = 0
    for goal_kind, goal_value in goal_options.items():
        goal_norm = _normalize_option(goal_kind, goal_value)
        for kind, value in selected_options.items():
            value_norm = _normalize_option(kind, value)
            if kind.lower() in EXACT_MATCH_OPTIONS or goal_kind.lower() in EXACT_MATCH_OPTIONS:
                matched = value_norm == goal_norm
            else:
                matched = (fuzzy(goal_norm, value_norm) > FUZZY_THRESHOLD
                           and _NUMBER_RE.findall(goal_norm) == _NUMBER_RE.findall(value_norm))
            if matched:
                count += 1
                break
    return count


def excluded_option_matches(excluded_options: Mapping[str, str], selected_options: Mapping[str, str]) -> int:
    """How many excluded options (kind -> value the customer does not want) are respected: a value
    of that kind is selected and it does not match the excluded one (by `option_matches`' rules)."""
    count = 0
    for kind, excluded in excluded_options.items():
        chosen = next((v for k, v in selected_options.items() if k.lower() == kind.lower()), None)
        count += chosen is not None and option_matches({kind: excluded}, {kind: chosen}) == 0
    return count


def purchase_reward(
    *, goal_attributes: Sequence[str], goal_options: Mapping[str, str], price_upper: float,
    price: float, selected_options: Mapping[str, str], product_attributes: Iterable[str],
    title: str, bullets: Iterable[str], description: str, r_type: float,
    price_lower: float | None = None, excluded_options: Mapping[str, str] | None = None,
) -> tuple[float, dict]:
    """The published reward from its parts; returns (reward, breakdown).

    Inverted goals (the env's recitation probe) add two kinds of constraint, each counted like the
    one it inverts: `price_lower` ("price higher than"; the price must exceed it) and
    `excluded_options` (an option value the customer does not want, counted with the options).
    """
    excluded_options = excluded_options or {}
    n_attr = attribute_matches(goal_attributes, product_attributes, title, bullets, description)
    n_opt = option_matches(goal_options, selected_options) + excluded_option_matches(excluded_options, selected_options)
    price_ok = price <= price_upper and (price_lower is None or price > price_lower)
    total = len(goal_attributes) + len(goal_options) + len(excluded_options) + 1
    reward = r_type * (n_attr + n_opt + int(price_ok)) / total
    info = {
        "r_type": r_type, "attribute_matches": n_attr, "option_matches": n_opt, "price_ok": price_ok,
        "num_attributes": len(goal_attributes), "num_options": len(goal_options) + len(excluded_options),
    }
    return reward, info


def score_purchase(product, goal, selected_options: Mapping[str, str]) -> tuple[float, dict]:
    """The reward for buying `product` with `selected_options` under `goal` (catalog objects)."""
    match = type_reward(product.query, product.product_category, product.title,
                        goal.query, goal.product_category, goal.name)
    reward, info = purchase_reward(
        goal_attributes=goal.attributes, goal_options=goal.options, price_upper=goal.price_upper,
        price=product.price, selected_options=selected_options, product_attributes=product.attributes,
        title=product.title, bullets=product.bullets, description=product.description, r_type=match.r_type,
        price_lower=goal.price_lower, excluded_options=goal.excluded_options,
    )
    info.update(query_match=match.query_match, category_match=match.category_match, title_score=match.title_score)
    return reward, info
