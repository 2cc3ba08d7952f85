-- hitl: the policy standard library.  local hitl = require "hitl"
--
-- Verdicts (what flag(p) returns):
--   hitl.auto()            accept the prediction as is, no human review
--   hitl.review(reason)    send it to human review; reason is a short non-empty tag ("uncertain")
--   hitl.reject(reason)    refuse it outright; reason is a short non-empty tag
-- Helpers:
--   hitl.between(x, lo, hi)       true when x is a number and lo <= x <= hi
--   hitl.clamp(x, lo, hi)         x limited to [lo, hi]
--   hitl.top(scores)              label, probability of the highest score
--   hitl.margin(scores)           top-1 probability minus top-2 probability
--   hitl.entropy(scores [, normalized])   Shannon entropy of the scores (nats, or 0..1)
--   hitl.get(tbl, "a.b.c", default)       nested lookup that never fails on missing levels
-- The full reference is docs/policy.md.
local hitl = {}

local function check_reason(fn, reason)
  if type(reason) ~= "string" or reason == "" then
    local got = type(reason) == "string" and "an empty string" or type(reason)
    error("hitl." .. fn .. ": reason must be a non-empty string, got " .. got, 3)
  end
end

--- Verdict: accept the model's prediction without review.
function hitl.auto()
  return { action = "auto" }
end

--- Verdict: queue the prediction for human review. `reason` names the rule that fired.
function hitl.review(reason)
  check_reason("review", reason)
  return { action = "review", reason = reason }
end

--- Verdict: reject the input outright (no review task). `reason` names the rule that fired.
function hitl.reject(reason)
  check_reason("reject", reason)
  return { action = "reject", reason = reason }
end

--- True when x is a number with lo <= x <= hi (false for nil, strings and NaN).
function hitl.between(x, lo, hi)
  return type(x) == "number" and lo <= x and x <= hi
end

--- x limited to [lo, hi]. A non-number x is an error; NaN gives lo.
function hitl.clamp(x, lo, hi)
  if type(x) ~= "number" then error("hitl.clamp: x must be a number, got " .. type(x), 2) end
  if x ~= x or x < lo then return lo end
  if x > hi then return hi end
  return x
end

--- The label with the highest score and its probability; nil, 0 for an empty table.
-- Ties go to the label that sorts first, so the answer does not depend on table order.
function hitl.top(scores)
  local best_label, best = nil, -math.huge
  for label, p in pairs(scores or {}) do
    if type(p) == "number" and (p > best or (p == best and tostring(label) < tostring(best_label))) then
      best_label, best = label, p
    end
  end
  if best_label == nil then return nil, 0 end
  return best_label, best
end

--- Top-1 minus top-2 probability: small when the model hesitates between two labels.
-- One score: that score; no scores: 0.
function hitl.margin(scores)
  local first, second = -math.huge, -math.huge
  local n = 0
  for _, p in pairs(scores or {}) do
    if type(p) == "number" then
      n = n + 1
      if p > first then
        first, second = p, first
      elseif p > second then
        second = p
      end
    end
  end
  if n == 0 then return 0 end
  if n == 1 then return first end
  return first - second
end

--- Shannon entropy -sum(p * ln p) of the scores, in nats (0 = certain; ln 2 ~ 0.693 for a
-- 50/50 binary split). With normalized = true it is divided by ln(number of labels), so 1 means
-- uniform whatever the number of labels. Zero and negative scores are skipped.
function hitl.entropy(scores, normalized)
  local h, n = 0, 0
  for _, p in pairs(scores or {}) do
    if type(p) == "number" then
      n = n + 1
      if p > 0 then h = h - p * math.log(p) end
    end
  end
  if normalized then
    if n < 2 then return 0 end
    return h / math.log(n)
  end
  return h
end

--- Nested lookup: hitl.get(p.input, "applicant.address.zip", "unknown"). Returns `default` when
-- any level is missing or not a table. A segment made of digits also matches an array index
-- ("items.1.price").
function hitl.get(tbl, path, default)
  if type(path) ~= "string" then error("hitl.get: path must be a string, got " .. type(path), 2) end
  local v = tbl
  for key in string.gmatch(path, "[^.]+") do
    if type(v) ~= "table" then return default end
    local nxt = v[key]
    if nxt == nil then
      local i = tonumber(key)
      if i then nxt = v[i] end
    end
    v = nxt
  end
  if v == nil then return default end
  return v
end

return hitl
