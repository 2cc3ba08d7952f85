-- Credit-risk policy: which loan decisions a person must look at, and how urgently.
--
-- The model (logistic regression on data/credit_train.csv) predicts Status "good" or "bad";
-- p.prediction.scores.bad is its probability of default. p.input holds the application
-- (Seniority, Home, Time, Age, Marital, Records, Job, Expenses, Income, Assets, Debt, Amount, Price).
local hitl = require "hitl"

-- Probability of "bad" for which the model is too unsure to decide alone. About 18% of the
-- applications of data/credit_stream.csv fall in it (with the high amounts): people see fewer
-- than a fifth of them (`hitl simulate`, examples/credit_risk/README.md).
local UNCERTAIN_LOW = 0.38
local UNCERTAIN_HIGH = 0.62
-- The share of applications sent to a person because the model is unsure: the least confident
-- UNCERTAIN_SHARE of the recent predictions (hitl.threshold_for_rate), so the review share holds
-- when a retrained model is more or less sure of itself. With the high amounts and the audit
-- samples the review share aims at 15% (docs/learning-loop.md, "Estimators, audit samples and
-- capture"). The band above is the fallback before 200 predictions (and in tests).
local UNCERTAIN_SHARE = 0.12

-- Reference loan size (in data/credit_data.csv the median Amount is 1,000, the 85th percentile 1,500).
local AMOUNT_REFERENCE = 1250
-- Loans above twice that (the top 1% of applications) are always seen by a person, whatever the score.
local HIGH_AMOUNT = 2 * AMOUNT_REFERENCE

-- Priority weights (they sum to 1): money at stake versus how unsure the model is.
local WEIGHT_AMOUNT = 0.5
local WEIGHT_UNCERTAINTY = 0.5

-- Probability of "bad", from the scores when present, else from label + confidence.
local function p_bad(pred)
  local s = pred.scores and pred.scores.bad
  if type(s) == "number" then return s end
  if pred.label == "bad" then return pred.confidence end
  return 1 - pred.confidence
end

local function flag(p)
  local amount = p.input.Amount
  if type(amount) ~= "number" or amount <= 0 then
    -- Not a clear reject: the application may just be incomplete. A person decides.
    return hitl.review("missing_amount")
  end
  if amount > HIGH_AMOUNT then
    return hitl.review("high_amount")
  end
  local threshold = hitl.threshold_for_rate(UNCERTAIN_SHARE)
  local unsure
  if threshold then
    unsure = p.prediction.confidence < threshold
  else
    unsure = hitl.between(p_bad(p.prediction), UNCERTAIN_LOW, UNCERTAIN_HIGH)
  end
  if unsure then
    return hitl.review("uncertain")
  end
  return hitl.auto()
end

-- 0..1, higher is more urgent: large amounts and unsure predictions first.
local function priority(task)
  local amount = hitl.get(task.input, "Amount", 0)
  if type(amount) ~= "number" then amount = 0 end
  local amount_part = hitl.clamp(amount / (2 * HIGH_AMOUNT), 0, 1)
  -- Distance of p(bad) from 0.5 is certainty; 0.5 itself is the least certain.
  local uncertainty = 1 - 2 * math.abs(p_bad(task.prediction) - 0.5)
  return WEIGHT_AMOUNT * amount_part + WEIGHT_UNCERTAINTY * hitl.clamp(uncertainty, 0, 1)
end

-- Seconds until the review is due: the seeds' credit case runs a 2-hour SLA; the most urgent
-- tasks (priority 0.8 and up: large and unsure) within the hour.
local function sla(task)
  if task.priority >= 0.8 then return 3600 end
  return 2 * 3600
end

return {
  version = "2026-12-04",
  flag = flag,
  priority = priority,
  sla = sla,
  -- About one gold task (a known case from gold.jsonl, see hitl.lua) per twenty reviews: each
  -- reviewer's gold accuracy shows in GET /v1/admin/reviewers.
  gold_rate = 0.05,
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
  -- Retrain once 200 reviewed cases are in, 20 of them corrections: enough new evidence to be
  -- worth a candidate, and about twice over the example's stream (it goes live only if the
  -- promotion rule finds it better on the unbiased rows).
  retrain = hitl.retrain_after(200, 20),
}
