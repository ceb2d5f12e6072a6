"""Tool use: environments over sets of tools with FTRL's verifiable reward (see `env.py`), the
sandbox that runs tool code (`sandbox.py`, `_worker.py`) and loaders (`data.py`). The offline
construction pipeline that generates the default tasks is `generators/tooluse_build.py`."""

from envs.tooluse.env import ToolUseEnv, check_call, parse_tool_calls, render_tools

__all__ = ["ToolUseEnv", "check_call", "parse_tool_calls", "render_tools"]
