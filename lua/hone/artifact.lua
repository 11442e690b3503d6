-- An artifact: ordered, named text blocks. Each block is editable or fixed, has a
-- language ("lua", "python", "text"), optionally a signature and documentation, and its
-- code. The blocks joined in order are the runnable text. A block may also list texts its
-- code must keep (must_contain, e.g. a prompt template's "{question}"): a text block has no
-- syntax to check, and this is the part of its shape that can be checked before it runs.
local hone = require("hone")

local M = {}
local Artifact = {}
Artifact.__index = Artifact

local LANGUAGES = { lua = true, python = true, text = true }

-- "HEAD(...)" signatures of code whose parentheses balance (head: a pattern capturing the
-- name and the position of "(", then "(%b())" would find), as "name(params)" with spaces
-- folded: the one named want if there is one, else the first; or nil. The pairs of
-- parentheses are matched in one pass first: trying %b() from every candidate would take
-- time quadratic in a reply full of unclosed "function f(".
local function signature(code, head, want)
  local closer, open = {}, {}
  for pos, c in code:gmatch("()([()])") do
    if c == "(" then
      open[#open + 1] = pos
    elseif #open > 0 then
      closer[open[#open]] = pos
      open[#open] = nil
    end
  end
  local from, first = 1, nil
  while true do
    local start, _, name, paren = code:find(head, from)
    if not start then return first end
    if closer[paren] then
      local sig = name .. code:sub(paren, closer[paren]):gsub("%s+", "")
      if name == want or not want then return sig end
      first = first or sig
    end
    from = start + 1
  end
end

-- "function name(a, b)" -> "name(a,b)"; a block may define helpers before its function.
local function lua_signature(code, want)
  return signature(code, "function%s+([%w_%.:]+)%s*()%(", want)
end

-- Python: a def at the start of a line (not a method).
local function python_signature(code, want)
  return signature("\n" .. code, "\ndef%s+([%w_]+)%s*()%(", want)
end

local SIGNATURES = { lua = lua_signature, python = python_signature }

-- Python blocks are compiled (not run) by this interpreter, in the process sandbox, before
-- anything runs; found on the sandbox's PATH (/usr/local/bin:/usr/bin:/bin) unless absolute.
M.python = "python3"
M.CHECK_TIME = 20   -- seconds; compiling takes milliseconds, starting python a few tens

local PYTHON_CHECK = [[
import sys
source = sys.stdin.read()
try:
    compile(source, sys.argv[1], "exec", dont_inherit=True)
except (SyntaxError, ValueError) as e:
    line = getattr(e, "lineno", None)
    text = (getattr(e, "text", None) or "").strip()
    msg = getattr(e, "msg", None) or str(e)
    print((f"line {line}: " if line else "") + f"{type(e).__name__}: {msg}" + (f": {text}" if text else ""))
    sys.exit(1)
]]

-- Does code compile as Python? true, or nil and the reason (one line; the line is the block's).
local function python_compiles(code, name)
  local r = hone.sandbox.exec.run({ argv = { M.python, "-c", PYTHON_CHECK, name }, stdin = code,
    time = M.CHECK_TIME, memory = 1024 * 1024 * 1024, env = { PYTHONDONTWRITEBYTECODE = "1" } })
  if r.ok then return true end
  local why = r.kind == "exit" and r.exit_code == 1 and r.stdout:match("^%s*(.-)%s*$") or ""
  if why ~= "" then return nil, why end
  return nil, "its Python syntax could not be checked: " .. tostring(r.message)
end

function M.new(spec)
  assert(type(spec) == "table" and type(spec.blocks) == "table", "artifact: needs blocks")
  local a = setmetatable({ language = spec.language or "lua", blocks = {}, index = {} }, Artifact)
  for i, b in ipairs(spec.blocks) do
    assert(type(b.name) == "string" and b.name ~= "", "artifact: block " .. i .. " has no name")
    assert(not a.index[b.name], "artifact: two blocks named " .. b.name)
    assert(type(b.code) == "string", "artifact: block " .. b.name .. " has no code")
    local language = b.language or a.language
    assert(LANGUAGES[language], "artifact: unknown language " .. tostring(language))
    local sig = b.signature
    if sig == nil and SIGNATURES[language] then sig = SIGNATURES[language](b.code, b.name) end
    assert(b.must_contain == nil or type(b.must_contain) == "table",
      "artifact: must_contain of " .. b.name .. " must be a list of texts")
    local block = {
      name = b.name, code = b.code, language = language, editable = b.editable ~= false,
      signature = sig, doc = b.doc, must_contain = b.must_contain,
    }
    a.blocks[i] = block
    a.index[b.name] = block
  end
  return a
end

function Artifact:block(name) return self.index[name] end

function Artifact:editable_names()
  local names = {}
  for _, b in ipairs(self.blocks) do if b.editable then names[#names + 1] = b.name end end
  return names
end

-- Which block line n of the assembled text falls in: name, line within the block; or nil.
function Artifact:where(n)
  local first = 1
  for _, b in ipairs(self.blocks) do
    local count = select(2, b.code:gsub("\n", "")) + 1
    if n >= first and n < first + count then return b.name, n - first + 1 end
    first = first + count + 1   -- the blank line between blocks
  end
  return nil
end

function Artifact:assemble()
  local parts = {}
  for i, b in ipairs(self.blocks) do parts[i] = b.code end
  return table.concat(parts, "\n\n") .. "\n"
end

-- Is code an acceptable new body for block? Returns true or nil, reason.
function Artifact:check(name, code)
  local b = self.index[name]
  if not b then return nil, "no block named '" .. name .. "'" end
  if not b.editable then return nil, "block '" .. name .. "' is fixed and cannot change" end
  if type(code) ~= "string" or code:match("^%s*$") then
    return nil, "the new code of '" .. name .. "' is empty"
  end
  if b.language == "lua" then
    local ok, err = hone.sandbox.lua.check(code, name)
    if not ok then
      return nil, string.format("'%s' does not compile: %s", name, err.message)
    end
  elseif b.language == "python" then
    local ok, why = python_compiles(code, name)
    if not ok then return nil, string.format("'%s' does not compile: %s", name, why) end
  end
  for _, text in ipairs(b.must_contain or {}) do
    if not code:find(text, 1, true) then
      return nil, string.format("'%s' must contain %s", name, text)
    end
  end
  local sig = SIGNATURES[b.language]
  if b.signature and sig then
    local got = sig(code, b.signature:match("^[^(]+"))
    if got ~= b.signature then
      return nil, string.format("'%s' must keep its signature %s (got %s)", name, b.signature,
        got or "no function definition")
    end
  end
  return true
end

-- A new artifact with the code of some editable blocks replaced; raises on a bad change
-- (callers check() first).
function Artifact:with(changes)
  local spec = { language = self.language, blocks = {} }
  for i, b in ipairs(self.blocks) do
    local code = b.code
    if changes[b.name] ~= nil then
      assert(b.editable, "artifact: block " .. b.name .. " is fixed")
      code = changes[b.name]
    end
    spec.blocks[i] = {
      name = b.name, code = code, language = b.language, editable = b.editable,
      signature = b.signature, doc = b.doc, must_contain = b.must_contain,
    }
  end
  for name in pairs(changes) do assert(self.index[name], "artifact: no block " .. name) end
  return M.new(spec)
end

function Artifact:encode()
  local blocks = {}
  for i, b in ipairs(self.blocks) do
    blocks[i] = {
      name = b.name, code = b.code, language = b.language, editable = b.editable,
      signature = b.signature, doc = b.doc, must_contain = b.must_contain,
    }
  end
  return hone.json.encode({ language = self.language, blocks = blocks })
end

function M.decode(text)
  local spec, err = hone.json.decode(text)
  if not spec then error("artifact: " .. err) end
  return M.new(spec)
end

local function lines_of(s)
  local out = {}
  for line in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = line end
  if out[#out] == "" then out[#out] = nil end
  return out
end

-- Line diff of two texts by longest common subsequence; small blocks make O(n*m) fine.
local function diff_lines(a, b)
  local n, m = #a, #b
  local lcs = {}
  for i = n + 1, 1, -1 do
    lcs[i] = {}
    for j = m + 1, 1, -1 do
      if i > n or j > m then lcs[i][j] = 0
      elseif a[i] == b[j] then lcs[i][j] = lcs[i + 1][j + 1] + 1
      else lcs[i][j] = math.max(lcs[i + 1][j], lcs[i][j + 1]) end
    end
  end
  local out, i, j = {}, 1, 1
  while i <= n or j <= m do
    if i <= n and j <= m and a[i] == b[j] then
      out[#out + 1] = " " .. a[i]; i = i + 1; j = j + 1
    elseif j <= m and (i > n or lcs[i][j + 1] >= lcs[i + 1][j]) then
      out[#out + 1] = "+" .. b[j]; j = j + 1
    else
      out[#out + 1] = "-" .. a[i]; i = i + 1
    end
  end
  return out
end

-- A readable diff from parent to self: one section per changed block, or "" if equal.
function Artifact:diff(parent)
  local parts = {}
  for _, b in ipairs(self.blocks) do
    local old = parent and parent.index[b.name]
    if not old or old.code ~= b.code then
      parts[#parts + 1] = "@@ " .. b.name .. " @@\n" ..
        table.concat(diff_lines(lines_of(old and old.code or ""), lines_of(b.code)), "\n")
    end
  end
  return table.concat(parts, "\n")
end

return M
