-- hone.sandbox.lua: untrusted Lua in a fresh, capped state. Each runaway must come back
-- as a structured error of the right kind, and the host must go on untouched.
local hone = require("hone")
local sandbox = hone.sandbox.lua

local function fresh(limits)
  return sandbox.new(limits or { memory = 8 * 1024 * 1024, instructions = 1000000, time = 2 })
end

local function fails(t, sb, code, kind, pattern)
  local ok, err = sb:load(code)
  if ok then ok, err = sb:call("f") end
  t.eq(ok, false, "candidate must fail: " .. code)
  t.eq(err.kind, kind, "kind of " .. code .. " (" .. tostring(err.message) .. ")")
  if pattern then t.match(err.message, pattern, "message") end
  t.no_match(err.message, "\n", "one line")
  return err
end

return {
  ["results come back as deep copies and calls see globals"] = function(t)
    local sb <close> = fresh()
    t.ok(sb:load("n = 0\nfunction f(x) n = n + 1; return {x = x, n = n, list = {1, 2.5, 'a'}} end"))
    local ok, r = sb:call("f", { 7 })
    t.eq(ok, true, "call")
    t.eq(r, { x = { 7 }, n = 1, list = { 1, 2.5, "a" } }, "copied result")
    local _, r2 = sb:call("f", 1)
    t.eq(r2.n, 2, "state persists between calls of one sandbox")
    t.ok(math.type(r2.list[1]) == "integer" and math.type(r2.list[2]) == "float", "number kinds kept")
  end,

  ["syntax and runtime errors carry a kind and a line"] = function(t)
    local sb <close> = fresh()
    local err = fails(t, sb, "x = 1\nfunction f(\n", "syntax")
    t.ok(err.line == 2 or err.line == 3, "syntax line: " .. tostring(err.line))
    local ok, e2 = sandbox.check("return )")
    t.eq(ok, false, "check refuses")
    t.eq(e2.kind, "syntax", "check kind")
    t.eq(sandbox.check("return 1"), true, "check accepts")
    local sb2 <close> = fresh()
    err = fails(t, sb2, "function f()\n  local x = nil\n  return x.y\nend", "runtime", "candidate:3:")
    t.eq(err.line, 3, "runtime line")
    local sb3 <close> = fresh()
    fails(t, sb3, "function f() error('boom') end", "runtime", "boom")
  end,

  ["an infinite loop is stopped even under pcall"] = function(t)
    local sb <close> = fresh()
    fails(t, sb, "function f() while true do end end", "timeout")
    local sb2 <close> = fresh()
    fails(t, sb2, "function f() while true do pcall(function() while true do end end) end end", "timeout")
  end,

  ["a memory bomb is stopped by the allocator cap"] = function(t)
    local sb <close> = fresh()
    fails(t, sb, "function f() local t = {} for i = 1, 1e9 do t[i] = {i} end end", "memory")
    local sb2 <close> = fresh()
    fails(t, sb2, "function f() return string.rep('x', 1 << 30) end", "memory")
    local sb3 <close> = fresh()
    fails(t, sb3, "function f() local s = 'x' while true do pcall(function() s = s .. s end) end end",
      "memory")
  end,

  ["deep recursion is a runtime error, not a crash"] = function(t)
    local sb <close> = fresh({ memory = 64 * 1024 * 1024, instructions = 10000000, time = 5 })
    local ok = sb:load("function f(n) return 1 + f((n or 0) + 1) end")
    t.ok(ok, "loads")
    local err
    ok, err = sb:call("f")
    t.eq(ok, false, "fails")
    t.ok(err.kind == "runtime" or err.kind == "memory", "kind: " .. tostring(err.kind))
  end,

  ["dangerous libraries are absent"] = function(t)
    local sb <close> = fresh()
    t.ok(sb:load([[
      function f()
        return {io = io == nil, require = require == nil, debug = debug == nil,
                execute = os.execute == nil, dofile = dofile == nil, loadfile = loadfile == nil,
                dump = string.dump == nil, clock = type(os.clock) == "function",
                package = package == nil, getenv = os.getenv == nil, remove = os.remove == nil}
      end]]))
    local ok, r = sb:call("f")
    t.eq(ok, true, "call")
    for name, absent in pairs(r) do t.eq(absent, true, name) end
    local sb2 <close> = fresh()
    t.ok(sb2:load("function f() return load(string.char(27) .. 'Lua') end"))
    local _, fn, msg = sb2:call("f")
    t.eq(fn, nil, "binary chunk refused")
    t.match(msg, "binary", "reason names binary chunks")
  end,

  ["print is captured, not written to the host's stdout"] = function(t)
    local sb <close> = fresh()
    t.ok(sb:load("function f() print('hello', 42) end"))
    t.eq((sb:call("f")), true, "call")
    t.eq(sb:output(), "hello\t42\n", "output")
    local st = sb:stats()
    t.ok(st.calls == 1 and st.memory > 0 and st.memory_peak >= st.memory, "stats")
    t.ok(sb:load("function g() local s = 0 for i = 1, 100000 do s = s + i end return s end"))
    t.eq((sb:call("g")), true, "loop")
    t.ok(sb:stats().instructions >= 100000, "instructions counted: " .. sb:stats().instructions)
  end,

  ["forking, files, sockets and signals are out of reach: the globals are absent"] = function(t)
    local attempts = {
      { "os.execute('sh -c \"b() { b | b & }; b\"')", "field 'execute'" },  -- fork bomb
      { "io.open('/tmp/hone-escape', 'w'):write('x')", "global 'io'" },     -- write outside
      { "return dofile('/etc/passwd')", "global 'dofile'" },                 -- read outside
      { "return loadfile('/etc/passwd')", "global 'loadfile'" },
      { "return require('socket').connect('127.0.0.1', 80)", "global 'require'" },
      { "os.exit(1)", "field 'exit'" },                                       -- kill its parent
      { "return io.popen('sleep 1000 &')", "global 'io'" },                   -- leave a child
      { "os.remove('/tmp/x')", "field 'remove'" },
      { "return os.getenv('OPENAI_API_KEY')", "field 'getenv'" },
    }
    for _, a in ipairs(attempts) do
      local sb <close> = fresh()
      local err = fails(t, sb, "function f() " .. a[1] .. " end", "runtime")
      t.match(err.message, a[2], a[1])
    end
    t.eq(io.open("/tmp/hone-escape", "r"), nil, "nothing was written")
  end,

  ["10^8 bytes of print output are capped and marked"] = function(t)
    local sb <close> = sandbox.new({ memory = 16 * 1024 * 1024, instructions = 10 ^ 7, time = 10 })
    t.ok(sb:load("function f() local s = ('x'):rep(10 ^ 6) for i = 1, 100 do print(s) end return 'done' end"))
    local ok, r = sb:call("f")
    t.eq({ ok, r }, { true, "done" }, "the call itself goes on")
    local out = sb:output()
    t.eq(#out, 64 * 1024 + #"...[truncated]", "capped at 64 KiB")
    t.match(out, "%.%.%.%[truncated%]$", "marked")
  end,

  ["busy-waiting past the time cap is a timeout, whatever the instruction budget"] = function(t)
    local sb <close> = sandbox.new({ memory = 8 * 1024 * 1024, instructions = 10 ^ 15, time = 0.3 })
    local err = fails(t, sb, "function f() local t0 = os.clock() while os.clock() - t0 < 1000 do end end", "timeout")
    t.match(err.message, "time limit")
    t.ok(sb:stats().cpu_s >= 0.3, "the time is counted: " .. sb:stats().cpu_s)
  end,

  ["repetition and concatenation bombs are memory faults"] = function(t)
    for _, code in ipairs({
      "return ('x'):rep(1e6, ('y'):rep(1e6))",
      "return table.concat(setmetatable({}, {__index = tostring}), '', 1, 1e9)",
      "local s = 'x' for i = 1, 64 do s = s .. s end return s",
    }) do
      local sb <close> = fresh()
      fails(t, sb, "function f() " .. code .. " end", "memory")
    end
  end,

  ["the host is healthy after a runaway"] = function(t)
    for _ = 1, 20 do
      local sb <close> = fresh()
      fails(t, sb, "function f() local t = {} while true do t[#t + 1] = ('y'):rep(1000) end end", "memory")
    end
    local sb <close> = fresh()
    t.ok(sb:load("function f(a, b) return a + b end"))
    local ok, r = sb:call("f", 2, 3)
    t.eq({ ok, r }, { true, 5 }, "a fresh sandbox still works")
  end,
}
