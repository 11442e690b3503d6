-- An LLM as configured by flags and the environment: which provider, model and URL, and
-- the calls made to it, through the store's reply cache and the run's budget.
local hone = require("hone")

local M = {}
local Client = {}
Client.__index = Client

-- Wire format, default base URL and key variable of each provider. Keys come only from
-- the environment: flags end up in shell history and `ps`.
M.PROVIDERS = {
  openai = { format = "openai", url = "https://api.openai.com/v1", key_env = "OPENAI_API_KEY", needs_key = true },
  anthropic = { format = "anthropic", url = "https://api.anthropic.com/v1", key_env = "ANTHROPIC_API_KEY",
                needs_key = true },
  vllm = { format = "openai", url = "http://127.0.0.1:8000/v1", key_env = "OPENAI_API_KEY" },
  ollama = { format = "openai", url = "http://127.0.0.1:11434/v1", key_env = "OPENAI_API_KEY" },
  llamacpp = { format = "openai", url = "http://127.0.0.1:8080/v1", key_env = "OPENAI_API_KEY" },
}

M.HELP = "pass --llm PROVIDER:MODEL (openai, anthropic, vllm, ollama, llamacpp) or --llm-url URL " ..
  "and --model NAME, or set HONE_LLM (or HONE_LLM_URL / OPENAI_BASE_URL and HONE_LLM_MODEL); " ..
  "see README, 'Pointing hone at a model'"

local function provider_names()
  local names = {}
  for name in pairs(M.PROVIDERS) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, ", ")
end

local function set(v) return v ~= nil and v ~= "" end

-- "anthropic:claude-x" -> "anthropic", "claude-x". Model names may hold colons
-- ("ollama:qwen2.5:7b"), so only the first one splits.
function M.parse_llm(spec)
  local provider, model = spec:match("^([%w_]+):(.+)$")
  if not provider then
    return nil, string.format("--llm takes PROVIDER:MODEL, not '%s' (providers: %s)", spec, provider_names())
  end
  if not M.PROVIDERS[provider] then
    return nil, string.format("unknown LLM provider '%s' (known: %s)", provider, provider_names())
  end
  return provider, model
end

-- opts: flags {llm, llm_url, model} for the optimizer, or {task_llm, task_llm_url} when
-- role is "task"; getenv: os.getenv or a stand-in. Returns a config (never the key itself)
-- or nil, reason. A task without its own model uses the optimizer's (nil, nil here).
function M.resolve(opts, getenv, role)
  getenv = getenv or os.getenv
  local spec, url, model
  if role == "task" then
    spec, url = opts.task_llm or getenv("HONE_TASK_LLM"), opts.task_llm_url
    if not set(spec) and not set(url) then return nil, nil end
  else
    spec = opts.llm or getenv("HONE_LLM")
    url = opts.llm_url or getenv("HONE_LLM_URL")
    model = opts.model or getenv("HONE_LLM_MODEL")
  end
  local provider
  if set(spec) then
    local why
    provider, why = M.parse_llm(spec)
    if not provider then return nil, why end
    model = why
  else
    provider = "openai"
  end
  local p = M.PROVIDERS[provider]
  if not set(url) then
    if p.format == "openai" and not set(spec) then url = getenv("OPENAI_BASE_URL") end
    if p.format == "anthropic" then url = getenv("ANTHROPIC_BASE_URL") end
  end
  if not set(url) then
    if not set(spec) and not set(getenv("OPENAI_API_KEY")) then return nil, "no LLM endpoint: " .. M.HELP end
    url = p.url
    if p.needs_key and not set(getenv(p.key_env)) then
      return nil, string.format("no key for %s at %s: set $%s", provider, url, p.key_env)
    end
  end
  if not set(model) then return nil, "no model for " .. url .. ": " .. M.HELP end
  -- hone.llm refuses such a key at the first call; say it now, before a run starts
  local key = getenv(p.key_env)
  if key and key:find("%c") then
    return nil, string.format("$%s holds a control character (a line break?); fix the variable", p.key_env)
  end
  return { provider = provider, format = p.format, url = url, model = model, api_key_env = p.key_env }
end

-- config: from resolve, plus optional temperature, max_tokens, timeout, connect_timeout,
-- retries, backoff, seed.
-- opts: {trace (the store, for the cache), cache = "on"|"off"|"only", budget (hone.llm.budget),
--        concurrency (requests in flight in a batch), journal (a list every call's record is
--        appended to)}
-- A reply from the cache counts against the budget like a sent one, so a run stops at the
-- same step whether its replies came from the network or the cache (replay relies on it).
function M.new(config, opts)
  opts = opts or {}
  return setmetatable({
    config = config, trace = opts.trace, cache = opts.cache or "off", budget = opts.budget,
    concurrency = opts.concurrency or 8, journal = opts.journal or {},
  }, Client)
end

local PASSED = { "format", "url", "model", "api_key_env", "temperature", "max_tokens", "timeout",
  "connect_timeout", "retries", "backoff", "seed" }

function Client:request(messages)
  local request = { messages = messages, budget = self.budget }
  for _, k in ipairs(PASSED) do request[k] = self.config[k] end
  return request
end

local function record(r, purpose, config)
  local log = r.attempt_log and #r.attempt_log > 0 and hone.json.encode(r.attempt_log) or nil
  return {
    purpose = purpose, model = config.model, url = config.url, format = config.format,
    request = r.request, response = r.response, status = r.ok and "ok" or (r.kind or "error"),
    error = r.error, http_status = r.http_status, attempts = r.attempts,
    prompt_tokens = r.prompt_tokens, completion_tokens = r.completion_tokens,
    latency_ms = r.latency_ms, cache_key = r.key, cache_hit = r.cache_hit, attempt_log = log,
  }
end

-- A result as hone.llm would give it, from a cache row.
local function from_cache(row, prepared)
  return {
    ok = true, content = row.content, finish_reason = row.finish_reason, prompt_tokens = row.prompt_tokens,
    completion_tokens = row.completion_tokens, latency_ms = 0, attempts = 0, http_status = 0,
    format = prepared.format, url = prepared.url, key = prepared.key, request = prepared.body,
    response = row.response, cache_hit = true, attempt_log = {},
  }
end

-- Many calls at once; results in order, each with a `record` for the llm_calls table
-- (also appended to the journal).
function Client:batch(list, purpose)
  local results, misses, where = {}, {}, {}
  for i, messages in ipairs(list) do
    local req = self:request(messages)
    local row, prepared
    if self.cache ~= "off" and self.trace then
      prepared = hone.llm.prepare(req)
      row = self.trace:cache_get(prepared.key)
    end
    if row then
      results[i] = from_cache(row, prepared)
      if self.budget then
        local spent = self.budget:exhausted()
        if spent then
          results[i] = { ok = false, kind = "budget", error = spent, key = prepared.key, request = prepared.body,
                         prompt_tokens = 0, completion_tokens = 0, attempts = 0, latency_ms = 0 }
        else
          self.budget:charge(1, row.prompt_tokens, row.completion_tokens)
        end
      end
    elseif self.cache == "only" then
      results[i] = { ok = false, kind = "cache", key = prepared.key, request = prepared.body,
        error = "reply not in the cache (--llm-cache only never uses the network)",
        prompt_tokens = 0, completion_tokens = 0, attempts = 0, latency_ms = 0 }
    else
      misses[#misses + 1], where[#misses + 1] = req, i
    end
  end
  if #misses == 1 then
    results[where[1]] = hone.llm.chat(misses[1])
  elseif #misses > 1 then
    local rs = hone.llm.batch(misses, { concurrency = self.concurrency })
    for j, r in ipairs(rs) do results[where[j]] = r end
  end
  for j = 1, #misses do
    local r = results[where[j]]
    if r.ok and self.cache ~= "off" and self.trace then self.trace:cache_put(r, self.config.model) end
  end
  for i, r in ipairs(results) do
    r.record = record(r, purpose, self.config)
    self.journal[#self.journal + 1] = r.record
    results[i] = r
  end
  return results
end

-- One chat call; hone.llm.chat's result with a `record`.
function Client:chat(messages, purpose)
  return self:batch({ messages }, purpose)[1]
end

-- The records since the last drain, oldest first; the journal is emptied.
function Client:drain()
  local j = self.journal
  local out = table.move(j, 1, #j, 1, {})
  for i = #j, 1, -1 do j[i] = nil end
  return out
end

return M
