"""tooluse: the sandbox's containment, call parsing, FTRL rewards and metrics against hand computations,
loaders on the shared FTRL sample and on ToolHop-format records, and the chat-template tool paths."""

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from envs.tooluse.data import DataError, answer_matches, load_tasks, normalize_answer
from envs.tooluse.env import ToolUseEnv, check_call, final_answer, parse_tool_calls, render_tools
from envs.tooluse.sandbox import Sandbox

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ftrl" / "dev.jsonl"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason=f"the shared FTRL sample {SAMPLE} is absent")


# --------------------------------------------------------------------------------------------
# sandbox


@pytest.fixture(scope="module")
def sandbox():
    # 1 s of CPU time: the looping tools use it up however loaded the machine is, and no other call
    # comes near it; the wall-clock limit is far away, so that no test races the wall clock
    box = Sandbox(timeout=1.0, memory_mb=512, wall_timeout=120.0)
    yield box
    box.close()


HOSTILE = {
    "add": "def add(a, b):\n    return a + b",
    "loop": "def loop():\n    while True:\n        pass",
    "stubborn": "def stubborn():\n    while True:\n        try:\n            while True:\n                pass\n       "
                " except BaseException:\n            pass",
    "alloc": "def alloc():\n    return len(bytearray(10 * 2**30))",
    "grow": "def grow():\n    x = []\n    while True:\n        x.append(' ' * 10**7)",
    "forker": "import os\ndef forker():\n    while True:\n        os.fork()",
    "system": "import os\ndef system():\n    return os.system('touch /tmp/cleanagent-sandbox-escaped')",
    "popen": "import subprocess\ndef popen():\n    return subprocess.run(['true']).returncode",
    "passwd": "def passwd():\n    return open('/etc/passwd').read()",
    "write_outside": "def write_outside():\n    open('/tmp/cleanagent-sandbox-escaped', 'w').write('x')",
    "sock": "import socket\ndef sock():\n    socket.create_connection(('127.0.0.1', 9))",
    "exits": "import sys\ndef exits():\n    sys.exit(3)",
    "hard_exit": "import os\ndef hard_exit():\n    os._exit(7)",
    "scratch": "def scratch():\n    with open('notes.txt', 'w') as f:\n        f.write('ok')\n    return "
               "open('notes.txt').read()",
    "pid": "import os\ndef pid():\n    return os.getpid()",
    "noisy": "def noisy():\n    print('this must not corrupt the protocol')\n    return {'a': [1, 2]}",
}


@pytest.mark.parametrize("tool, expected", [
    ("loop", "time limit"), ("stubborn", "time limit"), ("alloc", "memory"), ("grow", "memory"),
    ("forker", "os.fork is not allowed"), ("system", "os.system is not allowed"),
    ("popen", "subprocess.Popen is not allowed"), ("passwd", "'/etc/passwd' is not allowed"),
    ("write_outside", "is not allowed"), ("sock", "socket"), ("exits", "SystemExit"),
    ("hard_exit", "exited with code 7"),
])
def test_hostile_tool_is_contained_and_reported(sandbox, tool, expected):
    assert sandbox.load(HOSTILE) == {}
    ok, text = sandbox.call(tool, {})
    assert not ok and expected in text, text
    assert sandbox.call("add", {"a": 2, "b": 3}) == (True, "5")  # the sandbox keeps working
    assert not os.path.exists("/tmp/cleanagent-sandbox-escaped")


def test_a_crashed_worker_is_reported_as_a_crash_however_slow_the_machine():
    """A machine as slow as can be: the worker gets no CPU at all (stopped) for longer than the call's
    CPU limit plus the grace period, in wall-clock time. The call still reports how the worker ended."""
    with Sandbox(timeout=0.5, memory_mb=512, wall_timeout=120.0) as box:
        assert box.load(HOSTILE) == {}
        for tool, expected in (("add", (True, "5")), ("hard_exit", (False, "the tool's process exited with code 7"))):
            pid = box._proc.pid
            os.kill(pid, signal.SIGSTOP)
            resume = threading.Timer(3.0, os.kill, (pid, signal.SIGCONT))
            resume.start()
            try:
                assert box.call(tool, {"a": 2, "b": 3} if tool == "add" else {}) == expected
            finally:
                resume.join()  # the call cannot end before the worker is resumed
        assert box.call("add", {"a": 1, "b": 1}) == (True, "2")  # restarted with the same tools


def test_a_dead_worker_is_not_reported_as_a_timeout():
    """Where the call's limit and the worker's death coincide, the exit status decides."""
    with Sandbox(timeout=1.0, memory_mb=512) as box:
        assert box.load(HOSTILE) == {}
        box._proc.stdin.write(b'{"op": "call", "name": "hard_exit", "arguments": {}}\n')
        box._proc.stdin.flush()
        box._proc.wait()
        assert box._failure("timeout") == "the tool's process exited with code 7"


def test_waiting_counts_against_the_wall_clock_limit_only():
    tools = {"nap": "import time\ndef nap(s):\n    time.sleep(s)\n    return 'rested'"}
    with Sandbox(timeout=0.2, memory_mb=512, wall_timeout=60.0) as box:
        box.load(tools)
        assert box.call("nap", {"s": 0.5}) == (True, '"rested"')  # longer than the CPU limit, little CPU
    with Sandbox(timeout=0.2, memory_mb=512, wall_timeout=0.5) as box:
        box.load(tools)
        ok, text = box.call("nap", {"s": 600})
        assert not ok and "time limit (wall-clock time)" in text, text
        assert box.call("nap", {"s": 0}) == (True, '"rested"')
    with pytest.raises(ValueError, match="wall_timeout"):
        Sandbox(timeout=2.0, wall_timeout=1.0)


def test_sandbox_runs_tools_in_another_process_with_a_private_directory(sandbox):
    sandbox.load(HOSTILE)
    ok, pid = sandbox.call("pid", {})
    assert ok and int(pid) != os.getpid()
    assert sandbox.call("scratch", {}) == (True, '"ok"')
    assert sandbox.call("noisy", {}) == (True, '{"a": [1, 2]}')


def test_sandbox_argument_errors_are_detailed(sandbox):
    sandbox.load(HOSTILE)
    assert sandbox.call("add", {"a": 1}) == (False, "missing a required argument: 'b'")
    assert sandbox.call("add", {"a": 1, "b": 2, "c": 3}) == (False, "got an unexpected keyword argument 'c'")
    assert sandbox.call("nope", {}) == (False, "unknown tool 'nope'")
    ok, text = sandbox.call("add", [1, 2])
    assert not ok and "JSON object" in text


def test_sandbox_fresh_namespace_per_load_and_bad_definitions(sandbox):
    assert sandbox.load({"f": "def f():\n    return 1", "g": "def g(:\n"})["g"].startswith("SyntaxError")
    assert sandbox.call("f", {}) == (True, "1")
    sandbox.load({"h": "def h():\n    return 2"})
    assert sandbox.call("f", {}) == (False, "unknown tool 'f'")
    errors = sandbox.load({"hang": "while True:\n    pass", "h": "def h():\n    return 2"})
    assert "time limit" in errors["hang"]
    assert sandbox.call("h", {}) == (True, "2")


# --------------------------------------------------------------------------------------------
# parsing, checking, matching


def test_parse_tool_calls_formats():
    two = ('<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call> then <tool_call>{"name": "b", "arguments": '
           '"{\\"y\\": 2}"}</tool_call>')
    parsed = parse_tool_calls(two)
    assert (parsed.calls == [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {"y": 2}}]
            and parsed.strict)
    unclosed = parse_tool_calls('<tool_call>\n{"name": "a", "arguments": {}}')
    assert unclosed.calls == [{"name": "a", "arguments": {}}]
    bad = parse_tool_calls("<tool_call>{'name': 'a'}</tool_call>")
    assert bad.calls == [] and bad.markup and "not valid JSON" in bad.errors[0]
    llama = parse_tool_calls('{"name": "a", "parameters": {"x": "y"}}')
    assert llama.calls == [{"name": "a", "arguments": {"x": "y"}}] and not llama.strict
    mistral = parse_tool_calls('[TOOL_CALLS] [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]')
    assert [c["name"] for c in mistral.calls] == ["a", "b"]
    assert parse_tool_calls("Answer: 42").calls == [] and not parse_tool_calls("Answer: 42").markup
    python_style = 'I will call it.\nbook_author(title="The Glass Orchard", year=1931)'
    assert parse_tool_calls(python_style, {"book_author"}).calls == []
    lenient = parse_tool_calls(python_style, {"book_author"}, lenient=True)
    assert lenient.calls == [{"name": "book_author", "arguments": {"title": "The Glass Orchard", "year": 1931}}]
    assert parse_tool_calls('x = __import__("os")(1)', {"x"}, lenient=True).calls == []  # literals only


def test_check_call_kinds():
    schemas = {"f": {"type": "function",
                     "function": {"name": "f", "parameters": {"properties": {"a": {}, "b": {}}, "required": ["a"]}}}}
    assert check_call({"name": "f", "arguments": {"a": 1}}, schemas) == (None, None)
    assert check_call({"name": "g", "arguments": {}}, schemas)[0] == "tool_hallucination"
    assert check_call({"name": "f", "arguments": {"a": 1, "z": 2}}, schemas)[0] == "parameter_hallucination"
    assert check_call({"name": "f", "arguments": {"b": 1}}, schemas)[0] == "missing_required"
    assert check_call({"name": "f", "arguments": [1]}, schemas)[0] == "parameter_hallucination"


def test_answer_matching_is_toolhops():
    assert normalize_answer("2,048.0") == "2048"
    assert answer_matches("2,048", "The total is 2048 GB.")
    assert answer_matches("Salmon", "answer: salmon")
    assert not answer_matches("Salmon", "trout")
    assert answer_matches("1866", "I think 1866", "")
    assert not answer_matches("", "anything")
    assert final_answer("Thought: x\nAnswer:  Rome ") == "Rome"
    assert final_answer("Rome") == "Rome"


def test_render_tools_names_every_parameter():
    text = render_tools([{"type": "function", "function": {"name": "f", "description": "does f", "parameters": {
        "properties": {"a": {"type": "string", "description": "the a", "enum": ["x", "y"]}, "b": {"type": "integer"}},
        "required": ["a"]}}}])
    assert ("- f: does f" in text and "a (string, required): the a One of: x, y." in text
            and "b (integer, optional)" in text)


# --------------------------------------------------------------------------------------------
# the shared FTRL sample


@needs_sample
def test_sample_loads_every_scenario_and_every_tool_runs_in_the_sandbox():
    tasks = load_tasks(SAMPLE)
    assert len(tasks) == 20
    assert sorted({t.scenario for t in tasks}) == ["multi_hop", "parallel_multi_hop",
                                                   "parallel_single_hop", "single_hop"]
    dummy = {"string": "x", "integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}
    with Sandbox(timeout=10) as box:
        calls = 0
        for task in tasks:
            assert set(task.codes) == set(task.tool_names), task.id
            assert box.load(task.codes) == {}, task.id  # every tool defines cleanly
            for schema in task.tools:
                function = schema["function"]
                properties = function["parameters"]["properties"]
                arguments = {p: dummy.get(properties.get(p, {}).get("type"), "x")
                             for p in function["parameters"]["required"]}
                ok, text = box.call(function["name"], arguments)
                assert isinstance(text, str) and text
                calls += 1
        assert calls == 170 and box.restarts == 0


# (task index in dev.jsonl, turns of gold calls, final reply, expected turn rewards)
GOLD = [
    (12, [[("historical_event_info_retriever", {"event_name": "explosion at Prüm"}),
           ("historical_event_info_retriever", {"event_name": "Kemi Bloody Thursday"})]], "Answer: 14", [4 / 3, 1.0]),
    (18, [[("election_results_analyzer", {"election_date": "2023-12-17", "country": "Serbia", "political_entity": "SNS",
                                          "election_type": "parliamentary"})]], "Answer: 128", [1.0, 1.0]),
    (16, [[("political_successor_finder", {"political_figure": "Emir Nawaf Al-Ahmad Al-Jaber Al-Sabah",
                                           "date_of_transition": "2023-12-16", "country": "Kuwait"})]],
     "Answer: Mishal Al-Ahmad Al-Jaber Al-Sabah.", [1.0, 1.0]),
    (11, [[("eu_language_analyzer", {})],
          [("international_organization_language_info", {"organization": "United Nations"})]],
     "Answer: 35", [1.0, 1.0, 1.0]),
]


def calls_reply(calls):
    return "".join(f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>" for n, a in calls)


@needs_sample
@pytest.mark.parametrize("index, turns, final, expected", GOLD)
def test_hand_written_gold_trajectories_on_the_sample(index, turns, final, expected):
    env = ToolUseEnv(data=str(SAMPLE))
    try:
        env.reset(index)
        rewards = [env.step(calls_reply(calls))[1] for calls in turns]
        obs, reward, terminated, _, info = env.step(final)
        rewards.append(reward)
        assert rewards == pytest.approx(expected)
        assert terminated and info["success"] and info["correct"]
        n_calls = sum(len(c) for c in turns)
        assert info["calls"] == info["solved"] == n_calls == info["sub_answers"]
        assert info["solve_p"] == info["solve_r"] == info["solve_f1"] == 1.0
    finally:
        env.close()


@needs_sample
def test_ftrl_rewards_and_metrics_for_imperfect_episodes():
    env = ToolUseEnv(data=str(SAMPLE))
    try:
        env.reset(18)  # single hop, gold "128"
        _, reward, _, _, info = env.step("Answer: 128")
        assert reward == pytest.approx(1 / (1 + 1))  # right answer, one sub-answer unsolved
        assert not info["format_ok"]  # mandatory setting: an answer with no call is not well formed
        env.reset(18)
        assert env.step("")[1] == -0.5
        env.reset(18)
        _, r, done, _, info = env.step("<tool_call>{bad json}</tool_call>")
        assert r == -0.3 and not done and "not valid JSON" in info["error"]
        # a wrong call (p = 1, q = 0), a hallucinated parameter, then the right call (p = 1, q = 1)
        _, r1, _, _, _ = env.step(calls_reply([("election_results_analyzer", {"election_date": "2020-01-01",
                                                                              "country": "Serbia",
                                                                              "political_entity": "SNS",
                                                                              "election_type": "local"})]))
        _, r2, _, _, info = env.step(calls_reply([("election_results_analyzer", {"year": 2023})]))
        assert ((r1, r2) == (0.0, 0.0) and info["parameter_hallucination"] == 1
                and "has no parameter 'year'" in info["error"])
        _, r3, _, _, _ = env.step(calls_reply([("election_results_analyzer", {"election_date": "2023-12-17",
                                                                              "country": "Serbia",
                                                                              "political_entity": "SNS",
                                                                              "election_type": "parliamentary"})]))
        assert r3 == 1.0
        _, r4, done, _, info = env.step("Answer: 130")
        assert r4 == 0.5 and done and not info["success"]  # every sub-answer found, wrong answer
        # calls = bad markup 1 + 3 calls = 4; solved 1; sub-answers 1
        assert info["calls"] == 4 and info["solved"] == 1
        assert (info["solve_p"] == pytest.approx(1 / 4) and info["solve_r"] == 1.0
                and info["solve_f1"] == pytest.approx(2 / 5))
    finally:
        env.close()


@needs_sample
def test_solve_f1_reward_sums_to_the_episode_solve_f1():
    env = ToolUseEnv(data=str(SAMPLE), reward="solve_f1")
    try:
        env.reset(12)
        rewards = [env.step(calls_reply([("historical_event_info_retriever", {"event_name": "explosion at Prüm"})]))[1]]
        rewards.append(env.step(calls_reply([("nope", {})]))[1])
        rewards.append(env.step(calls_reply([("historical_event_info_retriever",
                                              {"event_name": "Kemi Bloody Thursday"})]))[1])
        *_, info = env.step("Answer: 14")
        assert sum(rewards) == pytest.approx(info["solve_f1"]) == pytest.approx(2 * 2 / (3 + 2))
        assert info["tool_hallucination"] == 1
    finally:
        env.close()


@needs_sample
def test_settings():
    direct = ToolUseEnv(data=str(SAMPLE), setting="direct", reward="answer")
    try:
        obs, _ = direct.reset(18)
        assert direct.tools == [] and "without tools" in direct.instructions
        # in the direct setting call markup is just text: the first reply is the answer
        _, r, done, _, info = direct.step('<tool_call>{"name": "x", "arguments": {}}</tool_call>')
        assert done and r == 0.0
    finally:
        direct.close()
    free = ToolUseEnv(data=str(SAMPLE), setting="free")
    assert "may call tools" in free.instructions and free.observation_role == "tool"
    free.close()
    with pytest.raises(ValueError, match="setting"):
        ToolUseEnv(data=str(SAMPLE), setting="sometimes")


# --------------------------------------------------------------------------------------------
# ToolHop format and malformed files

TOOLHOP = {
    "id": 7, "question": "What is the reversed first name of the director of Film X?", "answer": "ahtraM",
    "sub_task": {"Who directed Film X?": "Martha Reyes", "What is the first name of Martha Reyes?": "Martha",
                 "What is Martha reversed?": "ahtraM"},
    "tools": {
        "Who directed Film X?": {"name": "film_director", "description": "director of a film",
                                 "parameters": {"type": "object", "properties": {"film": {"type": "string"}},
                                                "required": ["film"]}},
        "What is the first name of Martha Reyes?": {"name": "first_name", "description": "first name of a person",
                                                    "parameters": {"type": "object",
                                                                   "properties": {"name": {"type": "string"}},
                                                                   "required": ["name"]}},
        "What is Martha reversed?": {"name": "reverse", "description": "reverse a string",
                                     "parameters": {"type": "object", "properties": {"text": {"type": "string"}},
                                                    "required": ["text"]}},
    },
    "functions": [
        "def film_director(film):\n    return {'Film X': 'Martha Reyes'}.get(film, 'unknown film')",
        "def _split(name):\n    return name.split()\n\ndef first_name(name):\n    return _split(name)[0]",
        "def reverse(text):\n    return text[::-1]",
    ],
}


def test_toolhop_record_loads_and_plays(tmp_path):
    path = tmp_path / "toolhop.jsonl"
    path.write_text(json.dumps(TOOLHOP) + "\n")
    (task,) = load_tasks(path)
    assert task.gold == {"film_director": ["Martha Reyes"], "first_name": ["Martha"], "reverse": ["ahtraM"]}
    assert set(task.codes) == {"film_director", "first_name", "reverse"} and task.scenario == "3_tools"
    env = ToolUseEnv(data=str(path), reward="answer")
    try:
        env.reset(0)
        env.step(calls_reply([("film_director", {"film": "Film X"})]))
        env.step(calls_reply([("first_name", {"name": "Martha Reyes"})]))
        env.step(calls_reply([("reverse", {"text": "Martha"})]))
        _, reward, done, _, info = env.step("The answer is ahtraM")
        assert done and reward == 1.0 and info["solve_f1"] == 1.0
    finally:
        env.close()


@pytest.mark.parametrize("content, message", [
    ('{"codes": "{}", "tools": "[]"', "toolset.jsonl:2: not valid JSON"),
    ('{"question": "q"}', "toolset.jsonl:2: neither FTRL"),
    ('{"question": "q", "answer": "a", "sub_task": {}, "tools": {}, "functions": ["x = 1"]}',
     "toolset.jsonl:2: a function source defines no"),
    ('{"messages": [{"role": "user", "content": "q"}], "codes": "{}", "tools": "[{]", "unsolved_set": '
     '"{}", "answer": "a"}',
     "toolset.jsonl:2: field 'tools' is not valid JSON"),
])
def test_malformed_files_fail_with_file_and_line(tmp_path, content, message):
    path = tmp_path / "toolset.jsonl"
    path.write_text(json.dumps(TOOLHOP) + "\n" + content + "\n")
    with pytest.raises(DataError, match=message):
        load_tasks(path)


# --------------------------------------------------------------------------------------------
# the generated task set (generators.tooluse_build, cached)


def test_generated_splits_and_tiers():
    from envs.tooluse.data import SCENARIOS

    test, train = ToolUseEnv.tasks("test"), ToolUseEnv.tasks("train")
    assert len(test) == 200 and len(train) == 1000 and not set(test) & set(train)
    assert [len(ToolUseEnv.tasks("test", tier=k)) for k in (1, 2, 3, 4)] == [50, 50, 50, 50]
    env = ToolUseEnv()
    try:
        for k, scenario in enumerate(SCENARIOS, 1):
            assert all(env.task_list[i].scenario == scenario for i in ToolUseEnv.tasks("train", tier=k))
    finally:
        env.close()
    with pytest.raises(ValueError, match="tiers are 1-4"):
        ToolUseEnv.tasks("train", tier=5)


def test_generated_gold_chains_solve_every_test_task_with_ftrl_rewards():
    env = ToolUseEnv(action_format="strict")
    try:
        for task_id in ToolUseEnv.tasks("test"):
            env.reset(task_id)
            rewards, done = [], False
            while not done:
                calls = env.expert_calls()
                _, reward, done, _, info = env.step(env.expert_reply())
                # every gold call finds a new sub-answer: q = p, so 2p / (p + 1); the final answer 1 / (1 + 0)
                rewards.append(reward)
                assert reward == pytest.approx(2 * len(calls) / (len(calls) + 1) if calls else 1.0), (env.task.id, info)
                assert info["format_ok"]
            assert info["success"] and info["solve_f1"] == 1.0, env.task.id
    finally:
        env.close()
