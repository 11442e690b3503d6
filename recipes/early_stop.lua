-- Early stopping against meta-overfitting. The paper sees validation keep rising while the
-- held-out test falls after a few iterations: the optimizer has started fitting the
-- validation signal itself. Test cannot be watched (it is never given to recipes), but two
-- things that can be watched come before it: validation that stops improving, and a
-- generalization gap (training experience minus validation) that keeps widening. This
-- recipe runs like the fixed one and stops at the first of:
--   patience      steps in a row without a new best on validation
--   gap_patience  steps in a row whose gap widened while validation made no new best
-- The best-on-validation candidate is what the run reports either way. Each step records
-- {stalled, widening, reason} as its decision.
local hone = require("hone")
local fixed = dofile(hone.root .. "/recipes/fixed.lua")

local M = { params = {} }
for k, v in pairs(fixed.params) do M.params[k] = v end
M.params.steps = 20
M.params.patience = 4
M.params.gap_patience = 3

-- The next counters from one step's signals; returns stalled, widening, reason-to-stop or nil.
function M.watch(stalled, widening, last_gap, sig, p)
  stalled = sig.new_best and 0 or stalled + 1
  if sig.gap and last_gap and sig.gap > last_gap and not sig.new_best then
    widening = widening + 1
  elseif sig.gap then
    widening = 0
  end
  if stalled >= p.patience then
    return stalled, widening, string.format("no new best on validation for %d steps", stalled)
  end
  if widening >= p.gap_patience then
    return stalled, widening, string.format("the train-validation gap widened %d steps in a row without " ..
      "a new best: meta-overfitting", widening)
  end
  return stalled, widening, nil
end

function M.run(run)
  local p = run.params
  local stalled, widening, last_gap = 0, 0, nil
  for _ = 1, p.steps do
    local sig = run:step({ batch_size = p.batch_size, horizon = p.horizon,
                           decision = { stalled = stalled, widening = widening } })
    local why
    stalled, widening, why = M.watch(stalled, widening, last_gap, sig, p)
    last_gap = sig.gap or last_gap
    if why then
      run.trace:event(run.id, sig.step, "early_stop", why)
      run.log("early stop: " .. why)
      return
    end
    if run:guard() then return end
  end
end

return M
