"""Products, goals and the generated catalog.

A `Catalog` holds the products, the goals (the tasks) and, built on first use, the search
index. Catalogs are expensive compared with an env step, so `get_catalog` builds each distinct
configuration once per process and every env instance shares it (read-only).

The generated catalog is deterministic in (`num_products`, `seed`): products come from one
seeded random stream whose draws do not depend on the catalog size, so the first 1,000
products of a 10,000-product catalog are the 1,000-product catalog. Goals are drawn from a
second stream (2 or 3 per product, each asking for a subset of the product's attributes and
options and a price budget above its price, as in WebShop) and then shuffled with a fixed seed
so that any prefix of the goal list - the test split is the first 100 - covers all categories.
The recitation probe's inverted goals are made apart from the catalog, in `envs.webshop.perturb`.
"""

from __future__ import annotations

import bisect
import random
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envs.webshop import pages, vocab
from envs.webshop.reward import option_matches

if TYPE_CHECKING:
    from envs.webshop.search import ProductSearch

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
"""Budget steps of the original goal generator: budgets are multiples of 10 dollars."""
NO_BUDGET = 1_000_000.0
TEST_SIZE = 100
TIERS = {1: (1, 2), 2: (3, 3), 3: (4, 99)}
"""Difficulty tier -> (min, max) number of goal constraints (attributes + options)."""

_ACRONYMS = {"spf", "usb", "led", "gps", "hdmi", "bpa", "gmo", "ph", "4k", "gan", "tv", "uv", "dpi"}
_ASIN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_CONSONANTS, _VOWELS = "BCDFGHJKLMNPRSTVWZ", "AEIOU"


@dataclass(frozen=True, slots=True)
class Review:
    title: str
    score: int
    body: str


@dataclass(frozen=True, slots=True)
class Product:
    asin: str
    """Upper-case product id ("B0A1X2C3D4"); observations show it lower-cased."""
    title: str
    category: str
    """Short category ("beauty"), WebShop's `category`."""
    product_category: str
    """Category path joined by " › ", WebShop's `product_category`."""
    query: str
    """The search query the product belongs to (WebShop's `query`): its product type."""
    price: float
    """What the product costs when bought (compared with the goal's budget)."""
    price_text: str
    """How the price is shown ("$12.99", or "$10.00 to $15.00" for original price ranges)."""
    bullets: tuple[str, ...]
    description: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    """Option kind -> values, in display order."""
    rating: float | None = None
    brand: str = ""
    reviews: tuple[Review, ...] | None = None
    """None for generated products: their reviews are made on demand (see `Catalog.reviews`)."""


@dataclass(frozen=True, slots=True)
class Goal:
    id: int
    asin: str
    """The product the goal was drawn from (buying it with `options` earns reward 1)."""
    instruction: str
    attributes: tuple[str, ...]
    options: dict[str, str]
    """Option kind -> wanted value."""
    price_upper: float
    query: str
    category: str
    product_category: str
    name: str
    """Title of the target product (the type reward compares title nouns against it)."""
    price_lower: float | None = None
    """Inverted goals only: "price higher than" this (then `price_upper` is NO_BUDGET)."""
    excluded_options: dict[str, str] = field(default_factory=dict)
    """Inverted goals only: option kind -> the value the customer does not want (another one of
    that kind must be selected)."""

    @property
    def num_constraints(self) -> int:
        return len(self.attributes) + len(self.options) + len(self.excluded_options)

    @property
    def tier(self) -> int:
        return tier_of(self.num_constraints)


def tier_of(num_constraints: int) -> int:
    for tier, (low, high) in TIERS.items():
        if low <= num_constraints <= high:
            return tier
    return 1  # goals without constraints (possible only in hand-made data) are the easiest


def describe_tiers() -> str:
    """"1 (1-2 constraints), 2 (3 constraints), 3 (4+ constraints)"."""
    parts = []
    for tier, (low, high) in TIERS.items():
        span = f"{low}+" if high >= 99 else str(low) if low == high else f"{low}-{high}"
        parts.append(f"{tier} ({span} constraints)")
    return ", ".join(parts)


class Catalog:
    """Products + goals + a lazily built search index, shared read-only between envs."""

    def __init__(self, products: list[Product], goals: list[Goal], source: str):
        self.products = products
        self.by_asin = {p.asin: p for p in products}
        self.goals = goals
        self.source = source
        self._search: ProductSearch | None = None
        self._lock = threading.Lock()
        self._by_query: dict[str, list[Product]] | None = None

    @property
    def search_engine(self) -> ProductSearch:
        """The BM25 index, built on first use (listing tasks does not need it)."""
        if self._search is None:
            with self._lock:
                if self._search is None:
                    from envs.webshop.search import ProductSearch

                    self._search = ProductSearch(self.products)
        return self._search

    def search(self, keywords: str) -> list[str]:
        """ASINs of the best matches for `keywords`, best first (at most 50)."""
        return [self.products[i].asin for i in self.search_engine.search(keywords)]

    def reviews(self, product: Product) -> tuple[Review, ...]:
        """The product's reviews; generated ones are made from the ASIN, so they never change."""
        if product.reviews is not None:
            return product.reviews
        rng = random.Random(f"reviews:{product.asin}")
        kind = product.query
        n = rng.randint(2, 3)
        titles = rng.sample(vocab.REVIEW_TITLES, n)
        bodies = rng.sample(vocab.REVIEW_BODIES, n)
        return tuple(
            Review(title, rng.randint(3, 5),
                   body.format(type=kind,
                               attribute=rng.choice(product.attributes) if product.attributes else "well made"))
            for title, body in zip(titles, bodies)
        )

    def task_ids(self, split: str, tier: int | None = None) -> list[int]:
        """Goal ids of a split: "test" is the first 100 goals, "train" the rest."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if tier is not None and tier not in TIERS:
            raise ValueError(f"unknown webshop tier {tier!r}; tiers by number of goal attributes + options "
                             f"are {describe_tiers()}")
        ids = range(min(TEST_SIZE, len(self.goals))) if split == "test" else range(TEST_SIZE, len(self.goals))
        return [i for i in ids if tier is None or self.goals[i].tier == tier]

    def products_of_type(self, query: str) -> list[Product]:
        """The products whose type (`query`) is `query`, in catalog order."""
        if self._by_query is None:
            by_query: dict[str, list[Product]] = {}
            for p in self.products:
                by_query.setdefault(p.query, []).append(p)
            self._by_query = by_query
        return self._by_query.get(query, [])


# ----------------------------------------------------------------------------------- helpers
def title_case(phrase: str) -> str:
    """"spf 15 lip balm" -> "SPF 15 Lip Balm" (str.title would give "Men'S" and "Spf")."""
    words = []
    for word in phrase.split():
        words.append(word.upper() if word.lower() in _ACRONYMS else word[:1].upper() + word[1:])
    return " ".join(words)


def is_postnominal(attribute: str) -> bool:
    """Attributes like "for dry hair" follow the noun in an instruction; "gluten free" precedes it."""
    return attribute.startswith(vocab.PREPOSITIONS)


def post_phrase(attribute: str) -> str:
    """How a post-nominal attribute follows the noun: "no preservatives" -> "with no preservatives"."""
    return "with " + attribute if attribute.startswith("no ") else attribute


def join_and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def article(phrase: str) -> str:
    """"a" or "an" for a phrase (by its first letter, with the common exceptions)."""
    word = phrase.split()[0].lower() if phrase.split() else ""
    if word.startswith(("uni", "usb", "use", "one")):
        return "a"
    if word.startswith(("hdmi", "led", "spf", "4k")) or word[:1] in "aeiou":
        return "an"
    return "a"


def budget(price: float, rng: random.Random) -> float:
    """WebShop's budget rule: the larger of two random steps among the 4 above the price."""
    first = bisect.bisect_right(PRICE_RANGE, price)
    steps = PRICE_RANGE[first:first + 4]
    if len(steps) < 2:
        return NO_BUDGET
    return max(rng.sample(steps, 2))


def price_phrase(price_upper: float) -> str:
    return "" if price_upper >= NO_BUDGET else f", and price lower than {price_upper:.2f} dollars"


def allowed_option(product: Product, kind: str, excluded: str) -> str | None:
    """The first value of `product`'s option `kind` that a click selects for that kind and that does
    not match `excluded` (None if there is none)."""
    clickable = pages.option_clickables(product)
    for value in product.options.get(kind, ()):
        owner = next(k for k, vs in product.options.items() if value.lower() in (v.lower() for v in vs))
        if owner == kind and value.lower() in clickable and option_matches({kind: excluded}, {kind: value}) == 0:
            return value
    return None


# ------------------------------------------------------------------------- generated catalog
_TYPES = [(category, ptype) for category in vocab.CATEGORIES for ptype in category.types]
_TYPE_BY_NAME = {ptype.name: ptype for _, ptype in _TYPES}

_BULLETS = (
    "{A}: one of the main reasons customers pick this {type}",
    "{A} - the {brand} {type} delivers it every single day",
    "{A}: tested by our team so you can count on it",
    "{A} - made with care and checked before shipping",
)
_INSTRUCTIONS = (
    "i need {np}{opts}",
    "i'm looking for {np}{opts}",
    "i want to buy {np}{opts}",
    "find me {np}{opts}",
    "i am searching for {np}{opts}",
    "looking for {np}{opts}",
)


def _make_asin(rng: random.Random, taken: set[str]) -> str:
    """An ASIN-shaped id ("B0ROCIWORI") made of syllables.

    Agents must copy product ids into click[...]; a syllable id costs a BPE tokenizer ~6
    tokens against ~8 for a random alphanumeric one, on pages that list each id twice.
    """
    while True:
        asin = "B0" + "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(4))
        if asin not in taken:
            taken.add(asin)
            return asin


def _make_product(rng: random.Random, asins: set[str], titles: set[str]) -> Product:
    category, ptype = rng.choice(_TYPES)
    brand = rng.choice(category.brands)
    line = rng.choice(vocab.LINES)

    if ptype.category_attributes:
        type_attrs = rng.sample(ptype.attributes, rng.randint(2, 3))
        cat_pool = [a for a in category.attributes if a not in type_attrs]
        attributes = type_attrs + rng.sample(cat_pool, rng.randint(1, 2))
    else:
        attributes = rng.sample(ptype.attributes, rng.randint(3, 4))

    options: dict[str, tuple[str, ...]] = {}
    for kind, values in ptype.options.items():
        if rng.random() < 0.85:
            keep = set(rng.sample(values, rng.randint(2, min(5, len(values)))))
            options[kind] = tuple(v for v in values if v in keep)

    low, high = ptype.price
    price = round(int(rng.uniform(low, high)) + rng.choice((0.99, 0.49, 0.95, 0.0)), 2)

    # The title names brand, line, the type and maybe one attribute and an extra; regenerated
    # on a clash so that titles stay unique (the expert's fallback search is the title).
    adjectives = [a for a in attributes if not is_postnominal(a)]
    title = ""
    for attempt in range(6):
        parts = [brand, line]
        if adjectives and rng.random() < 0.7:
            parts.append(title_case(rng.choice(adjectives)))
        parts.append(ptype.title)
        if ptype.extras and rng.random() < 0.6:
            parts.append(rng.choice(ptype.extras))
        if attempt == 5:
            parts.append(f"Model {rng.choice(_ASIN_CHARS[:26])}{rng.randint(10, 999)}")
        title = " ".join(parts)
        if title not in titles:
            break
    titles.add(title)

    bullets = [rng.choice(_BULLETS).format(A=a.upper(), type=ptype.name, brand=brand) for a in attributes]
    bullets.append(f"WHAT YOU GET: {article(ptype.name)} {ptype.name} from {brand}, ready to use out of the box")
    pitches = rng.sample(category.pitches, 2)
    pre = [a for a in attributes if not is_postnominal(a)]
    post = [post_phrase(a) for a in attributes if is_postnominal(a)]
    described = ", ".join(x for x in (join_and(pre), join_and(post)) if x)
    description = " ".join([
        f"Meet the {brand} {line} {ptype.title} - {described}.",
        *(p.format(brand=brand, type=ptype.name) for p in pitches),
        *([f"Choose your {join_and(list(options))} before you buy."] if options else []),
    ])

    return Product(
        asin=_make_asin(rng, asins),
        title=title,
        category=category.key,
        product_category=" › ".join((category.root, *ptype.path)),
        query=ptype.name,
        price=price,
        price_text=f"${price:.2f}",
        bullets=tuple(bullets),
        description=description,
        attributes=tuple(attributes),
        options=options,
        rating=round(rng.uniform(3.2, 5.0), 1),
        brand=brand,
    )


def _instruction(ptype_name: str, plural: bool, attributes: list[str], options: dict[str, str],
                 price_upper: float, rng: random.Random) -> str:
    pre = [a for a in attributes if not is_postnominal(a)]
    post = [a for a in attributes if is_postnominal(a)]
    noun = " ".join([ptype_name, *(post_phrase(a) for a in post)])
    if pre and rng.random() < 0.3:
        core = f"{noun} that {'are' if plural else 'is'} {join_and(pre)}"
    else:
        core = " ".join([*([join_and(pre)] if pre else []), noun])
    np_ = core if plural else f"{article(core)} {core}"
    phrases = [vocab.OPTION_PHRASES.get(kind, "with {kind} {v}").format(v=value, kind=kind)
               for kind, value in options.items()]
    # "in red color, pack of 2" reads after the noun with a space; a bare "pack of 2" needs a comma
    opts = ""
    if phrases:
        opts = (" " if phrases[0].startswith(("in ", "with ")) else ", ") + ", ".join(phrases)
    return rng.choice(_INSTRUCTIONS).format(np=np_, opts=opts) + price_phrase(price_upper)


def _goals_for(product: Product, rng: random.Random) -> list[dict]:
    ptype = _TYPE_BY_NAME[product.query]
    goals, seen = [], set()
    for _ in range(rng.choice((2, 3))):
        for _attempt in range(5):
            n_attr = rng.choices((1, 2, 3), weights=(0.35, 0.4, 0.25))[0]
            attrs = rng.sample(product.attributes, min(n_attr, len(product.attributes)))
            kinds = list(product.options)
            n_opt = min(rng.choices((0, 1, 2), weights=(0.2, 0.45, 0.35))[0], len(kinds))
            chosen = rng.sample(kinds, n_opt)
            options = {k: rng.choice(product.options[k]) for k in kinds if k in chosen}
            key = (frozenset(attrs), tuple(sorted(options.items())))
            if key not in seen:
                break
        else:
            continue
        seen.add(key)
        price_upper = budget(product.price, rng)
        goals.append(dict(
            asin=product.asin,
            instruction=_instruction(ptype.name, ptype.plural, attrs, options, price_upper, rng),
            attributes=tuple(attrs), options=options, price_upper=price_upper, query=product.query,
            category=product.category, product_category=product.product_category, name=product.title,
        ))
    return goals


def finish_goals(raw_goals: list[dict], seed: int) -> list[Goal]:
    """Shuffle goal records with a fixed seed and number them: the goal id is the task id."""
    random.Random(f"shuffle:{seed}").shuffle(raw_goals)
    return [Goal(id=i, **g) for i, g in enumerate(raw_goals)]


def generate_catalog(num_products: int = 1000, seed: int = 0) -> Catalog:
    """A synthetic shop of `num_products` products with 2-3 goals each (see the module doc)."""
    if not isinstance(num_products, int) or num_products < 1:
        raise ValueError(f"num_products must be a positive integer, got {num_products!r}")
    rng = random.Random(f"products:{seed}")
    asins: set[str] = set()
    titles: set[str] = set()
    products = [_make_product(rng, asins, titles) for _ in range(num_products)]
    goal_rng = random.Random(f"goals:{seed}")
    raw = [g for p in products for g in _goals_for(p, goal_rng)]
    return Catalog(products, finish_goals(raw, seed), source=f"generated(num_products={num_products}, seed={seed})")


# ------------------------------------------------------------------------------------ cache
_CACHE: dict[tuple, Catalog] = {}
_CACHE_LOCK = threading.Lock()


def get_catalog(
    num_products: int | None = 1000, seed: int = 0, items_path: str | None = None,
    attributes_path: str | None = None, human_goals_path: str | None = None,
    reviews_path: str | None = None,
) -> Catalog:
    """The catalog for these options, built once per process and shared.

    Without `items_path` the catalog is generated; with it, the original WebShop files are
    loaded (`num_products` then keeps the first N products, as WebShop's own loader does;
    None keeps all).
    """
    if items_path is None:
        if attributes_path or human_goals_path or reviews_path:
            raise ValueError("attributes_path / human_goals_path / reviews_path need items_path")
        key: tuple = ("generated", num_products, seed)
    else:
        key = ("original", str(items_path), str(attributes_path), str(human_goals_path),
               str(reviews_path), num_products, seed)
    catalog = _CACHE.get(key)
    if catalog is None:
        with _CACHE_LOCK:
            catalog = _CACHE.get(key)
            if catalog is None:
                if items_path is None:
                    catalog = generate_catalog(num_products if num_products is not None else 1000, seed)
                else:
                    from envs.webshop.original import load_original_catalog

                    catalog = load_original_catalog(items_path, attributes_path, human_goals_path,
                                                    reviews_path=reviews_path, num_products=num_products,
                                                    seed=seed)
                _CACHE[key] = catalog
    return catalog
