"""BM25 product search: WebShop searches with Lucene BM25 (pyserini) and shows the top 50 hits;
`envs.bm25.BM25Index` (bm25s) gives the same ranking function without a Java dependency. Each
product is indexed by its title, bullet points, description and attributes.
"""

from __future__ import annotations

from envs.bm25 import BM25Index

SEARCH_RETURN_N = 50


class ProductSearch(BM25Index):
    def __init__(self, products):
        super().__init__([" ".join((p.title, " ".join(p.bullets), p.description,
                                    " ".join(p.attributes))) for p in products])

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[int]:
        """Indices of the top-`k` products for `keywords` (best first; ties by catalog order)."""
        return super().search(keywords, k)
