-- The sandbox every script runs in, built on the Lua side because lupa opens every standard
-- library. Scripts get `env`, a fresh table filled from a whitelist; the real globals, the
-- `debug` library and the host's Python callbacks stay in this chunk's locals, which no
-- script can reach (no `debug`, no `string.dump`).
--
-- Host callbacks never raise into Lua (a Python exception would arrive as a userdata that
-- scripts could inspect); they return `true, value` or `false, message`, and
-- `host_results` below raises the Lua error.
local host = ...

local debug_sethook, debug_getinfo, debug_getmetatable = debug.sethook, debug.getinfo,
  debug.getmetatable
local co_create, co_resume, co_status, co_close = coroutine.create, coroutine.resume,
  coroutine.status, coroutine.close
local co_yield, co_running, co_isyieldable = coroutine.yield, coroutine.running,
  coroutine.isyieldable
local pcall, xpcall, error, load, select, type = pcall, xpcall, error, load, select, type
local setmetatable, getmetatable, rawget, tostring = setmetatable, getmetatable, rawget, tostring
local pack, unpack, concat = table.pack, table.unpack, table.concat
local clock, huge, format, find = os.clock, math.huge, string.format, string.find
local monotonic = host.monotonic

-- Limits ------------------------------------------------------------------------------------

-- A count hook checks the CPU and wall-clock deadlines every HOOK_COUNT instructions. Once a
-- limit trips, the hook fires on every instruction of every hooked thread and raises again,
-- so `pcall` and coroutines cannot swallow it. What no hook can stop (one long C call, a
-- finalizer) is the supervisor's job: it kills the worker process.
local HOOK_COUNT = 10000
local cpu_deadline, wall_deadline = huge, huge
local tripped_kind, tripped_message = nil, nil
local limit_messages = {}
local run, locate -- forward: the hook lets the host's own frames finish

local hook
local function trip(kind)
  if not tripped_kind then
    tripped_kind, tripped_message = kind, limit_messages[kind]
  end
  debug_sethook(hook, "", 1)
  error(tripped_message, 0)
end

hook = function()
  if tripped_kind then
    local running = debug_getinfo(2, "f").func
    if running == run or running == locate then
      return
    end
    debug_sethook(hook, "", 1)
    error(tripped_message, 0)
  end
  if clock() > cpu_deadline then
    trip("cpu")
  elseif wall_deadline ~= huge and monotonic() > wall_deadline then
    trip("timeout")
  end
end

-- The run's budget of integration and MCP calls (--max-calls, maxCalls), checked before each
-- call is sent, so the call past it never leaves; a limit, so pcall cannot swallow it.
local max_calls, calls_made = nil, 0
local function count_call()
  if max_calls then
    if calls_made >= max_calls then
      trip("calls")
    end
    calls_made = calls_made + 1
  end
end

-- A memory error caught by pcall or coroutine.resume would let a script go on allocating;
-- treat it as the memory limit tripping, like the other limits.
local MEMORY_ERROR = "not enough memory"
local function after_protected(ok, ...)
  if not ok and (...) == MEMORY_ERROR then
    trip("memory")
  end
  return ok, ...
end

-- Errors of host calls are plain strings, as in the original, so every string habit works on
-- them (type(err) == "string", err == text, string.find(err, ...), err:match("404")). The
-- fields a script may want besides the text (status, message, tool, kind, file, line) are
-- remembered by text, and the string metatable's __index finds them: err.status. The memory
-- is bounded: only the last ERROR_MEMORY texts keep their fields.
local ERROR_MEMORY = 256
local string_lib = string
local error_fields, error_order, error_next = {}, {}, 1

local function remember(text, fields)
  local old = error_order[error_next]
  if old ~= nil then
    error_fields[old] = nil
  end
  error_order[error_next], error_fields[text] = text, fields
  error_next = error_next % ERROR_MEMORY + 1
end

getmetatable("").__index = function(s, key)
  local method = string_lib[key]
  if method ~= nil then
    return method
  end
  local fields = error_fields[s]
  if fields ~= nil then
    return fields[key]
  end
end

-- The script's position nearest the top of the stack: the first Lua frame not in the
-- prelude, so an error raised in a host call or a C function names the script's line.
local function script_position(level)
  while true do
    local info = debug_getinfo(level, "Sl")
    if not info then
      return nil
    end
    if info.currentline > 0 and info.source ~= "=prelude" then
      return info.short_src, info.currentline
    end
    level = level + 1
  end
end

-- Parallel branches (app.parallel, app.map) are coroutines a scheduler owns, defined below;
-- a branch waits for a host call or a sleep by yielding REQUEST to it, which no script can
-- forge (REQUEST is local here); the scheduler resumes it with the call's results.
-- `tasks` maps a branch's coroutine to its record.
local REQUEST = {}
local tasks = setmetatable({}, { __mode = "k" })

-- A branch whose function tail-called the failing function (`return bk.get_build{...}`)
-- has no frame of the script's left: its error names the line of app.map/app.parallel.
local function host_error(text, fields)
  local file, line = script_position(2)
  if not file then
    local task = tasks[co_running()]
    if task then
      file, line = task.group.file, task.group.line
    end
  end
  if file then
    text = file .. ":" .. line .. ": " .. text
    fields.file, fields.line = file, line
  end
  remember(text, fields)
  error(text, 0)
end

-- A host callback's failure raised as the script's error; no room left for what it made
-- is the memory limit.
local function host_failed(message, fields)
  if message == MEMORY_ERROR then
    trip("memory")
  end
  host_error(message, fields or { message = message, kind = "runtime" })
end

-- A host callback's results: its values after `true`, or its failure.
-- Varargs, not a packed table: this is on the path of every host call.
local function host_results(ok, ...)
  if ok then
    return ...
  end
  host_failed(...)
end

local function host_call(fn, ...)
  return host_results(fn(...))
end

-- Value helpers shared with the host ----------------------------------------------------------

-- Empty tables are the one case where Lua cannot tell a JSON array from an object; `kinds`
-- remembers which one a table came from, without touching the table or its metatable. It
-- also names json.null, so the host learns a table's kind, null included, in one lookup.
local kinds = setmetatable({}, { __mode = "k" })

local null = setmetatable({}, {
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
  __metatable = false,
})
kinds[null] = "null"

-- A table's kind and identity (the host's converter tells cycles by it). Raw throughout
-- (rawequal, no __eq): the host converts script values with the memory cap lifted, so it
-- must never run script code while it does.
local function describe(t)
  if rawequal(t, null) then
    return "null", nil
  end
  return kinds[t], format("%p", t)
end

-- The host builds a value in one call, from its flat form (engine.py's `_tokens`): an
-- object is OBJECT, key, value, ..., END; an array is ARRAY, value, ..., END; an empty one
-- is the single token EMPTY_OBJECT or EMPTY_ARRAY and gets its kind. One lupa call per
-- table entry was most of the cost of a big reply. The tokens are strings, numbers,
-- booleans, null and these markers, so `==` and `opens[token]` run no metamethod.
local OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, END = {}, {}, {}, {}, {}
local tokens, at -- the array being assembled and the position in it (never re-entered)

local opens = {
  [EMPTY_OBJECT] = function()
    local t = {}
    kinds[t] = "object"
    return t
  end,
  [EMPTY_ARRAY] = function()
    local t = {}
    kinds[t] = "array"
    return t
  end,
}

opens[OBJECT] = function()
  local t, key = {}, tokens[at]
  while key ~= END do
    local value = tokens[at + 1]
    at = at + 2
    local open = opens[value]
    if open then
      value = open()
    end
    t[key] = value
    key = tokens[at]
  end
  at = at + 1
  if next(t) == nil then -- every entry was a null, dropped: still an object
    kinds[t] = "object"
  end
  return t
end

opens[ARRAY] = function()
  local t, n, value = {}, 0, tokens[at]
  at = at + 1
  while value ~= END do
    local open = opens[value]
    if open then
      value = open()
    end
    n = n + 1
    t[n] = value
    value = tokens[at]
    at = at + 1
  end
  return t
end

local function assemble(flat)
  tokens, at = flat, 2
  local value = opens[flat[1]]()
  tokens = nil
  return value
end

-- A small value's tokens come as arguments: cheaper than the host making an array first.
local function assemble_tokens(...)
  return assemble({ ... })
end

-- The script environment ----------------------------------------------------------------------

local env = {}
for _, name in ipairs({
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset",
  "select", "tonumber", "tostring", "type", "getmetatable",
}) do
  env[name] = _G[name]
end
env._VERSION = _VERSION
env.unpack = unpack
env._G = env

string.dump = nil
getmetatable("").__metatable = false
env.string = string
env.table = table
env.math = math
env.utf8 = utf8
env.os = { time = os.time, clock = os.clock, date = os.date }

-- The running branch, when it may yield to the scheduler: not inside a coroutine of the
-- script's own, nor under a C function that cannot yield (table.sort's comparator). There,
-- calls simply block, as they do outside app.parallel.
local function current_task()
  local co = co_running()
  local task = tasks[co]
  if task and co_isyieldable() then
    return task
  end
end

-- sleep(seconds): waits without using CPU time (so not against --cpu-limit), but against
-- the wall clock: a sleep past --timeout wakes at the deadline and ends the run there. In a
-- parallel branch the other branches run meanwhile.
local host_sleep, MAX_SLEEP = host.sleep, host.max_sleep
env.sleep = function(seconds)
  if type(seconds) ~= "number" or not (seconds >= 0 and seconds <= MAX_SLEEP) then
    error("sleep: seconds must be a number from 0 to " .. MAX_SLEEP .. ", got "
      .. tostring(seconds), 2)
  end
  if current_task() then
    co_yield(REQUEST, "sleep", seconds)
    return
  end
  local left = wall_deadline - monotonic()
  if seconds >= left then
    host_sleep(left > 0 and left or 0)
    trip("timeout")
  end
  host_sleep(seconds)
end

-- Takes a library call's pcall results inside a wrapper: its errors point at the script's
-- line, not ours (level 3: this function, the wrapper, the script; never tail-call it).
local function as_caller(ok, ...)
  if not ok then
    error((...), 3)
  end
  return ...
end

env.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not allowed in the sandbox", 2)
  end
  return (as_caller(pcall(setmetatable, t, mt)))
end

env.pcall = function(f, ...)
  return after_protected(pcall(f, ...))
end

-- Once a limit trips, the script's message handler is skipped: it would run inside the hook,
-- where no hook fires, and could loop forever.
env.xpcall = function(f, handler, ...)
  return after_protected(xpcall(f, function(e)
    if tripped_kind then
      return e
    end
    if e == MEMORY_ERROR then
      trip("memory")
    end
    return handler(e)
  end, ...))
end

env.collectgarbage = function(option)
  if option == "count" then
    return collectgarbage("count")
  end
  error("collectgarbage: only \"count\" is available in the sandbox", 2)
end

env.load = function(chunk, name, _, chunk_env)
  local loaded, err = load(chunk, name, "t", chunk_env == nil and env or chunk_env)
  if not loaded and err == MEMORY_ERROR then -- a reader function ran out of memory
    trip("memory")
  end
  return loaded, err
end

-- Hooks are per thread: every coroutine a script makes gets the same hook.
local function hooked(co)
  debug_sethook(co, hook, "", tripped_kind and 1 or HOOK_COUNT)
  return co
end

local coroutine_lib = {}
for name, fn in pairs(coroutine) do
  coroutine_lib[name] = fn
end
coroutine_lib.create = function(f)
  return hooked(co_create(f))
end
-- A parallel branch belongs to the scheduler: resumed by the script, it would take a fake
-- result for the call it waits on.
local function not_a_branch(co, what)
  if tasks[co] then
    error("coroutine." .. what .. ": this coroutine is an app.parallel branch; only the"
      .. " scheduler runs it", 3)
  end
end
coroutine_lib.resume = function(co, ...)
  not_a_branch(co, "resume")
  return after_protected(co_resume(co, ...))
end
coroutine_lib.close = function(co)
  not_a_branch(co, "close")
  return after_protected(as_caller(pcall(co_close, co)))
end
coroutine_lib.wrap = function(f)
  local co = hooked(co_create(f))
  return function(...)
    local result = pack(after_protected(co_resume(co, ...)))
    if not result[1] then
      if co_status(co) == "dead" then
        co_close(co)
      end
      error(result[2], 0)
    end
    return unpack(result, 2, result.n)
  end
end
env.coroutine = coroutine_lib

-- print and dump ---------------------------------------------------------------------------

-- Tables print as JSON (so CI jobs can parse what a script dumped); other values as tostring.
local function render(v)
  if type(v) == "table" and not rawequal(v, null) then
    local mt = debug_getmetatable(v) -- the real one, also when __metatable hides it
    if not (mt and rawget(mt, "__tostring")) then
      local text = host_call(host.render_table, v)
      if text == false then
        trip("output")
      end
      return text
    end
  end
  return tostring(v)
end

local function emit(line)
  if not host.emit(line) then
    trip("output")
  end
end

local function print_values(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    parts[i] = render((select(i, ...)))
  end
  emit(concat(parts, "\t"))
end

env.print = print_values

env.dump = function(...)
  print_values(...)
  return ...
end

-- json, regex, docs ---------------------------------------------------------------------------

-- Their functions are the host's (runtime/library.py; json.decode is host.json_decode),
-- named in host.libraries; the reference is read at run time. Each wrapper calls its host
-- function and hands the results to host_results, which raises an error at the script's
-- line.
env.json = {
  null = null,
  array = function(t)
    t = t or {}
    if not rawequal(t, null) then
      kinds[t] = "array"
    end
    return t
  end,
  object = function(t)
    t = t or {}
    if not rawequal(t, null) then
      kinds[t] = "object"
    end
    return t
  end,
}

local function library_function(fn)
  return function(...)
    return host_results(fn(...))
  end
end

for library, names in pairs(host.libraries) do
  local functions = env[library] or {}
  for _, name in ipairs(names) do
    functions[name] = library_function(host[library .. "_" .. name])
  end
  env[library] = functions
end

-- json.encode(json.null) is "null", as json.encode(nil) is: the host is handed nil, so the
-- table it gets is never json.null (it reads one thing fewer: engine.py's json_text).
local host_encode = host.json_encode
env.json.encode = function(value, options)
  if kinds[value] == "null" then -- rawequal(value, null), without a call
    value = nil
  end
  local ok, text, fields -- as host_results does, unpacked
  if options == nil then -- one argument fewer for lupa to convert
    ok, text, fields = host_encode(value)
  else
    ok, text, fields = host_encode(value, options)
  end
  if ok then
    return text
  end
  return host_results(ok, text, fields)
end

-- mcp: servers, tools, resources and prompts of configured MCP servers ---------------------

-- The names are dispatch.py's MCP_FUNCTIONS, as host.mcp_functions; it checks the arguments.
-- An integration or MCP call: in a parallel branch it is started on a thread and the branch
-- waits for it, other branches running meanwhile; anywhere else it blocks.
-- `args.line` is the script's line of the call, which a planned write is recorded with (in
-- a branch that tail-called the function, the line of its app.map/app.parallel).
-- A branch's call counts against the run's budget when it starts (launch, below).
local host_dispatch = host.call
local function call(path, args)
  local _, line = script_position(3)
  local task = current_task()
  if task then
    args.line = line or task.group.line
    return host_results(co_yield(REQUEST, "call", path, args))
  end
  args.line = line
  count_call()
  return host_results(host_dispatch(path, args))
end

env.mcp = {}
for _, name in ipairs(host.mcp_functions) do
  local path = "mcp." .. name
  env.mcp[name] = function(...)
    return call(path, pack(...))
  end
end

-- app: the integration proxy ----------------------------------------------------------------

local function proxy(path, own)
  return setmetatable({}, {
    __index = function(_, key)
      if own and own[key] then
        return own[key]
      end
      return proxy(path .. "." .. tostring(key))
    end,
    __call = function(_, ...)
      return call(path, pack(...))
    end,
    __tostring = function()
      return path
    end,
    __metatable = false,
  })
end

-- app.parallel and app.map -----------------------------------------------------------------

-- One scheduler for the run. A call to app.parallel makes a group of branches (tasks), each a
-- hooked coroutine running one function under `locate`, so limits and error positions hold in
-- branches as anywhere. Run from the main chunk, app.parallel drives the scheduler until its
-- group is done; run from a branch, the branch yields "join" and the scheduler already running
-- takes the new branches in. A group has at most `limit` calls in flight; further calls wait
-- for a slot. In "raise" mode the first failure cancels what has not started: queued calls
-- are never sent, calls in flight finish (and are recorded), then the error of the first
-- failed item in input order is raised.
local host_start, host_finish = host.start, host.finish
local MAX_CONCURRENCY = host.max_concurrency -- host.concurrency is the run's default
local ready, ready_first, ready_last -- tasks to resume, with the values to resume them with
local waiting = {} -- ticket -> task whose call it is
local sleepers = {} -- tasks in sleep(), each with .wake
local refill = {} -- groups with queued calls and perhaps a free slot
local running_calls = 0

local function reset_scheduler()
  ready, ready_first, ready_last = {}, 1, 0
  waiting, sleepers, refill, running_calls = {}, {}, {}, 0
end
reset_scheduler()

local function make_ready(task, values)
  ready_last = ready_last + 1
  ready[ready_last] = { task, values }
end

local end_cancelled

-- A task is over: its group counts down, and a group that is done wakes the branch that
-- joined it (or ends it, when that branch was cancelled meanwhile).
local function task_over(task)
  task.over = true
  local group = task.group
  group.live = group.live - 1
  local parent = group.parent
  if group.live == 0 and parent then
    parent.joined = nil
    if parent.cancelled then
      end_cancelled(parent)
    else
      make_ready(parent, pack())
    end
  end
end

local function cancel_group(group)
  group.cancelled = true
  for _, task in ipairs(group.tasks) do
    if not task.over and not task.cancelled then
      task.cancelled = true
      if task.joined then
        cancel_group(task.joined)
      elseif not task.ticket then
        end_cancelled(task)
      end
    end
  end
end

-- Ends a cancelled task that waits on nothing (a call in flight or a joined group end it
-- when they finish). Closing runs its pending to-be-closed variables.
end_cancelled = function(task)
  if task.over then
    return
  end
  if co_status(task.co) == "suspended" then
    after_protected(co_close(task.co))
  end
  task_over(task)
end

local function finish_task(task, ok, value)
  local group = task.group
  if task.cancelled then
    task_over(task)
    return
  end
  if ok then
    group.results[task.index] = value
  else
    group.errors[task.index] = value == nil and "nil" or value
    if group.mode == "raise" and not group.cancelled then
      cancel_group(group)
    end
  end
  task_over(task)
end

local function launch(task, path, args)
  count_call()
  local started = pack(host_start(path, args))
  if not started[1] then -- its arguments have no JSON form: it fails at once, unsent
    make_ready(task, started)
    return
  end
  local ticket = started[2]
  waiting[ticket], task.ticket = task, ticket
  running_calls = running_calls + 1
  task.group.running = task.group.running + 1
end

local function start_queued(group)
  local queued = group.queued
  while group.running < group.limit and group.queue_first <= group.queue_last do
    local entry = queued[group.queue_first]
    queued[group.queue_first] = nil
    group.queue_first = group.queue_first + 1
    if entry[1].cancelled then
      end_cancelled(entry[1])
    else
      launch(entry[1], entry[2], entry[3])
    end
  end
end

local function resume(task, values)
  if task.over then
    return
  end
  if task.cancelled then
    end_cancelled(task)
    return
  end
  local result = pack(after_protected(co_resume(task.co, unpack(values, 1, values.n))))
  if tripped_kind then
    error(tripped_message, 0)
  end
  if not result[1] then
    finish_task(task, false, result[2])
  elseif co_status(task.co) == "dead" then
    local outcome = result[2]
    finish_task(task, outcome[1], outcome[2])
  elseif not rawequal(result[2], REQUEST) then
    after_protected(co_close(task.co))
    finish_task(task, false, "coroutine.yield: an app.parallel branch cannot yield; wrap"
      .. " the code that yields in a coroutine of its own")
  else
    local op = result[3]
    local group = task.group
    if op == "call" then
      if group.cancelled then
        end_cancelled(task)
      else -- started in turn once the ready branches have run (see drive)
        group.queue_last = group.queue_last + 1
        group.queued[group.queue_last] = { task, result[4], result[5] }
        refill[group] = true
      end
    elseif op == "sleep" then
      task.wake = monotonic() + result[4]
      sleepers[#sleepers + 1] = task
    else -- "join": resumed when its group is done
      task.joined = result[4]
    end
  end
end

-- Wakes the tasks whose sleep is over; returns the earliest wake time still to come.
local function wake_sleepers()
  local now, next_wake = monotonic(), huge
  local still = {}
  for _, task in ipairs(sleepers) do
    if task.over then -- cancelled meanwhile
    elseif task.wake <= now or task.cancelled then
      make_ready(task, pack())
    else
      still[#still + 1] = task
      if task.wake < next_wake then
        next_wake = task.wake
      end
    end
  end
  sleepers = still
  return next_wake
end

-- Runs the scheduler until `group` is done: resumes ready tasks, starts the calls that have
-- a slot, then waits for the next call to finish or sleep to end, never past the run's
-- deadline. Queued calls start only after the ready tasks ran: a branch whose call just
-- failed raises first, and in "raise" mode what waits for a slot is then never sent.
local function drive(group)
  while group.live > 0 do
    while ready_first <= ready_last do
      local entry = ready[ready_first]
      ready[ready_first] = nil
      ready_first = ready_first + 1
      resume(entry[1], entry[2])
    end
    for waiting_group in next, refill do
      refill[waiting_group] = nil
      start_queued(waiting_group)
    end
    local next_wake = wake_sleepers()
    if group.live > 0 and ready_first > ready_last then
      local until_time = next_wake < wall_deadline and next_wake or wall_deadline
      local seconds = until_time - monotonic()
      if running_calls > 0 then
        local got = pack(host_finish(seconds < huge and seconds or nil))
        if not got[1] then
          host_failed(got[2], got[3])
        end
        local ticket = got[2]
        if ticket ~= nil then
          local task = waiting[ticket]
          waiting[ticket], task.ticket = nil, nil
          running_calls = running_calls - 1
          task.group.running = task.group.running - 1
          refill[task.group] = true
          make_ready(task, pack(unpack(got, 3, got.n)))
        end
      elseif next_wake < huge then
        host_sleep(seconds > 0 and seconds or 0)
      else
        error("app.parallel: internal error: every branch waits and nothing will wake them")
      end
      if monotonic() >= wall_deadline then
        trip("timeout")
      end
    end
  end
end

local function branch(fn, ...)
  return pack(xpcall(fn, locate, ...))
end

local function check_options(name, opts)
  if opts == nil then
    return host.concurrency, "raise"
  elseif type(opts) ~= "table" then
    error(name .. ": options must be a table such as {concurrency = 4, errors = \"collect\"}", 3)
  end
  for key in next, opts do
    if key ~= "concurrency" and key ~= "errors" then
      error(name .. ": unknown option " .. tostring(key) .. " (options: concurrency, errors)", 3)
    end
  end
  local limit, mode = rawget(opts, "concurrency"), rawget(opts, "errors")
  if limit == nil then
    limit = host.concurrency
  elseif type(limit) ~= "number" or limit % 1 ~= 0 or limit < 1 or limit > MAX_CONCURRENCY then
    error(name .. ": concurrency must be a whole number from 1 to " .. MAX_CONCURRENCY
      .. ", got " .. tostring(limit), 3)
  end
  if mode == nil then
    mode = "raise"
  elseif mode ~= "raise" and mode ~= "collect" then
    error(name .. ": errors must be \"raise\" or \"collect\", got " .. tostring(mode), 3)
  end
  return math.tointeger(limit), mode
end

-- Runs fn(args_of(i)) for i = 1..n as branches; returns their first values in order (or,
-- collecting, {ok = true, value = ...} / {ok = false, error = ...} for each).
local function run_group(n, fn_of, args_of, limit, mode)
  local file, line = script_position(3)
  local group = {
    file = file, line = line,
    tasks = {}, results = {}, errors = {}, live = n, limit = limit, mode = mode,
    running = 0, queued = {}, queue_first = 1, queue_last = 0, parent = nil, cancelled = false,
  }
  for i = 1, n do
    local co = hooked(co_create(branch))
    local task = { co = co, group = group, index = i }
    tasks[co] = task
    group.tasks[i] = task
    make_ready(task, pack(fn_of(i), args_of(i)))
  end
  if n > 0 then
    local parent = current_task()
    if parent then
      group.parent = parent
      co_yield(REQUEST, "join", group)
    else
      drive(group)
    end
  end
  local results = {}
  kinds[results] = "array"
  if mode == "collect" then
    for i = 1, n do
      local failure = group.errors[i]
      if failure ~= nil then
        results[i] = { ok = false, error = failure }
      else
        results[i] = { ok = true, value = group.results[i] }
      end
    end
    return results
  end
  for i = 1, n do
    local failure = group.errors[i]
    if failure ~= nil then
      error(failure, 0)
    end
  end
  for i = 1, n do
    results[i] = group.results[i]
  end
  return results
end

local app_functions = {
  -- app.parallel(fns [, opts]): runs each function of the array `fns` as a branch; their
  -- integration and MCP calls are in flight together. Returns each one's first value, in order.
  parallel = function(fns, opts)
    if type(fns) ~= "table" then
      error("app.parallel: expected an array of functions, got " .. type(fns), 2)
    end
    local n = #fns
    for i = 1, n do
      if type(fns[i]) ~= "function" then
        error("app.parallel: item " .. i .. " is a " .. type(fns[i]) .. ", not a function", 2)
      end
    end
    local limit, mode = check_options("app.parallel", opts)
    return run_group(n, function(i) return fns[i] end, function() end, limit, mode)
  end,
  -- app.map(items, fn [, opts]): calls fn(item, index) for every item of the array `items`
  -- as branches; returns the results in input order.
  map = function(items, fn, opts)
    if type(items) ~= "table" then
      error("app.map: expected an array of items, got " .. type(items), 2)
    end
    if type(fn) ~= "function" then
      error("app.map: expected a function as argument 2, got " .. type(fn), 2)
    end
    local limit, mode = check_options("app.map", opts)
    return run_group(#items, function() return fn end, function(i) return items[i], i end,
      limit, mode)
  end,
}
env.app = proxy("app", app_functions)

-- Running a chunk ----------------------------------------------------------------------------

-- An error object's __tostring is script code: it runs here, under the script's own limits,
-- never in the host (so does tostring's use of __name). A table with neither stays a table
-- (the host shows it as JSON).
local function error_text(e)
  local mt = debug_getmetatable(e)
  if not (mt and (rawget(mt, "__tostring") ~= nil or rawget(mt, "__name") ~= nil)) then
    return e
  end
  local ok, text = pcall(tostring, e)
  if ok and type(text) == "string" then
    return text
  elseif ok then
    return "(error object whose __tostring returned " .. type(text) .. ")"
  elseif text == MEMORY_ERROR then
    tripped_kind, tripped_message = "memory", limit_messages.memory
    return e
  end
  return "(error object whose __tostring failed: "
    .. (type(text) == "string" and text or type(text)) .. ")"
end

-- The message handler of a run: a string error raised in a C function (`for _ in ipairs(nil)`)
-- carries no position; give it the script's, as errors raised in Lua code have. What `error`
-- raised is left as the script gave it (level 0 means "no position").
local has_position = "^[^\n]-:%d+: "
locate = function(e)
  if tripped_kind then
    return e
  end
  if type(e) == "table" then
    return error_text(e)
  end
  if type(e) ~= "string" or error_fields[e] or find(e, has_position) then
    return e
  end
  if debug_getinfo(2, "f").func == error then
    return e
  end
  local file, line = script_position(2)
  return file and (file .. ":" .. line .. ": " .. e) or e
end

-- Returns the limit that stopped the chunk (or nil), the packed results and, on an error,
-- what is known of it (the fields of a host error). Once a limit trips, the hook lets only
-- this function and `locate` run, so it must call nothing else written in Lua between the
-- chunk's end and clearing the hook.
run = function(code, name, cpu_seconds, timeout_seconds, expression_first, call_budget)
  debug_sethook()
  tripped_kind, tripped_message = nil, nil
  max_calls, calls_made = call_budget, 0
  local chunk, err
  if expression_first then
    chunk = load("return " .. code, "=" .. name, "t", env)
  end
  if not chunk then
    chunk, err = load(code, "=" .. name, "t", env)
  end
  if not chunk then
    return nil, pack(false, err), { kind = "syntax" }
  end
  reset_scheduler()
  cpu_deadline = clock() + cpu_seconds
  wall_deadline = timeout_seconds and monotonic() + timeout_seconds or huge
  debug_sethook(hook, "", HOOK_COUNT)
  local result = pack(xpcall(chunk, locate))
  debug_sethook()
  if not tripped_kind and not result[1] and result[2] == MEMORY_ERROR then
    tripped_kind = "memory"
  end
  return tripped_kind, result, not result[1] and error_fields[result[2]] or nil
end

local function set_limit_messages(messages)
  for kind, message in pairs(messages) do
    limit_messages[kind] = message
  end
end

-- Calls a script function for the host (a regex.gsub replacement): its error comes back as
-- a value, text where the error object has some (made here, under the script's limits).
local function protect(f, ...)
  return xpcall(f, function(e)
    if not tripped_kind and type(e) == "table" then
      return error_text(e)
    end
    return e
  end, ...)
end

-- Runs f(...) for the host under the run's memory cap (a page's C decoder). The host calls
-- it with the cap lifted: `set_cap` (lupa's) arms the cap once lupa has pushed the
-- arguments, a page's text among them, and lifts it before lupa takes the results. lupa
-- makes both outside any protected call, where running out of memory aborts the process.
local function lift_cap(set_cap, ...)
  set_cap(0)
  return ...
end

local function capped(set_cap, cap, f, ...)
  set_cap(cap)
  return lift_cap(set_cap, protect(f, ...))
end

return {
  run = run,
  protect = protect,
  capped = capped,
  hide = function(name)
    env[name] = nil
  end,
  describe = describe,
  kinds = kinds,
  null = null,
  assemble = assemble,
  assemble_tokens = assemble_tokens,
  tokens = { OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, END },
  set_limit_messages = set_limit_messages,
}
