-- Progress while a run goes on. On a terminal: one live line, rewritten after every step
-- (step, best validation, B, H, tokens, elapsed, ETA), with events (a restore, a recipe's
-- decision, an early stop) printed above it. Elsewhere (a log file, CI): one plain line per
-- step and per event. Quiet: nothing.
local hone = require("hone")

local M = {}
local Progress = {}
Progress.__index = Progress

-- mode: "tty", "plain" or "quiet" (default: tty when out is a terminal). out: a file.
function M.new(opts)
  opts = opts or {}
  local out = opts.out or io.stdout
  local mode = opts.mode or (hone.isatty(1) and "tty" or "plain")
  return setmetatable({ out = out, mode = mode, started = hone.now(), live = false }, Progress)
end

local function duration(s)
  s = math.floor(s + 0.5)
  if s < 60 then return string.format("%ds", s) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%dh%02dm", s // 3600, s % 3600 // 60)
end

local function count(n)
  if n >= 1e6 then return string.format("%.1fM", n / 1e6) end
  if n >= 1e3 then return string.format("%.1fk", n / 1e3) end
  return tostring(n)
end

function Progress:write(text)
  self.out:write(text)
  self.out:flush()
end

-- Clears the live line, if one is shown, so that a full line can be printed.
function Progress:clear()
  if self.live then
    self:write("\r\27[K")
    self.live = false
  end
end

-- Something worth a line of its own in every mode but quiet.
function Progress:event(line)
  if self.mode == "quiet" then return end
  self:clear()
  self:write(line .. "\n")
end

-- A step's own line: printed as is when not on a terminal, where the live line stands for it.
function Progress:step_line(line)
  if self.mode == "plain" then self:write(line .. "\n") end
end

-- The live line after a step. run: the loop's run (step_no, params, best, totals).
function Progress:update(run, signals)
  if self.mode ~= "tty" then return end
  local elapsed = hone.now() - self.started
  local total = run.params and math.tointeger(run.params.steps)
  local done = run.step_no
  local eta = total and done > 0 and total > done and ("  ETA " .. duration(elapsed / done * (total - done))) or ""
  local h = signals and signals.horizon
  local text = string.format("step %d%s  best val %s  B=%s%s  tokens %s  elapsed %s%s", done,
    total and ("/" .. total) or "", run.best.validation and string.format("%.3f", run.best.validation) or "-",
    signals and tostring(signals.batch_size) or "-", h and (" H=" .. tostring(h)) or "",
    count(run.totals.prompt_tokens + run.totals.completion_tokens), duration(elapsed), eta)
  self:write("\r\27[K" .. text)
  self.live = true
end

-- The end of the run: the live line gives way to the summary.
function Progress:finish()
  self:clear()
end

return M
