-- hone.sandbox.exec: hostile programs end as failed runs with a precise kind, hone goes on,
-- and nothing a program started outlives its run. Every run carries a unique marker in its
-- environment, which its descendants inherit: after the run, no process may still carry it.
local hone = require("hone")
local exec = hone.sandbox.exec

-- Runs spec with a marker and generous caps; checks the result's shape and that no process
-- of the run is left.
local function run(t, spec)
  local mark = t.marker()
  spec.env = spec.env or {}
  spec.env.HONE_MARK = mark
  spec.time = spec.time or 20
  local r = exec.run(spec)
  t.eq(type(r.ok), "boolean", "ok")
  if r.ok then
    t.eq(r.kind, nil, "no kind when ok")
  else
    t.eq(type(r.kind), "string", "kind")
    t.no_match(r.message, "\n", "message on one line")
  end
  t.eq(#t.carrying(mark), 0, "processes of the run still alive: " .. table.concat(t.carrying(mark), " "))
  return r
end

local function fails(t, spec, kind)
  local r = run(t, spec)
  t.eq(r.ok, false, "must fail")
  t.eq(r.kind, kind, "kind (" .. tostring(r.message) .. ")")
  return r
end

-- hone is still whole: it can start and finish another sandbox.
local function healthy(t)
  local r = exec.run({ argv = { "sh", "-c", "echo fine" } })
  t.eq({ r.ok, r.stdout }, { true, "fine\n" }, "a run after the runaway")
end

local function sh(script, spec)
  spec = spec or {}
  spec.argv = { "sh", "-c", script }
  return spec
end

local function py(code, spec)
  spec = spec or {}
  spec.argv = { "python3", "-c", code }
  return spec
end

-- Spawns spec with a marker; returns the process and the marker.
local function spawn(t, spec)
  local mark = t.marker()
  spec.env = spec.env or {}
  spec.env.HONE_MARK = mark
  spec.time = spec.time or 20
  return exec.spawn(spec), mark
end

local function namespaced(r)
  return r.isolation.processes == "namespace" and r.isolation.filesystem == "namespace"
end

return {
  ["a clean run returns its output, its resource usage and the isolation in force"] = function(t)
    local r = run(t, sh("echo out; echo err >&2"))
    t.eq({ r.ok, r.exit_code, r.stdout, r.stderr }, { true, 0, "out\n", "err\n" }, "result")
    t.eq({ r.stdout_truncated, r.stderr_truncated }, { false, false }, "not truncated")
    t.ok(r.cpu_s >= 0 and r.max_rss_kb > 0 and r.wall_s > 0, "usage")
    for _, key in ipairs({ "user", "processes", "filesystem", "network", "seccomp" }) do
      t.eq(type(r.isolation[key]), "string", "isolation." .. key)
    end
    local failed = fails(t, sh("echo first >&2; echo oops >&2; exit 3"), "exit")
    t.eq(failed.exit_code, 3, "exit code")
    t.eq(failed.message, "exit code 3: oops", "message names the code and the last stderr line")
  end,

  ["an infinite loop is stopped by the wall clock and by the CPU cap"] = function(t)
    local r = fails(t, sh("while :; do :; done", { time = 1 }), "timeout")
    t.match(r.message, "wall%-clock")
    r = fails(t, sh("while :; do :; done", { cpu = 1, time = 30 }), "timeout")
    t.match(r.message, "CPU time")
    healthy(t)
  end,

  ["sleeping past the timeout, with children holding the pipes, is a timeout"] = function(t)
    fails(t, sh("sleep 1000", { time = 1 }), "timeout")
    fails(t, sh("sleep 1000 & setsid sleep 1001 & sleep 1002", { time = 1 }), "timeout")
    healthy(t)
  end,

  ["deep recursion ends as a crash or a runtime error, never hurting hone"] = function(t)
    local r = fails(t, py("def f(n): return f(n + 1)\nf(0)"), "exit")
    t.match(r.message, "RecursionError")
    -- through C (repr), past Python's guard: the C stack overflows
    r = fails(t, py("import sys\nclass A:\n def __repr__(self): return repr(A())\n" ..
      "sys.setrecursionlimit(10**7)\nrepr(A())"), "signal")
    t.eq(r.signal, 11, "SIGSEGV")
    t.match(r.message, "SIGSEGV")
    healthy(t)
  end,

  ["a memory bomb and a string repetition bomb hit the address-space cap"] = function(t)
    local cap = 256 * 1024 * 1024
    local function hone_rss_kb() return tonumber(t.read("/proc/self/status"):match("VmRSS:%s*(%d+)")) end
    local before = hone_rss_kb()
    local r = fails(t, py("a = []\nwhile True: a.append(bytearray(10**6))", { memory = cap }), "memory")
    t.match(r.message, "MemoryError")
    -- the peak counts hone's own pages until exec (sandbox_exec.h): a sanitizer build holds hundreds of MB
    local own = math.max(before, hone_rss_kb()) + 8 * 1024
    t.ok(r.max_rss_kb <= math.max(cap // 1024, own), "peak within the cap: " .. r.max_rss_kb)
    t.ok(r.max_rss_kb > 100 * 1024, "the bomb did grow: " .. r.max_rss_kb)
    fails(t, py("x = 'x' * (1 << 40)", { memory = cap }), "memory")
    fails(t, py("x = bytearray(1 << 40)", { memory = cap }), "memory")
    healthy(t)
  end,

  ["a fork bomb is held to the process cap and dies with the run"] = function(t)
    local r = run(t, py([[
import os, sys, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print("capped", n)
    sys.exit(3)
print("not capped", n)]], { processes = 16 }))
    t.eq(r.exit_code, 3, "fork failed: " .. r.stdout .. r.stderr)
    local n = tonumber(r.stdout:match("capped (%d+)"))
    t.ok(n and n < 16, "at most the cap: " .. r.stdout)
    -- the classic: the shell survives its bomb, exits, and every bomb process dies with the run
    r = run(t, sh("b() { b | b & }; b; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 7", { processes = 32 }))
    t.eq({ r.kind, r.exit_code }, { "exit", 7 }, "the shell outlived its bomb (" .. tostring(r.message) .. ")")
    healthy(t)
  end,

  ["writes outside the work dir fail and never reach the host"] = function(t)
    local host = t.tmpdir()
    local mark = t.marker()
    local targets = { host .. "/" .. mark, "/etc/" .. mark, "/usr/" .. mark, "/" .. mark }
    local script = "echo inside > inside.txt\n"
    for _, path in ipairs(targets) do
      script = script .. string.format("if echo x > %s 2>/dev/null; then echo WROTE %s; fi\n", path, path)
    end
    -- the work dir's parent is the run's private /tmp: writable, gone with the run
    local r = run(t, sh(script .. "echo x > ../" .. mark .. "; pwd", { keep = true }))
    t.ok(r.ok, tostring(r.message))
    if namespaced(r) then t.no_match(r.stdout, "WROTE", "a write outside succeeded inside the sandbox") end
    local dir = r.dir
    t.eq(t.read(dir .. "/inside.txt"), "inside\n", "the work dir itself is writable and kept")
    targets[#targets + 1] = dir:match("^(.*)/[^/]+$") .. "/" .. mark
    for _, path in ipairs(targets) do
      t.eq(io.open(path, "r"), nil, "reached the host: " .. path)
    end
    os.execute("rm -rf " .. t.sh_quote(dir))
  end,

  ["files outside the work dir are hidden, system paths are read-only"] = function(t)
    local host = t.tmpdir()
    t.write(host .. "/secret", "the-secret-" .. t.marker())
    local r = run(t, sh("cat " .. host .. "/secret; ls /root /home /work /var 2>&1; " ..
      "test -r /etc/passwd && echo can-read-etc; test -w /etc/passwd || echo cannot-write-etc"))
    if namespaced(r) then
      t.no_match(r.stdout, "the%-secret", "read a host file outside the work dir")
      t.match(r.stdout, "/root.*No such file", "/root hidden")
    end
    t.match(r.stdout, "can%-read%-etc", "system paths are readable")
    t.match(r.stdout, "cannot%-write%-etc", "system paths are not writable")
  end,

  ["a readable path below /tmp shows through the private /tmp, read-only"] = function(t)
    local host = t.tmpdir()   -- /tmp/hone-test.XXXXXX: where a clone under /tmp keeps hone
    t.write(host .. "/shared", "shown-" .. t.marker())
    os.execute("chmod 755 " .. host)   -- the program runs as nobody; mktemp -d makes 0700
    local spec = sh("cat " .. host .. "/shared; echo x > " .. host .. "/shared 2>/dev/null || echo read-only")
    spec.readable = { host }
    local r = run(t, spec)
    t.eq(r.ok, true, "runs (" .. tostring(r.message) .. ")")
    t.match(r.stdout, "^shown%-", "the readable file is seen")
    t.match(r.stdout, "read%-only\n$", "and cannot be written")
    t.match(t.read(host .. "/shared"), "^shown%-", "the host file is untouched")
  end,

  ["the program runs without privileges and cannot undo the sandbox"] = function(t)
    local r = run(t, sh("id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; " ..
      "mount -t tmpfs x /tmp 2>/dev/null && echo MOUNTED; unshare -r true 2>/dev/null && echo UNSHARED; exit 0"))
    t.ok(r.ok, tostring(r.message))
    t.match(r.stdout, "^65534\n", "uid")
    t.match(r.stdout, "CapEff:%s+0+\n", "no effective capabilities")
    t.match(r.stdout, "CapBnd:%s+0+\n", "empty bounding set")
    t.match(r.stdout, "NoNewPrivs:%s+1", "no_new_privs")
    if r.isolation.seccomp == "on" then t.match(r.stdout, "Seccomp:%s+2", "filter installed") end
    t.no_match(r.stdout, "MOUNTED", "mount")
    t.no_match(r.stdout, "UNSHARED", "new namespaces")
  end,

  ["a TCP connection to the host's 127.0.0.1 is refused"] = function(t)
    local port = t.llm_server().port
    local code = string.format([[
import socket
s = socket.socket()
s.settimeout(5)
try:
    s.connect(("127.0.0.1", %d))
    print("CONNECTED")
except OSError as e:
    print("refused:", e)]], port)
    local r = run(t, py(code))
    t.ok(r.isolation.network == "namespace" or r.isolation.network:match("^seccomp"), r.isolation.network)
    t.match(r.stdout, "^refused", "connected from the sandbox: " .. r.stdout .. r.stderr)
    -- the control: with the host's network the same program gets through
    r = run(t, py(code, { network = true }))
    t.match(r.stdout, "^CONNECTED", "control run: " .. r.stdout .. r.stderr)
  end,

  ["10^8 bytes of output are cut at the cap and stop the run"] = function(t)
    local r = fails(t, sh("head -c 100000000 /dev/zero", { output = 65536 }), "output")
    t.eq({ #r.stdout, r.stdout_truncated, r.stderr_truncated }, { 65536, true, false }, "stdout cut")
    t.match(r.message, "stdout")
    r = fails(t, sh("yes 'flood' >&2", { output = 65536 }), "output")
    t.eq({ #r.stderr, r.stderr_truncated }, { 65536, true }, "stderr cut")
    healthy(t)
  end,

  ["killing its parent, or hone, does not reach hone"] = function(t)
    local stat = t.read("/proc/self/stat")
    local hone_pid = stat:match("^(%d+)")
    local r = run(t, sh("kill -9 $PPID; kill -9 " .. hone_pid .. " 2>/dev/null || echo hone-out-of-reach; " ..
      "exec python3 -c 'import os, sys\ntry: os.kill(os.getppid(), 9)\nexcept OSError: pass\n" ..
      "print(\"still here\"); sys.exit(5)'"))
    t.eq({ r.kind, r.exit_code }, { "exit", 5 }, "the program went on (" .. tostring(r.message) .. ")")
    t.match(r.stdout, "still here")
    t.match(r.stdout, "hone%-out%-of%-reach", "hone's pid is not visible")
    healthy(t)
  end,

  ["children left running after exit are killed with the run"] = function(t)
    local r = run(t, sh("sleep 1000 & setsid sleep 1001 & (sleep 1002 &); nohup sleep 1003 >/dev/null 2>&1 & echo bye"))
    t.eq({ r.ok, r.stdout }, { true, "bye\n" }, "exit 0")
  end,

  ["without namespaces the fallbacks still contain runaways"] = function(t)
    local r = fails(t, sh("sleep 1000 & setsid sleep 1001 & while :; do :; done", { time = 1, namespaces = false }),
      "timeout")
    t.match(r.isolation.processes, "^subreaper")
    t.match(r.isolation.filesystem, "^none")
    r = run(t, sh("(sleep 1002 &); setsid sleep 1003 & echo bye", { namespaces = false }))
    t.eq({ r.ok, r.stdout }, { true, "bye\n" }, "leftovers swept")
    r = run(t, py("import socket\ntry:\n socket.socket()\n print('SOCKET')\nexcept OSError as e:\n print('denied', e)",
      { namespaces = false }))
    if r.isolation.seccomp == "on" then
      t.match(r.isolation.network, "^seccomp")
      t.match(r.stdout, "^denied", "no network without a namespace: " .. r.stdout)
    end
    healthy(t)
  end,

  ["several runs go in parallel, at most jobs at once, results in order"] = function(t)
    local shared = t.tmpdir()
    local script = "touch running.$N; n=$(ls running.* | wc -l); echo $n > most.$N; sleep 0.3; rm running.$N; echo $N"
    local specs = {}
    for i = 1, 5 do
      specs[i] = { argv = { "sh", "-c", script }, dir = shared, env = { N = tostring(i) } }
    end
    specs[6] = { argv = { "sleep", "100" }, time = 1 }
    local results = exec.run_many(specs, { jobs = 2 })
    t.eq(#results, 6, "one result per spec")
    for i = 1, 5 do
      t.eq({ results[i].ok, results[i].stdout }, { true, i .. "\n" }, "result " .. i .. " in its place")
      local most = tonumber(t.read(shared .. "/most." .. i))
      t.ok(most >= 1 and most <= 2, "runs at once: " .. most)
    end
    t.eq(results[6].kind, "timeout", "a timeout in the batch is its own")
    t.raises(function() exec.run_many(specs, { jobs = 0 }) end, "jobs")
  end,

  ["files, stdin and the environment go in; hone's environment does not"] = function(t)
    local src = t.tmpdir() .. "/data.txt"
    t.write(src, "from the host\n")
    local r = run(t, sh("cat data.txt sub/dir/note.txt; ./tool.sh; cat; echo HOME=$HOME; env | sort", {
      files = {
        ["data.txt"] = src,
        ["sub/dir/note.txt"] = { text = "a note\n" },
        ["tool.sh"] = { text = "#!/bin/sh\necho tool ran\n", executable = true },
      },
      stdin = "piped in\n",
      env = { EXTRA = "yes", LANG = false },
    }))
    t.ok(r.ok, tostring(r.message) .. r.stderr)
    t.match(r.stdout, "^from the host\na note\ntool ran\npiped in\n", "files and stdin")
    local home = r.stdout:match("HOME=(%S+)")
    t.match(r.stdout, "\nEXTRA=yes\n", "env given")
    t.match(r.stdout, "\nPATH=", "minimal env")
    t.no_match(r.stdout, "\nLANG=", "env removed")
    t.no_match(r.stdout, "HONE_BIN", "hone's own environment leaked")
    t.eq(io.open(home, "r"), nil, "the fresh work dir is removed afterwards: " .. home)
  end,

  ["what cannot start is a setup result; a bad spec raises"] = function(t)
    local r = fails(t, { argv = { "no-such-program-anywhere" } }, "setup")
    t.match(r.message, "no%-such%-program%-anywhere")
    r = fails(t, { argv = { "true" }, files = { x = "/no/such/source" } }, "setup")
    t.match(r.message, "/no/such/source")
    t.raises(function() exec.run({ argv = {} }) end, "argv")
    t.raises(function() exec.run({ argv = { "true" }, bogus = 1 }) end, "unknown option 'bogus'")
    t.raises(function() exec.run({ argv = { "true" }, files = { ["../x"] = { text = "" } } }) end, "bad name")
    t.raises(function() exec.run({ argv = { "true" }, time = -1 }) end, "time")
    -- a bad spec anywhere in a batch raises before any program starts
    local shared = t.tmpdir()
    t.raises(function()
      exec.run_many({ { argv = { "touch", "ran" }, dir = shared }, { argv = { "true" }, memory = "lots" } })
    end, "spec 2: option 'memory' must be a number")
    t.eq(io.open(shared .. "/ran", "r"), nil, "the first spec did not run")
  end,

  ["a spawned program answers line by line; close ends it and everything it started"] = function(t)
    local p, mark = spawn(t, sh("sleep 1000 & while read -r l; do echo \"got $l\"; done; echo bye >&2"))
    for i = 1, 50 do
      t.eq(p:send("line " .. i .. "\n"), true, "send")
      t.eq(p:receive(10), "got line " .. i, "reply " .. i)
    end
    t.eq(p:send("a\nb\n"), true, "two lines at once")
    t.eq({ p:receive(10), p:receive(10) }, { "got a", "got b" }, "come back one at a time")
    t.eq({ p:receive(0.2) }, { nil, "no line within 0.2 s" }, "a receive timeout leaves it running")
    t.eq(p:send("c\n"), true, "still there")
    t.eq(p:receive(10), "got c", "after the timeout")
    local r = p:close()
    t.eq({ r.ok, r.stderr, r.stdout }, { true, "bye\n", "" }, "ended by itself on EOF (" .. tostring(r.message) .. ")")
    t.eq(type(r.isolation.processes), "string", "the result of run")
    t.eq(#t.carrying(mark), 0, "its background sleep is gone: " .. table.concat(t.carrying(mark), " "))
    t.raises(function() p:send("x\n") end, "closed")
    t.raises(function() p:receive(1) end, "closed")
    t.eq(p:close(), nil, "a second close does nothing")
    -- python3 -u, the way an environment bridge runs
    p, mark = spawn(t, py("import sys\nfor line in sys.stdin: print(len(line.strip()), flush=True)"))
    p:send(string.rep("x", 100000) .. "\n")
    t.eq(p:receive(10), "100000", "a long line in")
    t.ok(p:close().ok, "python ended on EOF")
    t.eq(#t.carrying(mark), 0, "python gone")
    healthy(t)
  end,

  ["a spawned program that dies mid-conversation says how, to receive and to send"] = function(t)
    local p, mark = spawn(t, py("print(input(), flush=True)\nraise ValueError('boom')"))
    p:send("first\n")
    t.eq(p:receive(10), "first", "answered once")
    local line, why = p:receive(10)
    t.eq(line, nil, "no second line")
    t.eq(why, "the process ended: exit code 1: ValueError: boom", "the reason names the exit and the last stderr line")
    local ok, why2 = p:send("more\n")
    t.eq({ ok, why2 }, { nil, why }, "send says the same")
    local r = p:close()
    t.eq({ r.kind, r.exit_code }, { "exit", 1 }, "close gives run's result")
    t.match(r.stderr, "Traceback", "stderr kept")
    t.eq(#t.carrying(mark), 0, "nothing left")
    -- killed by a signal while hone waits for a line
    p = spawn(t, sh("read -r l; kill -9 $$"))
    p:send("go\n")
    t.eq({ p:receive(10) }, { nil, "the process ended: killed by signal 9 (SIGKILL)" }, "a signal")
    p:close()
    -- a program that cannot start is a process that ended at once
    p = exec.spawn({ argv = { "no-such-program-anywhere" } })
    line, why = p:receive(10)
    t.eq(line, nil, "no line")
    t.match(why, "^the process ended: setup: cannot run no%-such%-program%-anywhere", "why")
    t.eq(p:close().kind, "setup", "a setup result")
    t.raises(function() exec.spawn({ argv = { "true" }, bogus = 1 }) end, "unknown option 'bogus'")
  end,

  ["a spawned program is held to its caps: a huge line, its lifetime, a program that ignores EOF"] = function(t)
    local p, mark = spawn(t, sh("head -c 3000000 /dev/zero | tr '\\0' x; echo; sleep 1000", { line = 1000000 }))
    local line, why = p:receive(10)
    t.eq({ line, why }, { nil, "the process ended: stdout: a line passed the line cap (1000000 bytes)" }, "line cap")
    t.eq(p:close().kind, "output", "an output result")
    t.eq(#t.carrying(mark), 0, "stopped")
    -- the default cap (16 MiB) lets 3 MB through, in one piece
    p, mark = spawn(t, sh("head -c 3000000 /dev/zero | tr '\\0' x; echo; echo next"))
    t.eq(#p:receive(10), 3000000, "a 3 MB line")
    t.eq(p:receive(10), "next", "and the next")
    p:close()
    t.eq(#t.carrying(mark), 0, "closed")
    -- the time cap is the program's whole life
    local t0 = hone.now()
    p, mark = spawn(t, sh("echo up; exec sleep 1000", { time = 1 }))
    t.eq(p:receive(10), "up", "started")
    t.eq({ p:receive() }, { nil, "the process ended: wall-clock time limit exceeded (1 s)" }, "lifetime cap")
    t.ok(hone.now() - t0 < 5, "promptly: " .. (hone.now() - t0))
    t.eq(p:close().kind, "timeout", "a timeout result")
    t.eq(#t.carrying(mark), 0, "gone")
    -- ignoring EOF: killed at close, after the grace
    p, mark = spawn(t, sh("trap '' TERM; sleep 1000 & exec sleep 1001"))
    t0 = hone.now()
    local r = p:close(0.2)
    t.eq({ r.ok, r.kind, r.message }, { false, "closed", "still running at close: stopped" }, "killed at close")
    t.ok(hone.now() - t0 < 3, "within the grace and the stop: " .. (hone.now() - t0))
    t.eq(#t.carrying(mark), 0, "nothing outlives close")
  end,

  ["a forgotten spawned process is closed by __close and by the garbage collector"] = function(t)
    local mark
    do
      local p <close>, m = spawn(t, sh("sleep 1000 & echo up; exec sleep 1001"))
      mark = m
      t.eq(p:receive(10), "up", "started")
      t.eq(#t.carrying(mark) > 0, true, "running")
      t.eq(tostring(p):match("running"), "running", "tostring")
    end
    t.eq(#t.carrying(mark), 0, "__close ended it")
    local p, m = spawn(t, sh("sleep 1000 & echo up; exec sleep 1001"))
    t.eq(p:receive(10), "up", "started")
    p = nil   -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    t.eq(#t.carrying(m), 0, "__gc ended it")
    healthy(t)
  end,

  ["resource usage is measured"] = function(t)
    local r = run(t, py("import time\nb = bytearray(150 * 10**6)\nfor i in range(0, len(b), 4096): b[i] = 1\n" ..
      "t = time.process_time()\nwhile time.process_time() - t < 0.3: pass"))
    t.ok(r.ok, tostring(r.message))
    t.ok(r.max_rss_kb >= 150000, "peak memory counted: " .. r.max_rss_kb)
    t.ok(r.cpu_s >= 0.3, "cpu time counted: " .. r.cpu_s)
  end,
}
