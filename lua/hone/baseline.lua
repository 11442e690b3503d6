-- The baseline optimizer, without any LLM: each proposal nudges one to three numeric
-- constants of the editable blocks by a seeded random step, and validation decides
-- (acceptance rule "improves_validation": plain hill climbing). It is the control an LLM
-- run should beat, and what `hone run` falls back to, loudly, when no endpoint is set.
-- Same interface as hone.optimizer: propose(args) -> {changes, reasoning, calls, error, fault}.
local data = require("hone.data")

local M = {}
local Baseline = {}
Baseline.__index = Baseline

M.ACCEPT = "improves_validation"

-- Where the numeric literals of code are: a list of {first, last, text}. Strings and
-- comments are skipped (Lua's --, --[[ ]], [[ ]]; Python's #, triple quotes), and so are
-- digits inside names (x2) and hexadecimal numbers.
function M.constants(code, language)
  local out, i, n = {}, 1, #code
  local python = language == "python"
  while i <= n do
    local c = code:sub(i, i)
    local long = not python and (code:match("^%-%-%[(=*)%[", i) or code:match("^%[(=*)%[", i))
    if long then
      local close = "]" .. long .. "]"
      local _, e = code:find(close, i, true)
      i = (e or n) + 1
    elseif (not python and code:sub(i, i + 1) == "--") or (python and c == "#") then
      i = (code:find("\n", i, true) or n) + 1
    elseif python and (code:sub(i, i + 2) == '"""' or code:sub(i, i + 2) == "'''") then
      local _, e = code:find(code:sub(i, i + 2), i + 3, true)
      i = (e or n) + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and code:sub(j, j) ~= c and code:sub(j, j) ~= "\n" do
        j = j + (code:sub(j, j) == "\\" and 2 or 1)
      end
      i = j + 1
    elseif c:match("[%a_]") then
      local _, e = code:find("^[%w_]+", i)
      i = e + 1
    elseif c:match("%d") or (c == "." and code:sub(i + 1, i + 1):match("%d")) then
      local hex = code:match("^0[xX]%x+", i)
      local text = hex or code:match("^%d*%.?%d*[eE][%+%-]?%d+", i) or code:match("^%d*%.?%d*", i)
      if not hex and code:sub(i - 1, i - 1) ~= "." then
        out[#out + 1] = { first = i, last = i + #text - 1, text = text }
      end
      i = i + #text
    else
      i = i + 1
    end
  end
  return out
end

-- A nearby value of the same kind: integers move by at least 1, floats by a relative step.
local function nudge(text, rng)
  local v = tonumber(text)
  local sign = rng:random() < 0.5 and -1 or 1
  if not text:find("[%.eE]") then
    local step = math.max(1, math.floor(math.abs(v) * 0.25 * rng:random() + 0.5))
    local new = math.max(0, v + sign * step)   -- a literal has no sign: stay a literal
    if new == v then new = v + step end
    return string.format("%d", new)
  end
  local new = v == 0 and sign * 0.1 * rng:random() or v * (1 + sign * 0.3 * rng:random())
  return string.format("%.6g", math.abs(new))
end

-- Does artifact have anything the baseline can change?
function M.applies(artifact)
  for _, name in ipairs(artifact:editable_names()) do
    local b = artifact:block(name)
    if #M.constants(b.code, b.language) > 0 then return true end
  end
  return false
end

-- opts: {seed}
function M.new(opts)
  return setmetatable({ rng = data.rng((opts and opts.seed or 1) * 7919 + 17) }, Baseline)
end

function Baseline:propose(args)
  local artifact = args.artifact
  local sites = {}
  for _, name in ipairs(artifact:editable_names()) do
    local b = artifact:block(name)
    for _, s in ipairs(M.constants(b.code, b.language)) do
      s.block = name
      sites[#sites + 1] = s
    end
  end
  if #sites == 0 then
    return { calls = {}, fault = "reply",
             error = "the baseline optimizer found no numeric constant to change in the editable blocks" }
  end
  local chosen, picked = {}, {}
  for _ = 1, self.rng:int(1, math.min(3, #sites)) do
    local k = self.rng:int(1, #sites)
    if not picked[k] then
      picked[k] = true
      chosen[#chosen + 1] = sites[k]
    end
  end
  -- rewrite from the end so earlier positions stay valid
  table.sort(chosen, function(a, b) return a.block < b.block or (a.block == b.block and a.first > b.first) end)
  local changes, notes = {}, {}
  for _, s in ipairs(chosen) do
    local code = changes[s.block] or artifact:block(s.block).code
    local new = nudge(s.text, self.rng)
    changes[s.block] = code:sub(1, s.first - 1) .. new .. code:sub(s.last + 1)
    notes[#notes + 1] = string.format("%s: %s -> %s", s.block, s.text, new)
  end
  for name, code in pairs(changes) do
    local ok, why = artifact:check(name, code)
    if not ok then return { calls = {}, fault = "reply", error = "baseline: " .. why } end
  end
  return { changes = changes, calls = {}, reasoning = "baseline (no LLM): " .. table.concat(notes, "; ") }
end

-- A resumed run's replayed step (loop.lua): the random stream moves as propose would move it.
function Baseline:skip(args)
  self:propose(args)
end

return M
