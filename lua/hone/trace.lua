-- The trace store's vocabulary: runs, steps, candidates, evaluations, LLM calls and events,
-- written through hone.store. A loop step writes all its rows in one transaction.
local hone = require("hone")
local json = hone.json

local M = {}
local Trace = {}
Trace.__index = Trace

function M.open(path, opts)
  return setmetatable({ db = hone.store.open(path, opts), path = path }, Trace)
end

function Trace:close() self.db:close() end

-- Runs fn inside one transaction; on error rolls back and re-raises.
function Trace:transaction(fn, ...)
  self.db:begin()
  local ok, err = pcall(fn, ...)
  if not ok then
    pcall(self.db.rollback, self.db)
    error(err, 0)
  end
  self.db:commit()
end

local function encode_or_nil(v)
  if v == nil then return nil end
  return json.encode(v)
end

-- A process as /proc/PID/stat describes it: {pid, start (clock ticks after boot), state}, or
-- nil when there is none. pid and start together name one process: pids are reused.
function M.process(pid)
  local f = pid and io.open("/proc/" .. tostring(pid) .. "/stat", "r")
  if not f then return nil end
  local stat = f:read("a")
  f:close()
  local id, rest = stat:match("^(%d+) %(.*%) (.*)$")   -- the name may hold spaces and ')'
  if not id then return nil end
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  return { pid = math.tointeger(id), state = fields[1], start = math.tointeger(tonumber(fields[20])) }
end

-- This process.
function M.self_process()
  return M.process("self")
end

-- Is the process that pid and start name still running (not a zombie)?
function M.alive(pid, start)
  local p = M.process(pid)
  return p ~= nil and p.start == start and p.state ~= "Z"
end

function Trace:create_run(r)
  local me = M.self_process() or {}
  local _, id = self.db:exec(
    "INSERT INTO runs (task, recipe, seed, config, hone_version, replay_of, pid, pid_start) " ..
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    r.task, r.recipe, r.seed, json.encode(r.config or {}), hone.version, r.replay_of, me.pid, me.start)
  return id
end

-- Takes a stored run over to continue it (hone resume): status running again, this process
-- recorded as its owner. In one transaction, so two resumes cannot both take it. Returns
-- true, or nil and the pid of the live process that has it.
function Trace:claim_run(id)
  local me, taken = M.self_process() or {}, nil
  self:transaction(function()
    local r = self:run(id)
    if r.pid and r.pid ~= me.pid and M.alive(r.pid, r.pid_start) then
      taken = r.pid
      return
    end
    self.db:exec("UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, pid = ?, pid_start = ? " ..
      "WHERE id = ?", me.pid, me.start, id)
  end)
  if taken then return nil, taken end
  return true
end

-- A run started by a sweep links itself to its cell at once, so a killed sweep knows.
function Trace:link_sweep_cell(cell_id, run_id)
  self.db:exec("UPDATE sweep_cells SET run_id = ?, status = 'running', error = NULL WHERE id = ?", run_id, cell_id)
end

function Trace:finish_sweep_cell(cell_id, status, err)
  self.db:exec("UPDATE sweep_cells SET status = ?, error = ? WHERE id = ?", status, err, cell_id)
end

function Trace:finish_run(run_id, status, err)
  self.db:exec("UPDATE runs SET status = ?, error = ?, pid = NULL, pid_start = NULL, " ..
    "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", status, err, run_id)
end

function Trace:insert_candidate(c)
  local _, id = self.db:exec(
    "INSERT INTO candidates (run_id, step, parent_id, artifact, code, diff, reasoning) " ..
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    c.run_id, c.step, c.parent_id, c.artifact:encode(), c.artifact:assemble(), c.diff, c.reasoning)
  return id
end

function Trace:insert_evaluation(e)
  self.db:exec(
    "INSERT INTO evaluations (run_id, step, candidate_id, split, score, examples, results, " ..
    "error, error_kind, duration_ms, cpu_s, max_rss_kb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    e.run_id, e.step, e.candidate_id, e.split, e.score, e.examples, encode_or_nil(e.results),
    e.error, e.error_kind, e.duration_ms, e.cpu_s, e.max_rss_kb)
end

function Trace:insert_llm_call(c)
  self.db:exec(
    "INSERT INTO llm_calls (run_id, step, purpose, model, url, request, response, status, " ..
    "error, proposal_error, http_status, attempts, prompt_tokens, completion_tokens, latency_ms, " ..
    "format, cache_key, cache_hit, attempt_log) " ..
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    c.run_id, c.step, c.purpose, c.model, c.url, c.request or "", c.response, c.status, c.error,
    c.proposal_error, c.http_status, c.attempts, c.prompt_tokens or 0, c.completion_tokens or 0,
    c.latency_ms, c.format, c.cache_key, c.cache_hit and 1 or 0, c.attempt_log)
end

-- The reply cache: one row per distinct request key, shared by every run in the store.
-- Written as soon as a reply arrives (outside any step), so a killed run keeps what it paid for.
function Trace:cache_get(key)
  return self.db:query("SELECT content, finish_reason, response, prompt_tokens, completion_tokens " ..
    "FROM llm_cache WHERE key = ?", key)[1]
end

function Trace:cache_put(r, model)
  self.db:exec("INSERT OR IGNORE INTO llm_cache (key, format, model, request, response, content, " ..
    "finish_reason, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    r.key, r.format, model, r.request, r.response, r.content, r.finish_reason, r.prompt_tokens or 0,
    r.completion_tokens or 0)
end

function Trace:insert_step(s)
  self.db:exec(
    "INSERT INTO steps (run_id, step, batch_size, horizon, decision, candidate_id, accepted, " ..
    "current_id, best_id, train_score, validation_score, test_score, error, llm_calls, " ..
    "prompt_tokens, completion_tokens, duration_ms, llm_latency_ms, signals) " ..
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    s.run_id, s.step, s.batch_size, s.horizon, encode_or_nil(s.decision), s.candidate_id,
    s.accepted and 1 or 0, s.current_id, s.best_id, s.train_score, s.validation_score,
    s.test_score, s.error, s.llm_calls or 0, s.prompt_tokens or 0, s.completion_tokens or 0,
    s.duration_ms, s.llm_latency_ms, encode_or_nil(s.signals))
end

function Trace:event(run_id, step, kind, message, data)
  self.db:exec("INSERT INTO events (run_id, step, kind, message, data) VALUES (?, ?, ?, ?, ?)",
    run_id, step, kind, message, encode_or_nil(data))
end

-- Reading --------------------------------------------------------------------------------

-- Every run; a run left 'running' by a process that is gone reads 'killed' (hone resume
-- continues it).
function Trace:runs()
  local rows = self.db:query(
    "SELECT r.id, r.task, r.recipe, r.seed, r.status, r.started_at, r.finished_at, r.pid, r.pid_start, " ..
    "  (SELECT count(*) FROM steps s WHERE s.run_id = r.id AND s.step > 0) AS steps, " ..
    -- the best as the loop chose it (in the task's direction): the last step's best candidate
    "  (SELECT e.score FROM evaluations e WHERE e.split = 'validation' AND e.candidate_id = " ..
    "    (SELECT s.best_id FROM steps s WHERE s.run_id = r.id ORDER BY s.step DESC LIMIT 1) " ..
    "   ORDER BY e.id LIMIT 1) AS best_validation, " ..
    "  (SELECT sum(prompt_tokens + completion_tokens) FROM steps s WHERE s.run_id = r.id) AS tokens " ..
    "FROM runs r ORDER BY r.id")
  for _, r in ipairs(rows) do
    if r.status == "running" and not M.alive(r.pid, r.pid_start) then r.status = "killed" end
  end
  return rows
end

function Trace:run(id)
  return self.db:query("SELECT * FROM runs WHERE id = ?", id)[1]
end

function Trace:steps(run_id)
  return self.db:query("SELECT * FROM steps WHERE run_id = ? ORDER BY step", run_id)
end

function Trace:candidate(id)
  return self.db:query("SELECT * FROM candidates WHERE id = ?", id)[1]
end

function Trace:llm_totals(run_id)
  return self.db:query(
    "SELECT count(*) AS calls, coalesce(sum(prompt_tokens), 0) AS prompt_tokens, " ..
    "coalesce(sum(completion_tokens), 0) AS completion_tokens, coalesce(sum(cache_hit), 0) AS cache_hits, " ..
    "coalesce(sum(attempts), 0) AS attempts, " ..
    "coalesce(sum(latency_ms), 0) AS latency_ms FROM llm_calls WHERE run_id = ?", run_id)[1]
end

function Trace:llm_calls(run_id)
  return self.db:query("SELECT id, step, purpose, model, status, error, proposal_error, http_status, " ..
    "attempts, prompt_tokens, completion_tokens, latency_ms, cache_hit FROM llm_calls WHERE run_id = ? " ..
    "ORDER BY id", run_id)
end

return M
