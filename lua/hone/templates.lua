-- Learning templates: how traces become the evidence one update sees.
-- batch: B independent traces, "ID [i]: ..." (the interactive template is batch with B = 1).
-- episodic: H chained (observation, action, reward) steps of one rollout, one line each.
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
  if #s > max then
    local cut = max
    while cut > 0 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end   -- whole UTF-8 characters
    s = s:sub(1, cut) .. string.format(" ...[%d more bytes]", #s - cut)
  end
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

M.MAX_EPISODIC = 40000   -- characters of an episodic trace; past that, steps are thinned
M.GROUP = 6              -- a category with more objects than this is shown as a count and a span

local function signed(n)
  if n == 0 then return "0" end
  return string.format("%+d", n)
end

-- One observation in one line: "Player(140,95 v0,-8) Ball(80,120 v-2,+3) BlockRow x6 [x8..152 y57..87]".
function M.objects(objects)
  local order, groups = {}, {}
  for _, o in ipairs(objects or {}) do
    local g = groups[o.category]
    if not g then
      g = {}
      groups[o.category] = g
      order[#order + 1] = o.category
    end
    g[#g + 1] = o
  end
  local parts = {}
  for _, cat in ipairs(order) do
    local g = groups[cat]
    if #g > M.GROUP then
      local x0, x1, y0, y1 = math.huge, -math.huge, math.huge, -math.huge
      for _, o in ipairs(g) do
        x0, x1 = math.min(x0, o.x), math.max(x1, o.x + o.w)
        y0, y1 = math.min(y0, o.y), math.max(y1, o.y + o.h)
      end
      parts[#parts + 1] = string.format("%s x%d [x%d..%d y%d..%d]", cat, #g, x0, x1, y0, y1)
    else
      for _, o in ipairs(g) do
        local v = (o.dx ~= 0 or o.dy ~= 0) and string.format(" v%s,%s", signed(o.dx), signed(o.dy)) or ""
        parts[#parts + 1] = string.format("%s(%d,%d%s)", cat, o.x, o.y, v)
      end
    end
  end
  return table.concat(parts, " ")
end

-- trace: list of {step, action, reward, score, lives, invalid, objects}, oldest first.
-- info: {horizon, from, rollout_reward, episode_done, error, invalid_actions, evaluation, stage}
-- The optimizer sees the steps, then what they add up to, then the evaluation and its band.
function M.episodic(trace, info)
  local lines = {}
  for i, e in ipairs(trace) do
    lines[i] = string.format("t=%d score=%d lives=%d | %s | action=%s%s reward=%s", e.step, e.score, e.lives,
      M.objects(e.objects), tostring(e.action), e.invalid and " (invalid: played NOOP)" or "", signed(e.reward))
  end
  local total = 0
  for _, l in ipairs(lines) do total = total + #l + 1 end
  local shown, note = lines, nil
  if total > M.MAX_EPISODIC then
    -- keep every step with a reward, every change of action while they fit, and every
    -- k-th step, k as small as fits: the story stays whole, only its pace is cut
    local function thin(k, changes)
      local out, size = {}, 0
      for i, e in ipairs(trace) do
        local prev = trace[i - 1]
        if e.reward ~= 0 or i % k == 0 or i == #trace or (changes and (not prev or prev.action ~= e.action)) then
          out[#out + 1] = lines[i]
          size = size + #lines[i] + 1
        end
      end
      return out, size
    end
    local k, changes = 2, true
    while true do
      local size
      shown, size = thin(k, changes)
      if size <= M.MAX_EPISODIC or (k > #trace and not changes) then break end
      if k > #trace then changes = false else k = k * 2 end
    end
    note = string.format("(%d of the %d steps shown: those with a reward%s, and every %d-th)", #shown, #trace,
      changes and " or a change of action" or "", k)
  end
  local parts = { string.format("Rollout of %d steps (horizon %s), from episode step %d:", #trace,
    tostring(info.horizon), info.from or (trace[1] and trace[1].step) or 0) }
  if note then parts[#parts + 1] = note end
  parts[#parts + 1] = table.concat(shown, "\n")
  parts[#parts + 1] = string.format("Reward over these steps: %s%s.", signed(info.rollout_reward or 0),
    info.episode_done and "; the episode ended" or "")
  if info.invalid_actions and info.invalid_actions > 0 then
    parts[#parts + 1] = string.format("%d invalid actions were played as NOOP.", info.invalid_actions)
  end
  if info.error then parts[#parts + 1] = "The policy failed: " .. info.error end
  if info.evaluation then
    parts[#parts + 1] = string.format("Evaluation score of this policy (full episodes): %s.", info.evaluation)
  end
  if info.stage and info.stage ~= "" then parts[#parts + 1] = info.stage end
  return table.concat(parts, "\n")
end

return M
