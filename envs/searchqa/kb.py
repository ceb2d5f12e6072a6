"""The default corpus: a generated encyclopedia of a fictional world, and multi-hop questions on it.

`build_world(seed)` invents countries, cities, people, organisations and works (novels, films,
albums) with invented names, links them by functional relations (born in, founded by, capital
of, written by, headquartered in, ...) and writes each entity up as one or two short
encyclopedic passages (at most `MAX_WORDS` words, Wikipedia-like: the entity's facts plus
distractor facts such as where a person later moved, a sibling with the same surname born
elsewhere, a former head, an organisation with a similar name based in another city).

`World.sample_questions` draws questions as chains of 1-4 relations from a named entity, e.g.
[publisher, founder, birthplace] from a novel: "In which city was the founder of the publisher
of the novel "Ashen Lanterns" born?". Every hop is checked to be retrievable: the expert's query
for the hop (the subject's name plus a word that every sentence stating the relation contains,
e.g. "Halvorn Press founded") must rank a passage stating the fact in the top 3 of the BM25
index; chains with a hop that fails are dropped. Names are invented and the relations random,
so no answer can be known without retrieval. Everything is drawn from `random.Random` seeded by
strings, so the same seed gives the same world and questions on every machine and process.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MAX_WORDS = 60
"""Longest generated passage in words (optional distractor sentences are dropped to fit)."""
TOP_K = 3
"""Passages a search returns; every hop must be retrievable within them."""

# --------------------------------------------------------------------------- relations


@dataclass(frozen=True)
class Relation:
    """A functional relation from a subject (entity kind, or work type) to an entity or a literal."""

    subject: str
    name: str
    target: str | None
    """Kind of the object entity; None for a literal (a year, a river, a currency): last hop only."""
    keyword: str
    """A word in every sentence that states the fact; the expert's query is subject + keyword."""
    question: str
    """The question asked when this relation is the last hop; `{x}` is the subject phrase."""
    phrase: str = ""
    """Noun phrase for the object when the relation is an inner hop; `{x}` is the subject phrase."""


RELATIONS: dict[tuple[str, str], Relation] = {
    (r.subject, r.name): r
    for r in [
        Relation("novel", "creator", "person", "written", "Who wrote {x}?", "the author of {x}"),
        Relation("novel", "publisher", "org", "published", "Which publisher published {x}?",
                 "the publisher of {x}"),
        Relation("novel", "year", None, "published", "In what year was {x} first published?"),
        Relation("film", "creator", "person", "directed", "Who directed {x}?", "the director of {x}"),
        Relation("film", "publisher", "org", "produced", "Which studio produced {x}?",
                 "the studio that produced {x}"),
        Relation("film", "year", None, "released", "In what year was {x} released?"),
        Relation("album", "creator", "person", "recorded", "Who recorded {x}?", "the artist who recorded {x}"),
        Relation("album", "publisher", "org", "label", "On which label was {x} released?",
                 "the label that released {x}"),
        Relation("album", "year", None, "released", "In what year was {x} released?"),
        Relation("person", "birthplace", "city", "born", "In which city was {x} born?", "the birthplace of {x}"),
        Relation("person", "birth_year", None, "born", "In what year was {x} born?"),
        Relation("person", "educated_at", "org", "studied", "At which university did {x} study?",
                 "the university attended by {x}"),
        Relation("person", "employer", "org", "worked", "Which organisation did {x} work for?",
                 "the employer of {x}"),
        Relation("org", "founder", "person", "founded", "Who founded {x}?", "the founder of {x}"),
        Relation("org", "founded_year", None, "founded", "In what year was {x} founded?"),
        Relation("org", "headquarters", "city", "headquartered", "In which city is {x} headquartered?",
                 "the headquarters city of {x}"),
        Relation("org", "head", "person", "head", "Who is the head of {x}?", "the head of {x}"),
        Relation("city", "country", "country", "located", "In which country is {x} located?",
                 "the country containing {x}"),
        Relation("city", "mayor", "person", "mayor", "Who is the mayor of {x}?", "the mayor of {x}"),
        Relation("city", "river", None, "river", "On which river does {x} lie?"),
        Relation("city", "founded_year", None, "founded", "In what year was {x} founded?"),
        Relation("country", "capital", "city", "capital", "What is the capital of {x}?", "the capital of {x}"),
        Relation("country", "leader", "person", "state", "Who is the head of state of {x}?",
                 "the head of state of {x}"),
        Relation("country", "currency", None, "currency", "What is the currency of {x}?"),
    ]
}

# --------------------------------------------------------------------------- vocabulary

ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t",
          "tr", "v", "z", "th", "c", "j", "w", "sh", "v", "m", "l", "t", "n", "r", "d", "k"]
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "a", "i", "ei", "au", "y"]
CODAS = ["n", "r", "l", "s", "m", "th", "nd", "rn", "st", "x", "v", "rd", "nt", "k"]
STYLES = {  # style: (syllables, suffixes, longest name)
    "first": (2, ["a", "o", "en", "is", "el", "an", "e", "", "", "in"], 8),
    "surname": (2, ["", "", "son", "ard", "ek", "ov", "ley", "ton", "mark", "holt", "wyn", "berg", "er"], 10),
    "city": (2, ["", "", "ford", "heim", "ora", "an", "is", "dale", "wick", "mouth", "stad", "en", "via"], 10),
    "country": (2, ["ia", "and", "ovia", "esh", "ara", "onia", "ica", "ad"], 10),
    "stem": (2, ["ex", "ium", "on", "ar", "el", "", "", "ine", "us"], 9),
    "word": (2, ["", "", "a", "en", "o", "ith", "ur"], 8),
}
RESERVED = {"brindle", "osa", "terwin", "lusk"}  # names used in the instructions' example
FIELDS = ["history", "physics", "law", "music", "economics", "chemistry", "philosophy", "medicine",
          "architecture", "mathematics", "literature", "engineering", "painting", "botany"]
ORG_KINDS = {  # kind: (count, description, name suffixes, occupation of its staff)
    "publisher": (60, "publishing house", ["Press", "Books", "Publishing"], "editor"),
    "studio": (40, "film studio", ["Pictures", "Studios", "Films"], "film producer"),
    "label": (40, "record label", ["Records", "Music", "Sound"], "sound engineer"),
    "university": (50, "university", ["University", "College"], "professor"),
    "institute": (40, "research institute", ["Institute"], "researcher"),
    "bank": (25, "bank", ["Bank"], "banker"),
    "newspaper": (30, "newspaper", ["Gazette", "Courier", "Herald"], "journalist"),
    "foundation": (25, "charitable foundation", ["Foundation"], "administrator"),
    "observatory": (15, "observatory", ["Observatory"], "astronomer"),
    "club": (25, "football club", ["Athletic Club", "Rovers"], "football coach"),
}
WORK_KINDS = {  # kind: (count, creators, creator occupation, publisher kind, genres)
    "novel": (420, 180, "novelist", "publisher",
              ["crime", "historical", "science fiction", "fantasy", "romance", "literary", "adventure", "mystery"]),
    "film": (260, 100, "film director", "studio",
             ["drama", "comedy", "thriller", "war", "musical", "documentary", "horror", "western"]),
    "album": (260, 100, "singer-songwriter", "label", []),
}
ADJECTIVES = ["silent", "golden", "broken", "hidden", "northern", "crimson", "last", "winter", "distant", "hollow",
              "bright", "iron", "quiet", "burning", "paper", "silver", "wild", "lonely", "seventh", "bitter",
              "frozen", "velvet", "pale", "restless", "ashen", "sunken", "eastern", "glass", "salt", "amber"]
NOUNS = ["harbour", "garden", "orchard", "lantern", "river", "mirror", "tower", "station", "kingdom", "letter",
         "island", "bridge", "shadow", "season", "voyage", "machine", "crown", "forest", "signal", "archive",
         "lighthouse", "carnival", "compass", "harvest", "window", "chorus", "meadow", "citadel", "ferry", "clock"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth"]
DIRECTIONS = ["north", "south", "east", "west", "centre"]
SIZES = ["small", "large", "coastal", "historic", "mountain", "busy", "quiet", "riverside"]


def article(phrase: str) -> str:
    vowel = phrase[0].lower() in "aeiou" and not phrase.lower().startswith(("uni", "eu"))
    return ("an " if vowel else "a ") + phrase


# --------------------------------------------------------------------------- world


@dataclass
class Entity:
    idx: int
    kind: str  # person, city, country, org, work
    name: str
    sub: str = ""  # org kind or work kind; for a person "he"/"she"
    facts: dict = field(default_factory=dict)  # relation name -> entity idx (int) or literal (str)
    year: int = 0  # birth year, foundation year, release year

    @property
    def subject(self) -> str:
        """The key of this entity's relations in RELATIONS."""
        return self.sub if self.kind == "work" else self.kind

    @property
    def mention(self) -> str:
        """How a question names the entity."""
        return f'the {self.sub} "{self.name}"' if self.kind == "work" else self.name

    @property
    def query_name(self) -> str:
        """How the expert's search names the entity."""
        return f"{self.name} {self.sub}" if self.kind == "work" else self.name

    @property
    def title(self) -> str:
        return f"{self.name} ({self.sub})" if self.kind == "work" else self.name


@dataclass(frozen=True)
class Hop:
    subject: int
    relation: str
    query: str
    """The expert's query for this hop."""
    answer: str
    """The object's name or the literal (the text the hop's passage states)."""
    support: frozenset[int]
    """Passages stating the fact (row indices)."""


@dataclass(frozen=True)
class GenQuestion:
    question: str
    answers: tuple[str, ...]
    hops: tuple[Hop, ...]


class World:
    def __init__(self, seed: int):
        self.seed = seed
        self.entities: list[Entity] = []
        self.passages: list[tuple[str, str]] = []  # (title, text)
        self.support: dict[tuple[int, str], set[int]] = {}
        self._used: set[str] = set(RESERVED)
        self.retrievable: dict[tuple[int, str], bool] = {}
        """(entity, relation) -> whether the hop's query retrieves its fact (filled by sample_questions)."""

    # -- helpers ---------------------------------------------------------------------------
    def word(self, rng: random.Random, style: str) -> str:
        syllables, suffixes, longest = STYLES[style]
        for _ in range(1000):
            parts = []
            for i in range(rng.choice((syllables, syllables, syllables - 1 or 1))):
                onset = "" if i == 0 and rng.random() < 0.12 else rng.choice(ONSETS)
                coda = rng.choice(CODAS) if rng.random() < 0.3 else ""
                parts.append(onset + rng.choice(VOWELS) + coda)
            w = ("".join(parts) + rng.choice(suffixes)).capitalize()
            if 4 <= len(w) <= longest and w.lower() not in self._used and w.lower() not in NOUNS + ADJECTIVES:
                self._used.add(w.lower())
                return w
        raise RuntimeError("name generator exhausted")

    def add(self, kind: str, name: str, sub: str = "", year: int = 0) -> Entity:
        e = Entity(len(self.entities), kind, name, sub, {}, year)
        self.entities.append(e)
        return e

    def of(self, kind: str, sub: str | None = None) -> list[Entity]:
        return [e for e in self.entities if e.kind == kind and (sub is None or e.sub == sub)]

    def write(self, title: str, sentences: list[tuple[str, list[tuple[Entity, str]]]], optional: int) -> None:
        """Add a passage; the last `optional` sentences are distractors, dropped to fit MAX_WORDS.
        Each sentence lists the (subject, relation) facts it states."""
        keep = list(sentences)
        while sum(len(s.split()) for s, _ in keep) > MAX_WORDS and optional > 0:
            keep.pop()
            optional -= 1
        text = " ".join(s for s, _ in keep)
        if len(text.split()) > MAX_WORDS:
            raise RuntimeError(f"passage on {title} is too long: {text}")
        row = len(self.passages)
        self.passages.append((title, text))
        for _, facts in keep:
            for ent, rel in facts:
                self.support.setdefault((ent.idx, rel), set()).add(row)

    def value(self, e: Entity, rel: str) -> str:
        v = e.facts[rel]
        return self.entities[v].name if isinstance(v, int) else v

    # -- questions -------------------------------------------------------------------------
    def hop(self, e: Entity, rel: str) -> Hop:
        r = RELATIONS[(e.subject, rel)]
        return Hop(e.idx, rel, f"{e.query_name} {r.keyword}", self.value(e, rel),
                   frozenset(self.support.get((e.idx, rel), ())))

    def answers(self, e: Entity, rel: str) -> tuple[str, ...]:
        v = self.value(e, rel)
        if rel == "river":
            return (v, v.removesuffix(" River"))
        return (v,)

    def sample_questions(self, search, targets: dict[int, int]) -> list[GenQuestion]:
        """`targets[h]` questions of `h` hops each (in order of hop count), every hop retrievable:
        `search(query)` (the top TOP_K row indices) must return a passage stating the hop's fact."""
        rng = random.Random(f"searchqa:questions:{self.seed}")
        retrievable = self.retrievable
        starts = {"work": 3.0, "person": 3.0, "org": 2.0, "city": 1.5, "country": 0.5}
        pools = {k: self.of(k) for k in starts}
        seen: set[str] = set()
        out: list[GenQuestion] = []
        for hops, target in sorted(targets.items()):
            made, attempts = 0, 0
            while made < target:
                attempts += 1
                if attempts > 200 * target + 1000:
                    raise RuntimeError(f"could not generate {target} questions of {hops} hops")
                kind = rng.choices(list(starts), weights=list(starts.values()))[0]
                chain = self._walk(rng.choice(pools[kind]), hops, rng)
                if chain is None:
                    continue
                phrase = self.entities[chain[0][0]].mention
                for idx, rel in chain[:-1]:
                    phrase = RELATIONS[(self.entities[idx].subject, rel)].phrase.format(x=phrase)
                last_e, last_rel = self.entities[chain[-1][0]], chain[-1][1]
                text = RELATIONS[(last_e.subject, last_rel)].question.format(x=phrase)
                text = text[0].upper() + text[1:]
                answers = self.answers(last_e, last_rel)
                if text in seen or any(a.lower() in text.lower() for a in answers):
                    continue
                hop_list = tuple(self.hop(self.entities[i], rel) for i, rel in chain)
                ok = True
                for h in hop_list:
                    key = (h.subject, h.relation)
                    if key not in retrievable:
                        retrievable[key] = bool(h.support) and bool(set(search(h.query)) & h.support)
                    ok = ok and retrievable[key]
                if not ok:
                    continue
                seen.add(text)
                out.append(GenQuestion(text, answers, hop_list))
                made += 1
        return out

    def _walk(self, start: Entity, hops: int, rng: random.Random) -> list[tuple[int, str]] | None:
        chain: list[tuple[int, str]] = []
        visited = {start.idx}
        e = start
        for i in range(hops):
            last = i == hops - 1
            options = []
            for (subject, rel), r in RELATIONS.items():
                if subject != e.subject or rel not in e.facts:
                    continue
                v = e.facts[rel]
                if r.target is None:
                    if last:
                        options.append(rel)
                elif v not in visited:
                    options.append(rel)
            if not options:
                return None
            rel = rng.choice(options)
            chain.append((e.idx, rel))
            v = e.facts[rel]
            if isinstance(v, int):
                visited.add(v)
                e = self.entities[v]
        return chain


def build_world(seed: int = 0) -> World:
    """Invent the world of `seed` and write its passages (see the module docstring)."""
    w = World(seed)
    rng = random.Random(f"searchqa:world:{seed}")

    # countries, with rivers and currencies; cities, eight per country (first: capital)
    countries = [w.add("country", w.word(rng, "country")) for _ in range(24)]
    cities: list[Entity] = []
    for k in countries:
        k.facts["currency"] = w.word(rng, "word").lower()
        rivers = [w.word(rng, "word") + " River" for _ in range(3)]
        roots: list[str] = []
        for j in range(8):
            if j and rng.random() < 0.2 and roots:  # similar names: "Port Keldra" next to "Keldra"
                name = f"{rng.choice(['Port', 'New', 'Upper', 'Lower', 'East', 'West'])} {rng.choice(roots)}"
                if name.lower() in w._used:
                    name = w.word(rng, "city")
                w._used.add(name.lower())
            else:
                name = w.word(rng, "city")
                roots.append(name)
            c = w.add("city", name, year=rng.randint(900, 1850))
            c.facts.update(country=k.idx, river=rng.choice(rivers), founded_year=str(c.year))
            cities.append(c)
        k.facts["capital"] = cities[-8].idx
    capital_of = {k.facts["capital"]: k for k in countries}

    # people, in families sharing a surname (similar names); birth years 1800-1990
    firsts = [w.word(rng, "first") for _ in range(300)]
    surnames = [w.word(rng, "surname") for _ in range(560)]
    people: list[Entity] = []
    families: dict[str, list[Entity]] = {}
    full_names: set[str] = set()
    while len(people) < 1500:
        surname = rng.choice(surnames)
        base_year = rng.randint(1800, 1985) if rng.random() < 0.4 else rng.randint(1940, 1984)
        for _ in range(rng.choice((1, 1, 2, 3))):
            name = f"{rng.choice(firsts)} {surname}"
            if name in full_names or len(people) >= 1500:
                continue
            full_names.add(name)
            p = w.add("person", name, rng.choice(("he", "she")), year=min(1990, base_year + rng.randint(-6, 6)))
            p.facts.update(birthplace=rng.choice(cities).idx, birth_year=str(p.year))
            people.append(p)
            families.setdefault(surname, []).append(p)

    # organisations: stems shared by a few organisations of different kinds (similar names)
    stems = [w.word(rng, "stem") for _ in range(230)]
    orgs: list[Entity] = []
    org_names: set[str] = set()
    old = [p for p in people if p.year <= 1935]
    for kind, (count, _, suffixes, _) in ORG_KINDS.items():
        made = 0
        while made < count:
            name = f"{rng.choice(stems)} {rng.choice(suffixes)}"
            if name in org_names:
                continue
            org_names.add(name)
            founder = rng.choice(old)
            o = w.add("org", name, kind, year=founder.year + rng.randint(25, 55))
            o.facts.update(founder=founder.idx, founded_year=str(o.year), headquarters=rng.choice(cities).idx)
            orgs.append(o)
            made += 1
    universities = [o for o in orgs if o.sub == "university"]
    for p in people:
        p.facts.update(educated_at=rng.choice(universities).idx, employer=rng.choice(orgs).idx)
    # current office holders: heads of organisations, mayors, heads of state (distinct people)
    recent = [p for p in people if p.year >= 1945]
    rng.shuffle(recent)
    holders = iter(recent)
    for o in orgs:
        head = next(holders)
        o.facts["head"] = head.idx
        head.facts["employer"] = o.idx
    for c in cities:
        c.facts["mayor"] = next(holders).idx
    for k in countries:
        k.facts["leader"] = next(holders).idx

    # works; creators drawn from people not holding an office
    office = ({o.facts["head"] for o in orgs} | {c.facts["mayor"] for c in cities}
              | {k.facts["leader"] for k in countries})
    free = [p for p in people if p.idx not in office and 1850 <= p.year <= 1990]
    rng.shuffle(free)
    occupation: dict[int, str] = {}
    titles: set[str] = set()
    works: list[Entity] = []
    novels_by_title: dict[str, Entity] = {}
    for kind, (count, n_creators, occ, pub_kind, _) in WORK_KINDS.items():
        creators = [free.pop() for _ in range(n_creators)]
        for p in creators:
            occupation[p.idx] = occ
        publishers = [o for o in orgs if o.sub == pub_kind]
        for j in range(count):
            creator = creators[j] if j < len(creators) else rng.choice(creators)
            year = min(2023, creator.year + rng.randint(22, 60))
            if kind == "film" and j % 10 == 3 and novels_by_title:  # adaptations share the novel's title
                title = rng.choice(sorted(novels_by_title))
                if (title, "film") in titles:
                    title = _title(rng, titles)
            else:
                title = _title(rng, titles)
            titles.add(title)
            titles.add((title, kind))
            older = [o for o in publishers if o.year <= year] or [min(publishers, key=lambda o: o.year)]
            work = w.add("work", title, kind, year=year)
            work.facts.update(creator=creator.idx, publisher=rng.choice(older).idx, year=str(year))
            works.append(work)
            if kind == "novel":
                novels_by_title[title] = work
    for p in people:
        occupation.setdefault(p.idx, ORG_KINDS[w.entities[p.facts["employer"]].sub][3])

    _write_passages(w, rng, countries, cities, people, orgs, works, families, occupation, capital_of,
                    novels_by_title, stems)
    return w


def _title(rng: random.Random, taken: set) -> str:
    for _ in range(1000):
        a, n, a2, n2 = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(ADJECTIVES), rng.choice(NOUNS)
        title = rng.choice([f"The {a.title()} {n.title()}", f"{a.title()} {n.title()}s",
                            f"The {n.title()} and the {n2.title()}", f"{a.title()} {n.title()}",
                            f"The {a.title()} {a2.title()} {n.title()}", f"A {n.title()} for the {n2.title()}"])
        if title not in taken and a != a2 and n != n2:
            return title
    raise RuntimeError("title generator exhausted")


def _write_passages(w: World, rng, countries, cities, people, orgs, works, families, occupation,
                    capital_of, novels_by_title, stems) -> None:
    E = w.entities
    name = lambda idx: E[idx].name  # noqa: E731
    rows: list[tuple[str, list, int]] = []  # (title, sentences, optional count), shuffled before writing
    works_of: dict[int, list[Entity]] = {}
    for work in works:
        works_of.setdefault(work.facts["creator"], []).append(work)
    founded_by: dict[int, list[Entity]] = {}
    for o in orgs:
        founded_by.setdefault(o.facts["founder"], []).append(o)
    heads = {o.facts["head"]: o for o in orgs}
    mayors = {c.facts["mayor"]: c for c in cities}
    leaders = {k.facts["leader"]: k for k in countries}
    by_stem: dict[str, list[Entity]] = {}
    for o in orgs:
        by_stem.setdefault(o.name.split()[0], []).append(o)

    creators = {work.facts["creator"] for work in works}
    for p in people:
        he, his = p.sub, "his" if p.sub == "he" else "her"
        He, His = he.capitalize(), his.capitalize()
        occ, city, univ = occupation[p.idx], name(p.facts["birthplace"]), name(p.facts["educated_at"])
        alive = p.year >= 1935
        field_ = rng.choice(FIELDS)
        if alive:
            intro = f"{p.name} (born {p.year}) is {article(occ)}."
        else:
            intro = f"{p.name} ({p.year}-{min(2020, p.year + rng.randint(55, 95))}) was {article(occ)}."
        born = rng.choice([f"{He} was born in {city} in {p.year}", f"Born in {p.year} in {city}, {he} grew up there"])
        studied = rng.choice([f"and studied {field_} at {univ}.", f"and later studied {field_} at {univ}."])
        sents = [(intro, [(p, "birth_year")]),
                 (f"{born} {studied}", [(p, "birthplace"), (p, "birth_year"), (p, "educated_at")])]
        extra = []
        sibs = [s for s in families[p.name.split()[-1]] if s.idx != p.idx
                and s.facts["birthplace"] != p.facts["birthplace"]]
        if sibs:
            s = sibs[0]
            rel = "brother" if s.sub == "he" else "sister"
            extra.append((f"{His} {rel} {s.name} was born in {name(s.facts['birthplace'])}.", [(s, "birthplace")]))
        other = rng.choice(cities)
        if other.idx != p.facts["birthplace"]:
            extra.append((rng.choice([f"In {p.year + rng.randint(15, 40)}, {he} moved to {other.name}.",
                                      f"{He} spent most of {his} later life in {other.name}."]), []))
        rng.shuffle(extra)
        rows.append((p.name, sents + extra, len(extra)))

        employer = E[p.facts["employer"]]
        start = max(p.year + 22, employer.year + 1)
        if p.idx in creators:
            options = [f"Before becoming {article(occ)}, {p.name} worked for {employer.name}.",
                       f"Early in {his} career, {p.name} worked at {employer.name}."]
        else:
            options = [f"{p.name} worked for {employer.name} as {article(occ)} from {start}.",
                              f"From {start}, {p.name} worked at {employer.name}.",
                       f"{p.name} worked as {article(occ)} at {employer.name} for {rng.randint(3, 30)} years."]
        sents = [(rng.choice(options), [(p, "employer")])]
        if p.idx in heads:
            sents.append((f"{He} has been the head of {employer.name} since {start + rng.randint(5, 20)}.",
                          [(employer, "head")]))
        for o in founded_by.get(p.idx, [])[:1]:
            sents.append((f"In {o.year}, {he} founded {o.name}.", [(o, "founder"), (o, "founded_year")]))
        if p.idx in mayors:
            c = mayors[p.idx]
            sents.append((f"{He} is the mayor of {c.name}.", [(c, "mayor")]))
        if p.idx in leaders:
            k = leaders[p.idx]
            sents.append((f"{He} became head of state of {k.name} in {max(start, 2000) + rng.randint(1, 20)}.",
                          [(k, "leader")]))
        extra = []
        mine = works_of.get(p.idx, [])
        if mine:
            best = rng.choice(mine)
            extra.append((f'{He} is best known for the {best.sub} "{best.name}" ({best.year}).', [(best, "creator")]))
        spouse = rng.choice(people)
        if spouse.idx != p.idx and spouse.sub != p.sub:
            extra.append((f"{He} married {spouse.name} in {p.year + rng.randint(20, 40)}.", []))
        if rng.random() < 0.4:
            extra.append((f"{He} received the {rng.choice(stems)} Prize in {p.year + rng.randint(30, 60)}.", []))
        rows.append((p.name, sents + extra, len(extra)))

    for o in orgs:
        desc = ORG_KINDS[o.sub][1]
        founder, hq = name(o.facts["founder"]), name(o.facts["headquarters"])
        sents = [(rng.choice([f"{o.name} is {article(desc)} founded in {o.year} by {founder}.",
                              f"{o.name} is {article(desc)} that {founder} founded in {o.year}."]),
                  [(o, "founder"), (o, "founded_year")]),
                 (rng.choice([f"It is headquartered in {hq}.", f"{o.name} is headquartered in {hq}."]),
                  [(o, "headquarters")])]
        extra = []
        twins = [t for t in by_stem[o.name.split()[0]] if t.idx != o.idx
                 and t.facts["headquarters"] != o.facts["headquarters"]]
        if twins:
            t = twins[0]
            extra.append((f"It is not to be confused with {t.name}, {article(ORG_KINDS[t.sub][1])} based in "
                          f"{name(t.facts['headquarters'])}.", []))
        branch = rng.choice(cities)
        if branch.idx != o.facts["headquarters"]:
            extra.append((f"It also has an office in {branch.name}.", []))
        rows.append((o.name, sents + extra, len(extra)))

        head = E[o.facts["head"]]
        since = max(head.year + 30, o.year + 1) + rng.randint(0, 10)
        sents = [(rng.choice([f"The head of {o.name} is {head.name}, appointed in {since}.",
                              f"{head.name} has been the head of {o.name} since {since}."]), [(o, "head")])]
        extra = []
        former = rng.choice(people)
        if former.idx != head.idx and former.year < head.year:
            extra.append((f"{former.name} was head of {o.name} until {since}.", []))
        if o.sub == "publisher":
            authors = [E[wk.facts["creator"]] for wk in works if wk.facts["publisher"] == o.idx]
            if authors:
                extra.append((f"Its authors have included {rng.choice(authors).name}.", []))
        extra.append((f"It employs about {rng.randint(2, 90) * 10} people.", []))
        rng.shuffle(extra)
        rows.append((o.name, sents + extra, len(extra)))

    for c in cities:
        k = E[c.facts["country"]]
        size = rng.choice(SIZES)
        if c.idx in capital_of:
            first = (f"{c.name} is the capital of {k.name} and is located in the {rng.choice(DIRECTIONS)} "
                     "of the country.")
            facts = [(c, "country"), (k, "capital")]
        else:
            first = rng.choice([f"{c.name} is {article(size)} city located in {k.name}.",
                                f"{c.name} is a city located in the {rng.choice(DIRECTIONS)} of {k.name}."])
            facts = [(c, "country")]
        river = c.facts["river"]
        mayor = name(c.facts["mayor"])
        sents = [(first, facts),
                 (rng.choice([f"It lies on the {river} and was founded in {c.year}.",
                              f"Founded in {c.year}, it is built on both banks of the {river}."]),
                  [(c, "river"), (c, "founded_year")]),
                 (rng.choice([f"The current mayor of {c.name} is {mayor}.", f"{mayor} has been mayor of {c.name} since "
                              f"{max(2000, E[c.facts['mayor']].year + 35) + rng.randint(0, 15)}."]), [(c, "mayor")])]
        twin = rng.choice(cities)
        extra = [(f"It has a population of about {rng.randint(5, 900) * 1000}.", [])]
        if twin.idx != c.idx:
            extra.append((f"It is twinned with {twin.name}.", []))
        rng.shuffle(extra)
        rows.append((c.name, sents + extra, len(extra)))

    for k in countries:
        others = rng.sample([x for x in countries if x.idx != k.idx], 2)
        cap = name(k.facts["capital"])
        largest = rng.choice([c for c in cities if c.facts["country"] == k.idx and c.idx != k.facts["capital"]])
        sents = [(f"{k.name} is a country bordered by {others[0].name} and {others[1].name}.", []),
                 (rng.choice([f"Its capital is {cap}, and its largest city is {largest.name}.",
                              f"The capital of {k.name} is {cap}; its largest city is {largest.name}."]),
                  [(k, "capital")]),
                 (f"The currency of {k.name} is the {k.facts['currency']}.", [(k, "currency")])]
        rows.append((k.name, sents, 0))
        leader = E[k.facts["leader"]]
        sents = [(rng.choice([f"The head of state of {k.name} is {leader.name}, in office since "
                              f"{2000 + rng.randint(1, 23)}.",
                              f"{leader.name} has been head of state of {k.name} since {2000 + rng.randint(1, 23)}."]),
                  [(k, "leader")]),
                 (f"{k.name} became independent in {rng.randint(1700, 1960)}.", []),
                 (f"Its official language is {w.word(rng, 'word')}ic.", [])]
        rows.append((k.name, sents, 2))

    for work in works:
        creator, pub = name(work.facts["creator"]), name(work.facts["publisher"])
        setting = rng.choice(cities).name
        extra = []
        if work.sub == "novel":
            genre = rng.choice(WORK_KINDS["novel"][4])
            sents = [(f"{work.name} is {article(genre)} novel written by {creator}.", [(work, "creator")]),
                     (f"It was first published in {work.year} by {pub}.", [(work, "year"), (work, "publisher")])]
            extra.append((f"The story is set in {setting}.", []))
            if rng.random() < 0.4:
                extra.append((f"It won the {rng.choice(stems)} Prize in {work.year + 1}.", []))
        elif work.sub == "film":
            genre = rng.choice(WORK_KINDS["film"][4])
            sents = [(f"{work.name} is {article(genre)} film directed by {creator}.", [(work, "creator")]),
                     (f"It was produced by {pub} and released in {work.year}.", [(work, "publisher"), (work, "year")])]
            novel = novels_by_title.get(work.name)
            if novel is not None:
                extra.append((f"It is based on the novel of the same name by {name(novel.facts['creator'])}.", []))
            extra.append((f"It was filmed in {setting}.", []))
        else:
            sents = [(f"{work.name} is the {rng.choice(ORDINALS)} studio album recorded by {creator}.",
                      [(work, "creator")]),
                     (f"It was released in {work.year} on the {pub} label.", [(work, "year"), (work, "publisher")])]
            extra.append((f"Parts of it were recorded in {setting}.", []))
            extra.append((f'Its lead single is "{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()}".', []))
        rows.append((work.title, sents + extra, len(extra)))

    rng.shuffle(rows)
    for title, sents, optional in rows:
        w.write(title, sents, optional)
