-- The optimizer: an OptoPrime-style learning context built from the artifact, the evidence
-- and the memory of past attempts; one LLM call; a tolerant parse of the reply into block
-- changes, each checked (syntax, signature) before anything runs; bounded retries with
-- the reason fed back.
local hone = require("hone")
local json = hone.json

local M = {}
local Optimizer = {}
Optimizer.__index = Optimizer

M.SYSTEM = [[You're tasked to solve a coding/algorithm problem. You will see the instruction, the code, the documentation of each function used in the code, and the feedback about the execution result.

Specifically, a problem will be composed of the following parts:
- #Instruction: the instruction which describes the things you need to do or the question you should answer.
- #Code: the code defined in the problem.
- #Documentation: the documentation of each function used in #Code.
- #Variables: the blocks of #Code that you may change, with their current values.
- #Constraints: the constraints on your changes.
- #Feedback: the feedback about the code's execution result on a batch of inputs.
- #Others: past attempts and other context.

Your goal is to improve the #Code by changing the #Variables so that the feedback improves. Reply with one JSON object and nothing else:
{"reasoning": "<your reasoning>", "answer": "", "suggestion": {"<variable name>": "<complete new code of that variable>"}}
In "suggestion", give the complete new code of every variable you change, as a JSON string. Do not change the names or signatures of functions.
]]

-- opts: {client, retries (extra attempts after an unusable reply, default 2)}
function M.new(opts)
  return setmetatable({ client = opts.client, retries = opts.retries or 2 }, Optimizer)
end

local function section(title, body)
  if body == nil or body == "" then return nil end
  return "#" .. title .. "\n" .. body
end

M.MAX_MEMORY_ERROR = 200   -- characters of a failed attempt's error in #Others

-- The user message of the learning context. args: {artifact, instruction, evidence,
-- memory = list of {step, score, changes, error}}.
function M.context(args)
  local a = args.artifact
  local docs, vars, fixed, sigs, kept = {}, {}, {}, {}, {}
  for _, b in ipairs(a.blocks) do
    if b.doc then docs[#docs + 1] = string.format("[%s] %s", b.signature or b.name, b.doc) end
    if b.editable then
      vars[#vars + 1] = string.format("(%s) %s:\n%s", b.language, b.name, b.code)
      if b.signature then sigs[#sigs + 1] = b.signature end
      if b.must_contain and #b.must_contain > 0 then
        kept[#kept + 1] = string.format("'%s' must contain: %s", b.name, table.concat(b.must_contain, ", "))
      end
    else
      fixed[#fixed + 1] = b.name
    end
  end
  local constraints = {}
  if #sigs > 0 then
    constraints[#constraints + 1] = "Keep these signatures exactly: " .. table.concat(sigs, ", ")
  end
  for _, k in ipairs(kept) do constraints[#constraints + 1] = k end
  if #fixed > 0 then
    constraints[#constraints + 1] = "These blocks are fixed and cannot change: " ..
      table.concat(fixed, ", ")
  end
  constraints[#constraints + 1] = "Suggest only names listed in #Variables: " ..
    table.concat(a:editable_names(), ", ")

  local others
  if args.memory and #args.memory > 0 then
    local past = { "Past attempts (feasible but not optimal):" }
    for _, m in ipairs(args.memory) do
      local changed = {}
      for name, code in pairs(m.changes) do changed[#changed + 1] = name .. ":\n" .. code end
      table.sort(changed)
      local outcome = m.score and ("score " .. string.format("%.4g", m.score)) or "failed"
      if m.error then   -- the first line of why, cut: the full error was in that step's feedback
        local why = m.error:match("^[^\n]*")
        if #why > M.MAX_MEMORY_ERROR then why = why:sub(1, M.MAX_MEMORY_ERROR) .. "..." end
        outcome = "failed: " .. why
      end
      past[#past + 1] = string.format("Attempt at step %d (%s):\n%s", m.step, outcome, table.concat(changed, "\n"))
    end
    others = table.concat(past, "\n\n")
  end

  -- An empty section is left out; ipairs would stop at it and drop the ones after.
  local all = table.pack(
    section("Instruction", args.instruction),
    section("Code", a:assemble()),
    section("Documentation", table.concat(docs, "\n")),
    section("Variables", table.concat(vars, "\n\n")),
    section("Constraints", "- " .. table.concat(constraints, "\n- ")),
    section("Feedback", args.evidence),
    section("Others", others))
  local parts = {}
  for i = 1, all.n do parts[#parts + 1] = all[i] end
  return table.concat(parts, "\n\n")
end

-- The JSON object in an LLM reply: the whole text, a fenced block, or the outermost braces.
local function find_object(text)
  local candidates = { text }
  for body in text:gmatch("```[%w_-]*%s*\n(.-)```") do candidates[#candidates + 1] = body end
  local first, last = text:find("{", 1, true), nil
  for i = #text, 1, -1 do
    if text:byte(i) == 125 then last = i break end   -- '}'
  end
  if first and last and last > first then candidates[#candidates + 1] = text:sub(first, last) end
  local first_err
  for _, c in ipairs(candidates) do
    local v, err = json.decode(c)
    if type(v) == "table" and not json.is_array(v) then return v end
    first_err = first_err or err
  end
  return nil, "the reply is not a JSON object" .. (first_err and (" (" .. first_err .. ")") or "")
end

M.ECHO_LIMIT = 8192   -- bytes of an unusable reply sent back with the reason

-- The head of an unusable reply, to send back with the reason: the model needs to see what
-- it wrote, not 10 MB of it (a context window would refuse the retry).
local function echo(text)
  if #text <= M.ECHO_LIMIT then return text end
  local cut = M.ECHO_LIMIT
  while cut > 0 and (text:byte(cut + 1) & 0xC0) == 0x80 do cut = cut - 1 end   -- whole characters
  return text:sub(1, cut) .. string.format("\n[... %d more bytes not repeated here]", #text - cut)
end

-- Code sent inside a fence ("```lua\n...\n```") is unwrapped.
local function unfence(code)
  local inner = code:match("^%s*```[%w_-]*%s*\n(.-)\n?```%s*$")
  return inner or code
end

local REASON_MAX = 1000

-- A reason as one line of at most REASON_MAX bytes: it quotes the reply (a block name, a
-- signature, a token the compiler stopped at), which may hold any byte and be of any length.
local function one_line(reason)
  reason = reason:gsub("%c", function(c) return "\\" .. c:byte() end)
  if #reason <= REASON_MAX then return reason end
  local cut = REASON_MAX - 3
  while cut > 0 and (reason:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end   -- not inside a character
  return reason:sub(1, cut) .. "..."
end

local function parse(text, artifact)
  if type(text) ~= "string" or text:match("^%s*$") then return nil, "the reply is empty" end
  -- Stray bytes would go into the candidate and, through it, into every later request.
  local valid, bad = utf8.len(text)
  if not valid then return nil, string.format("the reply is not valid UTF-8 (byte %d)", bad) end
  local obj, err = find_object(text)
  if not obj then return nil, err end
  local suggestion = obj.suggestion
  if suggestion == nil then suggestion = obj.suggestions end
  if type(suggestion) ~= "table" or json.is_array(suggestion) or next(suggestion) == nil then
    return nil, "the reply has no non-empty \"suggestion\" object"
  end
  local changes = {}
  for name, code in pairs(suggestion) do
    if type(name) ~= "string" then return nil, "suggestion keys must be variable names" end
    if type(code) ~= "string" then
      return nil, string.format("the suggestion for '%s' must be a string of code", name)
    end
    code = unfence(code)
    local ok, why = artifact:check(name, code)
    if not ok then return nil, why end
    if code ~= artifact:block(name).code then changes[name] = code end
  end
  if next(changes) == nil then return nil, "the suggestion changes nothing" end
  local reasoning = obj.reasoning
  if type(reasoning) ~= "string" then
    -- JSON the decoder takes but the encoder refuses (nested deeper than 500, 1e999) is
    -- the model's oddity, not a reason to lose a usable proposal.
    local ok, encoded = pcall(json.encode, reasoning or "")
    reasoning = ok and encoded or ("(the reasoning could not be kept: " .. tostring(encoded) .. ")")
  end
  return changes, reasoning
end

-- Parses an LLM reply against artifact. Returns changes (name -> code), reasoning; or
-- nil, reason (one line of at most 1000 bytes, fit to be fed back to the LLM). Never raises
-- for any text (fuzz/proposal.c holds it to this).
function M.parse(text, artifact)
  local changes, reasoning = parse(text, artifact)
  if changes == nil then return nil, one_line(reasoning) end
  return changes, reasoning
end

-- Asks for a proposal. Returns {changes, reasoning, calls = {call records}, error, fault}
-- where fault is "llm" (the endpoint failed) or "reply" (no usable reply) when changes is nil.
function Optimizer:propose(args)
  local messages = {
    { role = "system", content = M.SYSTEM },
    { role = "user", content = M.context(args) },
  }
  local calls = {}
  for attempt = 1, self.retries + 1 do
    local r = self.client:chat(messages, "optimizer")
    calls[#calls + 1] = r.record
    if not r.ok then
      return { calls = calls, error = "LLM call failed: " .. tostring(r.error), fault = "llm" }
    end
    local changes, reasoning = M.parse(r.content, args.artifact)
    if changes then
      return { changes = changes, reasoning = reasoning, calls = calls }
    end
    local why = reasoning
    r.record.proposal_error = why
    if attempt > self.retries then
      return { calls = calls, error = "no usable proposal: " .. why, fault = "reply" }
    end
    messages[#messages + 1] = { role = "assistant", content = echo(r.content) }
    messages[#messages + 1] = { role = "user", content =
      "Your reply could not be used: " .. why .. "\nReply again with only the JSON object " ..
      "{\"reasoning\": ..., \"answer\": \"\", \"suggestion\": {...}} whose suggestion keys are " ..
      "among: " .. table.concat(args.artifact:editable_names(), ", ") .. "." }
  end
end

return M
