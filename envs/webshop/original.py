"""Loader for the original WebShop data files, for users who have downloaded them.

Formats (princeton-nlp/WebShop, `web_agent_site/engine/engine.py::load_products`):

* `items_shuffle*.json`: a list of products, each with `asin`, `name`, `category`, `query`,
  `product_category` ("A › B › C"), `full_description`, `small_description` (bullet list or
  string), `pricing` ("$12.99", "$10.99$15.99" for a range, a list of numbers, or empty),
  `customization_options` ({option kind: [{"value": ..., "image": ...}]} or null) and,
  optionally, `Reviews` / `average_rating`.
* `items_ins_v2*.json`: asin -> {"attributes": [...], "instruction": ..., "instruction_attributes":
  [...], "instruction_options": ...}; the product attributes, plus a synthetic instruction.
* `items_human_ins.json`: asin -> [{"instruction", "instruction_attributes",
  "instruction_options"}, ...], the 12,087 human-written instructions.
* `reviews.json` (optional): [{"asin", "reviews": [{"title", "score"|"stars", "body"|"review"}],
  "average_rating"}].

As in WebShop, option values are lower-cased with "/" shown as " | ", products without pricing
cost $100, a price range costs a (seeded) uniform draw from it, products without attribute
data get the attribute "DUMMY_ATTR", human goals without attributes are skipped, and the budget
is the larger of two random $10 steps among the four above the price. Human goals are used
when `human_goals_path` is given, otherwise the synthetic instructions of the attributes file
(one goal per option combination, at most `SYNTHETIC_COMBINATIONS` per product, where the
original enumerated them all).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

from envs.webshop.catalog import Catalog, Product, Review, budget, finish_goals, price_phrase

SYNTHETIC_COMBINATIONS = 3


def _read_json(path, kind: type, what: str):
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    if not isinstance(data, kind):
        raise ValueError(f"{path}: expected {what} at the top level, found {type(data).__name__}")
    return data


def parse_pricing(pricing, rng: random.Random) -> tuple[float, str]:
    """(price paid, price shown) from WebShop's `pricing` field."""
    if isinstance(pricing, (int, float)):
        values = [float(pricing)]
    elif isinstance(pricing, list):
        values = [float(v) for v in pricing if isinstance(v, (int, float))]
    elif isinstance(pricing, str):
        values = []
        for part in pricing.split("$")[1:]:
            digits = re.sub(r"[^\d.]", "", part)
            try:
                values.append(float(digits))
            except ValueError:
                continue
    else:
        values = []
    if not values:
        return 100.0, "$100.00"
    if len(values) == 1:
        return values[0], f"${values[0]:.2f}"
    low, high = values[:2]
    return round(rng.uniform(low, high), 2), f"${low:.2f} to ${high:.2f}"


def _options(raw, path: Path, asin: str) -> dict[str, tuple[str, ...]]:
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: product {asin}: customization_options must be an object")
    options: dict[str, tuple[str, ...]] = {}
    for kind, contents in raw.items():
        if not contents:
            continue
        values = []
        for content in contents:
            value = content.get("value") if isinstance(content, dict) else content
            if not isinstance(value, str):
                raise ValueError(f"{path}: product {asin}: option {kind!r} has a value that is not text")
            value = value.strip().replace("/", " | ").lower()
            if value and value not in values:
                values.append(value)
        if values:
            options[str(kind).lower()] = tuple(values)
    return options


def _reviews(raw) -> tuple[Review, ...]:
    reviews = []
    for r in raw or ():
        if not isinstance(r, dict):
            continue
        score = r.get("score", r.get("stars", 0))
        try:
            score = int(float(score))
        except (TypeError, ValueError):
            score = 0
        reviews.append(Review(str(r.get("title", "")), score, str(r.get("body", r.get("review", "")))))
    return tuple(reviews)


def _rating(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _goal_options(raw, product: Product) -> dict[str, str]:
    """Instruction options as kind -> value; a bare list is matched to the product's option kinds."""
    if isinstance(raw, dict):
        return {str(k).lower(): str(v).lower() for k, v in raw.items() if v}
    options: dict[str, str] = {}
    for i, value in enumerate(raw or ()):
        value = str(value).strip().lower()
        kind = next((k for k, vs in product.options.items() if value in vs and k not in options), None)
        options[kind or f"option {i + 1}"] = value
    return options


def load_original_catalog(
    items_path, attributes_path=None, human_goals_path=None, *, reviews_path=None,
    num_products: int | None = None, seed: int = 0,
) -> Catalog:
    """Read WebShop's product and instruction files into a `Catalog` (see the module doc)."""
    items_path = Path(items_path)
    items = _read_json(items_path, list, "a list of products")
    if num_products is not None:
        items = items[:num_products]
    attributes = _read_json(attributes_path, dict, "an object keyed by asin") if attributes_path else {}
    human = _read_json(human_goals_path, dict, "an object keyed by asin") if human_goals_path else None
    reviews_by_asin: dict[str, tuple[tuple[Review, ...], float | None]] = {}
    if reviews_path:
        for entry in _read_json(reviews_path, list, "a list of review records"):
            if isinstance(entry, dict) and "asin" in entry:
                reviews_by_asin[entry["asin"]] = (_reviews(entry.get("reviews")), _rating(entry.get("average_rating")))
    if attributes_path is None and human_goals_path is None:
        raise ValueError("the original catalog needs attributes_path (items_ins_v2*.json) "
                         "or human_goals_path (items_human_ins.json) to make goals")

    rng = random.Random(f"prices:{seed}")
    products: list[Product] = []
    seen: set[str] = set()
    for i, p in enumerate(items):
        if not isinstance(p, dict):
            raise ValueError(f"{items_path}: product {i} is not an object")
        for key in ("asin", "name"):
            if not isinstance(p.get(key), str):
                raise ValueError(f"{items_path}: product {i} has no text field {key!r}")
        asin = p["asin"]
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        bullets = p.get("small_description") or []
        bullets = [str(b) for b in bullets] if isinstance(bullets, list) else [str(bullets)]
        price, price_text = parse_pricing(p.get("pricing"), rng)
        attrs = attributes.get(asin, {}).get("attributes") if isinstance(attributes.get(asin), dict) else None
        own_reviews, own_rating = reviews_by_asin.get(asin, (None, None))
        products.append(Product(
            asin=asin,
            title=p["name"],
            category=str(p.get("category", "")),
            product_category=str(p.get("product_category", "")),
            query=str(p.get("query", "")).lower().strip(),
            price=price,
            price_text=price_text,
            bullets=tuple(bullets),
            description=str(p.get("full_description") or ""),
            attributes=tuple(attrs) if attrs else ("DUMMY_ATTR",),
            options=_options(p.get("customization_options"), items_path, asin),
            rating=own_rating if own_rating is not None else _rating(p.get("average_rating", p.get("Rating"))),
            reviews=own_reviews if own_reviews is not None else _reviews(p.get("Reviews", p.get("reviews"))),
        ))

    goal_rng = random.Random(f"goals:{seed}")
    raw_goals = []
    for product in products:
        asin = product.asin
        if human is not None:
            entries = human.get(asin, human.get(asin.lower(), []))
            if not isinstance(entries, list):
                raise ValueError(f"{human_goals_path}: {asin} must map to a list of instructions")
            specs = []
            for e in entries:
                if not isinstance(e, dict) or not isinstance(e.get("instruction"), str):
                    raise ValueError(f"{human_goals_path}: {asin} has an instruction without 'instruction' text")
                if e.get("instruction_attributes"):
                    specs.append((e["instruction"].strip().strip("."), e["instruction_attributes"],
                                  _goal_options(e.get("instruction_options"), product)))
        else:
            entry = attributes.get(asin)
            if not isinstance(entry, dict) or not entry.get("instruction") or not entry.get("instruction_attributes"):
                continue
            kinds = sorted(product.options)
            combos = list(itertools.islice(itertools.product(*(product.options[k] for k in kinds)), 1000))
            if len(combos) > SYNTHETIC_COMBINATIONS:
                combos = goal_rng.sample(combos, SYNTHETIC_COMBINATIONS)
            specs = []
            for combo in combos:
                options = dict(zip(kinds, combo))
                text = ", and ".join(f"{k}: {v}" for k, v in options.items())
                specs.append((entry["instruction"].strip().strip(".") + (f" with {text}" if text else ""),
                              entry["instruction_attributes"], options))
        for text, goal_attrs, options in specs:
            price_upper = budget(product.price, goal_rng)
            raw_goals.append(dict(
                asin=asin, instruction=text + price_phrase(price_upper),
                attributes=tuple(str(a).lower() for a in goal_attrs), options=options, price_upper=price_upper,
                query=product.query, category=product.category, product_category=product.product_category,
                name=product.title,
            ))
    if not raw_goals:
        raise ValueError(f"{human_goals_path or attributes_path}: no usable instructions for the products "
                         f"of {items_path}")
    return Catalog(products, finish_goals(raw_goals, seed), source=f"original({items_path})")
