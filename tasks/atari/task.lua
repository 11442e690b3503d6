-- The 8 object-level Atari games (tasks/atari/README.md) as hone tasks: `hone run atari/pong`.
-- An artifact is a Lua policy over OCAtari-style object lists; tasks/atari/games/NAME.lua gives
-- its starting artifact (the paper's trainable functions, weak on purpose), instruction,
-- score bands and the paper's protocol. Each update plays H more steps of a training
-- episode that goes on from update to update (H = 1 is the one-step template, "episode"
-- plays a whole fresh episode) and shows them to the optimizer with the policy's
-- evaluation score and its band. Validation is the paper's evaluation episodes; test is
-- as many held-out seeds, recorded but never shown nor used to select.
-- With --set env_command="..." the episodes are played by an external environment instead
-- (tasks/atari/external.lua: a user's ALE + OCAtari over a JSON-lines protocol).
local hone = require("hone")
local templates = require("hone.templates")
local loop = require("hone.loop")
local external = dofile(hone.root .. "/tasks/atari/external.lua")

local M = {}

M.variants = hone.atari.games()

-- Per policy call: a step must not take more than this.
M.LIMITS = { memory = 64 * 1024 * 1024, instructions = 2000000, time = 1 }

local VALIDATION_SEED, TEST_SEED, TRAIN_SEED = 100, 200, 1000000

-- "step 12: runtime in select_action, line 3: policy:7: attempt to ..." (lines of the
-- assembled text name their block, so the optimizer can find them)
local function describe(err, where, artifact)
  local at = ""
  if err.line then
    local block, line = artifact:where(err.line)
    at = block and string.format(" in %s, line %d", block, line) or (" at line " .. err.line)
  end
  return string.format("%s%s%s: %s", where and (where .. ": ") or "", err.kind, at, err.message)
end

-- The band text for an evaluation score.
local function band(spec, score)
  if score == nil then return nil end
  for _, b in ipairs(spec.bands) do
    if b.below == nil or score < b.below then return b.text end
  end
end

-- A fresh sandbox holding the policy, or nil, error.
local function load_policy(artifact)
  local sb = hone.sandbox.lua.new(M.LIMITS)
  local ok, err = sb:load(artifact:assemble(), "policy")
  if not ok then
    sb:close()
    return nil, err
  end
  return sb
end

-- Plays env with the policy in sb: hone.atari.episode's C loop on hone's own engines,
-- external.episode's Lua loop, with the same result, on an external environment.
local function episode(env, sb, entry, steps, opts)
  if external.is_env(env) then return external.episode(env, sb, entry, steps, opts) end
  return hone.atari.episode(env, sb, entry, steps, opts)
end

-- Plays steps of env with artifact's policy: the run's record of it (score = reward).
-- record: a list the actions played are appended to (external envs, to replay them).
local function play(spec, artifact, env, steps, horizon, record)
  local sb, err = load_policy(artifact)
  if not sb then
    return { results = {}, error = describe(err, "loading the policy", artifact), error_kind = err.kind }
  end
  local from = env:steps()
  local r = episode(env, sb, spec.entry, steps, { horizon = horizon, record = record })
  local st = sb:stats()
  sb:close()
  local rec = {
    score = r.reward_total, trace = r.trace, played = r, from = from,
    cpu_s = st.cpu_s, max_rss_kb = st.memory_peak // 1024,
    results = { { id = from, input = string.format("episode steps %d..%d", from, from + r.steps - 1),
                  output = r.reward_total, score = r.reward_total, invalid_actions = r.invalid_actions } },
  }
  if r.error then
    rec.error = describe(r.error, "step " .. tostring(r.error.step), artifact)
    rec.error_kind = r.error.kind
    rec.score = nil
  end
  return rec
end

-- The process sandbox always shows these; a path under one needs no `readable`.
local SHOWN = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc" }

local function under(path, dir)
  return path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

-- What an external environment's process sees read-only besides the system: env_readable
-- (paths separated by ':') and every absolute path its command names that exists (the
-- bridge script, a venv's python), unless already visible.
local function readable_paths(words, extra)
  local list = {}
  for path in extra:gmatch("[^:]+") do list[#list + 1] = path end
  local function visible(path)
    for _, dirs in ipairs({ SHOWN, list }) do
      for _, dir in ipairs(dirs) do if under(path, dir) then return true end end
    end
    return false
  end
  for _, w in ipairs(words) do
    local f = w:sub(1, 1) == "/" and not visible(w) and io.open(w, "r")
    if f then
      f:close()
      list[#list + 1] = w
    end
  end
  return list
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- An external environment that fails ends the run (status failed, its one-line reason):
-- the candidate is not at fault, and no score can be had without it.
local function environment_failed(err)
  if external.is_error(err) then error(setmetatable({ status = "failed", message = err.message }, loop.Stop), 0) end
  error(err, 0)
end

function M.variant(name)
  local found, spec = pcall(dofile, hone.root .. "/tasks/atari/games/" .. name .. ".lua")
  if not found then
    error(string.format("no Atari game '%s' (games: %s)", name, table.concat(M.variants, ", ")), 0)
  end
  local max_steps = hone.atari.info(name).max_steps
  local task = {
    name = "atari/" .. name, instruction = spec.instruction, default_artifact = "default",
    -- default: the paper's decomposition, weak bodies; reference: a strong hand-written
    -- policy as one block, whose constants the baseline optimizer can tune
    starting_artifacts = { default = spec.artifact, reference = { language = "lua", blocks = {
      { name = "policy", editable = true, code = spec.reference,
        doc = "A complete hand-written policy; " .. spec.entry .. "(obs) returns the action." } } } },
    target = spec.target,
    -- the paper's protocol for this game, and its practice (restore the best below 0.8x)
    defaults = { steps = spec.steps, horizon = spec.horizon, batch_size = 1, restore_below = 0.8 },
    params = { eval_episodes = spec.evaluation.episodes, eval_steps = spec.evaluation.max_steps,
               test_episodes = spec.evaluation.episodes,
               -- an external environment instead of hone's engine (README, "External environments")
               env_command = "", env_readable = "", env_memory = 8192, env_timeout = external.TIMEOUT },
  }

  function task.stage(score) return band(spec, score) end

  -- Episode seeds: validation and test fixed for every run, so runs compare.
  function task.splits(_, params)
    local function seeds(base, n)
      local list = {}
      for i = 1, n do list[i] = { id = base + i, seed = base + i, input = "episode seed " .. (base + i) } end
      return list
    end
    return { train = {}, validation = seeds(VALIDATION_SEED, params.eval_episodes),
             test = seeds(TEST_SEED, params.test_episodes) }
  end

  -- The env_command's process, started in the process sandbox (README, "External
  -- environments"); nil when the task plays hone's own engine.
  local function open_external(params)
    local words = external.words(params.env_command)
    if #words == 0 then return nil end
    return external.open({ command = words, name = name, readable = readable_paths(words, params.env_readable),
                           memory = params.env_memory * 1024 * 1024, timeout = params.env_timeout })
  end

  -- Mean episode score over the examples (episode seeds), each in a fresh sandbox; an
  -- external environment is one process for all of them, reset to each seed.
  local function evaluate(artifact, examples, ctx, ext)
    local results, total, cpu, peak = {}, 0, 0, 0
    for i, ex in ipairs(examples) do
      local env = ext or hone.atari.new(name, ex.seed)
      if ext then ext:reset(ex.seed) end
      local rec = play(spec, artifact, env, ctx.params.eval_steps)
      cpu, peak = cpu + (rec.cpu_s or 0), math.max(peak, rec.max_rss_kb or 0)
      if rec.error then
        return { results = results, error = string.format("episode seed %d, %s", ex.seed, rec.error),
                 error_kind = rec.error_kind, cpu_s = cpu, max_rss_kb = peak }
      end
      local r = rec.played
      results[i] = { id = ex.id, input = ex.input, output = r.score, score = r.score, steps = r.steps,
                     invalid_actions = r.invalid_actions, feedback = band(spec, r.score) }
      total = total + r.score
    end
    return { score = #examples > 0 and total / #examples or nil, results = results, cpu_s = cpu, max_rss_kb = peak }
  end

  function task.evaluate(artifact, examples, ctx)
    local ext
    local ok, r = pcall(function()
      ext = #examples > 0 and open_external(ctx.params) or nil
      return evaluate(artifact, examples, ctx, ext)
    end)
    if ext then ext:close() end
    if not ok then environment_failed(r) end
    return r
  end

  -- again() on an external environment, which cannot be cloned: a fresh process reset to
  -- the episode's seed replays the actions played before the experience began, and the
  -- candidate plays on from there. That needs an environment deterministic given the seed,
  -- so the observation reached must be the one the experience started from.
  local function replay(params, from, candidate, steps)
    local env
    local ok, r = pcall(function()
      env = open_external(params)
      env:reset(from.seed)
      for i = 1, from.steps do
        if env:done() then break end
        env:step(from.actions[i])
      end
      if not same(env:observation(), from.observation) then
        external.fail(string.format("external env %s: replay: reset(%d) and the same %d actions led elsewhere; " ..
          "replaying an experience needs an environment deterministic given the seed", name, from.seed, from.steps))
      end
      return play(spec, candidate, env, steps)
    end)
    if env then env:close() end
    if not ok then environment_failed(r) end
    return r
  end

  -- H more steps of the training episode (a new one when it ended, or for "episode"). An
  -- external environment is one process for the run's training episodes, reset to each.
  local function experience(artifact, opts, st)
    local params = opts.params
    local whole = opts.horizon == "episode"
    if whole or not st.env or st.env:done() then
      st.episode = st.episode + 1
      local seed = TRAIN_SEED * opts.seed + st.episode
      if params.env_command:match("%S") then
        st.env = st.env or open_external(params)
        st.env:reset(seed)
        st.seed, st.actions = seed, {}
      else
        st.env = hone.atari.new(name, seed)
      end
    end
    local env = st.env
    local ext = external.is_env(env)
    local steps = whole and math.min(params.eval_steps, ext and env:max_steps() or max_steps) or opts.horizon
    local again
    if ext then
      local from = { seed = st.seed, steps = #st.actions, actions = st.actions, observation = env:observation() }
      again = function(candidate) return replay(params, from, candidate, steps) end
    else
      local start = env:clone()
      again = function(candidate) return play(spec, candidate, start:clone(), steps) end
    end
    local rec = play(spec, artifact, env, steps, steps, ext and st.actions or nil)
    local r = rec.played
    rec.evidence = templates.episodic(rec.trace or {}, {
      horizon = opts.horizon, from = rec.from, rollout_reward = r and r.reward_total,
      episode_done = env:done(), error = rec.error, invalid_actions = r and r.invalid_actions,
      evaluation = opts.score and string.format("%.1f", opts.score), stage = band(spec, opts.score),
    })
    rec.state = st
    rec.again = again
    rec.trace, rec.played = nil, nil   -- the store keeps results, not every step's objects
    return rec
  end

  function task.experience(artifact, opts)
    local st = opts.state or { episode = 0 }
    local ok, rec = pcall(experience, artifact, opts, st)
    if not ok then
      if external.is_env(st.env) then st.env:close(0) end
      environment_failed(rec)
    end
    return rec
  end

  return task
end

return M
