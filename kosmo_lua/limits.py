"""Resource limits of one script run, and the messages that name them."""

from __future__ import annotations

MIB = 1024 * 1024
GIB = 1024 * MIB
MEMORY_BYTES = 32 * MIB  # --memory-limit's default
# The most a command line may ask for (--memory-limit, --output-limit, --cpu-limit,
# --timeout): past these a limit means nothing, and a worker could not apply it (the data
# cap and Lua's allocator take 64-bit sizes).
MAX_MEMORY_BYTES = 64 * GIB
MAX_OUTPUT_BYTES = 1 * GIB
MAX_SECONDS = 7 * 24 * 3600.0  # a week

# How many calls a script may have in flight at once (app.parallel, app.map, all_pages):
# --concurrency's default, and the most it and a script's opts.concurrency may ask for.
CONCURRENCY = 8
MAX_CONCURRENCY = 64
# The most --max-calls / maxCalls may be: far past any run, and within Lua's 64-bit integers
# (a larger bound crashed the worker handing it to Lua).
MAX_CALLS = 1_000_000_000

# The longest one sleep(seconds) may wait.
MAX_SLEEP_SECONDS = 86400

# The sandbox itself needs a few hundred KiB; below this a run could not even start.
MIN_MEMORY = 1 * MIB

# The backstop under every other limit: the worker process's data (heap and private
# mappings) may not pass DATA_FACTOR x --memory-limit + DATA_ALLOWANCE. The allowance covers
# Python itself, httpx and the MCP SDK once loaded (about 60 MiB) and their threads' stacks;
# the factor, the copies the host makes of a script's values (JSON text, HTTP bodies).
DATA_FACTOR = 3
DATA_ALLOWANCE = 384 * MIB


# A run's limits by kind: the command-line option and the execute_lua argument that set it
# (None: a client cannot ask for more, only the server's operator can).
LIMIT_OPTIONS: dict[str, tuple[str, str | None]] = {
    "cpu": ("--cpu-limit", "cpuLimit"),
    "timeout": ("--timeout", "timeout"),
    "memory": ("--memory-limit", "memoryLimit"),
    "output": ("--output-limit", None),
    "result": ("--output-limit", None),
    "calls": ("--max-calls", "maxCalls"),
}


def limit_option(kind: str, *, agent: bool) -> str:
    """How a limit's message names what sets it: the option, or for an agent the argument
    (or the server, when no argument can change it)."""
    option, argument = LIMIT_OPTIONS.get(kind, ("", None))
    if not agent:
        return option
    return f"execute_lua's {argument}" if argument else "the server's setting"


class Limits:
    """What a run may use before it is stopped.

    ``timeout_seconds`` is wall-clock time and covers waiting on HTTP too; ``None`` turns it off.
    ``concurrency`` is how many calls may be in flight at once by default; ``max_calls``, how
    many integration and MCP calls (``app.*``, ``mcp.*``) a run may make (None: no bound).
    A plain class, not a dataclass: importing dataclasses costs start-up time on every run.
    """

    __slots__ = (
        "concurrency",
        "cpu_seconds",
        "max_calls",
        "memory_bytes",
        "output_bytes",
        "timeout_seconds",
    )

    def __init__(
        self,
        memory_bytes: int = MEMORY_BYTES,
        cpu_seconds: float = 30.0,
        timeout_seconds: float | None = None,
        output_bytes: int = 8 * MIB,
        concurrency: int = CONCURRENCY,
        max_calls: int | None = None,
    ) -> None:
        self.memory_bytes = memory_bytes
        self.max_calls = max_calls
        self.concurrency = concurrency
        self.cpu_seconds = cpu_seconds
        self.timeout_seconds = timeout_seconds
        self.output_bytes = output_bytes

    @property
    def data_bytes(self) -> int:
        """The worker process's data limit (see ``DATA_ALLOWANCE``)."""
        return DATA_FACTOR * self.memory_bytes + DATA_ALLOWANCE

    @property
    def body_bytes(self) -> int:
        """The largest HTTP reply body (decoded) a call may read: the memory limit, since a
        larger one could never become a Lua value under it. Passed to the run's invoker."""
        return self.memory_bytes

    def message(self, kind: str, *, agent: bool = False) -> str:
        """The error text of a run stopped by limit ``kind``; scripts and CI jobs match on it.
        It names what sets the limit: the option, or for an agent (``mcp:serve``) the
        ``execute_lua`` argument (``limit_option``)."""
        by = f" ({limit_option(kind, agent=agent)})"
        return {
            "cpu": f"CPU limit exceeded: the script used more than {self.cpu_seconds:g} s of CPU"
            f" time{by}",
            "timeout": f"Time limit exceeded: the script ran longer than "
            f"{self.timeout_seconds:g} s{by}"
            if self.timeout_seconds is not None
            else f"Time limit exceeded{by}",
            "memory": f"Memory limit exceeded: the script needed more than "
            f"{size_text(self.memory_bytes)}{by}",
            "output": f"Output limit exceeded: the script printed more than "
            f"{size_text(self.output_bytes)}{by}",
            "result": f"Output limit exceeded: the return values are larger than "
            f"{size_text(self.output_bytes)}{by}",
            "calls": f"Call limit exceeded: the script made {self.max_calls} integration and MCP"
            f" calls, the most it may{by}; the next was not sent",
            "recursion": "Recursion limit exceeded: stack overflow (too many nested calls)",
        }[kind]


def size_text(n: int) -> str:
    """A byte count as the limits' messages show it: ``64 GiB``, ``32 MiB``, ``1000 bytes``."""
    if n % GIB == 0:
        return f"{n // GIB} GiB"
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    return f"{n} bytes"
