-- Limits: what an LLM may send back (malformed, huge, deeply nested, garbage, invalid UTF-8),
-- a store on a full or read-only disk, two writers on one store, and API keys that must never
-- be written anywhere. Everything runs the real binary against real files, mounts and the
-- scripted server (tests/llm_server.py).
local hone = require("hone")
local json = hone.json

local CHILD = "function price(age)\n  if age < 12 then return 5 end\n  return 12\nend"
local ADULT = "function price(age)\n  if age < 12 then return 5 end\n  return 11\nend"

local function proposal(code, reasoning)
  return json.encode({ reasoning = reasoning or "try", answer = "", suggestion = { price = code } })
end

local function reply(code, extra)
  local r = { content = proposal(code), prompt_tokens = 400, completion_tokens = 60 }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function sql(t, db, query)
  local p = io.popen(string.format("sqlite3 -separator '|' %s %s 2>&1", t.sh_quote(db), t.sh_quote(query)))
  local out = p:read("a")
  p:close()
  return out
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = a << 16 | (b or 0) << 8 | (c or 0)
    local quad = {}
    for k = 1, 4 do
      local x = (n >> (6 * (4 - k))) & 63
      quad[k] = B64:sub(x + 1, x + 1)
    end
    if not b then quad[3] = "=" end
    if not c then quad[4] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  return table.concat(out)
end

-- A chat completion whose content is exactly these bytes, as a raw_base64 reply: the
-- script travels as JSON, which cannot carry invalid UTF-8.
local function raw_completion(content)
  local body = json.encode({ id = "x", object = "chat.completion", model = "scripted",
    choices = { { index = 0, finish_reason = "stop", message = { role = "assistant", content = content } } },
    usage = { prompt_tokens = 10, completion_tokens = 10 } })
  return { raw_base64 = base64(body) }
end

local function nested(open, close, depth, inner)
  return open:rep(depth) .. (inner or "") .. close:rep(depth)
end

-- n bytes of printable junk, JSON's own punctuation included.
local function garbage(n)
  local chars = '{}[]":,` \n\\abcdefxyz0123456789-+.eE'
  local piece, x = {}, 12345
  for i = 1, 65536 do
    x = (x * 1103515245 + 12345) % 2147483648
    local k = x % #chars + 1
    piece[i] = chars:sub(k, k)
  end
  local chunk = table.concat(piece)
  return chunk:rep(n // #chunk + 1):sub(1, n)
end

local function toy(url, db, extra)
  return string.format("run toy --llm-url %s --model scripted --db %s --set llm_retries=1 --set llm_backoff=0.01 " ..
    "--set early_stop=false --llm-cache off %s", url, db, extra or "")
end

-- Mounts a tmpfs of `size` on a new folder, calls fn(dir), and unmounts it whatever fn does.
-- Without the right to mount (not root) the test fails: a limit left unchecked must show.
local function with_tmpfs(t, size, fn)
  local dir = t.tmpdir() .. "/disk"
  local q = t.sh_quote(dir)
  os.execute("mkdir " .. q)
  if not os.execute(string.format("mount -t tmpfs -o size=%s hone-limits %s 2>/dev/null", size, q)) then
    error("cannot mount a tmpfs on " .. dir .. ": the disk limit tests need root (or CAP_SYS_ADMIN), as in CI", 0)
  end
  local ok, err = xpcall(fn, debug.traceback, dir)
  -- lazily if busy (a process of a failed check still holding a file): never leave it mounted
  if not os.execute("umount " .. q .. " 2>/dev/null") then os.execute("umount -l " .. q) end
  if not ok then error(err, 0) end
end

-- Runs a shell command line; returns its exit code, stdout and stderr.
local function sh(t, cmd)
  local dir = t.tmpdir()
  local _, _, code = os.execute(string.format("%s >%s/out 2>%s/err", cmd, dir, dir))
  return code, t.read(dir .. "/out"), t.read(dir .. "/err")
end

-- The orphans a step would leave if it were half written: rows of a step that has no
-- steps row, and candidates without their validation.
local function half_written(t, db)
  return sql(t, db, "SELECT " ..
    "(SELECT count(*) FROM evaluations e WHERE NOT EXISTS " ..
    "  (SELECT 1 FROM steps s WHERE s.run_id = e.run_id AND s.step = e.step)) + " ..
    "(SELECT count(*) FROM candidates c WHERE NOT EXISTS " ..
    "  (SELECT 1 FROM steps s WHERE s.run_id = c.run_id AND s.step = c.step)) + " ..
    "(SELECT count(*) FROM llm_calls l WHERE NOT EXISTS " ..
    "  (SELECT 1 FROM steps s WHERE s.run_id = l.run_id AND s.step = l.step)) + " ..
    "(SELECT count(*) FROM steps s WHERE s.candidate_id IS NOT NULL AND NOT EXISTS " ..
    "  (SELECT 1 FROM evaluations e WHERE e.candidate_id = s.candidate_id AND e.split = 'validation'))")
end

local BASELINE = "run toy --optimizer baseline --set early_stop=false"

-- A script for `hone lua SCRIPT URL`: one chat whose reply is 100 MB sent in chunks; prints
-- the error and how far the process's peak memory rose, in MiB.
local HUGE_REPLY = [[
local hone = require("hone")
local function peak()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
local before = peak()
local r = hone.llm.chat({ url = arg[1], model = "m", messages = { { role = "user", content = "hi" } }, retries = 0 })
print(r.kind, r.error, #r.response, string.format("%.0f", peak() - before))
]]

return {
  ["an LLM's malformed, huge, deeply nested, garbage and invalid UTF-8 replies: the run goes on, reasons kept"] =
  function(t)
    local server = t.llm_server()
    local deep_reasoning = nested("[", "]", 900, '"why"')
    server:script({ replies = {
      -- step 1: a body cut off in the middle of its JSON
      { raw = '{"choices": [{"message": {"role": "assistant", "content": "half' },
      -- step 2: 100 MB of reply
      { size = 100000000 },
      -- step 3: a good one
      reply(CHILD),
      -- step 4: a proposal nested 100k arrays deep, then one nested 100k objects deep
      { content = '{"reasoning": "deep", "suggestion": {"price": ' .. nested("[", "]", 100000, "1") .. '}}' },
      { content = nested('{"a": ', "}", 100000, "1") },
      -- step 5: invalid UTF-8 around a proposal that would work, then 10 MB of garbage
      raw_completion('{"reasoning": "caf\xe9 \xff", "suggestion": {"price": "function price(age)\\n  ' ..
        'return 11 -- \xc3\x28\\nend"}}'),
      { content = garbage(10 << 20) },
      -- step 6: Lua nested 100k parentheses deep, then usable code with reasoning nested deeper
      -- than the encoder goes (500)
      { content = proposal("function price(age)\n  return " .. nested("(", ")", 100000, "1") .. "\nend") },
      { content = '{"reasoning": ' .. deep_reasoning .. ', "suggestion": {"price": ' .. json.encode(ADULT) .. '}}' },
      -- step 7: 100 MB again, without a Content-Length: hone has to count
      { size = 100000000, chunked = true },
      -- step 8: a body nested 100k deep
      { raw = nested("[", "]", 100000) },
      -- step 9: good again
      reply(CHILD),
    } })
    local db = t.tmpdir() .. "/llm.db"
    local code, out, err = t.hone(toy(server.url, db, "--set steps=9 --set retries=1"))
    t.eq(code, 0, "exit (" .. err .. ")")
    t.match(out, "run 1 done", "the run finished")
    t.eq(sql(t, db, "PRAGMA integrity_check"), "ok\n", "store intact")
    t.eq(sql(t, db, "SELECT status FROM runs"), "done\n", "status")
    t.eq(sql(t, db, "SELECT count(*) FROM steps"), "10\n", "every step kept")
    local calls = {}
    for line in sql(t, db, "SELECT step, status, coalesce(error, ''), coalesce(proposal_error, ''), " ..
        "length(response) FROM llm_calls ORDER BY id"):gmatch("[^\n]+") do
      local step, status, e, pe, len = line:match("^(%d+)|(%w+)|(.-)|(.-)|(%d*)$")
      calls[#calls + 1] = { step = tonumber(step), status = status, error = e, proposal_error = pe,
        response_len = tonumber(len) }
    end
    t.eq(#calls, 12, "calls recorded: " .. #calls)
    local function call(i, step, status, field, pattern)
      local c = calls[i]
      t.eq({ c.step, c.status }, { step, status }, "call " .. i)
      t.match(c[field], pattern, "call " .. i .. " " .. field)
      t.no_match(c[field], "\n", "call " .. i .. " reason on one line")
    end
    call(1, 1, "parse", "error", '^reply is not JSON %(unterminated string at byte 59%): {"choices"')
    call(2, 2, "transport", "error", "^reply larger than 64 MiB")
    t.ok(calls[2].response_len <= 4096, "a reply cut for its size keeps only its head: " .. calls[2].response_len)
    call(3, 3, "ok", "proposal_error", "^$")
    call(4, 4, "ok", "proposal_error", "^the reply is not a JSON object %(json: nesting deeper than 1000 at")
    call(5, 4, "ok", "proposal_error", "^the reply is not a JSON object %(json: nesting deeper than 1000 at")
    call(6, 5, "ok", "proposal_error", "^the reply is not valid UTF%-8 %(byte 19%)$")
    call(7, 5, "ok", "proposal_error", "^the reply is not a JSON object %(json: ")
    call(8, 6, "ok", "proposal_error", "^'price' does not compile: C stack overflow$")
    call(9, 6, "ok", "proposal_error", "^$")
    call(10, 7, "transport", "error", "^reply larger than 64 MiB")
    t.ok(calls[10].response_len <= 4096, "a reply cut for its size keeps only its head: " .. calls[10].response_len)
    call(11, 8, "parse", "error", "^reply is not JSON %(nesting deeper than 1000 at byte 1000%)")
    call(12, 9, "ok", "proposal_error", "^$")
    t.eq(sql(t, db, "SELECT step, candidate_id IS NOT NULL, coalesce(error, '') FROM steps WHERE step IN (4, 5, 6)"),
      "4|0|no usable proposal: the reply is not a JSON object " ..
      "(json: nesting deeper than 1000 at line 1 column 6001)\n" ..
      "5|0|no usable proposal: the reply is not a JSON object (json: unexpected character 'f' at line 1 column 1)\n" ..
      "6|1|\n", "steps 4-6")
    local reasoning = sql(t, db, "SELECT reasoning FROM candidates WHERE step = 6")
    -- decode and encode share one nesting limit (1000), so whatever decodes is kept whole
    t.ok(reasoning:sub(1, 4) == "[[[[" and reasoning:find('"why"', 1, true) and reasoning:sub(-5) == "]]]]\n",
      "reasoning nested 900 deep is kept, re-encoded")
    -- what the retries sent back: the unusable reply, capped, as valid UTF-8
    local seen = server:requests()
    t.eq(#seen, 12, "requests")
    for _, i in ipairs({ 5, 7, 9 }) do
      local msgs = seen[i].body.messages
      t.eq(msgs[3].role, "assistant", "request " .. i .. ": the bad reply goes back")
      t.ok(#msgs[3].content <= 8300, "request " .. i .. ": and only its head: " .. #msgs[3].content)
      t.match(msgs[4].content, "^Your reply could not be used: ", "request " .. i .. ": with the reason")
    end
    t.match(seen[5].body.messages[3].content, "\n%[%.%.%. %d+ more bytes not repeated here%]$", "the cut is marked")
    t.match(seen[7].body.messages[3].content, '^{"reasoning": "caf\u{FFFD} \u{FFFD}", ',
      "invalid UTF-8 goes back as U+FFFD: the body stays JSON a server takes")
  end,

  ["a 100 MB reply is cut at 64 MiB and costs no more memory than that"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { { size = 100000000, chunked = true } } })
    local script = t.tmpdir() .. "/huge.lua"
    t.write(script, HUGE_REPLY)
    -- ASan keeps freed memory in quarantine for a while: the buffers the reply grew through
    -- would count. Ignored by a binary without ASan.
    local asan = (os.getenv("ASAN_OPTIONS") or "detect_leaks=1") .. ":quarantine_size_mb=0"
    local code, out, err = t.hone("lua " .. script .. " " .. server.url, { ASAN_OPTIONS = asan })
    t.eq(code, 0, "exit (" .. err .. ")")
    local kind, e, kept, rise = out:match("^(%S+)\t(.-)\t(%d+)\t(%d+)\n$")
    t.eq(kind, "transport", "kind (" .. out .. ")")
    t.match(e, "^reply larger than 64 MiB %(http://127%.0%.0%.1:%d+/v1/chat/completions%)$", "error")
    t.eq(tonumber(kept), 4096, "the head kept")
    -- 64 MiB read (about 64 MiB more here, 140 under ASan, whose realloc always copies);
    -- a reader without the cap holds 100 MB and a copy of it, 230 MiB and more
    if not os.getenv("HONE_VALGRIND") then
      t.ok(tonumber(rise) < 180, "peak memory rose by " .. rise .. " MiB")
    end
    local seen = server:requests()
    t.ok(seen[1].sent and seen[1].sent < 100000000, "the transfer was cut short: " .. tostring(seen[1].sent))
  end,

  ["a store on a full disk: one clear line, exit non-zero, every committed step whole"] = function(t)
    with_tmpfs(t, "512k", function(dir)
      local db = dir .. "/full.db"
      local code, out, err = t.hone(string.format("%s --set steps=100000 --db %s", BASELINE, db))
      t.ok(code ~= 0, "exit code " .. tostring(code))
      t.match(err, "^hone: run 1 failed: store: [^\n]* %(" .. dir:gsub("%p", "%%%0") .. "/full%.db%)\n$",
        "one line naming the store")
      t.ok(err:find("disk is full", 1, true) or err:find("No space left on device", 1, true), "and the reason")
      local printed = 0
      for n in out:gmatch("\nstep (%d+) ") do printed = tonumber(n) end
      t.ok(printed >= 2, "some steps were committed before the disk filled: " .. printed)
      t.eq(sql(t, db, "PRAGMA integrity_check"), "ok\n", "store intact")
      t.eq(sql(t, db, "SELECT count(*), max(step) FROM steps"), string.format("%d|%d\n", printed + 1, printed),
        "every step reported done is in the store, and nothing after")
      t.eq(half_written(t, db), "0\n", "no half-written step")
      -- with room again, the same store takes the next run
      t.ok(os.execute("mount -o remount,size=8m " .. t.sh_quote(dir)), "remount larger")
      code, out, err = t.hone(string.format("%s --set steps=2 --db %s", BASELINE, db))
      t.eq(code, 0, "the store is usable afterwards (" .. err .. ")")
      t.match(out, "run 2 done", "the next run")
      t.eq(sql(t, db, "SELECT count(*) FROM steps WHERE run_id = 2"), "3\n", "the next run is whole")
      t.eq(sql(t, db, "PRAGMA integrity_check"), "ok\n", "still intact")
    end)
    -- smaller disks fill during the schema's creation, or before SQLite can share memory
    for _, size in ipairs({ "8k", "64k" }) do
      with_tmpfs(t, size, function(dir)
        local code, out, err = t.hone(string.format("%s --set steps=3 --db %s/tiny.db", BASELINE, dir))
        t.ok(code ~= 0, size .. ": exit code " .. tostring(code))
        t.eq(out, "", size .. ": nothing run")
        t.match(err, "^hone: store: [^\n]*: [^\n]*[dD]isk[^\n]* %(" .. dir:gsub("%p", "%%%0") .. "/tiny%.db%)\n$",
          size .. ": one line")
        t.ok(err:find("disk is full", 1, true) or err:find("No space left on device", 1, true), size .. ": the reason")
      end)
    end
  end,

  ["a store on a read-only disk: run refuses at once in one line, reading commands still read"] = function(t)
    with_tmpfs(t, "2m", function(dir)
      local db = dir .. "/ro.db"
      local code, _, err = t.hone(string.format("%s --set steps=2 --db %s", BASELINE, db))
      t.eq(code, 0, "a run while writable (" .. err .. ")")
      code, _, err = t.hone("sweep --name s --task toy --optimizer baseline --set steps=1 --seeds 1,2 --db " .. db)
      t.eq(code, 0, "a sweep while writable (" .. err .. ")")
      local before = t.read(db)
      t.ok(os.execute("mount -o remount,ro " .. t.sh_quote(dir)), "remount read-only")
      local quoted = dir:gsub("%p", "%%%0")
      local out
      code, out, err = t.hone(string.format("%s --set steps=2 --db %s", BASELINE, db))
      t.eq({ code, out }, { 2, "" }, "run refuses, nothing done")
      t.match(err, "^hone: store: cannot write: Read%-only file system %(" .. quoted .. "/ro%.db%)\n$", "message")
      code, out, err = t.hone(string.format("%s --db %s/new.db", BASELINE, dir))
      t.eq({ code, out }, { 2, "" }, "a new store there is refused too")
      t.match(err, "^hone: store: cannot write: Read%-only file system %(" .. quoted .. "/new%.db%)\n$", "message")
      code, _, err = t.hone("sweep --resume s --db " .. db)
      t.eq(code, 2, "sweep --resume refuses")
      t.match(err, "^hone: store: cannot write: Read%-only file system", "sweep message")
      for cmd, want in pairs({
        ["runs"] = "\n3 +toy +fixed +2 +done",
        ["show 1"] = "^run 1  task toy",
        ["show 1 --calls"] = "\ncall +step +purpose",
        ["show 1 --step 2"] = "^run 1 step 2 ",
        ["table s"] = "^sweep s: test per run",
        ["report 1 -o " .. t.tmpdir() .. "/r.html"] = "^report of run 1: ",
        ["report s -o " .. t.tmpdir() .. "/s.html"] = "^report of sweep s: ",
      }) do
        code, out, err = t.hone(cmd .. " --db " .. db)
        t.eq(code, 0, cmd .. " (" .. err .. ")")
        t.match(out, want, cmd)
      end
      t.eq(t.read(db), before, "the store is untouched")
    end)
  end,

  ["a read-only store file in a writable folder: run refuses in one line, show reads it"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/file.db"
    local code, _, err = t.hone(string.format("%s --set steps=1 --db %s", BASELINE, db))
    t.eq(code, 0, "a run while writable (" .. err .. ")")
    local q = t.sh_quote(db)
    -- root writes whatever chmod says: a read-only bind mount of the file itself is read-only to root too
    t.ok(os.execute(string.format("mount --bind %s %s && mount -o remount,bind,ro %s", q, q, q)),
      "cannot bind-mount the store read-only: these tests need root (or CAP_SYS_ADMIN), as in CI")
    local ok, failure = pcall(function()
      local out
      code, out, err = t.hone(string.format("%s --db %s", BASELINE, db))
      t.eq({ code, out }, { 2, "" }, "run refuses, nothing done")
      t.match(err, "^hone: store: cannot write: Read%-only file system %(" .. dir:gsub("%p", "%%%0") ..
        "/file%.db%)\n$", "message")
      code, out, err = t.hone("show 1 --db " .. db)
      t.eq(code, 0, "show (" .. err .. ")")
      t.match(out, "^run 1  task toy", "show reads it")
    end)
    os.execute("umount " .. q)
    if not ok then error(failure, 0) end
  end,

  ["two runs writing one store at once both finish whole"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/shared.db"
    local function run(seed)
      return string.format("(%s %s --set steps=12 --seed %d --quiet --db %s 2>%s/err%d; echo $? >%s/code%d)",
        t.sh_quote(t.bin), BASELINE, seed, t.sh_quote(db), dir, seed, dir, seed)
    end
    -- started together on a store neither has created yet: both race to make the schema too
    local code = sh(t, run(1) .. " & " .. run(2) .. " & wait")
    t.eq(code, 0, "shell")
    for seed = 1, 2 do
      t.eq(t.read(string.format("%s/code%d", dir, seed)), "0\n",
        "run of seed " .. seed .. " (" .. t.read(string.format("%s/err%d", dir, seed)) .. ")")
    end
    t.eq(sql(t, db, "SELECT r.seed, r.status, count(s.id), count(DISTINCT s.step) FROM runs r " ..
      "JOIN steps s ON s.run_id = r.id GROUP BY r.id ORDER BY r.seed"), "1|done|13|13\n2|done|13|13\n",
      "every step of both")
    t.eq(half_written(t, db), "0\n", "no half-written step")
    t.eq(sql(t, db, "PRAGMA integrity_check"), "ok\n", "store intact")
  end,

  ["hone waits for another process's write lock instead of failing"] = function(t)
    local dir = t.tmpdir()
    local db = dir .. "/locked.db"
    local code, _, err = t.hone(string.format("%s --set steps=1 --db %s", BASELINE, db))
    t.eq(code, 0, "first run (" .. err .. ")")
    -- sqlite3 takes the write lock, writes a run, says so, holds the lock a while, commits
    local locker = string.format("printf '%%s\\n' 'BEGIN IMMEDIATE;' " ..
      "\"INSERT INTO runs (task, recipe, seed, config, hone_version) VALUES ('locker', 'x', 0, '{}', 'x');\" " ..
      "'.shell touch %s/locked' '.shell sleep 1.5' 'COMMIT;' | sqlite3 %s", dir, t.sh_quote(db))
    local hone_run = string.format("(while [ ! -e %s/locked ]; do sleep 0.02; done; %s %s --set steps=1 --quiet " ..
      "--db %s 2>%s/err; echo $? >%s/code)", dir, t.sh_quote(t.bin), BASELINE, t.sh_quote(db), dir, dir)
    code = sh(t, "(" .. locker .. ") & " .. hone_run .. " & wait")
    t.eq(code, 0, "shell")
    t.eq(t.read(dir .. "/code"), "0\n", "hone waited and succeeded (" .. t.read(dir .. "/err") .. ")")
    t.eq(sql(t, db, "SELECT id, task, status FROM runs ORDER BY id"), "1|toy|done\n2|locker|running\n3|toy|done\n",
      "hone's run came after the lock holder's commit")
    t.eq(sql(t, db, "SELECT count(*) FROM steps WHERE run_id = 3"), "2\n", "and is whole")
  end,

  ["API keys appear in no output, no store, no report, no file, whatever fails"] = function(t)
    local KEY_O = "sk-limits-OPENAI-9f8e7d6c5b4a3210-do-not-leak"
    local KEY_A = "sk-ant-limits-ANTHROPIC-0123456789abcdef-do-not-leak"
    local env = { OPENAI_API_KEY = KEY_O, ANTHROPIC_API_KEY = KEY_A }
    local server = t.llm_server()
    local dir = t.tmpdir()
    local db = dir .. "/keys.db"
    -- a connection of our own keeps the -wal file in place, to be scanned with the rest
    local keep = hone.store.open(db)
    local outputs = {}
    local function hone_run(args, extra_env, want)
      local e = {}
      for k, v in pairs(env) do e[k] = v end
      for k, v in pairs(extra_env or {}) do e[k] = v end
      local code, out, err = t.hone(args, e)
      outputs[#outputs + 1] = { args, out .. "\n" .. err }
      if want then t.eq(code, want, args .. " (" .. err .. ")") end
      return code, out, err
    end
    local fast = "--set llm_retries=2 --set llm_backoff=0.01 --set early_stop=false"

    -- an OpenAI-style run through retries, refusals of the key (quoted back by the server),
    -- unusable replies and a body that quotes the key on a 200 and on a retried 500
    server:script({ replies = {
      { status = 500 }, { status = 429, retry_after = "0" }, reply(CHILD),
      { echo_auth = true },
      { content = "no JSON here" }, reply(ADULT),
      { echo_auth = true, status = 200 },
      { echo_auth = true, status = 500 }, { echo_auth = true, status = 500 }, { echo_auth = true, status = 500 },
      reply(CHILD),
    } })
    hone_run(string.format("run toy --llm-url %s --model scripted --db %s --set steps=6 %s", server.url, db, fast),
      nil, 0)
    t.eq(sql(t, db, "SELECT count(*) FROM llm_calls WHERE run_id = 1 AND status = 'http' AND error LIKE " ..
      "'HTTP %: Incorrect API key provided: ****%'"), "2\n", "the key the server quoted back is masked in errors")
    -- the Anthropic provider, its key quoted back too
    server:script({ replies = { { echo_auth = true }, reply(CHILD, { anthropic = true }) } })
    hone_run(string.format("run toy --llm anthropic:claude-limits --llm-url %s --db %s --set steps=2 %s", server.url,
      db, fast), nil, 0)
    -- a key with bytes a header may carry but nobody types, and one with a line break
    server:script({ default = reply(CHILD) })
    hone_run(string.format("run toy --llm-url %s --model scripted --db %s --set steps=1 --seed 3 %s", server.url, db,
      fast), { OPENAI_API_KEY = KEY_O .. "-\xc3\xa9 +/=" }, 0)
    local _, _, err = hone_run(string.format("run toy --llm-url %s --model scripted --db %s --set steps=1", server.url,
      db), { OPENAI_API_KEY = "sk-limits-LINE\nBREAK-do-not-leak" }, 2)
    t.eq(err, "hone: $OPENAI_API_KEY holds a control character (a line break?); fix the variable\n", "line break")
    -- every reading command, a report, a sweep and its report, a replay
    for _, args in ipairs({ "runs", "show 1", "show 1 --calls", "show 1 --step 2", "show 2 --calls",
        "report 1 -o " .. dir .. "/run.html", "replay 3 --quiet" }) do
      hone_run(args .. " --db " .. db, nil, 0)
    end
    hone_run(string.format("sweep --name keys --task toy --llm-url %s --model scripted --set steps=1 --seeds 1,2 " ..
      "--db %s", server.url, db), nil, 0)
    hone_run("report keys -o " .. dir .. "/sweep.html --db " .. db, nil, 0)
    hone_run("table keys --db " .. db, nil, 0)
    -- failures of every kind
    for _, args in ipairs({ "run toy --nope", "show nope", "run toy --llm gemini:x", "run toy --budget calls=x",
        "run toy --llm-url http://127.0.0.1:9/v1 --model m --set steps=1 --set llm_retries=0", "data nosuch",
        "data toy", "run bbeh/dyck_languages --llm-url " .. server.url .. " --model m" }) do
      local code = hone_run(args .. " --db " .. db, { HONE_DATA = dir .. "/data" })
      t.ok(code ~= 0 or args:find("127.0.0.1:9", 1, true), args .. " fails")
    end
    -- a download that cannot reach its server (curl through a proxy that is not there)
    local code = hone_run("data bbeh", { HONE_DATA = dir .. "/data", https_proxy = "http://127.0.0.1:9",
      HTTPS_PROXY = "http://127.0.0.1:9" })
    t.eq(code, 1, "data bbeh offline")

    -- now look everywhere
    local places = {}
    for _, o in ipairs(outputs) do places[#places + 1] = { "output of hone " .. o[1], o[2] } end
    local files = io.popen("find " .. t.sh_quote(dir) .. " -type f")
    local names = {}
    for path in files:lines() do
      names[#names + 1] = path:match("[^/]+$")
      places[#places + 1] = { path, t.read(path) }
    end
    files:close()
    table.sort(names)
    local seen = table.concat(names, " ")
    for _, want in ipairs({ "keys.db", "keys.db-wal", "run.html", "sweep.html" }) do
      t.ok((" " .. seen .. " "):find(" " .. want .. " ", 1, true), "scanned " .. want .. " (files: " .. seen .. ")")
    end
    places[#places + 1] = { "the requests the server saw", json.encode(server:requests()) }
    keep:close()
    for _, key in ipairs({ KEY_O, KEY_A, "sk-limits-LINE\nBREAK" }) do
      for _, needle in ipairs({ key, key:sub(1, 12) }) do
        for _, place in ipairs(places) do
          if place[2]:find(needle, 1, true) then
            error(string.format("%q found in %s", needle, place[1]))
          end
        end
      end
    end
    t.ok(#places > 25, "places scanned: " .. #places)
  end,
}
