-- make bench: figures printed side by side, never asserted.
local hone = require("hone")

local function time(n, fn)
  local t0 = hone.now()
  for i = 1, n do fn(i) end
  return (hone.now() - t0) / n * 1e6
end

local dir = os.getenv("TMPDIR") or "/tmp"
local path = dir .. "/hone-bench-" .. os.time() .. ".db"
local db = hone.store.open(path)
db:exec("INSERT INTO runs (task, recipe, seed, config, hone_version) VALUES ('b', 'b', 1, '{}', 'x')")
local per_insert = time(2000, function(i)
  db:begin()
  db:exec("INSERT INTO events (run_id, step, kind, message) VALUES (1, ?, 'bench', 'x')", i)
  db:commit()
end)
local batched = time(1, function()
  db:begin()
  for i = 1, 2000 do db:exec("INSERT INTO events (run_id, step, kind, message) VALUES (1, ?, 'b', 'x')", i) end
  db:commit()
end) / 2000
db:close()
os.remove(path) os.remove(path .. "-wal") os.remove(path .. "-shm")
print(string.format("store: one-row transaction %.1f us, row inside a step transaction %.2f us (ratio %.0fx)",
  per_insert, batched, per_insert / batched))

local doc = { a = { 1, 2, 3 }, b = string.rep("x", 1000), c = { d = true, e = 1.5 } }
local enc = time(20000, function() hone.json.encode(doc) end)
local text = hone.json.encode(doc)
local dec = time(20000, function() hone.json.decode(text) end)
print(string.format("json: encode %.2f us, decode %.2f us (1 KB document)", enc, dec))

local code = "function f(x) return x + 1 end"
local sandbox = time(2000, function()
  local sb <close> = hone.sandbox.lua.new({})
  sb:load(code)
  sb:call("f", 1)
end)
local sb <close> = hone.sandbox.lua.new({})
sb:load(code)
local call = time(100000, function(i) sb:call("f", i) end)
print(string.format("lua sandbox: new + load + call %.1f us, call in a live sandbox %.2f us", sandbox, call))

-- Atari engines: the engine alone (step + objects, a fixed cycling action pattern), then a
-- trivial Lua policy in the sandbox (the same pattern), through hone.atari.episode
-- (observations built in the sandbox) and through sb:call (observations deep-copied).
local trivial = "function policy(obs) return obs.actions[obs.step // 8 % #obs.actions + 1] end"

local function episode_rate(name, steps)
  local policy <close> = hone.sandbox.lua.new({})
  policy:load(trivial)
  local env = hone.atari.new(name, 1)
  local done, t0 = 0, hone.now()
  while done < steps do
    if env:done() then env:reset() end
    done = done + hone.atari.episode(env, policy, "policy", steps - done).steps
  end
  return steps / (hone.now() - t0)
end

local function call_rate(name, steps)
  local policy <close> = hone.sandbox.lua.new({})
  policy:load(trivial)
  local env = hone.atari.new(name, 1)
  local t0 = hone.now()
  for _ = 1, steps do
    if env:done() then env:reset() end
    local _, action = policy:call("policy", env:observation())
    env:step(action)
  end
  return steps / (hone.now() - t0)
end

for _, name in ipairs(hone.atari.games()) do
  local steps = 400000
  local seconds, objects = hone.atari.benchmark(name, steps)
  print(string.format("atari %-15s engine %5.2f M steps/s (%4.1f objects/step), Lua policy: " ..
    "episode %4.0f k steps/s, sb:call %3.0f k steps/s", name, steps / seconds / 1e6, objects / steps,
    episode_rate(name, 40000) / 1e3, call_rate(name, 5000) / 1e3))
end

-- LLM I/O against the scripted server on loopback (python3; it, not hone, limits the rate).
local support = dofile("tests/support.lua")
local server = support.llm_server()
local function requests(n)
  local list = {}
  for i = 1, n do
    list[i] = { url = server.url, model = "bench", messages = { { role = "user", content = "q" .. i } }, retries = 0 }
  end
  return list
end
server:script({ default = { content = "ok", delay = 0.05 } })
local n, conc, delay = 1000, 32, 0.05
local t0 = hone.now()
local rs = hone.llm.batch(requests(n), { concurrency = conc })
local wall = hone.now() - t0
local failed = 0
for _, r in ipairs(rs) do if not r.ok then failed = failed + 1 end end
local ideal = n / conc * delay
print(string.format("llm batch: %d requests, concurrency %d, server answers after %d ms: %.2f s wall, ideal %.2f s, " ..
  "ratio %.2f (goal <= 1.15); %d failed", n, conc, delay * 1000, wall, ideal, wall / ideal, failed))
server:script({ default = { content = "ok" } })
local m = 300
local c0 = os.clock()
t0 = hone.now()
for _, req in ipairs(requests(m)) do hone.llm.chat(req) end
wall = hone.now() - t0
local cpu = os.clock() - c0
print(string.format("llm chat, server answering at once: %.0f us wall per call (mostly python), %.0f us of hone's " ..
  "own CPU per call (user + system: a fresh TCP connection per call)", wall / m * 1e6, cpu / m * 1e6))
support.shutdown()

-- Process sandbox: spawn and reap of /bin/true, side by side with a bare fork/exec and with
-- bubblewrap doing comparable isolation (each started the same way, through hone).
local exec = hone.sandbox.exec
local N = 200
local work = dir .. "/hone-bench-exec-" .. os.time()
os.execute("mkdir -p " .. work)
local function spawn(spec)
  return time(N, function()
    local r = exec.run(spec)
    if not r.ok then error("bench: " .. tostring(r.message)) end
  end)
end
local raw = spawn({ argv = { "/bin/true" }, raw = true, dir = work })
local sandboxed = spawn({ argv = { "/bin/true" } })
local given_dir = spawn({ argv = { "/bin/true" }, dir = work })
local isolation = exec.run({ argv = { "/bin/true" } }).isolation
print(string.format("process sandbox: spawn+reap of /bin/true %.0f us (fresh work dir), %.0f us (given dir); " ..
  "bare fork/exec %.0f us; ratio %.1fx", sandboxed, given_dir, raw, given_dir / raw))
print(string.format("  isolation: user %s, processes %s, filesystem %s, network %s, seccomp %s", isolation.user,
  isolation.processes, isolation.filesystem, isolation.network, isolation.seccomp))
local bwrap = exec.run({ argv = { "bwrap", "--version" }, raw = true })
if bwrap.ok then
  local plain = spawn({ argv = { "bwrap", "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/", "--bind", work,
    work, "--chdir", work, "/bin/true" }, raw = true, dir = work })
  local alike = spawn({ argv = { "bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
    "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", work, work,
    "--chdir", work, "/bin/true" }, raw = true, dir = work })
  print(string.format("  bwrap --unshare-net --ro-bind / / %.0f us (sandbox/bwrap %.2f); " ..
    "bwrap --unshare-all with a view like the sandbox's %.0f us (sandbox/bwrap %.2f)",
    plain, given_dir / plain, alike, given_dir / alike))
else
  print("  bwrap: not installed (apt-get install bubblewrap), no comparison")
end
local many = time(1, function()
  local specs = {}
  for i = 1, N do specs[i] = { argv = { "/bin/true" }, dir = work } end
  exec.run_many(specs, { jobs = 4 })
end) / N
print(string.format("  run_many, jobs = 4: %.0f us per run", many))
os.execute("rm -rf " .. work)

-- The loop's own overhead: toy runs against the scripted server answering at once, with
-- trivial evaluations; what a step spends outside the LLM and the evaluations is hone's.
do
  local loop_support = dofile("tests/support.lua")
  local srv = loop_support.llm_server()
  local step_code = "function price(age)\n  if age < 12 then return 5 end\n  return %d\nend"
  local replies = {}
  for i = 1, 60 do
    replies[i] = { content = hone.json.encode({ reasoning = "r", suggestion = { price = step_code:format(i) } }) }
  end
  srv:script({ replies = replies })
  local loop_dir = (os.getenv("TMPDIR") or "/tmp") .. "/hone-bench-loop-" .. os.time()
  os.execute("mkdir -p " .. loop_dir)
  local loop_db = loop_dir .. "/loop.db"
  local steps = 50
  local started = hone.now()
  os.execute(string.format("%s run toy --llm-url %s --model bench --llm-cache off --db %s --quiet --set steps=%d " ..
    "--set batch_size=3 > /dev/null 2>&1", hone.executable, srv.url, loop_db, steps))
  local elapsed = hone.now() - started
  local store = hone.store.open(loop_db)
  local s = store:query("SELECT sum(duration_ms) AS total, sum(llm_latency_ms) AS llm, count(*) AS n " ..
    "FROM steps WHERE step > 0")[1]
  local e = store:query("SELECT sum(duration_ms) AS eval FROM evaluations WHERE step > 0")[1]
  store:close()
  local outside = s.total - s.llm - e.eval
  print(string.format("loop: %d toy steps, instant scripted LLM: %.0f us per step in all, of which LLM %.0f us " ..
    "(python server), evaluations %.0f us, hone's own %.0f us per step (%.1f%% of the step; goal < 1%% with a " ..
    "real LLM: at 2 s per call that is %.3f%%); whole process %.2f s", s.n, s.total / s.n * 1e3, s.llm / s.n * 1e3,
    e.eval / s.n * 1e3, outside / s.n * 1e3, outside / s.total * 100, outside / s.n / (2000 + outside / s.n) * 100,
    elapsed))
  loop_support.shutdown()
  os.execute("rm -rf " .. loop_dir)
end

-- External environments: a line round trip with a spawned program, and hone's own engines
-- served over the JSON-lines protocol (tests/atari_env_server.lua) to the Lua episode loop,
-- next to the same policy through hone.atari.episode.
local echo = exec.spawn({ argv = { "sh", "-c", "while read -r l; do echo \"$l\"; done" } })
local trip = time(5000, function()
  echo:send("x\n")
  echo:receive(10)
end)
echo:close()
print(string.format("spawned process: send + receive of one line %.0f us (sh read/echo)", trip))
local external = dofile(hone.root .. "/tasks/atari/external.lua")
for _, name in ipairs({ "pong", "freeway" }) do
  local command = { hone.executable, "lua", hone.root .. "/tests/atari_env_server.lua", name }
  local env = external.open({ command = command, readable = { hone.root }, name = name })
  local policy <close> = hone.sandbox.lua.new({})
  policy:load(trivial)
  local steps, done, t1 = 3000, 0, hone.now()
  env:reset(1)
  while done < steps do
    if env:done() then env:reset() end
    done = done + external.episode(env, policy, "policy", steps - done).steps
  end
  local rate = steps / (hone.now() - t1)
  env:close()
  print(string.format("atari %-8s through the protocol: %4.1f k steps/s (episode loop in Lua, server in the process " ..
    "sandbox); built-in episode %4.0f k steps/s", name, rate / 1e3, episode_rate(name, 40000) / 1e3))
end
