-- The command line: `hone run|runs|show|replay|sweep|table|report|data|lua|help|version`. Expected failures (bad flags,
-- missing files, Lua errors in tasks and recipes) print one line and exit 2.
local hone = require("hone")
local baseline = require("hone.baseline")
local client = require("hone.client")
local loop = require("hone.loop")
local trace_mod = require("hone.trace")

local M = {}

M.USAGE = [[usage: hone <command> [options]

commands:
  run TASK       run a recipe on a task (TASK: a name under tasks/, or a task.lua path)
  runs           list the runs in the store
  show RUN       one run, step by step (--calls: every LLM call; --step N: one step whole:
                 candidate, diff, evaluations, feedback, the learning context sent)
  replay RUN     re-run a stored run from the reply cache only, and check every step matches
  resume RUN     continue a run that was killed, interrupted or stopped, in place, from its last
                 committed step (its settings from the store; LLM flags of run override them)
  sweep          a grid of runs: --name N --task T... [--recipe R]... [--artifact A]...
                 [--grid KEY=V1,V2]... [--set KEY=V]... [--seeds 1,2,3] [--jobs N] and the
                 LLM flags of run (given to every run); --resume NAME finishes a killed one
  table SWEEP    mean +- standard error per cell and task (--metric test|validation|final_test)
  report RUN|SWEEP -o FILE
                 one self-contained HTML file: curves, B and H, cost, failures, every step's
                 diff and reasoning; for a sweep its tables and curves with error bands.
                 A number is a run id; sweep:ID (or sweep:NAME) a sweep; anything else a sweep name
  data TASK      download a task's public data set (bbeh, mlbench) into $HONE_DATA, else ~/.cache/hone/data
  lua FILE ...   run a Lua script with the hone module (tests, experiments)
  help           this text;  version: hone's version

options for run:
  --recipe R        recipe name under recipes/ or a .lua path (default: fixed)
  --set KEY=VALUE   set a recipe parameter, e.g. --set batch_size=3 (repeatable)
  --artifact NAME   which starting artifact of the task (default: the task's default)
  --seed N          run seed: shuffling and the LLM's seed (default: 1)
  --llm PROVIDER:MODEL   the optimizer's model (else $HONE_LLM); providers: openai,
                    anthropic, vllm, ollama, llamacpp. Keys come only from the environment:
                    $OPENAI_API_KEY, $ANTHROPIC_API_KEY
  --llm-url URL     base URL, e.g. http://127.0.0.1:8080/v1 (else $HONE_LLM_URL, else
                    $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL, else the provider's default)
  --model NAME      model name for an OpenAI-compatible --llm-url (else $HONE_LLM_MODEL)
  --task-llm PROVIDER:MODEL, --task-llm-url URL
                    the task's own model (BBEH answers with it); default: the optimizer's
  --llm-concurrency N   requests in flight at once when a task evaluates a split (8)
  --jobs N          programs a task may run at once in the process sandbox, e.g. the folds
                    of a cross-validation (1)
  --llm-cache MODE  on (default): replies are kept in the store and reused for equal requests;
                    off; only: never touch the network, fail on a reply not in the cache
  --budget LIMITS   hard limits per run, e.g. calls=50,tokens=200000 (also prompt_tokens,
                    completion_tokens); when spent the run stops with status "budget"
  --optimizer KIND  llm (default when an endpoint is set) or baseline: no LLM, random steps
                    on the numeric constants, kept when validation improves (the default,
                    said loudly, when no endpoint is set)
  --quiet           nothing but errors (default: one live line on a terminal, a line per
                    step elsewhere)
options for resume: --quiet, and the LLM flags of run (--llm, --llm-url, --model, --task-llm,
  --task-llm-url, --llm-concurrency, --llm-cache, --budget) in place of the stored ones
SIGINT or SIGTERM stops a run (or a resume) cleanly after the step it is in, status
  "interrupted", exit code 130 (SIGINT) or 143 (SIGTERM); a second one ends hone at once
options for every command:
  --db FILE         the trace store (default: $HONE_DB, else hone.db)
]]

-- Exit codes of a run stopped by a signal (status interrupted): 128 + the signal's number,
-- as a shell reports a process the signal ended.
M.INTERRUPTED = { SIGINT = 130, SIGTERM = 143 }

-- An expected failure: shown as one line, exit code `code`.
local Failure = {}
Failure.__tostring = function(f) return f.message end

local function fail(message, code)
  error(setmetatable({ message = message, code = code or 2 }, Failure), 0)
end

-- Flags each command accepts: name -> "string" | "integer" | "list" | "boolean".
local FLAGS = {
  run = { recipe = "string", set = "list", artifact = "string", seed = "integer",
          llm = "string", ["llm-url"] = "string", model = "string", ["task-llm"] = "string",
          ["task-llm-url"] = "string", ["llm-concurrency"] = "integer", ["llm-cache"] = "string",
          budget = "string", optimizer = "string", quiet = "boolean", db = "string",
          ["sweep-cell"] = "integer", jobs = "integer" },
  runs = { db = "string" },
  sweep = { name = "string", task = "list", recipe = "list", artifact = "list", grid = "list", seeds = "string",
            jobs = "integer", resume = "string", db = "string", llm = "string", ["llm-url"] = "string",
            model = "string", ["task-llm"] = "string", ["task-llm-url"] = "string", ["llm-cache"] = "string",
            ["llm-concurrency"] = "integer", budget = "string", optimizer = "string", set = "list" },
  table = { db = "string", metric = "string" },
  report = { db = "string", output = "string" },
  show = { db = "string", calls = "boolean", step = "integer" },
  replay = { db = "string", quiet = "boolean" },
  resume = { db = "string", quiet = "boolean", llm = "string", ["llm-url"] = "string", model = "string",
             ["task-llm"] = "string", ["task-llm-url"] = "string", ["llm-concurrency"] = "integer",
             ["llm-cache"] = "string", budget = "string" },
  data = {},
}

local function parse(command, argv, first)
  local spec = FLAGS[command]
  local flags, positional = {}, {}
  local i = first
  while i <= #argv do
    local a = argv[i]
    if a == "-o" and spec.output then a = "--output" end   -- the one short flag: like cc -o
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

-- Finds a task or recipe by name or path; kind is "task" or "recipe". A task family
-- (tasks/atari/task.lua) is named with its variant, "atari/pong": returns path, variant.
local function locate(kind, name)
  local tried = {}
  local candidates = kind == "task"
    and { hone.root .. "/tasks/" .. name .. "/task.lua", "tasks/" .. name .. "/task.lua", name .. "/task.lua", name }
    or { hone.root .. "/recipes/" .. name .. ".lua", name }
  for _, path in ipairs(candidates) do
    tried[#tried + 1] = path
    if path:match("%.lua$") and file_exists(path) then return path end
  end
  local family, variant = name:match("^([%w_%-]+)/([%w_%-]+)$")
  if kind == "task" and family and file_exists(hone.root .. "/tasks/" .. family .. "/task.lua") then
    return hone.root .. "/tasks/" .. family .. "/task.lua", variant
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

-- "3" -> 3, "true" -> true, else the text; checked against the default's type. A parameter
-- whose default is text takes any text (a command line may well read "3").
local function coerce(key, text, default)
  local v
  if type(default) == "string" then v = text
  elseif text == "true" then v = true
  elseif text == "false" then v = false
  else v = math.tointeger(tonumber(text)) or tonumber(text) or text end
  if default ~= nil and type(default) ~= type(v) then
    fail(string.format("parameter %s takes a %s, not '%s'", key, type(default), text))
  end
  return v
end

-- The run's parameters: the recipe's defaults, then the task's own defaults for them (a
-- game brings the paper's horizon and number of steps), then the task's own parameters,
-- then --set. A key neither declares is refused.
local function run_params(recipe, recipe_name, task, sets)
  local params, declared = {}, {}
  for k, v in pairs(recipe.params or {}) do params[k], declared[k] = v, v end
  for k, v in pairs(task.defaults or {}) do params[k] = v end
  for k, v in pairs(task.params or {}) do params[k], declared[k] = v, v end
  for _, kv in ipairs(sets or {}) do
    local key, text = kv:match("^([%w_]+)=(.*)$")
    if not key then fail(string.format("--set takes KEY=VALUE, not '%s'", kv)) end
    if declared[key] == nil then
      local known = {}
      for k in pairs(declared) do known[#known + 1] = k end
      table.sort(known)
      fail(string.format("recipe %s and this task have no parameter '%s' (known: %s)", recipe_name, key,
        table.concat(known, ", ")))
    end
    if key == "horizon" and text == "episode" then
      params[key] = text   -- the one non-number a horizon takes: the whole episode
    else
      params[key] = coerce(key, text, declared[key])
    end
  end
  return params
end

local function db_path(flags)
  return flags.db or os.getenv("HONE_DB") or "hone.db"
end

-- A store to read: opened read-only, so that a store on a read-only disk (or one being
-- written by a run) can be read; a store of an older schema is opened read-write once,
-- to migrate it.
local function open_existing(flags)
  local path = db_path(flags)
  if not file_exists(path) then fail("no store at " .. path .. " (pass --db FILE)") end
  local ok, tr = pcall(trace_mod.open, path, { readonly = true })
  if not ok and tostring(tr):find("(open it read-write once)", 1, true) then ok, tr = pcall(trace_mod.open, path) end
  if not ok then fail(tostring(tr)) end
  return tr
end

local commands = {}

local BUDGET_NAMES = { calls = true, tokens = true, prompt_tokens = true, completion_tokens = true }

-- "calls=50,tokens=200000" -> {calls = 50, tokens = 200000}
local function parse_budget(text)
  local limits = {}
  for item in text:gmatch("[^,]+") do
    local name, n = item:match("^%s*([%w_]+)%s*=%s*(%d+)%s*$")
    if not name or not BUDGET_NAMES[name] then
      fail(string.format("--budget takes NAME=N[,NAME=N]... with NAME among calls, tokens, prompt_tokens, " ..
        "completion_tokens, not '%s'", item))
    end
    limits[name] = math.tointeger(tonumber(n))
  end
  if next(limits) == nil then fail("--budget takes NAME=N[,NAME=N]...") end
  return limits
end

local CACHE_MODES = { on = true, off = true, only = true }

-- Everything a run needs, from flags (run) or from a stored run's config (replay).
-- spec: {task_name, recipe_name, sets | params, seed, artifact, llm (config), task_llm,
--        budget (limits), cache, concurrency, jobs, replay_of, db, quiet}
local function execute(spec)
  local path, variant = locate("task", spec.task_name)
  local task = load_module("task", path)
  if task.variant and not task.instruction then   -- a family of tasks: pick one
    if not variant then
      fail(string.format("task %s is a family: name one of %s", spec.task_name,
        table.concat(task.variants or {}, ", ")))
    end
    local ok, v = pcall(task.variant, variant)
    if not ok then fail("task error: " .. tostring(v)) end
    task = v
  elseif variant then
    fail(string.format("task %s has no variants (%s)", spec.task_name, path))
  end
  local recipe = load_module("recipe", locate("recipe", spec.recipe_name))
  if type(recipe.run) ~= "function" then fail("recipe error: " .. spec.recipe_name .. " has no run(run)") end
  local params = spec.params or run_params(recipe, spec.recipe_name, task, spec.sets)
  local seed = spec.seed
  local llm_config, task_config = spec.llm, spec.task_llm
  for _, c in pairs({ llm_config, task_config }) do   -- either may be absent: the baseline needs none
    c.seed = seed
    for _, k in ipairs({ "temperature", "max_tokens", "timeout", "retries", "backoff" }) do
      c[k] = params["llm_" .. k]
    end
  end
  if spec.optimizer == "baseline" then
    local name = spec.artifact or task.default_artifact or "default"
    local start = task.starting_artifacts and task.starting_artifacts[name]
    if start and not baseline.applies(require("hone.artifact").new(start)) then
      fail(string.format("the baseline optimizer changes numeric constants, and starting artifact '%s' of %s " ..
        "has none in its editable blocks; use an LLM (%s) or another starting artifact", name, spec.task_name,
        client.HELP))
    end
  end
  if spec.optimizer == "baseline" and not spec.params then
    local set_accept = false
    for _, kv in ipairs(spec.sets or {}) do set_accept = set_accept or kv:match("^accept=") ~= nil end
    if not set_accept then params.accept = baseline.ACCEPT end
  end
  if spec.announce_baseline then   -- said once the run is sure to start, not above a bad flag's error
    io.stderr:write("hone: NOTE: no LLM endpoint is set, so this run uses the BASELINE optimizer: random steps ",
      "on numeric constants, NOT an LLM. For an LLM, ", client.HELP, ".\n")
  end
  local ok, tr = pcall(trace_mod.open, spec.db)
  if not ok then fail(tostring(tr)) end
  -- from here SIGINT and SIGTERM stop the run cleanly, between steps (kernel/interrupt.h)
  hone.catch_interrupts()
  local budget = spec.budget and hone.llm.budget(spec.budget) or nil
  local journal = {}
  local function make_client(config)
    return client.new(config, { trace = tr, cache = spec.cache, budget = budget, journal = journal,
      concurrency = spec.concurrency })
  end
  local optimizer_client = llm_config and make_client(llm_config)
  local task_client = spec.own_task_llm and make_client(task_config) or optimizer_client
  local progress = require("hone.progress").new({ mode = spec.quiet and "quiet" or nil })
  local function log(line) progress:event(line) end
  local function public(c)
    return { provider = c.provider, format = c.format, url = c.url, model = c.model }
  end
  local run
  ok, run = pcall(loop.new, {
    trace = tr, task = task, task_name = spec.task_name, recipe_name = spec.recipe_name, params = params,
    seed = seed, client = optimizer_client, task_client = task_client, budget = budget, artifact = spec.artifact,
    optimizer = spec.optimizer == "baseline" and baseline.new({ seed = seed }) or nil,
    progress = progress, replay_of = spec.replay_of, sweep_cell = spec.sweep_cell, resume = spec.resume,
    jobs = spec.jobs,
    config = { optimizer = spec.optimizer, llm = llm_config and public(llm_config),
               task_llm = spec.own_task_llm and public(task_config) or nil,
               budget = spec.budget, llm_cache = spec.cache, llm_concurrency = spec.concurrency, jobs = spec.jobs },
  })
  if not ok then tr:close() fail(loop.is_stop(run) and run.message or ("task error: " .. tostring(run))) end
  local by = llm_config and string.format("model %s at %s", llm_config.model, llm_config.url) or
    "the baseline optimizer (no LLM)"
  log(string.format("run %d: %stask %s, recipe %s, seed %d, %s, store %s%s", run.id,
    spec.resume and "resuming, " or "", spec.task_name, spec.recipe_name, seed, by, spec.db,
    spec.replay_of and (", replaying run " .. spec.replay_of .. " from the cache") or
    spec.resume and string.format(", %d steps in the store", run.resume_through + 1) or ""))
  local err
  ok, err = pcall(function()
    run:start()
    recipe.run(run)
    run:conclude()
  end)
  progress:finish()
  if ok then
    run:finish("done")
    log(string.format("run %d done: best validation %s (candidate %d), its test %s; final candidate %d: " ..
      "validation %s, test %s; %d LLM calls, %d tokens", run.id, loop.fmt(run.best.validation), run.best.id,
      loop.fmt(run:held_out_test(run.best.id)), run.current.id, loop.fmt(run.current.validation),
      loop.fmt(run:held_out_test(run.current.id)),
      run.totals.llm_calls, run.totals.prompt_tokens + run.totals.completion_tokens))
    tr:close()
    return 0, run.id
  end
  local sig = hone.interrupted()
  if sig then   -- whatever the interrupt cut short (an LLM call, an evaluation) ended the run
    err = setmetatable({ status = "interrupted", message = string.format("interrupted by %s after step %d; " ..
      "`hone resume %d` continues it", sig, run.step_no, run.id) }, loop.Stop)
  end
  if loop.is_stop(err) then
    run:finish(err.status, err.message)
    tr:close()
    return sig and M.INTERRUPTED[sig] or 1, run.id,
      string.format("run %d stopped (%s): %s", run.id, err.status, err.message), err.status
  end
  local message = tostring(err)
  pcall(run.finish, run, "failed", message)
  tr:close()
  fail(string.format("run %d failed: %s", run.id, message))
end

function commands.run(argv)
  local flags, pos = parse("run", argv, 2)
  if #pos ~= 1 then fail("run takes one TASK (see hone --help)") end
  local cache = flags.llm_cache or "on"
  if not CACHE_MODES[cache] then fail(string.format("--llm-cache takes on, off or only, not '%s'", cache)) end
  local concurrency = flags.llm_concurrency or 8
  if concurrency < 1 or concurrency > 1024 then fail("--llm-concurrency takes a number in [1, 1024]") end
  local jobs = flags.jobs or 1
  if jobs < 1 or jobs > 256 then fail("--jobs takes a number in [1, 256]") end
  local kind = flags.optimizer
  if kind ~= nil and kind ~= "llm" and kind ~= "baseline" then
    fail(string.format("--optimizer takes llm or baseline, not '%s'", kind))
  end
  local llm_config, why = client.resolve(flags)
  if not llm_config and kind == nil and why:match("^no LLM endpoint") then
    kind, flags.announce_baseline = "baseline", true
  end
  kind = kind or "llm"
  if not llm_config and kind == "llm" then fail(why) end
  local task_config
  task_config, why = client.resolve(flags, nil, "task")
  if why then fail(why) end
  local own = task_config ~= nil
  if not own and llm_config then
    task_config = {}
    for k, v in pairs(llm_config) do task_config[k] = v end
  end
  local code, id, message, status = execute({
    task_name = pos[1], recipe_name = flags.recipe or "fixed", sets = flags.set, seed = flags.seed or 1,
    artifact = flags.artifact, llm = llm_config, task_llm = task_config, own_task_llm = own, optimizer = kind,
    budget = flags.budget and parse_budget(flags.budget) or nil, cache = cache, concurrency = concurrency,
    jobs = jobs, db = db_path(flags), quiet = flags.quiet, sweep_cell = flags.sweep_cell,
    announce_baseline = flags.announce_baseline,
  })
  if status == "budget" then
    io.stdout:write(message, "; everything so far is kept\n")
  elseif message then
    fail(message, code)
  end
  return code, id
end

-- Every step of two runs, side by side: candidate text and scores must be equal.
local function compare_runs(tr, a, b)
  local function steps(id)
    return tr.db:query("SELECT s.step, s.accepted, s.train_score, s.validation_score, s.test_score, " ..
      "c.code FROM steps s LEFT JOIN candidates c ON c.id = s.candidate_id WHERE s.run_id = ? ORDER BY s.step", id)
  end
  local sa, sb = steps(a), steps(b)
  local diffs = {}
  if #sa ~= #sb then diffs[#diffs + 1] = string.format("%d steps, replay has %d", #sa, #sb) end
  for i = 1, math.min(#sa, #sb) do
    local x, y = sa[i], sb[i]
    for _, k in ipairs({ "code", "accepted", "train_score", "validation_score", "test_score" }) do
      if x[k] ~= y[k] and k == "code" then
        diffs[#diffs + 1] = string.format("step %d: the candidate's text differs", x.step)
      elseif x[k] ~= y[k] then
        diffs[#diffs + 1] = string.format("step %d: %s %s, replay %s", x.step, k, tostring(x[k]), tostring(y[k]))
      end
    end
  end
  return #sa, diffs
end

function commands.replay(argv)
  local flags, pos = parse("replay", argv, 2)
  local id = math.tointeger(tonumber(pos[1] or ""))
  if #pos ~= 1 or not id then fail("replay takes one RUN id (see hone runs)") end
  local tr = open_existing(flags)
  local r = tr:run(id)
  tr:close()
  if not r then fail(string.format("no run %d in %s", id, db_path(flags))) end
  local config = hone.json.decode(r.config)
  if type(config) ~= "table" or (type(config.llm) ~= "table" and config.optimizer ~= "baseline") then
    fail(string.format("run %d has no LLM settings to replay", id))
  end
  local own = type(config.task_llm) == "table"
  local code, replay_id, message = execute({
    task_name = r.task, recipe_name = r.recipe, params = config.params, seed = r.seed, artifact = config.artifact,
    llm = config.llm, task_llm = own and config.task_llm or config.llm, own_task_llm = own,
    optimizer = config.optimizer,
    budget = config.budget, cache = "only", concurrency = config.llm_concurrency, jobs = config.jobs,
    replay_of = id, db = db_path(flags), quiet = flags.quiet,
  })
  if message then io.stderr:write("hone: ", message, "\n") end
  tr = open_existing(flags)
  local n, diffs = compare_runs(tr, id, replay_id)
  local status = tr:run(replay_id).status
  tr:close()
  if status ~= r.status then
    table.insert(diffs, 1, string.format("status %s, replay ended %s", r.status, status))
  end
  if #diffs == 0 then
    print(string.format("replay of run %d as run %d: %d steps, every candidate and score matches", id,
      replay_id, n))
    return 0
  end
  print(string.format("replay of run %d as run %d differs:", id, replay_id))
  for _, d in ipairs(diffs) do print("  " .. d) end
  return code ~= 0 and code or 1
end

-- A stored LLM setting (runs.config: provider, format, url, model) made usable again: the key
-- is looked up in the environment, as for run.
local function stored_llm(c)
  local out = {}
  for k, v in pairs(c) do out[k] = v end
  local p = client.PROVIDERS[c.provider or "openai"] or client.PROVIDERS.openai
  out.api_key_env = p.key_env
  return out
end

-- `hone resume RUN`: continues a run that was killed, interrupted, or stopped (budget,
-- failure) in place, from its last committed step (loop.lua says how). Its settings come
-- from runs.config; LLM flags given here take the place of the stored ones.
function commands.resume(argv)
  local flags, pos = parse("resume", argv, 2)
  local id = math.tointeger(tonumber(pos[1] or ""))
  if #pos ~= 1 or not id then fail("resume takes one RUN id (see hone runs)") end
  local tr = open_existing(flags)
  local r = tr:run(id)
  tr:close()
  if not r then fail(string.format("no run %d in %s", id, db_path(flags))) end
  if r.status == "done" then fail(string.format("run %d is done: nothing to resume", id)) end
  if r.replay_of then
    fail(string.format("run %d is a replay of run %d: replay that again (hone replay %d)", id, r.replay_of,
      r.replay_of))
  end
  if r.pid and trace_mod.alive(r.pid, r.pid_start) then
    fail(string.format("run %d is being run by process %d", id, r.pid))
  end
  local config = hone.json.decode(r.config)
  if type(config) ~= "table" or type(config.params) ~= "table" then
    fail(string.format("run %d has no settings to resume from", id))
  end
  local kind = config.optimizer or "llm"
  local llm_config, why
  if flags.llm or flags.llm_url or flags.model then
    llm_config, why = client.resolve(flags)
    if not llm_config then fail(why) end
  elseif type(config.llm) == "table" then
    llm_config = stored_llm(config.llm)
  elseif kind == "llm" then
    fail(string.format("run %d has no LLM settings: %s", id, client.HELP))
  end
  local task_config, own
  if flags.task_llm or flags.task_llm_url then
    task_config, why = client.resolve(flags, nil, "task")
    if not task_config then fail(why) end
    own = true
  elseif type(config.task_llm) == "table" then
    task_config, own = stored_llm(config.task_llm), true
  elseif llm_config then
    task_config = stored_llm(llm_config)
  end
  local cache = flags.llm_cache or config.llm_cache or "on"
  if not CACHE_MODES[cache] then fail(string.format("--llm-cache takes on, off or only, not '%s'", cache)) end
  local concurrency = flags.llm_concurrency or config.llm_concurrency or 8
  if concurrency < 1 or concurrency > 1024 then fail("--llm-concurrency takes a number in [1, 1024]") end
  local code, _, message, status = execute({
    task_name = r.task, recipe_name = r.recipe, params = config.params, seed = r.seed, artifact = config.artifact,
    llm = llm_config, task_llm = task_config, own_task_llm = own, optimizer = kind,
    budget = flags.budget and parse_budget(flags.budget) or config.budget, cache = cache,
    concurrency = concurrency, jobs = config.jobs, db = db_path(flags), quiet = flags.quiet, resume = id,
  })
  if status == "budget" then
    io.stdout:write(message, "; everything so far is kept\n")
  elseif message then
    fail(message, code)
  end
  return code, id
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

local function seconds(ms) return string.format("%.2f", (ms or 0) / 1000) end

-- A section of the learning context ("#Feedback\n..." up to the next section), or nil.
local function context_section(text, title)
  local start = text:find("#" .. title .. "\n", 1, true)
  if not start then return nil end
  local body = text:sub(start + #title + 2)
  local stop = body:find("\n\n#%u%l+\n")
  return stop and body:sub(1, stop - 1) or body
end

-- hone show RUN --step N: one step whole, as the optimizer and the loop saw it.
local function show_step(tr, run_id, n)
  local s = tr.db:query("SELECT * FROM steps WHERE run_id = ? AND step = ?", run_id, n)[1]
  if not s then return nil end
  local function head(title) print("\n== " .. title) end
  print(string.format("run %d step %d  B=%s%s  accepted %s  train %s  validation %s  test %s", run_id, n,
    s.batch_size or "-", s.horizon and ("  H=" .. s.horizon) or "", s.accepted == 1 and "yes" or "no",
    loop.fmt(s.train_score), loop.fmt(s.validation_score), loop.fmt(s.test_score)))
  if s.error then print("error: " .. s.error) end
  if s.decision then print("recipe's decision: " .. s.decision) end
  local c = s.candidate_id and tr:candidate(s.candidate_id)
  if c then
    head(string.format("candidate %d (parent %s)", c.id, c.parent_id or "none: the starting artifact"))
    io.stdout:write(c.code)
    head("diff to the parent")
    print(c.diff ~= "" and c.diff or "(no change)")
    if c.reasoning and c.reasoning ~= "" then head("the optimizer's reasoning") print(c.reasoning) end
    head("evaluations")
    for _, e in ipairs(tr.db:query("SELECT split, score, examples, error FROM evaluations WHERE candidate_id = ? " ..
        "AND step = ? ORDER BY id", c.id, n)) do
      print(string.format("%-10s %s over %d%s", e.split, loop.fmt(e.score), e.examples,
        e.error and ("  error: " .. e.error) or ""))
    end
  else
    head("no candidate: the optimizer gave nothing usable")
  end
  local call = tr.db:query("SELECT id, request FROM llm_calls WHERE run_id = ? AND step = ? AND purpose = " ..
    "'optimizer' ORDER BY id LIMIT 1", run_id, n)[1]
  local request = call and hone.json.decode(call.request)
  local context
  for _, m in ipairs(request and request.messages or {}) do
    if m.role == "user" then context = m.content break end
  end
  if context then
    head("feedback")
    print(context_section(context, "Feedback") or "(none)")
    head(string.format("the learning context sent (llm call %d)", call.id))
    print(context)
  elseif n > 0 then
    head("no learning context: no LLM was asked at this step (the baseline optimizer, or a replay)")
  end
  return true
end

function commands.show(argv)
  local flags, pos = parse("show", argv, 2)
  local id = math.tointeger(tonumber(pos[1] or ""))
  if #pos ~= 1 or not id then fail("show takes one RUN id (see hone runs)") end
  local tr = open_existing(flags)
  local r = tr:run(id)
  if not r then tr:close() fail(string.format("no run %d in %s", id, db_path(flags))) end
  if flags.step then
    local found = show_step(tr, id, flags.step)
    tr:close()
    if not found then fail(string.format("run %d has no step %d", id, flags.step)) end
    return 0
  end
  print(string.format("run %d  task %s  recipe %s  seed %d  status %s%s", r.id, r.task, r.recipe,
    r.seed, r.status, r.replay_of and ("  replay of run " .. r.replay_of) or ""))
  print("config   " .. r.config)
  print(string.format("started  %s  finished %s", r.started_at, r.finished_at or "-"))
  if r.error then print("error    " .. r.error) end
  local config = hone.json.decode(r.config)
  local score = type(config) == "table" and type(config.score) == "table" and config.score or nil
  if score then   -- what the train, val and test columns mean
    print(string.format("scores   %s, %s is better", score.metric or "the task's score",
      score.higher_is_better == false and "lower" or "higher"))
  end
  print()
  print(string.format("%-5s %-4s %-9s %-9s %-8s %-8s %-8s %-6s %-8s %-8s %s", "step", "B", "candidate",
    "accepted", "train", "val", "test", "calls", "tokens", "llm s", "error"))
  local best, final
  for _, s in ipairs(tr:steps(id)) do
    print(string.format("%-5d %-4s %-9s %-9s %-8s %-8s %-8s %-6d %-8d %-8s %s", s.step,
      s.batch_size or "-", s.candidate_id or "-", s.accepted == 1 and "yes" or "no",
      loop.fmt(s.train_score), loop.fmt(s.validation_score), loop.fmt(s.test_score), s.llm_calls,
      s.prompt_tokens + s.completion_tokens, seconds(s.llm_latency_ms), (s.error or ""):match("^[^\n]*")))
    best = s.best_id or best
    final = s.current_id or final
  end
  if flags.calls then
    print()
    print(string.format("%-6s %-5s %-10s %-9s %-8s %-7s %-8s %-8s %-8s %s", "call", "step", "purpose", "status",
      "cached", "tries", "prompt", "compl.", "latency", "error"))
    for _, c in ipairs(tr:llm_calls(id)) do
      print(string.format("%-6d %-5s %-10s %-9s %-8s %-7d %-8d %-8d %-8s %s", c.id, c.step or "-", c.purpose,
        c.status, c.cache_hit == 1 and "yes" or "no", c.attempts or 0, c.prompt_tokens, c.completion_tokens,
        seconds(c.latency_ms), c.error or c.proposal_error or ""))
    end
  end
  local t = tr:llm_totals(id)
  print()
  -- the best on validation and the final (current) candidate, with their test scores
  for _, which in ipairs({ { "best", best }, { "final", final } }) do
    local cid = which[2]
    if cid then
      local c = tr:candidate(cid)
      local vs = tr.db:query("SELECT split, score FROM evaluations WHERE candidate_id = ? " ..
        "AND split IN ('validation', 'test')", cid)
      local scores = {}
      for _, e in ipairs(vs) do scores[e.split] = e.score end
      print(string.format("%-8s candidate %d (step %d): validation %s, test %s", which[1], cid, c.step,
        loop.fmt(scores.validation), loop.fmt(scores.test)))
    end
  end
  print(string.format("llm      %d calls (%d from the cache, %d HTTP attempts), %d prompt + %d completion " ..
    "tokens, %s s waiting on the LLM", t.calls, t.cache_hits, t.attempts, t.prompt_tokens, t.completion_tokens,
    seconds(t.latency_ms)))
  -- what the evaluations cost in the sandboxes (those that recorded it)
  local u = tr.db:query("SELECT count(cpu_s) AS n, sum(cpu_s) AS cpu, max(max_rss_kb) AS rss, " ..
    "sum(duration_ms) AS ms FROM evaluations WHERE run_id = ? AND cpu_s IS NOT NULL", id)[1]
  if u.n > 0 then
    print(string.format("compute  %d evaluations: %.1f CPU s in the sandboxes, %s s, peak memory %.0f MiB", u.n,
      u.cpu, seconds(u.ms), u.rss / 1024))
  end
  -- what the task made of the best candidate at the end (mlbench: a Kaggle submission)
  for _, e in ipairs(tr.db:query("SELECT message FROM events WHERE run_id = ? AND kind = 'finish' ORDER BY id", id)) do
    print("finish   " .. e.message)
  end
  tr:close()
  return 0
end

-- `hone data bbeh`: the task fetches its own data (a task without any to fetch says so).
function commands.data(argv)
  local _, pos = parse("data", argv, 2)
  if #pos ~= 1 then fail("data takes one TASK, e.g. hone data bbeh") end
  local task = load_module("task", (locate("task", pos[1])))
  if type(task.download) ~= "function" then fail(string.format("task %s has no data to download", pos[1])) end
  local ok, err = pcall(task.download, { log = function(line) io.stdout:write(line, "\n") io.stdout:flush() end })
  if not ok then fail(tostring(err), 1) end
  return 0
end

local sweep_mod = require("hone.sweep")

-- "1,3,5" -> {1, 3, 5}; "a,b" -> {"a", "b"}
local function values(text)
  local out = {}
  for v in text:gmatch("[^,]+") do out[#out + 1] = math.tointeger(tonumber(v)) or tonumber(v) or v end
  return out
end

-- Flags a sweep hands to every run it starts, as they were given.
local RUN_FLAGS = { "llm", "llm-url", "model", "task-llm", "task-llm-url", "llm-cache", "budget", "optimizer" }

function commands.sweep(argv)
  local flags, pos = parse("sweep", argv, 2)
  if #pos > 0 then fail("sweep takes only flags (see hone --help)") end
  local jobs = flags.jobs or 1
  if jobs < 1 or jobs > 64 then fail("--jobs takes a number in [1, 64]") end
  local path = db_path(flags)
  local p = io.popen("pwd")
  local cwd = p:read("l")
  p:close()
  if path:sub(1, 1) ~= "/" then path = cwd .. "/" .. path end
  local ok, tr = pcall(trace_mod.open, path)
  if not ok then fail(tostring(tr)) end
  local spec
  if flags.resume then
    local row = sweep_mod.find(tr, flags.resume)
    if not row then tr:close() fail(string.format("no sweep '%s' in %s", flags.resume, path)) end
    spec = hone.json.decode(row.spec)
  else
    if not flags.name then tr:close() fail("sweep needs --name NAME (to resume it and to tabulate it)") end
    if not flags.task then tr:close() fail("sweep needs at least one --task") end
    local grid, seen = {}, {}
    for _, g in ipairs(flags.grid or {}) do
      local key, list = g:match("^([%w_]+)=(.+)$")
      if not key then tr:close() fail(string.format("--grid takes KEY=V1,V2,..., not '%s'", g)) end
      if seen[key] then tr:close() fail("--grid " .. key .. " given twice") end
      seen[key] = true
      grid[#grid + 1] = { key, values(list) }
    end
    for _, kv in ipairs(flags.set or {}) do   -- a fixed parameter is a one-value axis
      local key, v = kv:match("^([%w_]+)=(.*)$")
      if not key or seen[key] then
        tr:close()
        fail(string.format("--set takes KEY=VALUE once per key, not '%s'", kv))
      end
      seen[key] = true
      grid[#grid + 1] = { key, { math.tointeger(tonumber(v)) or tonumber(v) or v } }
    end
    local run_flags = {}
    for _, f in ipairs(RUN_FLAGS) do
      local v = flags[f:gsub("%-", "_")]
      if v then run_flags[#run_flags + 1], run_flags[#run_flags + 2] = "--" .. f, tostring(v) end
    end
    if flags.llm_concurrency then   -- the total, shared by the runs in flight
      run_flags[#run_flags + 1] = "--llm-concurrency"
      run_flags[#run_flags + 1] = tostring(math.max(1, flags.llm_concurrency // jobs))
    end
    spec = { name = flags.name, tasks = flags.task, recipes = flags.recipe or { "fixed" },
             artifacts = flags.artifact or { false }, grid = grid, seeds = values(flags.seeds or "1"),
             run_flags = run_flags }
  end
  local sweep
  ok, sweep = pcall(sweep_mod.open, tr, spec)
  if not ok then tr:close() fail(tostring(sweep)) end
  local counts = sweep_mod.execute(tr, sweep, { bin = hone.executable, db = path, jobs = jobs, cwd = cwd,
    run_flags = spec.run_flags, log = function(line) io.stdout:write(line, "\n") io.stdout:flush() end })
  for _, line in ipairs(sweep_mod.table(tr, sweep, "test")) do print(line) end
  tr:close()
  print(string.format("sweep %s: %d runs finished now, %d before, %d failed", spec.name, counts.done,
    counts.skipped, counts.failed))
  return counts.failed == 0 and 0 or 1
end

function commands.table(argv)
  local flags, pos = parse("table", argv, 2)
  if #pos ~= 1 then fail("table takes one SWEEP name or id (see hone sweep)") end
  local tr = open_existing(flags)
  local sweep = sweep_mod.find(tr, pos[1])
  if not sweep then tr:close() fail(string.format("no sweep '%s' in %s", pos[1], db_path(flags))) end
  local ok, lines = pcall(sweep_mod.table, tr, sweep, flags.metric)
  tr:close()
  if not ok then fail(tostring(lines)) end
  for _, line in ipairs(lines) do print(line) end
  return 0
end

local report_mod = require("hone.report")

-- `hone report RUN|SWEEP -o FILE`: a number is a run, `sweep:X` the sweep with id or name X,
-- anything else a sweep name.
function commands.report(argv)
  local flags, pos = parse("report", argv, 2)
  if #pos ~= 1 then fail("report takes one RUN id or SWEEP name (see hone --help)") end
  if not flags.output then fail("report needs -o FILE (the HTML file to write)") end
  local tr = open_existing(flags)
  local target, html, what = pos[1]
  local run_id = math.tointeger(tonumber(target))
  if run_id and target:match("^%d+$") then
    html = report_mod.run_html(tr, run_id)
    if not html then tr:close() fail(string.format("no run %d in %s", run_id, db_path(flags))) end
    what = "run " .. run_id
  else
    local name = target:match("^sweep:(.+)$")
    local sweep = sweep_mod.find(tr, name or target)   -- a name that is not a number matches no id
    if not sweep then tr:close() fail(string.format("no sweep '%s' in %s", name or target, db_path(flags))) end
    html = report_mod.sweep_html(tr, sweep)
    what = "sweep " .. sweep.name
  end
  tr:close()
  local ok, err = report_mod.write(flags.output, html)
  if not ok then fail(string.format("cannot write the report to %s: %s", flags.output, err)) end
  print(string.format("report of %s: %s (%d bytes)", what, flags.output, #html))
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
