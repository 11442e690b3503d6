-- Selection: which candidate the loop keeps and continues from. Scores are higher-is-better
-- unless the task says otherwise (higher_is_better = false, e.g. an error such as RMSE):
-- every comparison goes through better(), which takes the direction.
local M = {}

-- Is score better than other? nil is never better, and anything beats nil. higher: false
-- when lower scores are better (default true).
function M.better(score, other, higher)
  if score == nil then return false end
  if other == nil then return true end
  if higher == false then return score < other end
  return score > other
end

-- Acceptance rules, by name. s: {before, after (minibatch scores), failed, validation,
-- current_validation, higher}. A candidate whose evaluation failed is never accepted (the
-- loop rolls back to the last good one).
M.rules = {
  -- take every candidate that runs (the paper's default)
  always = function(s) return not s.failed end,
  -- "ensure improvement": only if the same minibatch scores better than before
  improves_batch = function(s)
    return not s.failed and s.after ~= nil and (s.before == nil or M.better(s.after, s.before, s.higher))
  end,
  -- hill climbing on validation (the baseline optimizer's rule)
  improves_validation = function(s)
    return not s.failed and s.validation ~= nil and M.better(s.validation, s.current_validation, s.higher)
  end,
}

function M.accept(rule, s)
  local f = M.rules[rule]
  if not f then
    local names = {}
    for name in pairs(M.rules) do names[#names + 1] = name end
    table.sort(names)
    error(string.format("unknown acceptance rule '%s' (known: %s)", tostring(rule),
      table.concat(names, ", ")), 0)
  end
  return f(s)
end

-- Has score reached target? (at or above it; at or below it when lower is better)
function M.reached(score, target, higher)
  if score == nil or target == nil then return false end
  if higher == false then return score <= target end
  return score >= target
end

-- Has current fallen below fraction (in (0, 1]) of best? For higher-is-better scores: current
-- < fraction x best, with best > 0; for lower-is-better ones (errors): current > best / fraction.
function M.fallen(current, best, fraction, higher)
  if current == nil or best == nil or best <= 0 or fraction <= 0 then return false end
  if higher == false then return current > best / fraction end
  return current < fraction * best
end

return M
