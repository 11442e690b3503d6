-- Learning templates: how traces become the evidence one update sees.
-- batch: B independent traces, "ID [i]: ..." (the interactive template is batch with B = 1).
local hone = require("hone")

local M = {}

M.MAX_VALUE = 2000   -- characters of one shown value; the context must stay readable

-- A value as the optimizer sees it: text as is, anything else as JSON, long values cut.
function M.show(v, max)
  max = max or M.MAX_VALUE
  local s
  if type(v) == "string" then s = v
  elseif v == nil then s = "nil"
  else
    local ok, text = pcall(hone.json.encode, v)
    s = ok and text or tostring(v)
  end
  if #s > max then s = s:sub(1, max) .. string.format(" ...[%d more characters]", #s - max) end
  return s
end

-- traces: list of {input, output, feedback, error}. stage: optional text on the whole batch.
function M.batch(traces, stage)
  local parts = {}
  for i, t in ipairs(traces) do
    local output = t.error and ("(error) " .. t.error) or M.show(t.output)
    parts[#parts + 1] = string.format("ID [%d]:\nInput: %s\nOutput: %s\nFeedback: %s", i,
      M.show(t.input), output, t.feedback or "")
  end
  if stage and stage ~= "" then parts[#parts + 1] = "Overall: " .. stage end
  return table.concat(parts, "\n\n")
end

return M
