-- BBEH scoring: is an extracted answer the expected one? And how long texts are cut for
-- the optimizer. Pure Lua (the tests call it with crafted answers). A multiple-choice
-- target "(C)" is met by the last "(X)" of the answer (or by a bare letter answer); any
-- other target by exact match after normalization.
local M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- Case, spacing, markdown bold, surrounding quotes and one final period do not count:
-- "  **The Stranger's  Dog.** " and "the stranger's dog" are the same answer. ", " is ","
-- so that a list answer does not hang on its spacing.
function M.normalize(s)
  s = trim(s:gsub("%*%*", ""))
  s = s:lower():gsub("%s+", " "):gsub(" ?, ?", ",")
  local quoted = s:match('^"(.*)"$') or s:match("^'(.*)'$") or s:match("^`(.*)`$")
  if quoted then s = trim(quoted) end
  s = s:gsub("%.$", "")
  return trim(s)
end

-- The letter of a multiple-choice target "(C)", or nil.
function M.choice(target)
  return target:match("^%s*%((%u)%)%s*$")
end

-- The letter of the last "(X)" in text (upper-cased), else of a bare one-letter answer, or nil.
function M.last_choice(text)
  local last
  for letter in text:gmatch("%((%a)%)") do last = letter end
  if not last then last = M.normalize(text):match("^(%a)$") end
  return last and last:upper()
end

local function same(a, b)
  if a == b then return true end
  local x, y = tonumber(a), tonumber(b)   -- "7" and "7.0", "No" never
  return x ~= nil and x == y
end

-- Cutting text for the optimizer's eyes. Cuts fall between UTF-8 characters: a request
-- body holding half a character is not valid JSON text (Linguini is full of them).
local function continuation(s, i)
  local b = s:byte(i)
  return b ~= nil and b >= 0x80 and b < 0xC0
end

local function chars(s, i, j)
  return utf8.len(s, i, j) or (j - i + 1)
end

-- At most n bytes of s from its start, whole characters only.
function M.prefix(s, n)
  if #s <= n then return s end
  while n > 0 and continuation(s, n + 1) do n = n - 1 end
  return s:sub(1, n)
end

-- s in at most about max bytes: its head and its tail (a BBEH question asks at its end;
-- a reply answers at its end), the middle replaced by a note of what was cut.
function M.clip(s, max)
  if #s <= max then return s end
  local head = #M.prefix(s, max // 2)
  local tail = #s - (max - max // 2) + 1
  while tail <= #s and continuation(s, tail) do tail = tail + 1 end
  return s:sub(1, head) .. string.format("\n[... %d characters cut ...]\n", chars(s, head + 1, tail - 1)) ..
    s:sub(tail)
end

M.MAX_SHOWN = 200   -- bytes of an extracted answer quoted in feedback

local function shown(answer)
  if #answer <= M.MAX_SHOWN then return answer end
  local head = M.prefix(answer, M.MAX_SHOWN)
  return head .. string.format("...[%d more characters]", chars(answer, #head + 1, #answer))
end

-- score (1 or 0), feedback text. answer is what extract_answer returned (a string).
function M.score(answer, expected)
  local letter = M.choice(expected)
  if letter then
    local got = M.last_choice(answer)
    if got == letter then return 1, string.format("correct: %s", expected) end
    if not got then
      return 0, string.format('wrong: no choice "(X)" in the extracted answer "%s"; the expected answer is %s',
        shown(answer), expected)
    end
    return 0, string.format('wrong: the extracted answer is "(%s)"; the expected answer is %s', got, expected)
  end
  if same(M.normalize(answer), M.normalize(expected)) then
    return 1, string.format('correct: "%s"', expected)
  end
  return 0, string.format('wrong: the extracted answer is "%s"; the expected answer is "%s"', shown(answer),
    expected)
end

return M
