"""WebShopEnv: shop for the product an instruction describes (search, open, choose options, buy).

A text re-implementation of princeton-nlp's WebShop for `envs.base.TextEnv`: the same pages
(search, results with 10 of 50 hits per page, item page with options, description / features /
reviews sub-pages), the same two actions (`search[keywords]`, `click[value]`) and the same
reward on Buy Now (see `envs.webshop.reward`). The catalog is generated (or loaded from the
original WebShop files) once per process and shared by all instances, so an env is cheap to
create; its own state is just the current page.
"""

from __future__ import annotations

import numbers
import re

from envs.base import TextEnv, check_split, invalid_reply_observation
from envs.webshop import pages
from envs.webshop.catalog import Catalog, Goal, Product, allowed_option, get_catalog
from envs.webshop.reward import score_purchase

CATALOG_OPTIONS = ("num_products", "seed", "items_path", "attributes_path", "human_goals_path", "reviews_path")
PERTURBATIONS = ("invert",)
"""Values of the `perturb` option (None: the goals as generated)."""
MAX_KEYWORDS_CHARS = 200
SUCCESS_EPS = 1e-9

_ACTION_RE = re.compile(r"(search|click)\s*\[(.*)\]", re.IGNORECASE | re.DOTALL)

INSTRUCTIONS = """\
You are shopping in an online store for a customer. Each observation starts with the customer's \
instruction, shows the current page, and ends with a line "Available actions: ..." listing \
everything the page accepts. There are two kinds of action:
- search[keywords]: type keywords into the search box (only where search[...] is listed).
- click[value]: click one of the listed buttons, product ids or option values, for example \
click[b0kelomari], click[next >], click[red], click[buy now].
Search, open a product that fits, click the option values the customer asks for (size, color, \
flavor ...), check that the price is within the budget, then click[buy now]. Buying ends the \
episode; the score says how well the product, its selected options and its price match the \
instruction.
Reply with a short thought and exactly one action, in this format:
Thought: <your reasoning>
Action: <one action>"""

_OPENERS = re.compile(r"^(i need|i'm looking for|i am looking for|i want to buy|i want|find me|"
                      r"i am searching for|looking for)\s+", re.IGNORECASE)
_PRICE_PHRASE = re.compile(r", and price (?:lower|higher) than")
_EXPECTED = "a 'Thought: ...' line, then one 'Action: ...' line holding one action from the list below."


class WebShopEnv(TextEnv):
    """The WebShop shopping task.

    Constructor options:
        action_format: "strict" (published ReAct format) or "lenient" (also accept a bare
            `search[...]` / `click[...]` line; format_ok stays False for those).
        num_products: size of the generated catalog (default 1000; goals: 2-3 per product).
        seed: catalog seed; the same (num_products, seed) gives the same shop everywhere.
        items_path, attributes_path, human_goals_path, reviews_path: use the original WebShop
            files instead (see `envs.webshop.original`); `num_products` then keeps the first N.
        perturb: "invert" makes each goal a recitation probe (RoR-Bench's idea for agents): one
            constraint is inverted (`envs.webshop.perturb.invert_goal`): "price lower than 50.00 dollars"
            becomes "price higher than ..." where a pricier product of the same type matches
            the rest, else one option becomes "a <kind> other than <value>". Buying what the
            original goal asks for then scores below 1; the reward follows the inverted goal.
            A goal that cannot be inverted either way (8 of the default shop's 100 test goals)
            is replaced by the next one of its split that can; reset's info says which
            (`perturbed`). Task ids and tiers are those of the original goals.

    Task ids index the catalog's goals: `tasks("test")` is the first 100, `tasks("train")` the
    rest. Tiers group goals by their number of constraints (attributes + options; the price
    budget is always there): tier 1 = 1-2, tier 2 = 3, tier 3 = 4 or more.
    """

    name = "webshop"
    instructions = INSTRUCTIONS
    demonstration = (
        (
            "Instruction: i need a red cotton t-shirt in size large, and price lower than 20.00 dollars\n"
            "[Search page] Type keywords into the search box to find products.\n"
            "Available actions: search[<keywords>]",
            "Thought: I should search for the product first.\nAction: search[red cotton t-shirt large]",
        ),
        (
            "Instruction: i need a red cotton t-shirt in size large, and price lower than 20.00 dollars\n"
            "[Results page 1 of 5] 50 products:\n"
            "[b0tasokeri] Northwind Classic Cotton T-Shirt Crew Neck $14.99\n"
            "[b0pimalude] Bright Line Sport T-Shirt $24.50\n"
            "Available actions: click[back to search], click[next >], click[b0tasokeri], click[b0pimalude]",
            "Thought: b0tasokeri is a cotton t-shirt under 20 dollars.\nAction: click[b0tasokeri]",
        ),
        (
            "Instruction: i need a red cotton t-shirt in size large, and price lower than 20.00 dollars\n"
            "[Item b0tasokeri] Northwind Classic Cotton T-Shirt Crew Neck\n"
            "Price: $14.99 | Rating: 4.2 out of 5\n"
            "size: small | medium | large\n"
            "color: red | black\n"
            "Available actions: click[back to search], click[< prev], click[description], click[features], "
            "click[reviews], click[buy now], click[small], click[medium], click[large], click[red], click[black]",
            "Thought: I need size large.\nAction: click[large]",
        ),
    )
    command_re = re.compile(r"(?:search|click)\s*\[[^\[\]\n]{1,300}\]", re.IGNORECASE)

    def __init__(self, action_format: str = "strict", num_products: int | None = 1000, seed: int = 0,
                 items_path: str | None = None, attributes_path: str | None = None,
                 human_goals_path: str | None = None, reviews_path: str | None = None, perturb: str | None = None):
        super().__init__(action_format)
        if perturb is not None and perturb not in PERTURBATIONS:
            raise ValueError(f"webshop perturb must be None or one of {PERTURBATIONS}, got {perturb!r}")
        self.perturb = perturb
        self.catalog: Catalog = get_catalog(num_products=num_products, seed=seed, items_path=items_path,
                                            attributes_path=attributes_path, human_goals_path=human_goals_path,
                                            reviews_path=reviews_path)
        self.goal: Goal | None = None
        self._page: pages.Page | None = None
        self._keywords = ""
        self._results: list[str] = []
        self._page_no = 1
        self._product: Product | None = None
        self._selected: dict[str, str] = {}
        self._done = False
        self._score = 0.0
        self._expert_query: str | None = None
        self._purchase: dict | None = None

    # ----------------------------------------------------------------------------- tasks
    @classmethod
    def tasks(cls, split: str = "train", tier: int | None = None, **options) -> list[int]:
        """Stable task ids of `split`; `tier` 1 / 2 / 3 = 1-2 / 3 / 4+ goal constraints.

        `options` are constructor options; the catalog ones (num_products, seed, data paths)
        select the catalog, the others are ignored.
        """
        check_split(split)
        catalog = get_catalog(**{k: v for k, v in options.items() if k in CATALOG_OPTIONS})
        return catalog.task_ids(split, tier)

    # ------------------------------------------------------------------------ episode api
    def reset(self, task_id: int) -> tuple[str, dict]:
        n = len(self.catalog.goals)
        if isinstance(task_id, bool) or not isinstance(task_id, numbers.Integral) or not 0 <= task_id < n:
            raise ValueError(f"webshop task_id must be an integer in [0, {n}), got {task_id!r}")
        if self.perturb is None:
            self.goal = self.catalog.goals[int(task_id)]
        else:
            from envs.webshop.perturb import inverted_goal  # the recitation probe, only when asked for

            self.goal = inverted_goal(self.catalog, int(task_id))
        self._done, self._score, self._expert_query = False, 0.0, None
        self._to_search_page()
        info = self._info(None, True)
        if self.perturb is not None:
            info["perturbed"] = {"constraint": "price" if self.goal.price_lower is not None else "option",
                                 "goal_id": self.goal.id}
        return self._page.observation, info

    def step(self, reply) -> tuple[str, float, bool, bool, dict]:
        if self.goal is None:
            error = "No task is running; call reset(task_id) first."
            return error, 0.0, False, False, self._info(None, False, error)
        if self._done:
            error = "The episode is over: a product was already bought."
            obs = f"{error} Reset to start a new task.\nAvailable actions: none (the episode is over)"
            return obs, 0.0, True, False, self._info(None, False, error)
        parsed = self.parse(reply)
        if parsed.action is None:
            return self._invalid(None, parsed.error)
        action = parsed.action
        error = self._execute(action)
        if error is not None:
            return self._invalid(action, error)
        reward = self._score if self._done else 0.0
        return self._page.observation, reward, self._done, False, self._info(action, parsed.format_ok)

    def _invalid(self, action: str | None, error: str):
        obs = f"{invalid_reply_observation(error, _EXPECTED)}\n{self._page.actions_line()}"
        return obs, 0.0, False, False, self._info(action, False, error)

    def _info(self, action: str | None, format_ok: bool, error: str | None = None) -> dict:
        info = {
            "success": self._done and self._score >= 1.0 - SUCCESS_EPS,
            "score": self._score,
            "action": action,
            "format_ok": format_ok and error is None,
            "page": self._page.kind if self._page is not None else None,
        }
        if error is not None:
            info["error"] = error
        if self._done and self._purchase is not None:
            info["purchase"] = self._purchase
        return info

    # --------------------------------------------------------------------------- actions
    def _execute(self, action: str) -> str | None:
        """Carry out `action` on the current page; return an error message when it is not valid."""
        match = _ACTION_RE.fullmatch(action.strip().rstrip(".").strip())
        if match is None:
            return (f"'{pages.shorten(action, 80)}' is not an action; "
                    "actions look like search[keywords] or click[value].")
        verb, arg = match.group(1).lower(), " ".join(match.group(2).split())
        page = self._page
        if verb == "search":
            if not page.search_bar:
                return "There is no search box on this page; click[back to search] leads to it."
            if not arg:
                return "search[...] needs keywords inside the brackets."
            self._search(arg[:MAX_KEYWORDS_CHARS])
            return None
        value = arg.lower()
        if value not in page.clickables:
            return f"'{pages.shorten(arg, 80)}' is not clickable on this page."
        self._click(value)
        return None

    def _to_search_page(self) -> None:
        self._keywords, self._results, self._page_no = "", [], 1
        self._product, self._selected = None, {}
        self._purchase = None
        self._page = pages.search_page(self.goal.instruction)

    def _search(self, keywords: str) -> None:
        self._keywords = keywords
        self._results = self.catalog.search(keywords)
        self._show_results(1)

    def _show_results(self, page_no: int) -> None:
        self._page_no = page_no
        self._product, self._selected = None, {}
        start = (page_no - 1) * pages.PRODUCTS_PER_PAGE
        shown = [self.catalog.by_asin[a] for a in self._results[start:start + pages.PRODUCTS_PER_PAGE]]
        self._page = pages.results_page(self.goal.instruction, self._keywords, shown, page_no, len(self._results))

    def _show_item(self) -> None:
        self._page = pages.item_page(self.goal.instruction, self._product, self._selected)

    def _click(self, value: str) -> None:
        kind = self._page.kind
        if value == pages.BACK_TO_SEARCH:
            self._to_search_page()
        elif kind == "results":
            if value == pages.NEXT_PAGE:
                self._show_results(self._page_no + 1)
            elif value == pages.PREV_PAGE:
                self._show_results(self._page_no - 1)
            else:  # a product id
                self._product = next(self.catalog.by_asin[a] for a in self._results if a.lower() == value)
                self._selected = {}
                self._show_item()
        elif kind == "item":
            if value == pages.PREV_PAGE:
                self._show_results(self._page_no)
            elif value in pages.SUBPAGES:
                reviews = self.catalog.reviews(self._product) if value == "reviews" else ()
                self._page = pages.sub_page(self.goal.instruction, self._product, value, reviews)
            elif value == pages.BUY_NOW:
                self._buy()
            else:  # an option value: select it, replacing the earlier choice of the same kind
                for option_kind, values in self._product.options.items():
                    hit = next((v for v in values if v.lower() == value), None)
                    if hit is not None:
                        self._selected[option_kind] = hit
                        break
                self._show_item()
        elif value == pages.PREV_PAGE:  # a sub-page
            self._show_item()

    def _buy(self) -> None:
        reward, breakdown = score_purchase(self._product, self.goal, self._selected)
        self._done, self._score = True, reward
        self._purchase = {"asin": self._product.asin, "options": dict(self._selected),
                          "price": self._product.price, **breakdown}
        self._page = pages.done_page(self._product, self._selected, reward)

    # ---------------------------------------------------------------------------- expert
    def expert_action(self) -> str:
        """The next command of a scripted expert that buys the goal's product with its options.

        It searches with the instruction minus its opener ("i need") and budget, falling back to
        the product title when that does not list the target among the 50 results, pages to the target, opens it,
        clicks each goal option and buys. Returns "" once the episode is over.
        """
        if self.goal is None or self._done:
            return ""
        goal, kind = self.goal, self._page.kind
        if kind == "search":
            return f"search[{self._expert_keywords()}]"
        if kind == "results":
            if goal.asin in self._results:
                target_page = self._results.index(goal.asin) // pages.PRODUCTS_PER_PAGE + 1
                if target_page == self._page_no:
                    return f"click[{goal.asin.lower()}]"
                return "click[next >]" if target_page > self._page_no else "click[< prev]"
            return "click[back to search]"
        if kind == "item":
            if self._product.asin != goal.asin:
                return "click[< prev]"
            for option_kind, value in goal.options.items():
                owner = next((k for k, vs in self._product.options.items() if value in vs), None)
                if owner is not None and owner == option_kind and self._selected.get(option_kind) != value \
                        and value.lower() in self._page.clickables:
                    return f"click[{value}]"
            for option_kind, excluded in goal.excluded_options.items():
                value = allowed_option(self._product, option_kind, excluded)
                if value is not None and self._selected.get(option_kind) != value:
                    return f"click[{value}]"
            return "click[buy now]"
        return "click[< prev]"

    def _expert_keywords(self) -> str:
        if self._expert_query is None:
            goal = self.goal
            wanted = _OPENERS.sub("", _PRICE_PHRASE.split(goal.instruction)[0])[:MAX_KEYWORDS_CHARS]
            candidates = [wanted, goal.name[:MAX_KEYWORDS_CHARS]]
            self._expert_query = next((q for q in candidates if goal.asin in self.catalog.search(q)), candidates[-1])
        return self._expert_query
