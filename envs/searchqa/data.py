"""Passages, questions, the JSONL loaders for a user's own data, and the per-process dataset cache.

A `Dataset` is a corpus of passages with its BM25 index plus a list of questions; the task id of
a question is its position in that list. `get_dataset(...)` builds one per set of options and
shares it between env instances (the index is the expensive part: about 0.5 s for the default
corpus).

File formats (one JSON object a line; blank lines are skipped):

* corpus: `{"id": ..., "title": "...", "text": "..."}`; Search-R1's wiki dump form
  `{"id": ..., "contents": "\\"Title\\"\\ntext"}` is accepted too (title = first line, quotes
  stripped; text = the rest).
* questions: `{"question": "...", "golden_answers": ["...", ...]}` (a single string is accepted
  as one answer), optionally with `"id"`, `"hops"` (an integer >= 1: the question's tier) and
  `"split"` ("train" or "test"). When no line has a `"split"`, the test split is a stable
  sample of min(400, n // 5) questions chosen by a hash of the question text (so it does not
  depend on the order of the file); otherwise lines without one are train.

Any malformed line raises ValueError naming the file and the line number.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
import threading
from dataclasses import dataclass
from pathlib import Path

from envs.bm25 import BM25Index

HOP_COUNTS = {1: 1000, 2: 1000, 3: 1000, 4: 800}
"""Generated questions per hop count (tier)."""
TEST_PER_HOP = 100
"""Test questions per hop count: 400 in all, the size of the published test set."""
MAX_TEST = 400
"""Test size cap for a user's QA file without split fields."""


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD / Search-R1 answer normalisation: lowercase, drop ASCII punctuation, drop the
    articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    question: str
    golden_answers: tuple[str, ...]
    hops: int | None = None
    """The tier: number of retrieval hops (generated questions; optional in a user's file)."""
    split: str = "train"
    qid: str = ""
    expert_queries: tuple[str, ...] = ()
    """Generated questions only: the expert's query for each hop, in order."""
    support: tuple[frozenset[int], ...] = ()
    """Generated questions only: for each hop, the passages (row indices) stating its fact."""
    hop_answers: tuple[str, ...] = ()
    """Generated questions only: what each hop finds (the next hop's subject, finally the answer)."""


class Dataset:
    def __init__(self, passages: list[Passage], questions: list[Question], source: str,
                 index: BM25Index | None = None):
        if not passages:
            raise ValueError(f"{source}: the corpus has no passages")
        if not questions:
            raise ValueError(f"{source}: there are no questions")
        self.passages = passages
        self.questions = questions
        self.source = source
        self.index = index if index is not None else BM25Index([f"{p.title}\n{p.text}" for p in passages])
        self.split_ids = {s: [i for i, q in enumerate(questions) if q.split == s] for s in ("train", "test")}
        self.tiers = sorted({q.hops for q in questions if q.hops is not None})

    def search(self, query: str, k: int) -> list[int]:
        """Row indices of the top-`k` passages for `query`."""
        return self.index.search(query, k)


# --------------------------------------------------------------------------- loaders


def _jsonl(path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; ValueError naming file and line otherwise."""
    path = Path(path)
    rows = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{path}, line {lineno}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            except RecursionError:
                raise ValueError(f"{path}, line {lineno}: not usable JSON (nested too deeply)") from None
            except ValueError as e:  # valid JSON Python will not read, e.g. an integer of over 4300 digits
                raise ValueError(f"{path}, line {lineno}: not usable JSON ({e})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}, line {lineno}: expected a JSON object, found {type(obj).__name__}")
            rows.append((lineno, obj))
    return rows


def _id(value, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{where}: 'id' must be a string or an integer")
    return _unicode(str(value), where, "id")


def _unicode(text: str, where: str, field: str) -> str:
    """`text`, unless it holds a lone surrogate (a JSON escape such as "\\ud800" decodes to one): such
    text is not Unicode, and would break the index's stemmer and the model's tokenizer."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: {field!r} is not valid Unicode (a lone surrogate escape such as "
                         "\\ud800)") from None
    return text


def load_corpus(path) -> list[Passage]:
    """Passages of a JSONL corpus file (see the module docstring)."""
    passages, ids = [], set()
    for lineno, obj in _jsonl(path):
        where = f"{path}, line {lineno}"
        if "id" not in obj:
            raise ValueError(f"{where}: missing 'id' (expected {{\"id\", \"title\", \"text\"}})")
        pid = _id(obj["id"], where)
        if pid in ids:
            raise ValueError(f"{where}: duplicate id {pid!r}")
        ids.add(pid)
        if "text" in obj or "title" in obj:
            title, text = obj.get("title"), obj.get("text")
            if not isinstance(title, str) or not isinstance(text, str):
                raise ValueError(f"{where}: 'title' and 'text' must both be strings")
        elif isinstance(obj.get("contents"), str):
            title, _, text = obj["contents"].partition("\n")
            title = title.strip().strip('"')
        else:
            raise ValueError(f"{where}: expected 'title' and 'text' strings (or Search-R1's 'contents')")
        if not (title.strip() or text.strip()):
            raise ValueError(f"{where}: the passage is empty")
        _unicode(title, where, "title")
        _unicode(text, where, "text")
        passages.append(Passage(pid, title.strip(), " ".join(text.split())))
    if not passages:
        raise ValueError(f"{path}: the corpus file has no passages")
    return passages


def load_qa(path) -> list[Question]:
    """Questions of a JSONL QA file (see the module docstring), in file order."""
    rows = []
    for lineno, obj in _jsonl(path):
        where = f"{path}, line {lineno}"
        question = obj.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{where}: 'question' must be a non-empty string")
        golds = obj.get("golden_answers")
        if isinstance(golds, str):
            golds = [golds]
        if not isinstance(golds, list) or not golds or not all(isinstance(g, (str, int, float)) and
                                                                not isinstance(g, bool) for g in golds):
            raise ValueError(f"{where}: 'golden_answers' must be a non-empty list of strings")
        _unicode(question, where, "question")
        golds = [_unicode(str(g), where, "golden_answers") for g in golds]
        if not all(normalize_answer(g) for g in golds):
            raise ValueError(f"{where}: a golden answer is empty after normalisation")
        hops = obj.get("hops")
        if hops is not None and (isinstance(hops, bool) or not isinstance(hops, int) or hops < 1):
            raise ValueError(f"{where}: 'hops' must be an integer >= 1")
        split = obj.get("split")
        if split is not None and split not in ("train", "test"):
            raise ValueError(f"{where}: 'split' must be 'train' or 'test'")
        qid = _id(obj["id"], where) if "id" in obj else ""
        rows.append((Question(" ".join(question.split()), tuple(golds), hops, split or "train", qid), split))
    if not rows:
        raise ValueError(f"{path}: the QA file has no questions")
    questions = [q for q, _ in rows]
    if all(split is None for _, split in rows):
        ranked = sorted(range(len(questions)),
                        key=lambda i: (hashlib.sha256(questions[i].question.encode()).hexdigest(), i))
        test = set(ranked[:min(MAX_TEST, len(questions) // 5)])
        questions = [Question(q.question, q.golden_answers, q.hops, "test" if i in test else "train", q.qid)
                     for i, q in enumerate(questions)]
    return questions


# --------------------------------------------------------------------------- generated data


def generate_dataset(seed: int = 0) -> tuple[list[Passage], list[Question], BM25Index]:
    """The default corpus and questions of `seed` (see `envs.searchqa.kb`). Questions are
    ordered by hop count; the first TEST_PER_HOP of each hop count form the test split.
    Also returns the corpus's BM25 index (the questions were checked against it)."""
    from envs.searchqa.kb import TOP_K, build_world

    world = build_world(seed)
    passages = [Passage(str(i), title, text) for i, (title, text) in enumerate(world.passages)]
    index = BM25Index([f"{p.title}\n{p.text}" for p in passages])
    generated = world.sample_questions(lambda q: index.search(q, TOP_K), HOP_COUNTS)
    questions, per_hop = [], {}
    for g in generated:
        n = len(g.hops)
        per_hop[n] = per_hop.get(n, 0) + 1
        questions.append(Question(
            g.question, g.answers, n, "test" if per_hop[n] <= TEST_PER_HOP else "train", f"gen-{seed}-{len(questions)}",
            tuple(h.query for h in g.hops), tuple(h.support for h in g.hops), tuple(h.answer for h in g.hops),
        ))
    return passages, questions, index


# --------------------------------------------------------------------------- cache

_CORPORA: dict[tuple, tuple[list[Passage], BM25Index, list[Question] | None]] = {}
_DATASETS: dict[tuple, Dataset] = {}
_LOCK = threading.RLock()


def _file_key(path) -> tuple:
    resolved = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(resolved)
    except OSError:
        raise FileNotFoundError(f"no such file: {path}") from None
    return resolved, st.st_mtime_ns, st.st_size


def _corpus(key: tuple, seed: int, corpus_path):
    """(passages, index, generated questions or None), built once per corpus."""
    if key not in _CORPORA:
        if corpus_path is None:
            passages, questions, index = generate_dataset(seed)
            _CORPORA[key] = (passages, index, questions)
        else:
            passages = load_corpus(corpus_path)
            _CORPORA[key] = (passages, BM25Index([f"{p.title}\n{p.text}" for p in passages]), None)
    return _CORPORA[key]


def get_dataset(seed: int = 0, corpus_path=None, qa_path=None) -> Dataset:
    """The dataset for these options, built once per process and shared by all envs.

    No paths: the generated corpus and questions of `seed`. `qa_path` alone: your questions
    over the generated corpus. Both: your corpus and your questions. `corpus_path` alone is an
    error (generated questions only make sense on the generated corpus). A corpus and its index
    are built once whatever the QA file; a file changed on disk is read again.
    """
    if corpus_path is not None and qa_path is None:
        raise ValueError("corpus_path needs qa_path: give the questions to ask about your corpus")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    corpus_key = ("generated", seed) if corpus_path is None else ("file", _file_key(corpus_path))
    key = (corpus_key, None if qa_path is None else _file_key(qa_path))
    dataset = _DATASETS.get(key)
    if dataset is None:
        with _LOCK:
            dataset = _DATASETS.get(key)
            if dataset is None:
                passages, index, generated = _corpus(corpus_key, seed, corpus_path)
                source = f"generated(seed={seed})" if corpus_path is None else str(corpus_path)
                if qa_path is None:
                    questions = generated
                else:
                    questions = load_qa(qa_path)
                    source += f" + {qa_path}"
                dataset = Dataset(passages, questions, source, index)
                _DATASETS[key] = dataset
    return dataset
