-- HPC job policy: which run-time class predictions an operator checks before a job is queued.
--
-- The model (gradient-boosted trees on data/base.csv) predicts the class of a job's run time:
-- VF (very fast), F (fast), M (medium) or L (long); p.prediction.scores holds the probability of
-- each. A job sent to a queue for shorter jobs is killed at the queue's limit and its hours are
-- lost, so an under-estimate costs more than an over-estimate.
local hitl = require "hitl"

-- The classes from the shortest run time to the longest.
local ORDER = { VF = 1, F = 2, M = 3, L = 4 }

-- A prediction whose two most likely classes are closer than this is too unsure to queue alone.
local MIN_MARGIN = 0.20
-- A job predicted short while the longer classes together hold at least this much probability
-- risks being killed: an operator checks it.
local MAX_LONGER_RISK = 0.45

-- Probability that the job runs longer than the predicted class.
local function longer_than(pred)
  local rank = ORDER[pred.label] or 0
  local p = 0
  for label, s in pairs(pred.scores or {}) do
    if (ORDER[label] or 0) > rank then p = p + s end
  end
  return p
end

local function flag(p)
  if next(p.prediction.scores or {}) == nil then
    -- No per-class scores: the margin is unknown, so a person decides.
    return hitl.review("no_scores")
  end
  if longer_than(p.prediction) >= MAX_LONGER_RISK then
    return hitl.review("may_run_longer")
  end
  if hitl.margin(p.prediction.scores) < MIN_MARGIN then
    return hitl.review("uncertain")
  end
  return hitl.auto()
end

-- 0..1, higher is more urgent: jobs that may be killed first, then the most unsure.
local function priority(task)
  local risk = hitl.clamp(longer_than(task.prediction), 0, 1)
  return hitl.clamp(0.6 * risk + 0.4 * (1 - hitl.margin(task.prediction.scores)), 0, 1)
end

return {
  version = "2026-12-06",
  flag = flag,
  priority = priority,
  -- One automatic decision in fifty goes to a person anyway (reason "audit", lowest priority): the
  -- random sample behind the report's estimated accuracy over all traffic.
  audit_rate = 0.02,
  -- Audit samples are the measurement behind the estimates, so each gets two reviewers (an
  -- adjudicator decides when they differ): one reviewer's slip would otherwise count as a model
  -- error and pull the estimates down by about that reviewer's error rate.
  reviewers_needed = function(task)
    if task.reason == "audit" then return 2 end
    return 1
  end,
  -- Retrain once 300 reviewed jobs are in, 30 of them corrections.
  retrain = hitl.retrain_after(300, 30),
}
