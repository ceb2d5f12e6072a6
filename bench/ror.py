"""Recitation probes in the spirit of RoR-Bench (text part): does the model solve the problem it is
given, or recite the answer of the famous problem it resembles?

Each line of the data file is a pair: a well-known problem (Monty Hall, bat and ball, river
crossing, ...) and a version with one condition changed so that the memorised method or answer
fails; some changed versions have no solution. Every problem is asked `k` times at temperature
0.7 and each reply is judged 0/1 on its last "Answer: ..." line. Score = mean x 100; performance
loss = original score - modified score, per category and overall (RoR-Bench reports ~52 points of
loss on average over frontier models).

    python bench/ror.py --limit 4 --k 1
    python bench/ror.py --model runs/webshop__grpo_agent__1__1700000000 --out bench/results/ror.json
    python bench/ror.py --forced-correct --data my_pairs.jsonl
    python bench/ror.py --agent-envs textcraft webshop --model runs/<run folder> --limit 20 --k 2

Agent probes (`--agent-envs`): the same question for an agent in an environment. Each env listed
plays its first `--limit` test tasks (default 20) twice, `k` samples each: as published and as a
perturbed variant whose one changed condition contradicts what a model may have memorised -
TextCraft with recipes that are not Minecraft's (other counts, swapped ingredients;
`envs.textcraft.perturb.perturbed_book`), WebShop with one goal constraint inverted ("price higher than"
instead of "lower than", or "a color other than red"; `envs.webshop.perturb.invert_goal`). The
perturbed variants are as solvable as the originals (their scripted experts solve every test task);
what the agent needs to know is in its observations either way. Episodes are played by bench/eval.py
(grpo_agent.py's own rollout, lenient action format and one-shot demonstration by default); success
= the env's `success`, score = its own final score, loss = original - perturbed, per env.

Simplifications, so the file stays readable:
- the judge is a rule-based parser, not an LLM grader: numbers are compared after parsing
  (fractions, decimals, percentages, π and √ expressions; 1e-2 relative tolerance, exact for
  whole-number golds such as counts), strings after normalisation, "no solution" by a list of
  phrasings, choices by their letter;
- a reply with no "Answer:" (or "the answer is") scores 0; the share of replies that had one is
  reported as `answered`;
- every prompt says "if it has no solution, say so", for original and modified problems alike, so
  the judge has a phrase to look for; `--forced-correct` adds RoR-Bench's kind of hint that the
  problem may differ from the one it looks like.
"""

import argparse
import json
import math
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import tyro
from transformers import GenerationConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import envs  # noqa: E402
import grpo_agent  # noqa: E402
from bench import eval as bench_eval  # noqa: E402
from bench.common import load_policy, make_sampler, resolve_model  # noqa: E402
from cleanagent_utils.chat import chat_ids  # noqa: E402
from cleanagent_utils.models import EMBEDDED_MODEL, load_model  # noqa: E402

ANSWER_TYPES = ("number", "string", "choice", "no_solution")
PERTURBATIONS = {"textcraft": "recipes", "webshop": "invert"}
"""The perturbed variant each agent probe plays: the env's `perturb` option."""
AGENT_LIMIT = 20
"""Test tasks per env in the agent probes when --limit is not given."""


@dataclass
class Args:
    model: str = EMBEDDED_MODEL
    """HF model id, local path, or a run folder of this project (its `model/` is loaded)"""
    data: str = "bench/data/ror_pairs.jsonl"
    """JSONL of problem pairs (id, category, original, modified, change); relative paths also resolve from the repo
    root"""
    k: int = 5
    """samples per problem (RoR-Bench: 5)"""
    temperature: float = 0.7
    """sampling temperature (RoR-Bench: 0.7); 0 = greedy"""
    limit: int | None = None
    """only the first N pairs of the file; with --agent-envs, the first N test tasks of each env (default 20)"""
    forced_correct: bool = False
    """add the hint that the problem may differ from the well-known one it resembles"""
    max_new_tokens: int = 256
    """token cap of one reply"""
    batch_size: int = 32
    """prompts per `generate` call (agent probes: episodes played at once)"""
    seed: int = 1
    """seed of the sampling"""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """weights and compute dtype"""
    out: str | None = None
    """write the full result (scores, extracted answers, replies) to this JSON file"""

    # agent probes
    agent_envs: tuple[Literal["textcraft", "webshop"], ...] = ()
    """play these envs' test tasks, original and perturbed, instead of the text problems"""
    max_turns: int | None = None
    """agent probes: horizon; default the env's published one (bench/eval.py), else 10"""
    max_episode_tokens: int = 4096
    """agent probes: token cap of one episode"""
    action_format: Literal["strict", "lenient"] = "lenient"
    """agent probes: the envs' action parser"""
    demonstration: bool = True
    """agent probes: show the env's one-shot example turns (as training does by default)"""


PROMPT = (
    "{question}\n\n{hint}Solve the problem step by step. If it has no solution, say so. "
    'Finish with a last line of the form "Answer: <your final answer>".'
)
FORCED_CORRECT_HINT = (
    "Note: this problem may look like a well-known one, but it may differ from it in an important detail. "
    "Read it carefully and solve it exactly as stated, not as you remember it.\n\n"
)
# phrasings that count as "no solution", matched as whole words in the normalised answer
NO_SOLUTION_PHRASES = (
    "no solution", "no solutions", "impossible", "cannot be done", "can not be done", "cant be done",
    "not possible", "no such", "never", "does not exist", "doesnt exist", "do not exist", "dont exist",
    "no answer", "none", "unsolvable", "not solvable", "no valid", "cannot happen", "cant happen",
    "contradiction", "inconsistent", "no winning", "no way", "no move", "cannot guarantee", "can not guarantee",
    "cant guarantee", "infinite", "infinitely", "infinity",
)
ARTICLES = {"a", "an", "the"}
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}


def extract_answer(response: str) -> str | None:
    """The rest of the line after the reply's last "Answer:" (or "the answer is", which small
    models write instead), or the next non-empty line when that is empty; markdown bold dropped.
    None when the reply states no final answer."""
    text = response.replace("**", "").replace("__", "")
    matches = list(re.finditer(r"\banswer\s*(?:is\s*)?[:：]|\banswer\s+is\b", text, flags=re.IGNORECASE))
    if not matches:
        return None
    rest = text[matches[-1].end():].strip()
    return rest.splitlines()[0].strip() if rest else ""


def normalise(text: str) -> str:
    """Lowercase, apostrophes dropped, other punctuation to spaces, articles removed."""
    text = text.lower().replace("’", "'").replace("'", "")
    return " ".join(w for w in re.sub(r"[^a-z0-9]+", " ", text).split() if w not in ARTICLES)


def _contains_phrase(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def _prepare_math(text: str) -> str:
    """LaTeX and words to the symbols `_read_expression` reads: \\frac{a}{b} -> (a)/(b), sqrt -> √,
    pi -> π, 1,000 -> 1000, '1 in 3' -> 1/3, 'two' -> 2."""
    text = text.replace("$", "").replace("−", "-").replace("\\left", "").replace("\\right", "")
    for _ in range(3):  # nested fractions, innermost first
        text = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√(\1)", text)
    text = re.sub(r"\\boxed|\\text|\\mathrm", "", text)
    text = text.replace("\\pi", "π").replace("\\%", "%").replace("\\cdot", "*").replace("\\times", "*")
    text = text.replace("×", "*").replace("÷", "/").replace("**", "^").replace("{", "(").replace("}", ")")
    text = re.sub(r"(?<![a-z])sqrt\s*", "√", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<![a-z])pi(?![a-z])", "π", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(\d+)\s+(?:in|out of)\s+(\d+)", r"\1/\2", text)
    return re.sub(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", lambda m: NUMBER_WORDS[m.group(1).lower()],
                  text, flags=re.IGNORECASE)


def _read_expression(s: str, i: int) -> tuple[float, int] | None:
    """Read the longest arithmetic expression starting at s[i]; returns (value, end) or None.

    Grammar: expr = term (+|- term)*; term = power ((*|/) power | power right after it)*, the
    implicit product only without a space ("2π", "3√2"); power = unary (^ unary)?;
    unary = -unary | atom; atom = number [%] | π | √atom | (expr).
    """
    def skip(j):
        while j < len(s) and s[j] == " ":
            j += 1
        return j

    def atom(j):
        if j >= len(s):
            return None
        m = re.match(r"\d+(?:\.\d+)?|\.\d+", s[j:])
        if m:
            value, j = float(m.group()), j + m.end()
            if j < len(s) and s[j] == "%":
                value, j = value / 100, j + 1
            return value, j
        if s[j] == "π":
            return math.pi, j + 1
        if s[j] == "√":
            r = atom(skip(j + 1))
            return (math.sqrt(r[0]), r[1]) if r and r[0] >= 0 else None
        if s[j] == "(":
            r = expr(skip(j + 1))
            if r and skip(r[1]) < len(s) and s[skip(r[1])] == ")":
                return r[0], skip(r[1]) + 1
        return None

    def unary(j):
        if j < len(s) and s[j] == "-":
            r = unary(skip(j + 1))
            return (-r[0], r[1]) if r else None
        return atom(j)

    def power(j):
        r = unary(j)
        if r and skip(r[1]) < len(s) and s[skip(r[1])] == "^":
            e = unary(skip(skip(r[1]) + 1))
            if e:
                try:
                    value = r[0] ** e[0]
                except (OverflowError, ZeroDivisionError):
                    return None
                return (value, e[1]) if isinstance(value, float) else None
        return r

    def term(j):
        r = power(j)
        while r:
            value, j = r
            k = skip(j)
            if k < len(s) and s[k] in "*/":
                nxt = power(skip(k + 1))
                if nxt is None:
                    break
                if s[k] == "/" and nxt[0] == 0:
                    return None
                r = (value * nxt[0] if s[k] == "*" else value / nxt[0], nxt[1])
            elif j < len(s) and s[j] in "π√(" or (j < len(s) and s[j].isdigit() and s[j - 1] in "π)"):
                nxt = power(j)
                if nxt is None:
                    break
                r = (value * nxt[0], nxt[1])
            else:
                break
        return r

    def expr(j):
        r = term(j)
        while r:
            value, j = r
            k = skip(j)
            if k < len(s) and s[k] in "+-":
                nxt = term(skip(k + 1))
                if nxt is None:
                    break
                r = (value + nxt[0] if s[k] == "+" else value - nxt[0], nxt[1])
            else:
                break
        return r

    try:
        return expr(i)
    except RecursionError:
        return None


def parse_number(text: str) -> float | None:
    """The value of the first number or arithmetic expression in `text` ("2/3", "50%", "0.5",
    "1/(2π)", "\\frac{1}{2}", "√5", "25π cm²", "about 121 m"); None when there is none."""
    s = _prepare_math(text)
    for i, ch in enumerate(s):
        starts = ch.isdigit() or ch in ".π√(" or (ch == "-" and (i == 0 or not s[i - 1].isalnum()))
        if starts and not (i > 0 and (s[i - 1].isdigit() or s[i - 1] == ".") and ch.isdigit()):
            r = _read_expression(s, i)
            if r is not None and math.isfinite(r[0]):
                return r[0]
    return None


def _choice_letter(answer: str) -> str | None:
    a = answer.strip().strip("*").strip()
    for pattern, flags in (
        (r"^\(([A-Ea-e])\)", 0),  # "(B) the steel"
        (r"^([A-E])(?:[.:,)]|\s+[-–—]|\s*$)", 0),  # "B", "B.", "B) ...", "B - ..." but not "A draw"
        (r"^([a-e])\s*$", 0),  # "b"
        (r"\(([A-Ea-e])\)", 0),  # "... is (B)"
        (r"\b(?:option|choice)\s+\(?([A-Ea-e])\b", re.IGNORECASE),  # "option B"
    ):
        m = re.search(pattern, a, flags)
        if m:
            return m.group(1).upper()
    return None


def says_no_solution(answer: str) -> bool:
    text = normalise(answer)
    return any(_contains_phrase(text, p) for p in NO_SOLUTION_PHRASES)


def judge(response: str, gold: str, answer_type: str) -> int:
    """1 if the reply's final "Answer:" matches the gold answer, else 0.

    number: the answer's first number or expression is within 1e-2 relative tolerance of the
    gold's value ("1/2" = "0.5" = "50%"), or equal to it when the gold is a whole number (a count);
    string: the normalised gold is the answer or a whole-word phrase of it; choice: the option
    letter; no_solution: the answer uses a phrasing of "no solution" (NO_SOLUTION_PHRASES).
    """
    answer = extract_answer(response)
    if answer is None:
        return 0
    if answer_type == "no_solution":
        return int(says_no_solution(answer))
    if answer_type == "number":
        value, target = parse_number(answer), parse_number(gold)
        if target is None:
            raise ValueError(f"gold answer {gold!r} is not a number")
        if re.fullmatch(r"-?\d+", gold.strip()):  # counts are exact: 1% would accept 252 people for 253
            return int(value is not None and abs(value - target) < 1e-6)
        return int(value is not None and math.isclose(value, target, rel_tol=1e-2, abs_tol=1e-9))
    if answer_type == "choice":
        return int(_choice_letter(answer) == gold.strip().upper())
    if answer_type == "string":
        return int(bool(normalise(gold)) and _contains_phrase(normalise(answer), normalise(gold)))
    raise ValueError(f"unknown answer_type {answer_type!r}")


def load_pairs(path: Path) -> list[dict]:
    """Read and check a pairs file: every line has id, category, change, and original/modified
    problems with a question, an answer and an answer_type in ANSWER_TYPES."""
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        pair = json.loads(line)
        for key in ("id", "category", "original", "modified", "change"):
            if key not in pair:
                raise SystemExit(f"error: {path}:{n} lacks {key!r}")
        for variant in ("original", "modified"):
            problem = pair[variant]
            if (not {"question", "answer", "answer_type"} <= problem.keys()
                or problem["answer_type"] not in ANSWER_TYPES):
                raise SystemExit(f"error: {path}:{n} {variant} needs question, answer and answer_type "
                                 f"in {ANSWER_TYPES}")
        pairs.append(pair)
    return pairs


def build_prompt(tokenizer, question: str, forced_correct: bool) -> list[int]:
    content = PROMPT.format(question=question, hint=FORCED_CORRECT_HINT if forced_correct else "")
    return chat_ids(tokenizer, [{"role": "user", "content": content}], add_generation_prompt=True)


@torch.no_grad()
def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int,
             temperature: float, batch_size: int) -> list[str]:
    """Sample one reply per prompt, `batch_size` prompts per call, left padded; plain sampling from
    softmax(logits / T) (no top-k/top-p), greedy when T = 0; replies stop at eos or the token cap."""
    pad = tokenizer.pad_token_id
    sampling = (dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0
                else dict(do_sample=False))
    config = GenerationConfig(**sampling, max_new_tokens=max_new_tokens,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=pad)
    replies = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch], device=model.device)
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=model.device)
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
        replies += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return replies


def summarise(results: list[dict]) -> dict:
    """Per-category and overall original/modified scores (mean x 100 over pairs) and their loss."""
    groups = defaultdict(list)
    for r in results:
        groups[r["category"]].append(r)
    groups["overall"] = results

    def row(rs):
        original = float(np.mean([r["original"]["score"] for r in rs]))
        modified = float(np.mean([r["modified"]["score"] for r in rs]))
        return {"pairs": len(rs), "original": original, "modified": modified, "loss": original - modified}

    return {name: row(rs) for name, rs in groups.items()}


def markdown_table(summary: dict) -> str:
    lines = ["| category | pairs | original | modified | loss |", "|---|---|---|---|---|"]
    for name, s in summary.items():
        name = f"**{name}**" if name == "overall" else name
        lines.append(f"| {name} | {s['pairs']} | {s['original']:.1f} | {s['modified']:.1f} | {s['loss']:+.1f} |")
    return "\n".join(lines)


def agent_probes(args: Args) -> dict:
    """Every env of --agent-envs: its first test tasks played k times as published and perturbed
    (bench/eval.py's `evaluate_env`, same sampling seed for both); success, score and their loss."""
    if (args.limit is not None and args.limit < 1) or (args.max_turns is not None and args.max_turns < 1) \
            or args.max_episode_tokens <= args.max_new_tokens or args.temperature < 0:
        raise SystemExit("error: need --limit >= 1, --max-turns >= 1, --max-episode-tokens > --max-new-tokens, "
                         "--temperature >= 0")
    names = list(dict.fromkeys(args.agent_envs))
    task_ids = {}
    for name in names:  # an env without the option fails here, before the model loads
        grpo_agent.validate_args(grpo_agent.Args(env=name, env_options=f"perturb={PERTURBATIONS[name]}"))
        task_ids[name] = envs.tasks(name, "test")[: args.limit or AGENT_LIMIT]

    t0 = time.time()
    model, tokenizer, chat = load_policy(args.model, args.dtype)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    sample = make_sampler(model, tokenizer, chat, args.temperature, args.batch_size)
    result = {"args": asdict(args), "model_path": resolve_model(args.model), "device": str(device), "envs": {}}
    for name in names:
        runs = {}
        for variant, options in (("original", ""), ("perturbed", f"perturb={PERTURBATIONS[name]}")):
            settings = argparse.Namespace(
                seed=args.seed, max_turns=args.max_turns, action_format=args.action_format, env_options=options,
                max_new_tokens=args.max_new_tokens, max_episode_tokens=args.max_episode_tokens,
                demonstration=args.demonstration, k=args.k, batch_size=args.batch_size, split="test",
                dtype=args.dtype, stop_at_action=True)  # as the scripts play: a turn ends at its action
            runs[variant] = bench_eval.evaluate_env(name, task_ids[name], sample, chat, settings)
        original, perturbed = runs["original"], runs["perturbed"]
        result["envs"][name] = {
            "perturbation": PERTURBATIONS[name], "n_tasks": len(task_ids[name]), "k": args.k,
            "max_turns": original["max_turns"],
            "original": original["avg_at_k"], "perturbed": perturbed["avg_at_k"],
            "loss": original["avg_at_k"] - perturbed["avg_at_k"],
            "original_score": original["score"], "perturbed_score": perturbed["score"],
            "score_loss": original["score"] - perturbed["score"],
            "replaced_goals": replaced_goals(name, task_ids[name]),
            "runs": runs,
        }
    result["seconds"] = time.time() - t0
    return result


def replaced_goals(name: str, task_ids: list[int]) -> list[dict]:
    """Perturbed WebShop tasks whose goal could not be inverted and was replaced by the next one
    that could ({"task_id", "goal_id"} each); [] for the other envs."""
    if name != "webshop":
        return []
    env = envs.make(name, perturb=PERTURBATIONS[name])
    goals = {t: env.reset(t)[1]["perturbed"]["goal_id"] for t in task_ids}
    return [{"task_id": t, "goal_id": g} for t, g in goals.items() if g != t]


def agent_markdown_table(result: dict) -> str:
    lines = ["| env | perturbation | tasks | k | original | perturbed | loss | original score | perturbed score |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["envs"].items():
        lines.append(f"| {name} | {r['perturbation']} | {r['n_tasks']} | {r['k']} | {r['original']:.1f} | "
                     f"{r['perturbed']:.1f} "
                     f"| {r['loss']:+.1f} | {r['original_score']:.1f} | {r['perturbed_score']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, args=argv)
    if args.k < 1 or args.max_new_tokens < 1 or args.batch_size < 1:
        raise SystemExit("error: --k, --max-new-tokens and --batch-size must be >= 1")
    if args.agent_envs:
        result = agent_probes(args)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False))
        print(f"model: {result['model_path']} | agent probes, first {args.limit or AGENT_LIMIT} test "
              f"tasks | k: {args.k} "
              f"| temperature: {args.temperature}; success and score in %, loss = original - perturbed")
        print(agent_markdown_table(result))
        return result
    data = Path(args.data)
    if not data.exists() and (REPO / data).exists():
        data = REPO / data
    pairs = load_pairs(data)[: args.limit]
    model_path = str(Path(args.model) / "model") if (Path(args.model) / "model").is_dir() else args.model

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.time()
    model, tokenizer = load_model(model_path, args.dtype)
    model.to(device).eval()

    # every (pair, variant) asked k times; one flat list so generation batches across problems
    problems = [(i, variant) for i in range(len(pairs)) for variant in ("original", "modified")]
    prompts = [build_prompt(tokenizer, pairs[i][v]["question"], args.forced_correct) for i, v in problems
               for _ in range(args.k)]
    replies = generate(model, tokenizer, prompts, args.max_new_tokens, args.temperature, args.batch_size)

    results = [{"id": p["id"], "category": p["category"]} for p in pairs]
    for n, (i, variant) in enumerate(problems):
        gold = pairs[i][variant]
        samples = replies[n * args.k : (n + 1) * args.k]
        correct = [judge(r, gold["answer"], gold["answer_type"]) for r in samples]
        results[i][variant] = {
            "score": 100.0 * float(np.mean(correct)), "correct": correct, "gold": gold["answer"],
            "answers": [extract_answer(r) for r in samples], "responses": samples,
        }
    summary = summarise(results)
    answered = float(np.mean([a is not None for r in results for v in ("original", "modified")
                              for a in r[v]["answers"]]))
    result = {
        "args": asdict(args), "model_path": model_path, "data": str(data), "device": str(device),
        "seconds": time.time() - t0, "answered": answered,
        "categories": {name: s for name, s in summary.items() if name != "overall"}, "overall": summary["overall"],
        "results": results,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"model: {model_path} | pairs: {len(pairs)} | k: {args.k} | forced correct: {args.forced_correct} | "
          f"replies with a final answer: {100 * answered:.0f}%")
    print(markdown_table(summary))
    return result


if __name__ == "__main__":
    main()
