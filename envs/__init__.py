"""cleanagent environments: `make(name, **options)`, `names()`, `tasks(name, split, tier)`.

Every env is a `envs.base.TextEnv`: Gymnasium-style `reset(task_id)` / `step(reply_text)` /
`close()` over text. Env modules are imported lazily, so an env's heavy dependencies are only
needed when that env is used.

Layout, one rule: an env whose code is one module is a file `envs/<name>.py` (vowels); an env of
more than one module is a package `envs/<name>/` whose `__init__.py` exports the env class and
re-exports its modules' public names (babyai, sciworld, searchqa, textcraft, tooluse, webshop).
The other modules here are shared by the envs: `base` (TextEnv, reply parsing), `bm25`, and the
HTTP layer (`protocol`, `server`, `remote`). Everything under `envs/` is runtime code: it imports
neither the training scripts nor the trainers' shared package; an env's recitation probe is its
own module (`perturb.py`), imported only when the env's `perturb=` option is set; and offline
data generators live outside, in `generators/`.
"""

from __future__ import annotations

import importlib

from envs.base import ParsedReply, TextEnv, parse_react

_REGISTRY = {
    "babyai": "envs.babyai:BabyAIEnv",
    "searchqa": "envs.searchqa:SearchQAEnv",
    "sciworld": "envs.sciworld:SciWorldEnv",
    "textcraft": "envs.textcraft:TextCraftEnv",
    "tooluse": "envs.tooluse:ToolUseEnv",
    "webshop": "envs.webshop:WebShopEnv",
    "vowels": "envs.vowels:VowelsEnv",
}


def names() -> list[str]:
    """Names accepted by `make`."""
    return sorted(_REGISTRY)


def env_class(name: str) -> type[TextEnv]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; choose one of: {', '.join(names())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def parse_options(text: str | None) -> dict:
    """`k=v,k2=v2` -> {k: v}; values become int, float, bool or None where they read as one."""
    options: dict = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {item.strip()!r}")
        value = value.strip()
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                pass
        if isinstance(value, str) and value.lower() in ("true", "false", "none"):
            value = {"true": True, "false": False, "none": None}[value.lower()]
        options[key.strip()] = value
    return options


def make(name: str, **options) -> TextEnv:
    """Create an env by name; `options` go to its constructor (e.g. `action_format="lenient"`)."""
    return env_class(name)(**options)


def tasks(name: str, split: str = "train", tier: int | None = None, **options) -> list[int]:
    """Stable task ids of `split` ("train" or "test"), optionally only difficulty `tier`."""
    return env_class(name).tasks(split, tier, **options)


__all__ = ["ParsedReply", "TextEnv", "env_class", "make", "names", "parse_options", "parse_react", "tasks"]
