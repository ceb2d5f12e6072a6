"""The shop's pages as compact text.

WebShop's text mode flattens HTML into "[SEP]"-joined strings of several hundred tokens. The
default agent here is a small model with a short context, so each page is rendered as a few
plain lines instead (a results page is ~270 tokens by the chars/4 rule, ~400 SmolLM2 tokens,
since ids and prices split into many tokens): the instruction, the page's content, and a last
line listing every action the page accepts, e.g.

    Available actions: click[back to search], click[next >], click[b0kelomari], ...

Clickable labels are lower-case (as WebShop's own `get_available_actions` reports them) and
clicks are matched case-insensitively. A `Page` carries its text, its clickables and whether it
has a search box; the env validates actions against exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

BACK_TO_SEARCH = "back to search"
NEXT_PAGE = "next >"
PREV_PAGE = "< prev"
BUY_NOW = "buy now"
SUBPAGES = ("description", "features", "reviews")
PRODUCTS_PER_PAGE = 10

RESULT_TITLE_CHARS = 64
ITEM_TITLE_CHARS = 160
DESCRIPTION_CHARS = 700
BULLET_CHARS = 160
MAX_BULLETS = 6
REVIEW_CHARS = 200
MAX_REVIEWS = 3


@dataclass(frozen=True)
class Page:
    kind: str
    """"search", "results", "item", "description", "features", "reviews" or "done"."""
    body: str
    clickables: tuple[str, ...] = ()
    search_bar: bool = False

    def actions_line(self) -> str:
        actions = (["search[<keywords>]"] if self.search_bar else []) + [f"click[{c}]" for c in self.clickables]
        return "Available actions: " + (", ".join(actions) if actions else "none (the episode is over)")

    @property
    def observation(self) -> str:
        return f"{self.body}\n{self.actions_line()}"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _header(instruction: str) -> str:
    return f"Instruction: {instruction}"


def search_page(instruction: str) -> Page:
    body = f"{_header(instruction)}\n[Search page] Type keywords into the search box to find products."
    return Page("search", body, (), search_bar=True)


def results_page(instruction: str, keywords: str, products, page_no: int, total: int) -> Page:
    """`products` are the ones shown on this page; `total` counts all results."""
    pages = max(1, -(-total // PRODUCTS_PER_PAGE))
    if not products:
        body = (f"{_header(instruction)}\n[Results] No products match \"{shorten(keywords, 80)}\". "
                "Go back to search and try other keywords.")
        return Page("results", body, (BACK_TO_SEARCH,))
    lines = [_header(instruction), f"[Results page {page_no} of {pages}] {total} products:"]
    for p in products:
        lines.append(f"[{p.asin.lower()}] {shorten(p.title, RESULT_TITLE_CHARS)} {p.price_text}")
    clickables = [BACK_TO_SEARCH]
    if page_no > 1:
        clickables.append(PREV_PAGE)
    if page_no < pages:
        clickables.append(NEXT_PAGE)
    clickables += [p.asin.lower() for p in products]
    return Page("results", "\n".join(lines), tuple(clickables))


def option_clickables(product) -> list[str]:
    """Option values in display order, each once (the first option kind holding a value owns it)."""
    seen: list[str] = []
    reserved = {BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE, BUY_NOW, *SUBPAGES}
    for values in product.options.values():
        for value in values:
            if value.lower() not in seen and value.lower() not in reserved:
                seen.append(value.lower())
    return seen


def item_page(instruction: str, product, selected: dict[str, str]) -> Page:
    rating = f" | Rating: {product.rating:.1f} out of 5" if product.rating is not None else ""
    lines = [_header(instruction),
             f"[Item {product.asin.lower()}] {shorten(product.title, ITEM_TITLE_CHARS)}",
             f"Price: {product.price_text}{rating}"]
    for kind, values in product.options.items():
        chosen = selected.get(kind)
        shown = " | ".join(values)
        lines.append(f"{kind}: {shown}" + (f" (selected: {chosen})" if chosen else ""))
    clickables = [BACK_TO_SEARCH, PREV_PAGE, *SUBPAGES, BUY_NOW, *option_clickables(product)]
    return Page("item", "\n".join(lines), tuple(clickables))


def sub_page(instruction: str, product, kind: str, reviews=()) -> Page:
    head = f"[{kind.capitalize()} of {product.asin.lower()}] {shorten(product.title, RESULT_TITLE_CHARS)}"
    if kind == "description":
        content = shorten(product.description, DESCRIPTION_CHARS) or "(no description)"
    elif kind == "features":
        bullets = [f"- {shorten(b, BULLET_CHARS)}" for b in product.bullets[:MAX_BULLETS] if b.strip()]
        content = "\n".join(bullets) or "(no features listed)"
    else:
        shown = [f"- {r.score}/5 {shorten(r.title, 60)}: {shorten(r.body, REVIEW_CHARS)}"
                 for r in reviews[:MAX_REVIEWS]]
        content = "\n".join(shown) or "(no reviews yet)"
    return Page(kind, f"{_header(instruction)}\n{head}\n{content}", (BACK_TO_SEARCH, PREV_PAGE))


def done_page(product, selected: dict[str, str], reward: float) -> Page:
    chosen = ", ".join(f"{k}: {v}" for k, v in selected.items()) or "no options"
    body = (f"[Order placed] You bought {product.asin.lower()} ({shorten(product.title, RESULT_TITLE_CHARS)}) "
            f"with {chosen} for {product.price_text}. Score: {reward:.2f}")
    return Page("done", body, ())
