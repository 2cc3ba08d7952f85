-- Review triage policy: which product reviews a person reads before their rating feeds the
-- store's "top rated" lists.
--
-- The model (logistic regression over hashed words of data/base.csv) predicts whether a review
-- is "great" (five stars) or "other"; p.prediction.scores.great is its probability. p.input.review
-- is the text itself.
local hitl = require "hitl"

-- Probability of "great" for which the model is too unsure to decide alone.
local UNCERTAIN_LOW = 0.40
local UNCERTAIN_HIGH = 0.60
-- The share sent to a person because the model is unsure: the least confident UNCERTAIN_SHARE of
-- the recent predictions (hitl.threshold_for_rate), so the review share holds when a retrained
-- model is more or less sure of itself; with the other reasons and the audit samples it aims at
-- 15% in all (docs/learning-loop.md, "Estimators, audit samples and capture"). The band above
-- is the fallback before 200 predictions (and in tests).
local UNCERTAIN_SHARE = 0.12

-- A very short review says too little for a word model: a person reads it.
local MIN_WORDS = 4

local function word_count(text)
  if type(text) ~= "string" then return 0 end
  local n = 0
  for _ in text:gmatch("%w+") do n = n + 1 end
  return n
end

local function flag(p)
  if word_count(p.input.review) < MIN_WORDS then
    return hitl.review("too_short")
  end
  local threshold = hitl.threshold_for_rate(UNCERTAIN_SHARE)
  local unsure
  if threshold then
    unsure = p.prediction.confidence < threshold
  else
    unsure = hitl.between(hitl.prob(p.prediction, "great"), UNCERTAIN_LOW, UNCERTAIN_HIGH)
  end
  if unsure then
    return hitl.review("uncertain")
  end
  return hitl.auto()
end

-- 0..1, higher is more urgent: the most unsure first.
local function priority(task)
  return hitl.clamp(1 - 2 * math.abs(hitl.prob(task.prediction, "great") - 0.5), 0, 1)
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
  -- Retrain once 300 reviewed texts are in, 30 of them corrections.
  retrain = hitl.retrain_after(300, 30),
}
