"""SciWorld (ScienceWorld) for cleanagent: `SciWorldEnv`, its task items and the shared JVM.

    env = SciWorldEnv()                  # or envs.make("sciworld", action_format="lenient")
    obs, info = env.reset(SciWorldEnv.tasks("test")[0])
    obs, reward, terminated, truncated, info = env.step("Thought: ...\\nAction: look around")
    env.expert_action()                  # next command of ScienceWorld's gold sequence

See `envs.sciworld.env` (episodes, reward), `envs.sciworld.tasks` (items, tiers, split) and
`envs.sciworld.jvm` (one JVM per process, one independent simulator per env instance).
"""

from envs.sciworld.env import INSTRUCTIONS, SciWorldEnv
from envs.sciworld.jvm import close_jvm, jvm_running, shared_jvm
from envs.sciworld.tasks import EXCLUDED_TASKS, FAMILIES, TEST_COUNTS, TaskItem

__all__ = ["EXCLUDED_TASKS", "FAMILIES", "INSTRUCTIONS", "SciWorldEnv", "TEST_COUNTS", "TaskItem",
           "close_jvm", "jvm_running", "shared_jvm"]
