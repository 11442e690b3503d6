-- Evaluating a Lua artifact on examples: one sandbox per evaluation, one call per example.
local hone = require("hone")

local M = {}

M.limits = { memory = 64 * 1024 * 1024, instructions = 10000000, time = 5 }

local function describe(err)
  local where = err.line and (" at line " .. err.line) or ""
  return string.format("%s%s: %s", err.kind, where, err.message)
end

-- spec: {entry = function name, args = function(example) -> ... (default: example.input),
--        score = function(output, example) -> score in [0, 1], feedback text, limits = {...}}
-- Returns {score (mean), results, error, error_kind, cpu_s, max_rss_kb} (what the sandbox
-- used: CPU seconds inside the candidate, peak memory of its state). A candidate that does not load, or
-- that exhausts its time or memory on any example, fails as a whole (score nil): running
-- the other examples into the same wall would only cost time.
function M.evaluate(artifact, examples, spec)
  local sb <close> = hone.sandbox.lua.new(spec.limits or M.limits)
  local function usage(r)
    local st = sb:stats()
    r.cpu_s, r.max_rss_kb = st.cpu_s, st.memory_peak // 1024
    return r
  end
  local ok, err = sb:load(artifact:assemble(), "candidate")
  if not ok then
    return usage({ results = {}, error = describe(err), error_kind = err.kind })
  end
  local results, total = {}, 0
  for i, ex in ipairs(examples) do
    local r = { id = ex.id, input = ex.input, expected = ex.expected }
    local args = spec.args and { spec.args(ex) } or { ex.input }
    local res = table.pack(sb:call(spec.entry, table.unpack(args)))
    if res[1] then
      r.output = res[2]
      r.score, r.feedback = spec.score(res[2], ex)
    else
      local fault = res[2]
      if fault.kind == "timeout" or fault.kind == "memory" then
        return usage({ results = results, error = string.format("example %s: %s", tostring(ex.id),
          describe(fault)), error_kind = fault.kind })
      end
      r.score, r.error, r.error_kind = 0, describe(fault), fault.kind
      r.feedback = "the call failed: " .. r.error
    end
    total = total + r.score
    results[i] = r
  end
  return usage({ score = #examples > 0 and total / #examples or nil, results = results })
end

return M
