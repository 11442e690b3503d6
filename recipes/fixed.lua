-- The fixed recipe: the same batch size B and horizon H every step, for a given number of
-- steps, with the paper's safety nets. Parameters (hone run TASK --set name=value; a task
-- may bring its own defaults, e.g. a game's horizon and steps):
--   steps          updates to make
--   batch_size     training examples per update (B)
--   horizon        steps of an episode per update (H; a number or "episode"); episodic tasks only
--   memory         past attempts shown to the optimizer
--   accept         "always" (keep every candidate that runs), "improves_batch" (only if the
--                  same experience scores higher) or "improves_validation" (hill climbing)
--   retries        extra optimizer calls when a reply cannot be used
--   restore_below  when the current validation falls below this fraction of the best (best
--                  > 0), continue from the best candidate; 0 turns it off
--   early_stop     stop once the best validation reaches the task's target score
local M = {}

M.params = {
  steps = 10,
  batch_size = 3,
  horizon = 1,
  memory = 5,
  accept = "always",
  retries = 2,
  restore_below = 0,
  early_stop = true,
  test_every_step = true,
  llm_temperature = 0.0,
  llm_max_tokens = 4096,
  llm_timeout = 300,
  llm_retries = 4,
  llm_backoff = 1.0,
}

function M.run(run)
  local p = run.params
  for _ = 1, p.steps do
    run:step({ batch_size = p.batch_size, horizon = p.horizon })
    if run:guard() then return end
  end
end

return M
