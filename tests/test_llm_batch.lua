-- hone.llm beyond one OpenAI call: the Anthropic format, batches through curl's multi
-- interface, budgets enforced before anything is sent, and cache keys.
local hone = require("hone")
local llm, json = hone.llm, hone.json

local MESSAGES = {
  { role = "system", content = "You are terse." },
  { role = "system", content = "Answer in one word." },
  { role = "user", content = "Say hi." },
}

local function request(t, extra)
  local r = { url = t.llm_server().url, model = "test-model", messages = MESSAGES, retries = 2, backoff = 0.01 }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function ask(t, q, extra)
  local e = { messages = { { role = "user", content = q } } }
  for k, v in pairs(extra or {}) do e[k] = v end
  return request(t, e)
end

return {
  ["the anthropic format: path, headers, system text, reply and tokens"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { { anthropic = true, content = "Hi", prompt_tokens = 21, completion_tokens = 2,
                                  finish_reason = "end_turn" } } })
    local dir = t.tmpdir()
    t.write(dir .. "/a.lua", string.format([[
local hone = require("hone")
local r = hone.llm.chat({ format = "anthropic", url = %q, model = "claude-test", temperature = 0.5, seed = 4,
  messages = { { role = "system", content = "You are terse." }, { role = "system", content = "One word." },
               { role = "user", content = "Say hi." } } })
r.request = hone.json.decode(r.request)
io.write(hone.json.encode(r))
]], server.url))
    local code, out, err = t.hone("lua " .. dir .. "/a.lua", { ANTHROPIC_API_KEY = "sk-ant-secret-99" })
    t.eq(code, 0, "exit (" .. err .. ")")
    t.no_match(out, "sk%-ant%-secret", "the key never comes back")
    local r = json.decode(out)
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "Hi", "content")
    t.eq(r.finish_reason, "end_turn", "stop_reason")
    t.eq({ r.prompt_tokens, r.completion_tokens }, { 21, 2 }, "input/output tokens")
    local seen = server:requests()[1]
    t.eq(seen.path, "/v1/messages", "path")
    t.eq(seen.auth_scheme, "x-api-key", "key header")
    t.eq(seen.auth_length, #"sk-ant-secret-99", "key length")
    t.eq(seen.headers["anthropic-version"], "2023-06-01", "version header")
    t.eq(seen.body.system, "You are terse.\n\nOne word.", "system messages joined")
    t.eq(seen.body.messages, { { role = "user", content = "Say hi." } }, "turns")
    t.eq(seen.body.max_tokens, 4096, "max_tokens is required there: a default is sent")
    t.eq(seen.body.seed, nil, "no seed in the Messages API")
    t.eq(seen.body, r.request, "the body returned is the body sent")
  end,

  ["anthropic errors, refusals and an OpenAI reply in the wrong format"] = function(t)
    local server = t.llm_server()
    server:script({ replies = {
      { status = 529, message = "Overloaded" }, { anthropic = true, content = "ok" },
      { anthropic = true, content = "", finish_reason = "refusal" },
      { content = "an openai reply" },
    } })
    local r = llm.chat(request(t, { format = "anthropic" }))
    t.eq({ r.ok, r.attempts, r.attempt_log[1].error }, { true, 2, "HTTP 529: Overloaded" }, "529 is retried")
    r = llm.chat(request(t, { format = "anthropic" }))
    t.eq({ r.ok, r.kind }, { false, "refusal" }, "empty text with stop_reason refusal")
    r = llm.chat(request(t, { format = "anthropic" }))
    t.eq({ r.ok, r.kind, r.error }, { false, "parse", "reply has no content blocks" }, "wrong format")
    t.raises(function() llm.chat(request(t, { format = "gemini" })) end, "request%.format must be")
    t.raises(function() llm.chat(request(t, { format = "anthropic", response_format = { type = "json" } })) end,
      "not in the anthropic format")
    t.raises(function() llm.chat(request(t, { format = "anthropic",
      messages = { { role = "system", content = "only system" } } })) end, "no user or assistant turn")
  end,

  ["a batch answers in request order with per-request errors"] = function(t)
    local server = t.llm_server()
    server:script({ rules = {
      { match = "q1", content = "a1" }, { match = "q2", status = 400, message = "bad q2" },
      { match = "q3", content = "a3", delay = 0.05 }, { match = "q4", raw = "not json" },
      { match = "q5", content = "a5" },
    } })
    local reqs = {}
    for i = 1, 5 do reqs[i] = ask(t, "q" .. i) end
    local rs = llm.batch(reqs, { concurrency = 3 })
    t.eq(#rs, 5, "one result per request")
    t.eq({ rs[1].ok, rs[1].content }, { true, "a1" }, "1")
    t.eq({ rs[2].ok, rs[2].kind, rs[2].error }, { false, "http", "HTTP 400: bad q2" }, "2")
    t.eq({ rs[3].ok, rs[3].content }, { true, "a3" }, "3 (slow) keeps its place")
    t.eq({ rs[4].ok, rs[4].kind }, { false, "parse" }, "4")
    t.eq({ rs[5].ok, rs[5].content }, { true, "a5" }, "5")
    t.eq(#server:requests(), 5, "no retries of a 400 or of a parse error")
    t.eq(llm.batch({}), {}, "an empty batch")
  end,

  ["a batch keeps several requests in flight, never more than its limit"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = "ok", delay = 0.2 } })
    local reqs = {}
    for i = 1, 12 do reqs[i] = ask(t, "q" .. i) end
    local rs = llm.batch(reqs, { concurrency = 4 })
    local most = 0
    for _, seen in ipairs(server:requests()) do most = math.max(most, seen.in_flight) end
    for i = 1, 12 do t.eq(rs[i].ok, true, "request " .. i) end
    t.ok(most >= 2, "several requests were in flight at once: " .. most)
    t.ok(most <= 4, "never more than the limit: " .. most)
    t.raises(function() llm.batch(reqs, { concurrency = 0 }) end, "concurrency must be")
    t.raises(function() llm.batch({ ask(t, "x"), { model = "m" } }) end, "requests%[2%]%.url is required")
  end,

  ["retries inside a batch do not hold up the others"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { { status = 500 }, { content = "b" }, { content = "a" } } })
    local rs = llm.batch({ ask(t, "x"), ask(t, "y") }, { concurrency = 2 })
    t.eq({ rs[1].ok, rs[2].ok }, { true, true }, "both end well")
    t.eq(rs[1].attempts + rs[2].attempts, 3, "one retry in all")
  end,

  ["a budget refuses calls before they are sent"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = "ok", prompt_tokens = 10, completion_tokens = 5 } })
    local b = llm.budget({ calls = 3 })
    local reqs = {}
    for i = 1, 5 do reqs[i] = ask(t, "q" .. i, { budget = b }) end
    local rs = llm.batch(reqs, { concurrency = 2 })
    local ok, refused = 0, 0
    for _, r in ipairs(rs) do
      if r.ok then ok = ok + 1 elseif r.kind == "budget" then refused = refused + 1 end
    end
    t.eq({ ok, refused }, { 3, 2 }, "three sent, two refused")
    t.eq(#server:requests(), 3, "the refused ones never reached the server")
    t.eq(b:spent(), { calls = 3, prompt_tokens = 30, completion_tokens = 15, tokens = 45 }, "spent")
    t.match(b:exhausted(), "LLM budget spent: calls 3 of 3", "reason")
    t.match(rs[5].error, "calls 3 of 3", "the refused result says why")
    t.eq(rs[5].attempts, 0, "nothing was attempted")
  end,

  ["token budgets stop once spent; charge counts replayed usage"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = "ok", prompt_tokens = 100, completion_tokens = 50 } })
    local b = llm.budget({ tokens = 250, completion_tokens = 1000 })
    local r1 = llm.chat(ask(t, "a", { budget = b }))
    local r2 = llm.chat(ask(t, "b", { budget = b }))
    local r3 = llm.chat(ask(t, "c", { budget = b }))
    t.eq({ r1.ok, r2.ok, r3.kind }, { true, true, "budget" }, "300 tokens spent of 250: the third is refused")
    t.eq(b:exhausted(), "LLM budget spent: tokens 300 of 250", "reason")
    local c = llm.budget({ calls = 2 })
    c:charge(2, 7, 3)
    t.eq(c:spent(), { calls = 2, prompt_tokens = 7, completion_tokens = 3, tokens = 10 }, "charged")
    t.eq(llm.chat(ask(t, "d", { budget = c })).kind, "budget", "charged usage counts")
    t.eq(c:limits(), { calls = 2 }, "limits")
    t.raises(function() llm.budget({ call = 3 }) end, "unknown limit 'call'")
    t.raises(function() llm.budget({ calls = -1 }) end, "calls must be a whole number")
    t.raises(function() llm.chat(ask(t, "e", { budget = {} })) end, "budget must come from hone.llm.budget")
  end,

  ["prepare gives the body and a key of model, messages, parameters and seed"] = function(t)
    local base = { url = "http://127.0.0.1:9/v1", model = "m", messages = { { role = "user", content = "hi" } },
      temperature = 0, seed = 1 }
    local function key(extra)
      local r = {}
      for k, v in pairs(base) do r[k] = v end
      for k, v in pairs(extra or {}) do r[k] = v end
      return llm.prepare(r).key
    end
    local p = llm.prepare(base)
    t.match(p.key, "^%x+$", "hex")
    t.eq(#p.key, 64, "sha-256")
    t.eq(p.url, "http://127.0.0.1:9/v1/chat/completions", "url")
    t.eq(json.decode(p.body).seed, 1, "body")
    t.eq(key(), p.key, "same request, same key")
    t.eq(key({ url = "http://elsewhere/v1", timeout = 3, retries = 0 }), p.key, "transport settings do not count")
    for name, change in pairs({ model = { model = "n" }, seed = { seed = 2 }, temperature = { temperature = 0.5 },
        messages = { messages = { { role = "user", content = "hi!" } } }, format = { format = "anthropic" } }) do
      t.ok(key(change) ~= p.key, name .. " changes the key")
    end
    t.ok(key({ format = "anthropic", seed = 1 }) ~= key({ format = "anthropic", seed = 2 }),
      "the seed counts even where it is not sent")
  end,
  ["providers resolve from flags and the environment"] = function(t)
    local client = require("hone.client")
    local function env(vars) return function(k) return vars[k] end end
    local c = client.resolve({ llm = "ollama:qwen2.5:7b" }, env({}))
    t.eq(c, { provider = "ollama", format = "openai", url = "http://127.0.0.1:11434/v1", model = "qwen2.5:7b",
      api_key_env = "OPENAI_API_KEY" }, "a local provider needs no key; colons stay in the model")
    c = client.resolve({}, env({ HONE_LLM = "anthropic:claude-x", ANTHROPIC_API_KEY = "k" }))
    t.eq({ c.format, c.url, c.model, c.api_key_env }, { "anthropic", "https://api.anthropic.com/v1", "claude-x",
      "ANTHROPIC_API_KEY" }, "HONE_LLM")
    c = client.resolve({ llm = "anthropic:c", llm_url = "http://proxy/v1" }, env({}))
    t.eq(c.url, "http://proxy/v1", "a URL given needs no key")
    c = client.resolve({}, env({ OPENAI_BASE_URL = "http://gw/v1", HONE_LLM_MODEL = "m" }))
    t.eq({ c.provider, c.url, c.model }, { "openai", "http://gw/v1", "m" }, "OpenAI-compatible by environment")
    c = client.resolve({ model = "gpt-x" }, env({ OPENAI_API_KEY = "k" }))
    t.eq(c.url, "https://api.openai.com/v1", "a key alone means OpenAI")
    local none, why = client.resolve({}, env({}))
    t.eq(none, nil, "nothing configured")
    t.match(why, "^no LLM endpoint", "says so")
    why = select(2, client.resolve({ llm = "openai:gpt-x" }, env({})))
    t.match(why, "no key for openai .* set %$OPENAI_API_KEY", "a paid API without its key")
    why = select(2, client.resolve({ llm = "nocolon" }, env({})))
    t.match(why, "%-%-llm takes PROVIDER:MODEL", "malformed")
    t.eq({ client.resolve({}, env({}), "task") }, {}, "no task model: the optimizer's is used")
    c = client.resolve({ task_llm = "vllm:small" }, env({}), "task")
    t.eq({ c.model, c.url }, { "small", "http://127.0.0.1:8000/v1" }, "a task model")
  end,
}
