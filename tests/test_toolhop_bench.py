"""bench/toolhop.py: the protocol's matcher and metrics against hand computations, with scripted
policies played through the real rollout, and a smoke run on a tiny random model."""

import json

import pytest

from bench import toolhop
from grpo_agent import Episode
from test_tooluse import TOOLHOP

GOLD_REPLIES = [
    '<tool_call>{"name": "film_director", "arguments": {"film": "Film X"}}</tool_call>',
    '<tool_call>{"name": "first_name", "arguments": {"name": "Martha Reyes"}}</tool_call>',
    '<tool_call>{"name": "reverse", "arguments": {"text": "Martha"}}</tool_call>',
    "Answer: ahtraM",
]


def scripted(replies_for_turn):
    """A sampler that answers turn k (counted from the tool responses in the prompt) with replies_for_turn(k)."""

    def make_sampler(model, tokenizer, chat, temperature, batch_size):
        def sample(prompts, caps, stops=None):
            out = []
            for prompt in prompts:
                turn = tokenizer.decode(prompt).count("<tool_response>\n")
                out.append(tokenizer(replies_for_turn(turn), add_special_tokens=False).input_ids + [chat.end_of_turn])
            return out

        return sample

    return make_sampler


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "toolhop.jsonl"
    wrong = dict(TOOLHOP, id=8, answer="Reyes")
    path.write_text(json.dumps(TOOLHOP) + "\n" + json.dumps(wrong) + "\n")
    return path


def run(monkeypatch, tiny_model_dir, data, tmp_path, replies_for_turn, *flags):
    monkeypatch.setattr(toolhop, "make_sampler", scripted(replies_for_turn))
    out = tmp_path / "result.json"
    result = toolhop.main(["--data", str(data), "--model", str(tiny_model_dir), "--out", str(out), *flags])
    assert json.loads(out.read_text())["accuracy"] == result["accuracy"]
    return result


def test_gold_policy_scores_by_hand(monkeypatch, tiny_model_dir, data, tmp_path):
    result = run(monkeypatch, tiny_model_dir, data, tmp_path, lambda k: GOLD_REPLIES[min(k, 3)],
                 "--max-new-tokens", "64")
    # task 0: all right; task 1 (gold answer "Reyes"): the answer "ahtraM" is wrong, and "reyes" is
    # not in the tool message before it either ("ahtraM")
    assert [e["correct"] for e in result["episodes"]] == [True, False]
    assert result["accuracy"] == 50.0 and result["n"] == 2 and result["failed"] == 0
    # each episode: 3 calls, 3 sub-answers solved of 3
    assert result["calls"] == 6 and result["solve_p"] == result["solve_r"] == result["solve_f1"] == 100.0
    assert result["per_scenario"]["3_tools"]["n"] == 2 and result["mean_turns"] == 4


def test_answer_in_the_tool_message_before_counts_and_errors_are_rated(monkeypatch, tiny_model_dir, data, tmp_path):
    replies = ['<tool_call>{"name": "film_directorr", "arguments": {}}</tool_call>',
               '<tool_call>{"name": "film_director", "arguments": {"movie": "Film X"}}</tool_call>',
               '<tool_call>{"name": "film_director", "arguments": {}}</tool_call>',
               '<tool_call>{"name": "film_director", "arguments": {"film": "Film X"}}</tool_call>',
               "I am done."]
    result = run(monkeypatch, tiny_model_dir, data, tmp_path, lambda k: replies[min(k, 4)], "--max-new-tokens",
                 "64", "--limit", "1")
    # the last tool message holds "Martha Reyes", not "ahtraM": wrong; 4 calls, one of each error kind
    assert result["accuracy"] == 0.0 and result["calls"] == 4
    assert (result["tool_hallucination_rate"] == result["parameter_hallucination_rate"]
            == result["missing_required_rate"] == 25.0)
    assert result["solve_p"] == 25.0 and result["solve_r"] == pytest.approx(100 / 3)
    ep = Episode(task_id=0, group=0, transcript=["[observation] Question: q", "[agent] x",
                                                 '[observation] <tool_response>\n"ahtraM"\n</tool_response>',
                                                 "[agent] done"])
    assert toolhop.toolhop_correct("ahtraM", ep) and not toolhop.toolhop_correct("Martha", ep)


def test_direct_setting_is_one_turn_and_turn_limit_holds(monkeypatch, tiny_model_dir, data, tmp_path):
    result = run(monkeypatch, tiny_model_dir, data, tmp_path, lambda k: "Answer: ahtraM", "--setting", "direct")
    assert result["accuracy"] == 50.0 and result["calls"] == 0 and result["mean_turns"] == 1
    looping = run(monkeypatch, tiny_model_dir, data, tmp_path, lambda k: GOLD_REPLIES[0], "--max-turns", "3",
                  "--max-new-tokens", "64")
    # cut at 3 turns, never answering: task 1's gold "Reyes" is in the tool message before the last
    # reply ("Martha Reyes"), which ToolHop's matcher accepts; task 0's "ahtraM" is nowhere
    assert looping["mean_turns"] == 3 and [e["correct"] for e in looping["episodes"]] == [False, True]


def test_smoke_on_the_tiny_model_and_bad_flags(tiny_model_dir, data, tmp_path, capsys):
    result = toolhop.main(["--data", str(data), "--model", str(tiny_model_dir), "--max-new-tokens", "8", "--max-turns",
                           "2", "--temperature", "1.0"])
    assert set(result) >= {"accuracy", "solve_p", "solve_r", "solve_f1", "tool_hallucination_rate", "n", "per_scenario"}
    assert "| all |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        toolhop.main(["--data", str(tmp_path / "missing.jsonl")])
    with pytest.raises(SystemExit):
        toolhop.main(["--data", str(data), "--max-turns", "0"])
