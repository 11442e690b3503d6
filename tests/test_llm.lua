-- hone.llm.chat against the scripted server (tests/llm_server.py): replies, retries,
-- faults, and what the server saw.
local hone = require("hone")
local llm, json = hone.llm, hone.json

local MESSAGES = {
  { role = "system", content = "You are terse." },
  { role = "user", content = "Say hi." },
}

-- A request to the test server that retries twice, fast.
local function request(t, extra)
  local r = { url = t.llm_server().url, model = "test-model", messages = MESSAGES,
    retries = 2, backoff = 0.01 }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

-- Scripts the replies, makes one call; returns the result and what the server saw.
local function chat(t, replies, extra)
  local server = t.llm_server()
  server:script({ replies = replies })
  local r = llm.chat(request(t, extra))
  return r, server:requests()
end

local function failed(t, r, kind, pattern)
  t.eq(r.ok, false, "ok")
  t.eq(r.kind, kind, "kind")
  t.match(r.error, pattern, "error")
  t.eq(r.content, nil, "content")
end

return {
  ["success gives content, finish_reason and token counts"] = function(t)
    local r, seen = chat(t, { { content = "Hi.", prompt_tokens = 12, completion_tokens = 3 } })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "Hi.", "content")
    t.eq(r.finish_reason, "stop", "finish_reason")
    t.eq(r.prompt_tokens, 12, "prompt_tokens")
    t.eq(r.completion_tokens, 3, "completion_tokens")
    t.eq(r.attempts, 1, "attempts")
    t.eq(r.http_status, 200, "http_status")
    t.eq(r.kind, nil, "kind")
    t.eq(r.error, nil, "error")
    t.eq(type(r.latency_ms), "number", "latency_ms type")
    t.eq(#r.attempt_log, 1, "attempt_log length")
    t.eq(r.attempt_log[1].http_status, 200, "attempt 1 status")
    t.eq(r.attempt_log[1].error, nil, "attempt 1 error")
    t.eq(type(r.attempt_log[1].latency_ms), "number", "attempt 1 latency type")
    t.eq(json.decode(r.response).choices[1].message.content, "Hi.", "raw response")
    t.eq(#seen, 1, "requests seen")
  end,

  ["token counts are 0 when the reply has no usage"] = function(t)
    local r = chat(t, { {
      raw = '{"choices":[{"message":{"role":"assistant","content":"x"},"finish_reason":"length"}]}',
    } })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "x", "content")
    t.eq(r.finish_reason, "length", "finish_reason")
    t.eq(r.prompt_tokens, 0, "prompt_tokens")
    t.eq(r.completion_tokens, 0, "completion_tokens")
  end,

  ["the server sees exactly the request body returned"] = function(t)
    local r, seen = chat(t, { { content = "ok" } }, {
      temperature = 0.25, seed = 7, max_tokens = 64, response_format = { type = "json_object" },
    })
    t.eq(r.ok, true, "ok")
    t.eq(#seen, 1, "requests seen")
    local got = seen[1]
    t.eq(got.method, "POST", "method")
    t.eq(got.path, "/v1/chat/completions", "path")
    t.eq(got.headers["content-type"], "application/json", "content-type")
    t.eq(got.body, json.decode(r.request), "body equals result.request")
    t.eq(got.body.model, "test-model", "model")
    t.eq(got.body.messages, MESSAGES, "messages")
    t.eq(got.body.temperature, 0.25, "temperature")
    t.eq(got.body.seed, 7, "seed")
    t.eq(got.body.max_tokens, 64, "max_tokens")
    t.eq(got.body.response_format, { type = "json_object" }, "response_format")
  end,

  ["optional fields are left out of the body when not given"] = function(t)
    local _, seen = chat(t, { { content = "ok" } })
    local body = seen[1].body
    t.eq(body.temperature, nil, "temperature")
    t.eq(body.seed, nil, "seed")
    t.eq(body.max_tokens, nil, "max_tokens")
    t.eq(body.response_format, nil, "response_format")
  end,

  ["every form of url reaches /v1/chat/completions"] = function(t)
    local server = t.llm_server()
    local urls = { server.url, server.url .. "/", server.url .. "//", server.url .. "/chat/completions",
      server.url .. "/chat/completions/" }
    server:script({ default = { content = "ok" } })
    for _, url in ipairs(urls) do
      t.eq(llm.chat(request(t, { url = url })).ok, true, "ok for " .. url)
    end
    local seen = server:requests()
    t.eq(#seen, #urls, "requests seen")
    for i = 1, #urls do t.eq(seen[i].path, "/v1/chat/completions", "path for " .. urls[i]) end
  end,

  ["no Authorization header when the key variable is unset"] = function(t)
    local r, seen = chat(t, { { content = "ok" } }, { api_key_env = "HONE_TEST_NO_SUCH_KEY" })
    t.eq(r.ok, true, "ok")
    t.eq(seen[1].auth_scheme, nil, "auth_scheme")
  end,

  ["the key goes out as Bearer and never comes back"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = "ok" } })
    local dir = t.tmpdir()
    t.write(dir .. "/keys.lua", string.format([[
local hone = require("hone")
local results = {}
for i, env in ipairs({ "HONE_TEST_KEY", "HONE_TEST_EMPTY_KEY", "OPENAI_API_KEY" }) do
  results[i] = hone.llm.chat({ url = %q, model = "m", messages = { { role = "user", content = "hi" } },
    api_key_env = env ~= "OPENAI_API_KEY" and env or nil, retries = 0 })
end
io.write(hone.json.encode(results))
]], server.url))
    local code, out, err = t.hone("lua " .. dir .. "/keys.lua", {
      HONE_TEST_KEY = "sk-test123", HONE_TEST_EMPTY_KEY = "", OPENAI_API_KEY = "sk-default-4567",
    })
    t.eq(code, 0, "exit code (stderr: " .. err .. ")")
    t.no_match(out, "sk%-test123", "results")
    t.no_match(out, "sk%-default", "results")
    local results = json.decode(out)
    t.eq(#results, 3, "results")
    for i = 1, 3 do t.eq(results[i].ok, true, "call " .. i .. " ok") end
    local seen = server:requests()
    t.eq(#seen, 3, "requests seen")
    t.eq(seen[1].auth_scheme, "Bearer", "scheme with HONE_TEST_KEY")
    t.eq(seen[1].auth_length, #"sk-test123", "credential length with HONE_TEST_KEY")
    t.eq(seen[2].auth_scheme, nil, "scheme with an empty key")
    t.eq(seen[3].auth_scheme, "Bearer", "scheme with the default OPENAI_API_KEY")
    t.eq(seen[3].auth_length, #"sk-default-4567", "credential length with OPENAI_API_KEY")
  end,

  ["429 with Retry-After waits and retries"] = function(t)
    local r, seen = chat(t, { { status = 429, retry_after = "1" }, { content = "later" } })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "later", "content")
    t.eq(r.attempts, 2, "attempts")
    t.eq(#seen, 2, "requests seen")
    local first = r.attempt_log[1]
    t.eq(first.http_status, 429, "attempt 1 status")
    t.eq(first.kind, "http", "attempt 1 kind")
    t.match(first.error, "^HTTP 429", "attempt 1 error")
    t.eq(first.retry_after, 1, "attempt 1 retry_after")
    t.eq(r.attempt_log[2].retry_after, nil, "attempt 2 retry_after")
  end,

  ["503 with Retry-After 0 retries at once"] = function(t)
    local r = chat(t, { { status = 503, retry_after = "0" }, { content = "back" } })
    t.eq(r.ok, true, "ok")
    t.eq(r.attempts, 2, "attempts")
    t.eq(r.attempt_log[1].http_status, 503, "attempt 1 status")
    t.eq(r.attempt_log[1].retry_after, 0, "attempt 1 retry_after")
  end,

  ["429 without Retry-After backs off and retries"] = function(t)
    local r = chat(t, { { status = 429 }, { content = "ok" } })
    t.eq(r.ok, true, "ok")
    t.eq(r.attempts, 2, "attempts")
    t.eq(r.attempt_log[1].http_status, 429, "attempt 1 status")
    t.eq(r.attempt_log[1].retry_after, nil, "attempt 1 retry_after")
  end,

  ["500 then success"] = function(t)
    local r, seen = chat(t, { { status = 500 }, { content = "recovered" } })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "recovered", "content")
    t.eq(r.attempts, 2, "attempts")
    t.eq(#seen, 2, "requests seen")
    t.eq(r.attempt_log[1].http_status, 500, "attempt 1 status")
    t.eq(r.http_status, 200, "http_status")
  end,

  ["500 on every attempt gives up after retries"] = function(t)
    local r, seen = chat(t, {
      { status = 500, message = "boom 1" }, { status = 502, message = "boom 2" },
      { status = 500, message = "boom 3" }, { content = "never reached" },
    })
    failed(t, r, "http", "^HTTP 500: boom 3$")
    t.eq(r.attempts, 3, "attempts")
    t.eq(#r.attempt_log, 3, "attempt_log length")
    t.eq(#seen, 3, "requests seen")
    t.eq(r.http_status, 500, "http_status")
    t.eq(r.attempt_log[2].http_status, 502, "attempt 2 status")
    t.match(r.response, "boom 3", "response")
    t.eq(r.prompt_tokens, 0, "prompt_tokens")
  end,

  ["400 is not retried"] = function(t)
    local r, seen = chat(t, { { status = 400, message = "unknown model" }, { content = "never" } })
    failed(t, r, "http", "^HTTP 400: unknown model$")
    t.eq(r.attempts, 1, "attempts")
    t.eq(#seen, 1, "requests seen")
    t.eq(r.http_status, 400, "http_status")
  end,

  ["a long error message is cut to one short line"] = function(t)
    local r = chat(t, { { status = 401, message = ("x"):rep(1000) .. "\nsecond line" } })
    failed(t, r, "http", "^HTTP 401: x+%.%.%.$")
    t.ok(#r.error < 300, "error is short")
    t.match(r.response, "second line", "response keeps the whole body")
  end,

  ["a dropped connection is retried"] = function(t)
    local r, seen = chat(t, { { drop = true }, { content = "after drop" } })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "after drop", "content")
    t.eq(r.attempts, 2, "attempts")
    t.eq(#seen, 2, "requests seen")
    t.eq(r.attempt_log[1].http_status, 0, "attempt 1 status")
    t.eq(r.attempt_log[1].kind, "transport", "attempt 1 kind")
    t.match(r.attempt_log[1].error, "empty reply", "attempt 1 error")
  end,

  ["a cut body is retried"] = function(t)
    local r = chat(t, { { cut = true, content = "half" }, { content = "whole" } })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "whole", "content")
    t.eq(r.attempts, 2, "attempts")
    t.eq(r.attempt_log[1].kind, "transport", "attempt 1 kind")
    t.match(r.attempt_log[1].error, "cut short", "attempt 1 error")
  end,

  ["a body cut on every attempt fails as transport"] = function(t)
    local r, seen = chat(t, { { cut = true }, { cut = true } }, { retries = 1 })
    failed(t, r, "transport", "cut short")
    t.eq(r.attempts, 2, "attempts")
    t.eq(#seen, 2, "requests seen")
    t.ok(#r.response > 0, "the partial body is kept")
  end,

  ["a body slower than the timeout fails as timeout"] = function(t)
    local r = chat(t, { { body_delay = 3, content = "slow" } }, { timeout = 0.5, retries = 0 })
    failed(t, r, "timeout", "timed out after 0%.5 s")
    t.eq(r.attempts, 1, "attempts")
  end,

  ["a timed-out attempt is retried"] = function(t)
    local r = chat(t, { { delay = 3, content = "late" }, { content = "in time" } },
      { timeout = 0.5, retries = 1 })
    t.eq(r.ok, true, "ok")
    t.eq(r.content, "in time", "content")
    t.eq(r.attempts, 2, "attempts")
    t.eq(r.attempt_log[1].kind, "timeout", "attempt 1 kind")
  end,

  ["a refused connection fails as transport after retries"] = function(t)
    local r = llm.chat({ url = "http://127.0.0.1:1/v1", model = "m", messages = MESSAGES,
      retries = 1, backoff = 0.01 })
    failed(t, r, "transport", "^connection refused %(http://127%.0%.0%.1:1/v1/chat/completions%)$")
    t.eq(r.attempts, 2, "attempts")
    t.eq(r.http_status, 0, "http_status")
    t.eq(r.response, "", "response")
    t.eq(r.attempt_log[2].kind, "transport", "attempt 2 kind")
  end,

  ["a reply that is not JSON is a parse error, not retried"] = function(t)
    local r, seen = chat(t, { { raw = "this is not json" }, { content = "never" } })
    failed(t, r, "parse", "^reply is not JSON")
    t.match(r.error, "this is not json", "error quotes the reply")
    t.eq(r.attempts, 1, "attempts")
    t.eq(#seen, 1, "requests seen")
    t.eq(r.http_status, 200, "http_status")
    t.eq(r.response, "this is not json", "response")
  end,

  ["JSON without choices is a parse error"] = function(t)
    local r = chat(t, { { raw = '{"object":"chat.completion","usage":{"prompt_tokens":5}}' } })
    failed(t, r, "parse", "no choices")
    t.eq(r.attempts, 1, "attempts")
    t.eq(r.prompt_tokens, 5, "prompt_tokens are still counted")
    r = chat(t, { { raw = '{"choices":[]}' } })
    failed(t, r, "parse", "no choices")
    r = chat(t, { { raw = '{"choices":[{"message":{"content":42}}]}' } })
    failed(t, r, "parse", "not a string")
  end,

  ["an Anthropic-format reply is not a chat completion"] = function(t)
    local r = chat(t, { { anthropic = true, content = "hi" } })
    failed(t, r, "parse", "no choices")
    local body = json.decode(r.response)
    t.eq(body.type, "message", "anthropic type")
    t.eq(body.content[1].text, "hi", "anthropic text")
  end,

  ["empty content is a refusal"] = function(t)
    local r = chat(t, { { content = "" } })
    failed(t, r, "refusal", "empty content %(finish_reason stop%)")
    t.eq(r.attempts, 1, "attempts")
  end,

  ["an empty reply's finish_reason is quoted on one line, cut short"] = function(t)
    local reason = "length\n" .. string.rep("x", 100)   -- found by fuzz/llm_reply.c
    local r = chat(t, { { content = "", finish_reason = reason } })
    failed(t, r, "refusal", "^reply has empty content %(finish_reason length x+%.%.%.%)$")
    t.eq(r.finish_reason, reason, "finish_reason itself is the server's, unchanged")
  end,

  ["the content filter is a refusal"] = function(t)
    local r = chat(t, { { finish_reason = "content_filter", prompt_tokens = 9 } })
    failed(t, r, "refusal", "content filter")
    t.eq(r.finish_reason, "content_filter", "finish_reason")
    t.eq(r.prompt_tokens, 9, "prompt_tokens")
  end,

  ["a refusal field is a refusal"] = function(t)
    local r = chat(t, { { refusal = "I can't help with that." } })
    failed(t, r, "refusal", "^model refused: I can't help with that%.$")
  end,

  ["rules answer by match, then the queue, then the default"] = function(t)
    local server = t.llm_server()
    server:script({
      rules = { { match = "capital of France", content = "Paris" } },
      replies = { { content = "queued" } },
      default = { content = "dunno" },
    })
    local function ask(q)
      return llm.chat(request(t, { messages = { { role = "user", content = q } } })).content
    end
    t.eq(ask("What is the capital of France?"), "Paris", "rule")
    t.eq(ask("And of Spain?"), "queued", "queue")
    t.eq(ask("The capital of France, again?"), "Paris", "rules are not consumed")
    t.eq(ask("And of Italy?"), "dunno", "default")
    t.eq(#server:requests(), 4, "requests seen")
    server:script({ replies = { { content = "only" } } })
    t.eq(ask("one"), "only", "queue")
    local r = llm.chat(request(t, { retries = 0 }))
    failed(t, r, "http", "^HTTP 500: script exhausted$")
  end,

  ["the server refuses a script it would misread"] = function(t)
    local server = t.llm_server()
    t.raises(function() server:script({ replies = { { contnet = "typo" } } }) end,
      "replies%[1%]: unknown field 'contnet'")
    t.raises(function() server:script({ rules = { { content = "no match" } } }) end, "no match")
    t.raises(function() server:script({ default = { status = "500" } }) end, "status has the wrong type")
  end,

  ["a reply over 64 MiB is refused without retry"] = function(t)
    local r, seen = chat(t, { { size = 64 * 1024 * 1024 + 1 }, { content = "never" } })
    failed(t, r, "transport", "larger than 64 MiB")
    t.eq(r.attempts, 1, "attempts")
    t.eq(#seen, 1, "requests seen")
  end,

  ["bad arguments raise before anything is sent"] = function(t)
    local server = t.llm_server()
    server:script({ default = { content = "ok" } })
    local function bad(extra, pattern)
      t.raises(function() llm.chat(request(t, extra)) end, pattern)
    end
    t.raises(function() llm.chat("hello") end, "table expected")
    t.raises(function() llm.chat({ url = server.url, messages = MESSAGES }) end, "request%.model is required")
    t.raises(function() llm.chat({ model = "m", messages = MESSAGES }) end, "request%.url is required")
    bad({ model = 42 }, "request%.model must be a string")
    bad({ messages = "hi" }, "request%.messages must be a table")
    bad({ messages = {} }, "non%-empty")
    bad({ messages = { "hi" } }, "messages%[1%] must be a table")
    bad({ messages = { { role = "user" } } }, "messages%[1%]%.content must be a string")
    bad({ messages = { { role = "user", content = "a\0b" } } }, "NUL")
    bad({ temperature = "hot" }, "request%.temperature must be a number")
    bad({ seed = 1.5 }, "request%.seed must be an integer")
    bad({ max_tokens = 0 }, "request%.max_tokens")
    bad({ retries = -1 }, "request%.retries")
    bad({ timeout = 0 }, "request%.timeout")
    bad({ response_format = "json" }, "request%.response_format must be a table")
    -- raised after the request tree is half built: the sanitizer build checks nothing leaks
    bad({ response_format = { f = print } }, "request%.response_format")
    t.eq(#server:requests(), 0, "requests seen")
  end,
}
