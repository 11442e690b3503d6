-- "Ensure improvement", the paper's option: the fixed recipe, but a candidate is kept only
-- if it scores higher than the current one on the very experience it was made from (the
-- same minibatch, or the same rollout replayed). Fewer bad updates, at the price of a
-- second run of that experience per step and of some good updates refused.
local hone = require("hone")
local fixed = dofile(hone.root .. "/recipes/fixed.lua")

local M = { params = {} }
for k, v in pairs(fixed.params) do M.params[k] = v end
M.params.accept = "improves_batch"
M.run = fixed.run

return M
