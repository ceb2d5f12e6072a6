"""Tool-use tasks: one internal form, loaded from FTRL records, ToolHop records, or generated.

A `ToolTask` is a question, the OpenAI schemas of its tools, the tools' Python sources (run only
in the sandbox), the gold sub-answers each tool should produce, and the final answer.

- FTRL format (FTRL's test set, docs/tooluse.md, and what `generators.tooluse_build` writes): `messages`,
  `tools` (JSON string), `codes` (JSON string), `unsolved_set` (JSON string), `answer`,
  `data_source`, optional `id` and `gold_calls`.
- ToolHop format: `id`, `question`, `answer`, `sub_task` (sub-question -> sub-answer, in order),
  `tools` (sub-question -> function schema), `functions` (Python sources, one per tool).

Malformed files fail with the file name, the line number and what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = ("single_hop", "parallel_single_hop", "multi_hop", "parallel_multi_hop")
"""FTRL's four scenarios, in order of difficulty; `tier` k selects SCENARIOS[k - 1]."""


@dataclass
class ToolTask:
    id: str
    question: str
    tools: list[dict]
    """OpenAI function schemas: {"type": "function", "function": {"name", "description", "parameters"}}"""
    codes: dict[str, str]
    """tool name -> Python source defining a function of that name"""
    gold: dict[str, list[str]]
    """tool name -> the sub-answers calls of that tool should produce (FTRL's unsolved_set)"""
    answer: str
    scenario: str
    source: str
    split: str = "test"
    gold_calls: list[list[dict]] | None = None
    """the gold trajectory when known: turns of {"name", "arguments"} calls"""
    extra: dict = field(default_factory=dict)

    @property
    def tool_names(self) -> list[str]:
        return [schema["function"]["name"] for schema in self.tools]

    @property
    def num_sub_answers(self) -> int:
        return sum(len(answers) for answers in self.gold.values())


class DataError(ValueError):
    pass


def _json_field(record: dict, key: str, where: str):
    value = record.get(key)
    if value is None:
        raise DataError(f"{where}: missing field {key!r}")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: field {key!r} is not valid JSON ({e})") from None
    return value


def normalize_schema(schema: dict, where: str) -> dict:
    """Accept a bare function schema or an OpenAI tool wrapper; return the wrapper form."""
    if not isinstance(schema, dict):
        raise DataError(f"{where}: a tool schema must be an object, got {type(schema).__name__}")
    function = schema.get("function", schema) if schema.get("type") == "function" or "function" in schema else schema
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise DataError(f"{where}: a tool schema has no name")
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict) or not isinstance(parameters.get("properties", {}), dict):
        raise DataError(f"{where}: tool {function['name']!r} has malformed parameters")
    parameters = {"type": "object", "properties": parameters.get("properties", {}),
                  "required": list(parameters.get("required", []))}
    return {"type": "function", "function": {"name": function["name"], "description": function.get("description", ""),
                                             "parameters": parameters}}


_QUESTION_RE = re.compile(r"Question:\s*(.*)\Z", re.DOTALL)


def from_ftrl(record: dict, where: str, index: int) -> ToolTask:
    messages = record.get("messages")
    if isinstance(messages, str):
        messages = json.loads(messages)
    if not messages or not isinstance(messages, list) or not isinstance(messages[-1], dict):
        raise DataError(f"{where}: field 'messages' must be a non-empty list of messages")
    content = str(messages[-1].get("content", ""))
    match = _QUESTION_RE.search(content)
    question = (match.group(1) if match else content).strip()
    tools = [normalize_schema(s, where) for s in _json_field(record, "tools", where)]
    codes = _json_field(record, "codes", where)
    gold = _json_field(record, "unsolved_set", where)
    if not isinstance(codes, dict) or not isinstance(gold, dict):
        raise DataError(f"{where}: 'codes' and 'unsolved_set' must be objects keyed by tool name")
    if "answer" not in record:
        raise DataError(f"{where}: missing field 'answer'")
    source = str(record.get("data_source", "ftrl"))
    scenario = source.split("/")[-1]
    return ToolTask(
        id=str(record.get("id", f"ftrl-{index}")), question=question, tools=tools,
        codes={str(k): str(v) for k, v in codes.items()},
        gold={str(k): [str(a) for a in (v if isinstance(v, list) else [v])] for k, v in gold.items()},
        answer=str(record["answer"]), scenario=scenario if scenario in SCENARIOS else source, source=source,
        split=str(record.get("split", "test")), gold_calls=record.get("gold_calls"),
    )


_DEF_RE = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


def from_toolhop(record: dict, where: str, index: int) -> ToolTask:
    for key in ("question", "answer", "sub_task", "tools", "functions"):
        if key not in record:
            raise DataError(f"{where}: missing field {key!r} (ToolHop format)")
    sub_task = record["sub_task"]
    tools_by_question = record["tools"]
    if not isinstance(sub_task, dict) or not isinstance(tools_by_question, dict):
        raise DataError(f"{where}: 'sub_task' and 'tools' must be objects keyed by sub-question")
    tools, gold = [], {}
    for sub_question, schema in tools_by_question.items():
        tool = normalize_schema(schema, where)
        tools.append(tool)
        if sub_question in sub_task:
            gold.setdefault(tool["function"]["name"], []).append(str(sub_task[sub_question]))
    codes = {}
    for source in record["functions"]:
        names = _DEF_RE.findall(source)
        if not names:
            raise DataError(f"{where}: a function source defines no top-level function")
        # the tool is the function whose name is a tool name (helpers may be defined first)
        name = next((n for n in names if n in {t["function"]["name"] for t in tools}), names[-1])
        codes[name] = source
    return ToolTask(
        id=str(record.get("id", f"toolhop-{index}")), question=str(record["question"]), tools=tools, codes=codes,
        gold=gold, answer=str(record["answer"]), scenario=f"{len(tools)}_tools", source="toolhop",
        split="test", extra={"domain": record.get("domain")},
    )


def load_tasks(path: str | Path) -> list[ToolTask]:
    """Load a JSONL (or a JSON list) of FTRL or ToolHop records; the format is detected per record."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = [(f"{path} record {i + 1}", r) for i, r in enumerate(json.loads(text))]
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e})") from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{number}: not valid JSON ({e})") from None
    tasks = []
    for index, (where, record) in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{where}: a record must be a JSON object")
        if "codes" in record:
            tasks.append(from_ftrl(record, where, index))
        elif "functions" in record:
            tasks.append(from_toolhop(record, where, index))
        else:
            raise DataError(f"{where}: neither FTRL ('codes', 'unsolved_set') nor ToolHop ('functions', "
                            "'sub_task') format")
    if not tasks:
        raise DataError(f"{path}: no records")
    return tasks


# --------------------------------------------------------------------------------------------
# answers and calls


def normalize_answer(text) -> str:
    """ToolHop's answer normalisation: commas removed, a trailing ".0" removed, lowercased."""
    text = str(text).strip().replace(",", "").lower()
    if text.endswith(".0"):
        text = text[:-2]
    return text


def answer_matches(answer: str, *texts: str) -> bool:
    """ToolHop's matcher: the normalised gold answer is a substring of any of `texts` (normalised)."""
    gold = normalize_answer(answer)
    return bool(gold) and any(gold in normalize_answer(t) for t in texts if t)
