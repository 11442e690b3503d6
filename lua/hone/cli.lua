-- The command line: `hone run|runs|show|lua|help|version`. Expected failures (bad flags,
-- missing files, Lua errors in tasks and recipes) print one line and exit 2.
local hone = require("hone")
local client = require("hone.client")
local loop = require("hone.loop")
local trace_mod = require("hone.trace")

local M = {}

M.USAGE = [[usage: hone <command> [options]

commands:
  run TASK       run a recipe on a task (TASK: a name under tasks/, or a task.lua path)
  runs           list the runs in the store
  show RUN       one run, step by step
  lua FILE ...   run a Lua script with the hone module (tests, experiments)
  help           this text;  version: hone's version

options for run:
  --recipe R        recipe name under recipes/ or a .lua path (default: fixed)
  --set KEY=VALUE   set a recipe parameter, e.g. --set batch_size=3 (repeatable)
  --artifact NAME   which starting artifact of the task (default: the task's default)
  --seed N          run seed: shuffling and the LLM's seed (default: 1)
  --llm-url URL     OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1
                    (else $HONE_LLM_URL, else $OPENAI_BASE_URL)
  --model NAME      model name (else $HONE_LLM_MODEL); the key comes from $OPENAI_API_KEY
  --quiet           no per-step lines
options for every command:
  --db FILE         the trace store (default: $HONE_DB, else hone.db)
]]

-- An expected failure: shown as one line, exit code `code`.
local Failure = {}
Failure.__tostring = function(f) return f.message end

local function fail(message, code)
  error(setmetatable({ message = message, code = code or 2 }, Failure), 0)
end

-- Flags each command accepts: name -> "string" | "integer" | "list" | "boolean".
local FLAGS = {
  run = { recipe = "string", set = "list", artifact = "string", seed = "integer",
          ["llm-url"] = "string", model = "string", quiet = "boolean", db = "string" },
  runs = { db = "string" },
  show = { db = "string" },
}

local function parse(command, argv, first)
  local spec = FLAGS[command]
  local flags, positional = {}, {}
  local i = first
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-]+)$") end
    if name then
      local kind = spec[name]
      if not kind then fail(string.format("unknown flag --%s for '%s' (see hone --help)", name, command)) end
      local value = inline
      if kind ~= "boolean" and value == nil then
        i = i + 1
        value = argv[i]
        if value == nil then fail(string.format("--%s needs a value", name)) end
      end
      if kind == "integer" then
        local v = math.tointeger(tonumber(value))
        if not v then fail(string.format("--%s takes a whole number, not '%s'", name, value)) end
        value = v
      elseif kind == "boolean" then
        value = true
      end
      local key = name:gsub("%-", "_")
      if kind == "list" then
        flags[key] = flags[key] or {}
        table.insert(flags[key], value)
      else
        flags[key] = value
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      fail(string.format("unknown flag %s for '%s' (see hone --help)", a, command))
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return flags, positional
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- Finds a task or recipe by name or path; kind is "task" or "recipe".
local function locate(kind, name)
  local tried = {}
  local candidates = kind == "task"
    and { hone.root .. "/tasks/" .. name .. "/task.lua", name .. "/task.lua", name }
    or { hone.root .. "/recipes/" .. name .. ".lua", name }
  for _, path in ipairs(candidates) do
    tried[#tried + 1] = path
    if path:match("%.lua$") and file_exists(path) then return path end
  end
  fail(string.format("no %s '%s' (looked for %s)", kind, name, table.concat(tried, ", ")))
end

local function load_module(kind, path)
  local chunk, err = loadfile(path)
  if not chunk then fail(kind .. " error: " .. err) end
  local ok, mod = pcall(chunk)
  if not ok then fail(kind .. " error: " .. tostring(mod)) end
  if type(mod) ~= "table" then fail(string.format("%s error: %s must return a table", kind, path)) end
  return mod
end

-- "3" -> 3, "true" -> true, else the text; checked against the default's type.
local function coerce(key, text, default)
  local v
  if text == "true" then v = true
  elseif text == "false" then v = false
  else v = math.tointeger(tonumber(text)) or tonumber(text) or text end
  if default ~= nil and type(default) ~= type(v) then
    fail(string.format("parameter %s takes a %s, not '%s'", key, type(default), text))
  end
  return v
end

local function recipe_params(recipe, recipe_name, sets)
  local params = {}
  for k, v in pairs(recipe.params or {}) do params[k] = v end
  for _, kv in ipairs(sets or {}) do
    local key, text = kv:match("^([%w_]+)=(.*)$")
    if not key then fail(string.format("--set takes KEY=VALUE, not '%s'", kv)) end
    if recipe.params and recipe.params[key] == nil then
      local known = {}
      for k in pairs(recipe.params) do known[#known + 1] = k end
      table.sort(known)
      fail(string.format("recipe %s has no parameter '%s' (it has: %s)", recipe_name, key,
        table.concat(known, ", ")))
    end
    params[key] = coerce(key, text, recipe.params and recipe.params[key])
  end
  return params
end

local function db_path(flags)
  return flags.db or os.getenv("HONE_DB") or "hone.db"
end

local function open_existing(flags)
  local path = db_path(flags)
  if not file_exists(path) then fail("no store at " .. path .. " (pass --db FILE)") end
  local ok, tr = pcall(trace_mod.open, path)
  if not ok then fail(tostring(tr)) end
  return tr
end

local commands = {}

function commands.run(argv)
  local flags, pos = parse("run", argv, 2)
  if #pos ~= 1 then fail("run takes one TASK (see hone --help)") end
  local task_name = pos[1]
  local recipe_name = flags.recipe or "fixed"
  local task = load_module("task", locate("task", task_name))
  local recipe = load_module("recipe", locate("recipe", recipe_name))
  if type(recipe.run) ~= "function" then fail("recipe error: " .. recipe_name .. " has no run(run)") end
  local params = recipe_params(recipe, recipe_name, flags.set)
  local config, why = client.resolve(flags)
  if not config then fail(why) end
  local seed = flags.seed or 1
  config.seed = seed
  for _, k in ipairs({ "temperature", "max_tokens", "timeout", "retries", "backoff" }) do
    config[k] = params["llm_" .. k]
  end

  local ok, tr = pcall(trace_mod.open, db_path(flags))
  if not ok then fail(tostring(tr)) end
  local log = flags.quiet and function() end or function(line) io.stdout:write(line, "\n") io.stdout:flush() end
  local run
  ok, run = pcall(loop.new, {
    trace = tr, task = task, task_name = task_name, recipe_name = recipe_name, params = params,
    seed = seed, client = client.new(config), artifact = flags.artifact, log = log,
  })
  if not ok then tr:close() fail(loop.is_stop(run) and run.message or ("task error: " .. tostring(run))) end
  log(string.format("run %d: task %s, recipe %s, seed %d, model %s at %s, store %s", run.id, task_name,
    recipe_name, seed, config.model, config.url, db_path(flags)))
  local err
  ok, err = pcall(function()
    run:start()
    recipe.run(run)
  end)
  if ok then
    run:finish("done")
    log(string.format("run %d done: best validation %s (candidate %d), its test %s; %d LLM calls, %d tokens",
      run.id, loop.fmt(run.best.validation), run.best.id, loop.fmt(run.best.test), run.totals.llm_calls,
      run.totals.prompt_tokens + run.totals.completion_tokens))
    tr:close()
    return 0
  end
  if loop.is_stop(err) then
    run:finish(err.status, err.message)
    tr:close()
    fail(string.format("run %d stopped (%s): %s", run.id, err.status, err.message), 1)
  end
  local message = tostring(err)
  pcall(run.finish, run, "failed", message)
  tr:close()
  fail(string.format("run %d failed: %s", run.id, message))
end


function commands.runs(argv)
  local flags, pos = parse("runs", argv, 2)
  if #pos > 0 then fail("runs takes no arguments") end
  local tr = open_existing(flags)
  local rows = tr:runs()
  print(string.format("%-5s %-20s %-12s %-6s %-12s %-6s %-10s %-8s %s", "run", "task", "recipe",
    "seed", "status", "steps", "best val", "tokens", "started"))
  for _, r in ipairs(rows) do
    print(string.format("%-5d %-20s %-12s %-6d %-12s %-6d %-10s %-8d %s", r.id, r.task, r.recipe,
      r.seed, r.status, r.steps, loop.fmt(r.best_validation), r.tokens or 0, r.started_at))
  end
  tr:close()
  return 0
end

function commands.show(argv)
  local flags, pos = parse("show", argv, 2)
  local id = math.tointeger(tonumber(pos[1] or ""))
  if #pos ~= 1 or not id then fail("show takes one RUN id (see hone runs)") end
  local tr = open_existing(flags)
  local r = tr:run(id)
  if not r then tr:close() fail(string.format("no run %d in %s", id, db_path(flags))) end
  print(string.format("run %d  task %s  recipe %s  seed %d  status %s", r.id, r.task, r.recipe,
    r.seed, r.status))
  print("config   " .. r.config)
  print(string.format("started  %s  finished %s", r.started_at, r.finished_at or "-"))
  if r.error then print("error    " .. r.error) end
  print()
  print(string.format("%-5s %-4s %-9s %-9s %-8s %-8s %-8s %-6s %-8s %s", "step", "B", "candidate",
    "accepted", "train", "val", "test", "calls", "tokens", "error"))
  local best
  for _, s in ipairs(tr:steps(id)) do
    print(string.format("%-5d %-4s %-9s %-9s %-8s %-8s %-8s %-6d %-8d %s", s.step,
      s.batch_size or "-", s.candidate_id or "-", s.accepted == 1 and "yes" or "no",
      loop.fmt(s.train_score), loop.fmt(s.validation_score), loop.fmt(s.test_score), s.llm_calls,
      s.prompt_tokens + s.completion_tokens, s.error or ""))
    best = s.best_id or best
  end
  local t = tr:llm_totals(id)
  print()
  if best then
    local c = tr:candidate(best)
    local vs = tr.db:query("SELECT split, score FROM evaluations WHERE candidate_id = ? " ..
      "AND split IN ('validation', 'test')", best)
    local scores = {}
    for _, e in ipairs(vs) do scores[e.split] = e.score end
    print(string.format("best     candidate %d (step %d): validation %s, test %s", best, c.step,
      loop.fmt(scores.validation), loop.fmt(scores.test)))
  end
  print(string.format("llm      %d calls, %d prompt + %d completion tokens, %.1f s", t.calls,
    t.prompt_tokens, t.completion_tokens, t.latency_ms / 1000))
  tr:close()
  return 0
end

function commands.lua(argv)
  local path = argv[2]
  if not path then fail("lua takes a FILE") end
  local chunk, err = loadfile(path)
  if not chunk then fail(err) end
  local args = table.move(argv, 3, #argv, 1, {})
  _G.arg = args
  local ok, e = xpcall(chunk, debug.traceback, table.unpack(args))
  if not ok then
    io.stderr:write(tostring(e), "\n")
    return 1
  end
  return 0
end

function commands.help()
  io.stdout:write(M.USAGE)
  return 0
end

function commands.version()
  print("hone " .. hone.version)
  return 0
end

local ALIASES = { ["--help"] = "help", ["-h"] = "help", ["--version"] = "version" }

function M.main(argv)
  local name = argv[1]
  if name == nil then
    io.stderr:write(M.USAGE)
    return 2
  end
  name = ALIASES[name] or name
  local command = commands[name]
  if not command then
    io.stderr:write(string.format("hone: unknown command '%s' (see hone --help)\n", name))
    return 2
  end
  local ok, result = pcall(command, argv)
  if ok then return result end
  if getmetatable(result) == Failure then
    io.stderr:write("hone: ", result.message:gsub("\n.*", ""), "\n")
    return result.code
  end
  error(result, 0)
end

return M
