-- The 8 object-level Atari games (tasks/atari/README.md) as hone tasks: `hone run atari/pong`.
-- An artifact is a Lua policy over OCAtari-style object lists; tasks/atari/games/NAME.lua gives
-- its starting artifact (the paper's trainable functions, weak on purpose), instruction,
-- score bands and the paper's protocol. Each update plays H more steps of a training
-- episode that goes on from update to update (H = 1 is the one-step template, "episode"
-- plays a whole fresh episode) and shows them to the optimizer with the policy's
-- evaluation score and its band. Validation is the paper's evaluation episodes; test is
-- as many held-out seeds, recorded but never shown nor used to select.
local hone = require("hone")
local templates = require("hone.templates")

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

-- Plays steps of env with artifact's policy: the run's record of it (score = reward).
local function play(spec, artifact, env, steps, horizon)
  local sb, err = load_policy(artifact)
  if not sb then
    return { results = {}, error = describe(err, "loading the policy", artifact), error_kind = err.kind }
  end
  local from = env:steps()
  local r = hone.atari.episode(env, sb, spec.entry, steps, { horizon = horizon })
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

function M.variant(name)
  local ok, spec = pcall(dofile, hone.root .. "/tasks/atari/games/" .. name .. ".lua")
  if not ok then
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
               test_episodes = spec.evaluation.episodes },
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

  -- Mean episode score over the examples (episode seeds), each in a fresh sandbox.
  function task.evaluate(artifact, examples, ctx)
    local results, total, cpu, peak = {}, 0, 0, 0
    for i, ex in ipairs(examples) do
      local env = hone.atari.new(name, ex.seed)
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

  -- H more steps of the training episode (a new one when it ended, or for "episode").
  function task.experience(artifact, opts)
    local st = opts.state or { episode = 0 }
    local whole = opts.horizon == "episode"
    if whole or not st.env or st.env:done() then
      st.episode = st.episode + 1
      st.env = hone.atari.new(name, TRAIN_SEED * opts.seed + st.episode)
    end
    local steps = whole and math.min(opts.params.eval_steps, max_steps) or opts.horizon
    local start = st.env:clone()
    local rec = play(spec, artifact, st.env, steps, steps)
    local r = rec.played
    rec.evidence = templates.episodic(rec.trace or {}, {
      horizon = opts.horizon, from = rec.from, rollout_reward = r and r.reward_total,
      episode_done = st.env:done(), error = rec.error, invalid_actions = r and r.invalid_actions,
      evaluation = opts.score and string.format("%.1f", opts.score), stage = band(spec, opts.score),
    })
    rec.state = st
    rec.again = function(candidate) return play(spec, candidate, start:clone(), steps) end
    rec.trace, rec.played = nil, nil   -- the store keeps results, not every step's objects
    return rec
  end

  return task
end

return M
