-- Tables for tasks/mlbench: CSV in and out (RFC 4180: quoted fields may hold commas, quotes
-- and line breaks), a one-line-per-column summary of a table, and the competitions' metrics.
local M = {}

-- Parses CSV text into header (list of names) and rows (lists of field texts). Blank lines
-- are skipped; raises on an unterminated quote or a row of the wrong width (one line naming it).
function M.parse(text, name)
  local n, pos, records = #text, 1, {}
  if text:sub(1, 3) == "\239\187\191" then pos = 4 end   -- a UTF-8 byte order mark
  while pos <= n do
    local fields = {}
    while true do
      if text:byte(pos) == 34 then   -- '"'
        local parts, at = {}, pos + 1
        while true do
          local q = text:find('"', at, true)
          if not q then error(string.format("%s: a quote opened in row %d is never closed", name, #records), 0) end
          parts[#parts + 1] = text:sub(at, q - 1)
          if text:byte(q + 1) == 34 then
            parts[#parts + 1] = '"'
            at = q + 2
          else
            pos = q + 1
            break
          end
        end
        fields[#fields + 1] = table.concat(parts)
      else
        local e = text:find("[,\r\n]", pos) or n + 1
        fields[#fields + 1] = text:sub(pos, e - 1)
        pos = e
      end
      local c = text:byte(pos)
      if c == 44 then   -- ','
        pos = pos + 1
      else
        if c == 13 then pos = pos + 1 end
        if text:byte(pos) == 10 then pos = pos + 1 end
        break
      end
    end
    if not (#fields == 1 and fields[1] == "") then records[#records + 1] = fields end
  end
  local header = table.remove(records, 1)
  if not header then error(name .. " is empty", 0) end
  for i, r in ipairs(records) do
    if #r ~= #header then
      error(string.format("%s: row %d has %d fields, the header %d", name, i, #r, #header), 0)
    end
  end
  return header, records
end

local function field(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- CSV text of header and the rows at indexes `which` (all rows when nil), without column
-- `drop` (an index) when given.
function M.write(header, rows, which, drop)
  local out = {}
  local function line(fields)
    local parts = {}
    for i, f in ipairs(fields) do
      if i ~= drop then parts[#parts + 1] = field(f) end
    end
    out[#out + 1] = table.concat(parts, ",")
  end
  line(header)
  if which then
    for _, i in ipairs(which) do line(rows[i]) end
  else
    for _, r in ipairs(rows) do line(r) end
  end
  return table.concat(out, "\n") .. "\n"
end

function M.index(header, name)
  for i, h in ipairs(header) do if h == name then return i end end
  return nil
end

-- What pandas reads as missing by default (of what these files hold).
local MISSING = { [""] = true, NA = true, NaN = true, nan = true, ["N/A"] = true, null = true }
M.MISSING = MISSING

local function thousands(n)
  local s = string.format("%d", n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end
M.thousands = thousands

local function number_text(v)
  if math.type(v) == "integer" or v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
  return string.format("%.4g", v)
end

-- One line per column of the rows at indexes `which`: its type, range or values, and how
-- often it is missing. E.g. "- LotFrontage: number 21..313, 18% missing".
function M.summary(header, rows, which)
  local lines = {}
  for c, name in ipairs(header) do
    local missing, numeric, integer, lo, hi = 0, true, true, math.huge, -math.huge
    local counts, distinct = {}, 0
    for _, i in ipairs(which) do
      local v = rows[i][c]
      if MISSING[v] then
        missing = missing + 1
      else
        if not counts[v] then distinct = distinct + 1 end
        counts[v] = (counts[v] or 0) + 1
        local x = numeric and tonumber(v)
        if x and v:match("^%s*[-+]?[%d.]") then
          lo, hi = math.min(lo, x), math.max(hi, x)
          integer = integer and v:match("^%s*[-+]?%d+%s*$") ~= nil
        else
          numeric = false
        end
      end
    end
    local desc
    if distinct == 0 then
      desc = "always missing"
    elseif numeric then
      desc = string.format("%s %s..%s", integer and "integer" or "number", number_text(lo), number_text(hi))
    else
      local values = {}
      for v, k in pairs(counts) do values[#values + 1] = { v = v, k = k } end
      table.sort(values, function(a, b) return a.k > b.k or (a.k == b.k and a.v < b.v) end)
      local shown = {}
      if distinct <= 10 then
        for _, x in ipairs(values) do shown[#shown + 1] = string.format("%s %d", x.v, x.k) end
        desc = string.format("text, %d value%s: %s", distinct, distinct == 1 and "" or "s", table.concat(shown, ", "))
      else
        for i = 1, 3 do shown[i] = values[i].v end
        desc = string.format("text, %s distinct values, e.g. %s", thousands(distinct), table.concat(shown, ", "))
      end
    end
    if missing > 0 then
      desc = desc .. string.format(", %d%% missing", math.max(1, math.floor(100 * missing / #which + 0.5)))
    end
    lines[#lines + 1] = string.format("- %s: %s", name, desc)
  end
  return table.concat(lines, "\n")
end

-- House Prices: predicted and true prices in dollars. The RMSE and r2 of their logarithms
-- (a prediction below 1 dollar counts as 1), and the mean absolute error in dollars.
function M.regression(pred, truth)
  local n, sum = #truth, 0
  local lp, lt = {}, {}
  local clipped = 0
  for i = 1, n do
    if pred[i] < 1 then clipped = clipped + 1 end
    lp[i], lt[i] = math.log(math.max(pred[i], 1)), math.log(truth[i])
    sum = sum + lt[i]
  end
  local mean, sse, sst, abs = sum / n, 0, 0, 0
  for i = 1, n do
    sse = sse + (lp[i] - lt[i]) ^ 2
    sst = sst + (lt[i] - mean) ^ 2
    abs = abs + math.abs(pred[i] - truth[i])
  end
  return { rmse = math.sqrt(sse / n), r2 = sst > 0 and 1 - sse / sst or 0, mae = abs / n, clipped = clipped }
end

-- Spaceship Titanic: predicted and true booleans. Accuracy, and precision, recall and F1 of True.
function M.classification(pred, truth)
  local n, right, tp, fp, fn = #truth, 0, 0, 0, 0
  for i = 1, n do
    local p, t = pred[i], truth[i]
    if p == t then right = right + 1 end
    if p and t then tp = tp + 1 elseif p then fp = fp + 1 elseif t then fn = fn + 1 end
  end
  local precision = tp + fp > 0 and tp / (tp + fp) or 0
  local recall = tp + fn > 0 and tp / (tp + fn) or 0
  return { accuracy = right / n, precision = precision, recall = recall,
           f1 = tp > 0 and 2 * tp / (2 * tp + fp + fn) or 0 }
end

return M
