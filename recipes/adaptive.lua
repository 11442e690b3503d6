-- The adaptive recipe: sets the batch size B and the credit horizon H by itself, from the
-- signals every step records, instead of a grid search.
--
-- Why these rules. The paper finds that no fixed B or H wins everywhere, and describes how
-- each goes wrong: an update from too little experience fits what it saw and does not carry
-- to validation; an update from too short a rollout follows rewards that disagree with the
-- episode's score; too much experience costs tokens and stops paying once updates plateau.
-- Each of those leaves a trace in the signals, so each gets a rule:
--
--   B (tasks that learn from minibatches), on the ladder batch_ladder:
--     grow   when the last `patience` updates improved their own minibatch but not
--            validation: the optimizer fits the few examples it sees, so show it more.
--     shrink when replies failed to parse in `patience` updates in a row (the context has
--            grown too long for the model), or when the last `patience` updates each
--            improved validation: progress is fast, smaller updates are cheaper and more.
--   H (episodic tasks), on the ladder horizon_ladder:
--     grow   when the candidate's rollout reward improved but validation (the full-episode
--            score) did not, `patience` times in a row: short-window reward and episode
--            score disagree, so credit needs a longer window.
--     shrink when `patience` updates at this H improved neither their rollout nor
--            validation: long traces have stopped producing improvements.
-- After a change the recipe waits `patience` updates before judging again, so one noisy
-- step cannot make it oscillate. Every step records its decision (steps.decision):
-- {batch_size, horizon, changed, reason}.
local hone = require("hone")
local fixed = dofile(hone.root .. "/recipes/fixed.lua")

local M = { params = {} }
for k, v in pairs(fixed.params) do M.params[k] = v end   -- the same safety nets and LLM settings
M.params.steps = 15
M.params.batch_size = 3
M.params.horizon = 25
M.params.patience = 2
M.params.batch_ladder = "1,3,5,8"
M.params.horizon_ladder = "1,5,25,100,400"

local function ladder(text)
  local out = {}
  for n in tostring(text):gmatch("%d+") do out[#out + 1] = math.tointeger(tonumber(n)) end
  table.sort(out)
  assert(#out > 0, "adaptive: a ladder needs at least one number, not '" .. tostring(text) .. "'")
  return out
end

-- The rung of ladder nearest to value, and the value `delta` rungs away (clamped).
local function move(steps, value, delta)
  local at = 1
  for i, v in ipairs(steps) do
    if math.abs(v - value) < math.abs(steps[at] - value) then at = i end
  end
  return steps[math.max(1, math.min(#steps, at + delta))]
end

local function all(list, pred)
  for _, x in ipairs(list) do if not pred(x) then return false end end
  return #list > 0
end

-- The next setting from the signals since the last change. state: {batch_size, horizon,
-- episodic, patience, batch_ladder, horizon_ladder}. Returns batch_size, horizon, reason
-- (nil when nothing changes). Pure: the tests call it directly.
function M.decide(state, since)
  local n = state.patience
  if #since < n then return state.batch_size, state.horizon, nil end
  local recent = table.move(since, #since - n + 1, #since, 1, {})
  local b, h = state.batch_size, state.horizon
  if state.episodic and h ~= "episode" then
    if all(recent, function(s) return s.improved_batch and not s.improved_validation end) then
      local nh = move(state.horizon_ladder, h, 1)
      if nh ~= h then
        return b, nh, string.format("the last %d rollouts improved their reward but not the episode score: " ..
          "lengthen H %d -> %d", n, h, nh)
      end
    elseif all(recent, function(s) return not s.improved_batch and not s.improved_validation end) then
      local nh = move(state.horizon_ladder, h, -1)
      if nh ~= h then
        return b, nh, string.format("%d updates at H = %d improved neither rollout nor validation: " ..
          "shorten H %d -> %d", n, h, h, nh)
      end
    end
    return b, h, nil
  end
  if all(recent, function(s) return s.improved_batch and not s.improved_validation and not s.failed end) then
    local nb = move(state.batch_ladder, b, 1)
    if nb ~= b then
      return nb, h, string.format("the last %d updates improved their minibatch but not validation: " ..
        "grow B %d -> %d", n, b, nb)
    end
  elseif all(recent, function(s) return s.parse_failures > 0 end) then
    local nb = move(state.batch_ladder, b, -1)
    if nb ~= b then
      return nb, h, string.format("replies failed to parse in %d updates in a row: shrink B %d -> %d", n, b, nb)
    end
  elseif all(recent, function(s) return s.improved_validation end) then
    local nb = move(state.batch_ladder, b, -1)
    if nb ~= b then
      return nb, h, string.format("the last %d updates each improved validation: shrink B %d -> %d", n, b, nb)
    end
  end
  return b, h, nil
end

function M.run(run)
  local p = run.params
  local state = {
    batch_size = math.tointeger(p.batch_size), horizon = p.horizon, episodic = require("hone.loop").episodic(run.task),
    patience = math.max(1, math.tointeger(p.patience) or 2),
    batch_ladder = ladder(p.batch_ladder), horizon_ladder = ladder(p.horizon_ladder),
  }
  local since, reason = {}, "the starting setting"
  for _ = 1, p.steps do
    local decision = { batch_size = state.batch_size, horizon = state.episodic and state.horizon or nil,
                       changed = #since == 0 and reason ~= "the starting setting", reason = reason }
    since[#since + 1] = run:step({ batch_size = state.batch_size, horizon = state.episodic and state.horizon or nil,
                                   decision = decision })
    local b, h, why = M.decide(state, since)
    if why then
      state.batch_size, state.horizon, since, reason = b, h, {}, why
      run.log("adaptive: " .. why)
    else
      reason = "no rule fired: keep the setting"
    end
    if run:guard() then return end
  end
end

return M
