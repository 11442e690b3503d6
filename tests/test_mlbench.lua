-- mlbench (tasks/mlbench/): the Kaggle pipelines in Python. The cut (held-out test, train,
-- validation, folds) and what a program is given; CSV, metrics and bands; the four starting
-- artifacts run and score; a scripted optimizer's better pipeline, and proposals that do not
-- compile, raise, loop, flood their output or exhaust memory, each recorded with its reason
-- while the run goes on; held-out rows never reach the LLM; submission.csv; the data's
-- download. Programs run on a sample of the rows (--set sample) so that the file stays quick.
local hone = require("hone")
local json = hone.json
local artifact = require("hone.artifact")

local DATA = "../shared/data"

local function load_mlbench(t)
  t.ok(io.open(DATA .. "/kaggle/house-prices/train.csv", "rb"), "the shared Kaggle data at " .. DATA)
  local mlbench = dofile(hone.root .. "/tasks/mlbench/task.lua")
  mlbench.getenv = function(k)
    if k == "HONE_DATA" then return DATA end
    return os.getenv(k)
  end
  return mlbench
end

-- A variant's parameters as a run has them: the task's own, the recipe's test_every_step, overrides.
local function params_of(task, over)
  local p = { test_every_step = true }
  for k, v in pairs(task.params) do p[k] = v end
  for k, v in pairs(over or {}) do p[k] = v end
  return p
end


local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

local function propose(code)
  return { content = json.encode({ reasoning = "try this", answer = "", suggestion = { train_model = code } }) }
end

-- A pipeline that works much better than the starting one: features from Cabin, PassengerId
-- and the spending, gradient-boosted trees. It prints the first ids it predicts, so the
-- feedback shows what a program prints (validation rows) and the test can check what it must not.
local SHIP_BETTER = [=[
def train_model(x, y, test_data):
    from sklearn.ensemble import HistGradientBoostingClassifier

    print("predicting", list(test_data["PassengerId"][:3]))
    spend = ["RoomService", "FoodCourt", "ShoppingMall", "Spa", "VRDeck"]
    data = pd.concat([x, test_data])
    features = data[spend + ["Age"]].copy()
    features[spend] = features[spend].fillna(0)
    features["Spend"] = features[spend].sum(axis=1)
    features["CryoSleep"] = data["CryoSleep"].astype(float)
    cabin = data["Cabin"].str.split("/", expand=True)
    features["CabinNum"] = pd.to_numeric(cabin[1])
    categories = pd.DataFrame({"HomePlanet": data["HomePlanet"], "Destination": data["Destination"],
                               "Deck": cabin[0], "Side": cabin[2]})
    features = pd.concat([features, pd.get_dummies(categories, dtype=float)], axis=1)
    train, test = features.iloc[:len(x)], features.iloc[len(x):]
    model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, random_state=0)
    model.fit(train, y)
    return model.predict(test)]=]

-- One-hot categories, log-scaled skewed areas, standardized, a ridge regression whose penalty
-- is chosen by cross-validation.
local HOUSE_BETTER = [=[
def train_model(x, y, test_data):
    from sklearn.linear_model import RidgeCV

    data = pd.concat([x, test_data]).drop(columns=["Id"])
    data["TotalSF"] = data["TotalBsmtSF"].fillna(0) + data["1stFlrSF"] + data["2ndFlrSF"]
    data["Age"] = data["YrSold"] - data["YearBuilt"]
    numeric = data.select_dtypes("number").columns
    skewed = [c for c in numeric if data[c].min() >= 0 and data[c].skew() > 0.75]
    data[skewed] = np.log1p(data[skewed])
    data = pd.get_dummies(data, dummy_na=True, dtype=float)
    data = data.fillna(data.median())
    data = (data - data.mean()) / (data.std() + 1e-9)
    train, test = data.iloc[:len(x)], data.iloc[len(x):]
    model = RidgeCV(alphas=np.logspace(-1, 3, 30))
    model.fit(train, np.log(y))
    return np.exp(model.predict(test))]=]

local SYNTAX = "def train_model(x, y, test_data):\n    return [True] * len(test_data\n"
local RAISES = "def train_model(x, y, test_data):\n    return x['NoSuchColumn']\n"
-- loops forever, politely: a busy loop would be stopped the same way (the CPU cap is the wall
-- cap, tests/test_sandbox_exec.lua), but would burn 2 x time_limit of CPU the other tests need
local LOOPS = "def train_model(x, y, test_data):\n    import time\n\n    while True:\n        time.sleep(0.1)\n"
local FLOODS = "def train_model(x, y, test_data):\n    import sys\n\n    sys.stdout.write('x' * 100_000_000)\n" ..
  "    return [True] * len(test_data)\n"
local HOARDS = "def train_model(x, y, test_data):\n    hoard = bytearray(64 * 1024 ** 3)\n" ..
  "    return [True] * len(test_data) + list(hoard[:0])\n"

local function run_args(server, name, db, extra)
  return string.format("run mlbench/%s --llm-url %s --model opt --db %s --set llm_retries=0 %s", name, server.url, db,
    extra or "")
end

-- An absolute path for a path relative to the repository (the hone binary, the data), to
-- run hone from another folder.
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p:read("l")
  p:close()
  return cwd .. "/" .. path:gsub("^%./", "")
end

return {
  ["the cut: a fixed 20% held-out test, 80/20 train/validation of the rest, folds; what programs are given"] =
  function(t)
    local mlbench = load_mlbench(t)
    local expected = { house_prices = { 1460, 292, 934, 234 }, spaceship_titanic = { 8693, 1739, 5563, 1391 } }
    for name, sizes in pairs(expected) do
      local ds = mlbench.load(name)
      t.eq(#ds.rows, sizes[1], name .. ": labelled rows")
      local parts = mlbench.split(#ds.rows, { sample = 0, cv = 5 })
      t.eq({ #parts.test, #parts.train, #parts.validation, #parts.rest }, { sizes[2], sizes[3], sizes[4],
        sizes[3] + sizes[4] }, name .. ": test, train, validation, rest")
      local seen = {}
      for _, part in ipairs({ "test", "train", "validation" }) do
        for _, i in ipairs(parts[part]) do
          t.eq(seen[i], nil, name .. ": row " .. i .. " in two splits")
          seen[i] = part
        end
      end
      for i = 1, #ds.rows do t.ok(seen[i], name .. ": row " .. i .. " in a split") end
      local folded = 0
      for k = 1, 5 do
        for _, i in ipairs(parts.folds[k]) do
          t.ok(seen[i] == "train" or seen[i] == "validation", "folds cover only train and validation")
          folded = folded + 1
        end
        t.ok(math.abs(#parts.folds[k] - #parts.rest / 5) <= 1, "folds of equal size")
      end
      t.eq(folded, #parts.rest, name .. ": the folds partition the rest")
      t.eq(mlbench.split(#ds.rows, { sample = 0, cv = 0 }).test, parts.test, name .. ": the same cut every time")
    end
    local s = mlbench.split(1460, { sample = 300, cv = 0 })
    t.eq({ #s.test, #s.train, #s.validation }, { 60, 192, 48 }, "a sample of 300 rows is cut the same way")

    -- real programs: the held-out ids, written into the pipeline, must never be in what it is
    -- given for validation (nor any fold), and must be exactly the rows of the test evaluation
    local task = mlbench.variant("house_prices")
    local params = params_of(task, { sample = 300, cv = 3 })
    local splits = task.splits(1, params)
    local held = {}
    for _, ex in ipairs(splits.test) do held[#held + 1] = ex.id end
    local probe = artifact.new(task.starting_artifacts.one_function):with({ train_model = string.format([=[
def train_model(x, y, test_data):
    held = {%s}
    given = set(x["Id"]) | set(test_data["Id"])
    print("fit", len(x), "predict", len(test_data), "held-out given", len(given & held))
    if set(test_data["Id"]) != held:
        assert not given & held, "held-out rows given"
        assert not set(x["Id"]) & set(test_data["Id"]), "a row both fitted and predicted"
    else:
        assert not set(x["Id"]) & held, "held-out rows fitted"
    return np.full(len(test_data), float(y.median()))]=], table.concat(held, ", ")) })
    local val = task.evaluate(probe, splits.validation, { split = "validation", params = params, jobs = 2 })
    t.eq(val.error, nil, "validation over 3 folds runs")
    t.eq(#val.results, 3, "one result per fold")
    local sum = 0
    for k, r in ipairs(val.results) do
      t.eq(r.id, "fold " .. k, "fold named")
      t.match(r.log, "^fit %d+ predict %d+ held%-out given 0$", "fold " .. k .. " saw no held-out row")
      sum = sum + r.score
    end
    t.eq(val.examples, 240, "every train and validation row scored once")
    t.ok(math.abs(val.score - sum / 3) < 1e-12, "the score is the mean over the folds")
    t.ok(val.cpu_s > 0 and val.max_rss_kb > 10000, "resources recorded")
    local test = task.evaluate(probe, splits.test, { split = "test", params = params, jobs = 2 })
    t.eq(test.error, nil, "the test evaluation runs")
    t.eq(test.results[1].log, "fit 240 predict 60 held-out given 60", "trained on the rest, predicts the held-out")
    t.ok(test.cpu_s > 0, "run alongside the validation (jobs 2), with its own cost")
    local again = task.evaluate(probe, splits.test, { split = "test", params = params, jobs = 2 })
    t.eq({ again.score, again.cpu_s }, { test.score, nil },
      "a repeat is the same outcome, not run again nor costed twice")
  end,

  ["csv, metrics, bands and the column summary"] = function(t)
    local tabular = dofile(hone.root .. "/tasks/mlbench/tabular.lua")
    local header, rows = tabular.parse('id,name,note\r\n1,"Smith, J","said ""hi""\nthen left"\n2,Ann,\n\n', "x.csv")
    t.eq(header, { "id", "name", "note" }, "header")
    t.eq(rows, { { "1", "Smith, J", 'said "hi"\nthen left' }, { "2", "Ann", "" } }, "quoted fields, CRLF, blank line")
    t.eq(tabular.write(header, rows, { 2, 1 }, 3), 'id,name\n2,Ann\n1,"Smith, J"\n', "rows picked, column dropped")
    local h2, r2 = tabular.parse(tabular.write(header, rows), "y.csv")
    t.eq({ h2, r2 }, { header, rows }, "round trip")
    t.raises(function() tabular.parse("a,b\n1,2,3\n", "w.csv") end, "w%.csv: row 1 has 3 fields, the header 2")
    t.raises(function() tabular.parse('a\n"open\n', "q.csv") end, "q%.csv: a quote opened in row 1 is never closed")

    local m = tabular.regression({ 100, 200, 400, 0 }, { 100, 100, 400, 100 })
    t.ok(math.abs(m.rmse - math.sqrt((math.log(2) ^ 2 + math.log(100) ^ 2) / 4)) < 1e-12, "RMSE of the logs")
    t.eq({ m.mae, m.clipped }, { (100 + 100) / 4, 1 }, "mean absolute error in dollars; a price below $1 counts as $1")
    t.eq(tabular.regression({ 5, 10 }, { 5, 10 }).r2, 1, "a perfect fit has r2 1")
    local c = tabular.classification({ true, true, false, false, true }, { true, false, false, true, true })
    t.eq({ c.accuracy, c.precision, c.recall }, { 3 / 5, 2 / 3, 2 / 3 }, "accuracy, precision, recall")
    t.ok(math.abs(c.f1 - 2 / 3) < 1e-12, "F1")

    local mlbench = load_mlbench(t)
    local house, ship = mlbench.COMPETITIONS.house_prices, mlbench.COMPETITIONS.spaceship_titanic
    local bands = {}
    for _, v in ipairs({ -0.1, 0, 0.3, 0.6, 0.7, 0.9 }) do bands[#bands + 1] = mlbench.band(house, { r2 = v }) end
    t.eq({ bands[1] == bands[2], bands[2] ~= bands[3], bands[3] ~= bands[4], bands[4] ~= bands[5],
           bands[5] == bands[6] }, { true, true, true, true, true },
      "House Prices bands by r2: <= 0, < 0.5, < 0.7, >= 0.7")
    bands = {}
    for _, f1 in ipairs({ 0.4, 0.5, 0.69, 0.7, 0.79, 0.8 }) do bands[#bands + 1] = mlbench.band(ship, { f1 = f1 }) end
    t.eq({ bands[1] ~= bands[2], bands[2] == bands[3], bands[3] ~= bands[4], bands[4] == bands[5],
           bands[5] ~= bands[6] }, { true, true, true, true, true },
      "Spaceship bands by F1: < 0.5, < 0.7, < 0.8, >= 0.8")
    t.match(mlbench.trend(house, { step = 3, base = 0.15, validation = 0.13, accepted = true }),
      "^Trend: improved %(your change at step 3 took the validation RMSE of log%(SalePrice%) from 0%.1500 to " ..
      "0%.1300%)%.$",
      "a lower error improved")
    t.match(mlbench.trend(ship, { step = 2, base = 0.8, validation = 0.7, accepted = false }),
      "^Trend: decreased, consider going back %(.*; it was not kept", "a lower accuracy decreased")
    t.match(mlbench.trend(ship, { step = 2, base = 0.8, validation = 0.8, accepted = true }), "^Trend: unchanged",
      "unchanged")
    t.eq(mlbench.trend(ship, { step = 2, base = 0.8, error = "boom", accepted = false }), nil,
      "a failed change has no trend (the loop shows its error)")

    local ds = mlbench.load("spaceship_titanic")
    local summary = tabular.summary(ds.header, ds.rows, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
    t.match(summary, "\n%- HomePlanet: text, %d values: [^\n]*Europa", "a categorical column's values")
    t.match(summary, "\n%- Age: number %d+%.%.%d+", "a numeric column's range")
    t.match(summary, "\n%- Transported: text, 2 values: ", "booleans")
  end,

  ["the four starting artifacts run and score; submission.csv; hone show states the units"] = function(t)
    local dir = t.tmpdir()
    local cases = {
      { "house_prices", "one_function", 500, 0.08, 0.35, "Id,SalePrice", 1459 },
      { "house_prices", "many_function", 500, 0.08, 0.35 },
      { "spaceship_titanic", "one_function", 1500, 0.6, 0.85, "PassengerId,Transported", 4277 },
      { "spaceship_titanic", "many_function", 1500, 0.6, 0.85 },
    }
    local scores = {}
    for i, c in ipairs(cases) do
      local db = dir .. "/" .. i .. ".db"
      local what = c[1] .. " " .. c[2]
      local submission = c[6] and "" or "--set submission=off"
      -- the default submission path is relative to where hone runs: run it in the temporary folder
      local cmd = string.format("cd %s && env HONE_DATA=%s %s run mlbench/%s --artifact %s --optimizer baseline " ..
        "--set steps=0 --set sample=%d --jobs 2 --db %s %s >out 2>err", t.sh_quote(dir), t.sh_quote(absolute(DATA)),
        t.sh_quote(absolute(t.bin)), c[1], c[2], c[3], t.sh_quote(db), submission)
      local _, _, code = os.execute(cmd)
      t.eq(code, 0, what .. ": exit (" .. t.read(dir .. "/err") .. ")")
      local val, test = t.sql(db, "SELECT validation_score, test_score FROM steps WHERE step = 0"):match(
        "^([%d.e-]+)|([%d.e-]+)\n$")
      val, test = tonumber(val), tonumber(test)
      t.ok(val and val > c[4] and val < c[5], what .. ": validation score in range: " .. tostring(val))
      t.ok(test and test > c[4] and test < c[5], what .. ": test score in range: " .. tostring(test))
      scores[i] = val
      t.eq(t.sql(db, "SELECT split, examples, count(cpu_s), sum(max_rss_kb > 10000) FROM evaluations " ..
        "GROUP BY split ORDER BY split"), string.format("test|%d|1|1\nvalidation|%d|1|1\n", c[3] // 5,
        c[3] - c[3] // 5 - (c[3] - c[3] // 5) * 8 // 10), what .. ": both splits, with their CPU and memory")
      if c[6] then
        local path = dir .. "/hone-runs/1/submission.csv"
        local text = t.read(path)
        t.eq(text:match("^[^\n]*"), c[6], what .. ": Kaggle's header")
        t.eq(count(text, "\n"), c[7] + 1, what .. ": one row per row of Kaggle's test.csv")
        t.match(text, c[1] == "house_prices" and "\n1461,%d+%.%d%d\n" or "\n0013_01,[TF][a-z]+\n", "a row")
        t.eq(t.sql(db, "SELECT kind, json_extract(data, '$.path'), json_extract(data, '$.rows') FROM events"),
          string.format("finish|hone-runs/1/submission.csv|%d\n", c[7]), what .. ": its path recorded as an event")
        local _, shown = t.hone("show 1 --db " .. db)
        t.match(shown, "\nscores   " .. (c[1] == "house_prices" and "RMSE of log%(SalePrice%), lower" or
          "accuracy, higher") .. " is better\n", what .. ": show states what the scores are")
        t.match(shown, "\ncompute  2 evaluations: [%d.]+ CPU s in the sandboxes, [%d.]+ s, peak memory %d+ MiB\n",
          what .. ": show sums the compute")
        t.match(shown, "\nfinish   submission hone%-runs/1/submission%.csv: " .. c[7] .. " rows", "show: submission")
      else
        t.eq(t.sql(db, "SELECT count(*) FROM events"), "0\n", what .. ": submission=off writes none")
      end
    end
    t.eq(scores[1], scores[2], "house prices: the two artifacts start from the same model")
    t.eq(scores[3], scores[4], "spaceship titanic: the two artifacts start from the same model")
  end,

  ["spaceship: a better pipeline improves validation; failures are recorded with their reason; held-out rows " ..
   "never reach the LLM"] = function(t)
    local mlbench = load_mlbench(t)
    local server = t.llm_server()
    server:script({ replies = { propose(SYNTAX), propose(SHIP_BETTER), propose(RAISES), propose(LOOPS),
                                propose(FLOODS), propose(HOARDS) } })
    local dir = t.tmpdir()
    local db = dir .. "/ship.db"
    local code, out, err = t.hone(run_args(server, "spaceship_titanic", db, "--set steps=5 --set sample=3000 " ..
      "--set time_limit=10 --jobs 2 --set submission=" .. dir .. "/out/submission.csv"), { HONE_DATA = DATA })
    t.eq(code, 0, "exit (" .. err .. ")")
    t.match(out, "\nrun 1 done: best validation 0%.%d+ %(candidate 2%)", "the better pipeline is the best")

    local rows = {}
    for line in t.sql(db, "SELECT step, accepted, coalesce(validation_score, ''), coalesce(test_score, ''), " ..
        "replace(coalesce(error, ''), char(10), ' / ') FROM steps ORDER BY step"):gmatch("[^\n]+") do
      rows[#rows + 1] = line
    end
    t.eq(#rows, 6, "the start and five steps: the run went on after every failure")
    local v0 = tonumber(rows[1]:match("^0|1|([%d.]+)|"))
    local v1 = tonumber(rows[2]:match("^1|1|([%d.]+)|[%d.]+|$"))
    t.ok(v0 and v1 and v1 > v0 + 0.02, string.format("validation accuracy improves: %s -> %s", v0, v1))
    local kinds = {}
    for step = 2, 5 do
      t.match(rows[step + 1], "^" .. step .. "|0|||candidate failed on validation: ", "step " .. step .. " rolled back")
      kinds[#kinds + 1] = t.sql(db, "SELECT error_kind FROM evaluations WHERE split = 'validation' AND step = " ..
        step)
    end
    t.eq(kinds, { "runtime\n", "timeout\n", "output\n", "memory\n" }, "each failure's kind")
    t.match(rows[3], "candidate failed on validation: KeyError: 'NoSuchColumn' / Traceback %(most recent call " ..
      "last%): / .* / +File \"pipeline%.py\", line %d+ %(train_model, line 2%), in train_model / ",
      "the exception named, then the traceback's tail")
    t.match(rows[4], "timeout: the pipeline ran past time_limit = 10 s", "the timeout")
    t.match(rows[5], "output: the pipeline printed more than 1024 KiB to stdout", "the flood")
    t.match(rows[6], "memory: the pipeline ran out of memory", "the memory")
    t.eq(t.sql(db, "SELECT group_concat(step) FROM evaluations WHERE split = 'test'"), "0,1\n",
      "no held-out test for a candidate that failed on validation")
    t.eq(t.sql(db, "SELECT kind FROM events WHERE kind = 'rollback'"), string.rep("rollback\n", 4), "4 rollbacks")

    -- the syntax error never ran: refused with its reason, the model asked again
    t.eq(t.sql(db, "SELECT count(*) FROM llm_calls WHERE step = 1"), "2\n", "two calls at step 1")
    t.match(t.sql(db, "SELECT proposal_error FROM llm_calls WHERE step = 1 ORDER BY id LIMIT 1"),
      "^'train_model' does not compile: line 2: SyntaxError: '%(' was never closed", "why, with the block's line")
    t.eq(t.sql(db, "SELECT count(*) FROM candidates WHERE code LIKE '%len(test_data\n%'"), "0\n", "never a candidate")

    local reqs = server:requests()
    t.eq(#reqs, 6, "six optimizer calls")
    local function user(i) return reqs[i].body.messages[#reqs[i].body.messages].content end
    t.match(user(2), "^Your reply could not be used: 'train_model' does not compile: line 2: SyntaxError",
      "the syntax error fed back")
    local function feedback(i)
      local text = reqs[i].body.messages[2].content
      return text:match("#Feedback\n(.-)\n\n#Others") or text:match("#Feedback\n(.*)$") or ""
    end
    t.match(feedback(1), "^Validation: the pipeline was trained on the 1,920 training passengers and scored on the " ..
      "480 validation passengers%.\naccuracy 0%.%d+ %(higher is better%), F1 ", "what step 1 is shown")
    t.match(feedback(3), "\nTrend: improved %(your change at step 1 took the validation accuracy from ", "the trend")
    t.match(feedback(3), "\nWhat the pipeline printed %(last lines of stdout, then stderr%):\npredicting %['",
      "what the pipeline printed")
    local f4 = feedback(4)
    t.match(f4, "^Your last change %(step 2%) failed and was rolled back; the code above is the last one that ran%. " ..
      "The error:\nKeyError: 'NoSuchColumn'\nTraceback %(most recent call last%):\n", "the error opens the feedback")
    t.match(f4, '\n  File "pipeline%.py", line %d+ %(train_model, line 2%), in train_model\n', "lines named by block")
    t.match(f4, "\nKeyError: 'NoSuchColumn'\n\nValidation: ", "the traceback's tail, then the current result")
    t.no_match(f4, "hone%-sandbox", "no sandbox paths")
    t.match(feedback(5), "^Your last change %(step 3%) failed .-\ntimeout: the pipeline ran past time_limit = 10 s",
      "the timeout fed back")
    t.match(feedback(6), "^Your last change %(step 4%) failed .-\noutput: the pipeline printed more than 1024 KiB",
      "the flood fed back")
    t.match(reqs[6].body.messages[2].content, "\nAttempt at step 3 %(failed: timeout: ", "memory names the failures")

    -- nothing of the held-out rows in any request: not an id, not a name (the programs print ids)
    local task = mlbench.variant("spaceship_titanic")
    local splits = task.splits(1, params_of(task, { sample = 3000 }))
    local ds = mlbench.load("spaceship_titanic")
    local name_col = 13
    t.eq(ds.header[name_col], "Name", "the Name column")
    local requests = t.sql(db, "SELECT request FROM llm_calls")
    t.ok(#requests > 20000, "the requests are stored")
    local checked = 0
    for _, ex in ipairs(splits.test) do
      t.no_match(requests, ex.id:gsub("%p", "%%%0"), "held-out PassengerId " .. ex.id)
      local person = ds.rows[ex.row][name_col]
      if person ~= "" then
        t.no_match(requests, person:gsub("%p", "%%%0"), "held-out name " .. person)
        checked = checked + 1
      end
    end
    t.eq(#splits.test, 600, "600 held-out rows")
    t.ok(checked > 500, "and their names")
    t.match(requests, splits.validation[1].id:gsub("%p", "%%%0"), "while validation ids printed by the pipeline are")

    local text = t.read(dir .. "/out/submission.csv")
    t.eq({ text:match("^[^\n]*"), count(text, "\n") }, { "PassengerId,Transported", 4278 }, "submission.csv")
    t.match(t.sql(db, "SELECT message FROM events WHERE kind = 'finish'"), "^submission .*/out/submission%.csv: " ..
      "4277 rows of Kaggle's test%.csv predicted by candidate 2, retrained on the 2400 labelled rows", "by the best")
  end,

  ["house prices: a lower error is better, for the loop and for show"] = function(t)
    local server = t.llm_server()
    server:script({ replies = { propose(HOUSE_BETTER) } })
    local db = t.tmpdir() .. "/house.db"
    local code, out, err = t.hone(run_args(server, "house_prices", db, "--set steps=1 --set sample=800 --jobs 2 " ..
      "--set submission=off --set accept=improves_validation"), { HONE_DATA = DATA })
    t.eq(code, 0, "exit (" .. err .. ")")
    local v0, v1 = t.sql(db, "SELECT group_concat(validation_score, ' ') FROM steps ORDER BY step"):match(
      "^([%d.]+) ([%d.]+)\n$")
    v0, v1 = tonumber(v0), tonumber(v1)
    t.ok(v1 < v0 - 0.005, string.format("the better pipeline's RMSE is lower: %s -> %s", v0, v1))
    t.eq(t.sql(db, "SELECT accepted, best_id = candidate_id FROM steps WHERE step = 1"), "1|1\n",
      "accepted by improves_validation, and the best: lower is better")
    t.match(out, string.format("\nrun 1 done: best validation %.3f %%(candidate 2%%)", v1):gsub("%.(%d)", "%%.%1"),
      "the summary")
    local _, listed = t.hone("runs --db " .. db)
    t.match(listed, string.format("\n1 +mlbench/house_prices +fixed +1 +done +1 +%.3f ", v1):gsub("%.(%d)", "%%.%1"),
      "hone runs: the best as the loop chose it, not the largest score")
    local reqs = server:requests()
    t.match(reqs[1].body.messages[2].content, "\nRMSE of log%(SalePrice%) 0%.%d+ %(lower is better%), r2 0%.%d+",
      "the optimizer is told which way is better")
    t.match(t.sql(db, "SELECT config FROM runs"),
      '"score":{"higher_is_better":false,"metric":"RMSE of log%(SalePrice%)"}',
      "recorded with the run")
  end,

  ["missing data names the download; hone data mlbench fetches both competitions"] = function(t)
    local dir = t.tmpdir()
    local args = "run mlbench/house_prices --optimizer baseline --db " .. dir .. "/m.db"
    local code, out, err = t.hone(args, { HONE_DATA = dir .. "/none" })
    local _
    t.eq({ code, out }, { 2, "" }, "exit 2, nothing run")
    t.eq(count(err, "\n"), 1, "one line")
    t.match(err, "^hone: task error: no Kaggle data for house_prices: " .. dir:gsub("%p", "%%%0") ..
      "/none/kaggle/house%-prices/train%.csv is missing %(HONE_DATA is ", "names the file")
    t.match(err, "run `hone data mlbench` to download .* or download them from Kaggle %(an account that accepted " ..
      "the competition's rules: kaggle competitions download %-c house%-prices%-advanced%-regression%-techniques%) " ..
      "and put train%.csv and test%.csv in " .. dir:gsub("%p", "%%%0") .. "/none/kaggle/house%-prices\n$",
      "how to get it, and where it goes")
    code, _, err = t.hone("run mlbench/nosuch --optimizer baseline --db " .. dir .. "/m.db", { HONE_DATA = DATA })
    t.eq(code, 2, "unknown task")
    t.match(err, "no mlbench task 'nosuch' %(tasks: house_prices, spaceship_titanic%)", "names the tasks")
    code, _, err = t.hone("run mlbench/house_prices --optimizer baseline --set cv=1 --db " .. dir .. "/m.db",
      { HONE_DATA = DATA })
    t.eq(code, 2, "a bad cv")
    t.match(err, "mlbench: cv is 0 %(one train/validation split%) or the number of folds, 2%.%.20; not 1", "why")

    -- a stand-in curl (no network here) serves the shared copy: what `hone data` asks of it
    local bin = dir .. "/bin"
    os.execute("mkdir -p " .. t.sh_quote(bin))
    t.write(bin .. "/curl", "#!/bin/sh\n# curl -fsSL --retry 2 --create-dirs -o OUT URL\n" ..
      "out=$6; url=$7; rel=${url#*/6888b89ac1a576a97b635a673034898641e26875/}; rel=${rel%/data/*}/${url##*/}\n" ..
      "echo \"$url\" >> \"$(dirname \"$0\")/log\"\n" ..
      "mkdir -p \"$(dirname \"$out\")\" && cp " .. t.sh_quote(DATA) .. "/kaggle/\"$rel\" \"$out\"\n")
    os.execute("chmod +x " .. t.sh_quote(bin .. "/curl"))
    local env = { HONE_DATA = dir .. "/data", PATH = bin .. ":" .. os.getenv("PATH") }
    code, out, err = t.hone("data mlbench", env)
    t.eq(code, 0, "data exit (" .. err .. ")")
    t.eq(count(out, "\n"), 4, "a line per file")
    t.match(out, "spaceship_titanic test%.csv +4277 rows %-> ", "counts what it fetched")
    t.eq(t.read(dir .. "/data/kaggle/house-prices/train.csv"), t.read(DATA .. "/kaggle/house-prices/train.csv"),
      "in place")
    t.match(t.read(bin .. "/log"), "https://raw%.githubusercontent%.com/AbhinavAkkiraju/data%-science%-agent/" ..
      "6888b89ac1a576a97b635a673034898641e26875/house%-prices/data/train%.csv\n", "from the pinned commit")
    code, out = t.hone("data mlbench", env)
    t.eq({ code, count(out, "already in") }, { 0, 4 }, "whole files are kept")
    t.eq(count(t.read(bin .. "/log"), "\n"), 4, "and not fetched again")
  end,

  ["a sweep over a task whose score is an error: the lowest mean is the best, validation as the loop chose"] =
  function(t)
    local sweep_mod = require("hone.sweep")
    local trace = require("hone.trace")
    local tr = trace.open(t.tmpdir() .. "/sweep.db")
    tr.db:exec("INSERT INTO sweeps (name, spec) VALUES ('s', ?)", json.encode({ grid = { { "cv", { 0, 5 } } } }))
    -- two cells (cv = 0, 5), one run each; each run's best (by the loop) is its lower validation RMSE
    for i, v in ipairs({ { 0.15, 0.13 }, { 0.14, 0.12 } }) do
      local run = tr:create_run({ task = "mlbench/house_prices", recipe = "fixed", seed = 1,
        config = { score = { metric = "RMSE of log(SalePrice)", higher_is_better = false } } })
      local ids = {}
      for step, score in ipairs(v) do
        ids[step] = select(2, tr.db:exec("INSERT INTO candidates (run_id, step, artifact, code) " ..
          "VALUES (?, ?, '{}', 'x')", run, step - 1))
        tr.db:exec("INSERT INTO evaluations (run_id, step, candidate_id, split, score, examples) " ..
          "VALUES (?, ?, ?, 'validation', ?, 10)", run, step - 1, ids[step], score)
        tr:insert_step({ run_id = run, step = step - 1, candidate_id = ids[step], accepted = true,
          current_id = ids[step], best_id = ids[#ids], validation_score = score })
      end
      tr.db:exec("INSERT INTO sweep_cells (sweep_id, cell, seed, run_id, status) VALUES (1, ?, 1, ?, 'done')",
        json.encode({ task = "mlbench/house_prices", recipe = "fixed", params = { cv = (i - 1) * 5 } }), run)
    end
    local s = sweep_mod.summary(tr, tr.db:query("SELECT * FROM sweeps")[1], "validation")
    t.eq(s.lower, { ["mlbench/house_prices"] = true }, "the runs say lower is better")
    t.eq(s.scores["fixed cv=0"]["mlbench/house_prices"], { 0.13 }, "each run's best validation: the lower one")
    t.eq(s.best["mlbench/house_prices"], 0.12, "the best cell has the lowest mean")
    tr:close()
  end,
}
