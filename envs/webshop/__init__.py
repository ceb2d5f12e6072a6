"""WebShop for cleanagent: a shopping env with a generated (or the original) product catalog.

Modules: `vocab` (taxonomy the catalog is generated from), `catalog` (products, goals, the
shared per-process catalog cache), `search` (BM25), `reward` (the published purchase reward as
pure functions), `pages` (compact text pages), `original` (loader for WebShop's data files),
`env` (`WebShopEnv`), `perturb` (the recitation probe's inverted goals, for `perturb="invert"`).
"""

from envs.webshop.catalog import Catalog, Goal, Product, Review, generate_catalog, get_catalog
from envs.webshop.env import WebShopEnv
from envs.webshop.original import load_original_catalog

__all__ = ["Catalog", "Goal", "Product", "Review", "WebShopEnv", "generate_catalog", "get_catalog",
           "load_original_catalog"]
