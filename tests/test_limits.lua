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
      -- step 5: 10 MB of garbage, then invalid UTF-8 around a proposal that would work
      { content = garbage(10 << 20) },
      raw_completion('{"reasoning": "caf\xe9 \xff", "suggestion": {"price": "function price(age)\\n  ' ..
        'return 11 -- \xc3\x28\\nend"}}'),
      -- step 6: usable code, with reasoning nested deeper than the encoder goes (500)
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
    t.eq(#calls, 11, "calls recorded: " .. #calls)
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
    call(6, 5, "ok", "proposal_error", "^the reply is not a JSON object")
    call(7, 5, "ok", "proposal_error", "^the reply is not valid UTF%-8 %(byte %d+%)")
    call(8, 6, "ok", "proposal_error", "^$")
    call(9, 7, "transport", "error", "^reply larger than 64 MiB")
    t.ok(calls[9].response_len <= 4096, "a reply cut for its size keeps only its head: " .. calls[9].response_len)
    call(10, 8, "parse", "error", "^reply is not JSON %(nesting deeper than 1000 at byte 1000%)")
    call(11, 9, "ok", "proposal_error", "^$")
    t.eq(sql(t, db, "SELECT step, candidate_id IS NOT NULL, coalesce(error, '') FROM steps WHERE step IN (4, 5, 6)"),
      "4|0|no usable proposal: the reply is not a JSON object (json: nesting deeper than 1000 at line 1 column 6001)\n" ..
      "5|0|no usable proposal: the reply is not valid UTF-8 (byte 19)\n6|1|\n", "steps 4-6")
    local reasoning = sql(t, db, "SELECT reasoning FROM candidates WHERE step = 6")
    t.match(reasoning, "^%(the reasoning could not be kept: json: cannot encode tables nested deeper than 500",
      "reasoning too deep to re-encode costs the reasoning, not the proposal")
    -- what the retries sent back: the unusable reply, capped, as valid UTF-8
    local seen = server:requests()
    t.eq(#seen, 11, "requests")
    for _, i in ipairs({ 5, 7 }) do
      local msgs = seen[i].body.messages
      t.eq(msgs[3].role, "assistant", "request " .. i .. ": the bad reply goes back")
      t.ok(#msgs[3].content <= 20000, "request " .. i .. ": and only its head: " .. #msgs[3].content)
      t.match(msgs[4].content, "^Your reply could not be used: ", "request " .. i .. ": with the reason")
    end
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
}
