-- Sweeps: a grid of runs (tasks x recipes x starting artifacts x parameter values x seeds)
-- into one store, several at once, resumable cell by cell; and the paper-style table of a
-- sweep (mean +- standard error over seeds, the best per column marked).
--
-- Each run is a child `hone run` (the same binary), started through hone.sandbox.exec in
-- raw mode: a process of its own, so a crash in one run cannot take the sweep down, and at
-- most `jobs` at once. A child links itself to its cell (--sweep-cell) when it starts and
-- records its end there, so a sweep killed halfway knows exactly what finished.
local hone = require("hone")
local json = hone.json

local M = {}

local FINISHED = { done = true, budget = true }

-- Environment the child runs need (keys included: they pass through the environment and
-- are never written anywhere).
M.PASSED_ENV = { "HONE_DATA", "HONE_LLM", "HONE_LLM_URL", "HONE_LLM_MODEL", "HONE_TASK_LLM", "HONE_HOME",
  "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "XDG_CACHE_HOME", "TMPDIR" }

-- The runs of a spec, in a fixed order: {cell = {task, recipe, artifact, params}, seed}.
-- spec: {tasks, recipes, artifacts (false: the task's default), grid = {{key, {values}}...}, seeds}
function M.cells(spec)
  local combos = { {} }
  for _, axis in ipairs(spec.grid or {}) do
    local next_combos = {}
    for _, c in ipairs(combos) do
      for _, v in ipairs(axis[2]) do
        local n = {}
        for k, x in pairs(c) do n[k] = x end
        n[axis[1]] = v
        next_combos[#next_combos + 1] = n
      end
    end
    combos = next_combos
  end
  local out = {}
  for _, task in ipairs(spec.tasks) do
    for _, recipe in ipairs(spec.recipes) do
      for _, artifact in ipairs(spec.artifacts) do
        for _, params in ipairs(combos) do
          for _, seed in ipairs(spec.seeds) do
            out[#out + 1] = { cell = { task = task, recipe = recipe, artifact = artifact or nil, params = params },
                              seed = seed }
          end
        end
      end
    end
  end
  return out
end

local function alive(pid)
  local f = pid and io.open("/proc/" .. pid .. "/cmdline", "rb")
  if not f then return false end
  local cmd = f:read("a")
  f:close()
  return cmd:find("sweep", 1, true) ~= nil
end

-- The sweep named spec.name: created, or found again when its spec is the same (a resume).
-- Returns the sweep row; raises a one-line reason otherwise.
function M.open(tr, spec)
  local text = json.encode(spec)
  local row = tr.db:query("SELECT * FROM sweeps WHERE name = ?", spec.name)[1]
  if row then
    if row.spec ~= text then
      error(string.format("sweep '%s' exists with another grid; resume it with `hone sweep --resume %s` or " ..
        "pick a new --name", spec.name, spec.name), 0)
    end
    if alive(row.pid) and row.status == "running" then
      error(string.format("sweep '%s' is being run by process %d", spec.name, row.pid), 0)
    end
  end
  tr:transaction(function()
    if not row then
      tr.db:exec("INSERT INTO sweeps (name, spec) VALUES (?, ?)", spec.name, text)
      row = tr.db:query("SELECT * FROM sweeps WHERE name = ?", spec.name)[1]
    end
    tr.db:exec("UPDATE sweeps SET status = 'running', pid = ?, finished_at = NULL WHERE id = ?", M.pid(), row.id)
    for _, c in ipairs(M.cells(spec)) do
      tr.db:exec("INSERT OR IGNORE INTO sweep_cells (sweep_id, cell, seed) VALUES (?, ?, ?)", row.id,
        json.encode(c.cell), c.seed)
    end
    -- a run left 'running' by a killed sweep will never end: say so, then run its cell again
    tr.db:exec("UPDATE runs SET status = 'interrupted', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') " ..
      "WHERE status = 'running' AND id IN (SELECT run_id FROM sweep_cells WHERE sweep_id = ? AND status = 'running')",
      row.id)
  end)
  return row
end

function M.pid()
  local f = io.open("/proc/self/stat", "r")
  local pid = f and tonumber(f:read("a"):match("^(%d+)"))
  if f then f:close() end
  return pid
end

function M.find(tr, name_or_id)
  local id = math.tointeger(tonumber(name_or_id))
  return tr.db:query("SELECT * FROM sweeps WHERE name = ? OR id = ?", tostring(name_or_id), id or -1)[1]
end

-- The argv of one cell's run.
local function argv(opts, cell_row, cell)
  local a = { opts.bin, "run", cell.task, "--recipe", cell.recipe, "--seed", tostring(cell_row.seed),
              "--db", opts.db, "--quiet", "--sweep-cell", tostring(cell_row.id) }
  if cell.artifact then a[#a + 1], a[#a + 2] = "--artifact", cell.artifact end
  local keys = {}
  for k in pairs(cell.params) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do a[#a + 1], a[#a + 2] = "--set", k .. "=" .. tostring(cell.params[k]) end
  for _, f in ipairs(opts.run_flags or {}) do a[#a + 1] = f end
  return a
end

-- Runs every cell not finished yet, at most opts.jobs at once. opts: {bin, db, jobs, cwd,
-- run_flags, log}. Returns counts {done, failed, skipped}.
function M.execute(tr, sweep, opts)
  local todo = tr.db:query("SELECT id, cell, seed FROM sweep_cells WHERE sweep_id = ? AND status NOT IN " ..
    "('done', 'budget') ORDER BY id", sweep.id)
  local total = tr.db:query("SELECT count(*) AS n FROM sweep_cells WHERE sweep_id = ?", sweep.id)[1].n
  local env = {}
  for _, k in ipairs(M.PASSED_ENV) do env[k] = os.getenv(k) end
  local specs = {}
  for i, row in ipairs(todo) do
    -- in the sweep's own folder, where relative tasks, recipes and stores are found
    specs[i] = { argv = argv(opts, row, json.decode(row.cell)), raw = true, env = env, dir = opts.cwd,
                 time = 30 * 24 * 3600, output = 1 << 20 }
  end
  opts.log(string.format("sweep %s: %d runs, %d finished before, %d to run, %d at once", sweep.name, total,
    total - #todo, #todo, opts.jobs))
  local results = #specs > 0 and hone.sandbox.exec.run_many(specs, { jobs = opts.jobs }) or {}
  local counts = { done = 0, failed = 0, skipped = total - #todo }
  for i, r in ipairs(results) do
    local cell = tr.db:query("SELECT status FROM sweep_cells WHERE id = ?", todo[i].id)[1]
    if FINISHED[cell.status] then
      counts.done = counts.done + 1
    else
      counts.failed = counts.failed + 1
      local why = (r.stderr or ""):match("([^\n]+)\n?$") or r.message or "no reason given"
      tr.db:exec("UPDATE sweep_cells SET status = 'failed', error = ? WHERE id = ?", why, todo[i].id)
      opts.log(string.format("  cell %d (seed %d) failed: %s", todo[i].id, todo[i].seed, why))
    end
  end
  tr.db:exec("UPDATE sweeps SET status = ?, pid = NULL, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') " ..
    "WHERE id = ?", counts.failed == 0 and "done" or "failed", sweep.id)
  return counts
end

-- A run's number for the table: the held-out test score of its best-on-validation
-- candidate (the paper's protocol), its best validation, or the final candidate's test.
local METRICS = {
  test = "SELECT e.score FROM evaluations e WHERE e.split = 'test' AND e.candidate_id = " ..
    "(SELECT best_id FROM steps WHERE run_id = ? ORDER BY step DESC LIMIT 1) ORDER BY e.id DESC LIMIT 1",
  -- the best as the loop chose it, in the task's direction (an error such as RMSE: the lowest)
  validation = "SELECT e.score FROM evaluations e WHERE e.split = 'validation' AND e.candidate_id = " ..
    "(SELECT best_id FROM steps WHERE run_id = ? ORDER BY step DESC LIMIT 1) ORDER BY e.id LIMIT 1",
  final_test = "SELECT e.score FROM evaluations e WHERE e.split = 'test' AND e.candidate_id = " ..
    "(SELECT current_id FROM steps WHERE run_id = ? ORDER BY step DESC LIMIT 1) ORDER BY e.id DESC LIMIT 1",
}
M.METRICS = METRICS

-- mean, standard error (nil for one value) and count of a list of numbers; nil if empty.
function M.stats(xs)
  local n, sum = #xs, 0
  for _, x in ipairs(xs) do sum = sum + x end
  if n == 0 then return nil end
  local mean, ss = sum / n, 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  local se = n > 1 and math.sqrt(ss / (n - 1)) / math.sqrt(n) or nil
  return mean, se, n
end
local stats = M.stats

-- The numbers behind a sweep's table. A row is named by what varies ("fixed batch_size=3");
-- what every cell shares is listed once in `fixed`. Returns {metric, fixed = {"k=v"...},
-- rows = {label...}, cols = {task...}, scores = {[row][task] = {number...}},
-- runs = {[row][task] = {run id...}} (finished runs, in seed order), best = {[task] = mean},
-- lower = {[task] = true} for a task whose score is an error (its runs' config says so)}.
function M.summary(tr, sweep, metric)
  metric = metric or "test"
  local sql = METRICS[metric]
  if not sql then error("unknown metric '" .. tostring(metric) .. "' (test, validation, final_test)", 0) end
  local spec, varies, fixed = json.decode(sweep.spec), {}, {}
  for _, axis in ipairs(spec.grid or {}) do
    if #axis[2] > 1 then varies[axis[1]] = true else fixed[#fixed + 1] = axis[1] .. "=" .. tostring(axis[2][1]) end
  end
  local s = { metric = metric, fixed = fixed, rows = {}, cols = {}, scores = {}, runs = {}, best = {}, lower = {} }
  local seen_col = {}
  for _, c in ipairs(tr.db:query("SELECT cell, seed, run_id, status FROM sweep_cells WHERE sweep_id = ? ORDER BY id",
      sweep.id)) do
    local cell = json.decode(c.cell)
    local keys = {}
    for k in pairs(cell.params) do if varies[k] then keys[#keys + 1] = k end end
    table.sort(keys)
    local label = { cell.recipe }
    if cell.artifact then label[#label + 1] = cell.artifact end
    for _, k in ipairs(keys) do label[#label + 1] = k .. "=" .. tostring(cell.params[k]) end
    local rk = table.concat(label, " ")
    if not s.scores[rk] then s.scores[rk], s.runs[rk], s.rows[#s.rows + 1] = {}, {}, rk end
    if not seen_col[cell.task] then seen_col[cell.task], s.cols[#s.cols + 1] = true, cell.task end
    s.scores[rk][cell.task] = s.scores[rk][cell.task] or {}
    s.runs[rk][cell.task] = s.runs[rk][cell.task] or {}
    if FINISHED[c.status] and c.run_id then
      table.insert(s.runs[rk][cell.task], c.run_id)
      local config = json.decode(tr.db:query("SELECT config FROM runs WHERE id = ?", c.run_id)[1].config)
      if type(config) == "table" and type(config.score) == "table" and config.score.higher_is_better == false then
        s.lower[cell.task] = true
      end
      local v = tr.db:query(sql, c.run_id)[1]
      if v and v.score then table.insert(s.scores[rk][cell.task], v.score) end
    end
  end
  for _, task in ipairs(s.cols) do
    for _, rk in ipairs(s.rows) do
      local mean = stats(s.scores[rk][task] or {})
      if mean and (s.best[task] == nil or (s.lower[task] and mean < s.best[task]) or
          (not s.lower[task] and mean > s.best[task])) then
        s.best[task] = mean
      end
    end
  end
  return s
end

-- The table of a sweep as rows of text: one row per (recipe, artifact, parameters), one
-- column per task, "mean +- se (n)"; the best mean of each column marked with '*'.
function M.table(tr, sweep, metric)
  local s = M.summary(tr, sweep, metric)
  local width = 4
  for _, rk in ipairs(s.rows) do width = math.max(width, #rk) end
  local lines = { string.format("sweep %s: %s per run (held-out test is the paper's protocol), mean +- standard " ..
    "error over seeds (runs); * best in its column", sweep.name, s.metric) }
  if #s.fixed > 0 then lines[#lines + 1] = "every cell: " .. table.concat(s.fixed, " ") end
  local head = { string.format("%-" .. width .. "s", "cell") }
  for _, task in ipairs(s.cols) do head[#head + 1] = string.format("%-24s", task) end
  lines[#lines + 1] = table.concat(head, "  ")
  for _, rk in ipairs(s.rows) do
    local line = { string.format("%-" .. width .. "s", rk) }
    for _, task in ipairs(s.cols) do
      local mean, se, n = stats(s.scores[rk][task] or {})
      local text = "-"
      if mean then
        text = string.format("%.3f +- %s (%d)%s", mean, se and string.format("%.3f", se) or "n/a", n,
          mean == s.best[task] and " *" or "")
      end
      line[#line + 1] = string.format("%-24s", text)
    end
    lines[#lines + 1] = table.concat(line, "  ")
  end
  return lines
end

return M
