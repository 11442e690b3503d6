-- The paper's first case study, the starting artifact: a Python machine-learning pipeline for a
-- Kaggle competition (MLAgentBench), optimized from its validation scores.
--   hone run mlbench/house_prices [--artifact many_function] [--set cv=5 --jobs 5]
--   hone run mlbench/spaceship_titanic
-- The labelled rows of the competition's train.csv are cut once (fixed seed): 20% held-out
-- test, never inside a program the optimizer's feedback comes from nor in anything sent to the
-- LLM; the rest 80/20 into train and validation (or, with cv = K, K folds). A candidate is a
-- Python program (tasks/mlbench/pipelines.lua) run in the process sandbox: trained on the
-- train rows, it predicts the validation rows, whose labels it never sees; the task scores
-- the predictions. The optimizer is shown those validation metrics (as in the paper), their
-- staged band, the trend since its last change and the program's output; the loop keeps
-- the best on validation; each candidate's held-out test score (retrained on train +
-- validation) is recorded only. At the end the best candidate, retrained on train +
-- validation, predicts Kaggle's test.csv: submission.csv.
-- Data: $HONE_DATA/kaggle/{house-prices,spaceship-titanic}/{train,test}.csv, else
-- ~/.cache/hone/data/kaggle/...; `hone data mlbench` fetches them.
local hone = require("hone")
local data = require("hone.data")
local pipelines = dofile(hone.root .. "/tasks/mlbench/pipelines.lua")
local tabular = dofile(hone.root .. "/tasks/mlbench/tabular.lua")

local M = {}

M.variants = { "house_prices", "spaceship_titanic" }

-- A public copy of the Kaggle files (the paper's data; Kaggle itself needs an account).
M.COMMIT = "6888b89ac1a576a97b635a673034898641e26875"
M.MIRROR = "https://raw.githubusercontent.com/AbhinavAkkiraju/data-science-agent/" .. M.COMMIT

M.HOLDOUT = 0.2      -- of the labelled rows: the held-out test split
M.VALIDATION = 0.2   -- of the rest: validation (the other 80% train)
M.SPLIT_SEED = 2024  -- the cut is the same in every run, so runs compare
M.SAMPLE_SEED = 11   -- which rows `sample` keeps
M.OUTPUT = 1024 * 1024   -- bytes of stdout and of stderr a program may print
M.LOG_TAIL = 1500        -- bytes of a program's output shown to the optimizer
M.ERROR_LINES, M.ERROR_TAIL = 25, 3000   -- of a failure's traceback
M.MIB = 1024 * 1024

M.COMPETITIONS = {
  house_prices = {
    folder = "house-prices", kaggle = "house-prices-advanced-regression-techniques",
    title = "House Prices - Advanced Regression Techniques", id = "Id", target = "SalePrice",
    kind = "regression", unit = "houses", metric = "RMSE of log(SalePrice)", higher_is_better = false,
    what = "predict the sale price (SalePrice, in dollars) of houses in Ames, Iowa, from 79 features",
    returns = "one predicted price in dollars per row of test_data",
  },
  spaceship_titanic = {
    folder = "spaceship-titanic", kaggle = "spaceship-titanic",
    title = "Spaceship Titanic", id = "PassengerId", target = "Transported",
    kind = "classification", unit = "passengers", metric = "accuracy", higher_is_better = true,
    what = "predict which passengers of the Spaceship Titanic were transported to another dimension " ..
      "(Transported, True or False) from their records",
    returns = "one True/False per row of test_data",
  },
}

local known = {}
for _, name in ipairs(M.variants) do known[name] = true end

M.getenv = os.getenv   -- the environment the data folder is read from (tests give their own)

-- Where the data lives: $HONE_DATA, else the user's cache (hone.data.data_dir).
function M.data_dir(getenv)
  return data.data_dir(getenv or M.getenv)
end

function M.folder(name, getenv)
  return M.data_dir(getenv) .. "/kaggle/" .. M.COMPETITIONS[name].folder
end

function M.url(name, file)
  return string.format("%s/%s/data/%s", M.MIRROR, M.COMPETITIONS[name].folder, file)
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Checks a competition file's text; returns header, rows or nil, reason.
local function parse(name, file, text, where)
  local c = M.COMPETITIONS[name]
  local ok, header, rows = pcall(tabular.parse, text, where)
  if not ok then return nil, header end
  local need = file == "train.csv" and { c.id, c.target } or { c.id }
  for _, col in ipairs(need) do
    if not tabular.index(header, col) then return nil, string.format("%s has no column %s", where, col) end
  end
  if file == "test.csv" and tabular.index(header, c.target) then
    return nil, where .. " holds the target " .. c.target .. ": it is not Kaggle's test.csv"
  end
  if #rows < 100 then return nil, string.format("%s has only %d rows", where, #rows) end
  return header, rows
end

local loaded = {}

-- A competition's data: {header, rows, labels, id (column index), target (column index),
-- test = {header, rows, path}}. Raises one line naming what to do when it is missing.
function M.load(name, getenv)
  local dir = M.folder(name, getenv)
  if loaded[dir] then return loaded[dir] end
  local c = M.COMPETITIONS[name]
  local files = {}
  for _, file in ipairs({ "train.csv", "test.csv" }) do
    local path = dir .. "/" .. file
    local text = read(path)
    if not text then
      local root, how = M.data_dir(getenv)
      error(string.format("no Kaggle data for %s: %s is missing (%s is %s); run `hone data mlbench` to download " ..
        "both competitions' train.csv and test.csv (from a public copy on GitHub), or download them from Kaggle " ..
        "(an account that accepted the competition's rules: kaggle competitions download -c %s) and put " ..
        "train.csv and test.csv in %s", name, path, how, root, c.kaggle, dir), 0)
    end
    local header, rows = parse(name, file, text, path)
    if not header then error(rows, 0) end
    files[file] = { header = header, rows = rows, path = path }
  end
  local train = files["train.csv"]
  local ds = { header = train.header, rows = train.rows, labels = {}, test = files["test.csv"],
               id = tabular.index(train.header, c.id), target = tabular.index(train.header, c.target) }
  for i, r in ipairs(ds.rows) do
    local v = r[ds.target]
    local label
    if c.kind == "regression" then
      label = tonumber(v)
      if not label or label <= 0 then label = nil end
    elseif v == "True" or v == "False" then
      label = v == "True"
    end
    if label == nil then
      error(string.format("%s/train.csv: row %d has %s = '%s', not a %s", dir, i, c.target, v,
        c.kind == "regression" and "positive number" or "True or False"), 0)
    end
    ds.labels[i] = label
  end
  loaded[dir] = ds
  return ds
end

-- `hone data mlbench`: fetches both competitions' train.csv and test.csv with curl into the
-- data folder; files already there and whole are kept. opts: {log, getenv, curl}.
function M.download(opts)
  opts = opts or {}
  local log = opts.log or print
  local q = function(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local failed = {}
  for _, name in ipairs(M.variants) do
    for _, file in ipairs({ "train.csv", "test.csv" }) do
      local path = M.folder(name, opts.getenv) .. "/" .. file
      local text = read(path)
      local label = string.format("%s %s", name, file)
      if text and parse(name, file, text, path) then
        log(string.format("%-28s already in %s", label, path))
      else
        local part = path .. ".part"
        local ok = os.execute(string.format("%s -fsSL --retry 2 --create-dirs -o %s %s", opts.curl or "curl",
          q(part), q(M.url(name, file))))
        local rows, why = nil, "curl failed"
        if ok then
          local header
          header, rows = parse(name, file, read(part) or "", M.url(name, file))
          if not header then why = rows rows = nil end
        end
        if rows and os.rename(part, path) then
          log(string.format("%-28s %d rows -> %s", label, #rows, path))
        else
          os.remove(part)
          failed[#failed + 1] = string.format("%s (%s)", label, why or "cannot write " .. path)
        end
      end
    end
  end
  if #failed > 0 then
    error(string.format("could not fetch %s from %s", table.concat(failed, ", "), M.MIRROR), 0)
  end
end

-- The fixed cut of n labelled rows (row indexes, each list in file order): test, rest (train
-- and validation), train, validation, and folds[k] (cv = K) over rest. sample > 0 keeps that
-- many rows first.
function M.split(n, params)
  local all = {}
  for i = 1, n do all[i] = i end
  local sample = params.sample or 0
  if sample > 0 and sample < n then
    all = table.move(data.shuffle(all, data.rng(M.SAMPLE_SEED)), 1, sample, 1, {})
  end
  local order = data.shuffle(all, data.rng(M.SPLIT_SEED))
  local n_test = math.floor(#order * M.HOLDOUT + 0.5)
  local rest_n = #order - n_test
  local n_train = rest_n - math.floor(rest_n * M.VALIDATION + 0.5)
  local parts = data.cut(order, { "test", "train" }, { test = n_test, train = n_train }, "validation")
  parts.rest = table.move(order, n_test + 1, #order, 1, {})
  parts.folds = {}
  local k = params.cv or 0
  for i, row in ipairs(parts.rest) do
    if k > 0 then
      local f = (i - 1) % k + 1
      parts.folds[f] = parts.folds[f] or {}
      table.insert(parts.folds[f], row)
    end
  end
  for _, list in pairs({ parts.test, parts.rest, parts.train, parts.validation, table.unpack(parts.folds) }) do
    table.sort(list)
  end
  return parts
end

local function check_params(p)
  local function whole(key, lo)
    local v = p[key]
    if math.tointeger(v) == nil or v < lo then
      error(string.format("mlbench: %s must be a whole number >= %d, not %s", key, lo, tostring(v)), 0)
    end
  end
  if p.cv ~= 0 and (math.tointeger(p.cv) == nil or p.cv < 2 or p.cv > 20) then
    error("mlbench: cv is 0 (one train/validation split) or the number of folds, 2..20; not " .. tostring(p.cv), 0)
  end
  if p.sample ~= 0 then whole("sample", 50) end
  whole("memory_limit", 256)
  whole("threads", 1)
  if type(p.time_limit) ~= "number" or p.time_limit <= 0 then
    error("mlbench: time_limit is the seconds a program may run, > 0; not " .. tostring(p.time_limit), 0)
  end
end

-- The environment of every program: one thread per library unless told otherwise (runs are
-- reproducible and side by side), a fixed hash seed, no bytecode files, no display.
local function environment(p)
  local t = tostring(p.threads)
  return { OMP_NUM_THREADS = t, OPENBLAS_NUM_THREADS = t, MKL_NUM_THREADS = t, LOKY_MAX_CPU_COUNT = t,
           PYTHONHASHSEED = "0", PYTHONDONTWRITEBYTECODE = "1", MPLBACKEND = "Agg" }
end

-- A python outside /usr (a venv) is shown read-only with its folder, e.g. /opt/venv/bin/python -> /opt/venv.
local function readable(python)
  if python:sub(1, 1) ~= "/" or python:match("^/usr/") or python:match("^/bin/") then return nil end
  local root = python:match("^(.*)/[^/]+/[^/]+$")
  return root and root ~= "" and { root } or nil
end

local PYTHON_ENV = [[
import importlib.metadata as md, importlib.util as util, json, sys
found = {}
for module, dist in [("numpy", "numpy"), ("pandas", "pandas"), ("sklearn", "scikit-learn"), ("scipy", "scipy"),
                     ("xgboost", "xgboost"), ("lightgbm", "lightgbm"), ("catboost", "catboost")]:
    if util.find_spec(module) is not None:
        try:
            found[dist] = md.version(dist)
        except Exception:
            found[dist] = "?"
print(json.dumps({"python": sys.version.split()[0], "packages": found}))
]]

local environments = {}

-- What the programs run with: {python = version, packages = {name = version}}; raises a line
-- naming what to install when numpy, pandas or scikit-learn is missing.
function M.python_env(p)
  if environments[p.python] then return environments[p.python] end
  local r = hone.sandbox.exec.run({ argv = { p.python, "-c", PYTHON_ENV }, time = 60, env = environment(p),
    readable = readable(p.python) })
  local env = r.ok and hone.json.decode((r.stdout or ""):match("[^\n]+") or "")
  if type(env) ~= "table" then
    error(string.format("mlbench: cannot run %s in the process sandbox (%s); set --set python=PATH", p.python,
      tostring(r.message)), 0)
  end
  local missing = {}
  for _, dist in ipairs({ "numpy", "pandas", "scikit-learn" }) do
    if not env.packages[dist] then missing[#missing + 1] = dist end
  end
  if #missing > 0 then
    error(string.format("mlbench: %s has no %s; on Debian `make deps` installs python3-sklearn, python3-pandas " ..
      "and python3-xgboost; or point --set python=PATH at a Python that has them", p.python,
      table.concat(missing, ", ")), 0)
  end
  environments[p.python] = env
  return env
end

-- "RMSE of log(SalePrice) 0.1245 (lower is better), r2 0.888, mean absolute error $17,982"
local function metric_text(c, m, short)
  if c.kind == "regression" then
    local s = string.format("%s %.4f%s, r2 %.3f, mean absolute error $%s", short and "RMSE" or c.metric, m.rmse,
      short and "" or " (lower is better)", m.r2, tabular.thousands(math.floor(m.mae + 0.5)))
    if (m.clipped or 0) > 0 then s = s .. string.format(" (%d predictions below $1 counted as $1)", m.clipped) end
    return s
  end
  return string.format("accuracy %.4f%s, F1 %.4f (precision %.4f, recall %.4f)", m.accuracy,
    short and "" or " (higher is better)", m.f1, m.precision, m.recall)
end

-- The paper's staged feedback: House Prices by r2 (<= 0, < 0.5, < 0.7, >= 0.7), Spaceship
-- Titanic by F1 (< 0.5, < 0.7, < 0.8, >= 0.8), on validation.
function M.band(c, m)
  if c.kind == "regression" then
    local r2 = m.r2
    if r2 <= 0 then
      return "The model predicts worse than the mean price: check the target (prices in dollars; fitting " ..
        "log(SalePrice) helps), the features and the preprocessing."
    elseif r2 < 0.5 then
      return "The model explains less than half of the variation in log prices: use more features (overall " ..
        "quality, living area, neighborhood, garage, basement), impute missing values and encode the categorical " ..
        "columns."
    elseif r2 < 0.7 then
      return "The model has the main effects but misses much: engineer features (total area, age, bathrooms), " ..
        "correct skewed columns, and try gradient-boosted trees or a regularized linear model on log(SalePrice)."
    end
    return "The model fits well: gains now come from careful feature engineering, outliers, tuning and ensembling " ..
      "(e.g. averaging a linear model and gradient boosting); beware of fitting the noise of the validation rows."
  end
  local f1 = m.f1
  if f1 < 0.5 then
    return "The classifier misses most transported passengers: use the informative columns (CryoSleep, the " ..
      "spending, HomePlanet, Cabin) and make sure every row gets a True/False prediction."
  elseif f1 < 0.7 then
    return "Better than chance but weak: encode the categorical columns, split Cabin into deck, number and side, " ..
      "add total spending, and try a tree ensemble."
  elseif f1 < 0.8 then
    return "A solid model: improve it with feature engineering (groups from PassengerId, cabin deck and side, " ..
      "spending totals), tuned gradient boosting and ensembling."
  end
  return "Excellent: refine with careful tuning and ensembling, and guard against overfitting the validation rows."
end

local function mean_metrics(c, list)
  local keys = c.kind == "regression" and { "rmse", "r2", "mae", "clipped" } or
    { "accuracy", "f1", "precision", "recall" }
  local out = {}
  for _, k in ipairs(keys) do
    local s = 0
    for _, m in ipairs(list) do s = s + (m[k] or 0) end
    out[k] = s / #list
  end
  out.clipped = out.clipped and math.floor(out.clipped * #list + 0.5)
  return out
end

-- The last lines of text, at most max bytes, starting at a line.
local function tail(text, lines, max)
  local all = {}
  for line in (text or ""):gmatch("[^\n]+") do
    if #line > 500 then line = line:sub(1, 500) .. " ..." end
    all[#all + 1] = line
  end
  local from, size = #all + 1, 0
  while from > 1 and #all - from + 1 < lines and size + #all[from - 1] + 1 <= max do
    from = from - 1
    size = size + #all[from] + 1
  end
  local kept = table.concat(all, "\n", from, #all)
  if from > 1 then kept = string.format("[... %d earlier lines]\n%s", from - 1, kept) end
  return kept
end

-- Program output as the optimizer reads it: the work dir's path dropped, and lines of the
-- program named by their block ("pipeline.py", line 57 (train_model, line 12)).
local function readable_output(text, artifact)
  local function at(n)
    local block, line = artifact:where(tonumber(n))
    return block and string.format(" (%s, line %d)", block, line) or ""
  end
  text = text:gsub('File "[^"\n]*pipeline%.py", line (%d+)', function(n)
    return string.format('File "pipeline.py", line %s%s', n, at(n))
  end)
  text = text:gsub('[^%s"\']*/pipeline%.py:(%d+):', function(n) return string.format("pipeline.py:%s%s:", n, at(n)) end)
  return text
end

-- A failed program: error (first line what happened, then the tail of its stderr), error kind.
local function failure(r, artifact, p)
  local stderr = readable_output(r.stderr or "", artifact)
  local t = tail(stderr, M.ERROR_LINES, M.ERROR_TAIL)
  local head, kind
  if r.kind == "timeout" then
    head, kind = string.format("timeout: the pipeline ran past time_limit = %s s and was stopped", p.time_limit),
      "timeout"
  elseif r.kind == "memory" then
    head, kind = string.format("memory: the pipeline ran out of memory (memory_limit = %d MiB)", p.memory_limit),
      "memory"
  elseif r.kind == "output" then
    head, kind = string.format("output: the pipeline printed more than %d KiB to %s and was stopped", M.OUTPUT // 1024,
      r.stdout_truncated and "stdout" or "stderr"), "output"
    if not r.stderr_truncated then t = "" end   -- a flood on stdout: its stderr says nothing
  elseif r.kind == "exit" then
    local last = stderr:match("([^\n]*%S[^\n]*)\n*$")
    head, kind = last or r.message, "runtime"
  elseif r.kind == "signal" then
    head, kind = "the pipeline was killed: " .. tostring(r.message), "signal"
  else
    head, kind = "the pipeline could not be started: " .. tostring(r.message), r.kind or "setup"
  end
  if t ~= "" and t ~= head then head = head .. "\n" .. t end
  return head, kind
end

-- The predictions in a program's result line, checked against what the task expects.
local function predictions(stdout, c, n)
  local line
  for l in (stdout or ""):gmatch("[^\n]+") do
    if l:sub(1, #pipelines.RESULT) == pipelines.RESULT then line = l end
  end
  if not line then
    return nil, "the pipeline ended without printing its result (did it exit early, e.g. with sys.exit()?)"
  end
  local v = hone.json.decode(line:sub(#pipelines.RESULT + 1))
  local p = type(v) == "table" and v.predictions
  if type(p) ~= "table" or #p ~= n then
    return nil, string.format("the result line must hold %d predictions", n)
  end
  for i = 1, n do
    local ok = c.kind == "regression" and type(p[i]) == "number" or type(p[i]) == "boolean"
    if not ok then return nil, string.format("prediction %d is not a %s", i, c.kind == "regression" and
      "number" or "boolean") end
  end
  return p
end

-- What the program printed, less the result line, for the feedback.
local function output_log(r, artifact)
  local out = {}
  for l in (r.stdout or ""):gmatch("[^\n]+") do
    if l:sub(1, #pipelines.RESULT) ~= pipelines.RESULT then out[#out + 1] = l end
  end
  local text = table.concat(out, "\n")
  local err = readable_output(r.stderr or "", artifact)
  if err:match("%S") then text = text .. (text ~= "" and "\n" or "") .. err end
  return tail(text, 30, M.LOG_TAIL)
end

function M.variant(name)
  if not known[name] then
    error(string.format("no mlbench task '%s' (tasks: %s)", tostring(name), table.concat(M.variants, ", ")), 0)
  end
  local c = M.COMPETITIONS[name]
  local st = {}         -- set by splits(): data, parts, params, files per protocol
  local memo = {}       -- split .. "\0" .. program -> {record, taken}
  local task = {
    name = "mlbench/" .. name,
    instruction = "(set when the data is loaded)",
    default_artifact = "one_function",
    starting_artifacts = pipelines.artifacts(name),
    metric = c.metric, higher_is_better = c.higher_is_better,
    episodic = false,     -- experience() is the validation evaluation, not a rollout: no horizon
    -- the paper: 20 steps, memory 5, every candidate that runs is taken
    defaults = { steps = 20, batch_size = 1, accept = "always" },
    params = {
      cv = 0,               -- 0: one train/validation split; K: K-fold cross-validation over train + validation
      sample = 0,           -- keep only this many labelled rows (0: all), e.g. for quick tries and tests
      time_limit = 600,     -- seconds per program (each fold, the test, the submission)
      memory_limit = 4096,  -- MiB of address space per program
      threads = 1,          -- threads per program (OMP_NUM_THREADS and the like)
      python = "/usr/bin/python3",   -- Debian's, with python3-sklearn, -pandas, -xgboost
      submission = "",      -- where submission.csv goes ("" = hone-runs/RUN/submission.csv; "off": none)
    },
  }

  -- The programs of one split: {label, fit (row indexes), predict (row indexes)}.
  local function protocol(split)
    local parts, p = st.parts, st.params
    if split == "test" then return { { label = "test", fit = parts.rest, predict = parts.test } } end
    if p.cv > 0 then
      local list = {}
      for k = 1, p.cv do
        local fit = {}
        for j = 1, p.cv do
          if j ~= k then table.move(parts.folds[j], 1, #parts.folds[j], #fit + 1, fit) end
        end
        table.sort(fit)
        list[k] = { label = "fold " .. k, fit = fit, predict = parts.folds[k] }
      end
      return list
    end
    return { { label = "validation", fit = parts.train, predict = parts.validation } }
  end

  -- The files of a fit: train.csv with its labels, test.csv without (made once per protocol).
  local files = {}
  local function fit_files(fit)
    local key = fit.label
    if not files[key] then
      local ds = st.ds
      files[key] = { train = tabular.write(ds.header, ds.rows, fit.fit),
                     test = tabular.write(ds.header, ds.rows, fit.predict, ds.target) }
    end
    return files[key]
  end

  local function spec(program, train_csv, test_csv)
    local p = st.params
    return { argv = { p.python, "pipeline.py" }, time = p.time_limit, memory = p.memory_limit * M.MIB,
             output = M.OUTPUT, env = environment(p), readable = readable(p.python),
             files = { ["pipeline.py"] = { text = program }, ["train.csv"] = { text = train_csv },
                       ["test.csv"] = test_csv } }
  end

  -- One program's outcome on one fit: {label, metrics, score, log} or {label, error, error_kind}.
  local function outcome(r, fit, artifact)
    local o = { label = fit.label, cpu_s = r.cpu_s, max_rss_kb = r.max_rss_kb }
    if not r.ok then
      o.error, o.error_kind = failure(r, artifact, st.params)
      return o
    end
    local p, why = predictions(r.stdout, c, #fit.predict)
    if not p then
      o.error, o.error_kind = why .. "\n" .. output_log(r, artifact), "result"
      return o
    end
    local truth = {}
    for i, row in ipairs(fit.predict) do truth[i] = st.ds.labels[row] end
    o.metrics = c.kind == "regression" and tabular.regression(p, truth) or tabular.classification(p, truth)
    o.score = c.kind == "regression" and o.metrics.rmse or o.metrics.accuracy
    o.log = output_log(r, artifact)
    return o
  end

  -- The evaluation record of a split from its programs' outcomes.
  local function record(fits, outcomes)
    local rec = { results = {}, cpu_s = 0, max_rss_kb = 0 }
    local metrics = {}
    for i, o in ipairs(outcomes) do
      local fit = fits[i]
      rec.cpu_s = rec.cpu_s + (o.cpu_s or 0)
      rec.max_rss_kb = math.max(rec.max_rss_kb, o.max_rss_kb or 0)
      local r = { id = fit.label, input = string.format("trained on %d rows, predicting %d rows", #fit.fit,
        #fit.predict), score = o.score, metrics = o.metrics, log = o.log }
      if o.error then
        r.error, r.error_kind = o.error, o.error_kind
        if not rec.error then
          rec.error = (#fits > 1 and (fit.label .. ": ") or "") .. o.error
          rec.error_kind = o.error_kind
        end
      else
        r.output = metric_text(c, o.metrics)
        r.feedback = M.band(c, o.metrics)
        metrics[#metrics + 1] = o.metrics
      end
      rec.results[i] = r
    end
    rec.examples = 0
    for _, fit in ipairs(fits) do rec.examples = rec.examples + #fit.predict end
    if not rec.error then
      rec.metrics = mean_metrics(c, metrics)
      rec.score = c.kind == "regression" and rec.metrics.rmse or rec.metrics.accuracy
    end
    return rec
  end

  -- Evaluates artifact on a split ("validation", "test"; "train" means validation: that is
  -- what the optimizer is shown). Each program's outcome is kept, so the same program on the
  -- same split runs once per run; a repeat returns a copy without the CPU and memory figures
  -- (recorded once). With jobs > 1 a validation also runs the held-out test alongside, for
  -- the loop asks for it next.
  local function evaluate(artifact, split, ctx)
    if split == "train" then split = "validation" end
    local program = artifact:assemble()
    local function take(s)
      local m = memo[s .. "\0" .. program]
      local copy = {}
      for k, v in pairs(m.record) do copy[k] = v end
      if m.taken then copy.cpu_s, copy.max_rss_kb = nil, nil end
      m.taken = true
      return copy
    end
    if memo[split .. "\0" .. program] then return take(split) end
    local wanted = { split }
    local jobs = ctx.jobs or 1
    if split == "validation" and jobs > 1 and ctx.params.test_every_step ~= false and
        not memo["test\0" .. program] then
      wanted[2] = "test"
    end
    local specs, owners = {}, {}
    local fits = {}
    for _, s in ipairs(wanted) do
      fits[s] = protocol(s)
      for i, fit in ipairs(fits[s]) do
        local f = fit_files(fit)
        specs[#specs + 1] = spec(program, f.train, { text = f.test })
        owners[#specs] = { s, i }
      end
    end
    local results = hone.sandbox.exec.run_many(specs, { jobs = jobs })
    local outcomes = {}
    for k, r in ipairs(results) do
      local s, i = owners[k][1], owners[k][2]
      outcomes[s] = outcomes[s] or {}
      outcomes[s][i] = outcome(r, fits[s][i], artifact)
    end
    for _, s in ipairs(wanted) do memo[s .. "\0" .. program] = { record = record(fits[s], outcomes[s]) } end
    return take(split)
  end

  function task.splits(_, params)
    check_params(params)
    local ds = M.load(name)
    local parts = M.split(#ds.rows, params)
    st.ds, st.parts, st.params = ds, parts, params
    st.env = M.python_env(params)
    task.instruction = M.instruction_text(c, ds, parts, params, st.env)
    local function examples(list)
      local out = {}
      for i, row in ipairs(list) do out[i] = { id = ds.rows[row][ds.id], row = row } end
      return out
    end
    return { train = examples(parts.train), validation = examples(params.cv > 0 and parts.rest or parts.validation),
             test = examples(parts.test) }
  end

  function task.evaluate(artifact, _, ctx) return evaluate(artifact, ctx.split, ctx) end

  -- What the optimizer sees each update: the current pipeline's validation result (as in the
  -- paper), its band, the trend since the last change and what the program printed.
  function task.experience(artifact, opts)
    local rec = evaluate(artifact, "validation", opts)
    rec.evidence = M.feedback(c, rec, opts, st)
    rec.again = function(candidate) return evaluate(candidate, "validation", opts) end
    return rec
  end

  -- The best candidate retrained on train + validation predicts Kaggle's test.csv.
  function task.finish(artifact, ctx)
    local p = st.params
    if p.submission == "off" then return nil end
    local path = p.submission ~= "" and p.submission or string.format("hone-runs/%d/submission.csv", ctx.run_id)
    local ds = st.ds
    local program = artifact:assemble()
    local r = hone.sandbox.exec.run(spec(program, tabular.write(ds.header, ds.rows, st.parts.rest), ds.test.path))
    local fit = { label = "submission", fit = st.parts.rest, predict = ds.test.rows }
    local preds, why
    if r.ok then
      preds, why = predictions(r.stdout, c, #ds.test.rows)
    else
      why = failure(r, artifact, p)
    end
    if not preds then
      return { message = string.format("no submission: candidate %d failed on Kaggle's test.csv: %s", ctx.candidate_id,
        why:match("^[^\n]*")), data = { error = why, cpu_s = r.cpu_s } }
    end
    local lines = { c.id .. "," .. c.target }
    local id = tabular.index(ds.test.header, c.id)
    for i, row in ipairs(ds.test.rows) do
      local v = preds[i]
      local value = c.kind == "regression" and string.format("%.2f", v) or (v and "True" or "False")
      lines[i + 1] = row[id] .. "," .. value
    end
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'") end
    local f = io.open(path .. ".part", "wb")
    local ok = f and f:write(table.concat(lines, "\n"), "\n") and f:close() and os.rename(path .. ".part", path)
    if not ok then
      os.remove(path .. ".part")
      return { message = "no submission: cannot write " .. path, data = { error = "cannot write " .. path } }
    end
    return {
      message = string.format("submission %s: %d rows of Kaggle's test.csv predicted by candidate %d, retrained on " ..
        "the %d labelled rows outside the held-out test", path, #ds.test.rows, ctx.candidate_id, #fit.fit),
      data = { path = path, rows = #ds.test.rows, fit_rows = #fit.fit, cpu_s = r.cpu_s, max_rss_kb = r.max_rss_kb },
    }
  end

  return task
end

local function fmt_score(v) return string.format("%.4f", v) end

-- "Trend: improved (your change at step 3 took the validation accuracy from 0.77 to 0.80)."
function M.trend(c, last)
  if not last or last.error or last.validation == nil or last.base == nil then return nil end
  local word
  if math.abs(last.validation - last.base) < 1e-12 then
    word = "unchanged"
  elseif (last.validation > last.base) == c.higher_is_better then
    word = "improved"
  else
    word = "decreased, consider going back"
  end
  local s = string.format("Trend: %s (your change at step %d took the validation %s from %s to %s", word, last.step,
    c.metric, fmt_score(last.base), fmt_score(last.validation))
  if not last.accepted then s = s .. "; it was not kept, so the code above is the one before it" end
  return s .. ")."
end

-- The feedback on a validation record.
function M.feedback(c, rec, opts, st)
  if rec.error then
    return "The pipeline above failed on the validation rows: " .. rec.error
  end
  local p, parts = st.params, st.parts
  local out = {}
  if p.cv > 0 then
    out[1] = string.format("%d-fold cross-validation over the %s labelled %s: the pipeline was trained on %d folds " ..
      "and scored on the remaining one, %d times.", p.cv, tabular.thousands(#parts.rest), c.unit, p.cv - 1, p.cv)
    for _, r in ipairs(rec.results) do
      out[#out + 1] = string.format("%s: %s", r.id, metric_text(c, r.metrics, true))
    end
    out[#out + 1] = string.format("Mean over the folds: %s.", metric_text(c, rec.metrics))
  else
    out[1] = string.format("Validation: the pipeline was trained on the %s training %s and scored on the %s " ..
      "validation %s.", tabular.thousands(#parts.train), c.unit, tabular.thousands(#parts.validation), c.unit)
    out[2] = metric_text(c, rec.metrics) .. "."
  end
  out[#out + 1] = M.band(c, rec.metrics)
  out[#out + 1] = M.trend(c, opts.last)
  local log = rec.results[1] and rec.results[1].log
  if log and log ~= "" then
    out[#out + 1] = string.format("What the pipeline printed%s (last lines of stdout, then stderr):\n%s",
      p.cv > 0 and " in fold 1" or "", log)
  end
  return table.concat(out, "\n")
end

-- The task's instruction: the competition, the contract, the protocol, what runs it, and the
-- training split's columns (computed on those rows only).
function M.instruction_text(c, ds, parts, p, env)
  local libs = {}
  for _, dist in ipairs({ "numpy", "pandas", "scikit-learn", "scipy", "xgboost", "lightgbm", "catboost" }) do
    if env.packages[dist] then libs[#libs + 1] = dist .. " " .. env.packages[dist] end
  end
  local protocol
  if p.cv > 0 then
    protocol = string.format("scored by %d-fold cross-validation over %s labelled %s (trained on %d folds, scored " ..
      "on the other, %d times)", p.cv, tabular.thousands(#parts.rest), c.unit, p.cv - 1, p.cv)
  else
    protocol = string.format("trained on the training split (%s %s) and scored on the validation split (%s %s)",
      tabular.thousands(#parts.train), c.unit, tabular.thousands(#parts.validation), c.unit)
  end
  local score = c.kind == "regression" and "the RMSE between the logarithms of the predicted and the true prices " ..
    "(Kaggle's metric; lower is better); the feedback also gives r2 of log(SalePrice) and the mean absolute error " ..
    "in dollars" or "accuracy (Kaggle's metric; higher is better); the feedback also gives F1, precision and " ..
    "recall of True"
  return table.concat({
    string.format("Improve a Python machine-learning pipeline for the Kaggle competition \"%s\": %s.", c.title, c.what),
    string.format("The fixed harness reads the labelled rows into x (a pandas DataFrame of every column but %s) " ..
      "and y (their %s, a pandas Series), and the rows to predict into test_data (the same columns as x); the " ..
      "trainable functions must return %s, in order.", c.target, c.target, c.returns),
    string.format("Each step the pipeline is %s, by %s. A held-out test split, never shown, measures how well your " ..
      "changes generalize: make the pipeline better on unseen rows, not tuned to the validation rows.", protocol,
      score),
    string.format("It runs in a sandbox with Python %s and %s; no network, no files but train.csv and test.csv; at " ..
      "most %s s and %d MiB of memory per run, %d thread%s.", env.python, table.concat(libs, ", "), p.time_limit,
      p.memory_limit, p.threads, p.threads == 1 and "" or "s"),
    string.format("The columns of train.csv, over the %s training %s:\n%s", tabular.thousands(#parts.train), c.unit,
      tabular.summary(ds.header, ds.rows, parts.train)),
  }, "\n")
end

return M
