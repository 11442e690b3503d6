-- What every test gets as `t`: assertions, temporary folders, running the hone binary,
-- and the scripted LLM test server (tests/llm_server.py, one process for the whole run).
local S = {}

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

function S.eq(got, want, what)
  if not deep_equal(got, want) then
    error(string.format("%s: expected %s, got %s", what or "value", describe(want), describe(got)), 2)
  end
end

function S.ok(v, what)
  if not v then error((what or "condition") .. " does not hold", 2) end
  return v
end

function S.match(s, pattern, what)
  if type(s) ~= "string" or not s:find(pattern) then
    error(string.format("%s: %s does not match %q", what or "text", describe(s), pattern), 2)
  end
end

function S.no_match(s, pattern, what)
  if type(s) == "string" and s:find(pattern) then
    error(string.format("%s: %s must not match %q", what or "text", describe(s), pattern), 2)
  end
end

-- Calls fn and returns its error message; fails if fn does not raise.
function S.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error" .. (pattern and (" matching " .. pattern) or ""), 2) end
  if pattern then S.match(tostring(err), pattern, "error") end
  return err
end

function S.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function S.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function S.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- A unique marker for a sandboxed program's environment (HONE_MARK=marker), which its
-- descendants inherit: once it is over, no process may still carry it.
function S.marker()
  return string.format("hone-mark-%d-%d", os.time(), math.random(1 << 30))
end

-- The pids of live processes whose environment holds HONE_MARK=mark.
function S.carrying(mark)
  local found = {}
  local ls = io.popen("ls /proc")
  for name in ls:lines() do
    if name:match("^%d+$") then
      local f = io.open("/proc/" .. name .. "/environ", "rb")
      local env = f and f:read("a") or ""
      if f then f:close() end
      local stat = io.open("/proc/" .. name .. "/stat", "r")
      local zombie = stat and (stat:read("a") or ""):match("^%d+ %(.*%) (%a)") == "Z"
      if stat then stat:close() end
      if env:find("HONE_MARK=" .. mark, 1, true) and not zombie then found[#found + 1] = name end
    end
  end
  ls:close()
  return found
end

local tmpdirs = {}

function S.tmpdir()
  local p = io.popen("mktemp -d /tmp/hone-test.XXXXXX")
  local dir = p:read("l")
  p:close()
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

S.bin = os.getenv("HONE_BIN") or "./hone"

-- A query through the sqlite3 command line, as a user would read the store: rows of
-- '|'-separated columns, each ending in a newline.
function S.sql(db, query)
  local p = io.popen(string.format("sqlite3 -separator '|' %s %s", S.sh_quote(db), S.sh_quote(query)))
  local out = p:read("a")
  p:close()
  return out
end

-- Runs the hone binary; returns exit code, stdout, stderr. env: table of VAR=value.
function S.hone(args, env)
  local dir = S.tmpdir()
  local prefix = "env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u HONE_LLM_URL -u HONE_LLM -u HONE_LLM_MODEL " ..
    "-u HONE_TASK_LLM -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL "
  for k, v in pairs(env or {}) do prefix = prefix .. k .. "=" .. S.sh_quote(v) .. " " end
  local cmd = string.format("%s%s %s >%s/out 2>%s/err", prefix, S.bin, args, dir, dir)
  local _, _, code = os.execute(cmd)
  return code, S.read(dir .. "/out"), S.read(dir .. "/err")
end

-- The scripted LLM server, started on first use.
local server

function S.llm_server()
  if not server then
    server = dofile("tests/llm_server.lua").start(S)
  end
  return server
end

-- After each case: remove its temporary folders.
function S.cleanup()
  for _, dir in ipairs(tmpdirs) do os.execute("rm -rf " .. S.sh_quote(dir)) end
  tmpdirs = {}
end

function S.shutdown()
  if server then server:stop() server = nil end
end

return S
