"""A small deterministic BM25 index over a list of texts (bm25s, Snowball stemming via PyStemmer).

Shared by every env that searches text (WebShop products, SearchQA passages): texts in, row
indices out. Ranking is made deterministic by breaking score ties by row
order, and rows that share no term with the query are never returned.
"""

from __future__ import annotations

import numpy as np

MAX_QUERY_CHARS = 500
"""Queries are cut to this length before tokenising (a 100 KB query must not stall a search)."""


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # bm25s works without stemming, just less forgiving about word forms
        return None


class BM25Index:
    """BM25 (bm25s defaults: Lucene variant, k1=1.5, b=0.75) over `texts`, English stopwords removed."""

    def __init__(self, texts: list[str]):
        import bm25s
        from bm25s.tokenization import Tokenizer

        self.tokenizer = Tokenizer(stopwords="en", stemmer=_stemmer())
        ids = self.tokenizer.tokenize(list(texts), update_vocab=True, show_progress=False, return_as="ids")
        self.retriever = bm25s.BM25()
        self.retriever.index(ids, show_progress=False)
        self.size = len(texts)
        self._empty_id = self.tokenizer.get_vocab_dict().get("")

    def search(self, query: str, k: int) -> list[int]:
        """Row indices of the top-`k` texts for `query` (best first; ties by row order)."""
        ids = self.tokenizer.tokenize([query[:MAX_QUERY_CHARS]], update_vocab=False,
                                      show_progress=False, return_as="ids")[0]
        ids = [i for i in ids if i != self._empty_id]
        if not ids or k <= 0:
            return []
        scores = self.retriever.get_scores_from_ids(ids)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            # keep everything scoring at least the k-th best, so ties at the cut are ordered too
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        order = np.lexsort((hits, -scores[hits]))
        return hits[order][:k].tolist()
