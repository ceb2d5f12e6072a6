"""Tests of the FTRL environment builder (generators/tooluse_build.py): determinism (in-process and across
fresh processes with different hash seeds), the four scenarios, the record format of the real FTRL
data, an independent replay of every gold chain in the sandbox, schema validity, explanatory
errors for invalid calls, merged / scaled / distractor tools, the CLI with its stage files, and
the LLM path run mechanically with a tiny random model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from envs.tooluse.sandbox import Sandbox
from fresh_process import run_json
from generators.tooluse_build import PREAMBLE, SCENARIOS, STAGE_FILES, build, build_with_stats

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("FTRL_DATA", "ftrl_test.jsonl"))  # FTRL's records, where a user has them (docs/tooluse.md)
FTRL_KEYS = ["messages", "tools", "codes", "unsolved_set", "solve_rate", "data_source", "split", "answer"]
ISO = "%Y-%m-%d"


@pytest.fixture(scope="module")
def records():
    return build(40, 11)


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox(timeout=10.0, memory_mb=1024)
    yield sb
    sb.close()


def dumps(recs) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)


def question(rec) -> str:
    return rec["messages"][0]["content"].split("Question: ", 1)[1]


def schemas(rec) -> dict[str, dict]:
    return {t["function"]["name"]: t["function"] for t in json.loads(rec["tools"])}


def gold_names(rec) -> set[str]:
    return {c["name"] for turn in rec["gold_calls"] for c in turn}


# ------------------------------------------------------------------------------ determinism


def test_same_seed_is_byte_identical_and_other_seeds_differ():
    a, b = build(24, 5), build(24, 5)
    assert dumps(a) == dumps(b)
    assert dumps(build(12, 5)) == dumps(a[:12])  # each environment has its own seeded generator
    other = build(24, 6)
    assert dumps(other) != dumps(a)
    assert {question(r) for r in other}.isdisjoint({question(r) for r in a})


def test_identical_across_processes_and_hash_seeds():
    code = ("import hashlib, json; from generators.tooluse_build import build; "
            "print(json.dumps(hashlib.sha256(''.join(json.dumps(r) for r in build(16, 3)).encode()).hexdigest()))")
    assert run_json(code, "1") == run_json(code, "2") == run_json(code, "random")


# ------------------------------------------------------------------------------ format


def test_all_four_scenarios_and_the_real_record_format(records):
    assert len(records) == 40
    counts = Counter(r["data_source"] for r in records)
    assert counts == {f"gen/{s}": 10 for s in SCENARIOS}
    if REAL.is_file():
        real = json.loads(REAL.read_text().splitlines()[0])
        assert list(real) == FTRL_KEYS
        assert real["messages"][0]["content"].startswith(PREAMBLE)
    ids = set()
    for r in records:
        assert list(r)[: len(FTRL_KEYS)] == FTRL_KEYS
        assert set(r) - set(FTRL_KEYS) == {"id", "gold_calls", "combine"}
        assert r["messages"][0]["role"] == "user" and r["messages"][0]["content"].startswith(PREAMBLE)
        assert len(r["messages"]) == 1 and question(r).strip()
        for key in ("tools", "codes", "unsolved_set"):
            assert isinstance(r[key], str) and isinstance(json.loads(r[key]), (list, dict))
        assert r["split"] == "train" and r["solve_rate"] == 0.0 and isinstance(r["answer"], str) and r["answer"]
        assert r["id"].startswith("gen-11-") and r["id"] not in ids
        ids.add(r["id"])
        unsolved = json.loads(r["unsolved_set"])
        assert all(isinstance(v, str) for vs in unsolved.values() for v in vs)
        assert sum(len(v) for v in unsolved.values()) == sum(len(t) for t in r["gold_calls"])


def test_scenario_shapes(records):
    for r in records:
        scenario = r["data_source"].split("/")[1]
        turns = r["gold_calls"]
        if scenario == "single_hop":
            assert len(turns) == 1 and len(turns[0]) == 1 and r["combine"] is None
        elif scenario == "multi_hop":
            assert len(turns) >= 2 and all(len(t) == 1 for t in turns) and r["combine"] is None
        elif scenario == "parallel_single_hop":
            assert len(turns) == 1 and 2 <= len(turns[0]) <= 3 and r["combine"] is not None
        else:
            assert 2 <= len(turns[0]) <= 3 and len(turns) >= 2
            if r["combine"] is None:  # combined by a final calculator / date call
                assert len(turns[-1]) == 1


def test_a_large_build_keeps_everything_and_is_fast():
    recs, stats = build_with_stats(200, 2)
    assert stats["kept"] == 200 and stats["discarded"] == 0 and stats["built"] == 200
    assert sum(stats["scenarios_kept"].values()) == 200
    assert stats["seconds"] < 20


# ------------------------------------------------------------------------------ replay


def apply(op: str, values: list[str], labels):
    """The combination, written independently of the builder."""
    keys = [v if len(v) == 10 and v[4] == "-" else int(v) for v in values]
    if op == "sum":
        return str(sum(keys))
    if op == "difference":
        return str(abs(keys[0] - keys[1]))
    ranked = [labels[i] for i in sorted(range(len(keys)), key=keys.__getitem__)]
    return {"max": ranked[-1], "min": ranked[0], "order_asc": ", ".join(ranked),
            "order_desc": ", ".join(reversed(ranked))}[op]


def test_every_gold_chain_replays_in_the_sandbox(records, sandbox):
    for r in records:
        codes = json.loads(r["codes"])
        assert sandbox.load(codes) == {}
        left = {name: list(v) for name, v in json.loads(r["unsolved_set"]).items()}
        enums = {name: {v for p in f["parameters"]["properties"].values() for v in p.get("enum", [])}
                 for name, f in schemas(r).items()}
        seen = question(r)
        found, last = [], None
        for turn in r["gold_calls"]:
            outputs = []
            for call in turn:
                for value in call["arguments"].values():  # every argument comes from the question or a result
                    for v in value if isinstance(value, list) else [value]:
                        if not (isinstance(v, str) and v in enums[call["name"]]):
                            assert (v if isinstance(v, str) else json.dumps(v)) in seen, (r["id"], call, v)
                ok, text = sandbox.call(call["name"], call["arguments"])
                assert ok, (r["id"], call, text)
                assert not isinstance(json.loads(text), str), (r["id"], call, text)  # a record, not an error
                hit = next((g for g in left[call["name"]] if g in text), None)
                assert hit is not None, (r["id"], call, text, left)
                left[call["name"]].remove(hit)
                found.append(hit)
                outputs.append(text)
                last = (hit, text)
            seen += "\n".join(outputs)  # parallel calls cannot use each other's results
        assert not any(left.values()), (r["id"], left)
        if r["combine"] is None:
            assert r["answer"] == last[0] and r["answer"] in last[1]
        else:
            values = r["combine"]["values"]
            assert Counter(values) <= Counter(found)
            assert apply(r["combine"]["op"], values, r["combine"]["labels"]) == r["answer"]
            for label in r["combine"]["labels"] or []:
                assert label in question(r) or any(label in json.dumps(x) for x in found)


# ------------------------------------------------------------------------------ schemas


def test_schemas_are_valid_and_match_the_code(records):
    kinds = Counter()
    for r in records:
        tools = json.loads(r["tools"])
        codes = json.loads(r["codes"])
        names = [t["function"]["name"] for t in tools]
        assert len(names) == len(set(names)) and set(names) == set(codes)
        for t in tools:
            assert t["type"] == "function"
            f = t["function"]
            assert f["name"].isidentifier() and f["description"].strip()
            assert codes[f["name"]].startswith(f"def {f['name']}(")
            p = f["parameters"]
            assert p["type"] == "object" and isinstance(p["required"], list)
            assert set(p["required"]) <= set(p["properties"])
            for pname, prop in p["properties"].items():
                assert prop["type"] in {"string", "integer", "number", "boolean", "array"} and prop["description"]
                if "enum" in prop:
                    assert prop["enum"] and len(set(prop["enum"])) == len(prop["enum"])
                    kinds["enum"] += 1
                if "default" in prop:
                    assert pname not in p["required"]
                    kinds["default"] += 1
                if prop["type"] == "array":
                    assert prop["items"] == {"type": "number"}
                    kinds["array"] += 1
        by_name = {t["function"]["name"]: t["function"] for t in tools}
        for turn in r["gold_calls"]:
            for call in turn:
                props = by_name[call["name"]]["parameters"]
                assert set(props["required"]) <= set(call["arguments"]) <= set(props["properties"])
    # integration and scaling happened somewhere: enum fields/operations, defaults, array operands
    assert kinds["enum"] >= 10 and kinds["default"] >= 10


def test_integration_merges_overlapping_tools():
    recs = build(80, 4)
    merged = [f for r in recs for f in schemas(r).values() if "field" in f["parameters"]["properties"]]
    assert merged, "no merged entity lookup"
    for f in merged:
        enum = f["parameters"]["properties"]["field"]["enum"]
        assert len(enum) >= 2 and "field" in f["parameters"]["required"]
    ops = [f for r in recs for f in schemas(r).values() if "operation" in f["parameters"]["properties"]]
    assert any(len(f["parameters"]["properties"]["operation"]["enum"]) >= 2 for f in ops)
    assert any("operands" in f["parameters"]["properties"] for f in ops)


def test_distractor_tools_are_present_and_work(records, sandbox):
    for r in records:
        extra = set(schemas(r)) - gold_names(r)
        assert len(extra) >= 2, r["id"]
    # a distractor lookup answers valid calls with real records of the same world
    r = next(r for r in records if any(n.startswith(("get_", "find_")) and n not in gold_names(r)
                                       for n in schemas(r)))
    name = next(n for n in schemas(r) if n.startswith(("get_", "find_")) and n not in gold_names(r))
    codes = json.loads(r["codes"])
    sandbox.load(codes)
    param = schemas(r)[name]["parameters"]["required"][0]
    ok, text = sandbox.call(name, {param: "Nobody"})
    assert ok and "No record for 'Nobody'" in text


# ------------------------------------------------------------------------------ invalid calls


def test_invalid_calls_return_explanatory_errors(records, sandbox):
    checked = 0
    for r in records:
        call = r["gold_calls"][0][0]
        if "records = {" not in json.loads(r["codes"])[call["name"]]:
            continue  # a computation, not an entity lookup
        f = schemas(r)[call["name"]]
        props = f["parameters"]["properties"]
        entity = f["parameters"]["required"][0]
        sandbox.load(json.loads(r["codes"]))
        name, args = call["name"], call["arguments"]

        def result(arguments):
            ok, text = sandbox.call(name, arguments)
            assert ok, text  # the tool answers with an explanation rather than crashing
            return json.loads(text)

        good = result(args)
        assert isinstance(good, dict)
        unknown = result({**args, entity: "Zzyzx Qwertyuiop"})
        assert (isinstance(unknown, str) and unknown.startswith("No record for 'Zzyzx Qwertyuiop'")
                and "known" in unknown)
        typo = result({**args, entity: args[entity][:-1]})
        assert isinstance(typo, str) and f"Did you mean {args[entity]!r}?" in typo
        assert result({**args, entity: args[entity].upper()}) == good or "case_sensitive" in props  # lenient case
        missing = result({k: v for k, v in args.items() if k != entity})
        assert missing.startswith(f"Error: missing required argument '{entity}'")
        wrong = result({**args, entity: 42})
        assert wrong.startswith(f"Error: argument '{entity}' must be a non-empty string") and "got int 42" in wrong
        extra = result({**args, "colour": "red"})
        assert "unexpected argument(s) 'colour'" in extra and entity in extra
        if "field" in args:
            bad = result({**args, "field": "shoe_size"})
            assert "must be one of" in bad and "shoe_size" in bad
        checked += 1
    assert checked >= 15


def test_other_valid_calls_return_other_records(records, sandbox):
    """A lookup on another entity of the world gives that entity's (different) record."""
    differs = 0
    for r in records:
        call = r["gold_calls"][0][0]
        code = json.loads(r["codes"])[call["name"]]
        if "records = {" not in code:
            continue
        sandbox.load(json.loads(r["codes"]))
        entity = next(iter(call["arguments"]))
        table = code.split("records = ", 1)[1].split("\n", 1)[0]
        for other in [k for k in eval(table) if k != call["arguments"][entity]][:3]:  # noqa: S307 - our own literal
            ok, text = sandbox.call(call["name"], {**call["arguments"], entity: other})
            assert ok and other in text and not text.startswith('"')
            differs += text != sandbox.call(call["name"], call["arguments"])[1]
    assert differs >= 20


# ------------------------------------------------------------------------------ CLI


def test_cli_writes_the_file_and_every_stage(tmp_path):
    out, stages = tmp_path / "envs.jsonl", tmp_path / "stages"
    proc = subprocess.run([sys.executable, "-m", "generators.tooluse_build", "--out", str(out), "--n", "8", "--seed",
                           "1", "--stages-dir", str(stages)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["kept"] == 8 and stats["discarded"] == 0 and set(stats["scenarios_kept"]) == set(SCENARIOS)
    assert out.read_text() == dumps(build(8, 1))
    rows = {name: [json.loads(x) for x in (stages / name).read_text().splitlines()] for name in STAGE_FILES}
    assert all(len(v) == 8 for v in rows.values())
    scen, docs, integ, scaled, deployed = (rows[n] for n in STAGE_FILES)
    for s, d, i, c, p in zip(scen, docs, integ, scaled, deployed):
        assert s["id"] == d["id"] == i["id"] == c["id"] == p["id"]
        assert s["scenario"] in SCENARIOS and s["sub_questions"] and s["answer"]
        assert len(d["documents"]) == len(s["sub_questions"])  # one document per sub-question
        assert len(i["tools"]) <= len({json.dumps(x["tool"]) for x in d["documents"]})
        assert set(c["distractors"]) <= {t["function"]["name"] for t in c["tools"]} and len(c["distractors"]) >= 2
        assert p["verified"] and p["error"] is None and set(p["codes"]) == {t["function"]["name"] for t in c["tools"]}


def test_model_path_runs_mechanically(tiny_model_dir, tmp_path):
    recs, stats = build_with_stats(1, 0, stages_dir=str(tmp_path), model=str(tiny_model_dir), max_new_tokens=4)
    assert stats["built"] == 1 and stats["kept"] == len(recs) == 0 and stats["discarded"] == 1
    assert stats["code"].startswith("llm:")
    deployed = json.loads((tmp_path / STAGE_FILES[4]).read_text())
    assert not deployed["verified"] and deployed["error"] and deployed["llm_replies"]
