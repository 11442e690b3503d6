-- BIG-Bench Extra Hard (github.com/google-deepmind/bbeh), the paper's experience-batching
-- case: `hone run bbeh/dyck_languages`. The artifact is a prompt template (text, with
-- {question}) and an answer-extraction function (Lua, run in the sandbox); the task's own
-- model (--task-llm, else the optimizer's) answers each question, a split's questions all
-- sent at once. Splits in dataset order: 15 train, 10 validation, the rest test.
-- Data: $HONE_DATA/bbeh/NAME.json, else ~/.cache/hone/data/bbeh/ (`hone data bbeh` fetches it).
local hone = require("hone")
local data = require("hone.data")
local scoring = dofile(hone.root .. "/tasks/bbeh/scoring.lua")

local M = {}

M.variants = { "boardgame_qa", "boolean_expressions", "causal_understanding", "disambiguation_qa",
  "dyck_languages", "geometric_shapes", "hyperbaton", "linguini", "movie_recommendation" }

M.COMMIT = "80d12ca916b7158f22293fcf3144f4d3d854d4be"   -- the data's commit: runs compare
M.SIZES = { train = 15, validation = 10 }                 -- the rest is test
M.PLACEHOLDER = "{question}"
M.MAX_SHOWN = 1500   -- bytes of a question or reply shown to the optimizer (head and tail)
M.LIMITS = { memory = 32 * 1024 * 1024, instructions = 10000000, time = 1 }   -- per extraction

M.PROMPT = "Answer the question below. Think step by step, then end your reply with a last line of the form " ..
  "\"The answer is: ANSWER\".\n\n" .. M.PLACEHOLDER

M.EXTRACT = [[
function extract_answer(response)
  -- the text after the last "answer is", else the last line that is not blank
  local lower, from, at = response:lower(), nil, 1
  while true do
    local _, e = lower:find("answer is", at, true)
    if not e then break end
    from, at = e + 1, e + 1
  end
  local answer
  if from then
    answer = response:sub(from):match("^[%s:]*([^\n]*)")
  else
    for line in response:gmatch("[^\n]+") do
      if line:match("%S") then answer = line end
    end
  end
  return answer or ""
end]]

local known = {}
for _, name in ipairs(M.variants) do known[name] = true end

function M.url(name)
  return string.format("https://raw.githubusercontent.com/google-deepmind/bbeh/%s/bbeh/benchmark_tasks/" ..
    "bbeh_%s/task.json", M.COMMIT, name)
end

M.getenv = os.getenv   -- the environment the data folder is read from (tests give their own)

-- Where the data lives: $HONE_DATA, else the user's cache (hone.data.data_dir).
function M.data_dir(getenv)
  return data.data_dir(getenv or M.getenv)
end

function M.path(name, getenv)
  return M.data_dir(getenv) .. "/bbeh/" .. name .. ".json"
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- A task file's examples, or nil, reason.
local function parse(text, path)
  local file = hone.json.decode(text)
  local examples = type(file) == "table" and file.examples
  if type(examples) ~= "table" or #examples <= M.SIZES.train + M.SIZES.validation then
    return nil, path .. " is not a BBEH task file (a JSON object whose examples hold more than 25 " ..
      "{input, target})"
  end
  for i, ex in ipairs(examples) do
    if type(ex.input) ~= "string" or type(ex.target) ~= "string" then
      return nil, string.format("%s: example %d has no input and target texts", path, i)
    end
  end
  return examples
end

local loaded = {}

-- The dataset of one task, in its order: {id, input, expected}. Raises one line naming what to do.
function M.load(name, getenv)
  local path = M.path(name, getenv)
  if loaded[path] then return loaded[path] end
  local text = read(path)
  if not text then
    local dir, how = M.data_dir(getenv)
    error(string.format("no BBEH data for %s: %s is missing (%s is %s); run `hone data bbeh` to download " ..
      "the 9 tasks, or: curl -fsSL --create-dirs -o %s %s", name, path, how, dir, path, M.url(name)), 0)
  end
  local examples, why = parse(text, path)
  if not examples then error(why, 0) end
  local out = {}
  for i, ex in ipairs(examples) do out[i] = { id = i, input = ex.input, expected = ex.target } end
  loaded[path] = out
  return out
end

-- `hone data bbeh`: fetches every task file with curl into the data folder; files already
-- there and whole are kept. opts: {log = function(line), getenv, curl = command}.
function M.download(opts)
  opts = opts or {}
  local log = opts.log or print
  local q = function(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local failed = {}
  for _, name in ipairs(M.variants) do
    local path = M.path(name, opts.getenv)
    local text = read(path)
    if text and parse(text, path) then
      log(string.format("%-22s already in %s", name, path))
    else
      local part = path .. ".part"
      local ok = os.execute(string.format("%s -fsSL --retry 2 --create-dirs -o %s %s", opts.curl or "curl",
        q(part), q(M.url(name))))
      local examples, why = nil, "curl failed"
      if ok then examples, why = parse(read(part) or "", M.url(name)) end
      if examples and os.rename(part, path) then
        log(string.format("%-22s %d examples -> %s", name, #examples, path))
      else
        os.remove(part)
        failed[#failed + 1] = string.format("%s (%s)", name, why or "cannot write " .. path)
      end
    end
  end
  if #failed > 0 then
    error(string.format("could not fetch %s from %s", table.concat(failed, ", "), M.url("NAME")), 0)
  end
end

local function describe(err)
  return string.format("%s%s: %s", err.kind, err.line and (" at line " .. err.line) or "", err.message)
end

-- The prompt of one question: the template with the question in place of the placeholder.
function M.fill(template, question)
  local at = template:find(M.PLACEHOLDER, 1, true)
  return template:sub(1, at - 1) .. question .. template:sub(at + #M.PLACEHOLDER)
end

-- Scores a candidate on examples: every question sent to the task model at once (at most
-- --llm-concurrency in flight), then every reply through extract_answer in one sandbox.
-- A failed call or extraction scores that example 0 with its error; a candidate whose
-- extraction does not load, or loops or bloats, fails as a whole; so does an evaluation
-- whose every call failed (error_kind "llm": the loop counts the model as down).
function M.evaluate(artifact, examples, ctx, name)
  local template = artifact:block("prompt").code
  if not template:find(M.PLACEHOLDER, 1, true) then
    return { results = {}, error = "the prompt has no " .. M.PLACEHOLDER .. " for the question to go in",
             error_kind = "prompt" }
  end
  local sb <close> = hone.sandbox.lua.new(M.LIMITS)
  local ok, err = sb:load(artifact:block("extract_answer").code, "extract_answer")
  if not ok then return { results = {}, error = "extract_answer: " .. describe(err), error_kind = err.kind } end
  if #examples == 0 then return { results = {} } end
  if not ctx.llm then
    error(string.format("bbeh/%s answers its questions with a model: pass --task-llm PROVIDER:MODEL or --llm " ..
      "(see README, 'Pointing hone at a model')", name), 0)
  end
  local list = {}
  for i, ex in ipairs(examples) do list[i] = { { role = "user", content = M.fill(template, ex.input) } } end
  local replies = ctx.llm:batch(list, "task")
  local results, total, failed_calls, first_failure = {}, 0, 0, nil
  for i, ex in ipairs(examples) do
    local reply = replies[i]
    local r = { id = ex.id, input = scoring.clip(ex.input, M.MAX_SHOWN), expected = ex.expected, score = 0 }
    if not reply.ok then
      failed_calls = failed_calls + 1
      first_failure = first_failure or reply.error
      r.error, r.error_kind = "the model's call failed: " .. tostring(reply.error), "llm"
      r.feedback = "no reply; the expected answer is " .. ex.expected
    else
      r.output = scoring.clip(reply.content or "", M.MAX_SHOWN)
      local res = table.pack(sb:call("extract_answer", reply.content or ""))
      local answer = res[2]
      if not res[1] then
        if answer.kind == "timeout" or answer.kind == "memory" then
          return { results = results, error = string.format("extract_answer on example %d: %s", ex.id,
            describe(answer)), error_kind = answer.kind }
        end
        r.error, r.error_kind = "extract_answer: " .. describe(answer), answer.kind
        r.feedback = "the expected answer is " .. ex.expected
      elseif type(answer) ~= "string" and math.type(answer) == nil then
        r.error, r.error_kind = "extract_answer returned a " .. type(answer) .. ", not a string", "runtime"
        r.feedback = "the expected answer is " .. ex.expected
      else
        r.answer = tostring(answer)
        r.score, r.feedback = scoring.score(r.answer, ex.expected)
      end
    end
    total = total + r.score
    results[i] = r
  end
  if failed_calls == #examples then
    return { results = results, error = "the task model failed on every question: " .. tostring(first_failure),
             error_kind = "llm" }
  end
  return { score = total / #examples, results = results }
end

-- Staged feedback on a batch's mean score.
function M.stage(mean)
  if mean < 0.2 then
    return "Almost every answer is wrong: check that the replies end with an answer in the format the question " ..
      "asks for, and that extract_answer finds it."
  elseif mean < 0.5 then
    return "Fewer than half of the answers are right: look for what the wrong replies have in common."
  elseif mean < 0.8 then
    return "Most answers are right; the wrong ones show where the prompt or the extraction falls short."
  end
  return "Nearly every answer is right: keep what works, and make sure it holds for unseen questions."
end

function M.variant(name)
  if not known[name] then
    error(string.format("no BBEH task '%s' (tasks: %s)", tostring(name), table.concat(M.variants, ", ")), 0)
  end
  local task = {
    name = "bbeh/" .. name,
    instruction = string.format("Improve the prompt template and the answer-extraction function for the " ..
      "BIG-Bench Extra Hard task %s. A language model answers each question with the prompt (the question " ..
      "replaces %s); extract_answer(response) takes the final answer out of its reply, and that answer " ..
      "scores 1 if right and 0 if wrong (multiple choice: the last \"(X)\" in it; otherwise an exact match, " ..
      "ignoring case, spacing and a final period). The feedback shows training questions, the model's " ..
      "replies and, for wrong answers, the expected one. Make changes that help on unseen questions of this " ..
      "task, not only on these.", name, M.PLACEHOLDER),
    default_artifact = "default",
    starting_artifacts = { default = { language = "lua", blocks = {
      { name = "prompt", language = "text", must_contain = { M.PLACEHOLDER }, code = M.PROMPT,
        doc = "The prompt sent to the model for each question; " .. M.PLACEHOLDER .. " is replaced by the " ..
          "question's full text, which ends by saying what form the answer takes. The model's whole reply " ..
          "goes to extract_answer." },
      { name = "extract_answer", language = "lua", code = M.EXTRACT,
        doc = "extract_answer(response) -> string: the final answer in the model's reply (plain Lua, no " ..
          "libraries beyond string, table, math and utf8)." },
    } } },
    -- the paper: 15 updates whatever the batch size (B = 1, 3, 5 make 1, 3, 5 epochs of 15)
    defaults = { steps = 15, batch_size = 1 },
    params = { test_limit = 0 },   -- the first N test examples only (0: the whole test split)
    stage = M.stage,
  }

  function task.splits(_, params)
    local all = M.load(name)
    local train, validation = M.SIZES.train, M.SIZES.validation
    local limit = params and params.test_limit or 0
    local last = limit > 0 and math.min(#all, train + validation + limit) or #all
    return {
      train = table.move(all, 1, train, 1, {}),
      validation = table.move(all, train + 1, train + validation, 1, {}),
      test = table.move(all, train + validation + 1, last, 1, {}),
    }
  end

  function task.evaluate(artifact, examples, ctx) return M.evaluate(artifact, examples, ctx, name) end

  return task
end

return M
