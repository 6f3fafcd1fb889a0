"""One sandboxed Lua 5.4 state: the only module that talks to lupa.

The rest of the package sees plain Python values. Lua strings arrive as ``bytes``
(``encoding=None``), so text that is not UTF-8 is never silently mangled; Python strings are
encoded before they enter Lua, because lupa would otherwise hand them over as userdata.
"""

from __future__ import annotations

import codecs
import functools
import gc
import json
import math
import os
import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa

from ..calls import CALL_SITE
from ..dispatch import MCP_FUNCTIONS
from ..errors import HostError
from ..limits import MAX_CONCURRENCY, MAX_SLEEP_SECONDS, Limits
from ..result import error_info

if TYPE_CHECKING:
    from types import ModuleType

    from ..pages import Converted, Page, Pages
    from .flight import InFlight

MAX_DEPTH = 512
PAGES_MODULE = "kosmo_lua.pages"
"""Where ``Pages`` are made: loaded on the first integration call, not at start-up (a run
that makes none, ``return 1``, never needs it)."""
# Up to this many, a value's tokens cross as the arguments of one call; past it, as one Lua
# array, which costs less per token (benchmarks/convert.py measures the bulk case).
FEW_TOKENS = 256
# Past this many items, a list crosses a slice at a time (see _list_in_slices).
SLICE_ITEMS = 100
MEMORY_ERROR = b"not enough memory"  # Lua's own text; the prelude trips the memory limit on it
PRELUDE = os.path.join(os.path.dirname(__file__), "prelude.lua")  # no importlib.resources: start-up

# A value inside a table that JSON cannot hold (function, coroutine) prints as this marker.
OPAQUE_MARKER = "<{}>"
CYCLE_MARKER = "<cycle>"

# The Lua libraries whose functions are runtime/library.py's: json.decode is
# library.json_decode. The prelude makes each library's functions from this table.
LIBRARIES: dict[str, tuple[str, ...]] = {
    "json": ("decode", "encode"),
    "regex": ("match", "match_all", "gsub"),
    "docs": ("read", "list", "search"),
}
# Host functions of the prelude backed by runtime/library.py, by their name in both.
LIBRARY_FUNCTIONS = (
    "render_table",
    *(f"{library}_{name}" for library, names in LIBRARIES.items() for name in names),
)

Outcome = tuple[str | None, list[Any] | None, str | None, dict[str, Any] | None]
"""What ``LuaEngine.run`` returns: limit kind, return values, error text, error data."""

Dispatcher = Callable[[str, list[Any]], tuple[Any, ...]]
"""Runs ``app.<path>(args...)``: gets the dotted path and the converted arguments, returns
the values the Lua call returns. The worker calls its ``close()``, if it has one, on exit."""


class ConversionError(HostError):
    """A Lua value has no JSON form (a function, a cycle, too deep)."""


def _deny_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("attribute access is not allowed in the sandbox")


class LuaEngine:
    """A Lua state with the sandbox prelude loaded; runs chunks and converts values.

    Soft limits live here (a count hook for CPU and wall time, lupa's allocator cap for
    memory, an output cap); the supervisor adds the hard ones a hook cannot give.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        emit: Callable[[str], None],
        dispatch: Dispatcher,
        hide: tuple[str, ...] = (),
        before_host_work: Callable[[], None] | None = None,
    ) -> None:
        """``hide`` names globals this kind of run does not offer (mcp:lua hides docs);
        ``before_host_work`` runs once, before the first host callback (the supervisor
        arms its memory backstop there)."""
        self.limits = limits
        self._before_host_work = before_host_work
        self._emit = emit
        self._dispatch = dispatch
        self._flight: InFlight | None = None  # made by the first call of a parallel branch
        self._fresh_tickets: set[int] = set()  # calls whose results are the host's to spend
        self._output_bytes = 0
        # Converting a value nests two Python frames per level; MAX_DEPTH levels must fit.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 8 * MAX_DEPTH))
        self._lua = lupa.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=limits.memory_bytes,
        )
        with open(PRELUDE, "rb") as prelude:
            # Loaded under its own name, so a position inside it reads "prelude:12:".
            chunk = self._lua.globals().load(prelude.read(), b"=prelude")
        self._rawget = self._lua.globals().rawget
        self._host = self._host_table()
        control = chunk(self._host)
        self._run = control[b"run"]
        self._describe = control[b"describe"]
        self._kinds = control[b"kinds"]
        self._table_type = type(self._kinds)  # lupa's class of Lua tables
        self._writers: dict[bool, _Converter] | None = None  # json_text's, by pretty
        self._protect = control[b"protect"]
        self._capped = control[b"capped"]
        self._null = control[b"null"]
        self._assemble = control[b"assemble"]
        self._assemble_tokens = control[b"assemble_tokens"]
        self._table_move = self._lua.globals().table.move
        self._randomseed = self._lua.globals().math.randomseed  # the real one: no script ran
        self._collectgarbage = self._lua.globals().collectgarbage
        self._loadlib = self._lua.globals().package.loadlib  # the C decoder's (native.py)
        marks = control[b"tokens"]  # the markers of assemble's tokens, in OBJECT..END order
        self._marks = tuple(marks[i] for i in range(1, len(marks) + 1))
        self._set_limit_messages = control[b"set_limit_messages"]
        self.set_limits(limits)
        for name in hide:
            control[b"hide"](name.encode())

    def reseed(self) -> None:
        """Seeds ``math.random`` from the system's entropy. Lua seeds a state from the time
        and an address, which copies of one state share, as do states built at the same
        second in copies of one process: every worker does this before its first run."""
        self._randomseed(*(int.from_bytes(os.urandom(8), "big", signed=True) for _ in "xy"))

    def collect_garbage(self) -> None:
        """A full cycle of Lua's collector, outside any run."""
        self._collectgarbage()

    def set_limits(self, limits: Limits) -> None:
        """The limits of the runs to come. A warm worker builds its state before its run
        tells it the limits; the memory cap then counts as if the state were built with it."""
        self.limits = limits
        self._lua.set_max_memory(limits.memory_bytes)
        self._host[b"concurrency"] = limits.concurrency
        kinds = ("cpu", "timeout", "memory", "output", "calls")
        messages = {kind: limits.message(kind) for kind in kinds}
        self._set_limit_messages(self.to_lua(messages))

    @property
    def output_left(self) -> int:
        return max(self.limits.output_bytes - self._output_bytes, 0)

    @property
    def memory_used(self) -> int:
        return int(self._lua.get_memory_used() or 0)

    # Running ---------------------------------------------------------------------------------

    def run(self, code: str | bytes, name: str, *, expression_first: bool = False) -> Outcome:
        """Runs one chunk: returns (limit kind or None, return values, error message, what
        failed as data: ``meta.error``).

        ``expression_first`` runs ``return <code>`` when that compiles (the REPL's echo).
        """
        if isinstance(code, str):  # files not in UTF-8 arrive with their bytes escaped
            code = code.encode("utf-8", LUA_TEXT)
        self._output_bytes = 0
        try:
            tripped, packed, fields = self._run(
                code,
                name.encode(),
                self.limits.cpu_seconds,
                self.limits.timeout_seconds,
                expression_first,
                self.limits.max_calls,
            )
        except lupa.LuaMemoryError:
            return limit_outcome("memory", self.limits)
        except lupa.LuaError as exc:  # raised outside the script's pcall, e.g. by the hook
            message = _text(exc.args[0] if exc.args else str(exc))
            return None, None, message, error_info("runtime", message)
        finally:
            if self._flight is not None:  # calls a stopped run started still finish
                self._flight.drain()
        with self.unbounded_memory():
            try:
                return self._outcome(tripped, packed, fields)
            except RecursionError:
                message = "the script's values are nested too deeply to report"
                return None, None, message, error_info("runtime", message)
            except TooLarge:
                return "output", None, *_limit_error("result", self.limits)

    def _outcome(self, tripped: bytes | None, packed: Any, fields: Any) -> Outcome:
        kind = tripped.decode() if tripped else None
        count = packed[b"n"]
        values = [packed[i] for i in range(2, count + 1)]
        if kind:
            return limit_outcome(kind, self.limits)
        if not packed[1]:
            message = self._error_text(values[0] if values else None)
            if "stack overflow" in message:
                return limit_outcome("recursion", self.limits)
            if message == "not enough memory":
                return limit_outcome("memory", self.limits)
            if lupa.lua_type(fields) != "table":
                return None, None, message, error_info("runtime", message)
            found = self.to_python(fields, strict=False)
            if isinstance(found, dict) and found.get("category"):
                return None, None, message, _host_error_info(message, found)
            return None, None, message, error_info(found.get("kind", "runtime"), message)
        return None, [self.to_python(v, strict=False) for v in values], None, None

    def _error_text(self, value: Any) -> str:
        """The message of an error value. A table with ``__tostring`` was already turned
        into text by the prelude's message handler, under the script's limits (it is script
        code); one without is shown as JSON, read raw. Other values have no metamethods a
        script can set."""
        if isinstance(value, bytes):
            return _text(value)
        if value is None:
            return "nil"
        if lupa.lua_type(value) == "table":
            return _json_text(self.to_python(value, strict=False))
        return _text(self._lua.globals().tostring(value))

    @contextmanager
    def unbounded_memory(self) -> Iterator[None]:
        """Lifts the memory cap while the host works on the script's behalf.

        lupa allocates outside protected calls (a failure there aborts the process); once
        the cap is back, the script's next allocation fails cleanly if the host used more.
        """
        self._lua.set_max_memory(0)
        try:
            yield
        finally:
            self._lua.set_max_memory(self.limits.memory_bytes)

    # Conversion ------------------------------------------------------------------------------

    def to_python(
        self, value: Any, *, strict: bool, budget: int | None = None, indent: int = 0
    ) -> Any:
        """Converts a Lua value to JSON-shaped Python, reading tables raw (no script code
        runs: the cap is lifted while the host works).

        ``strict`` (json.encode, API arguments) raises on functions and cycles; otherwise
        (print, return values) they become markers, so printing never fails. ``budget``
        bounds what the result will cost as JSON text (default: the memory limit when
        strict, the output limit otherwise), charged as it is built: a table can hold one
        big string many times over, and pretty text repeats ``indent`` spaces per level on
        every line.
        """
        if budget is None:
            budget = self.limits.memory_bytes if strict else self.limits.output_bytes
        return _Converter(self, strict, budget, indent).convert(value, 0)

    def json_text(
        self, value: Any, strict: bool, pretty: bool = True, budget: int | None = None
    ) -> str:
        """A Lua value other than json.null (json.encode passes nil for it; print writes it
        itself) as JSON text, strict as json.encode or not as print: the text jsonlib's
        ``encode`` makes of what ``to_python`` gives (charging the text's indentation),
        made in one walk, the converter writing it with jsonlib's pieces.

        That walk meets a table's entries in the order of the text (keys sorted as text),
        not in the order ``to_python`` does (numbers first, by value). So on an error the
        value is converted again, the way that meets its errors in their order, and
        encoded: a value that fails fails as it always has, and only the others save.
        """
        writers = self._writers
        if writers is None:
            from . import jsonlib

            writers = self._writers = {}
            for layout in (True, False):  # one writer for pretty text, one for compact
                writer = writers[layout] = _Converter(self, True, 0, json=jsonlib)
                writer._indent = jsonlib.INDENT_WIDTH if layout else 0
                writer._layouts = jsonlib.LAYOUTS[layout]
                writer._root_null = False  # json.encode passes nil for json.null
        if budget is None:
            budget = self.limits.memory_bytes if strict else self.limits.output_bytes
        # Starts over: a writer is never re-entered, as no script code runs while it writes.
        writer = writers[pretty]
        writer._strict = strict
        writer._left = writer._budget = budget
        writer._root = None
        if writer._seen:
            writer._seen.clear()
        out: list[str] = []
        try:
            writer.write(value, 0, out)
        except (HostError, ValueError, RecursionError):
            json = writer._json
            assert json is not None
            indent = json.INDENT_WIDTH if pretty else 0
            plain = self.to_python(value, strict=strict, budget=budget, indent=indent)
            return json.encode(plain, pretty=pretty)  # type: ignore[no-any-return]
        return "".join(out)

    def option(self, options: Any, key: str) -> Any:
        """``options[key]`` of a script's options table, read raw: a script's ``__index``
        never runs in the host."""
        return self._rawget(options, key.encode())

    def call_script(self, function: Any, *args: Any) -> Any:
        """Calls a script's function from host code (a ``regex.gsub`` replacement) under
        the script's own memory cap; its count hook is the running script's. Its error
        becomes a ``HostError`` with the error's text (lupa alone would drop a table's)."""
        self._lua.set_max_memory(self.limits.memory_bytes)
        try:
            ok, *values = self._protect(function, *args)
        finally:
            self._lua.set_max_memory(0)
        if ok:
            return values[0] if values else None
        problem = self._error_text(values[0] if values else None)
        if problem == MEMORY_ERROR.decode():
            raise TooLarge(problem)  # the prelude trips the memory limit on this text
        raise HostError(problem)

    def to_lua(self, value: Any, *, keep_null: bool = False, owned: bool = False) -> Any:
        """Converts JSON-shaped Python to Lua; nulls in objects vanish unless ``keep_null``.
        ``owned``: the value is the host's to spend (a reply, decoded JSON), so a long list
        lets go of its items as they are built. ``Pages`` (all pages of a listing) become
        one array, a page at a time.

        What it will cost in Lua is counted against the room the memory limit leaves before
        anything is built in Lua (as the tokens are made; all of a long list before its
        first slice): the host builds Lua values with the cap lifted, so a big value (a
        decoded reply, a huge json.decode) must fail here, as the memory limit.
        Containers cross in bulk: their flat form becomes one Lua array (``table_from``), or
        the arguments of one call when it is short, and the prelude's ``assemble`` makes the
        tables of it.
        """
        pages = sys.modules.get(PAGES_MODULE)  # loaded by whatever made a Pages, else none is
        if pages is not None and type(value) is pages.Pages:
            return self._pages(value, keep_null)
        room = self.limits.memory_bytes - self.memory_used
        if not isinstance(value, _CONTAINERS):
            _charge(value, room)
            return _scalar(value)
        if owned and isinstance(value, list) and len(value) > SLICE_ITEMS:
            _charge(value, room)  # all of it, before the first slice is built
            return self._list_in_slices(value, keep_null)
        return self._bulk(value, keep_null, room)

    def _bulk(self, value: Any, keep_null: bool, room: int) -> Any:
        """Builds a container whose cost has not been checked yet: it is charged against
        ``room`` as its tokens are made, before Lua is touched."""
        tokens = _tokens(value, keep_null, self._null, self._marks, room)
        if len(tokens) <= FEW_TOKENS:
            return self._assemble_tokens(*tokens)
        return self._assemble(self._lua.table_from(tokens))

    def _pages(self, pages: Pages, keep_null: bool) -> Any:
        """A listing's items as one Lua array, a page at a time: each page is decoded,
        checked against the room left (the pages before it count), built, and let go."""
        from ..pages import Converted

        table = self.to_lua([])
        move = self._table_move
        count = 0
        for page in pages.take():
            part, size = page if isinstance(page, Converted) else self._page(page, keep_null)
            move(part, 1, size, count + 1, table)
            count += size
        return table

    def _page(self, page: Page, keep_null: bool = False) -> Converted:
        """One page of a listing decoded and made a Lua array (``pages.converting``'s
        converter): by the C decoder when it is built and takes the text (native.py),
        else in Python. Python's collector is off meanwhile: decoded JSON holds no cycles
        for it to find, and a page's thousands of new objects would set it off every time."""
        from ..pages import Converted

        if page.json_body is not None and self._decoder is not None:
            before = self.memory_used
            decoded = self._decoded(page.json_body, keep_null)
            if decoded is not None:
                return decoded
            if self.memory_used > before:  # the tables of a refused attempt: garbage that
                self._collectgarbage()  # the Python path's count must not pay for
        collecting = gc.isenabled()
        gc.disable()
        try:
            items = page.items()
            return Converted(self.to_lua(items, keep_null=keep_null, owned=True), len(items))
        finally:
            if collecting:
                gc.enable()

    @functools.cached_property
    def _decoder(self) -> Any | None:
        """The C decoder of pages (native.py), loaded on the run's first page; or None."""
        from . import native

        path = native.bound_library(lupa)
        found = None if path is None else self._loadlib(os.fsencode(path), native.ENTRY)
        return found if callable(found) else None

    def _decoded(self, text: bytes, keep_null: bool) -> Converted | None:
        """A page's items decoded straight into Lua, under the run's memory cap (the
        tables are built as the text is read); None when the decoder refuses the text and
        the Python path must answer. Running out of memory is a refusal too: the decoder
        meets it before it knows the text is JSON it takes (a text that is not JSON after
        all is one small item, ``{body = text}``, on the Python path, whose count of the
        tables stops a page too big before building it).

        The text is held in Lua while it is read: when it alone would not fit in the room
        the cap leaves, the Python path answers too (its count of the tables decides). The
        cap is armed inside the call (the prelude's ``capped``): lupa pushes the text and
        takes the results outside any protected call, where a memory error aborts."""
        from ..pages import Converted

        if STRING_COST + len(text) > self.limits.memory_bytes - self.memory_used:
            return None
        try:
            ok, *values = self._capped(
                self._lua.set_max_memory,
                self.limits.memory_bytes,
                self._decoder,
                text,
                self._null,
                self._kinds,
                keep_null,
                MAX_DEPTH,
            )
        except lupa.LuaMemoryError:  # between arming the cap and the decoder's own call
            return None
        finally:
            self._lua.set_max_memory(0)
        if not ok:
            problem = self._error_text(values[0] if values else None)
            if problem == MEMORY_ERROR.decode():
                return None
            raise HostError(problem)
        items, size = values
        return None if items is None else Converted(items, size)

    def _list_in_slices(self, value: list[Any], keep_null: bool) -> Any:
        """A long list (a reply of many items) a slice at a time: the flat form of one slice
        is alive at once, not of the whole, and each slice's Python items are let go once
        built, so the peak is about the larger of the two forms, not their sum."""
        table = self._lua.table()
        move = self._table_move
        for start in range(0, len(value), SLICE_ITEMS):
            part = value[start : start + SLICE_ITEMS]
            value[start : start + SLICE_ITEMS] = [None] * len(part)
            room = self.limits.memory_bytes - self.memory_used
            move(self._bulk(part, keep_null, room), 1, len(part), start + 1, table)
        return table

    # Host callbacks --------------------------------------------------------------------------

    def _host_table(self) -> Any:
        callbacks: dict[bytes, Callable[..., Any]] = {
            b"monotonic": time.monotonic,
            b"sleep": time.sleep,  # releases the GIL: the worker's lifeline thread runs on
            b"emit": self._emit_line,
            b"call": self._host_function(lambda: (self._call, None), self._error_fields),
            b"start": self._host_function(lambda: (self._start, None)),
            b"finish": self._host_function(lambda: (self._finish, None)),
        }
        for name in LIBRARY_FUNCTIONS:
            resolve = functools.partial(self._library_function, name)
            callbacks[name.encode()] = self._host_function(resolve)
        host = self._lua.table_from(callbacks)
        host[b"concurrency"] = self.limits.concurrency
        host[b"max_concurrency"] = MAX_CONCURRENCY
        host[b"max_sleep"] = MAX_SLEEP_SECONDS
        # What the prelude makes Lua functions of: the libraries, and mcp.* (host calls).
        host[b"libraries"] = self._lua.table_from(
            {library.encode(): self._names(names) for library, names in LIBRARIES.items()}
        )
        host[b"mcp_functions"] = self._names(MCP_FUNCTIONS)
        return host

    def _names(self, names: Iterable[str]) -> Any:
        """A Lua array of names."""
        return self._lua.table(*(name.encode() for name in names))

    def _host_function(
        self,
        resolve: Callable[[], tuple[Callable[..., Any], int | None]],
        error_fields: Callable[[HostError], Any] | None = None,
    ) -> Callable[..., tuple[Any, ...]]:
        """A host callback for the prelude. ``resolve()`` gives, at the first call, the
        function it runs and how many arguments that takes (None: all).

        The function runs with the memory cap lifted, as in ``unbounded_memory``; the
        callback returns ``(True, value...)`` (a function returns a tuple to give Lua several
        values: no Lua value is one) or what ``_failure`` makes of an exception, never
        raising into Lua; and a result whose strings cannot fit in the room left is
        refused, since lupa copies them into Lua after this returns, under the cap, where a
        failed allocation hangs it. One closure does it all, with its lookups made once: a
        cheap call should spend its time in the work (benchmarks/hostcall.py).
        """
        lift, memory_used = self._lua.set_max_memory, self._lua.get_memory_used
        function: Callable[..., Any] | None = None
        arity: int | None = None

        def callback(*args: Any) -> tuple[Any, ...]:
            nonlocal function, arity
            if self._before_host_work is not None:
                self._before_host_work()
                self._before_host_work = None
            cap = self.limits.memory_bytes
            lift(0)
            try:
                if function is None:
                    function, arity = resolve()
                value = function(*args[:arity])
                if type(value) is bytes:  # the common case first: no isinstance calls
                    result = (True, value)
                    size = len(value)
                elif isinstance(value, tuple):
                    result = (True, *value)
                    size = sum(len(item) for item in value if isinstance(item, bytes))
                else:
                    result = (True, value)
                    size = len(value) if isinstance(value, bytes) else 0
            except Exception as exc:
                result = _failure(exc, error_fields)
                size = sum(len(item) for item in result if isinstance(item, bytes))
            finally:
                lift(cap)
            if size > cap - memory_used():
                return False, MEMORY_ERROR
            return result

        return callback

    def _library_function(self, name: str) -> tuple[Callable[..., Any], int]:
        """runtime/library.py's function ``name`` for this engine, and how many arguments it
        takes: the library is imported on first use (`return 1` should not pay for it), and
        arguments past its parameters are dropped, as Lua drops them."""
        from . import library

        function = getattr(library, name)
        return functools.partial(function, self), function.__code__.co_argcount - 1

    def _emit_line(self, line: bytes) -> bool:
        self._output_bytes += len(line) + 1
        if self._output_bytes > self.limits.output_bytes:
            return False
        self._emit(_decode_text(line))
        return True

    def _call(self, path: bytes, packed: Any) -> tuple[Any, ...]:
        """Runs a call on the script's thread: a listing's pages are converted as they
        arrive (``pages.converting``), while the next ones download."""
        args = [self.to_python(packed[i], strict=True) for i in range(1, packed[b"n"] + 1)]
        CALL_SITE.line = packed[b"line"]
        fresh = _fresh(path)
        if not fresh:
            return self._converted(self._dispatch(_text(path), args))
        from ..pages import converting  # an integration call: it sends a request anyway

        with converting(self._page):
            values = self._dispatch(_text(path), args)
        return self._converted(values, fresh)

    def _start(self, path: bytes, packed: Any) -> int:
        """Starts a parallel branch's call on a thread: its arguments are converted here, on
        the Lua thread; returns its ticket for ``_finish``."""
        if self._flight is None:
            from .flight import InFlight

            self._flight = InFlight(self._dispatch)
        args = [self.to_python(packed[i], strict=True) for i in range(1, packed[b"n"] + 1)]
        ticket = self._flight.start(_text(path), args, packed[b"line"])
        if _fresh(path):
            self._fresh_tickets.add(ticket)
        return ticket

    def _finish(self, seconds: float | None) -> tuple[Any, ...]:
        """The next finished call as ``ticket, ok, values...`` (on failure ``ticket, false,
        message, fields``, as ``host.call`` fails), waiting at most ``seconds``; nothing when
        none finished in time."""
        assert self._flight is not None, "host.finish before any host.start"
        finished = self._flight.next_finished(
            None if seconds is None or math.isinf(seconds) else max(seconds, 0.0)
        )
        if finished is None:
            return ()
        ticket, future = finished
        try:
            fresh = ticket in self._fresh_tickets
            self._fresh_tickets.discard(ticket)
            outcome = (True, *self._converted(future.result(), fresh))
        except Exception as exc:
            outcome = _failure(exc, self._error_fields)
        return (ticket, *outcome)

    def _converted(self, values: tuple[Any, ...], owned: bool = False) -> tuple[Any, ...]:
        return tuple(self.to_lua(value, owned=owned) for value in values)

    def _error_fields(self, error: HostError) -> Any:
        return self.to_lua(error.fields())


def _fresh(path: bytes) -> bool:
    """An integration call's result is made for this call (decoded from its reply); an MCP
    listing may be the hub's own."""
    return path.startswith(b"app.integrations.")


def _host_error_info(message: str, fields: dict[str, Any]) -> dict[str, Any]:
    return error_info(
        fields["category"], message, tool=fields.get("tool"), status=fields.get("status")
    )


def _limit_error(kind: str, limits: Limits) -> tuple[str, dict[str, Any]]:
    message = limits.message(kind)
    return message, error_info("limit", message, limit=kind)


def limit_outcome(kind: str, limits: Limits) -> Outcome:
    return kind, None, *_limit_error(kind, limits)


# What a value costs once in Lua, roughly and never less: a table's header, a slot per entry,
# a string's header and text (its UTF-8 bytes, as Lua holds it).
TABLE_COST, ENTRY_COST, STRING_COST = 64, 40, 24

LUA_TEXT = "kosmo-lua-text"
"""The error handler of every Python string encoded for Lua (``_lua_text_error``)."""


def _lua_text_error(error: UnicodeError) -> tuple[bytes, int]:
    """Text for Lua is UTF-8, which has no lone surrogates. One that stands for a byte
    (U+DC80..U+DCFF, how text that was not UTF-8 arrives: ``surrogateescape``) is that byte
    again; any other (a server's JSON "\\ud800") is U+FFFD, as a decoder of bytes gives. A
    server's "\\udc80" cannot be told from such a byte here, and becomes it (docs/guide.md)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    found = bytearray()
    for char in error.object[error.start : error.end]:
        point = ord(char)
        if 0xDC80 <= point <= 0xDCFF:
            found.append(point - 0xDC00)
        elif 0xD800 <= point <= 0xDFFF:
            found += REPLACEMENT
        else:
            raise error
    return bytes(found), error.end


REPLACEMENT = "\ufffd".encode()
codecs.register_error(LUA_TEXT, _lua_text_error)


def _utf8_size(text: str) -> int:
    """The bytes of ``text`` in Lua."""
    return len(text) if text.isascii() else len(text.encode("utf-8", LUA_TEXT))


_FREE = frozenset({int, float, bool, type(None)})  # held in the entry's slot: no cost of their own


def _lua_cost(value: Any, room: int) -> int | None:
    """The bytes ``value`` will take as Lua data, or None once that passes ``room``.

    It walks every value a big reply holds, so the common kinds (exact str, dict, list and
    numbers) are counted inline; anything else takes the general path. Room is checked at
    every container, before its entries, so a huge one stops the walk at once.
    """
    cost = 0
    stack = [value]
    push = stack.append
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            cost += TABLE_COST + ENTRY_COST * len(item)
            if cost > room:
                return None
        if kind is dict:
            for key, entry in item.items():
                if type(key) is str:
                    cost += STRING_COST + (len(key) if key.isascii() else _utf8_size(key))
                else:
                    push(key)
                entry_kind = type(entry)
                if entry_kind is str:
                    cost += STRING_COST + (len(entry) if entry.isascii() else _utf8_size(entry))
                elif entry_kind not in _FREE:
                    push(entry)  # containers, bytes, subclasses
        elif kind is list:
            for entry in item:
                entry_kind = type(entry)
                if entry_kind is str:
                    cost += STRING_COST + (len(entry) if entry.isascii() else _utf8_size(entry))
                elif entry_kind not in _FREE:
                    push(entry)
        elif isinstance(item, str):
            cost += STRING_COST + _utf8_size(item)
        elif isinstance(item, bytes):
            cost += STRING_COST + len(item)
        elif isinstance(item, dict):
            cost += TABLE_COST + ENTRY_COST * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            cost += TABLE_COST + ENTRY_COST * len(item)
            stack.extend(item)
        if cost > room:
            return None
    return cost


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # Lua's integers; a Python int past them is a float
_SEQUENCES = (list, tuple)  # tuples, not unions: `list | tuple` is built anew on every call
_CONTAINERS = (dict, *_SEQUENCES)


# Where each marker token is in the prelude's `tokens` list (the engine's ``_marks``).
OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, END = range(5)


def _tokens(value: Any, keep_null: bool, null: Any, marks: tuple[Any, ...], room: int) -> list[Any]:
    """A container in the flat form the prelude's ``assemble`` reads (see there), with every
    Python string encoded: lupa would hand a ``str`` to Lua as userdata. What it will cost
    in Lua (as ``_lua_cost`` counts it) is charged against ``room`` on the way: past it,
    ``TooLarge``, before anything is made in Lua."""
    tokens: list[Any] = []
    _put_tokens(value, tokens.append, {}, keep_null, null, marks, room)
    return tokens


def _put_tokens(
    item: Any,
    add: Callable[[Any], None],
    keys: dict[str, bytes],
    keep_null: bool,
    null: Any,
    marks: tuple[Any, ...],
    room: int,
) -> int:
    """Adds ``item``'s tokens and returns the room left. Each entry of a big reply passes
    here, so the common kinds (exact str, int, float, bool) are handled and charged inline,
    and object keys, which repeat from record to record, are encoded once (``keys``). The
    rest takes ``_scalar`` and ``_key``, which refuse what Lua cannot hold. Room is checked
    at each container, before and after its entries, as ``_lua_cost`` checks it (one walk,
    not two). A module function, not a closure: making one on every call cost more than
    converting a small value."""
    if isinstance(item, dict):
        room -= TABLE_COST + ENTRY_COST * len(item)
        if room < 0:
            raise TooLarge(MEMORY_ERROR.decode())
        if not item:
            add(marks[EMPTY_OBJECT])
            return room
        add(marks[OBJECT])
        for key, entry in item.items():
            kind = type(key)
            if kind is str:
                encoded = keys.get(key)
                if encoded is None:
                    encoded = keys[key] = key.encode("utf-8", LUA_TEXT)
                room -= STRING_COST + len(encoded)
                if entry is None and not keep_null:
                    continue
                add(encoded)
            else:
                if kind is not int and kind is not float:
                    room = _charge(key, room)
                if entry is None and not keep_null:
                    continue
                add(key if kind is int and INT64_MIN <= key <= INT64_MAX else _key(key))
            kind = type(entry)
            if kind is str:
                text = entry.encode("utf-8", LUA_TEXT)
                room -= STRING_COST + len(text)
                add(text)
            elif kind is int:
                add(entry if INT64_MIN <= entry <= INT64_MAX else float(entry))
            elif kind is bool or kind is float:
                add(entry)
            elif entry is None:
                add(null)
            else:
                room = _put_tokens(entry, add, keys, keep_null, null, marks, room)
        add(marks[END])
    elif isinstance(item, _SEQUENCES):
        room -= TABLE_COST + ENTRY_COST * len(item)
        if room < 0:
            raise TooLarge(MEMORY_ERROR.decode())
        if not item:
            add(marks[EMPTY_ARRAY])
            return room
        add(marks[ARRAY])
        for entry in item:
            kind = type(entry)
            if kind is str:
                text = entry.encode("utf-8", LUA_TEXT)
                room -= STRING_COST + len(text)
                add(text)
            elif kind is int:
                add(entry if INT64_MIN <= entry <= INT64_MAX else float(entry))
            elif kind is bool or kind is float:
                add(entry)
            elif entry is None:
                add(null)
            else:
                room = _put_tokens(entry, add, keys, keep_null, null, marks, room)
        add(marks[END])
    else:
        room = _charge(item, room)
        add(_scalar(item))
    if room < 0:
        raise TooLarge(MEMORY_ERROR.decode())
    return room


def _charge(value: Any, room: int) -> int:
    """``room`` less what a value other than an exact str, dict or list costs in Lua."""
    cost = _lua_cost(value, room)
    if cost is None:
        raise TooLarge(MEMORY_ERROR.decode())
    return room - cost


def _scalar(value: Any) -> Any:
    """A value that is not a container, as Lua takes it."""
    if isinstance(value, str):
        return value.encode("utf-8", LUA_TEXT)
    if isinstance(value, bool) or value is None or isinstance(value, float | bytes):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    raise ConversionError(f"cannot pass a {type(value).__name__} to Lua")


def _key(key: Any) -> Any:
    """An object key that is not an exact str: Lua cannot index a table with nil or NaN."""
    if isinstance(key, float) and math.isnan(key):
        raise ConversionError("cannot use NaN as a key in Lua")
    if isinstance(key, str | bytes | int | float):
        return _scalar(key)
    raise ConversionError(f"cannot use a {type(key).__name__} as a key in Lua")


class TooLarge(HostError):
    """A value would take more room as Python data than its budget allows."""


_NODE_COST = 8  # bytes the converter charges for every value besides a string's own length


class _Converter:
    """One Lua → Python conversion: remembers the tables on the path and the room left. It
    gives Python values (``convert``) or, made with the jsonlib module, writes their JSON
    text (``write``); both read tables and apply the rules in the same methods.

    Every value of a json.encode or a print passes through here, so values are dispatched
    on their exact type (lupa gives exact bytes, int, float, bool and None) and charged
    inline, and a table costs no more reads than tell what it is: its entries; its kind
    when that matters (see ``write``); its identity, a call into Lua, only when it holds or
    is held by another table, as only then can it be part of a cycle.
    """

    __slots__ = (
        "_budget",
        "_engine",
        "_indent",
        "_json",
        "_layouts",
        "_left",
        "_root",
        "_root_null",
        "_seen",
        "_strict",
        "_table_type",
    )

    def __init__(
        self,
        engine: LuaEngine,
        strict: bool,
        budget: int,
        indent: int = 0,
        json: ModuleType | None = None,
    ) -> None:
        """``json``: runtime/jsonlib.py, for a converter that writes text."""
        self._engine = engine
        self._table_type = engine._table_type
        self._strict = strict
        self._left = budget
        self._budget = budget
        self._indent = indent
        self._json = json
        self._layouts: Any = None  # jsonlib's, pretty or compact, when writing text
        self._seen: set[bytes] = set()
        self._root: Any = None  # the outermost table, until a table inside it is met
        self._root_null = True  # whether it may be json.null (else the caller knows not)

    def convert(self, value: Any, depth: int) -> Any:
        kind = type(value)
        # A string's own length, and its line's indentation when pretty.
        self._left -= (len(value) if kind is bytes else 0) + depth * self._indent + _NODE_COST
        if self._left < 0:
            raise self._too_large()
        if kind is bytes:
            return _strict_text(value) if self._strict else _decode_text(value)
        if kind is int or kind is bool or value is None:
            return value
        if kind is float:
            if value.is_integer() and abs(value) <= 2**53:
                return int(value)
            if not self._strict and not math.isfinite(value):
                return str(value)
            return value
        found = self._open(value, depth)
        if type(found) is not tuple:
            return found
        is_array, entries, ident = found
        try:
            if is_array:
                convert = self.convert
                return [convert(item, depth + 1) for _, item in entries]
            return self._object(entries, depth)
        finally:
            if ident is not None:
                self._seen.discard(ident)

    def _open(self, value: Any, depth: int, entries: list[tuple[Any, Any]] | None = None) -> Any:
        """A value that is not a string, number, boolean or nil: what it converts to, or,
        for a table to read, ``(is_array, entries, identity)``, its entries as (key,
        value) pairs (an array's in key order; ``entries``: those of the outermost table,
        when read already). The table is then on the path until its reader discards its
        identity (None: the outermost table, whose identity no table inside it needed).

        A table inside another comes with its identity, needed anyway; the outermost one
        with its kind alone (see ``write`` for when even that is not read).
        """
        if type(value) is not self._table_type:
            lua_kind = lupa.lua_type(value)
            if lua_kind != "table":
                if self._strict:
                    raise ConversionError(f"cannot convert a {lua_kind} to JSON")
                return OPAQUE_MARKER.format(lua_kind)
        engine = self._engine
        if depth:
            if self._root is not None:  # the first table inside the outermost one
                self._seen.add(engine._describe(self._root)[1])
                self._root = None
            tag, ident = engine._describe(value)
            if tag == b"null":
                return None
            if ident in self._seen or depth >= MAX_DEPTH:
                cycle = ident in self._seen
                problem = "a table that contains itself" if cycle else "nesting too deep"
                if self._strict:
                    raise ConversionError(f"cannot convert {problem} to JSON")
                return CYCLE_MARKER if cycle else "<too deep>"
            entries = list(value.items())
        else:
            self._root = value
            ident = None
            if entries is None:
                entries = list(value.items())
            tag = engine._kinds[value]
            if tag == b"null":
                return None
        if not entries:
            return tag != b"object", entries, None
        ordered = None if tag == b"object" or type(entries[0][0]) is not int else _sequence(entries)
        if ident is not None:
            self._seen.add(ident)
        if ordered is not None:
            return True, ordered, ident
        return False, entries, ident

    def _object(self, entries: list[tuple[Any, Any]], depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in sorted(entries, key=_item_order) if len(entries) > 1 else entries:
            result[self._key(key, result)] = self.convert(value, depth + 1)
        return result

    def _key(self, key: Any, taken: Container[str]) -> str:
        """A key as JSON text, charged. Keys are met numbers first, by value, then the
        rest by their text; two keys with one text (``1`` and ``"1"``) would lose a value:
        json.encode refuses; print shows the later one's key quoted."""
        text = key.decode("utf-8", "replace") if type(key) is bytes else _key_text(key)
        self._left -= len(text) + _NODE_COST
        if self._left < 0:
            raise self._too_large()
        if text in taken:
            if self._strict:
                raise ConversionError(
                    'cannot convert a table to JSON: two of its keys (1 and "1", say)'
                    f" both become the key {json.dumps(text)}"
                )
            text = json.dumps(text)
        return text

    def write(self, value: Any, depth: int, out: list[str]) -> None:
        """Appends to ``out`` the JSON text of what ``convert`` gives, as jsonlib writes it,
        when both succeed. Entries are met in the order of the text, so when both would
        fail, the error may not be the same: ``LuaEngine.json_text`` converts again.

        A table's items that are integers or (strict) strings are written in its loop, with
        jsonlib's ``int_text`` and ``quote``, which ``scalar_text`` uses: for them
        ``convert`` only charges (here, once for all of them, as the total is what counts)
        and, for a string, decodes it as ``quote`` does, so the text of the value as Lua
        gives it is the same."""
        json: Any = self._json
        table = type(value) is self._table_type
        if not table:
            kind = type(value)
            if kind is bytes or kind is int or kind is float or kind is bool or value is None:
                out.append(json.scalar_text(self.convert(value, depth)))
                return
        self._left -= depth * self._indent + _NODE_COST  # as `convert` charges it
        if self._left < 0:
            raise self._too_large()
        if depth or self._root_null or not table:
            found = self._open(value, depth)
        else:
            # A table's kind (array, object, json.null: the prelude's `kinds`) only matters
            # when it is empty, when its keys may be 1..n, or when it may be json.null
            # (which a script can rawset entries in): json_text's outermost table is not.
            entries = list(value.items())
            if entries and type(entries[0][0]) is not int:  # an object, whatever its kind
                self._root = value
                found = (False, entries, None)
            else:
                found = self._open(value, depth, entries)
        if type(found) is not tuple:
            out.append(json.scalar_text(found))
            return
        is_array, entries, ident = found
        try:
            if not entries:
                out.append("[]" if is_array else "{}")
                return
            inner, separator, outer, colon = self._layouts[depth]
            quote = json.quote
            int_text = json.int_text
            strict = self._strict
            cost = (depth + 1) * self._indent + _NODE_COST
            spent = 0
            if is_array:
                before = "[" + inner
                for _, item in entries:
                    kind = type(item)
                    if kind is int:
                        spent += cost
                        out.append(before + int_text(item))
                    elif kind is bytes and strict:
                        spent += len(item) + cost
                        out.append(before + quote(item))
                    else:
                        out.append(before)
                        self._left -= spent
                        spent = 0
                        self.write(item, depth + 1, out)
                    before = separator
                closer = outer + "]"
            else:
                if len(entries) == 1:  # no key to collide with: _key's text and charge, inline
                    key, item = entries[0]
                    text = key.decode("utf-8", "replace") if type(key) is bytes else _key_text(key)
                    spent = len(text) + _NODE_COST
                    texts: Iterable[tuple[str, Any]] = ((text, item),)
                else:
                    taken: dict[str, Any] = {}
                    for key, item in sorted(entries, key=_item_order):
                        taken[self._key(key, taken)] = item
                    texts = sorted(taken.items(), key=_first)
                before = "{" + inner
                for text, item in texts:
                    kind = type(item)
                    if kind is int:
                        spent += cost
                        out.append(before + quote(text) + colon + int_text(item))
                    elif kind is bytes and strict:
                        spent += len(item) + cost
                        out.append(before + quote(text) + colon + quote(item))
                    else:
                        out.append(before + quote(text) + colon)
                        self._left -= spent
                        spent = 0
                        self.write(item, depth + 1, out)
                    before = separator
                closer = outer + "}"
            self._left -= spent
            if self._left < 0:
                raise self._too_large()
            out.append(closer)
        finally:
            if ident is not None:
                self._seen.discard(ident)

    def _too_large(self) -> TooLarge:
        """Strict values become Lua data again (the memory limit); the others become output."""
        return TooLarge(
            MEMORY_ERROR.decode() if self._strict else f"larger than {self._budget} bytes"
        )


def _failure(exc: Exception, error_fields: Callable[[HostError], Any] | None) -> tuple[Any, ...]:
    """What a host callback returns instead of raising ``exc`` into Lua: ``(False,
    message)``. With ``error_fields``, a ``HostError`` also returns a table of fields, and
    the prelude raises the message as a string whose fields ``err.status`` and the like can
    read."""
    if isinstance(exc, HostError):
        message = str(exc).encode("utf-8", "replace")
        if error_fields is None:
            return False, message
        try:
            return False, message, error_fields(exc)
        except TooLarge:  # no room left for the fields: the memory limit, not a raise into Lua
            return False, MEMORY_ERROR
    if isinstance(exc, lupa.LuaMemoryError):  # a script callback (gsub's) passed the cap
        return False, MEMORY_ERROR
    if isinstance(exc, lupa.LuaError):
        return False, _text(exc.args[0] if exc.args else str(exc)).encode()
    if isinstance(exc, RecursionError):
        return False, b"nesting too deep"
    if isinstance(exc, MemoryError):  # the worker's data limit (supervisor.py): the memory limit
        return False, MEMORY_ERROR
    # A bug of ours; say so rather than crash the run.
    return False, f"internal error in host function: {type(exc).__name__}: {exc}".encode()


def _sequence(entries: list[tuple[Any, Any]]) -> list[tuple[Any, Any]] | None:
    """A table's entries in key order when its keys are 1..n, else None. An object's first
    key is a string, which settles it at once; lupa reads an array part in order, which the
    loop settles without sorting; keys 1..n stored out of order are sorted."""
    if type(entries[0][0]) is not int:
        return None
    for position, (key, _) in enumerate(entries, 1):
        if key != position or type(key) is not int:
            break
    else:
        return entries
    keys = [k for k, _ in entries]
    if all(type(k) is int for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
        return sorted(entries, key=_first)
    return None


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _key_text(key: Any) -> str:
    if isinstance(key, bytes):
        return _decode_text(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    if isinstance(key, int | float):
        return str(key)
    return OPAQUE_MARKER.format(lupa.lua_type(key) or type(key).__name__)


def _item_order(item: tuple[Any, Any]) -> tuple[int, Any]:
    """Numbers first, by value; then the rest by their text."""
    key = item[0]
    kind = type(key)
    if kind is bytes:
        return (1, _decode_text(key))
    if kind is int or kind is float:
        return (0, key)
    return (1, _key_text(key))


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _strict_text(raw: bytes) -> str | bytes:
    """Text that is not UTF-8 stays bytes, so json.encode can say where it breaks."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return _decode_text(value)
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
