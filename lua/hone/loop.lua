-- The loop: one run of a recipe on a task. A recipe drives it with run:step{...}; every
-- step evaluates the current candidate on a training minibatch, asks the optimizer for a
-- change, evaluates the new candidate on the minibatch, validation and test, decides
-- whether to accept it, and commits all of that in one transaction.
-- The optimizer sees only training evidence; validation selects; test is only recorded.
--
-- Resuming (hone resume): a run is continued in place by running its recipe again from the
-- start. Every step already in the store is *replayed* instead of done (Run:replay): the
-- in-memory state moves exactly as it did the first time (the minibatch stream or the
-- training episode, the optimizer's own state, memory, current and best candidates,
-- totals, the count of LLM failures) from the stored rows, without asking the optimizer,
-- without evaluating validation or test and without writing; the recipe gets the stored
-- signals, so it makes the same decisions. The first step not in the store is done for
-- real. A step is committed whole or not at all, so a run killed at any moment loses at
-- most the step it was in; the LLM replies it had are in the reply cache already.
--
-- Interrupts (SIGINT, SIGTERM; kernel/interrupt.h): a step that saw one is not committed,
-- and the run stops before the next with status `interrupted` (Run:check_interrupt).
local data = require("hone.data")
local optimizer = require("hone.optimizer")
local selection = require("hone.selection")
local templates = require("hone.templates")
local artifact_mod = require("hone.artifact")

local M = {}
local Run = {}
Run.__index = Run
M.Run = Run   -- the methods, for tests that drive them on a stand-in run

-- A failure that ends the run (not a bug): the CLI records `status` and prints `message`.
local Stop = {}
Stop.__index = Stop
Stop.__tostring = function(s) return s.message end
M.Stop = Stop

local function stop(status, message)
  error(setmetatable({ status = status, message = message }, Stop), 0)
end

function M.is_stop(err) return getmetatable(err) == Stop end

M.MAX_LLM_FAILURES = 3   -- consecutive steps whose LLM calls all failed end the run

local hone = require("hone")
local json = hone.json

local function now_ms() return hone.now() * 1000 end

local function stage_text(task, score)
  if task.stage and score then return task.stage(score) end
  return nil
end


-- o: {trace, task, task_name, recipe_name, params, seed, client (the optimizer's LLM),
--     optimizer (anything with propose(args); default: hone.optimizer on client),
--     task_client (the task's own LLM; default: client), budget (hone.llm.budget or nil),
--     config (more to record in runs.config: LLM settings, budget, cache), replay_of,
--     sweep_cell (the sweep_cells row this run fills), jobs (programs a task may run at once,
--     default 1), artifact (name), progress (hone.progress; default quiet),
--     resume (the id of a stored run to continue instead of creating one)}
-- Both clients append every call's record to one journal, which each step drains.
function M.new(o)
  local task = o.task
  local spec = task.starting_artifacts[o.artifact or task.default_artifact or "default"]
  if not spec then
    stop("failed", string.format("task %s has no starting artifact '%s'", o.task_name,
      tostring(o.artifact)))
  end
  local splits = task.splits(o.seed, o.params)
  for _, name in ipairs({ "train", "validation", "test" }) do
    if type(splits[name]) ~= "table" then
      error(string.format("task %s: splits() must return a %s list", o.task_name, name), 0)
    end
  end
  local progress = o.progress or require("hone.progress").new({ mode = "quiet" })
  local run
  run = setmetatable({
    trace = o.trace, task = task, params = o.params, seed = o.seed, splits = splits, progress = progress,
    -- what recipes call to say something; quiet while steps are replayed
    log = function(line) if not run:replaying() then progress:event(line) end end,
    optimizer = o.optimizer or optimizer.new({ client = o.client, retries = o.params.retries }),
    client = o.client, task_client = o.task_client or o.client, budget = o.budget,
    stream = not task.experience and data.stream(splits.train, o.seed) or nil,
    step_no = 0, memory = {}, llm_failures = 0, jobs = o.jobs or 1,
    higher = task.higher_is_better ~= false,   -- false: lower scores are better (an error, e.g. RMSE)
    held_out = {},   -- candidate id -> test score: for the report only, never for recipes
    totals = { prompt_tokens = 0, completion_tokens = 0, llm_calls = 0 },
  }, Run)
  run.starting_artifact = artifact_mod.new(spec)
  if o.resume then
    run.id = o.resume
    local ok, pid = o.trace:claim_run(o.resume)
    if not ok then stop("failed", string.format("run %d is being run by process %d", o.resume, pid)) end
    run:load_stored()
    local cell = o.trace.db:query("SELECT id FROM sweep_cells WHERE run_id = ?", run.id)[1]
    run.sweep_cell = cell and cell.id
    if cell then o.trace:link_sweep_cell(cell.id, run.id) end
    return run
  end
  local config = { params = o.params, artifact = o.artifact or task.default_artifact or "default" }
  if task.metric or not run.higher then   -- what the scores mean, for hone show and hone runs
    config.score = { metric = task.metric, higher_is_better = run.higher }
  end
  for k, v in pairs(o.config or {}) do config[k] = v end
  run.id = o.trace:create_run({
    task = o.task_name, recipe = o.recipe_name, seed = o.seed, config = config, replay_of = o.replay_of,
  })
  run.sweep_cell = o.sweep_cell
  if o.sweep_cell then o.trace:link_sweep_cell(o.sweep_cell, run.id) end
  return run
end

-- A resumed run: what the store holds of it. stored[n] is step n's row; resume_through the
-- last step in the store (-1: none). The held-out test scores come back as recorded; the
-- budget is charged with the calls and tokens already spent, as if the run had never stopped
-- (a call counts once it was sent or served from the cache, as hone.llm and the client count).
function Run:load_stored()
  local db = self.trace.db
  self.stored, self.resume_through, self.artifacts = {}, -1, {}
  for _, row in ipairs(self.trace:steps(self.id)) do
    self.stored[row.step] = row
    self.resume_through = math.max(self.resume_through, row.step)
  end
  for _, e in ipairs(db:query("SELECT candidate_id, score FROM evaluations WHERE run_id = ? AND split = 'test' " ..
      "ORDER BY id", self.id)) do
    self.held_out[e.candidate_id] = e.score
  end
  if self.budget then
    local c = db:query("SELECT count(*) AS calls, coalesce(sum(prompt_tokens), 0) AS p, " ..
      "coalesce(sum(completion_tokens), 0) AS c FROM llm_calls WHERE run_id = ? AND (attempts > 0 OR cache_hit = 1)",
      self.id)[1]
    self.budget:charge(c.calls, c.p, c.c)
  end
end

-- True while the recipe is being taken again through steps the store already has (and
-- right after the last of them, until the next step starts).
function Run:replaying()
  return self.resume_through ~= nil and self.step_no <= self.resume_through and not self.live
end

-- The first piece of new work of a resumed run: say where it goes on from.
function Run:go_live()
  if self.live then return end
  self.live = true
  if self.resume_through then
    local n = self.resume_through
    self.progress:event(string.format("run %d: continuing at step %d (%s)", self.id, n + 1,
      n < 0 and "nothing in the store yet" or string.format("steps 0..%d replayed from the store", n)))
  end
end

-- A candidate's artifact, from the store (a resumed run's replayed steps).
function Run:stored_artifact(id)
  local a = self.artifacts[id]
  if not a then
    local c = self.trace:candidate(id)
    if not c then error(string.format("run %d: candidate %d is missing from the store", self.id, id), 0) end
    a = artifact_mod.decode(c.artifact)
    self.artifacts[id] = a
  end
  return a
end

-- SIGINT or SIGTERM seen (kernel/interrupt.h): the run stops here, status interrupted.
-- Called before each step and before each commit, so a step that saw one (its LLM calls or
-- evaluations cut short) is never recorded.
function Run:check_interrupt()
  local sig = hone.interrupted()
  if sig then
    stop("interrupted", string.format("interrupted by %s after step %d; `hone resume %d` continues it", sig,
      self.step_no, self.id))
  end
end

-- An event a recipe records (a restore, an early stop) at the current step. Replayed steps
-- write each event only if the store lacks it, so a resume neither repeats nor loses one.
function Run:event(kind, message, details)
  if self.resume_through and self.step_no <= self.resume_through then
    local seen = self.trace.db:query("SELECT 1 AS x FROM events WHERE run_id = ? AND step = ? AND kind = ? " ..
      "AND message = ? LIMIT 1", self.id, self.step_no, kind, message)
    if #seen > 0 then return end
  end
  self.trace:event(self.id, self.step_no, kind, message, details)
end

-- Evaluates an artifact on a split's examples; an evaluation record for the store.
function Run:evaluate(artifact, split, examples)
  local t0 = now_ms()
  local ok, r = pcall(self.task.evaluate, artifact, examples,
    { split = split, seed = self.seed, llm = self.task_client, step = self.step_no, params = self.params,
      jobs = self.jobs, run_id = self.id })
  if not ok then error(r, 0) end   -- a bug in the task: let the CLI report file:line
  r.split, r.examples, r.duration_ms = split, #examples, now_ms() - t0
  return r
end

-- Step 0: the starting artifact, evaluated on validation and test (a resumed run takes it
-- from the store).
function Run:start()
  local row = self.stored and self.stored[0]
  if row then
    self.current = { id = row.candidate_id, artifact = self:stored_artifact(row.candidate_id),
                     validation = row.validation_score }
    self.best = self.current
    self:account_row(row)
    return self
  end
  self:go_live()
  self:check_interrupt()
  local a = self.starting_artifact
  local val = self:evaluate(a, "validation", self.splits.validation)
  local test = self:evaluate(a, "test", self.splits.test)
  local id
  local calls = self:drain_calls()
  self:check_interrupt()
  self.trace:transaction(function()
    id = self.trace:insert_candidate({ run_id = self.id, step = 0, artifact = a, diff = a:diff(nil) })
    for _, e in ipairs({ val, test }) do
      e.run_id, e.step, e.candidate_id = self.id, 0, id
      self.trace:insert_evaluation(e)
    end
    self:insert_calls(0, calls.records)
    self.trace:insert_step({
      run_id = self.id, step = 0, candidate_id = id, accepted = true, current_id = id,
      best_id = id, validation_score = val.score, test_score = test.score,
      error = val.error and ("the starting artifact fails: " .. val.error) or nil,
      llm_calls = #calls.records, prompt_tokens = calls.prompt_tokens,
      completion_tokens = calls.completion_tokens, llm_latency_ms = calls.latency_ms,
    })
  end)
  self:account(calls)
  self:check_llm(calls)
  self.held_out[id] = test.score
  self.current = { id = id, artifact = a, validation = val.score }
  self.best = self.current
  self.progress:step_line(string.format("step 0  start  validation %s  test %s", M.fmt(val.score),
    M.fmt(test.score)))
  self.progress:update(self, nil)
  return self
end

-- The LLM calls made since the last drain (optimizer and task model), with their sums.
function Run:drain_calls()
  local c = { records = self.client and self.client:drain() or {}, prompt_tokens = 0, completion_tokens = 0,
              latency_ms = 0 }
  if self.task_client and self.task_client ~= self.client then
    for _, r in ipairs(self.task_client:drain()) do c.records[#c.records + 1] = r end
  end
  for _, r in ipairs(c.records) do
    c.prompt_tokens = c.prompt_tokens + (r.prompt_tokens or 0)
    c.completion_tokens = c.completion_tokens + (r.completion_tokens or 0)
    c.latency_ms = c.latency_ms + (r.latency_ms or 0)
  end
  return c
end

function Run:insert_calls(step, records)
  for _, r in ipairs(records) do
    r.run_id, r.step = self.id, step
    self.trace:insert_llm_call(r)
  end
end

function Run:account(calls)
  local t = self.totals
  t.prompt_tokens = t.prompt_tokens + calls.prompt_tokens
  t.completion_tokens = t.completion_tokens + calls.completion_tokens
  t.llm_calls = t.llm_calls + #calls.records
end

-- The totals of a stored step (replayed).
function Run:account_row(row)
  local t = self.totals
  t.prompt_tokens = t.prompt_tokens + row.prompt_tokens
  t.completion_tokens = t.completion_tokens + row.completion_tokens
  t.llm_calls = t.llm_calls + row.llm_calls
end

-- After a committed step: a spent budget or a reply missing from an offline cache ends
-- the run cleanly, everything so far kept.
function Run:check_llm(calls)
  for _, r in ipairs(calls.records) do
    if r.status == "cache" then stop("failed", r.error) end
  end
  local spent = self.budget and self.budget:exhausted()
  if spent then stop("budget", spent) end
  for _, r in ipairs(calls.records) do
    if r.status == "budget" then stop("budget", r.error) end
  end
end

-- The training experience of one update, as (evaluation record, evidence text, again) where
-- again(candidate) gives the candidate's record on the very same experience. A plain task
-- gives the next B training examples (batch template); a task with experience() plays
-- what it decides, e.g. H steps of an episode (episodic template), and says how to replay it.
function Run:experience(b, h)
  local task = self.task
  if task.experience then
    local function timed(fn, ...)
      local t0 = now_ms()
      local ok, r = pcall(fn, ...)
      if not ok then error(r, 0) end   -- a bug in the task: let the CLI report file:line
      r.split, r.examples, r.duration_ms = "train", r.examples or #(r.results or {}), now_ms() - t0
      return r
    end
    local ex = timed(task.experience, self.current.artifact, { batch_size = b, horizon = h, seed = self.seed,
      step = self.step_no + 1, llm = self.task_client, state = self.experience_state, params = self.params,
      score = self.current.validation, last = self.last, jobs = self.jobs, higher = self.higher })
    self.experience_state = ex.state
    return ex, ex.evidence, function(candidate) return timed(ex.again, candidate) end
  end
  local batch = self.stream:next(b)
  local before = self:evaluate(self.current.artifact, "train", batch)
  local evidence
  if before.error then
    evidence = "The code failed before running any input: " .. before.error
  else
    evidence = templates.batch(before.results, stage_text(task, before.score))
  end
  return before, evidence, function(candidate) return self:evaluate(candidate, "train", batch) end
end

-- The paper's safety nets, for recipes to call after each step: true once the best
-- validation reaches the task's target (params.early_stop); and when the current validation
-- falls below params.restore_below x the best (best > 0), the best becomes current again.
-- For a task whose score is an error (higher_is_better = false) the target is reached from
-- above, and "below 0.8 x best" is above best / 0.8.
function Run:guard()
  local p = self.params
  local best, current = self.best.validation, self.current.validation
  if p.early_stop and self:target_reached() then
    self.log(string.format("target %s reached: stopping early", self.task.target))
    return true
  end
  if (p.restore_below or 0) > 0 and self:fallen_below(p.restore_below) then
    self:restore_best(string.format("validation %.3f fell %s %.2f x best %.3f", current,
      self.higher and "below" or "behind", p.restore_below, best))
  end
  return false
end

-- Makes the best candidate so far the current one again (the paper restores it when the
-- current validation falls below a fraction of the best). Returns true if it moved.
function Run:restore_best(reason)
  if self.current.id == self.best.id then return false end
  self.current = self.best
  self:event("restore_best", reason or "restored the best candidate", { candidate_id = self.best.id })
  self.log(string.format("step %d  restored the best candidate %d (%s)", self.step_no, self.best.id,
    reason or "recipe"))
  return true
end

-- Is the task episodic (a horizon means something)? A task with experience() is, unless it
-- says episodic = false (mlbench: its experience is an evaluation, not a rollout).
function M.episodic(task) return task.experience ~= nil and task.episodic ~= false end

function M.fmt(x)
  if x == nil then return "-" end
  return string.format("%.3f", x)
end

-- Comparisons in the task's direction, for recipes.
function Run:better(score, other) return selection.better(score, other, self.higher) end

-- Has the best validation reached the task's target score?
function Run:target_reached()
  return selection.reached(self.best.validation, self.task.target, self.higher)
end

-- Has the current validation fallen below fraction x the best (for an error: above best / fraction)?
function Run:fallen_below(fraction)
  return selection.fallen(self.current.validation, self.best.validation, fraction, self.higher)
end

M.MAX_FAILURE_NOTE = 4000   -- bytes of a failed candidate's error shown in the next feedback

-- What the optimizer is told about its last change when that change failed: the error (for a
-- program, the tail of its traceback), so the next proposal can fix it.
local function failure_note(last)
  if not (last and last.error) then return nil end
  local err = last.error
  if #err > M.MAX_FAILURE_NOTE then err = "..." .. err:sub(-M.MAX_FAILURE_NOTE) end
  return string.format("Your last change (step %d) failed and was rolled back; the code above is the last one " ..
    "that ran. The error:\n%s", last.step, err)
end


-- One update. opts: {batch_size, decision (any JSON value the recipe wants recorded),
-- accept (rule name)}. Returns the step's signals.
function Run:step(opts)
  opts = opts or {}
  local p = self.params
  local b = math.tointeger(opts.batch_size or p.batch_size or 1)
  assert(b and b >= 1, "batch_size must be a positive integer")
  local h = M.episodic(self.task) and (opts.horizon or p.horizon) or nil   -- only episodic tasks have one
  assert(h == nil or h == "episode" or (math.tointeger(h) and h >= 1),
    "horizon must be a positive integer or 'episode'")
  local rule = opts.accept or p.accept or "always"
  local n = self.step_no + 1
  self:check_interrupt()
  local row = self.stored and self.stored[n]
  if row then return self:replay(row, b, h, opts.decision) end
  self:go_live()
  -- a resumed run whose budget is spent stops before asking anything (a run never gets here
  -- with a spent budget: the step that spent it stopped it)
  local spent = self.budget and self.budget:exhausted()
  if spent then stop("budget", spent) end
  local t0 = now_ms()

  local before, evidence, again = self:experience(b, h)
  local note = failure_note(self.last)
  if note then evidence = note .. "\n\n" .. (evidence or "") end
  local proposal = self.optimizer:propose({
    artifact = self.current.artifact, instruction = self.task.instruction,
    evidence = evidence, memory = self.memory,
  })

  local s = { train_before = before.score, error = proposal.error }

  local cand, after, val, test
  if proposal.changes then
    cand = self.current.artifact:with(proposal.changes)
    after = again(cand)
    val = self:evaluate(cand, "validation", self.splits.validation)
    s.failed = val.error ~= nil
    -- a candidate that fails on validation is rolled back: its test score would never count
    if p.test_every_step ~= false and not s.failed then test = self:evaluate(cand, "test", self.splits.test) end
    s.train_after, s.validation = after.score, val.score
    s.accepted = selection.accept(rule, { before = before.score, after = after.score, higher = self.higher,
      failed = s.failed, validation = val.score, current_validation = self.current.validation })
    if s.failed then s.error = "candidate failed on validation: " .. val.error end
  end

  local calls = self:drain_calls()
  self:check_interrupt()   -- what an interrupt cut short is not recorded
  s.llm_calls, s.prompt_tokens, s.completion_tokens = #calls.records, calls.prompt_tokens, calls.completion_tokens
  local cand_id
  local best = self.best
  if cand and not s.failed and self:better(val.score, best.validation) then
    best = { artifact = cand, validation = val.score }
  end
  self.trace:transaction(function()
    local tr = self.trace
    before.run_id, before.step, before.candidate_id = self.id, n, self.current.id
    tr:insert_evaluation(before)
    if cand then
      cand_id = tr:insert_candidate({ run_id = self.id, step = n, parent_id = self.current.id,
        artifact = cand, diff = cand:diff(self.current.artifact), reasoning = proposal.reasoning })
        for _, e in ipairs({ after, val, test }) do   -- test is nil when not evaluated
        e.run_id, e.step, e.candidate_id = self.id, n, cand_id
        tr:insert_evaluation(e)
      end
    end
    self:insert_calls(n, calls.records)
    if best ~= self.best then best.id = cand_id end
    if s.failed then
      tr:event(self.id, n, "rollback", s.error, { candidate_id = cand_id })
    end
    tr:insert_step({
      run_id = self.id, step = n, batch_size = b, horizon = h, -- an integer, or the text "episode"
      decision = opts.decision, candidate_id = cand_id, accepted = s.accepted,
      current_id = s.accepted and cand_id or self.current.id, best_id = best.id,
      train_score = s.train_after or before.score, validation_score = s.validation,
      test_score = test and test.score, error = s.error, llm_calls = s.llm_calls,
      prompt_tokens = s.prompt_tokens, completion_tokens = s.completion_tokens,
      duration_ms = now_ms() - t0, llm_latency_ms = calls.latency_ms,
      signals = M.signals(s, { step = n, batch_size = b, horizon = h, before = before, after = after, val = val,
        current = self.current, calls = calls.records, proposal = proposal, new_best = best ~= self.best,
        best_validation = best.validation, higher = self.higher }),
    })
  end)

  -- The store has the step; now the in-memory state may move on.
  self.step_no = n
  self.best = best
  self:account(calls)
  if cand then
    -- The outcome of this change, for the next update's feedback (a task may show the trend).
    -- What the optimizer may learn of a failure: the error on the training experience; a
    -- failure on validation alone is only named, validation inputs are never shown.
    local shown = s.failed and (after.error or "it ran on the training inputs but failed on validation, " ..
      "whose inputs are not shown") or nil
    self.last = { step = n, validation = val.score, error = shown, accepted = s.accepted,
                  base = self.current.validation }
    table.insert(self.memory, { step = n, score = val.score, changes = proposal.changes, error = shown })
    while #self.memory > (p.memory or 5) do table.remove(self.memory, 1) end
    if test then self.held_out[cand_id] = test.score end
    if s.accepted then
      self.current = { id = cand_id, artifact = cand, validation = val.score }
    end
  end
  self.progress:step_line(string.format("step %d  B=%d%s  train %s -> %s  validation %s  best %s  tokens %d%s%s",
    n, b, h and ("  H=" .. tostring(h)) or "", M.fmt(before.score), M.fmt(s.train_after), M.fmt(s.validation),
    M.fmt(self.best.validation), s.prompt_tokens + s.completion_tokens,
    s.accepted and "  accepted" or "", s.error and ("  (" .. s.error:match("^[^\n]*") .. ")") or ""))
  self.progress:update(self, s.signals)

  self:check_llm(calls)
  -- the task's own model down (every question of an evaluation failed) counts like the optimizer's
  local task_down = before.error_kind == "llm" and before or (val and val.error_kind == "llm" and val)
  if proposal.fault == "llm" or task_down then
    self.llm_failures = self.llm_failures + 1
    if self.llm_failures >= M.MAX_LLM_FAILURES then
      stop("failed", string.format("the LLM endpoint failed %d steps in a row; last: %s",
        self.llm_failures, proposal.fault == "llm" and proposal.error or task_down.error))
    end
  else
    self.llm_failures = 0
  end
  return s.signals
end

-- Runs fn as a replayed step's work: the LLM calls it makes (a task's own model, answered
-- from the reply cache) are neither charged to the budget again nor recorded again.
function Run:quietly(fn)
  local clients, saved = {}, {}
  for _, c in ipairs({ self.client or false, self.task_client or false }) do
    if c and not saved[c] then
      clients[#clients + 1], saved[c] = c, { budget = c.budget }
      c.budget = nil
    end
  end
  local ok, err = pcall(fn)
  for _, c in ipairs(clients) do c.budget = saved[c].budget end
  self:drain_calls()
  if not ok then error(err, 0) end
end

local function same_horizon(a, b)
  return tostring(math.tointeger(a) or a) == tostring(math.tointeger(b) or b)
end

-- Step row.step again, from the store: the state moves as the first time, nothing is asked,
-- evaluated (but the training experience, which moves the stream or the episode) or written.
-- The recipe must ask for the same B, H and decision as it did then (it gets the same
-- signals, so a recipe that decides from them does); otherwise the run cannot be resumed.
function Run:replay(row, b, h, decision)
  local n = row.step
  local asked = decision ~= nil and json.encode(decision) or nil
  if row.batch_size ~= b or not same_horizon(row.horizon, h) or row.decision ~= asked then
    stop("failed", string.format("cannot resume run %d: step %d was made with B=%s H=%s decision %s, and the " ..
      "recipe now asks for B=%s H=%s decision %s; a recipe must decide the same from the same signals", self.id, n,
      tostring(row.batch_size), tostring(row.horizon), tostring(row.decision), tostring(b), tostring(h),
      tostring(asked)))
  end
  local before = self.current
  self:quietly(function()
    if self.task.experience then
      self:experience(b, h)   -- plays the same steps of the training episode again
    else
      self.stream:next(b)
    end
    if self.optimizer.skip then   -- an optimizer with state of its own (the baseline's random stream)
      self.optimizer:skip({ artifact = before.artifact, instruction = self.task.instruction, memory = self.memory })
    end
  end)
  local id = row.candidate_id
  if id then
    local cand = self:stored_artifact(id)
    local changes = {}
    for _, blk in ipairs(cand.blocks) do
      local old = before.artifact:block(blk.name)
      if not old or old.code ~= blk.code then changes[blk.name] = blk.code end
    end
    table.insert(self.memory, { step = n, score = row.validation_score, changes = changes })
    while #self.memory > (self.params.memory or 5) do table.remove(self.memory, 1) end
  end
  if row.best_id ~= self.best.id then
    local v = row.validation_score
    if row.best_id ~= id then
      local at = self.trace.db:query("SELECT validation_score FROM steps WHERE run_id = ? AND candidate_id = ?",
        self.id, row.best_id)[1]
      v = at and at.validation_score
    end
    self.best = { id = row.best_id, artifact = self:stored_artifact(row.best_id), validation = v }
  end
  if id and row.accepted == 1 then
    self.current = { id = id, artifact = self:stored_artifact(id), validation = row.validation_score }
  end
  self.step_no = n
  self:account_row(row)
  local signals = row.signals and json.decode(row.signals) or {}
  local down = self.trace.db:query("SELECT count(*) AS n FROM evaluations WHERE run_id = ? AND step = ? AND " ..
    "error_kind = 'llm' AND (split = 'validation' OR (split = 'train' AND candidate_id = ?))", self.id, n,
    before.id)[1].n > 0
  -- counted as the first time, but never stopping here: a resumed run goes on to a live step
  self.llm_failures = (signals.llm_failed or down) and self.llm_failures + 1 or 0
  return signals
end

-- What a recipe learns from a step (also stored as steps.signals). The held-out test score
-- is not among them: recipes must not select on it.
--   step, batch_size, horizon      what the step used
--   train_before, train_after      the training experience's score, current vs candidate
--   validation, previous_validation  the candidate's, and the current one's before the step
--   best_validation                after the step
--   improved_batch, improved_validation, new_best, accepted   booleans
--   failed                         the candidate failed to run (rolled back)
--   no_proposal                    the optimizer gave nothing usable (parse or LLM failure)
--   parse_failures                 replies that could not be used
--   llm_failed                     the optimizer's endpoint failed
--   prompt_tokens, completion_tokens, tokens, llm_calls
--   gap                            train score minus validation (generalization gap)
function M.signals(s, o)
  local function num(x) return type(x) == "number" and x or nil end
  local parse_failures = 0
  for _, r in ipairs(o.calls) do if r.proposal_error then parse_failures = parse_failures + 1 end end
  local train = num(s.train_after) or num(o.before.score)
  local v, prev = num(s.validation), num(o.current.validation)
  s.signals = {
    step = o.step, batch_size = o.batch_size, horizon = o.horizon,
    train_before = num(o.before.score), train_after = num(s.train_after),
    validation = v, previous_validation = prev, best_validation = num(o.best_validation),
    improved_batch = num(s.train_after) ~= nil and num(o.before.score) ~= nil and
      selection.better(s.train_after, o.before.score, o.higher),
    improved_validation = v ~= nil and selection.better(v, prev, o.higher),
    new_best = o.new_best, accepted = s.accepted == true, failed = s.failed == true,
    no_proposal = o.proposal.changes == nil, parse_failures = parse_failures,
    llm_failed = o.proposal.fault == "llm",
    prompt_tokens = s.prompt_tokens, completion_tokens = s.completion_tokens,
    tokens = s.prompt_tokens + s.completion_tokens, llm_calls = s.llm_calls,
    gap = train and v and (train - v) or nil,
  }
  return s.signals
end

-- The held-out test score of a candidate, for reports at the end of a run (nil if never
-- tested). Recipes must not call it.
function Run:held_out_test(id)
  return self.held_out[id]
end

-- After the recipe: the held-out test score of the final (current) candidate and of the best
-- on validation, both reported at the end of a run. A run with test_every_step = false has
-- not scored them yet: they are evaluated now, recorded with the last step. Then the task's
-- finish(best artifact, ctx), if it has one, makes what the run delivers (e.g. a Kaggle
-- submission) and says so in an event.
function Run:conclude()
  local todo, seen = {}, {}
  for _, c in ipairs({ self.best, self.current }) do
    if self.held_out[c.id] == nil and not seen[c.id] then todo[#todo + 1], seen[c.id] = c, true end
  end
  if #todo > 0 then self:test_untested(todo) end
  if self.task.finish then self:finish_task() end
end

function Run:test_untested(todo)
  local evals = {}
  for i, c in ipairs(todo) do evals[i] = self:evaluate(c.artifact, "test", self.splits.test) end
  local calls = self:drain_calls()
  local n = self.step_no
  self:check_interrupt()
  self.trace:transaction(function()
    for i, e in ipairs(evals) do
      e.run_id, e.step, e.candidate_id = self.id, n, todo[i].id
      self.trace:insert_evaluation(e)
    end
    self:insert_calls(n, calls.records)
    local ids = {}
    for i, c in ipairs(todo) do ids[i] = c.id end
    self.trace:event(self.id, n, "final_test", "test scores of the final and best candidates, evaluated " ..
      "after the last step", { candidates = ids })
  end)
  self:account(calls)
  for i, c in ipairs(todo) do self.held_out[c.id] = evals[i].score end
  self:check_llm(calls)
end

-- task.finish(artifact, ctx) -> {message, data} or nil: recorded as a "finish" event with the
-- last step (hone show prints it) and logged. A task error here is the task's bug and ends the
-- run like any other; a task reports its own failures in message.
function Run:finish_task()
  local ok, r = pcall(self.task.finish, self.best.artifact, { run_id = self.id, seed = self.seed,
    params = self.params, jobs = self.jobs, llm = self.task_client, candidate_id = self.best.id })
  if not ok then error(r, 0) end
  if type(r) ~= "table" then return end
  local info = r.data or {}
  info.candidate_id = info.candidate_id or self.best.id
  self.trace:event(self.id, self.step_no, "finish", r.message or "", info)
  self.log(r.message or "")
end

function Run:finish(status, err)
  self.trace:transaction(function()
    self.trace:finish_run(self.id, status, err)
    if self.sweep_cell then self.trace:finish_sweep_cell(self.sweep_cell, status, err) end
  end)
end

return M
