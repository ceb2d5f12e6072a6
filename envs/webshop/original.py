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

A malformed file raises ValueError naming the file, the record (`record N`, 1-based, in a list;
`asin 'B0...'` in an object keyed by asin) and what is wrong: invalid JSON (with its line and
column), a missing field, or a field of the wrong type (the instruction files' entries are checked
when their product is read, as WebShop reads them). Missing optional text fields are empty,
as in WebShop; text that is not valid Unicode (a lone surrogate escape such as "\\ud800") is
rejected, since it would break tokenizers when shown to the agent.
"""

from __future__ import annotations

import itertools
import json
import math
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
    except json.JSONDecodeError as e:  # its message gives the line and column
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    except RecursionError:
        raise ValueError(f"{path}: not usable JSON (nested too deeply)") from None
    except ValueError as e:  # valid JSON Python will not read, e.g. an integer of over 4300 digits
        raise ValueError(f"{path}: not usable JSON ({e})") from None
    if not isinstance(data, kind):
        raise ValueError(f"{path}: expected {what} at the top level, found {_json_type(data)}")
    return data


def _json_type(value) -> str:
    """How JSON calls the type of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _text(value, where: str, field: str, null_ok: bool = True) -> str:
    """A text field: a string (a number is written out); "" when missing or null if `null_ok`."""
    if value is None and null_ok:
        return ""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: {field!r} must be text, got {_json_type(value)}")
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: {field!r} is not valid Unicode (a lone surrogate escape such as "
                         "\\ud800)") from None
    return text


def _texts(value, where: str, field: str, single: bool = False) -> list[str]:
    """A list-of-text field ([] when missing or null); `single`: a bare text counts as a list of one."""
    if value is None:
        return []
    if single and not isinstance(value, list):
        return [_text(value, where, field)]
    if not isinstance(value, list):
        raise ValueError(f"{where}: {field!r} must be a list of text, got {_json_type(value)}")
    return [_text(v, where, f"{field}[{j}]", null_ok=False) for j, v in enumerate(value)]


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


def _pricing(raw, where: str, rng: random.Random) -> tuple[float, str]:
    """`parse_pricing` of a product's `pricing`, which must be a text, a price or a list of prices."""
    if isinstance(raw, list):
        bad = next((v for v in raw if not _is_number(v)), None)
        got = None if bad is None else f"a list holding {json.dumps(bad)[:40]}"
    elif raw is None or isinstance(raw, str) or _is_number(raw):
        got = None
    else:
        got = json.dumps(raw)[:40] if isinstance(raw, (int, float)) and not isinstance(raw, bool) else _json_type(raw)
    if got is not None:
        raise ValueError(f"{where}: 'pricing' must be a price text such as \"$12.99\", a price (a number >= 0) "
                         f"or a list of prices, got {got}")
    price, shown = parse_pricing(raw, rng)
    if not math.isfinite(price):
        raise ValueError(f"{where}: 'pricing' {str(raw)[:40]!r} is not a usable price")
    return price, shown


def _options(raw, where: str) -> dict[str, tuple[str, ...]]:
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: 'customization_options' must be an object (option kind -> list of "
                         f"values), got {_json_type(raw)}")
    options: dict[str, tuple[str, ...]] = {}
    for kind, contents in raw.items():
        if not contents:
            continue
        if not isinstance(contents, list):
            raise ValueError(f"{where}: option {kind!r} must be a list of values, got {_json_type(contents)}")
        values = []
        for content in contents:
            value = content.get("value") if isinstance(content, dict) else content
            if not isinstance(value, str):
                raise ValueError(f"{where}: option {kind!r} has a value that is not text")
            value = _text(value, where, f"option {kind}").strip().replace("/", " | ").lower()
            if value and value not in values:
                values.append(value)
        if values:
            options[_text(kind, where, "option kind").lower()] = tuple(values)
    return options


def _reviews(raw, where: str) -> tuple[Review, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}: reviews must be a list of review objects, got {_json_type(raw)}")
    reviews = []
    for j, r in enumerate(raw, 1):
        if not isinstance(r, dict):
            raise ValueError(f"{where}: review {j} must be an object, got {_json_type(r)}")
        score = r.get("score", r.get("stars", 0))
        try:
            score = int(float(score))
        except (TypeError, ValueError, OverflowError):
            score = 0
        reviews.append(Review(_text(r.get("title"), f"{where}, review {j}", "title"), score,
                              _text(r.get("body", r.get("review")), f"{where}, review {j}", "body")))
    return tuple(reviews)


def _rating(value) -> float | None:
    try:
        rating = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return rating if math.isfinite(rating) else None


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


def _instruction(raw: dict, where: str, required: bool) -> dict:
    """An instruction record ({"instruction", "instruction_attributes", "instruction_options"}),
    type-checked; `required`: the instruction text must be there."""
    instruction = raw.get("instruction")
    if instruction is None and not required:
        instruction = ""
    elif not isinstance(instruction, str):
        raise ValueError(f"{where}: 'instruction' must be text, got {_json_type(instruction)}")
    options = raw.get("instruction_options")
    if isinstance(options, dict):
        options = {_text(k, where, "instruction_options"): _text(v, where, f"instruction_options[{k!r}]")
                   for k, v in options.items()}
    else:
        options = _texts(options, where, "instruction_options")
    return {"instruction": _text(instruction, where, "instruction"),
            "instruction_attributes": _texts(raw.get("instruction_attributes"), where, "instruction_attributes"),
            "instruction_options": options}


def _attribute_record(raw, where: str) -> dict:
    """One items_ins_v2*.json entry, checked: {"attributes": [...], instruction fields}."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with 'attributes', 'instruction' and "
                         f"'instruction_attributes', got {_json_type(raw)}")
    return {"attributes": _texts(raw.get("attributes"), where, "attributes"),
            **_instruction(raw, where, required=False)}


def _human_record(raw, where: str) -> list[dict]:
    """One items_human_ins.json entry, checked: a list of instruction records."""
    if not isinstance(raw, list):
        raise ValueError(f"{where}: must map to a list of instructions, got {_json_type(raw)}")
    entries = []
    for j, e in enumerate(raw, 1):
        if not isinstance(e, dict):
            raise ValueError(f"{where}, instruction {j}: expected an object with 'instruction' text, got "
                             f"{_json_type(e)}")
        entries.append(_instruction(e, f"{where}, instruction {j}", required=True))
    return entries


def load_original_catalog(
    items_path, attributes_path=None, human_goals_path=None, *, reviews_path=None,
    num_products: int | None = None, seed: int = 0,
) -> Catalog:
    """Read WebShop's product and instruction files into a `Catalog` (see the module doc)."""
    if attributes_path is None and human_goals_path is None:
        raise ValueError("the original catalog needs attributes_path (items_ins_v2*.json) "
                         "or human_goals_path (items_human_ins.json) to make goals")
    items_path = Path(items_path)
    items = _read_json(items_path, list, "a list of products")
    if num_products is not None:
        items = items[:num_products]
    # entries are checked as they are used (as WebShop reads them): the products kept may be a few
    attributes = _read_json(attributes_path, dict, "an object keyed by asin") if attributes_path else {}
    human = _read_json(human_goals_path, dict, "an object keyed by asin") if human_goals_path else None
    checked_attributes: dict[str, dict] = {}
    reviews_by_asin: dict[str, tuple[tuple[Review, ...], float | None]] = {}
    if reviews_path:
        for j, entry in enumerate(_read_json(reviews_path, list, "a list of review records"), 1):
            where = f"{reviews_path}, record {j}"
            if not isinstance(entry, dict) or not isinstance(entry.get("asin"), str):
                raise ValueError(f"{where}: expected an object with an 'asin' text and 'reviews'")
            reviews_by_asin[entry["asin"]] = (_reviews(entry.get("reviews"), where),
                                              _rating(entry.get("average_rating")))

    rng = random.Random(f"prices:{seed}")
    products: list[Product] = []
    seen: set[str] = set()
    for i, p in enumerate(items):
        where = f"{items_path}, record {i + 1}"
        if not isinstance(p, dict):
            raise ValueError(f"{where}: a product must be an object, got {_json_type(p)}")
        for key in ("asin", "name"):
            if not isinstance(p.get(key), str):
                raise ValueError(f"{where}: no text field {key!r}")
        asin = _text(p["asin"], where, "asin")
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        where = f"{where} (asin {asin})"
        price, price_text = _pricing(p.get("pricing"), where, rng)
        if asin in attributes:
            checked_attributes[asin] = _attribute_record(attributes[asin], f"{attributes_path}, asin {asin!r}")
        attrs = checked_attributes[asin]["attributes"] if asin in checked_attributes else None
        own_reviews, own_rating = reviews_by_asin.get(asin, (None, None))
        products.append(Product(
            asin=asin,
            title=_text(p["name"], where, "name"),
            category=_text(p.get("category"), where, "category"),
            product_category=_text(p.get("product_category"), where, "product_category"),
            query=_text(p.get("query"), where, "query").lower().strip(),
            price=price,
            price_text=price_text,
            bullets=tuple(_texts(p.get("small_description") or [], where, "small_description", single=True)),
            description=_text(p.get("full_description") or "", where, "full_description"),
            attributes=tuple(attrs) if attrs else ("DUMMY_ATTR",),
            options=_options(p.get("customization_options"), where),
            rating=own_rating if own_rating is not None else _rating(p.get("average_rating", p.get("Rating"))),
            reviews=own_reviews if own_reviews is not None else _reviews(p.get("Reviews", p.get("reviews")), where),
        ))

    goal_rng = random.Random(f"goals:{seed}")
    raw_goals = []
    for product in products:
        asin = product.asin
        if human is not None:
            key = asin if asin in human else asin.lower()
            entries = _human_record(human[key], f"{human_goals_path}, asin {key!r}") if key in human else []
            specs = [(e["instruction"].strip().strip("."), e["instruction_attributes"],
                      _goal_options(e["instruction_options"], product)) for e in entries if e["instruction_attributes"]]
        else:
            entry = checked_attributes.get(asin)
            if entry is None or not entry["instruction"] or not entry["instruction_attributes"]:
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
