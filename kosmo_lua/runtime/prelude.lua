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

local function host_error(text, fields)
  local file, line = script_position(2)
  if file then
    text = file .. ":" .. line .. ": " .. text
    fields.file, fields.line = file, line
  end
  remember(text, fields)
  error(text, 0)
end

-- A host callback's results: its values after `true`, or its error raised as the script's.
-- Varargs, not a packed table: this is on the path of every host call.
local function host_results(ok, ...)
  if ok then
    return ...
  end
  local message, fields = ...
  if message == MEMORY_ERROR then
    trip("memory")
  end
  host_error(message, fields or { message = message, kind = "runtime" })
end

local function host_call(fn, ...)
  return host_results(fn(...))
end

-- Value helpers shared with the host ----------------------------------------------------------

-- Empty tables are the one case where Lua cannot tell a JSON array from an object; `kinds`
-- remembers which one a table came from, without touching the table or its metatable.
local kinds = setmetatable({}, { __mode = "k" })

local null = setmetatable({}, {
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
  __metatable = false,
})

-- Raw throughout (rawequal, no __eq): the host converts script values with the memory cap
-- lifted, so it must never run script code while it does.
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

-- sleep(seconds): waits without using CPU time (so not against --cpu-limit), but against
-- the wall clock: a sleep past --timeout wakes at the deadline and ends the run there.
local host_sleep, MAX_SLEEP = host.sleep, 86400
env.sleep = function(seconds)
  if type(seconds) ~= "number" or not (seconds >= 0 and seconds <= MAX_SLEEP) then
    error("sleep: seconds must be a number from 0 to " .. MAX_SLEEP .. ", got "
      .. tostring(seconds), 2)
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
coroutine_lib.resume = function(co, ...)
  return after_protected(co_resume(co, ...))
end
coroutine_lib.close = function(co)
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
    kinds[t] = "array"
    return t
  end,
  object = function(t)
    t = t or {}
    kinds[t] = "object"
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

-- mcp: servers, tools, resources and prompts of configured MCP servers ---------------------

-- The names are dispatch.py's MCP_FUNCTIONS, as host.mcp_functions; it checks the arguments.
env.mcp = {}
for _, name in ipairs(host.mcp_functions) do
  local path = "mcp." .. name
  env.mcp[name] = function(...)
    return host_call(host.call, path, pack(...))
  end
end

-- app: the integration proxy ----------------------------------------------------------------

local function proxy(path)
  return setmetatable({}, {
    __index = function(_, key)
      return proxy(path .. "." .. tostring(key))
    end,
    __call = function(_, ...)
      return host_call(host.call, path, pack(...))
    end,
    __tostring = function()
      return path
    end,
    __metatable = false,
  })
end
env.app = proxy("app")

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
run = function(code, name, cpu_seconds, timeout_seconds, expression_first)
  debug_sethook()
  tripped_kind, tripped_message = nil, nil
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

return {
  run = run,
  protect = protect,
  hide = function(name)
    env[name] = nil
  end,
  describe = describe,
  null = null,
  assemble = assemble,
  assemble_tokens = assemble_tokens,
  tokens = { OBJECT, ARRAY, EMPTY_OBJECT, EMPTY_ARRAY, END },
  set_limit_messages = set_limit_messages,
}
