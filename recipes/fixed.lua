-- The fixed recipe: the same batch size every step, for a given number of steps.
-- Parameters (hone run TASK --set name=value):
--   steps       updates to make
--   batch_size  training examples per update (B)
--   memory      past attempts shown to the optimizer
--   accept      "always" (keep every candidate that runs) or "improves_batch"
--   retries     extra optimizer calls when a reply cannot be used
local M = {}

M.params = {
  steps = 10,
  batch_size = 3,
  memory = 5,
  accept = "always",
  retries = 2,
  test_every_step = true,
  llm_temperature = 0.0,
  llm_max_tokens = 4096,
  llm_timeout = 300,
  llm_retries = 4,
  llm_backoff = 1.0,
}

function M.run(run)
  for _ = 1, run.params.steps do
    run:step({ batch_size = run.params.batch_size })
  end
end

return M
