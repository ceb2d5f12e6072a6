"""One JVM per process, hosting one independent ScienceWorld simulator per env instance.

`scienceworld.ScienceWorldEnv` starts a JVM (py4j `launch_gateway`) for every instance: ~4.7 s
to a first observation and 150 MB growing to ~1 GB each, too much for the trainer's dozens of
env instances on a small machine. A simulator, though, is just a
`scienceworld.runtime.pythonapi.PythonInterface` object, and one JVM can hold many (16 worlds:
~390 MB for the whole JVM, ~650 MB after generating gold sequences). Two pieces of the
simulator's state are process-global in the JVM, not per simulator:

  * `util.UniqueIdentifier.count`, the counter that gives every new object of a world its id
    (object equality is by id; `load` resets it to 0), and
  * the seed of `scala.util.Random`, which `load` re-seeds with the variation number and which
    wandering animals, genetics and the input parser draw from while the world runs.

`SharedJVM` gives each simulator (`World`) its own copy of both: whenever a call goes to a world
other than the last one used, the previous world's counter and seed are saved and this world's
are restored (4 extra py4j calls, well under a millisecond). Every world then behaves as if it
ran alone in its own JVM (no id clashes, same random draws), whatever the other worlds do in
between. Reading the seed needs reflection into `java.util.Random`, which the JVM is started
with permission for (`--add-opens`); where that fails the seed is shared (a warning says so) and
everything else still works. All calls into the JVM hold one lock, so worlds may be used from
several threads (the calls are serialised).

Determinism: the simulator keeps the objects of a room in hash sets of objects that have no
`hashCode` of their own, so the order in which room contents, inventories and ambiguity choices
are listed follows JVM identity hash codes, which differ from run to run (the same variation
listed its cups in a different order on each load). The JVM is therefore started with
`-XX:hashCode=2`, which makes every identity hash code 1: the sets iterate in insertion order and
every observation is the same on every load, run and machine. The price is speed: ~100 instead
of ~170 steps per second, and gold sequences ~0.5 instead of ~0.35 s per task (2-core machine).

The JVM starts on first use, is replaced if it died or the process forked, and is shut down by
`close_jvm()` or at interpreter exit. The simulator's debug printing goes to a null stream.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading

logger = logging.getLogger(__name__)

JAVA_OPTIONS = (
    # lets us read java.util.Random's seed (Java 9+; Java 8 ignores the option with the flag before it)
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    # every identity hash code is 1, so the simulator's hash sets iterate in insertion order
    # (see the module docstring): deterministic observations, at about 1.7x the cost per step
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:hashCode=2",
    # one GC thread and a heap that stays small: the worlds are a few MB each
    "-XX:+UseSerialGC",
    "-XX:MaxHeapFreeRatio=30",
    "-XX:MinHeapFreeRatio=10",
)
"""Options for the JVM; `CLEANAGENT_SCIWORLD_JAVA_OPTS` (space separated) adds more, e.g. -Xmx2g."""

_RANDOM_MULTIPLIER = 0x5DEECE66D  # java.util.Random.setSeed scrambles its argument with this
GOLD_CACHE_SIZE = 512


class SharedJVM:
    """A ScienceWorld JVM and the bookkeeping that keeps its worlds independent."""

    def __init__(self):
        from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
        from scienceworld.constants import BASEPATH, JAR_PATH

        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.closed = False
        options = list(JAVA_OPTIONS) + os.environ.get("CLEANAGENT_SCIWORLD_JAVA_OPTS", "").split()
        port, self.process = launch_gateway(classpath=JAR_PATH, die_on_exit=True, cwd=BASEPATH,
                                            javaopts=options, return_proc=True)
        self.gateway = JavaGateway(gateway_parameters=GatewayParameters(port=port), java_process=self.process)
        jvm = self.gateway.jvm
        try:  # before any Scala code runs, so scala.Console picks the null stream up too
            jvm.java.lang.System.setOut(jvm.java.io.PrintStream(jvm.java.io.OutputStream.nullOutputStream()))
        except Exception:  # Java 8: the output is drained by py4j's reader thread instead
            pass
        self.stable_hashing = jvm.java.lang.System.identityHashCode(jvm.java.lang.Object()) == 1
        if not self.stable_hashing:
            logger.warning("this JVM ignored -XX:hashCode=2: ScienceWorld may list objects in varying order")
        self._ids = jvm.util.UniqueIdentifier
        self._set_ids = getattr(self._ids, "count_$eq")
        self._random = getattr(getattr(jvm.scala.util, "Random$"), "MODULE$").self()
        try:
            field = jvm.java.lang.Class.forName("java.util.Random").getDeclaredField("seed")
            field.setAccessible(True)
            field.get(self._random)
            self._seed_field = field
        except Exception as e:  # noqa: BLE001 - any reflection failure means: cannot isolate the seed
            self._seed_field = None
            logger.warning("ScienceWorld worlds in this process share one random stream: %s", e)
        self._owner: World | None = None
        self._oracle: World | None = None
        self._gold: collections.OrderedDict[tuple[str, int], tuple[str, ...]] = collections.OrderedDict()

    # ------------------------------------------------------------------ world switching
    @property
    def isolates_random(self) -> bool:
        return self._seed_field is not None

    def _save(self) -> tuple[int, int | None]:
        seed = self._seed_field.get(self._random) if self._seed_field is not None else None
        return int(self._ids.count()), seed

    def _restore(self, state: tuple[int, int | None]) -> None:
        count, seed = state
        self._set_ids(count)
        if seed is not None:
            self._random.setSeed(seed ^ _RANDOM_MULTIPLIER)

    def activate(self, world: World, loading: bool = False) -> None:
        """Make `world` the owner of the JVM's global state (call with the lock held).
        `loading`: the caller is about to load a task, which sets that state itself."""
        if self._owner is world:
            return
        if self._owner is not None:
            self._owner.state = self._save()
        if not loading and world.state is not None:
            self._restore(world.state)
        self._owner = world

    def release(self, world: World) -> None:
        with self.lock:
            if self._owner is world:
                self._owner = None
            world.state = None
            if not self.closed and self.alive():
                try:
                    self.gateway.detach(world.server)
                except Exception:  # noqa: BLE001 - best effort: the object is garbage either way
                    pass

    # ------------------------------------------------------------------ worlds and gold paths
    def new_world(self) -> World:
        with self.lock:
            return World(self, self.gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface())

    def gold_actions(self, task_name: str, variation: int) -> tuple[str, ...]:
        """ScienceWorld's gold action sequence for a task variation, generated by the simulator
        in a separate world of this JVM (so no env's episode is disturbed) and cached."""
        key = (task_name, int(variation))
        with self.lock:
            if key in self._gold:
                self._gold.move_to_end(key)
                return self._gold[key]
            if self._oracle is None:
                self._oracle = self.new_world()
            self._oracle.load(task_name, variation, gold=True)
            actions = tuple(str(a) for a in self._oracle.server.getGoldActionSequence())
            self._gold[key] = actions
            while len(self._gold) > GOLD_CACHE_SIZE:
                self._gold.popitem(last=False)
            return actions

    # ------------------------------------------------------------------ lifetime
    def alive(self) -> bool:
        return not self.closed and self.process.poll() is None

    def memory_mb(self) -> float | None:
        """Resident memory of the JVM process (Linux), None when unknown."""
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def close(self) -> None:
        """Shut the JVM down (idempotent). Worlds of this JVM stop working."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self._owner = self._oracle = None
            if os.getpid() != self.pid:  # a forked child must not touch its parent's JVM
                return
            try:
                self.gateway.shutdown()
            except Exception:  # noqa: BLE001
                pass
            try:  # the JVM was started with --die-on-broken-pipe: closing its stdin ends it
                if self.process.stdin is not None:
                    self.process.stdin.close()
                self.process.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.process.kill()
                self.process.wait(timeout=10)


class World:
    """One ScienceWorld simulator (a `PythonInterface`) living in a `SharedJVM`."""

    def __init__(self, jvm: SharedJVM, server):
        self.jvm = jvm
        self.server = server
        self.state: tuple[int, int | None] | None = None  # saved global state while another world runs

    def load(self, task_name: str, variation: int, gold: bool = False) -> None:
        with self.jvm.lock:
            self.jvm.activate(self, loading=True)
            error = self.server.load(task_name, int(variation), "", bool(gold))
        if error:
            raise ValueError(f"ScienceWorld could not load {task_name!r} variation {variation}: {error}")

    def step(self, action: str) -> tuple[str, float, bool]:
        """One simulator step: (observation, score in [-1, 1], the simulator's completed flag)."""
        with self.jvm.lock:
            self.jvm.activate(self)
            observation = self.server.step(action)
            return str(observation), float(self.server.getScore()), bool(self.server.getCompleted())

    def call(self, method: str, *args):
        """Any other PythonInterface method, e.g. call("getTaskDescription")."""
        with self.jvm.lock:
            self.jvm.activate(self)
            return getattr(self.server, method)(*args)

    def close(self) -> None:
        self.jvm.release(self)


_shared: SharedJVM | None = None
_shared_lock = threading.Lock()


def shared_jvm() -> SharedJVM:
    """The process's ScienceWorld JVM, started (or restarted after a crash or a fork) on demand."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.pid != os.getpid() or not _shared.alive():
            if _shared is not None and _shared.pid == os.getpid():
                _shared.close()
            _shared = SharedJVM()
        return _shared


def jvm_running() -> bool:
    """Whether this process has a live ScienceWorld JVM (tests use it: `tasks()` must not start one)."""
    return _shared is not None and _shared.pid == os.getpid() and _shared.alive()


def close_jvm() -> None:
    """Shut down the process's ScienceWorld JVM; the next env reset starts a fresh one."""
    global _shared
    with _shared_lock:
        if _shared is not None and _shared.pid == os.getpid():
            _shared.close()
        _shared = None


atexit.register(close_jvm)
