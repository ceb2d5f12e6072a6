"""bench/ror.py: the judge against hand cases, the pairs file's validity, and a smoke run on a tiny model."""

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / "data" / "ror_pairs.jsonl"
CATEGORIES = {"arithmetic", "probability", "geometry", "optimisation", "deduction", "commonsense", "game_theory"}

spec = importlib.util.spec_from_file_location("ror", REPO / "bench" / "ror.py")
ror = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ror)


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("Answer: 1/2", "0.5"),
        ("Answer: 0.5", "1/2"),
        ("Answer: 50%", "1/2"),
        ("Answer: 66.7%", "2/3"),
        ("Answer: 0.667", "2/3"),
        ("Answer: $\\frac{2}{3}$", "2/3"),
        ("Answer: \\boxed{17/18}", "17/18"),
        ("Answer: 1 in 3", "1/3"),
        ("Answer: The ball costs $0.05.", "0.05"),
        ("Answer: 0.1 dollars", "0.10"),
        ("Answer: about 121 m", "121.5"),
        ("Answer: 1/(2π) m", "0.159"),
        ("Answer: 0.159 metres", "1/(2π)"),
        ("Answer: 25π square centimetres", "78.54"),
        ("Answer: 25*pi", "25π"),
        ("Answer: 256\\pi/3", "256π/3"),
        ("Answer: sqrt(5)", "√5"),
        ("Answer: 2.236", "√5"),
        ("Answer: 3^3 - 1 = 26", "26"),
        ("Answer: day 8", "8"),
        ("Answer: 1,000", "1000"),
        ("Answer: two", "2"),
        ("Answer: -65", "-65"),
        ("**Answer:** 12", "12"),
        ("Thinking...\nAnswer: 5\nWait, no.\nAnswer: 7", "7"),
        ("Answer:\n\n42", "42"),
        ("So the final answer is 14.", "14"),
    ],
)
def test_judge_numbers_match(reply, gold):
    assert ror.judge(reply, gold, "number") == 1


@pytest.mark.parametrize(
    "reply, gold",
    [
        ("Answer: 0.6", "2/3"),  # 10% off
        ("Answer: 1/3", "1/2"),
        ("Answer: 98", "97"),  # whole-number golds are exact, not 1%
        ("Answer: 252", "253"),
        ("Answer: 0.1", "0"),
        ("Answer: 5\nAnswer: 7", "5"),  # the last Answer line counts
        ("The ball costs 0.05", "0.05"),  # no final answer stated
        ("Answer: no solution", "5"),
        ("Answer: ", "5"),
        ("Answer: 1/0", "5"),
    ],
)
def test_judge_numbers_reject(reply, gold):
    assert ror.judge(reply, gold, "number") == 0


@pytest.mark.parametrize(
    "answer",
    ["no solution", "No solution.", "It is impossible", "This cannot be done", "It can't be done", "not possible",
     "There is no such triangle", "never", "Such an age does not exist", "None", "The problem has no solutions",
     "There is no winning move", "The trains never meet, so the distance is infinite"],
)
def test_judge_no_solution_phrasings(answer):
    assert ror.judge(f"Answer: {answer}", "no solution", "no_solution") == 1


@pytest.mark.parametrize("answer", ["30", "day 8", "knight", "It is possible: 75 km", ""])
def test_judge_no_solution_rejects_answers(answer):
    assert ror.judge(f"Answer: {answer}", "no solution", "no_solution") == 0


@pytest.mark.parametrize(
    "answer, gold, expected",
    [
        ("The North Pole.", "north", 1),
        ("south", "north", 0),
        ("The surgeon is his mother", "mother", 1),
        ("his father", "mother", 0),
        ("Yes!", "yes", 1),
        ("No, you can't.", "no", 1),
        ("Yes", "no", 0),
        ("B is a knight", "knight", 1),
        ("knave", "knight", 0),
    ],
)
def test_judge_strings(answer, gold, expected):
    assert ror.judge(f"Answer: {answer}", gold, "string") == expected


@pytest.mark.parametrize(
    "answer, gold, expected",
    [
        ("B", "B", 1), ("(B) the steel", "B", 1), ("B. the steel", "B", 1), ("b", "B", 1), ("Option C", "C", 1),
        ("The correct choice is (C)", "C", 1), ("A", "B", 0), ("A draw", "C", 0), ("A draw", "A", 0),
        ("the steel", "B", 0),
    ],
)
def test_judge_choices(answer, gold, expected):
    assert ror.judge(f"Answer: {answer}", gold, "choice") == expected


def test_extract_answer():
    assert ror.extract_answer("no final line") is None
    assert ror.extract_answer("Answer: 3\nmore text\nANSWER: 4 cats") == "4 cats"
    assert ror.extract_answer("so the answer is 2/3.") == "2/3."


@pytest.fixture(scope="module")
def pairs():
    return ror.load_pairs(DATA)


def test_pairs_file_is_valid(pairs):
    assert len(pairs) >= 64
    ids = [p["id"] for p in pairs]
    assert len(ids) == len(set(ids))
    counts = Counter(p["category"] for p in pairs)
    assert set(counts) == CATEGORIES and min(counts.values()) >= 8, counts
    assert sum(p["modified"]["answer_type"] == "no_solution" for p in pairs) >= 8
    for p in pairs:
        assert p["change"].strip() and p["original"]["question"] != p["modified"]["question"], p["id"]
        for variant in ("original", "modified"):
            problem = p[variant]
            if problem["answer_type"] == "no_solution":
                assert problem["answer"] == "no solution", p["id"]
            if problem["answer_type"] == "choice":
                assert problem["answer"] in "ABCDE" and f"({problem['answer']})" in problem["question"], p["id"]


def test_every_gold_answer_judges_correct_and_the_pair_answers_differ(pairs):
    for p in pairs:
        o, m = p["original"], p["modified"]
        for problem in (o, m):
            assert ror.judge(f"Answer: {problem['answer']}", problem["answer"], problem["answer_type"]) == 1, p["id"]
        # the recited (original) answer must fail on the modified problem, and vice versa
        assert ror.judge(f"Answer: {o['answer']}", m["answer"], m["answer_type"]) == 0, p["id"]
        assert ror.judge(f"Answer: {m['answer']}", o["answer"], o["answer_type"]) == 0, p["id"]


def test_smoke_tiny_model(tiny_model_dir, tmp_path):
    out = tmp_path / "ror.json"
    result = ror.main(["--model", str(tiny_model_dir), "--limit", "2", "--k", "2", "--max-new-tokens",
                       "8", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert set(result["overall"]) == {"pairs", "original", "modified", "loss"} and result["overall"]["pairs"] == 2
    for s in [result["overall"], *result["categories"].values()]:
        assert 0 <= s["original"] <= 100 and 0 <= s["modified"] <= 100
        assert s["loss"] == pytest.approx(s["original"] - s["modified"])
    assert len(result["results"]) == 2
    for r in result["results"]:
        for variant in ("original", "modified"):
            assert len(r[variant]["responses"]) == len(r[variant]["correct"]) == 2
            assert set(r[variant]["correct"]) <= {0, 1}
            assert r[variant]["score"] == pytest.approx(50.0 * sum(r[variant]["correct"]))


def test_run_folder_is_accepted(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model").symlink_to(tiny_model_dir)
    result = ror.main(["--model", str(run_dir), "--limit", "1", "--k", "1", "--max-new-tokens",
                       "2", "--forced-correct"])
    assert result["model_path"] == str(run_dir / "model") and result["args"]["forced_correct"]
