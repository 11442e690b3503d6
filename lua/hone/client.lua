-- An LLM endpoint as configured by flags and the environment, and the calls made to it.
local hone = require("hone")

local M = {}
local Client = {}
Client.__index = Client

M.HELP = "pass --llm-url URL and --model NAME, or set HONE_LLM_URL (or OPENAI_BASE_URL) " ..
  "and HONE_LLM_MODEL; see README, 'Pointing hone at a model'"

-- opts: {llm_url, model} from flags; getenv: os.getenv or a stand-in.
-- Returns a config table (never the key itself) or nil, reason.
function M.resolve(opts, getenv)
  getenv = getenv or os.getenv
  local url = opts.llm_url or getenv("HONE_LLM_URL") or getenv("OPENAI_BASE_URL")
  if (url == nil or url == "") and (getenv("OPENAI_API_KEY") or "") ~= "" then
    url = "https://api.openai.com/v1"
  end
  if url == nil or url == "" then return nil, "no LLM endpoint: " .. M.HELP end
  local model = opts.model or getenv("HONE_LLM_MODEL")
  if model == nil or model == "" then return nil, "no model for " .. url .. ": " .. M.HELP end
  return { url = url, model = model, api_key_env = "OPENAI_API_KEY" }
end

-- config: from resolve, plus optional temperature, max_tokens, timeout, connect_timeout,
-- retries, backoff, seed.
function M.new(config)
  return setmetatable({ config = config }, Client)
end

local PASSED = { "url", "model", "api_key_env", "temperature", "max_tokens", "timeout",
  "connect_timeout", "retries", "backoff", "seed" }

-- One chat call; returns hone.llm.chat's result with a `record` for the llm_calls table.
function Client:chat(messages, purpose)
  local request = { messages = messages }
  for _, k in ipairs(PASSED) do request[k] = self.config[k] end
  local r = hone.llm.chat(request)
  r.record = {
    purpose = purpose, model = self.config.model, url = self.config.url,
    request = r.request, response = r.response, status = r.ok and "ok" or (r.kind or "error"),
    error = r.error, http_status = r.http_status, attempts = r.attempts,
    prompt_tokens = r.prompt_tokens, completion_tokens = r.completion_tokens,
    latency_ms = r.latency_ms,
  }
  return r
end

return M
