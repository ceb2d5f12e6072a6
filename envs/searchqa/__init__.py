"""Deep Search (SearchQA) for cleanagent: answer questions by searching a corpus, Search-R1 style.

Modules: `kb` (the generated encyclopedia of a fictional world and its multi-hop questions),
`data` (passages, questions, JSONL loaders for a
user's corpus and QA file, answer normalisation, the per-process dataset cache), `env`
(`SearchQAEnv`, the tag parser, the scripted expert).
"""

from envs.bm25 import BM25Index
from envs.searchqa.data import (
    Dataset,
    Passage,
    Question,
    generate_dataset,
    get_dataset,
    load_corpus,
    load_qa,
    normalize_answer,
)
from envs.searchqa.env import SearchQAEnv, TagReply, parse_reply

__all__ = ["BM25Index", "Dataset", "Passage", "Question", "SearchQAEnv", "TagReply", "generate_dataset",
           "get_dataset", "load_corpus", "load_qa", "normalize_answer", "parse_reply"]
