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
