"""Tests of the WebShop env: expert, robustness, determinism, reward arithmetic, tasks, loader."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import envs
from envs.webshop import WebShopEnv, get_catalog, load_original_catalog, vocab
from envs.webshop.reward import (
    attribute_matches,
    normalize_color,
    option_matches,
    purchase_reward,
    title_nouns,
    type_reward,
)
from fresh_process import run_json

ROOT = Path(__file__).resolve().parents[1]
REPLY = "Thought: next step.\nAction: {}"


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv()


def play_expert(env: WebShopEnv, task_id: int, limit: int = 40):
    obs, info = env.reset(task_id)
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(REPLY.format(env.expert_action()))
        assert info["format_ok"], (task_id, obs)
        if terminated:
            return reward, info
    raise AssertionError(f"expert did not finish task {task_id}")


# ------------------------------------------------------------------------------ expert
def test_expert_solves_every_test_task(env):
    for task_id in WebShopEnv.tasks("test"):
        reward, info = play_expert(env, task_id)
        assert reward == 1.0 and info["success"] and info["score"] == 1.0, (task_id, info)


def test_target_findable_for_every_goal():
    """The expert's search (instruction, else title) lists the target for all goals of the default shop."""
    env = WebShopEnv()
    catalog = env.catalog
    for goal in catalog.goals:
        env.reset(goal.id)
        assert goal.asin in catalog.search(env._expert_keywords()), goal.id


def test_expert_after_detours_and_wrong_options(env):
    """The expert recovers from any state: wrong product page, a wrong option, a sub-page."""
    task = next(t for t in WebShopEnv.tasks("test") if env.catalog.goals[t].options)
    goal = env.catalog.goals[task]
    env.reset(task)
    env.step(REPLY.format(env.expert_action()))  # search
    while env._page.kind == "results" and goal.asin.lower() not in env._page.clickables:
        env.step(REPLY.format(env.expert_action()))
    other = next(c for c in env._page.clickables if c.startswith("b0") and c != goal.asin.lower()) \
        if sum(c.startswith("b0") for c in env._page.clickables) > 1 else None
    if other:
        env.step(REPLY.format(f"click[{other}]"))
        assert env.expert_action() == "click[< prev]"
        env.step(REPLY.format("click[< prev]"))
    env.step(REPLY.format(f"click[{goal.asin.lower()}]"))
    kind, value = next(iter(goal.options.items()))
    wrong = next(v for v in env._product.options[kind] if v != value)
    env.step(REPLY.format(f"click[{wrong}]"))
    env.step(REPLY.format("click[reviews]"))
    for _ in range(10):
        obs, reward, terminated, _, info = env.step(REPLY.format(env.expert_action()))
        if terminated:
            break
    assert reward == 1.0 and info["success"]
    assert env.expert_action() == ""


# ------------------------------------------------------------------------ observations
def test_reset_shows_instruction_and_search_box(env):
    task = WebShopEnv.tasks("test")[0]
    obs, info = env.reset(task)
    assert env.catalog.goals[task].instruction in obs
    assert obs.splitlines()[-1] == "Available actions: search[<keywords>]"
    assert info == {"success": False, "score": 0.0, "action": None, "format_ok": True, "page": "search"}


def test_pages_navigation_and_compact_observations(env):
    task = WebShopEnv.tasks("test")[3]
    env.reset(task)
    obs, reward, terminated, _, info = env.step(REPLY.format("search[water bottle]"))
    assert info["page"] == "results" and reward == 0.0 and not terminated
    last = obs.splitlines()[-1]
    assert last.startswith("Available actions: click[back to search], click[next >], click[b0")
    assert "click[< prev]" not in last
    assert len(obs) / 4 < 350, len(obs)
    assert len([line for line in obs.splitlines() if line.startswith("[b0")]) == 10
    obs, *_ , info = env.step(REPLY.format("click[Next >]"))  # case-insensitive
    assert "page 2 of" in obs and "click[< prev]" in obs.splitlines()[-1]
    first = env._page.clickables[3]
    obs, *_ , info = env.step(REPLY.format(f"click[{first.upper()}]"))
    assert info["page"] == "item" and info["format_ok"]
    for button in ("back to search", "< prev", "description", "features", "reviews", "buy now"):
        assert f"click[{button}]" in obs.splitlines()[-1]
    for sub in ("description", "features", "reviews"):
        obs, *_ , info = env.step(REPLY.format(f"click[{sub}]"))
        assert info["page"] == sub and obs.splitlines()[-1] == "Available actions: click[back to search], click[< prev]"
        assert len(obs) / 4 < 350
        obs, *_ , info = env.step(REPLY.format("click[< prev]"))
        assert info["page"] == "item"
    obs, *_ , info = env.step(REPLY.format("click[< prev]"))
    assert info["page"] == "results" and "page 2 of" in obs
    obs, *_ , info = env.step(REPLY.format("click[back to search]"))
    assert info["page"] == "search"


def test_option_click_replaces_same_kind(env):
    catalog = env.catalog
    goal = next(g for g in catalog.goals if "color" in catalog.by_asin[g.asin].options)
    product = catalog.by_asin[goal.asin]
    env.reset(goal.id)
    env.step(REPLY.format(f"search[{product.title}]"))
    env.step(REPLY.format(f"click[{product.asin.lower()}]"))
    first, second = product.options["color"][:2]
    env.step(REPLY.format(f"click[{first}]"))
    assert env._selected["color"] == first
    obs, *_ = env.step(REPLY.format(f"click[{second}]"))
    assert env._selected["color"] == second and f"(selected: {second})" in obs


# ----------------------------------------------------------------------- bad replies
HOSTILE = [
    "",
    None,
    b"\xff\xfe\x00\x81garbage".decode("utf-8", errors="replace"),
    "x" * 100_000,
    "Thought: hmm\nAction: search[a]\nAction: click[buy now]",
    "Action: " + "search[" + "a" * 100_000 + "]",
    "Action:",
    "Action: dance[wildly]",
    "Action: click[buy now]",  # not on the search page
    "Action: search[]",
    "Action: click[]",
    "\x00\x00Action: \x00",
    "Thought: " + "Action " * 5000,
]


@pytest.mark.parametrize("reply", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_replies_are_safe(env, reply):
    env.reset(WebShopEnv.tasks("test")[0])
    obs, reward, terminated, truncated, info = env.step(reply)
    assert reward == 0.0 and not terminated and not truncated
    assert obs.startswith("Invalid action.") and "Expected:" in obs
    assert obs.splitlines()[-1] == "Available actions: search[<keywords>]"
    assert info["format_ok"] is False and info["error"] and info["success"] is False and info["score"] == 0.0
    assert len(obs) < 1000


def test_invalid_actions_on_other_pages(env):
    env.reset(WebShopEnv.tasks("test")[1])
    env.step(REPLY.format("search[yoga mat]"))
    for bad, fragment in [("search[socks]", "no search box"), ("click[buy now]", "not clickable"),
                          ("click[b0zzzzzzzz]", "not clickable")]:
        obs, reward, terminated, _, info = env.step(REPLY.format(bad))
        assert fragment in info["error"] and reward == 0.0 and not terminated
        assert info["action"] == bad and info["format_ok"] is False
        assert obs.splitlines()[-1].startswith("Available actions: click[back to search]")
    assert env._page.kind == "results"  # nothing moved


def test_random_replies_never_raise():
    env = WebShopEnv(action_format="lenient")
    rng = random.Random(0)
    words = ["search[", "click[", "]", "Action:", "Thought:", "buy now", "next >", "< prev", "back to search",
             "b0", "red", "\n", " ", "description", "[", "pack of 2", "\x00", "é", "ü"]
    for episode in range(30):
        env.reset(rng.choice(WebShopEnv.tasks("train")))
        for _ in range(15):
            if rng.random() < 0.5:
                clickables = env._page.clickables or ("x",)
                reply = REPLY.format(rng.choice([f"click[{rng.choice(clickables)}]", "search[shoes]"]))
            else:
                reply = "".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
            obs, reward, terminated, truncated, info = env.step(reply)
            assert {"success", "score", "action", "format_ok"} <= info.keys()
            assert 0.0 <= reward <= 1.0 and obs.splitlines()[-1].startswith("Available actions:")
            if not info["format_ok"] and info.get("error"):
                assert reward == 0.0
            if terminated:
                break


def test_steps_after_purchase_and_before_reset():
    env = WebShopEnv()
    obs, reward, terminated, _, info = env.step(REPLY.format("search[x]"))
    assert reward == 0.0 and info["error"] and not terminated
    reward, info = play_expert(env, WebShopEnv.tasks("test")[2])
    obs, reward, terminated, _, info = env.step(REPLY.format("click[buy now]"))
    assert terminated and reward == 0.0 and info["success"] and info["score"] == 1.0 and info["error"]


def test_lenient_accepts_bare_command_strict_does_not():
    task = WebShopEnv.tasks("test")[0]
    strict, lenient = WebShopEnv(), WebShopEnv(action_format="lenient")
    strict.reset(task)
    lenient.reset(task)
    obs, _, _, _, info = strict.step("I will search.\nsearch[red shoes]")
    assert info["action"] is None and info["format_ok"] is False and obs.startswith("Invalid action.")
    obs, _, _, _, info = lenient.step("I will search.\nsearch[red shoes]")
    assert info["action"] == "search[red shoes]" and info["format_ok"] is False and "error" not in info
    assert info["page"] == "results"
    obs, _, _, _, info = lenient.step("Thought: ok\nAction: click[back to search]")
    assert info["format_ok"] is True


def test_wrong_product_gets_partial_reward(env):
    catalog = env.catalog
    goal = catalog.goals[WebShopEnv.tasks("test")[0]]
    other = next(p for p in catalog.products if p.query != goal.query and p.category != goal.category)
    env.reset(goal.id)
    env.step(REPLY.format(f"search[{other.title}]"))
    env.step(REPLY.format(f"click[{other.asin.lower()}]"))
    obs, reward, terminated, _, info = env.step(REPLY.format("click[buy now]"))
    assert terminated and reward < 1.0 and not info["success"] and info["score"] == reward
    assert info["purchase"]["asin"] == other.asin and "Score:" in obs


# ----------------------------------------------------------------------- determinism
def test_same_task_same_observations():
    a, b = WebShopEnv(), WebShopEnv()
    for task in WebShopEnv.tasks("test")[:20]:
        assert a.reset(task) == b.reset(task)
        for _ in range(4):
            action = REPLY.format(a.expert_action())
            assert a.step(action) == b.step(action)


def test_catalog_is_identical_across_processes():
    """No dependence on hash randomisation: another process with another hash seed agrees."""
    code = ("import json; from envs.webshop import WebShopEnv; e = WebShopEnv();"
            "print(json.dumps([e.reset(t)[0] for t in (0, 5, 99, 1000)] + "
            "[e.catalog.search('cotton t-shirt')]))")
    assert run_json(code, "1") == run_json(code, "2")


def test_catalog_prefix_and_sharing():
    small, large = get_catalog(num_products=300), get_catalog(num_products=600)
    assert [p.title for p in small.products] == [p.title for p in large.products[:300]]
    assert get_catalog(num_products=300) is small
    assert WebShopEnv(num_products=300).catalog is small


def test_generated_catalog_looks_like_a_shop(env):
    catalog = env.catalog
    assert len(catalog.products) == 1000 and len({p.title for p in catalog.products}) == 1000
    assert {p.category for p in catalog.products} == {c.key for c in vocab.CATEGORIES}
    for p in catalog.products[:200]:
        assert p.asin.startswith("B0") and len(p.asin) == 10
        assert p.bullets and p.description and len(p.attributes) >= 3 and p.price > 0
        assert " › " in p.product_category and p.query
        assert len(catalog.reviews(p)) >= 2 and catalog.reviews(p) == catalog.reviews(p)
    for g in catalog.goals[:200]:
        product = catalog.by_asin[g.asin]
        assert product.price <= g.price_upper and g.price_upper % 10 == 0
        assert set(g.attributes) <= set(product.attributes)
        assert all(product.options[k] and v in product.options[k] for k, v in g.options.items())
        assert g.instruction.endswith(f"price lower than {g.price_upper:.2f} dollars")


def test_option_values_do_not_match_each_other():
    """Within a product type, buying the wrong value of an option never counts as the right one."""
    for category in vocab.CATEGORIES:
        for ptype in category.types:
            values = [v for vs in ptype.options.values() for v in vs]
            assert len(values) == len(set(values)), ptype.name
            for kind, vs in ptype.options.items():
                for a in vs:
                    for b in vs:
                        assert a == b or option_matches({kind: a}, {kind: b}) == 0, (ptype.name, a, b)


# ----------------------------------------------------------------------------- tasks
def test_tasks_splits_and_tiers():
    test, train = WebShopEnv.tasks("test"), WebShopEnv.tasks("train")
    assert test == list(range(100)) and train == list(range(100, 2501))
    assert WebShopEnv.tasks("test") == test and envs.tasks("webshop", "test") == test
    tiers = {t: WebShopEnv.tasks("test", t) for t in (1, 2, 3)}
    assert {t: len(ids) for t, ids in tiers.items()} == {1: 45, 2: 35, 3: 20}
    assert sorted(sum(tiers.values(), [])) == test
    assert sum(len(WebShopEnv.tasks("train", t)) for t in (1, 2, 3)) == len(train)
    catalog = get_catalog()
    for tier, (low, high) in ((1, (1, 2)), (2, (3, 3)), (3, (4, 99))):
        assert all(low <= catalog.goals[i].num_constraints <= high for i in tiers[tier])
    assert len(WebShopEnv.tasks("test", num_products=300, action_format="lenient")) == 100


@pytest.mark.parametrize("split, tier", [("dev", None), ("TEST", None), ("test", 0), ("train", 4), ("test", "1")])
def test_tasks_rejects_unknown_split_or_tier(split, tier):
    with pytest.raises(ValueError, match="split|tier"):
        WebShopEnv.tasks(split, tier)


def test_reset_rejects_unknown_task(env):
    for bad in (-1, 10**9, "3", None, 1.0):
        with pytest.raises(ValueError, match="task_id"):
            env.reset(bad)


def test_registry_makes_webshop():
    env = envs.make("webshop", action_format="lenient")
    assert isinstance(env, WebShopEnv) and env.name == "webshop" and env.action_format == "lenient"
    assert "Thought:" in env.instructions and "Action:" in env.instructions
    assert "search[" in env.instructions and "click[" in env.instructions
    assert env.command_re.fullmatch("search[red shoes]") and env.command_re.fullmatch("click[< prev]")
    assert not env.command_re.fullmatch("buy the shoes")


# ------------------------------------------------------------------------------ reward
def reward_of(**overrides):
    parts = dict(
        goal_attributes=["long lasting", "cruelty free"], goal_options={"flavor": "cherry"}, price_upper=20.0,
        price=12.99, selected_options={"flavor": "cherry"},
        product_attributes=["long lasting", "cruelty free", "spf 15"], title="Honeyleaf Everyday Lip Balm",
        bullets=["MOISTURIZING: soft lips"], description="A balm for dry lips.", r_type=1.0,
    )
    parts.update(overrides)
    return purchase_reward(**parts)[0]


def test_reward_full_match():
    assert reward_of() == 1.0


def test_reward_partial_attributes():
    # 1 of 2 attributes + 1 option + price: (1 + 1 + 1) / (2 + 1 + 1)
    assert reward_of(product_attributes=["long lasting"]) == pytest.approx(3 / 4)
    # an attribute found only in the text (description substring) still counts
    assert reward_of(product_attributes=["long lasting"], description="Cruelty free and vegan.") == 1.0
    # fuzzy: punctuation and case do not matter (token-set ratio with preprocessing)
    assert reward_of(product_attributes=["Long-Lasting", "cruelty-free"]) == 1.0


def test_reward_over_budget():
    assert reward_of(price=25.0) == pytest.approx(3 / 4)
    assert reward_of(price=20.0) == 1.0  # "lower than" is inclusive in WebShop (price <= budget)


def test_reward_option_mismatch():
    assert reward_of(selected_options={"flavor": "vanilla"}) == pytest.approx(3 / 4)
    assert reward_of(selected_options={}) == pytest.approx(3 / 4)
    two = {"flavor": "cherry", "pack": "pack of 4"}
    assert reward_of(goal_options=two,
                     selected_options={"flavor": "cherry", "pack": "pack of 12"}) == pytest.approx(4 / 5)
    assert reward_of(goal_options=two, selected_options=two) == 1.0


def test_option_matching_rules():
    assert option_matches({"size": "x-large"}, {"size": "xx-large"}) == 0  # size: exact
    assert option_matches({"size": "7"}, {"size": "7.5"}) == 0
    assert option_matches({"color": "grey"}, {"color": "heather grey"}) == 1  # colour normalisation
    assert option_matches({"pack": "pack of 3"}, {"pack": "pack of 6"}) == 0  # numbers must agree
    assert option_matches({"flavor": "Cherry"}, {"flavor": "cherry "}) == 1
    assert option_matches({"color": "red", "size": "large"}, {"size": "large", "color": "red", "x": "y"}) == 2


def test_normalize_color_like_webshop():
    for value, expected in [("", ""), ("black forest", "black"), ("violet lavender", "lavender"),
                            ("steelivy fuchsia", "fuchsia"), ("123alabaster", "alabaster"), ("webshop", "webshop")]:
        assert normalize_color(value) == expected


def test_type_reward_levels():
    goal = ("lip balm", "Beauty › Skin Care › Lip Care", "Honeyleaf Lip Balm")
    same = type_reward("lip balm", "Beauty › Skin Care › Lip Care", "Lumina Lip Balm Stick", *goal)
    assert same.r_type == 1.0 and same.query_match and same.category_match
    assert same.title_score == pytest.approx(2 / 3)
    # different query and category, no shared title noun -> 0
    wrong = type_reward("hdmi cable", "Electronics › Cables", "Voltix HDMI Cable", *goal)
    assert wrong.r_type == 0.0 and wrong.title_score == 0.0
    # shares 1 of 5 goal nouns (0.2, not > 0.2) and nothing else -> 0.5
    five = ("q", "A › B", "Alpha Bravo Charlie Delta Echo")
    assert type_reward("other", "C › D", "Alpha Zulu", *five).r_type == 0.5
    # shares 1 of 11 goal nouns (< 0.1) -> 0.1, even with the same query
    eleven = ("q", "A › B", "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliet Kilo")
    assert type_reward("q", "A › B", "Alpha Zulu", *eleven).r_type == 0.1
    # shares 2 of 5 (> 0.2) -> 1 even with different query and category
    assert type_reward("other", "C › D", "Alpha Bravo", *five).r_type == 1.0


def test_wrong_type_scales_the_reward():
    assert reward_of(r_type=0.5) == pytest.approx(0.5)
    assert reward_of(r_type=0.0) == 0.0
    assert reward_of(r_type=0.5, price=99.0) == pytest.approx(0.5 * 3 / 4)


def test_title_nouns_and_attribute_matches():
    assert title_nouns("Honeyleaf Everyday Long Lasting Lip Balm, Pack of 4") == ["honeyleaf", "lip", "balm"]
    assert attribute_matches(["gluten free", "spf 30"], ["gluten-free"], "Bar", [], "") == 1
    assert attribute_matches(["spf 30"], ["spf 15"], "Lip Balm", ["with SPF 30 inside"], "") == 1


# ------------------------------------------------------------------- original loader
def write_original_fixture(tmp_path: Path) -> dict[str, Path]:
    items = [
        {"asin": "B000LIPBA1", "name": "Burt's Bees Cherry Lip Balm, Long Lasting Moisture, Pack of 4",
         "category": "beauty", "query": "lip balm", "product_category": "Beauty & Personal Care › Skin Care › Lips",
         "full_description": "A nourishing lip balm with beeswax.", "small_description": ["Long lasting", "Natural"],
         "pricing": "$8.99", "images": ["x.jpg"],
         "customization_options": {"Flavor Name": [{"value": "Cherry", "image": None},
                                                   {"value": "Mint/Vanilla", "image": None}]},
         "Reviews": [{"title": "Nice", "stars": "5", "review": "Love it"}], "average_rating": 4.6},
        {"asin": "B000SHOES2", "name": "Trail Running Shoes for Men", "category": "fashion", "query": "running shoes",
         "product_category": "Clothing, Shoes & Jewelry › Men › Shoes", "full_description": "Light trail shoes.",
         "small_description": "Breathable mesh upper", "pricing": "$40.00$60.00",
         "customization_options": {"Size": [{"value": "9"}, {"value": "10"}],
                                   "Color": [{"value": "Black"}, {"value": "Blue"}]}},
        {"asin": "nan", "name": "broken", "pricing": ""},
        {"asin": "B000GRANO3", "name": "Organic Granola, Gluten Free", "category": "grocery", "query": "granola",
         "product_category": "Grocery › Breakfast › Granola", "full_description": "", "small_description": [],
         "pricing": "", "customization_options": None},
    ]
    attrs = {
        "B000LIPBA1": {"attributes": ["long lasting", "natural ingredients"],
                       "instruction": "i want a long lasting lip balm", "instruction_attributes": ["long lasting"]},
        "B000SHOES2": {"attributes": ["breathable"], "instruction": "i need breathable running shoes",
                       "instruction_attributes": ["breathable"]},
    }
    human = {
        "B000LIPBA1": [{"instruction": "i need a long lasting lip balm in cherry flavor.",
                        "instruction_attributes": ["long lasting"], "instruction_options": ["cherry"]},
                       {"instruction": "lip balm please", "instruction_attributes": [], "instruction_options": []}],
        "B000SHOES2": [{"instruction": "i want breathable running shoes in size 10 and blue color",
                        "instruction_attributes": ["breathable"], "instruction_options": ["10", "blue"]}],
        "B000GRANO3": [{"instruction": "find gluten free granola", "instruction_attributes": ["gluten free"],
                        "instruction_options": []}],
    }
    paths = {"items": tmp_path / "items_shuffle_1000.json", "attrs": tmp_path / "items_ins_v2_1000.json",
             "human": tmp_path / "items_human_ins.json"}
    for key, data in (("items", items), ("attrs", attrs), ("human", human)):
        paths[key].write_text(json.dumps(data))
    return paths


def test_original_loader_reads_webshop_format(tmp_path):
    paths = write_original_fixture(tmp_path)
    catalog = load_original_catalog(paths["items"], paths["attrs"], paths["human"])
    assert [p.asin for p in catalog.products] == ["B000LIPBA1", "B000SHOES2", "B000GRANO3"]
    lip, shoes, granola = catalog.products
    assert lip.options == {"flavor name": ("cherry", "mint | vanilla")}
    assert lip.price == 8.99 and lip.price_text == "$8.99" and lip.rating == 4.6
    assert lip.bullets == ("Long lasting", "Natural") and lip.attributes == ("long lasting", "natural ingredients")
    assert catalog.reviews(lip)[0].score == 5 and catalog.reviews(lip)[0].body == "Love it"
    assert 40.0 <= shoes.price <= 60.0 and shoes.price_text == "$40.00 to $60.00"
    assert shoes.bullets == ("Breathable mesh upper",)
    assert granola.price == 100.0 and granola.attributes == ("DUMMY_ATTR",) and granola.options == {}
    assert len(catalog.goals) == 3  # the human goal without attributes is skipped
    by_asin = {g.asin: g for g in catalog.goals}
    assert by_asin["B000LIPBA1"].options == {"flavor name": "cherry"}
    assert by_asin["B000SHOES2"].options == {"size": "10", "color": "blue"}
    assert by_asin["B000LIPBA1"].instruction.startswith("i need a long lasting lip balm in cherry flavor, and price")
    # synthetic goals from the attributes file when there is no human file
    synthetic = load_original_catalog(paths["items"], paths["attrs"])
    assert {g.asin for g in synthetic.goals} == {"B000LIPBA1", "B000SHOES2"}
    assert any("with flavor name: cherry" in g.instruction for g in synthetic.goals)


def test_original_catalog_in_env_expert_solves_all(tmp_path):
    paths = write_original_fixture(tmp_path)
    env = WebShopEnv(items_path=str(paths["items"]), attributes_path=str(paths["attrs"]),
                     human_goals_path=str(paths["human"]))
    assert WebShopEnv.tasks("test", items_path=str(paths["items"]), attributes_path=str(paths["attrs"]),
                            human_goals_path=str(paths["human"])) == [0, 1, 2]
    for task in range(3):
        reward, info = play_expert(env, task)
        assert reward == 1.0 and info["success"], info


def test_original_loader_rejects_malformed_files(tmp_path):
    paths = write_original_fixture(tmp_path)
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_original_catalog(bad, paths["attrs"])
    with pytest.raises(ValueError, match="broken.json"):
        load_original_catalog(paths["items"], bad)
    wrong_top = tmp_path / "dict_items.json"
    wrong_top.write_text(json.dumps({"asin": "B0"}))
    with pytest.raises(ValueError, match="dict_items.json"):
        load_original_catalog(wrong_top, paths["attrs"])
    no_asin = tmp_path / "no_asin.json"
    no_asin.write_text(json.dumps([{"name": "thing"}]))
    with pytest.raises(ValueError, match="no_asin.json.*asin"):
        load_original_catalog(no_asin, paths["attrs"])
    bad_human = tmp_path / "bad_human.json"
    bad_human.write_text(json.dumps({"B000LIPBA1": "not a list"}))
    with pytest.raises(ValueError, match="bad_human.json"):
        load_original_catalog(paths["items"], None, bad_human)
    with pytest.raises(ValueError, match="attributes_path"):
        load_original_catalog(paths["items"])
