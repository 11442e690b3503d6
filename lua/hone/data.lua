-- Data helpers: a seeded random stream that is the same on every machine, shuffles,
-- split cutting and the minibatch stream over a training split.
local M = {}

-- xorshift64*: deterministic across platforms (Lua integers are 64-bit and wrap).
local Rng = {}
Rng.__index = Rng

function M.rng(seed)
  local state = (math.tointeger(seed) or 0) ~ 0x2545F4914F6CDD1D
  if state == 0 then state = 0x9E3779B97F4A7C15 end
  return setmetatable({ state = state }, Rng)
end

function Rng:next()
  local x = self.state
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.state = x
  return (x * 0x2545F4914F6CDD1D) >> 11   -- 53 bits, non-negative
end

-- A float in [0, 1).
function Rng:random()
  return self:next() / 9007199254740992.0
end

-- An integer in [lo, hi].
function Rng:int(lo, hi)
  return lo + self:next() % (hi - lo + 1)
end

-- A shuffled copy of list (Fisher-Yates).
function M.shuffle(list, rng)
  local out = table.move(list, 1, #list, 1, {})
  for i = #out, 2, -1 do
    local j = rng:int(1, i)
    out[i], out[j] = out[j], out[i]
  end
  return out
end

-- Cuts list into consecutive parts of the given sizes: M.cut(list, {train = 15, validation = 10},
-- "test") gives train, validation and the rest as test. order names the parts in sequence.
function M.cut(list, order, sizes, rest_name)
  local out, at = {}, 1
  for _, name in ipairs(order) do
    out[name] = table.move(list, at, at + sizes[name] - 1, 1, {})
    at = at + sizes[name]
  end
  if rest_name then out[rest_name] = table.move(list, at, #list, 1, {}) end
  return out
end

-- Minibatches of a split: every example once per epoch, order reshuffled each epoch from
-- the run's seed. stream:next(b) returns b examples (crossing into the next epoch if needed).
local Stream = {}
Stream.__index = Stream

function M.stream(examples, seed)
  assert(#examples > 0, "the training split is empty")
  local s = setmetatable({ examples = examples, rng = M.rng(seed), epoch = 0, pos = 0 }, Stream)
  s:reshuffle()
  return s
end

function Stream:reshuffle()
  self.order = M.shuffle(self.examples, self.rng)
  self.epoch = self.epoch + 1
  self.pos = 0
end

function Stream:next(b)
  local batch = {}
  for _ = 1, b do
    if self.pos >= #self.order then self:reshuffle() end
    self.pos = self.pos + 1
    batch[#batch + 1] = self.order[self.pos]
  end
  return batch
end

-- Where public data sets live: $HONE_DATA, else the user's cache ($XDG_CACHE_HOME, or
-- ~/.cache, then hone/data). Returns the folder and how it was chosen. getenv: os.getenv or
-- a stand-in (tests).
function M.data_dir(getenv)
  getenv = getenv or os.getenv
  local function set(v) return v ~= nil and v ~= "" end
  if set(getenv("HONE_DATA")) then return getenv("HONE_DATA"), "HONE_DATA" end
  local cache = getenv("XDG_CACHE_HOME")
  if not set(cache) then cache = (getenv("HOME") or ".") .. "/.cache" end
  return cache .. "/hone/data", "the default data folder"
end

return M
