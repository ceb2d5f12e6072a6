"""Offline generators: programs that write data sets for the envs, kept out of the envs' runtime code.

- `tooluse_build`: the tool-use environments (FTRL's five-stage construction pipeline, each
  environment verified in the sandbox), `python -m generators.tooluse_build --out envs.jsonl`.
  `envs.tooluse` calls its `build` only to create its default task set when the cache is missing.
"""
