-- The toy task, for learning how hone works: write price(age), the ticket price of a
-- museum visitor, from examples. The hidden rule: children under 12 pay 5, visitors of
-- 65 and over pay 7, everyone else pays 12. Ages 1..90, cut once into train (30),
-- validation (30) and test (30); the optimizer only ever sees training examples.
local data = require("hone.data")
local lua_eval = require("hone.lua_eval")

local M = {}

M.instruction = "Write price(age): the ticket price, in euros, for a museum visitor of the " ..
  "given age. The feedback shows the expected prices; find the rule behind them."

local function rule(age)
  if age < 12 then return 5 elseif age >= 65 then return 7 else return 12 end
end

M.default_artifact = "default"
M.starting_artifacts = {
  default = {
    language = "lua",
    blocks = {
      { name = "price", editable = true,
        doc = "price(age) -> number. age is a whole number of years (1..90); returns euros.",
        code = "function price(age)\n  return 10\nend" },
    },
  },
}

-- The split is fixed (seed 2024) so every run holds out the same test ages.
function M.splits()
  local all = {}
  for age = 1, 90 do all[#all + 1] = { id = age, input = age, expected = rule(age) } end
  all = data.shuffle(all, data.rng(2024))
  return data.cut(all, { "train", "validation" }, { train = 30, validation = 30 }, "test")
end

local function score(output, example)
  if output == example.expected then return 1, "correct" end
  return 0, string.format("wrong: expected %s, got %s", example.expected, tostring(output))
end

function M.evaluate(artifact, examples)
  return lua_eval.evaluate(artifact, examples, { entry = "price", score = score })
end

-- Staged feedback on a batch's mean score.
function M.stage(mean)
  if mean < 0.5 then return "Most prices are wrong: look for the age groups behind them." end
  if mean < 1 then return "Close: some age groups are still priced wrong." end
  return "All prices are right."
end

return M
