-- The test run's handle on tests/llm_server.py (see that file for the script format).
--   server = dofile("tests/llm_server.lua").start(support)
--   server.url                  "http://127.0.0.1:PORT/v1", for llm.chat's url
--   server.port
--   server:script{replies = {...}, rules = {...}, default = {...}}
--                               replaces the script and clears the request log
--   server:requests()           the requests seen since, oldest first (decoded JSON)
--   server:reset()              empties the script and the log
--   server:stop()               kills the server, waits for it, removes its folder
-- Control goes through the server's FIFOs: Lua has no sockets, and a helper process per
-- call would cost more than the calls under test.
local json = require("hone").json

local SCRIPT = "tests/llm_server.py"
local START_POLLS = 500   -- of 20 ms: about 10 s for python to start

local Server = {}
Server.__index = Server

-- True while pid runs (a zombie has exited and only awaits our wait).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %(.*%) (%a)") ~= "Z"
end

-- Sends one control command; returns the decoded answer or raises.
function Server:control(command, body)
  -- Opening a FIFO blocks until the other end opens it: never wait on a dead server.
  if not self.proc or not alive(self.pid) then error("llm_server: not running", 3) end
  local f = assert(io.open(self.dir .. "/in", "wb"))
  f:write(command, "\n", body or "")
  f:close()
  f = assert(io.open(self.dir .. "/out", "rb"))
  local status, text = f:read("l", "a")
  f:close()
  local value, err = json.decode(text or "")
  if status ~= "200" or value == nil then
    local message = value and value.error and value.error.message or err or "no answer"
    error("llm_server: " .. command .. ": " .. tostring(message), 3)
  end
  return value
end

function Server:script(spec)
  self:control("script", json.encode(spec))
end

function Server:requests()
  return self:control("requests")
end

function Server:reset()
  self:control("reset")
end

function Server:stop()
  if not self.proc then return end
  if self.pid then os.execute("kill " .. self.pid .. " 2>/dev/null") end
  self.proc:close()   -- waits for the process
  self.proc = nil
  os.execute("rm -rf " .. self.support.sh_quote(self.dir))
end

local M = {}

function M.start(support)
  -- Not support.tmpdir(): those go after every case, and the FIFOs must last the run.
  local p = io.popen("mktemp -d /tmp/hone-llm-server.XXXXXX")
  local dir = p:read("l")
  p:close()
  if not dir then error("llm_server: cannot make a temporary folder") end
  local q = support.sh_quote
  -- The shell prints its pid and becomes python, so the pid is the server's and the server's
  -- parent is this process: it watches for our death. stdout goes to /dev/null so that the
  -- pipe closes after the pid and nothing can ever block on it.
  local proc = assert(io.popen(string.format(
    "echo $$; exec python3 %s --port-file %s --control %s >/dev/null", SCRIPT,
    q(dir .. "/port"), q(dir))))
  local pid = proc:read("l")
  local server = setmetatable({ support = support, proc = proc, pid = pid, dir = dir }, Server)
  if not pid or not pid:match("^%d+$") then
    server.pid = nil
    server:stop()
    error("llm_server: cannot start python3 " .. SCRIPT)
  end
  for _ = 1, START_POLLS do
    local f = io.open(dir .. "/port", "r")
    local port = f and f:read("n")
    if f then f:close() end
    if port then
      server.port = port
      server.url = "http://127.0.0.1:" .. port .. "/v1"
      return server
    end
    if not alive(pid) then
      server:stop()
      error("llm_server: " .. SCRIPT .. " exited before listening (see stderr)")
    end
    os.execute("sleep 0.02")
  end
  server:stop()
  error("llm_server: " .. SCRIPT .. " did not listen within 10 s")
end

return M
