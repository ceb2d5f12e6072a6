"""Build FTRL-format tool-use environments from a generated fictional world, deterministically.

    python -m generators.tooluse_build --out envs.jsonl --n 1000 --seed 0 [--stages-dir DIR] [--model M]

An offline generator, kept out of the env package (`envs.tooluse` only reads its output and, when
its cache is missing, calls `build`). The tool-use env's default task set is `build(1200, 0)`.

The five stages of FTRL's construction pipeline, each a function with its own output (with
`--stages-dir` each stage's output is written as `1_scenarios.jsonl` ... `5_deployed.jsonl`):

1. `decompose_scenario`: a question over a small invented world (people, cities, companies,
   books, rivers, countries, linked by functional relations such as person -> birth city ->
   mayor) decomposed into sub-questions with sub-answers, in one of four scenarios:
   single_hop (one call), multi_hop (a chain, each sub-answer is the next call's argument,
   possibly ending in a date / arithmetic / string computation), parallel_single_hop (2-3
   independent lookups whose answers are summed, subtracted, compared or ordered) and
   parallel_multi_hop (2-3 independent chains, combined by the model or by a final calculator /
   date call). Every name is invented, so no answer can come from a model's memory.
2. `generate_documents`: one OpenAI function schema per sub-question.
3. `integrate_functions`: tools that overlap are merged (person_birth_city + person_employer ->
   one person lookup with an enum `field`; add_numbers + multiply_numbers -> a calculator).
4. `scale_complexity`: broader tools (more fields or operations), more general parameter types
   (an `operands` array), optional parameters with defaults, and distractor tools (other
   lookups of the same world, weather, currency, units, time zones) that the question does
   not need.
5. `deploy_locally`: Python source for every tool, a plain stdlib function with its data table
   embedded as literals. A correct call returns the gold sub-answer, a valid call on another
   entity returns that entity's record, and invalid calls return explanatory error strings
   (unknown name with a close-match hint, missing argument, wrong type, bad enum value).

Every environment is then verified in the sandbox (`envs.tooluse.sandbox.Sandbox`, one worker
reused, `load` per environment): its gold calls are executed turn by turn, each call's
JSON-encoded result must contain that call's gold sub-answer, and the final answer must follow
(it is the last call's sub-answer, or the stated combination of the branches' sub-answers).
Failures are discarded and counted. Tool code never runs in this process.

Output records have FTRL's keys (`messages`, `tools`, `codes`, `unsolved_set`, `solve_rate`,
`data_source`, `split`, `answer`) plus `id`, `gold_calls` (turns of {"name", "arguments"}
calls; parallel calls share a turn) and `combine` (null when the answer is the last call's
sub-answer, else {"op", "values", "labels"}: how the answer follows from the branches'
sub-answers). Each environment is drawn from `random.Random` seeded by the string
"ftrl-gen:<seed>:<index>", so output is byte-identical for the same seed and `build(n)` is a
prefix of `build(m)` for n < m.

With `--model M` an LLM (loaded with `cleanagent_utils.models.load_model(M, "float32")`) writes every tool's
description and code from the stage-4 documents instead of stage 5's templates; only
environments whose gold chain then verifies in the sandbox are kept (no fallback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

PREAMBLE = (
    "Please call given tools to answer the question. Please note that all your information must be obtained "
    "by calling tools and not by answering the question directly.\nIf the call fails, you need to try to correct "
    "it and continue until you arrive at an answer.\nQuestion: "
)
SCENARIOS = ("single_hop", "parallel_single_hop", "multi_hop", "parallel_multi_hop")
STAGE_FILES = ("1_scenarios.jsonl", "2_documents.jsonl", "3_integrated.jsonl", "4_scaled.jsonl", "5_deployed.jsonl")
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

# ====================================================================================== world


@dataclass(frozen=True)
class EntityType:
    param: str        # the tool parameter naming an entity of this type
    noun: str
    plural: str
    param_desc: str


TYPES: dict[str, EntityType] = {
    "person": EntityType("name", "person", "people", "The person's full name (first and last name)."),
    "city": EntityType("city", "city", "cities", "The name of the city."),
    "company": EntityType("company", "company", "companies", "The company's full name."),
    "book": EntityType("title", "book", "books", "The book's full title."),
    "river": EntityType("river", "river", "rivers", "The river's full name, including the word 'River'."),
    "country": EntityType("country", "country", "countries", "The name of the country."),
}


@dataclass(frozen=True)
class Field:
    subject: str      # entity type that has the field
    name: str
    kind: str         # an entity type (a relation), or "int", "date", "str" (a literal)
    phrase: str       # noun phrase of the value; {x} is the subject's phrase
    question: str     # question asking for the value; {x} is the subject's phrase
    doc: str          # what the value is, for tool documents
    noun: str = ""    # for comparisons ("population")
    more: str = "larger"
    less: str = "smaller"


FIELDS: dict[tuple[str, str], Field] = {
    (f.subject, f.name): f
    for f in [
        Field("person", "birth_city", "city", "the birth city of {x}", "In which city was {x} born?",
              "the city where the person was born"),
        Field("person", "employer", "company", "the employer of {x}", "Which company does {x} work for?",
              "the company the person works for"),
        Field("person", "birth_date", "date", "the birth date of {x}", "On what date was {x} born?",
              "the person's date of birth (YYYY-MM-DD)", "birth date", "later", "earlier"),
        Field("person", "height_cm", "int", "the height in centimetres of {x}", "How tall is {x} in centimetres?",
              "the person's height in centimetres", "height", "greater", "smaller"),
        Field("city", "mayor", "person", "the mayor of {x}", "Who is the mayor of {x}?",
              "the full name of the city's mayor"),
        Field("city", "country", "country", "the country of {x}", "In which country is {x} located?",
              "the country the city lies in"),
        Field("city", "river", "river", "the river that flows through {x}", "Which river flows through {x}?",
              "the river flowing through the city"),
        Field("city", "population", "int", "the population of {x}", "What is the population of {x}?",
              "the number of inhabitants", "population"),
        Field("city", "founded_year", "int", "the founding year of {x}", "In what year was {x} founded?",
              "the year the city was founded", "founding year", "later", "earlier"),
        Field("city", "area_km2", "int", "the area in square kilometres of {x}",
              "What is the area of {x} in square kilometres?", "the city's area in square kilometres", "area"),
        Field("company", "ceo", "person", "the CEO of {x}", "Who is the CEO of {x}?",
              "the full name of the company's chief executive"),
        Field("company", "headquarters", "city", "the headquarters city of {x}", "In which city is {x} headquartered?",
              "the city where the company has its headquarters"),
        Field("company", "founded_date", "date", "the founding date of {x}", "On what date was {x} founded?",
              "the date the company was founded (YYYY-MM-DD)", "founding date", "later", "earlier"),
        Field("company", "employees", "int", "the number of employees of {x}", "How many employees does {x} have?",
              "the number of people the company employs", "number of employees"),
        Field("book", "author", "person", "the author of {x}", "Who wrote {x}?", "the full name of the book's author"),
        Field("book", "publisher", "company", "the publisher of {x}", "Which company published {x}?",
              "the company that published the book"),
        Field("book", "publication_year", "int", "the publication year of {x}", "In what year was {x} published?",
              "the year the book was first published", "publication year", "later", "earlier"),
        Field("book", "pages", "int", "the number of pages of {x}", "How many pages does {x} have?",
              "the number of pages of the first edition", "page count"),
        Field("river", "source_country", "country", "the country where {x} rises", "In which country does {x} rise?",
              "the country where the river has its source"),
        Field("river", "length_km", "int", "the length in kilometres of {x}", "How long is {x} in kilometres?",
              "the river's length in kilometres", "length", "greater", "smaller"),
        Field("country", "capital", "city", "the capital of {x}", "What is the capital of {x}?",
              "the country's capital city"),
        Field("country", "currency", "str", "the currency of {x}", "What is the currency of {x}?",
              "the name of the country's currency"),
        Field("country", "independence_date", "date", "the independence date of {x}",
              "On what date did {x} become independent?", "the date the country became independent (YYYY-MM-DD)",
              "independence date", "later", "earlier"),
    ]
}
TYPE_FIELDS = {t: [f for (s, f) in FIELDS if s == t] for t in TYPES}
WORLD_SIZES = {"person": 12, "city": 8, "company": 6, "book": 6, "river": 5, "country": 4}

SYLLABLES = ["ka", "lo", "mi", "ren", "dar", "vel", "to", "sa", "nor", "bel", "ith", "an", "or", "ul", "fen", "ga",
             "ro", "shi", "tam", "ze", "qui", "bra", "mon", "tis", "el", "hal", "vor", "nes", "pi", "lu", "cor",
             "da", "ys", "wen", "ar", "mel", "ost", "ri", "fa", "jun", "bo", "ke", "sil", "tra", "um", "vi"]
FIRST_END = ["a", "o", "in", "el", "is", "", "", "en"]
LAST_END = ["son", "ski", "ani", "ova", "ez", "berg", "wyn", "ard", "", "ley", "ic"]
CITY_END = ["ford", "ville", "burg", "haven", "mouth", "stead", "port", "by", "wick", "grad", "ton", "mere"]
COMPANY_END = ["Industries", "Labs", "Works", "Holdings", "Systems", "Dynamics", "Foods", "Logistics", "Textiles",
               "Media", "Instruments", "Freight"]
COUNTRY_END = ["ia", "land", "stan", "ora", "ovia", "enia", "mar"]
CURRENCY_END = ["o", "ar", "el", "un", "ix"]
BOOK_ADJ = ["Copper", "Hollow", "Crimson", "Amber", "Paper", "Quiet", "Seventh", "Velvet", "Salt", "Ashen", "Tidal",
            "Woven", "Lesser", "Northern", "Unlit", "Borrowed"]
BOOK_NOUN = ["Meridian", "Orchard", "Lantern", "Ledger", "Compass", "Harbor", "Archive", "Cartographer", "Bellwether",
             "Tide", "Almanac", "Weir", "Foundry", "Observatory", "Aqueduct", "Menagerie"]
CONDITIONS = ["sunny", "cloudy", "light rain", "heavy rain", "fog", "snow", "windy", "thunderstorms"]


def _date(rng: random.Random, lo: int, hi: int) -> str:
    return dt.date.fromordinal(rng.randint(dt.date(lo, 1, 1).toordinal(), dt.date(hi, 12, 31).toordinal())).isoformat()


class World:
    """A small invented world: `records[type][name][field]`, names unique and none inside another."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.names: list[str] = []
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TYPES}
        for t, size in WORLD_SIZES.items():
            for _ in range(size):
                self.records[t][self._new_name(t)] = {}
        self.currencies = [self._new_name("currency") for _ in self.records["country"]]
        r = rng
        people, cities, companies = self.all("person"), self.all("city"), self.all("company")
        rivers, countries = self.all("river"), self.all("country")
        for i, (name, rec) in enumerate(self.records["city"].items()):
            rec.update(mayor=r.choice(people), country=countries[i % len(countries)], river=r.choice(rivers),
                       population=r.randint(20_000, 3_000_000), founded_year=r.randint(900, 1950),
                       area_km2=r.randint(20, 1500))
        for i, (name, rec) in enumerate(self.records["country"].items()):
            own = [c for c in cities if self.records["city"][c]["country"] == name]
            rec.update(capital=r.choice(own), currency=self.currencies[i], independence_date=_date(r, 1800, 1990))
        for rec in self.records["person"].values():
            rec.update(birth_city=r.choice(cities), employer=r.choice(companies), birth_date=_date(r, 1930, 2004),
                       height_cm=r.randint(150, 205))
        for rec in self.records["company"].values():
            rec.update(ceo=r.choice(people), headquarters=r.choice(cities), founded_date=_date(r, 1850, 2015),
                       employees=r.randint(40, 250_000))
        for rec in self.records["book"].values():
            rec.update(author=r.choice(people), publisher=r.choice(companies), publication_year=r.randint(1900, 2023),
                       pages=r.randint(90, 950))
        for rec in self.records["river"].values():
            rec.update(source_country=r.choice(countries), length_km=r.randint(40, 3200))
        self.weather = {c: [r.choice(CONDITIONS), r.randint(-8, 34)] for c in cities}
        self.utc_offsets = {c: r.choice(range(-10, 13)) for c in cities}
        self.rates = {c: round(r.uniform(0.05, 4.0), 4) for c in self.currencies}

    def all(self, t: str) -> list[str]:
        return list(self.records[t])

    def value(self, t: str, name: str, f: str):
        return self.records[t][name][f]

    def _new_name(self, t: str) -> str:
        r = self.rng
        for _ in range(1000):
            stem = (r.choice(SYLLABLES) + r.choice(SYLLABLES)).capitalize()
            if t == "person":
                last = (r.choice(SYLLABLES) + r.choice(SYLLABLES) + r.choice(LAST_END)).capitalize()
                name = f"{stem}{r.choice(FIRST_END)} {last}"
            elif t == "city":
                name = stem + r.choice(CITY_END)
            elif t == "company":
                name = f"{stem} {r.choice(COMPANY_END)}"
            elif t == "book":
                name = f"The {r.choice(BOOK_ADJ)} {r.choice(BOOK_NOUN)}"
            elif t == "river":
                name = f"{stem} River"
            elif t == "country":
                name = stem + r.choice(COUNTRY_END)
            else:  # currency
                name = stem + r.choice(CURRENCY_END)
            low = name.casefold()
            if len(name) > 3 and not any(low in n.casefold() or n.casefold() in low for n in self.names):
                self.names.append(name)
                return name
        raise RuntimeError("could not invent a fresh name")


def mention(t: str, name: str) -> str:
    if t == "book":
        return f"the book '{name}'"
    if t == "river":
        return f"the {name}"
    return name


def fmt(value) -> str:
    """A sub-answer as a string: names and dates as they are, numbers as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)


# ====================================================================================== stage 1

OPS: dict[str, str] = {  # computation -> family
    "day_of_week": "date", "add_days": "date", "days_between": "date",
    "add": "arith", "subtract": "arith", "multiply": "arith", "percentage": "arith",
    "initials": "text", "reverse": "text", "letter_count": "text", "uppercase": "text",
}
FAMILY_OPS = {fam: [op for op, f in OPS.items() if f == fam] for fam in ("date", "arith", "text")}


def compute(op: str, inputs: dict):
    """The gold result of a computation (the deployed tool code computes the same)."""
    if op == "day_of_week":
        return WEEKDAYS[dt.date.fromisoformat(inputs["date"]).weekday()]
    if op == "add_days":
        return (dt.date.fromisoformat(inputs["date"]) + dt.timedelta(days=inputs["days"])).isoformat()
    if op == "days_between":
        return (dt.date.fromisoformat(inputs["end_date"]) - dt.date.fromisoformat(inputs["start_date"])).days
    if op == "add":
        return inputs["a"] + inputs["b"]
    if op == "subtract":
        return inputs["a"] - inputs["b"]
    if op == "multiply":
        return inputs["a"] * inputs["b"]
    if op == "percentage":
        return round(inputs["part"] / inputs["whole"] * 100, 2)
    text = inputs["text"]
    if op == "initials":
        return ".".join(w[0].upper() for w in text.split()) + "."
    if op == "reverse":
        return text[::-1]
    if op == "letter_count":
        return sum(c.isalpha() for c in text)
    if op == "uppercase":
        return text.upper()
    raise ValueError(op)


def apply_combine(op: str, values: list[str], labels: list[str] | None) -> str:
    """The final answer from the branches' sub-answers (ints or ISO dates, as strings)."""
    keys = [v if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else int(v) for v in values]
    if op == "sum":
        return str(sum(keys))
    if op == "difference":
        return str(abs(keys[0] - keys[1]))
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    if op == "max":
        return labels[order[-1]]
    if op == "min":
        return labels[order[0]]
    if op == "order_asc":
        return ", ".join(labels[i] for i in order)
    if op == "order_desc":
        return ", ".join(labels[i] for i in reversed(order))
    raise ValueError(op)


@dataclass
class SubQ:
    index: int
    branch: int
    turn: int
    op: str                 # "lookup" or a computation
    inputs: dict            # lookup: {"type", "entity", "field"}; computation: its inputs
    answer: Any
    text: str
    depends_on: list[int] = field(default_factory=list)


@dataclass
class Scenario:
    id: str
    scenario: str
    question: str
    answer: str
    subqs: list[SubQ]
    combine: dict | None
    world: World | None = field(default=None, repr=False, compare=False)    # for the later stages
    rng: random.Random | None = field(default=None, repr=False, compare=False)


class _Retry(Exception):
    pass


def _chain(rng, world: World, n: int, end_field=None):
    """n lookups from a random entity, each hop's answer the next hop's subject, no entity twice.
    Returns [(type, entity, field, value)]; `end_field`: the last hop's (type, field)."""
    for _ in range(200):
        t = end_field[0] if end_field and n == 1 else rng.choice(list(TYPES))
        entity = rng.choice(world.all(t))
        seen, steps = {entity}, []
        for i in range(n):
            last = i == n - 1
            options = [f for f in TYPE_FIELDS[t] if FIELDS[t, f].kind in TYPES or last]
            if last and end_field:
                options = [end_field[1]] if end_field[0] == t else []
            if not options:
                break
            f = rng.choice(options)
            value = world.value(t, entity, f)
            if value in seen:
                break
            steps.append((t, entity, f, value))
            if FIELDS[t, f].kind in TYPES:
                seen.add(value)
                t, entity = FIELDS[t, f].kind, value
        if len(steps) == n:
            return steps
    raise _Retry


def _phrases(steps) -> list[str]:
    """Noun phrases of each step's subject (index i) and of the final value (index n)."""
    x = mention(steps[0][0], steps[0][1])
    out = [x]
    for t, _, f, _ in steps:
        x = FIELDS[t, f].phrase.format(x=x)
        out.append(x)
    return out


def _lookup_subqs(steps, branch: int, start_index: int) -> list[SubQ]:
    out = []
    for k, (t, entity, f, value) in enumerate(steps):
        i = start_index + k
        out.append(SubQ(i, branch, k, "lookup", {"type": t, "entity": entity, "field": f}, value,
                        FIELDS[t, f].question.format(x=mention(t, entity)), [i - 1] if k else []))
    return out


def _computation(rng, kind: str, value, label: str) -> tuple[str, dict, str, str]:
    """A computation on a value of `kind`: (op, inputs, question about `label`, sub-question)."""
    if kind == "date":
        op = rng.choice(FAMILY_OPS["date"])
        if op == "day_of_week":
            return op, {"date": value}, f"What day of the week was {label}?", f"What day of the week was {value}?"
        if op == "add_days":
            k = rng.choice([30, 90, 100, 365, 500, 1000, 2500, 10000])
            return (op, {"date": value, "days": k}, f"What date is {k} days after {label}?",
                    f"What date is {k} days after {value}?")
        end = f"{rng.randint(2026, 2040)}-{rng.randint(1, 12):02d}-01"
        return (op, {"start_date": value, "end_date": end}, f"How many days passed from {label} until {end}?",
                f"How many days passed from {value} until {end}?")
    if kind == "int":
        op = rng.choice(FAMILY_OPS["arith"])
        if op == "add":
            k = rng.randint(10, 5000)
            return op, {"a": value, "b": k}, f"What is {label} plus {k}?", f"What is {value} plus {k}?"
        if op == "subtract":
            k = rng.randint(1, max(1, value - 1))
            return op, {"a": value, "b": k}, f"What is {label} minus {k}?", f"What is {value} minus {k}?"
        if op == "multiply":
            k = rng.randint(2, 12)
            return (op, {"a": value, "b": k}, f"What is {label} multiplied by {k}?",
                    f"What is {value} multiplied by {k}?")
        whole = rng.choice([1000, 5000, 10000, 100000, 1000000, 5000000])
        return (op, {"part": value, "whole": whole},
                f"What percentage of {whole} is {label}? Round to two decimal places.",
                f"What percentage of {whole} is {value}?")
    op = rng.choice(FAMILY_OPS["text"])
    q = {"initials": "What are the initials of {x}?", "reverse": "Spelled backwards, what is the name of {x}?",
         "letter_count": "How many letters are in the name of {x}?",
         "uppercase": "Written in uppercase letters, what is the name of {x}?"}[op]
    return op, {"text": value}, q.format(x=label), q.format(x=repr(value))


def _compute_subq(index, branch, turn, op, inputs, text, depends) -> SubQ:
    return SubQ(index, branch, turn, op, inputs, compute(op, inputs), text, depends)


def _single_hop(rng, world: World):
    if rng.random() < 0.2:  # a computation on values stated in the question
        kind = rng.choice(["date", "int", "str"])
        value = {"date": lambda: _date(rng, 1700, 2030), "int": lambda: rng.randint(12, 99999),
                 "str": lambda: rng.choice(world.names)}[kind]()
        op, inputs, _, text = _computation(rng, kind, value, "")
        sub = _compute_subq(0, 0, 0, op, inputs, text, [])
        return text, [sub], None
    steps = _chain(rng, world, 1)
    subs = _lookup_subqs(steps, 0, 0)
    return subs[0].text, subs, None


def _multi_hop(rng, world: World):
    n = rng.choice([1, 2, 2, 3, 3])
    computed = n == 1 or rng.random() < 0.4
    steps = _chain(rng, world, n)
    subs = _lookup_subqs(steps, 0, 0)
    phrases = _phrases(steps)
    t, _, f, value = steps[-1]
    if not computed:
        return FIELDS[t, f].question.format(x=phrases[-2]), subs, None
    kind = FIELDS[t, f].kind
    kind = "str" if kind in TYPES else kind
    op, inputs, question, text = _computation(rng, kind, value, phrases[-1])
    subs.append(_compute_subq(n, 0, n, op, inputs, text, [n - 1]))
    return question, subs, None


def _join(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def _parallel(rng, world: World, multi: bool):
    k = 3 if rng.random() < 0.25 else 2
    kind = "date" if rng.random() < 0.3 else "int"
    int_fields = [key for key, f in FIELDS.items() if f.kind == "int"]
    date_fields = [key for key, f in FIELDS.items() if f.kind == "date"]
    same = rng.choice(int_fields if kind == "int" else date_fields)
    ops = ["max", "min"] + (["sum", "difference"] if kind == "int" and k == 2 else []) + \
        (["sum"] if kind == "int" and k == 3 else []) + (["order_asc", "order_desc"] if k == 3 else [])
    tool_ops = {"int": ["add", "subtract", "percentage"], "date": ["days_between"]}[kind] if multi and k == 2 else []
    op = rng.choice(ops + tool_ops * (2 if tool_ops else 0))
    mixed = op in ("sum", "add") and rng.random() < 0.3  # e.g. a population plus a page count
    lengths = [rng.choice([1, 2, 3]) if multi else 1 for _ in range(k)]
    if multi and max(lengths) < 2:
        lengths[rng.randrange(k)] = rng.choice([2, 3])
    chains, used = [], set()
    for n in lengths:
        end_field = rng.choice(int_fields) if mixed else same
        for _ in range(50):
            steps = _chain(rng, world, n, end_field=end_field)
            if steps[-1][1] not in used:
                break
        else:
            raise _Retry
        used.add(steps[-1][1])
        chains.append(steps)
    values = [c[-1][3] for c in chains]
    if len(set(values)) < k:
        raise _Retry
    if (op in ("difference", "subtract") and values[0] < values[1]) or (op == "days_between" and values[0] > values[1]):
        chains.reverse()  # the larger number first; the earlier date first
        values.reverse()
    subs: list[SubQ] = []
    for b, steps in enumerate(chains):
        subs += _lookup_subqs(steps, b, len(subs))
    phrases = [_phrases(c) for c in chains]
    finals = [p[-1] for p in phrases]
    ends = [sum(len(c) for c in chains[: b + 1]) - 1 for b in range(k)]  # each branch's last sub-question
    t, f = chains[0][-1][0], chains[0][-1][2]
    fd = FIELDS[t, f]
    combine = None
    if op in tool_ops:
        turn = max(lengths)
        if op == "add":
            question, inputs = f"What is the sum of {finals[0]} and {finals[1]}?", {"a": values[0], "b": values[1]}
        elif op == "subtract":
            question, inputs = f"What is {finals[0]} minus {finals[1]}?", {"a": values[0], "b": values[1]}
        elif op == "percentage":
            question = f"What percentage of {finals[1]} is {finals[0]}? Round to two decimal places."
            inputs = {"part": values[0], "whole": values[1]}
        else:
            question = f"How many days passed from {finals[0]} until {finals[1]}?"
            inputs = {"start_date": values[0], "end_date": values[1]}
        text = {"add": "What is {0} plus {1}?", "subtract": "What is {0} minus {1}?",
                "percentage": "What percentage of {1} is {0}?",
                "days_between": "How many days passed from {0} until {1}?"}[op].format(*values)
        subs.append(_compute_subq(len(subs), k, turn, op, inputs, text, ends))
        return question, subs, None
    if multi:
        labels = [c[-1][1] for c in chains]            # the entities whose values are compared
        mentions = [p[-2] for p in phrases]
    else:
        labels = [c[0][1] for c in chains]
        mentions = [mention(c[0][0], c[0][1]) for c in chains]
    noun = TYPES[t].noun
    if not multi:
        tail = ""
    else:
        tail = " Answer with the names." if op.startswith("order") else f" Answer with the {noun}'s name."
    if op == "sum":
        question = f"What is the sum of {_join(finals)}?"
    elif op == "difference":
        question = f"What is the difference between {finals[0]} and {finals[1]}?"
    elif op in ("max", "min"):
        word = fd.more if op == "max" else fd.less
        question = f"Which {noun} has the {word} {fd.noun}: {_join(mentions, 'or')}?{tail}"
    else:
        direction = "ascending" if op == "order_asc" else "descending"
        question = (f"List {_join(mentions)} in {direction} order of {fd.noun}, separated by commas.{tail}")
    combine = {"op": op, "values": [fmt(v) for v in values],
               "labels": labels if op in ("max", "min", "order_asc", "order_desc") else None}
    return question, subs, combine


def decompose_scenario(seed: int, index: int, scenario: str | None = None) -> Scenario:
    """Stage 1: a question on a fresh fictional world, decomposed into sub-questions with answers."""
    rng = random.Random(f"ftrl-gen:{seed}:{index}")
    scenario = scenario or SCENARIOS[index % len(SCENARIOS)]
    for _ in range(100):
        world = World(rng)
        try:
            if scenario == "single_hop":
                question, subs, combine = _single_hop(rng, world)
            elif scenario == "multi_hop":
                question, subs, combine = _multi_hop(rng, world)
            else:
                question, subs, combine = _parallel(rng, world, scenario == "parallel_multi_hop")
        except _Retry:
            continue
        answer = apply_combine(combine["op"], combine["values"], combine["labels"]) if combine else fmt(subs[-1].answer)
        return Scenario(f"gen-{seed}-{index}", scenario, question, answer, subs, combine, world, rng)
    raise RuntimeError(f"no scenario for {seed}/{index}")


def scenario_json(sc: Scenario) -> dict:
    return {"id": sc.id, "scenario": sc.scenario, "question": sc.question, "answer": sc.answer,
            "sub_questions": [{**asdict(s), "answer": fmt(s.answer)} for s in sc.subqs], "combine": sc.combine}


# ====================================================================================== tools


@dataclass
class Param:
    name: str
    type: str          # "string", "date", "integer", "number", "numbers" (array), "boolean"
    desc: str
    required: bool = True
    default: Any = None
    enum: list | None = None


@dataclass
class Tool:
    name: str
    kind: str          # relation | lookup | op | family | weather | currency | units | timezone
    subject: str | None = None
    fields: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    family: str | None = None
    options: list[str] = field(default_factory=list)
    operands: bool = False
    distractor: bool = False
    description: str = ""

    def covers(self, subq: SubQ) -> bool:
        if subq.op == "lookup":
            return self.kind in ("relation", "lookup") and self.subject == subq.inputs["type"] \
                and subq.inputs["field"] in self.fields
        return self.kind in ("op", "family") and subq.op in self.ops


OPTIONS = {
    "include_metadata": Param("include_metadata", "boolean", "Also return the record's identifier and source. "
                              "Defaults to false.", False, False),
    "case_sensitive": Param("case_sensitive", "boolean", "Match the name exactly, including letter case. "
                            "Defaults to false.", False, False),
    "precision": Param("precision", "integer", "Decimal places of percentage results. Defaults to 2.", False, 2),
    "date_format": Param("date_format", "string", "Format of returned dates: 'iso' (YYYY-MM-DD) or 'long' "
                         "(e.g. 5 March 1987). Defaults to 'iso'.", False, "iso", ["iso", "long"]),
    "trim": Param("trim", "boolean", "Strip leading and trailing spaces from the text first. Defaults to true.",
                  False, True),
}
OP_PARAMS = {
    "day_of_week": [Param("date", "date", "The date, in YYYY-MM-DD format.")],
    "add_days": [Param("date", "date", "The starting date, in YYYY-MM-DD format."),
                 Param("days", "integer", "Number of days to add (negative to go back).")],
    "days_between": [Param("start_date", "date", "The first date, in YYYY-MM-DD format."),
                     Param("end_date", "date", "The second date, in YYYY-MM-DD format.")],
    "add": [Param("a", "number", "The first number."), Param("b", "number", "The second number.")],
    "subtract": [Param("a", "number", "The number to subtract from."), Param("b", "number", "The number to subtract.")],
    "multiply": [Param("a", "number", "The first factor."), Param("b", "number", "The second factor.")],
    "percentage": [Param("part", "number", "The part."), Param("whole", "number", "The whole (not zero).")],
    **{op: [Param("text", "string", "The text to process.")] for op in FAMILY_OPS["text"]},
}
OP_TOOL_NAMES = {"day_of_week": "get_day_of_week", "add_days": "add_days_to_date", "days_between": "count_days_between",
                 "add": "add_numbers", "subtract": "subtract_numbers", "multiply": "multiply_numbers",
                 "percentage": "percentage_of", "initials": "get_initials", "reverse": "reverse_text",
                 "letter_count": "count_letters", "uppercase": "to_uppercase"}
OP_DOCS = {"day_of_week": "the day of the week of a date", "add_days": "the date a number of days after a date",
           "days_between": "the number of days from start_date to end_date (negative if end_date is earlier)",
           "add": "the sum a + b", "subtract": "the difference a - b", "multiply": "the product a * b",
           "percentage": "part as a percentage of whole, rounded", "initials": "the initials of a name (e.g. 'A.B.')",
           "reverse": "the text spelled backwards", "letter_count": "the number of letters in a text",
           "uppercase": "the text in uppercase letters"}
OPERAND_DOCS = {"add": "the sum of the operands", "subtract": "the first operand minus the others",
                "multiply": "the product of the operands",
                "percentage": "the first operand as a percentage of the second, rounded"}
FAMILY_NAMES = {"arith": ["calculator", "arithmetic_calculator", "math_tool"],
                "date": ["date_calculator", "calendar_tool"], "text": ["text_tool", "string_utility"]}
LOOKUP_NAMES = ["{t}_info_lookup", "query_{t}_records", "{t}_registry_search"]
RELATION_NAMES = ["get_{t}_{f}", "{t}_{f}_lookup", "find_{t}_{f}"]


def params(tool: Tool) -> list[Param]:
    extra = [OPTIONS[o] for o in tool.options]
    if tool.kind in ("relation", "lookup"):
        ps = [Param(TYPES[tool.subject].param, "string", TYPES[tool.subject].param_desc)]
        if tool.kind == "lookup":
            ps.append(Param("field", "string", "Which field of the record to return: " +
                            "; ".join(f"'{f}' = {FIELDS[tool.subject, f].doc}" for f in tool.fields) + ".",
                            enum=list(tool.fields)))
        return ps + extra
    if tool.kind == "op":
        return OP_PARAMS[tool.ops[0]] + extra
    if tool.kind == "family":
        docs = {**OP_DOCS, **OPERAND_DOCS} if tool.operands else OP_DOCS
        ops = Param("operation", "string", "The operation: " + "; ".join(f"'{o}' = {docs[o]}" for o in tool.ops)
                    + ".", enum=list(tool.ops))
        if tool.family == "arith":
            if tool.operands:
                nums = [Param("operands", "numbers", "The numbers, at least two. 'subtract' takes the first minus "
                              "the others; 'percentage' takes [part, whole].")]
            else:
                nums = [Param("a", "number", "The first number (for 'percentage': the part)."),
                        Param("b", "number", "The second number (for 'percentage': the whole).")]
            return [ops, *nums] + extra
        if tool.family == "date":
            return [ops, Param("date", "date", "The date (the start date for 'days_between'), in YYYY-MM-DD format."),
                    Param("end_date", "date", "Only for 'days_between': the end date, in YYYY-MM-DD format.", False),
                    Param("days", "integer", "Only for 'add_days': number of days to add.", False)] + extra
        return [ops, Param("text", "string", "The text to process.")] + extra
    if tool.kind == "weather":
        return [Param("city", "string", "The name of the city."),
                Param("date", "date", "The day of the report, in YYYY-MM-DD format. Defaults to today.", False)] + extra
    if tool.kind == "currency":
        return [Param("amount", "number", "The amount of money to convert."),
                Param("from_currency", "string", "The currency of the amount."),
                Param("to_currency", "string", "The currency to convert to.")] + extra
    if tool.kind == "units":
        return [Param("value", "number", "The quantity to convert."),
                Param("from_unit", "string", "The unit of the value.", enum=list(UNITS)),
                Param("to_unit", "string", "The unit to convert to.", enum=list(UNITS))] + extra
    if tool.kind == "timezone":
        return [Param("city", "string", "The name of the city.")] + extra
    raise ValueError(tool.kind)


UNITS = {"m": ("length", 1.0), "km": ("length", 1000.0), "mi": ("length", 1609.344), "ft": ("length", 0.3048),
         "kg": ("mass", 1.0), "g": ("mass", 0.001), "lb": ("mass", 0.45359237)}


def describe(tool: Tool) -> str:
    if tool.kind == "relation":
        key = "title" if tool.subject == "book" else "full name" if tool.subject == "person" else "name"
        return f"Given a {TYPES[tool.subject].noun}'s {key}, returns {FIELDS[tool.subject, tool.fields[0]].doc}."
    if tool.kind == "lookup":
        noun = TYPES[tool.subject].noun
        return f"Searches the {noun} registry and returns one field of a {noun}'s record. Available fields: " + \
            ", ".join(tool.fields) + "."
    if tool.kind == "op":
        return f"Computes {OP_DOCS[tool.ops[0]]}."
    if tool.kind == "family":
        what = {"arith": "arithmetic on numbers", "date": "calendar calculations on dates",
                "text": "simple operations on text"}[tool.family]
        return f"A utility for {what}. Supported operations: " + ", ".join(tool.ops) + "."
    return {"weather": "Returns the weather report (conditions and temperature in degrees Celsius) for a city.",
            "currency": "Converts an amount of money between two currencies at the current exchange rate.",
            "units": "Converts a quantity between units of length (m, km, mi, ft) or mass (kg, g, lb).",
            "timezone": "Returns the time zone (UTC offset) of a city."}[tool.kind]


def schema(tool: Tool) -> dict:
    props, required = {}, []
    for p in params(tool):
        if p.type == "numbers":
            prop = {"type": "array", "description": p.desc, "items": {"type": "number"}, "minItems": 2}
        else:
            prop = {"type": "string" if p.type == "date" else p.type, "description": p.desc}
        if p.enum:
            prop["enum"] = list(p.enum)
        if not p.required and p.default is not None:
            prop["default"] = p.default
        props[p.name] = prop
        if p.required:
            required.append(p.name)
    return {"type": "function", "function": {"name": tool.name, "description": tool.description or describe(tool),
                                             "parameters": {"type": "object", "properties": props,
                                                            "required": required}}}


def bind(tool: Tool, subq: SubQ) -> dict:
    """The gold call's arguments for a sub-question answered by `tool`."""
    if tool.kind == "relation":
        return {TYPES[tool.subject].param: subq.inputs["entity"]}
    if tool.kind == "lookup":
        return {TYPES[tool.subject].param: subq.inputs["entity"], "field": subq.inputs["field"]}
    if tool.kind == "op":
        return dict(subq.inputs)
    args = {"operation": subq.op}
    if tool.family == "arith":
        a, b = (subq.inputs["part"], subq.inputs["whole"]) if subq.op == "percentage" else \
            (subq.inputs["a"], subq.inputs["b"])
        args.update({"operands": [a, b]} if tool.operands else {"a": a, "b": b})
    elif tool.family == "date":
        if subq.op == "days_between":
            args.update(date=subq.inputs["start_date"], end_date=subq.inputs["end_date"])
        else:
            args.update(subq.inputs)
    else:
        args.update(subq.inputs)
    return args


# ====================================================================================== stages 2-4


@dataclass
class Env:
    sc: Scenario
    tools: list[Tool]
    assign: list[str]                   # tool name answering each sub-question
    merged: dict = field(default_factory=dict)


def _relation_tool(rng, t: str, f: str) -> Tool:
    return Tool(rng.choice(RELATION_NAMES).format(t=t, f=f), "relation", subject=t, fields=[f])


def _tool_for(rng, subq: SubQ) -> Tool:
    if subq.op == "lookup":
        return _relation_tool(rng, subq.inputs["type"], subq.inputs["field"])
    return Tool(OP_TOOL_NAMES[subq.op], "op", ops=[subq.op], family=OPS[subq.op])


def generate_documents(sc: Scenario) -> Env:
    """Stage 2: one tool document per sub-question (sub-questions asking the same thing share one)."""
    tools: dict[tuple, Tool] = {}
    assign = []
    for s in sc.subqs:
        key = ("lookup", s.inputs["type"], s.inputs["field"]) if s.op == "lookup" else ("op", s.op)
        if key not in tools:
            tools[key] = _tool_for(sc.rng, s)
        assign.append(tools[key].name)
    return Env(sc, list(tools.values()), assign)


def _group(tool: Tool):
    return ("lookup", tool.subject) if tool.kind in ("relation", "lookup") else (tool.family,)


def integrate_functions(env: Env) -> Env:
    """Stage 3: tools with overlapping functions (same entity type, same computation family) merged."""
    rng = env.sc.rng
    groups: dict[tuple, list[Tool]] = {}
    for tool in env.tools:
        groups.setdefault(_group(tool), []).append(tool)
    tools, rename, merged = [], {}, {}
    for key, members in groups.items():
        if len(members) == 1:
            tools.append(members[0])
            continue
        if key[0] == "lookup":
            new = Tool(rng.choice(LOOKUP_NAMES).format(t=key[1]), "lookup", subject=key[1],
                       fields=[f for m in members for f in m.fields])
        else:
            ops = [o for m in members for o in m.ops]
            new = Tool(rng.choice(FAMILY_NAMES[key[0]]), "family", ops=ops, family=key[0])
        merged[new.name] = [m.name for m in members]
        for m in members:
            rename[m.name] = new.name
        tools.append(new)
    return Env(env.sc, tools, [rename.get(n, n) for n in env.assign], merged)


def _broaden(rng, tool: Tool) -> Tool:
    if tool.kind == "relation" and rng.random() < 0.35:
        extra = [f for f in TYPE_FIELDS[tool.subject] if f not in tool.fields]
        fields = tool.fields + rng.sample(extra, min(len(extra), rng.randint(1, 3)))
        return Tool(rng.choice(LOOKUP_NAMES).format(t=tool.subject), "lookup", subject=tool.subject, fields=fields)
    if tool.kind == "lookup" and rng.random() < 0.5:
        return Tool(tool.name, "lookup", subject=tool.subject,
                    fields=tool.fields + [f for f in TYPE_FIELDS[tool.subject] if f not in tool.fields])
    if tool.kind == "op" and rng.random() < 0.35:
        fam = tool.family
        return Tool(rng.choice(FAMILY_NAMES[fam]), "family", ops=list(FAMILY_OPS[fam]), family=fam)
    if tool.kind == "family" and rng.random() < 0.5:
        return Tool(tool.name, "family", ops=tool.ops + [o for o in FAMILY_OPS[tool.family] if o not in tool.ops],
                    family=tool.family)
    return Tool(**{**asdict(tool)})


def _add_options(rng, tool: Tool) -> None:
    if tool.kind in ("relation", "lookup", "weather", "timezone"):
        if rng.random() < 0.5:
            tool.options.append("include_metadata")
        if tool.kind in ("relation", "lookup") and rng.random() < 0.3:
            tool.options.append("case_sensitive")
    elif tool.family == "arith" or (tool.kind == "currency"):
        if tool.kind == "family":
            tool.operands = rng.random() < 0.5
        if ("percentage" in tool.ops or tool.kind == "currency") and rng.random() < 0.6:
            tool.options.append("precision")
    elif tool.family == "date":
        if ("add_days" in tool.ops) and rng.random() < 0.5:
            tool.options.append("date_format")
    elif tool.family == "text" and rng.random() < 0.4:
        tool.options.append("trim")


def scale_complexity(env: Env) -> Env:
    """Stage 4: broader tools, more general parameter types, optional parameters, distractor tools."""
    rng = env.sc.rng
    tools, rename = [], {}
    for tool in env.tools:
        new = _broaden(rng, tool)
        _add_options(rng, new)
        rename[tool.name] = new.name
        tools.append(new)
    assign = [rename[n] for n in env.assign]
    names = {t.name for t in tools}
    covered = {(t.subject, f) for t in tools if t.subject for f in t.fields}
    families = {t.family for t in tools if t.family}
    if env.sc.combine:  # a model-side combination of numbers or dates: no helper tool for it either
        families |= {"arith", "date"}
    types_used = [t.subject for t in tools if t.subject]
    candidates: list[Tool] = []
    for t in sorted(set(types_used), key=types_used.index) + rng.sample(list(TYPES), 2):
        for f in TYPE_FIELDS[t]:
            if (t, f) not in covered:
                candidates.append(_relation_tool(rng, t, f))
    for fam in ("arith", "date", "text"):
        if fam not in families:
            candidates.append(Tool(rng.choice(FAMILY_NAMES[fam]), "family", ops=list(FAMILY_OPS[fam]), family=fam))
    candidates += [Tool("weather_report", "weather"), Tool("currency_converter", "currency"),
                   Tool("unit_converter", "units"), Tool("timezone_lookup", "timezone")]
    distractors, wanted = [], rng.randint(2, 5)
    for tool in rng.sample(candidates, len(candidates)):
        if len(distractors) == wanted:
            break
        if tool.name in names or (tool.subject, tool.fields[0] if tool.fields else None) in covered:
            continue
        tool.distractor = True
        _add_options(rng, tool)
        names.add(tool.name)
        if tool.subject:
            covered.add((tool.subject, tool.fields[0]))
        distractors.append(tool)
    tools = tools + distractors
    rng.shuffle(tools)
    return Env(env.sc, tools, assign, env.merged)


def gold_calls(env: Env) -> list[list[dict]]:
    by_name = {t.name: t for t in env.tools}
    turns: list[list[dict]] = [[] for _ in range(max(s.turn for s in env.sc.subqs) + 1)]
    for s, name in zip(env.sc.subqs, env.assign):
        turns[s.turn].append({"name": name, "arguments": bind(by_name[name], s)})
    return turns


def unsolved_set(env: Env) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s, name in sorted(zip(env.sc.subqs, env.assign), key=lambda p: (p[0].turn, p[0].branch)):
        out.setdefault(name, []).append(fmt(s.answer))
    return out


# ====================================================================================== stage 5: code

_IND = "    "


def _check_lines(p: Param) -> list[str]:
    """Lines that return an explanatory error string for a bad value of parameter p (not None)."""
    n = p.name
    desc = p.desc.rstrip(".") if len(p.desc) <= 80 and not p.enum else n.replace("_", " ")
    got = f"got {{type({n}).__name__}} {{{n}!r}}"
    if p.type in ("string", "date"):
        lines = [f"if not isinstance({n}, str) or not {n}.strip():",
                 f"    return f\"Error: argument '{n}' must be a non-empty string ({desc}), {got}.\""]
        if p.type == "date":
            lines += ["try:", f"    datetime.date.fromisoformat({n}.strip())", "except ValueError:",
                      f"    return f\"Error: argument '{n}' must be a date in YYYY-MM-DD format, got {{{n}!r}}.\""]
        if p.enum:
            lines += [f"if {n} not in {p.enum!r}:",
                      f"    return f\"Error: argument '{n}' must be one of {p.enum!r}, got {{{n}!r}}.\""]
        return lines
    if p.type == "integer":
        return [f"if isinstance({n}, bool) or not isinstance({n}, int):",
                f"    return f\"Error: argument '{n}' must be an integer ({desc}), {got}.\""]
    if p.type == "number":
        return [f"if isinstance({n}, bool) or not isinstance({n}, (int, float)):",
                f"    return f\"Error: argument '{n}' must be a number ({desc}), {got}.\""]
    if p.type == "numbers":
        return [f"if not isinstance({n}, list) or len({n}) < 2 "
                f"or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in {n}):",
                f"    return f\"Error: argument '{n}' must be a list of at least two numbers, {got}.\""]
    if p.type == "boolean":
        return [f"if not isinstance({n}, bool):",
                f"    return f\"Error: argument '{n}' must be true or false, {got}.\""]
    raise ValueError(p.type)


def _prologue(tool: Tool, ps: list[Param], doc: str) -> list[str]:
    sig = ", ".join(f"{p.name}=None" if p.required or p.default is None else f"{p.name}={p.default!r}" for p in ps)
    valid = ", ".join(p.name for p in ps)
    lines = [f"def {tool.name}({sig}, **unexpected):", f"{_IND}{json.dumps(doc)}"]
    if tool.family == "date" or any(p.type == "date" for p in ps):
        lines.append(f"{_IND}import datetime")
    body = ["if unexpected:",
            "    return 'Error: unexpected argument(s) ' + ', '.join(repr(k) for k in sorted(unexpected)) + "
            f"'. Valid arguments: {valid}.'"]
    for p in ps:
        if p.required:
            body += [f"if {p.name} is None:",
                     f"    return \"Error: missing required argument '{p.name}' ({p.desc.rstrip('.')}).\""]
            body += _check_lines(p)
        elif p.default is None:
            body += [f"if {p.name} is not None:"] + [_IND + line for line in _check_lines(p)]
        else:  # null means the default
            body += [f"if {p.name} is None:", f"    {p.name} = {p.default!r}"] + _check_lines(p)
    return lines + [_IND + line for line in body]


def _lookup_body(tool: Tool, world: World) -> list[str]:
    t = tool.subject
    te = TYPES[t]
    pname = te.param
    if tool.kind == "relation":
        table = {name: rec[tool.fields[0]] for name, rec in world.records[t].items()}
    else:
        table = {name: {f: rec[f] for f in tool.fields} for name, rec in world.records[t].items()}
    exact = "case_sensitive" in tool.options
    lines = [f"records = {table!r}",
             f"wanted = ' '.join({pname}.split()).strip('\\'\"')",
             "found = wanted if wanted in records else None"]
    fold = ["if found is None:",
            "    index = {k.casefold(): k for k in records}",
            "    found = index.get(wanted.casefold())",
            "    if found is None and wanted.casefold().startswith('the '):",
            "        found = index.get(wanted[4:].casefold())"]
    lines += (["if not case_sensitive:"] + [_IND + x for x in fold]) if exact else fold
    lines += ["if found is None:",
              "    import difflib",
              "    close = difflib.get_close_matches(wanted, list(records), n=1, cutoff=0.75)",
              "    if not close:",
              "        lowered = {k.casefold(): k for k in records}",
              "        close = difflib.get_close_matches(wanted.casefold(), list(lowered), n=1, cutoff=0.75)",
              "        close = [lowered[c] for c in close]",
              "    hint = f' Did you mean {close[0]!r}?' if close else ' Check the spelling and give the full name.'",
              f"    return f\"No record for {{{pname}!r}}: it is not one of the {{len(records)}} {te.plural} "
              "known to this registry.{hint}\""]
    if tool.kind == "relation":
        f = tool.fields[0]
        lines += [f"result = {{{pname!r}: found, {f!r}: records[found]}}"]
    else:
        lines += [f"result = {{{pname!r}: found, 'field': field, 'value': records[found][field]}}"]
    if "include_metadata" in tool.options:
        lines += ["if include_metadata:",
                  f"    result['record_id'] = '{t.upper()}-' + str(1001 + list(records).index(found))",
                  f"    result['source'] = '{te.noun} registry'"]
    return lines + ["return result"]


def _date_out(tool: Tool, expr: str) -> str:
    if "date_format" in tool.options:
        long = f"f'{{{expr}.day}} {{MONTHS[{expr}.month - 1]}} {{{expr}.year}}'"
        return f"({expr}.isoformat() if date_format == 'iso' else {long})"
    return f"{expr}.isoformat()"


def _op_lines(tool: Tool, op: str, v: dict[str, str]) -> list[str]:
    """Lines computing `result` for one computation; v maps the op's inputs to local names."""
    if op == "day_of_week":
        return [f"d = datetime.date.fromisoformat({v['date']}.strip())",
                f"result = {{'date': d.isoformat(), 'day_of_week': {WEEKDAYS!r}[d.weekday()]}}"]
    if op == "add_days":
        return [f"d = datetime.date.fromisoformat({v['date']}.strip())",
                "try:", f"    r = d + datetime.timedelta(days={v['days']})", "except OverflowError:",
                "    return 'Error: the resulting date is outside the supported calendar range (years 1-9999).'",
                f"result = {{'date': d.isoformat(), 'days': {v['days']}, 'result_date': {_date_out(tool, 'r')}}}"]
    if op == "days_between":
        return [f"s = datetime.date.fromisoformat({v['start_date']}.strip())",
                f"e = datetime.date.fromisoformat({v['end_date']}.strip())",
                "result = {'start_date': s.isoformat(), 'end_date': e.isoformat(), 'days': (e - s).days}"]
    if op in ("add", "subtract", "multiply"):
        sym = {"add": "+", "subtract": "-", "multiply": "*"}[op]
        return [f"result = {{'operation': {op!r}, 'result': {v['a']} {sym} {v['b']}}}"]
    if op == "percentage":
        prec = "precision" if "precision" in tool.options else "2"
        return [f"if {v['whole']} == 0:", "    return 'Error: cannot take a percentage of zero (whole must not be 0).'",
                f"result = {{'operation': 'percentage', 'result': round({v['part']} / {v['whole']} * 100, {prec})}}"]
    text = v["text"]
    pre = ["if trim:", f"    {text} = {text}.strip()"] if "trim" in tool.options else []
    expr = {"initials": f"'.'.join(w[0].upper() for w in {text}.split()) + '.'", "reverse": f"{text}[::-1]",
            "letter_count": f"sum(c.isalpha() for c in {text})", "uppercase": f"{text}.upper()"}[op]
    return pre + [f"result = {{'operation': {op!r}, 'text': {text}, 'result': {expr}}}"]


def _family_body(tool: Tool) -> list[str]:
    lines = []
    if tool.family == "arith" and tool.operands:
        lines += ["if operation == 'percentage':",
                  "    if len(operands) != 2:",
                  "        return 'Error: percentage takes exactly two operands, [part, whole].'",
                  "    part, whole = operands",
                  *[_IND + x for x in _op_lines(tool, "percentage", {"part": "part", "whole": "whole"})],
                  "elif operation == 'add':",
                  "    result = {'operation': 'add', 'result': sum(operands)}",
                  "elif operation == 'subtract':",
                  "    result = {'operation': 'subtract', 'result': operands[0] - sum(operands[1:])}",
                  "else:",
                  "    product = 1",
                  "    for v in operands:",
                  "        product = product * v",
                  "    result = {'operation': 'multiply', 'result': product}"]
        return lines + ["return result"]
    first = True
    for op in tool.ops:
        lines.append(f"{'if' if first else 'elif'} operation == {op!r}:")
        first = False
        if tool.family == "arith":
            v = {"a": "a", "b": "b", "part": "a", "whole": "b"}
        elif tool.family == "date":
            v = {"date": "date", "days": "days", "start_date": "date", "end_date": "end_date"}
            need = {"add_days": ("days", "the number of days to add"),
                    "days_between": ("end_date", "the end date, YYYY-MM-DD")}.get(op)
            if need:
                lines += [f"    if {need[0]} is None:",
                          f"        return \"Error: operation '{op}' needs the argument '{need[0]}' ({need[1]}).\""]
        else:
            v = {"text": "text"}
        lines += [_IND + x for x in _op_lines(tool, op, v)]
    return lines + ["return result"]


def _distractor_body(tool: Tool, world: World) -> list[str]:
    if tool.kind in ("weather", "timezone"):
        table = world.weather if tool.kind == "weather" else world.utc_offsets
        lines = [f"records = {table!r}",
                 "index = {k.casefold(): k for k in records}",
                 "found = index.get(' '.join(city.split()).casefold())",
                 "if found is None:",
                 "    return f\"No record for {city!r}: it is not one of the {len(records)} cities this service "
                 "covers.\""]
        if tool.kind == "weather":
            lines += ["result = {'city': found, 'date': date or 'today', 'conditions': records[found][0], "
                      "'temperature_c': records[found][1]}"]
        else:
            lines += ["offset = records[found]",
                      "result = {'city': found, 'utc_offset': ('UTC+' if offset >= 0 else 'UTC-') + "
                      "f'{abs(offset):02d}:00'}"]
        if "include_metadata" in tool.options:
            lines += ["if include_metadata:", "    result['source'] = 'regional service'"]
        return lines + ["return result"]
    if tool.kind == "currency":
        prec = "precision" if "precision" in tool.options else "2"
        return [f"rates = {world.rates!r}",
                "for name in (from_currency, to_currency):",
                "    if name not in rates:",
                "        return f\"Error: unknown currency {name!r}; supported: {', '.join(rates)}.\"",
                f"converted = round(amount * rates[from_currency] / rates[to_currency], {prec})",
                "return {'amount': amount, 'from': from_currency, 'to': to_currency, 'result': converted}"]
    if tool.kind == "units":
        return [f"units = {UNITS!r}",
                "if units[from_unit][0] != units[to_unit][0]:",
                "    return f\"Error: cannot convert {units[from_unit][0]} ({from_unit}) to {units[to_unit][0]} "
                "({to_unit}).\"",
                "return {'value': value, 'from_unit': from_unit, 'to_unit': to_unit, "
                "'result': round(value * units[from_unit][1] / units[to_unit][1], 6)}"]
    raise ValueError(tool.kind)


def source(tool: Tool, world: World) -> str:
    """Stage 5 for one tool: a plain stdlib function with its data embedded as literals."""
    ps = params(tool)
    lines = _prologue(tool, ps, tool.description or describe(tool))
    if tool.kind in ("relation", "lookup"):
        body = _lookup_body(tool, world)
    elif tool.kind == "op":
        v = {p.name: p.name for p in ps}
        body = _op_lines(tool, tool.ops[0], v) + ["return result"]
    elif tool.kind == "family":
        body = _family_body(tool)
    else:
        body = _distractor_body(tool, world)
    if "date_format" in tool.options:
        body = [f"MONTHS = {MONTHS!r}"] + body
    return "\n".join(lines + [_IND + line for line in "\n".join(body).split("\n")]) + "\n"


def deploy_locally(env: Env) -> dict[str, str]:
    """Stage 5: Python source for every tool of the environment."""
    return {t.name: source(t, env.sc.world) for t in env.tools}


# ====================================================================================== verify


def verify(sandbox, codes: dict[str, str], calls: list[list[dict]], golds: list[list[str]], answer: str,
           combine: dict | None) -> str | None:
    """Run the gold chain in the sandbox; None if it verifies, else the reason it does not."""
    errors = sandbox.load(codes)
    if errors:
        name = next(iter(errors))
        return f"tool {name} does not load: {errors[name]}"
    last = None
    for turn, turn_golds in zip(calls, golds):
        for call, gold in zip(turn, turn_golds):
            ok, text = sandbox.call(call["name"], call["arguments"])
            if not ok:
                return f"gold call {call['name']} failed: {text[:200]}"
            if gold not in text:
                return f"gold call {call['name']} returned {text[:200]} without {gold!r}"
            last = (gold, text)
    if combine is None:
        if last is None or last[0] != answer or answer not in last[1]:
            return "the answer is not the last call's sub-answer"
        return None
    found = [g for turn in golds for g in turn]
    if any(v not in found for v in combine["values"]):
        return "a combined value is not a gold sub-answer"
    if apply_combine(combine["op"], combine["values"], combine["labels"]) != answer:
        return "the answer does not follow from the sub-answers"
    return None


def _golds(env: Env) -> list[list[str]]:
    turns: list[list[str]] = [[] for _ in range(max(s.turn for s in env.sc.subqs) + 1)]
    for s in env.sc.subqs:
        turns[s.turn].append(fmt(s.answer))
    return turns


def record(env: Env, codes: dict[str, str], descriptions: dict[str, str] | None = None) -> dict:
    sc = env.sc
    schemas = [schema(t) for t in env.tools]
    for s in schemas:
        if descriptions and descriptions.get(s["function"]["name"]):
            s["function"]["description"] = descriptions[s["function"]["name"]]
    return {
        "messages": [{"content": PREAMBLE + sc.question, "role": "user"}],
        "tools": json.dumps(schemas),
        "codes": json.dumps(codes),
        "unsolved_set": json.dumps(unsolved_set(env)),
        "solve_rate": 0.0,
        "data_source": f"gen/{sc.scenario}",
        "split": "train",
        "answer": sc.answer,
        "id": sc.id,
        "gold_calls": gold_calls(env),
        "combine": sc.combine,
    }


# ====================================================================================== pipeline


def _pipeline(seed: int, index: int):
    sc = decompose_scenario(seed, index)
    docs = generate_documents(sc)
    integrated = integrate_functions(docs)
    scaled = scale_complexity(integrated)
    return sc, docs, integrated, scaled


def _stage_rows(sc, docs, integrated, scaled):
    return (
        scenario_json(sc),
        {"id": sc.id, "documents": [
            {"sub_question": s.index, "tool": schema(next(t for t in docs.tools if t.name == n))}
            for s, n in zip(sc.subqs, docs.assign)]},
        {"id": sc.id, "tools": [schema(t) for t in integrated.tools], "assignment": integrated.assign,
         "merged": integrated.merged},
        {"id": sc.id, "tools": [schema(t) for t in scaled.tools], "assignment": scaled.assign,
         "distractors": [t.name for t in scaled.tools if t.distractor], "gold_calls": gold_calls(scaled)},
    )


def build_with_stats(n: int, seed: int, stages_dir: str | None = None, model: str | None = None,
                     max_new_tokens: int = 1024, sandbox=None) -> tuple[list[dict], dict]:
    """n environments (template code: n kept, drawing more candidates if any fail; with `model`: n
    candidates, the verified ones kept). Returns (records, stats)."""
    from envs.tooluse.sandbox import Sandbox

    start = time.perf_counter()
    own = sandbox is None
    sb = sandbox or Sandbox(timeout=10.0, memory_mb=1024)
    writer = _LLMWriter(model, max_new_tokens) if model else None
    stages: list[list[dict]] = [[] for _ in STAGE_FILES]
    records: list[dict] = []
    built = {s: 0 for s in SCENARIOS}
    kept = {s: 0 for s in SCENARIOS}
    reasons: dict[str, int] = {}
    index = 0
    try:
        while (len(records) < n and index < 2 * n + 100) if writer is None else index < n:
            sc, docs, integrated, scaled = _pipeline(seed, index)
            index += 1
            built[sc.scenario] += 1
            descriptions, replies = None, None
            if writer is None:
                codes = deploy_locally(scaled)
            else:
                descriptions, codes, replies = writer.write(scaled)
                broken = sb.load(codes)  # a distractor the model got wrong is dropped, not the environment
                gold_names = set(scaled.assign)
                drop = {name for name in broken if name not in gold_names}
                if drop:
                    scaled = Env(sc, [t for t in scaled.tools if t.name not in drop], scaled.assign, scaled.merged)
                    codes = {k: v for k, v in codes.items() if k not in drop}
            rec = record(scaled, codes, descriptions)
            reason = verify(sb, codes, rec["gold_calls"], _golds(scaled), sc.answer, sc.combine)
            if stages_dir:
                for k, row in enumerate(_stage_rows(sc, docs, integrated, scaled)):
                    stages[k].append(row)
                row = {"id": sc.id, "codes": codes, "verified": reason is None, "error": reason}
                if replies is not None:
                    row["llm_replies"] = replies
                stages[4].append(row)
            if reason is None:
                records.append(rec)
                kept[sc.scenario] += 1
            else:
                key = re.sub(r"'.*|:.*| \S+\(.*", "", reason).strip()
                reasons[key] = reasons.get(key, 0) + 1
    finally:
        if own:
            sb.close()
    if stages_dir:
        os.makedirs(stages_dir, exist_ok=True)
        for name, rows in zip(STAGE_FILES, stages):
            write_jsonl(os.path.join(stages_dir, name), rows)
    seconds = time.perf_counter() - start
    stats = {"requested": n, "built": index, "kept": len(records), "discarded": index - len(records),
             "scenarios_kept": kept, "scenarios_built": built, "discard_reasons": reasons,
             "code": f"llm:{model}" if model else "templates", "seconds": round(seconds, 3),
             "envs_per_s": round(index / seconds, 1) if seconds else None}
    return records, stats


def build(n: int, seed: int, stages_dir: str | None = None) -> list[dict]:
    """n verified environments (FTRL records) from seed; deterministic."""
    return build_with_stats(n, seed, stages_dir)[0]


def write_jsonl(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# ====================================================================================== LLM code


def tool_data(tool: Tool, world: World):
    """The data a tool's code must embed (what stage 5's templates embed)."""
    if tool.kind == "relation":
        return {name: rec[tool.fields[0]] for name, rec in world.records[tool.subject].items()}
    if tool.kind == "lookup":
        return {name: {f: rec[f] for f in tool.fields} for name, rec in world.records[tool.subject].items()}
    if tool.kind == "weather":
        return world.weather
    if tool.kind == "timezone":
        return world.utc_offsets
    if tool.kind == "currency":
        return world.rates
    if tool.kind == "units":
        return UNITS
    return None


class _LLMWriter:
    """Asks a causal LM for each tool's description and code (greedy decoding)."""

    def __init__(self, model_path: str, max_new_tokens: int):
        import torch

        from cleanagent_utils.models import load_model  # only with --model

        torch.manual_seed(0)
        self.torch = torch
        self.model, self.tokenizer = load_model(model_path, "float32")
        self.model.eval()
        self.max_new_tokens = max_new_tokens

    def prompt(self, tool: Tool, env: Env) -> str:
        sch = schema(tool)["function"]
        calls = [c for turn in gold_calls(env) for c in turn if c["name"] == tool.name]
        golds = unsolved_set(env).get(tool.name, [])
        lines = [
            "Write the documentation and the Python code of one tool for a tool-use environment.",
            f"Tool name: {tool.name}",
            f"Purpose: {sch['description']}",
            f"Parameters (JSON schema): {json.dumps(sch['parameters'])}",
        ]
        data = tool_data(tool, env.sc.world)
        if data is not None:
            lines.append(f"Data (embed it in the function as a literal): {json.dumps(data)}")
        for call, gold in zip(calls, golds):
            lines.append(f"The call {tool.name}(**{json.dumps(call['arguments'])}) must return a JSON-serialisable "
                         f"result that contains {gold!r}.")
        lines += ["Other valid calls return the matching record; invalid calls (unknown names, missing or wrongly "
                  "typed arguments, values outside an enum) return a string explaining the error.",
                  "Reply in two parts: first a line `DESCRIPTION: <one sentence>`, then the code in one ```python "
                  f"block defining `def {tool.name}(...)` that uses only the standard library."]
        return "\n".join(lines)

    def generate(self, text: str) -> str:
        ids = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                 tokenize=True, return_dict=True, return_tensors="pt")
        with self.torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    def write(self, env: Env) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """(descriptions, codes, raw replies) for every tool of the environment."""
        descriptions, codes, replies = {}, {}, {}
        for tool in env.tools:
            reply = replies[tool.name] = self.generate(self.prompt(tool, env))
            m = re.search(r"DESCRIPTION:\s*(.+)", reply)
            descriptions[tool.name] = m.group(1).strip() if m else ""
            m = re.search(r"```(?:python)?\s*\n(.*?)```", reply, re.S)
            code = m.group(1) if m else reply[reply.find(f"def {tool.name}"):] if f"def {tool.name}" in reply else ""
            missing = f"raise SyntaxError('the model wrote no code for {tool.name}')\n"
            codes[tool.name] = code if code.strip() else missing
        return descriptions, codes, replies


# ====================================================================================== CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output JSONL (one FTRL environment per line)")
    ap.add_argument("--n", type=int, default=100, help="environments to build (with --model: candidates to try)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages-dir", default=None, help="also write each stage's output here")
    ap.add_argument("--model", default=None, help="HF causal LM that writes tool descriptions and code")
    ap.add_argument("--max-new-tokens", type=int, default=1024, help="generation budget per tool (--model)")
    args = ap.parse_args(argv)
    if args.n < 0:
        ap.error("--n must be >= 0")
    records, stats = build_with_stats(args.n, args.seed, args.stages_dir, args.model, args.max_new_tokens)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_jsonl(args.out, records)
    print(json.dumps({"out": args.out, **stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
