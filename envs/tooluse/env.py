"""`tooluse`: answer a question by calling tools; verifiable rewards from FTRL.

Each task brings its own tools (OpenAI function schemas + Python code run only in a sandboxed
worker process, see `sandbox.py`) and the gold sub-answers its calls should produce. One turn:

- a reply with tool calls: every call is checked against the schemas (unknown tool, unexpected
  or missing argument are reported in detail), executed in the sandbox, and its JSON-encoded
  result comes back as a tool message. Calls are written `<tool_call>{"name": ..., "arguments":
  {...}}</tool_call>` (Qwen/Hermes style, several per reply allowed); the bare-JSON style of
  Llama 3.1 and Mistral's `[TOOL_CALLS]` list are read too, and with `action_format="lenient"`
  also a Python-style call line `tool_name(param="value")` naming a known tool.
- a reply without calls ends the episode: its final answer (the text after "Answer:", else the
  whole reply) is judged with ToolHop's matcher.

Rewards (`reward=`):
- "ftrl" (default): FTRL's turn reward. Turn with calls: 2q / (p + 1), p calls, q calls whose
  output holds one of that tool's gold sub-answers not found before. Final turn, t sub-answers
  still unsolved: empty reply -0.5, final answer in the reply 1 / (1 + t), every sub-answer found
  but no answer 0.5, otherwise 0. A reply whose call markup cannot be parsed gets -0.3 (FTRL's
  value for leftover call markup) and, unlike in FTRL, the episode goes on with an observation
  that says what is wrong.
- "answer": 1 on the final turn when the answer is correct.
- "solve_f1": the episode's Solve-F1 = 2 * solved / (calls + sub-answers), paid as per-turn
  increments so that the rewards received so far always sum to the current Solve-F1.

Settings (`setting=`, ToolHop's three): "mandatory" (call a tool at every step, take every fact
from tool results), "free" (tools optional), "direct" (no tools; the first reply is the answer).
Tasks: the project's generated environments by default (`generators.tooluse_build`, cached), or
`data=FILE` (FTRL or ToolHop JSONL). Tiers 1-4 = single-hop, parallel single-hop, multi-hop,
parallel multi-hop.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import operator
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from envs.base import MAX_REPLY_CHARS, TextEnv, check_split
from envs.tooluse.data import SCENARIOS, ToolTask, answer_matches, load_tasks, normalize_answer
from envs.tooluse.sandbox import Sandbox

GENERATED_N = 1200
GENERATED_TEST = 200  # the first 200 generated environments are the test split
MAX_CALLS_PER_TURN = 8
MAX_RESULT_CHARS = 2_000  # a tool result longer than this is cut in the observation

_INSTRUCTIONS = {
    "mandatory": (
        "You answer questions by calling tools. You must call a tool at every step and take every fact from the "
        "tools' results, never from memory. If a call fails, read the error, correct the call and go on."
    ),
    "free": (
        "You answer questions. You may call tools when they help; if a call fails, read the error, correct the "
        "call and go on."
    ),
    "direct": "You answer questions directly from your own knowledge, without tools.",
}
_CALL_FORMAT = (
    "\nTo call a tool, write <tool_call>{\"name\": \"tool_name\", \"arguments\": {\"parameter\": "
    "\"value\"}}</tool_call>. "
    "You may make several calls in one reply. Each result comes back in <tool_response> tags. "
    "When you know the answer, reply without any tool call as: Answer: <the short answer>"
)


@dataclass
class ParsedCalls:
    calls: list[dict]
    """{"name": str, "arguments": object} in order"""
    errors: list[str]
    """one message per call markup that could not be read"""
    markup: bool
    """the reply contained call markup (parsed or not)"""
    strict: bool
    """every call was written in the `<tool_call>{json}</tool_call>` format"""


_TAG_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_PY_CALL_RE = re.compile(r"^\s*`*([A-Za-z_]\w*)\((.*)\)`*\s*$")


def _read_call(payload, where: str) -> tuple[dict | None, str | None]:
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return None, f"{where} must be a JSON object with a \"name\" and \"arguments\""
    arguments = payload.get("arguments", payload.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as e:
            return None, f"{where}: \"arguments\" is a string that is not valid JSON ({e.msg})"
    return {"name": payload["name"], "arguments": arguments}, None


def _json_values(text: str):
    """Decode the first JSON value in `text` (tolerating text after it)."""
    return json.JSONDecoder().raw_decode(text.strip())[0]


def parse_tool_calls(reply: str, tool_names=(), lenient: bool = False) -> ParsedCalls:
    """Read the tool calls of one reply (see the module docstring for the accepted formats)."""
    reply = (reply or "")[:MAX_REPLY_CHARS].replace("\x00", "")
    calls, errors = [], []
    blocks = _TAG_RE.findall(reply)
    if blocks:
        for n, block in enumerate(blocks, 1):
            where = f"tool call {n}"
            try:
                payload = _json_values(block)
            except (ValueError, RecursionError) as e:  # JSONDecodeError, over-long integers, absurd nesting
                detail = f"{e.msg} at character {e.pos}" if isinstance(e, json.JSONDecodeError) else type(e).__name__
                errors.append(f"{where} is not valid JSON ({detail}); write "
                              "<tool_call>{\"name\": \"tool_name\", \"arguments\": {...}}</tool_call>")
                continue
            for item in payload if isinstance(payload, list) else [payload]:
                call, error = _read_call(item, where)
                calls.append(call) if call else errors.append(error)
        return ParsedCalls(calls, errors, True, not errors)
    stripped = reply.strip()
    for marker in ("[TOOL_CALLS]", "<|python_tag|>"):
        if marker in stripped:
            stripped = stripped.split(marker, 1)[1].strip()
            break
    if stripped.startswith(("{", "[")):  # Llama 3.1 / Mistral: the reply is the JSON of the call(s)
        try:
            payload = _json_values(stripped)
        except (ValueError, RecursionError):
            payload = None
        items = payload if isinstance(payload, list) else [payload]
        if payload is not None and all(isinstance(i, dict) and "name" in i for i in items):
            for item in items:
                call, error = _read_call(item, "the tool call")
                calls.append(call) if call else errors.append(error)
            return ParsedCalls(calls, errors, True, False)
    if lenient:
        for line in reply.splitlines():
            match = _PY_CALL_RE.match(line)
            if match and match.group(1) in tool_names:
                try:
                    node = ast.parse(f"f({match.group(2)})", mode="eval").body
                    if node.args:
                        raise ValueError("positional arguments")
                    arguments = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
                except (SyntaxError, ValueError):
                    continue
                calls.append({"name": match.group(1), "arguments": arguments})
        if calls:
            return ParsedCalls(calls, [], True, False)
    return ParsedCalls([], [], False, False)


def check_call(call: dict, schemas: dict[str, dict]) -> tuple[str | None, str | None]:
    """Check a call against the tool schemas: (error kind, message) or (None, None) when valid.

    Kinds are ToolHop's invocation errors: "tool_hallucination" (no such tool),
    "parameter_hallucination" (an argument the tool does not have), "missing_required".
    """
    name, arguments = call["name"], call["arguments"]
    if name not in schemas:
        return "tool_hallucination", f"there is no tool named {name!r}; the tools are: {', '.join(schemas)}"
    if not isinstance(arguments, dict):
        return ("parameter_hallucination",
                f"the arguments must be a JSON object of parameter names to values, got {json.dumps(arguments)[:80]}")
    parameters = schemas[name]["function"]["parameters"]
    properties = parameters.get("properties", {})
    unknown = [a for a in arguments if a not in properties]
    if unknown:
        return "parameter_hallucination", (
            f"{name} has no parameter {', '.join(map(repr, unknown))}; its parameters are: "
            f"{', '.join(properties) or 'none'}"
        )
    missing = [p for p in parameters.get("required", []) if p not in arguments]
    if missing:
        return "missing_required", f"{name} needs the required parameter {', '.join(map(repr, missing))}"
    return None, None


def render_tools(tools: list[dict]) -> str:
    """The tools as compact text, for chat templates that cannot render tool schemas themselves."""
    lines = ["Tools:"]
    for schema in tools:
        function = schema["function"]
        lines.append(f"- {function['name']}: {function.get('description', '').strip()}")
        parameters = function.get("parameters", {})
        required = set(parameters.get("required", []))
        for pname, spec in parameters.get("properties", {}).items():
            spec = spec if isinstance(spec, dict) else {}
            kind = spec.get("type", "any")
            note = "required" if pname in required else "optional"
            text = f"    {pname} ({kind}, {note})"
            if spec.get("description"):
                text += f": {spec['description'].strip()}"
            if spec.get("enum"):
                text += f" One of: {', '.join(map(str, spec['enum']))}."
            lines.append(text)
    return "\n".join(lines)


def final_answer(reply: str) -> str:
    """The text after the last "Answer:" marker, else the whole reply."""
    parts = re.split(r"answer\s*:", reply, flags=re.IGNORECASE)
    return (parts[-1] if len(parts) > 1 else reply).strip()


# --------------------------------------------------------------------------------------------
# task sets


def _cache_dir() -> Path:
    return Path(os.environ.get("CLEANAGENT_CACHE", Path.home() / ".cache" / "cleanagent")) / "tooluse"


def _builder_source() -> Path:
    """The offline generator's source file (found, not imported: a cached task set does not need it)."""
    spec = importlib.util.find_spec("generators.tooluse_build")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the tool-use generator generators.tooluse_build is not importable; "
                                  "run from the repository root or pass data=FILE")
    return Path(spec.origin)


@lru_cache(maxsize=8)
def generated_tasks(n: int = GENERATED_N, seed: int = 0) -> tuple[ToolTask, ...]:
    """The project's generated environments (built once, verified in the sandbox, cached as JSONL)."""
    builder = _builder_source().read_bytes()
    digest = hashlib.sha1(builder).hexdigest()[:10]  # rebuilt when the generator changes
    path = _cache_dir() / f"generated-seed{seed}-n{n}-{digest}.jsonl"
    if not path.exists():
        from generators.tooluse_build import build

        path.parent.mkdir(parents=True, exist_ok=True)
        records = build(n, seed)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        os.replace(tmp, path)
    tasks = load_tasks(path)
    for i, task in enumerate(tasks):
        task.split = "test" if i < min(GENERATED_TEST, len(tasks) // 5) else "train"
    return tuple(tasks)


@lru_cache(maxsize=8)
def _file_tasks(path: str) -> tuple[ToolTask, ...]:
    return tuple(load_tasks(path))


def task_set(data: str | None = None) -> tuple[ToolTask, ...]:
    return _file_tasks(str(Path(data).resolve())) if data else generated_tasks()


class ToolUseEnv(TextEnv):
    name = "tooluse"
    observation_role = "tool"

    def __init__(self, action_format: str = "strict", data: str | None = None, setting: str = "mandatory",
                 reward: str = "ftrl", timeout: float = 10.0, memory_mb: int = 1024):
        super().__init__(action_format)
        if setting not in _INSTRUCTIONS:
            raise ValueError(f"setting must be one of {sorted(_INSTRUCTIONS)}, got {setting!r}")
        if reward not in ("ftrl", "answer", "solve_f1"):
            raise ValueError(f"reward must be 'ftrl', 'answer' or 'solve_f1', got {reward!r}")
        self.setting, self.reward_mode = setting, reward
        self.task_list = task_set(data)
        self.sandbox = Sandbox(timeout=timeout, memory_mb=memory_mb)
        self.instructions = _INSTRUCTIONS[setting] + ("" if setting == "direct" else _CALL_FORMAT)
        self.task: ToolTask | None = None

    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, data: str | None = None, **options) -> list[int]:
        check_split(split)
        if tier is not None and tier not in range(1, len(SCENARIOS) + 1):
            raise ValueError(f"tooluse tiers are 1-4 ({', '.join(SCENARIOS)}), got {tier}")
        return [
            i for i, t in enumerate(task_set(data))
            if t.split == split and (tier is None or t.scenario == SCENARIOS[tier - 1])
        ]

    @property
    def demonstration(self):
        question = ("Question: In which year was the author of the novel 'The Glass Orchard' born? (example tools: "
                    "book_author(title), person_birth_year(name))")
        if self.setting == "direct":
            return ((question, "Thought: I recall the novel's author and her birth year.\nAnswer: 1931"),)
        return (
            (question, '<tool_call>{"name": "book_author", "arguments": {"title": "The Glass Orchard"}}</tool_call>'),
            ('<tool_response>\n"Mara Velde"\n</tool_response>',
             '<tool_call>{"name": "person_birth_year", "arguments": {"name": "Mara Velde"}}</tool_call>'),
            ("<tool_response>\n1931\n</tool_response>", "Answer: 1931"),
        )

    # -- episode ---------------------------------------------------------------------------------

    def reset(self, task_id: int) -> tuple[str, dict]:
        try:
            index = None if isinstance(task_id, bool) else operator.index(task_id)
        except TypeError:
            index = None
        if index is None or not 0 <= index < len(self.task_list):
            raise ValueError(f"tooluse task id must be an integer in [0, {len(self.task_list)}), got {task_id!r}")
        task_id = index
        self.task = self.task_list[task_id]
        self.schemas = {s["function"]["name"]: s for s in self.task.tools}
        self.tools = [] if self.setting == "direct" else list(self.task.tools)
        self.tools_text = render_tools(self.tools) if self.tools else ""
        self.load_errors = self.sandbox.load(self.task.codes) if self.tools else {}
        self.unsolved = {name: list(answers) for name, answers in self.task.gold.items()}
        self.stats = dict(calls=0, solved=0, tool_hallucination=0, parameter_hallucination=0,
                          missing_required=0, turns=0)
        self.last_tool_output = ""
        self.paid_f1 = 0.0
        self.done, self.last_success = False, False
        return f"Question: {self.task.question}", self._info(success=False, action=None, format_ok=False)

    def _solve_f1(self) -> float:
        total = self.task.num_sub_answers
        return 2 * self.stats["solved"] / (self.stats["calls"] + total) if self.stats["calls"] + total else 0.0

    def metrics(self) -> dict:
        calls, solved, total = self.stats["calls"], self.stats["solved"], self.task.num_sub_answers
        return {
            **self.stats, "sub_answers": total, "solve_p": solved / calls if calls else 0.0,
            "solve_r": solved / total if total else 0.0, "solve_f1": self._solve_f1(),
        }

    def _info(self, **info) -> dict:
        info.setdefault("score", float(info.get("success", False)))
        info.update(self.metrics() if self.task is not None else {})
        return info

    def _execute(self, call: dict) -> tuple[str, bool]:
        """Run one call; (text for the model, whether it newly solved a sub-answer)."""
        self.stats["calls"] += 1
        kind, message = check_call(call, self.schemas)
        if kind is None and call["name"] in self.load_errors:
            message = f"the tool could not be loaded: {self.load_errors[call['name']]}"
        elif kind is None:
            ok, text = self.sandbox.call(call["name"], call["arguments"])
            if ok:
                normalized = normalize_answer(text)
                pending = self.unsolved.get(call["name"], [])
                for answer in pending:
                    if normalize_answer(answer) and normalize_answer(answer) in normalized:
                        pending.remove(answer)
                        self.stats["solved"] += 1
                        return text, True
                return text, False
            message = text
        else:
            self.stats[kind] += 1
        return f"an error occurred when calling {call['name']}: {message}", False

    def reply_complete(self, reply: str) -> bool:
        """Never before the end-of-turn token: one reply may hold several tool calls."""
        return False

    def step(self, reply: str) -> tuple[str, float, bool, bool, dict]:
        if self.task is None:
            raise RuntimeError("call reset(task_id) before step()")
        if self.done:  # as every env: a reply after the end changes nothing
            return ("The episode is over.", 0.0, True, False,
                    self._info(success=self.last_success, action=None, format_ok=False))
        reply = (reply if isinstance(reply, str) else "" if reply is None else str(reply))[:MAX_REPLY_CHARS]
        reply = reply.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates into tools or observations
        self.stats["turns"] += 1
        parsed = (parse_tool_calls(reply, self.schemas, self.action_format == "lenient") if self.tools
                  else ParsedCalls([], [], False, False))
        f1_before = self._solve_f1()

        if parsed.calls or parsed.errors:
            outputs, solved_now = [], 0
            for call in parsed.calls[:MAX_CALLS_PER_TURN]:
                text, solved = self._execute(call)
                solved_now += solved
                outputs.append((call["name"], text))
            for error in parsed.errors[:MAX_CALLS_PER_TURN]:
                self.stats["calls"] += 1
                outputs.append(("", f"an error occurred when reading your tool call: {error}"))
            if len(parsed.calls) > MAX_CALLS_PER_TURN:
                outputs.append(("", f"only the first {MAX_CALLS_PER_TURN} calls of a reply are executed"))
            calls_made = len(parsed.calls[:MAX_CALLS_PER_TURN]) + len(parsed.errors[:MAX_CALLS_PER_TURN])
            observation = "\n".join(f"<tool_response>\n{text[:MAX_RESULT_CHARS]}\n</tool_response>"
                                    for _, text in outputs)
            self.last_tool_output = observation
            executed = [o for o in outputs if not o[1].startswith("an error occurred")]
            if self.reward_mode == "ftrl":
                reward = 2 * solved_now / (calls_made + 1) if parsed.calls else -0.3
            elif self.reward_mode == "solve_f1":
                reward = self._solve_f1() - f1_before
            else:
                reward = 0.0
            info = self._info(
                success=False,
                action=json.dumps(parsed.calls[:MAX_CALLS_PER_TURN], ensure_ascii=False, default=str)[:500],
                format_ok=parsed.strict and len(executed) == len(outputs),
                messages=[{"role": "tool", "name": name, "content": text[:MAX_RESULT_CHARS]} for name, text in outputs],
            )
            if not executed:
                info["error"] = outputs[0][1] if outputs else "no call could be executed"
            return observation, float(reward), False, False, info

        # no call: the final answer
        self.done = True
        answer = final_answer(reply)
        correct = answer_matches(self.task.answer, answer, self.last_tool_output)
        success = answer_matches(self.task.answer, answer)
        left = sum(len(a) for a in self.unsolved.values())
        if self.reward_mode == "ftrl":
            if not reply.strip():
                reward = -0.5
            elif success:
                reward = 1.0 / (1 + left)
            elif left == 0:
                reward = 0.5
            else:
                reward = 0.0
        elif self.reward_mode == "answer":
            reward = float(success)
        else:
            reward = 0.0  # solve_f1 was paid as calls were made
        # success: the answer is in the reply itself; correct: ToolHop's rule, which also accepts the
        # answer in the tool result just before the reply (the published metric, used by bench/toolhop.py)
        self.last_success = success
        # a well-formed final turn has an answer, and in the mandatory setting comes after at least one call
        # (otherwise a format bonus would pay the model for skipping the tools)
        format_ok = bool(answer) and (self.setting != "mandatory" or self.stats["calls"] > 0)
        info = self._info(success=success, action=f"answer: {answer[:200]}", format_ok=format_ok,
                          correct=correct, answer=answer)
        if not reply.strip():
            info["error"] = "The reply was empty."
        return "The episode is over.", float(reward), True, False, info

    def expert_calls(self) -> list[dict]:
        """The gold calls of the next turn (generated tasks and records that carry `gold_calls`)."""
        if not self.task.gold_calls:
            raise NotImplementedError(f"task {self.task.id} has no gold call chain")
        turn = self.stats["turns"]
        return self.task.gold_calls[turn] if turn < len(self.task.gold_calls) else []

    def expert_reply(self) -> str:
        calls = self.expert_calls()
        if not calls:
            return f"Answer: {self.task.answer}"
        return "".join(f"<tool_call>{json.dumps(c, ensure_ascii=False)}</tool_call>" for c in calls)

    def expert_action(self) -> str:
        return self.expert_reply()

    def close(self) -> None:
        self.sandbox.close()
