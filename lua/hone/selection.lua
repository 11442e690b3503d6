-- Selection: which candidate the loop keeps and continues from.
local M = {}

-- Acceptance rules, by name. s: {before, after (minibatch scores), failed, validation,
-- current_validation}. A candidate whose evaluation
-- failed is never accepted (the loop rolls back to the last good one).
M.rules = {
  -- take every candidate that runs (the paper's default)
  always = function(s) return not s.failed end,
  -- "ensure improvement": only if the same minibatch scores higher than before
  improves_batch = function(s)
    return not s.failed and s.after ~= nil and (s.before == nil or s.after > s.before)
  end,
  -- hill climbing on validation (the baseline optimizer's rule)
  improves_validation = function(s)
    return not s.failed and s.validation ~= nil and
      (s.current_validation == nil or s.validation > s.current_validation)
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

-- Best on validation: ties keep the earlier candidate, failures never win.
function M.better(score, best_score)
  return score ~= nil and (best_score == nil or score > best_score)
end

return M
