"""Tests of the Deep Search (SearchQA) env: generated corpus and questions, splits and tiers, the
scripted expert on every task, the tag parser (strict and lenient), answer normalisation,
hostile and random replies, determinism across processes, and the loaders for a user's files."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest

import envs
from envs.searchqa import SearchQAEnv, get_dataset, load_corpus, load_qa, normalize_answer, parse_reply
from envs.searchqa.data import HOP_COUNTS
from envs.searchqa.kb import MAX_WORDS
from fresh_process import run_json

ROOT = Path(__file__).resolve().parents[1]
INFO_KEYS = {"success", "score", "action", "format_ok"}


@pytest.fixture(scope="module")
def dataset():
    return get_dataset()


@pytest.fixture()
def env():
    return SearchQAEnv()


def play_expert(env: SearchQAEnv, task_id: int, check_hops: bool = True) -> int:
    """Run the expert on a task; returns the number of turns (fails unless it solves the task).
    It takes at most one search per hop, fewer when a passage found earlier already states a
    later hop's fact (the capital's passage names its mayor)."""
    env.reset(task_id)
    q = env.question
    for turn in range(1, 12):
        reply = env.expert_action()
        obs, reward, terminated, truncated, info = env.step(reply)
        assert info["format_ok"] and "error" not in info and not truncated, (task_id, reply, obs)
        if reply.startswith("<search>") and check_hops and q.hop_answers:
            # the hop's answer (the next hop's subject, finally the answer) is in what was shown
            hop = q.expert_queries.index(reply.removeprefix("<search>").removesuffix("</search>"))
            assert q.hop_answers[hop] in obs, (task_id, reply, obs)
        if terminated:
            assert reward == 1.0 and info["success"] and info["score"] == 1.0
            assert info["action"].startswith("answer: ")
            return turn
        assert reward == 0.0 and not info["success"]
    raise AssertionError(f"expert did not solve task {task_id}: {q.question}")


# --------------------------------------------------------------------------- corpus and tasks


def test_counts_splits_and_tiers(dataset):
    assert len(dataset.passages) > 4000
    assert Counter(q.hops for q in dataset.questions) == HOP_COUNTS == {1: 1000, 2: 1000, 3: 1000, 4: 800}
    train, test = SearchQAEnv.tasks("train"), SearchQAEnv.tasks("test")
    assert len(test) == 400 and len(train) == 3400 and not set(train) & set(test)
    assert sorted(train + test) == list(range(3800)) and test == sorted(test)
    for split, per_tier in (("test", [100, 100, 100, 100]), ("train", [900, 900, 900, 700])):
        by_tier = [SearchQAEnv.tasks(split, tier) for tier in (1, 2, 3, 4)]
        assert [len(ids) for ids in by_tier] == per_tier
        assert sorted(sum(by_tier, [])) == SearchQAEnv.tasks(split)
        for tier, ids in zip((1, 2, 3, 4), by_tier):
            assert all(dataset.questions[i].hops == tier for i in ids)
    assert envs.tasks("searchqa", "test", 3) == SearchQAEnv.tasks("test", 3)
    assert isinstance(envs.make("searchqa"), SearchQAEnv)


@pytest.mark.parametrize("split,tier", [("valid", None), ("TEST", None), ("train", 0), ("train", 5),
                                        ("test", "2"), ("test", True), ("test", 2.0)])
def test_bad_split_or_tier_raises_value_error(split, tier):
    with pytest.raises(ValueError):
        SearchQAEnv.tasks(split, tier)


def test_tasks_options_and_bad_ids(env):
    assert SearchQAEnv.tasks("test", seed=0, action_format="lenient", top_k=3) == SearchQAEnv.tasks("test")
    with pytest.raises(TypeError):
        SearchQAEnv.tasks("test", colour="red")
    for bad in (-1, 3800, "3", 1.5, None, True):
        with pytest.raises(ValueError):
            env.reset(bad)
    with pytest.raises(RuntimeError):
        SearchQAEnv().step("<search>x</search>")
    with pytest.raises(ValueError):
        SearchQAEnv(action_format="loose")
    with pytest.raises(ValueError):
        SearchQAEnv(top_k=0)


def test_generated_corpus_looks_like_an_encyclopedia(dataset):
    lengths = [len(p.text.split()) for p in dataset.passages]
    assert max(lengths) <= MAX_WORDS and statistics.median(lengths) >= 20
    assert len({p.id for p in dataset.passages}) == len(dataset.passages)
    titles = Counter(p.title for p in dataset.passages)
    assert sum(n > 1 for n in titles.values()) > 1000  # people, organisations, countries: several passages
    text = " ".join(p.text for p in dataset.passages)
    for phrase in ("was born in", "founded in", "is headquartered in", "is the capital of", "novel written by",
                   "film directed by", "studio album recorded by", "has been the head of", "mayor of",
                   "head of state of", "not to be confused with", "moved to", "was head of"):
        assert phrase in text, phrase
    # similar names: siblings sharing a surname, organisations sharing a stem, "Port X" next to "X"
    assert text.count("His sister ") + text.count("Her brother ") > 100
    assert text.count("not to be confused with") > 100
    assert any(f"Port {t}" in titles or f"New {t}" in titles for t in titles)


def test_questions_are_well_formed(dataset):
    texts = [q.question for q in dataset.questions]
    assert len(set(texts)) == len(texts)
    for q in dataset.questions:
        assert q.question.endswith("?") and q.question[0].isupper()
        assert len(q.expert_queries) == len(q.support) == len(q.hop_answers) == q.hops
        assert q.hop_answers[-1] == q.golden_answers[0]
        assert all(support for support in q.support)
        assert not any(normalize_answer(a) in normalize_answer(q.question) for a in q.golden_answers)
    assert "capital" in " ".join(texts) and "founder" in " ".join(texts)


def test_every_hop_is_retrievable_in_the_top_3(dataset):
    """Each hop's expert query (subject + relation word) ranks a passage stating the fact in the top 3."""
    for q in dataset.questions:
        for query, support, answer in zip(q.expert_queries, q.support, q.hop_answers):
            rows = dataset.search(query, 3)
            assert set(rows) & support, (q.question, query)
            assert any(answer in dataset.passages[r].text for r in set(rows) & support)


def test_multi_hop_questions_need_more_than_one_search(dataset):
    """Searching the question itself finds the answer for one-hop questions, hardly ever for more."""
    found = Counter()
    for q in dataset.questions:
        rows = dataset.search(q.question, 3)
        gold = normalize_answer(q.golden_answers[0])
        found[q.hops] += any(gold in normalize_answer(f"{dataset.passages[r].title} {dataset.passages[r].text}")
                             for r in rows)
    assert found[1] >= 950
    assert found[2] < 150 and found[3] < 60 and found[4] < 30


# --------------------------------------------------------------------------- expert


def test_expert_solves_every_test_task(env):
    turns = []
    for task_id in SearchQAEnv.tasks("test"):
        turns.append(play_expert(env, task_id) - 1 - env.question.hops)
    assert max(turns) == 0 and Counter(turns)[0] > 350


def test_expert_solves_every_train_task(env):
    for task_id in SearchQAEnv.tasks("train"):
        assert play_expert(env, task_id, check_hops=False) <= env.question.hops + 1


def test_expert_recovers_after_detours(env):
    rng = random.Random(3)
    for task_id in rng.sample(SearchQAEnv.tasks("test"), 40):
        env.reset(task_id)
        for _ in range(3):
            env.step(rng.choice(["<search>river capital mayor</search>", "<answer>nobody</answer>",
                                 "no tag here", env.expert_action()]))
            if env._success:
                break
        for _ in range(8):
            if env._success:
                break
            env.step(env.expert_action())
        assert env._success, task_id


def test_search_latency_and_observation_size(env):
    env.reset(SearchQAEnv.tasks("test", 4)[0])
    queries = [q for q in (get_dataset().questions[i].expert_queries[0] for i in range(0, 3800, 19))]
    times, sizes = [], []
    for query in queries:
        start = time.perf_counter()
        obs, *_ = env.step(f"<search>{query}</search>")
        times.append(time.perf_counter() - start)
        sizes.append(len(obs))
    assert statistics.median(times) < 0.05  # an index, not a scan (the bound is loose: a loaded machine is slow)
    assert max(sizes) < 1200 and statistics.median(sizes) / 4 < 250  # tokens ~ chars / 4


# --------------------------------------------------------------------------- episodes


def test_search_answer_retry_and_end(env):
    task = SearchQAEnv.tasks("test", 1)[0]
    obs, info = env.reset(task)
    q = env.question
    assert obs == f"Question: {q.question}" and info["hops"] == 1 and info["task_id"] == task
    assert info["success"] is False and info["score"] == 0.0
    obs, reward, terminated, truncated, info = env.step(f"I should look it up. <search>{q.expert_queries[0]}</search>")
    assert obs.startswith("<information>Doc 1(Title: ") and obs.endswith("</information>")
    assert obs.count("\nDoc ") == 2 and "Doc 3(Title: " in obs
    assert reward == 0.0 and not terminated and info["format_ok"] and len(info["doc_ids"]) == 3
    assert info["action"] == f"search: {q.expert_queries[0]}"
    obs, reward, terminated, _, info = env.step("<answer>Someone Else</answer>")
    assert "not correct" in obs and reward == 0.0 and not terminated and info["format_ok"]
    assert info["action"] == "answer: Someone Else" and not info["success"] and "error" not in info
    gold = q.golden_answers[0]
    obs, reward, terminated, truncated, info = env.step(f"So it is <answer>  THE {gold.upper()}. </answer>")
    assert "is correct" in obs and reward == 1.0 and terminated and not truncated
    assert info["success"] and info["score"] == 1.0
    obs, reward, terminated, _, info = env.step(f"<answer>{gold}</answer>")
    assert reward == 0.0 and terminated and info["success"] and "over" in obs
    env.close()
    assert env.question is None and not env._shown
    with pytest.raises(RuntimeError):
        env.step("<search>x</search>")


def test_reset_is_deterministic_and_fresh(env):
    task = SearchQAEnv.tasks("test", 2)[5]
    first, _ = env.reset(task)
    env.step(env.expert_action())
    again, _ = SearchQAEnv().reset(task)
    assert first == again == env.reset(task)[0] and not env._shown
    assert SearchQAEnv().dataset is env.dataset  # one dataset and index per process


def test_no_match_search(env):
    env.reset(0)
    obs, reward, terminated, _, info = env.step("<search>the of and</search>")
    assert "No passage matches" in obs and info["doc_ids"] == [] and info["format_ok"]


def test_passages_are_truncated_in_observations(tmp_path):
    corpus, qa = write_user_files(tmp_path, long_text=True)
    env = SearchQAEnv(corpus_path=corpus, qa_path=qa, max_passage_words=10)
    env.reset(0)
    obs, *_ = env.step("<search>Velmora capital</search>")
    line = next(ln for ln in obs.splitlines() if "(Title: Velmora) " in ln).removesuffix("</information>")
    assert line.endswith(" ...") and len(line.split("(Title: Velmora) ")[1].split()) == 11


# --------------------------------------------------------------------------- parser


@pytest.mark.parametrize("reply,action,format_ok", [
    ("<search>Halvorn Press founded</search>", "search: Halvorn Press founded", True),
    ("I think... <search>  Halvorn\n Press </search>", "search: Halvorn Press", True),
    ("<think>plan</think>\n<answer>Lusk</answer>", "answer: Lusk", True),
    ("<answer>Lusk</answer> <search>more</search>", "answer: Lusk", False),  # first tag runs
    ("<search>a</search><search>b</search>", "search: a", False),
    ("<search>q</search>\n<information>made up</information>\n<answer>x</answer>", "search: q", False),
    ("I use <search> tags. <search>q</search>", "search: q", False),  # first *complete* pair
    ("<search>q</search", None, False),
    ("<search>q", None, False),
    ("<Search>q</Search>", None, False),
    ("<search></search>", None, False),
    ("<search><answer>x</answer></search>", "answer: x", False),
    ("search: q", None, False),
    ("Action: search[q]", None, False),
    ("", None, False),
])
def test_strict_parse(reply, action, format_ok):
    parsed = parse_reply(reply)
    assert (parsed.action, parsed.format_ok) == (action, format_ok)
    assert (parsed.error is None) == (action is not None)


@pytest.mark.parametrize("reply,action", [
    ("<search>q</search>", "search: q"),
    ("<Search>q</SEARCH>", "search: q"),
    ("< search >q</ search >", "search: q"),
    ("Let me look.\n<search>Osa Terwin born", "search: Osa Terwin born"),  # stop string stripped
    ("<answer>Lusk\nbecause ...", "answer: Lusk"),
    ("search: Osa Terwin born", "search: Osa Terwin born"),
    ("Thought: hmm\nAction: search[Osa Terwin born]", "search: Osa Terwin born"),
    ("**Final answer: Lusk**", "answer: Lusk"),
    ("answer[Lusk]", "answer: Lusk"),
    ("Action: answer: Lusk", "answer: Lusk"),
    ("The answer: maybe Lusk", None),
    ("no action here", None),
    ("<search></search>", None),
])
def test_lenient_parse(reply, action):
    parsed = parse_reply(reply, lenient=True)
    assert parsed.action == action
    assert parsed.format_ok == (reply == "<search>q</search>")


def test_strict_errors_explain_what_is_expected(env):
    env.reset(0)
    cases = {"nothing": "no <search> or <answer> tag", "<search>q": "not closed",
             "<SEARCH>q</SEARCH>": "exactly", "<answer> </answer>": "empty",
             "</search>q<search>": "do not form"}
    for reply, fragment in cases.items():
        obs, reward, terminated, _, info = env.step(reply)
        assert fragment in info["error"] and obs.startswith("Invalid action.") and "Expected:" in obs
        assert reward == 0.0 and not terminated and info["action"] is None and not info["format_ok"]


def test_lenient_env_acts_on_bare_lines_without_format_ok():
    strict, lenient = SearchQAEnv(), envs.make("searchqa", action_format="lenient")
    task = SearchQAEnv.tasks("test", 1)[0]
    for e in (strict, lenient):
        e.reset(task)
    query = strict.question.expert_queries[0]
    obs, _, _, _, info = strict.step(f"search: {query}")
    assert info["action"] is None and obs.startswith("Invalid action.")
    obs, _, _, _, info = lenient.step(f"search: {query}")
    assert obs.startswith("<information>") and info["action"] == f"search: {query}" and not info["format_ok"]
    obs, reward, terminated, _, info = lenient.step(f"Action: answer[{lenient.question.golden_answers[0]}]")
    assert reward == 1.0 and terminated and not info["format_ok"]


def test_several_tags_run_the_first_with_a_note(env):
    env.reset(0)
    obs, reward, _, _, info = env.step("<search>a</search> <answer>b</answer>")
    assert obs.startswith("Note: only the first") and "<information>" in obs
    assert info["action"] == "search: a" and not info["format_ok"] and reward == 0.0


@pytest.mark.parametrize("text,expected", [
    ("The Lusk", "lusk"), ("  lusk. ", "lusk"), ("An Apple a Day!", "apple day"),
    ("Halvorn   Press, Inc.", "halvorn press inc"), ("Saint-Étienne", "saintétienne"), ("1902", "1902"),
    ("the", ""), ("Theodora", "theodora"), ("A.B.", "ab"), ("Tab\tand\nnewline", "tab and newline"),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_answer_matches_any_gold_after_normalisation(dataset):
    river_q = next(i for i, q in enumerate(dataset.questions) if q.golden_answers[0].endswith(" River"))
    env = SearchQAEnv()
    for reply in (dataset.questions[river_q].golden_answers[0], dataset.questions[river_q].golden_answers[1]):
        env.reset(river_q)
        assert env.step(f"<answer>the {reply.lower()}</answer>")[1] == 1.0


def test_instructions_describe_tags_and_example():
    text = SearchQAEnv.instructions
    for needle in ("<search>", "</search>", "<information>", "<answer>", "</answer>", "Example", "Question:"):
        assert needle in text
    assert "Action:" not in text
    corpus_text = " ".join(f"{p.title} {p.text}" for p in get_dataset().passages).lower()
    assert "terwin" not in corpus_text and "brindle" not in corpus_text  # the example is not a real hint


# --------------------------------------------------------------------------- robustness

HOSTILE = [
    "", "   ", None, 12345, "\x00\x01\x02\xff", bytes(range(256)).decode("latin-1"), "x" * 100_000,
    "<search>" + "a" * 100_000 + "</search>", "<search>" * 20_000, "</search>" * 5000,
    "<search>a</search>" * 3000, "<answer>" + "b" * 50_000, "<search>\ud800\u202e</search>",
    "<answer>\ud800</answer>", "<search>" + "<answer>" * 1000, "<information>fake</information>",
    "<search><search>q</search></search>", "<answer></answer>", "<<search>>q<</search>>",
    "search: " + "q " * 30_000, "answer[" * 4000, "<search>" + "\n" * 10_000 + "q</search>",
]


@pytest.mark.parametrize("action_format", ["strict", "lenient"])
def test_hostile_replies_never_raise(action_format):
    env = SearchQAEnv(action_format=action_format)
    env.reset(SearchQAEnv.tasks("test", 2)[0])
    for reply in HOSTILE:
        start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(reply)
        assert time.perf_counter() - start < 5  # no pathological regex or scan (loose: a loaded machine is slow)
        assert isinstance(obs, str) and len(obs) < 2000
        assert reward == 0.0 and not terminated and not truncated
        assert INFO_KEYS <= set(info)
        assert (info["action"] is None) == ("error" in info)
        obs.encode("utf-8")  # no lone surrogates echoed back


def test_random_replies_never_raise():
    rng = random.Random(1)
    words = ["<search>", "</search>", "<answer>", "</answer>", "<information>", "search:", "answer:", "[", "]",
             "Action:", "\n", " ", "Lusk", "the", "born", "founded", "<", ">", "/", "é", "\x00", "`", "*"]
    dataset = get_dataset()
    for action_format in ("strict", "lenient"):
        env = SearchQAEnv(action_format=action_format)
        for episode in range(40):
            task = rng.randrange(len(dataset.questions))
            env.reset(task)
            for _ in range(25):
                reply = "".join(rng.choice(words) for _ in range(rng.randint(0, 15)))
                obs, reward, terminated, truncated, info = env.step(reply)
                assert isinstance(obs, str) and reward in (0.0, 1.0) and INFO_KEYS <= set(info)
                if terminated:
                    break


# --------------------------------------------------------------------------- determinism


def test_identical_in_fresh_processes_with_other_hash_seeds(env):
    ids = [0, 999, 1500, 2500, 3799] + SearchQAEnv.tasks("test")[::97]
    code = (
        "import hashlib, json; from envs.searchqa import SearchQAEnv as E, get_dataset; d = get_dataset(); e = E(); "
        "h = hashlib.sha256(json.dumps([[p.id, p.title, p.text] for p in d.passages] + "
        "[[q.question, q.golden_answers, q.hops, q.split, q.expert_queries] for q in "
        "d.questions]).encode()).hexdigest(); "
        f"obs = [e.reset(i)[0] for i in {ids}]; e.reset(3799); "
        "obs.append(e.step('<search>capital currency river</search>')[0]); "
        "print(json.dumps({'hash': h, 'obs': obs, 'test': E.tasks('test')}))"
    )
    seen = [run_json(code, seed) for seed in ("1", "4242")]
    assert seen[0] == seen[1]
    here = [env.reset(i)[0] for i in ids]
    env.reset(3799)
    here.append(env.step("<search>capital currency river</search>")[0])
    assert seen[0]["obs"] == here and seen[0]["test"] == SearchQAEnv.tasks("test")


def test_other_seed_gives_another_world():
    a, b = get_dataset(seed=0), get_dataset(seed=1)
    assert a.passages[0] != b.passages[0] and a.questions[0].question != b.questions[0].question
    assert len(SearchQAEnv.tasks("test", seed=1)) == 400


# --------------------------------------------------------------------------- user data


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def write_user_files(tmp_path: Path, long_text: bool = False, split: bool = True):
    filler = " Its markets sell salt, wool and amber from the hills." * (5 if long_text else 0)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [
        {"id": "d1", "title": "Velmora", "text": "Velmora is a country. Its capital is Ostrel." + filler},
        {"id": 2, "title": "Ostrel", "text": "Ostrel is the capital of Velmora. Its mayor is Dana Quill."},
        "",
        {"id": "d3", "contents": '"Dana Quill"\nDana Quill is a mayor, born in 1970 in Pennick.'},
    ])
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "What is the capital of Velmora?", "golden_answers": ["Ostrel"], "hops": 1,
         **({"split": "test"} if split else {})},
        {"question": "Where was the mayor of the capital of Velmora born?", "golden_answers": ["Pennick", "Penick"],
         "hops": 3, "id": "q2"},
        {"question": "Who is the mayor of Ostrel?", "golden_answers": "Dana Quill", "id": 3},
    ])
    return corpus, qa


def test_user_corpus_and_questions(tmp_path):
    corpus, qa = write_user_files(tmp_path)
    assert [p.id for p in load_corpus(corpus)] == ["d1", "2", "d3"]
    assert load_corpus(corpus)[2].title == "Dana Quill"
    questions = load_qa(qa)
    assert [q.split for q in questions] == ["test", "train", "train"]
    assert questions[2].golden_answers == ("Dana Quill",) and questions[1].hops == 3
    options = {"corpus_path": str(corpus), "qa_path": str(qa)}
    assert SearchQAEnv.tasks("test", **options) == [0] and SearchQAEnv.tasks("train", **options) == [1, 2]
    assert SearchQAEnv.tasks("train", 3, **options) == [1]
    with pytest.raises(ValueError):
        SearchQAEnv.tasks("train", 2, **options)
    env = SearchQAEnv(**options)
    assert env.dataset is SearchQAEnv(**options).dataset
    obs, info = env.reset(1)
    assert obs == "Question: Where was the mayor of the capital of Velmora born?" and info["hops"] == 3
    obs, *_ = env.step("<search>Dana Quill born</search>")
    assert obs.startswith("<information>Doc 1(Title: Dana Quill) Dana Quill is a mayor")
    assert env.step("<answer>penick</answer>")[1] == 1.0
    for task in range(3):  # the oracle expert: search the question, then the gold answer
        env.reset(task)
        assert env.expert_action().startswith("<search>")
        env.step(env.expert_action())
        assert env.step(env.expert_action())[1] == 1.0
    assert SearchQAEnv.task_info(2, **options)["golden_answers"] == ["Dana Quill"]


def test_user_questions_on_generated_corpus_and_hash_split(tmp_path):
    rows = [{"question": f"Question number {i}?", "golden_answers": [str(i)]} for i in range(20)]
    qa = write_jsonl(tmp_path / "qa.jsonl", rows)
    test = SearchQAEnv.tasks("test", qa_path=str(qa))
    assert len(test) == 4 and len(SearchQAEnv.tasks("train", qa_path=str(qa))) == 16
    shuffled = write_jsonl(tmp_path / "qa2.jsonl", rows[::-1])
    assert {19 - i for i in SearchQAEnv.tasks("test", qa_path=str(shuffled))} == set(test)  # order-free
    env = SearchQAEnv(qa_path=str(qa))
    assert env.dataset.index is get_dataset().index  # the generated corpus is indexed once
    with pytest.raises(ValueError, match="hops"):
        SearchQAEnv.tasks("test", 1, qa_path=str(qa))


@pytest.mark.parametrize("line,message", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"title": "T", "text": "x"}', "missing 'id'"),
    ('{"id": true, "title": "T", "text": "x"}', "'id' must be"),
    ('{"id": "d1", "title": "T", "text": "dup"}', "duplicate id"),
    ('{"id": "z", "title": "T"}', "'title' and 'text'"),
    ('{"id": "z", "title": 3, "text": "x"}', "'title' and 'text'"),
    ('{"id": "z", "body": "x"}', "expected 'title' and 'text'"),
    ('{"id": "z", "title": " ", "text": ""}', "empty"),
])
def test_corpus_loader_rejects_malformed_lines(tmp_path, line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"id": "d1", "title": "A", "text": "a"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_corpus(path)
    assert f"{path}, line 3" in str(err.value)


@pytest.mark.parametrize("line,message", [
    ("{oops", "not valid JSON"),
    ('{"golden_answers": ["a"]}', "'question'"),
    ('{"question": "  ", "golden_answers": ["a"]}', "'question'"),
    ('{"question": "q?"}', "'golden_answers'"),
    ('{"question": "q?", "golden_answers": []}', "'golden_answers'"),
    ('{"question": "q?", "golden_answers": [null]}', "'golden_answers'"),
    ('{"question": "q?", "golden_answers": ["the"]}', "empty after normalisation"),
    ('{"question": "q?", "golden_answers": ["x"], "hops": 0}', "'hops'"),
    ('{"question": "q?", "golden_answers": ["x"], "hops": "2"}', "'hops'"),
    ('{"question": "q?", "golden_answers": ["x"], "split": "dev"}', "'split'"),
])
def test_qa_loader_rejects_malformed_lines(tmp_path, line, message):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "ok?", "golden_answers": ["x"]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_qa(path)
    assert f"{path}, line 2" in str(err.value)


def test_loader_file_level_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no passages"):
        load_corpus(empty)
    with pytest.raises(ValueError, match="no questions"):
        load_qa(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1, "title": "a", "text": "b"}\n\xff\xfe\n')
    with pytest.raises(ValueError, match=r"line 2: not UTF-8"):
        load_corpus(bad)
    corpus, qa = write_user_files(tmp_path)
    with pytest.raises(ValueError, match="needs qa_path"):
        SearchQAEnv(corpus_path=str(corpus))
    with pytest.raises(FileNotFoundError):
        SearchQAEnv(corpus_path=str(tmp_path / "missing.jsonl"), qa_path=str(qa))
