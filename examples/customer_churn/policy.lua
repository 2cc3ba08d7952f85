-- Customer-churn policy: which churn predictions a retention team looks at, and how urgently.
--
-- The model (gradient-boosted trees on data/base.csv) predicts churn "Yes" or "No";
-- p.prediction.scores.Yes is its probability that the customer leaves. p.input holds the
-- customer's account (tenure in months, contract, monthly_charges, services, payment_method, ...).
local hitl = require "hitl"

-- Probability of churn for which the model is too unsure to decide alone.
local UNCERTAIN_LOW = 0.40
local UNCERTAIN_HIGH = 0.60
-- The share sent to a person because the model is unsure: the least confident UNCERTAIN_SHARE of
-- the recent predictions (hitl.threshold_for_rate), so the review share holds when a retrained
-- model is more or less sure of itself; with the other reasons and the audit samples it aims at
-- 15% in all (docs/learning-loop.md, "Estimators, audit samples and capture"). The band above
-- is the fallback before 200 predictions (and in tests).
local UNCERTAIN_SHARE = 0.11

-- The retention offer rule: a customer the model expects to leave, on a month-to-month contract
-- (free to leave at once), paying at least this much a month, and with us for at least this many
-- months, is worth a person's look: they decide whether to make an offer, whatever the score.
local OFFER_MIN_CHURN = 0.60
local OFFER_MIN_MONTHLY = 95
local OFFER_MIN_TENURE = 12

-- Monthly charges at which the money at stake counts fully towards priority (the top tenth).
local MONTHLY_REFERENCE = 105

local function number_or(value, default)
  if type(value) == "number" then return value end
  return default
end

local function worth_an_offer(input, churn)
  return churn >= OFFER_MIN_CHURN
     and input.contract == "Month-to-month"
     and number_or(input.monthly_charges, 0) >= OFFER_MIN_MONTHLY
     and number_or(input.tenure, 0) >= OFFER_MIN_TENURE
end

local function flag(p)
  local churn = hitl.prob(p.prediction, "Yes")
  if worth_an_offer(p.input, churn) then
    return hitl.review("retention_offer")
  end
  local threshold = hitl.threshold_for_rate(UNCERTAIN_SHARE)
  local unsure
  if threshold then
    unsure = p.prediction.confidence < threshold
  else
    unsure = hitl.between(churn, UNCERTAIN_LOW, UNCERTAIN_HIGH)
  end
  if unsure then
    return hitl.review("uncertain")
  end
  return hitl.auto()
end

-- 0..1, higher is more urgent: the monthly revenue at risk first, then how unsure the model is.
local function priority(task)
  local churn = hitl.prob(task.prediction, "Yes")
  local monthly = number_or(hitl.get(task.input, "monthly_charges", 0), 0)
  local at_risk = hitl.clamp(churn * monthly / MONTHLY_REFERENCE, 0, 1)
  local uncertainty = hitl.clamp(1 - 2 * math.abs(churn - 0.5), 0, 1)
  return 0.7 * at_risk + 0.3 * uncertainty
end

-- Seconds until the review is due: an offer to a customer about to leave within four hours,
-- anything else within the working day.
local function sla(task)
  if task.reason == "retention_offer" then return 4 * 3600 end
  return 8 * 3600
end

return {
  version = "2026-12-06",
  flag = flag,
  priority = priority,
  sla = sla,
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
  -- Retrain once 400 reviewed cases are in, 40 of them corrections.
  retrain = hitl.retrain_after(400, 40),
}
