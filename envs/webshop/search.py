"""BM25 product search (bm25s, Snowball stemming via PyStemmer when installed).

WebShop searches with Lucene BM25 (pyserini) and shows the top 50 hits. bm25s gives the same
ranking function without a Java dependency. Each product is indexed by its title, bullet
points, description and attributes. Ranking is made deterministic by breaking score ties by
catalog order, and products that share no term with the query are never returned.
"""

from __future__ import annotations

import numpy as np

SEARCH_RETURN_N = 50
MAX_QUERY_CHARS = 500


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # bm25s works without stemming, just less forgiving about word forms
        return None


class ProductSearch:
    def __init__(self, products):
        import bm25s
        from bm25s.tokenization import Tokenizer

        self.tokenizer = Tokenizer(stopwords="en", stemmer=_stemmer())
        corpus = [
            " ".join((p.title, " ".join(p.bullets), p.description, " ".join(p.attributes)))
            for p in products
        ]
        ids = self.tokenizer.tokenize(corpus, update_vocab=True, show_progress=False, return_as="ids")
        self.retriever = bm25s.BM25()
        self.retriever.index(ids, show_progress=False)
        self.size = len(products)
        self._empty_id = self.tokenizer.get_vocab_dict().get("")

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[int]:
        """Indices of the top-`k` products for `keywords` (best first; ties by catalog order)."""
        ids = self.tokenizer.tokenize([keywords[:MAX_QUERY_CHARS]], update_vocab=False,
                                      show_progress=False, return_as="ids")[0]
        ids = [i for i in ids if i != self._empty_id]
        if not ids:
            return []
        scores = self.retriever.get_scores_from_ids(ids)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            # take everything scoring at least the k-th best, so ties at the cut are ordered too
            kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
            hits = hits[scores[hits] >= kth]
        order = np.lexsort((hits, -scores[hits]))
        return hits[order][:k].tolist()
