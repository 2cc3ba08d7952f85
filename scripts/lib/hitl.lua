-- hitl: the policy standard library.  local hitl = require "hitl"
--
-- Verdicts (what flag(p) returns):
--   hitl.auto()                  accept the prediction as is, no human review
--   hitl.review(reason [, opts]) send it to human review; reason is a short non-empty tag
--                                ("uncertain"); opts = { skills = {"fraud"}, pool = "senior" }
--   hitl.reject(reason)          refuse it outright; reason is a short non-empty tag
-- Helpers:
--   hitl.between(x, lo, hi)       true when x is a number and lo <= x <= hi
--   hitl.clamp(x, lo, hi)         x limited to [lo, hi]
--   hitl.top(scores)              label, probability of the highest score
--   hitl.margin(scores)           top-1 probability minus top-2 probability
--   hitl.prob(prediction, label)  the probability the prediction gives label (its score, else from
--                                 label and confidence for a two-label model)
--   hitl.entropy(scores [, normalized])   Shannon entropy of the scores (nats, or 0..1)
--   hitl.get(tbl, "a.b.c", default)       nested lookup that never fails on missing levels
-- Signals (docs/policy.md, "Signals"):
--   hitl.now([utc_offset_hours])          { ms, hour, minute, weekday } of the service clock
--   hitl.stats(window_seconds [, segment]) rolling figures of the domain: flag_rate, predictions,
--                                         reviews, open_tasks, error_rate, ...
--   hitl.disagreement(predictions)        share of models not agreeing with the majority label
--   hitl.mean_scores(predictions)         the ensemble's mean score per label
--   hitl.threshold_for_rate(rate)         the confidence below which `rate` of recent predictions
--                                         fall (nil until there are 200): holds a review share
--   hitl.calibrated(prediction)           the chance the model is right at that confidence, from
--                                         labelled outcomes (nil until 30 in its tenth): a fallback
--   hitl.judge(reason)                    verdict: the domain's judge model screens the case, then
--                                         the policy's judge(p, verdict) decides
-- Assignment (for assign(task, candidates); candidates are { id, skills, load, capacity, ... }):
--   hitl.has_skills(candidate, skills)    true when the candidate has every one of skills
--   hitl.skill_match(candidates, skills)  the candidates having all the skills, order kept
--   hitl.accurate(candidates, min_accuracy [, min_answers])  drops those known to be below it on gold
--   hitl.least_loaded(candidates)         ids by load / capacity, then load, then id
--   hitl.round_robin(candidates [, key])  ids rotated by a per-thread counter per key
--   hitl.ids(candidates)                  ids in order
-- Deadlines (for sla(task)):
--   hitl.business_hours_sla(now_ms, hours [, opts])  seconds until `hours` business hours passed
-- Escalation actions (what escalate(task, event) returns):
--   hitl.raise_priority(v)  hitl.reassign(pool)  hitl.notify()  hitl.default_decision(label)
--   hitl.actions(a, b, ...) the non-nil ones as an array, nil when none is left
-- Retraining (for retrain(stats)):
--   hitl.retrain_after(samples, corrections)  a retrain(stats) asking once both counts are reached
-- Training weights (for weight(sample)):
--   hitl.inverse_confidence(sample)      1 / (confidence + 0.01): unsure cases weigh more (the default is 1)
-- Errors name the helper ("hitl.review: ...") and point at the line of the policy that called it.
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

-- The printable description of a value for an error message: "an empty string", "number", ...
local function describe(v)
  if v == "" then return "an empty string" end
  return type(v)
end

-- True when s is a non-empty string without control characters (tabs and newlines included).
local function is_tag(s)
  return type(s) == "string" and s ~= "" and not string.find(s, "%c")
end

-- Why s is not a tag, for an error message: "an empty string", "a string with a control character", ...
local function tag_problem(s)
  if type(s) == "string" and s ~= "" then return "a string with a control character" end
  return describe(s)
end

local MAX_SKILLS = 32  -- the engine keeps at most this many skills per task

-- Checks hitl.review's opts ({ skills = {...}, pool = "..." }) and returns a fresh copy of the
-- valid fields (skills with duplicates removed, order kept). Errors point at review's caller.
local function check_review_opts(opts)
  if type(opts) ~= "table" then
    error("hitl.review: opts must be a table { skills = {...}, pool = \"...\" }, got " .. type(opts), 3)
  end
  for key in pairs(opts) do
    if key ~= "skills" and key ~= "pool" then
      error("hitl.review: unknown option " .. (type(key) == "string" and ("'" .. key .. "'") or tostring(key)) ..
            " (expected skills, pool)", 3)
    end
  end
  local out = {}
  local skills = opts.skills
  if skills ~= nil then
    if type(skills) ~= "table" then
      error("hitl.review: opts.skills must be an array of non-empty strings, got " .. describe(skills), 3)
    end
    local n = 0
    for _ in pairs(skills) do n = n + 1 end
    for key in pairs(skills) do  -- an array: exactly the keys 1..n
      if math.type(key) ~= "integer" or key < 1 or key > n then
        error("hitl.review: opts.skills must be an array of non-empty strings, got a table with key " ..
              (type(key) == "string" and ("'" .. key .. "'") or tostring(key)), 3)
      end
    end
    local list, seen = {}, {}
    for i = 1, n do
      local s = skills[i]
      if not is_tag(s) then
        error("hitl.review: opts.skills[" .. i .. "] must be a non-empty string, got " .. tag_problem(s), 3)
      end
      if not seen[s] then
        seen[s] = true
        list[#list + 1] = s
      end
    end
    if #list > MAX_SKILLS then
      error("hitl.review: opts.skills has " .. #list .. " skills, at most " .. MAX_SKILLS .. " are allowed", 3)
    end
    out.skills = list
  end
  local pool = opts.pool
  if pool ~= nil and not is_tag(pool) then
    error("hitl.review: opts.pool must be a non-empty string, got " .. tag_problem(pool), 3)
  end
  out.pool = pool
  return out
end

--- Verdict: queue the prediction for human review. `reason` names the rule that fired.
-- `opts` (optional): { skills = {"fraud", "large_loans"}, pool = "senior" }: the skills a reviewer
-- needs (all of them) and the reviewer pool (role) that alone may take the task. Unknown keys, a
-- skills value that is not an array of non-empty strings and an empty pool are errors.
-- hitl.review("large_loan", { skills = {"large_loans"}, pool = "senior" })
function hitl.review(reason, opts)
  check_reason("review", reason)
  local verdict = { action = "review", reason = reason }
  if opts ~= nil then
    local o = check_review_opts(opts)
    verdict.skills = o.skills
    verdict.pool = o.pool
  end
  return verdict
end

--- Verdict: reject the input outright (no review task). `reason` names the rule that fired.
function hitl.reject(reason)
  check_reason("reject", reason)
  return { action = "reject", reason = reason }
end

--- Verdict: let the domain's judge model (domains.<d>.judge_model) screen the case first; the
-- policy's judge(p, verdict) hook then returns the final verdict. `reason` is passed on to it as
-- verdict.reason. Any failure of that step sends the case to review (judge_error).
function hitl.judge(reason)
  check_reason("judge", reason)
  return { action = "judge", reason = reason }
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

--- The probability `prediction` gives `label`: its score when the model sent scores; without
-- them the confidence when `label` is the predicted label, else 1 - confidence (right for a
-- two-label model, where the other label holds the rest). 0 for a prediction without either.
function hitl.prob(prediction, label)
  if type(prediction) ~= "table" then return 0 end
  local s = type(prediction.scores) == "table" and prediction.scores[label]
  if type(s) == "number" then return s end
  if type(prediction.confidence) ~= "number" then return 0 end
  if prediction.label == label then return prediction.confidence end
  return 1 - prediction.confidence
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

-- ---- Signals: the service clock, rolling statistics, ensembles, the judge step ----

-- The host functions (C, core/policy/host_module.cpp): now_ms() and stats(window, segment).
local host = require "hitl.host"

--- The service clock: { ms = epoch milliseconds, hour = 0..23, minute = 0..59, weekday = 1..7
-- (1 = Monday, ISO 8601), utc_offset_hours = the offset used }. hour, minute and weekday are UTC
-- unless utc_offset_hours (a number in [-14, 14], fractions allowed; no daylight saving time)
-- shifts them. The clock is the service's, so a test that moves it moves this too.
function hitl.now(utc_offset_hours)
  local off = 0
  if utc_offset_hours ~= nil then
    if type(utc_offset_hours) ~= "number" or utc_offset_hours ~= utc_offset_hours or
       utc_offset_hours < -14 or utc_offset_hours > 14 then
      error("hitl.now: utc_offset_hours must be a number in [-14, 14], got " .. tostring(utc_offset_hours), 2)
    end
    off = utc_offset_hours
  end
  local ms = host.now_ms()
  local shifted = ms + math.floor(off * 3600000 + 0.5)
  local day = shifted // 86400000           -- floor division: right before 1970 too
  local in_day = shifted - day * 86400000
  return { ms = ms, hour = in_day // 3600000, minute = (in_day % 3600000) // 60000,
           weekday = (day + 3) % 7 + 1,     -- 1970-01-01 was a Thursday (4)
           utc_offset_hours = off }
end

--- Rolling figures of this domain over the last `window_seconds` (1..3600), or of one segment
-- of it (the value of the domain's stats_segment field, e.g. p.meta.region): { window,
-- predictions, flagged, rejected, errors, reviews, open_tasks, flag_rate, reject_rate,
-- error_rate [, segment] }. A nil segment means the whole domain.
function hitl.stats(window_seconds, segment)
  if type(window_seconds) ~= "number" or window_seconds ~= window_seconds then
    error("hitl.stats: window_seconds must be a number, got " .. type(window_seconds), 2)
  end
  local t = type(segment)
  if t == "boolean" then
    segment = tostring(segment)
  elseif segment ~= nil and t ~= "string" and t ~= "number" then
    error("hitl.stats: segment must be a string, a number, a boolean or nil, got " .. t, 2)
  end
  local s, err = host.stats(window_seconds, segment)
  if not s then error("hitl.stats: " .. err, 2) end
  return s
end

--- The confidence below which `rate` (0 < rate < 1) of this domain's recent predictions fall
-- (the last 10,000; a promoted model starts afresh after 200): `p.prediction.confidence <
-- hitl.threshold_for_rate(0.15)` flags about 15% whatever the model's confidence looks like.
-- nil until 200 predictions were seen, and outside hitl serve / hitl ingest: give a fallback.
function hitl.threshold_for_rate(rate)
  if type(rate) ~= "number" or not (rate > 0 and rate < 1) then
    error("hitl.threshold_for_rate: rate must be a number between 0 and 1 (exclusive), got " .. tostring(rate), 2)
  end
  return host.threshold_for_rate(rate)
end

--- The chance that the model's label is right at this prediction's confidence, learnt from the
-- domain's labelled outcomes (reviewed cases, audit samples weighted 1/p), refitted when a new
-- model is swapped in: `hitl.calibrated(p.prediction) < 0.7` means "wrong more than 30% of the
-- time at this confidence". nil while fewer than 30 outcomes fell in its tenth of the confidence
-- range, and outside hitl serve / hitl ingest: give a fallback (the confidence itself).
function hitl.calibrated(prediction)
  if type(prediction) ~= "table" or type(prediction.confidence) ~= "number" then
    error("hitl.calibrated: expects a prediction (p.prediction) with a numeric confidence, got " .. type(prediction), 2)
  end
  return host.calibrated(prediction.confidence)
end

-- Checks p.predictions-like arrays: every entry a table with a string label.
local function check_predictions(fn, predictions)
  if type(predictions) ~= "table" then
    error("hitl." .. fn .. ": predictions must be an array of predictions (p.predictions), got " .. type(predictions), 3)
  end
  for i, pr in ipairs(predictions) do
    if type(pr) ~= "table" or type(pr.label) ~= "string" then
      error("hitl." .. fn .. ": predictions[" .. i .. "] must be a prediction with a label, got " ..
            (type(pr) == "table" and "a table without a label" or type(pr)), 3)
    end
  end
end

--- The share of models whose label is not the majority label (0 = unanimous; with 3 models one
-- dissent is 1/3), and the majority label. Ties between labels go to the one that sorts first.
-- An empty array gives 0, nil.
function hitl.disagreement(predictions)
  check_predictions("disagreement", predictions)
  local counts, n = {}, #predictions
  if n == 0 then return 0, nil end
  for _, pr in ipairs(predictions) do counts[pr.label] = (counts[pr.label] or 0) + 1 end
  local majority, best = nil, 0
  for label, c in pairs(counts) do
    if c > best or (c == best and label < majority) then majority, best = label, c end
  end
  return (n - best) / n, majority
end

--- The mean score per label over the models ({ label = mean probability }): a label a model
-- gives no score counts as 0 for it; a prediction without scores counts as { [label] = confidence }.
function hitl.mean_scores(predictions)
  check_predictions("mean_scores", predictions)
  local sums, n = {}, #predictions
  if n == 0 then return {} end
  for _, pr in ipairs(predictions) do
    local scores = pr.scores
    if type(scores) ~= "table" or next(scores) == nil then scores = { [pr.label] = pr.confidence or 0 } end
    for label, v in pairs(scores) do
      if type(v) == "number" then sums[label] = (sums[label] or 0) + v end
    end
  end
  for label, v in pairs(sums) do sums[label] = v / n end
  return sums
end

-- ---- Assignment: helpers for assign(task, candidates) ----
-- A candidate is a table { id, name, roles = {...}, skills = {...}, load, capacity, cost_per_hour,
-- gold_accuracy, gold_answers, agreement, consecutive, last_hour } (see docs/policy.md). The
-- helpers read only the fields they need; a missing load counts as 0, missing skills as none.

-- Checks `candidates` is an array of tables; errors name `fn` and point at fn's caller.
local function check_candidates(fn, candidates)
  if type(candidates) ~= "table" then
    error("hitl." .. fn .. ": candidates must be an array of candidate tables, got " .. type(candidates), 3)
  end
  for i = 1, #candidates do
    if type(candidates[i]) ~= "table" then
      error("hitl." .. fn .. ": candidates[" .. i .. "] must be a table, got " .. type(candidates[i]), 3)
    end
  end
end

-- Checks an optional skills list (nil, or an array of strings); errors point at fn's caller.
local function check_skills(fn, skills)
  if skills ~= nil and type(skills) ~= "table" then
    error("hitl." .. fn .. ": skills must be an array of strings or nil, got " .. type(skills), 3)
  end
  for i = 1, #(skills or {}) do
    if type(skills[i]) ~= "string" then
      error("hitl." .. fn .. ": skills[" .. i .. "] must be a string, got " .. type(skills[i]), 3)
    end
  end
end

-- The id of candidates[i]; an error (pointing at fn's caller) when it has none.
local function candidate_id(fn, candidates, i)
  local id = candidates[i].id
  if id == nil then error("hitl." .. fn .. ": candidates[" .. i .. "] has no id", 3) end
  return id
end

-- True when candidate c has every skill in the array `skills` (c.skills missing: no skills).
local function has_all(c, skills)
  if skills == nil or #skills == 0 then return true end
  local own = {}
  if type(c.skills) == "table" then
    for _, s in ipairs(c.skills) do own[s] = true end
  end
  for _, s in ipairs(skills) do
    if not own[s] then return false end
  end
  return true
end

--- True when the candidate's skills include every one of `skills` (an array of strings).
-- nil or an empty array: true. A candidate without a skills field has no skills.
-- hitl.has_skills(c, task.skills)
function hitl.has_skills(candidate, skills)
  if type(candidate) ~= "table" then
    error("hitl.has_skills: candidate must be a table, got " .. type(candidate), 2)
  end
  check_skills("has_skills", skills)
  return has_all(candidate, skills)
end

--- The candidates (tables) having all of `skills`, in their original order.
-- hitl.skill_match(candidates, task.skills)
function hitl.skill_match(candidates, skills)
  check_candidates("skill_match", candidates)
  check_skills("skill_match", skills)
  local out = {}
  for _, c in ipairs(candidates) do
    if has_all(c, skills) then out[#out + 1] = c end
  end
  return out
end

--- Drops the candidates whose gold accuracy is known and below `min_accuracy` (0..1). Known means
-- gold_accuracy is a number and gold_answers >= min_answers (default 1): a reviewer with too few
-- gold answers is kept. The others (tables) are returned in their original order.
-- hitl.accurate(candidates, 0.9, 20)
function hitl.accurate(candidates, min_accuracy, min_answers)
  check_candidates("accurate", candidates)
  if type(min_accuracy) ~= "number" or not (min_accuracy >= 0 and min_accuracy <= 1) then
    error("hitl.accurate: min_accuracy must be a number in [0, 1], got " ..
          (type(min_accuracy) == "number" and tostring(min_accuracy) or type(min_accuracy)), 2)
  end
  if min_answers == nil then min_answers = 1 end
  if type(min_answers) ~= "number" or not (min_answers >= 0 and min_answers < math.huge) then
    error("hitl.accurate: min_answers must be a number >= 0, got " ..
          (type(min_answers) == "number" and tostring(min_answers) or type(min_answers)), 2)
  end
  local out = {}
  for _, c in ipairs(candidates) do
    local acc, n = c.gold_accuracy, c.gold_answers
    local known = type(acc) == "number" and (type(n) == "number" and n or 0) >= min_answers
    if not (known and acc < min_accuracy) then out[#out + 1] = c end
  end
  return out
end

-- Orders ids deterministically: numbers numerically, digit strings ("7" < "12") numerically,
-- other strings bytewise; numbers before strings, digit strings before other strings.
local function id_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    if ta == "number" then return true end
    if tb == "number" then return false end
    return ta < tb
  end
  if ta == "number" then return a < b end
  if ta ~= "string" then return tostring(a) < tostring(b) end
  local da, db = string.find(a, "^%d+$") ~= nil, string.find(b, "^%d+$") ~= nil
  if da and db then
    local na, nb = string.match(a, "^0*(%d-)$"), string.match(b, "^0*(%d-)$")  -- any length
    if #na ~= #nb then return #na < #nb end
    if na ~= nb then return na < nb end
    return a < b  -- "007" and "7": still one fixed order
  end
  if da ~= db then return da end
  return a < b
end

-- A candidate's field as a number for sorting: `default` when absent, an error when not a number.
local function number_field(fn, c, i, field, default)
  local v = c[field]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v then
    error("hitl." .. fn .. ": candidates[" .. i .. "]." .. field .. " must be a number, got " ..
          (type(v) == "number" and "NaN" or type(v)), 3)
  end
  return v
end

--- The candidates' ids sorted by load / capacity ascending (the emptiest first). Ties: lower
-- load first, then the lower id, so the order never depends on the input order. A missing load
-- counts as 0; a missing or non-positive capacity sorts the candidate last (it is full).
-- Nobody is dropped: combine with hitl.skill_match / hitl.accurate to filter.
-- hitl.least_loaded(hitl.skill_match(candidates, task.skills))  --> { 7, 3, 12 }
function hitl.least_loaded(candidates)
  check_candidates("least_loaded", candidates)
  local rows = {}
  for i, c in ipairs(candidates) do
    local id = candidate_id("least_loaded", candidates, i)
    local load = number_field("least_loaded", c, i, "load", 0)
    local capacity = number_field("least_loaded", c, i, "capacity", 0)
    local ratio = capacity > 0 and load / capacity or math.huge
    rows[i] = { id = id, load = load, ratio = ratio }
  end
  table.sort(rows, function(a, b)
    if a.ratio ~= b.ratio then return a.ratio < b.ratio end
    if a.load ~= b.load then return a.load < b.load end
    return id_less(a.id, b.id)
  end)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.id end
  return out
end

--- The candidates' ids in their original order.
function hitl.ids(candidates)
  check_candidates("ids", candidates)
  local out = {}
  for i = 1, #candidates do out[i] = candidate_id("ids", candidates, i) end
  return out
end

-- Rotation counters of hitl.round_robin, one per key. They live in this Lua state, and there is
-- one state per worker thread per domain, rebuilt after a budget or memory failure and on reload.
local rotation = {}

--- The candidates' ids rotated by a counter kept per `key` (a string or number; default
-- "default"): the first call starts at the first candidate, the next at the second, and so on,
-- wrapping around. The counter lives in the policy's Lua state, so it is per worker thread: a
-- fair-ish spread, not a global rotation. An empty list returns {} and leaves the counter alone.
-- hitl.round_robin(hitl.skill_match(candidates, task.skills), task.pool)
function hitl.round_robin(candidates, key)
  check_candidates("round_robin", candidates)
  if key == nil then key = "default" end
  if type(key) ~= "string" and type(key) ~= "number" then
    error("hitl.round_robin: key must be a string or a number, got " .. type(key), 2)
  end
  local n = #candidates
  local ids = {}
  for i = 1, n do ids[i] = candidate_id("round_robin", candidates, i) end
  if n == 0 then return ids end
  local count = rotation[key] or 0
  rotation[key] = count + 1
  local start = count % n
  local out = {}
  for i = 1, n do out[i] = ids[(start + i - 1) % n + 1] end
  return out
end

-- ---- Deadlines: helpers for sla(task) ----

local MS_PER_HOUR = 3600 * 1000
local MS_PER_DAY = 24 * MS_PER_HOUR

-- A number option of business_hours_sla in [lo, hi], or `default` when absent.
local function hours_option(opts, name, default, lo, hi)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or not (v >= lo and v <= hi) then
    error("hitl.business_hours_sla: opts." .. name .. " must be a number in [" .. lo .. ", " .. hi ..
          "], got " .. (type(v) == "number" and tostring(v) or type(v)), 3)
  end
  return v
end

--- Seconds from `now_ms` (epoch milliseconds, e.g. task.now_ms or an event's now_ms) until
-- `hours` business hours (> 0, fractions allowed) have elapsed. Business hours run from
-- opts.start (default 9) to opts.stop (default 17), Monday to Friday, in UTC plus
-- opts.utc_offset_hours (default 0, -14..14, fractions allowed). Time outside business hours does
-- not count: Friday 16:00 + 2 business hours is Monday 10:00. No holidays.
-- The calendar is computed from the milliseconds (1970-01-01 was a Thursday), not with os.date.
-- sla = function(task) return hitl.business_hours_sla(now, 4, { utc_offset_hours = 1 }) end
function hitl.business_hours_sla(now_ms, hours, opts)
  if type(now_ms) ~= "number" or now_ms ~= now_ms or now_ms == math.huge or now_ms == -math.huge then
    error("hitl.business_hours_sla: now_ms must be a finite number (epoch milliseconds), got " ..
          (type(now_ms) == "number" and tostring(now_ms) or type(now_ms)), 2)
  end
  if type(hours) ~= "number" or not (hours > 0 and hours < math.huge) then
    error("hitl.business_hours_sla: hours must be a positive number, got " ..
          (type(hours) == "number" and tostring(hours) or type(hours)), 2)
  end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("hitl.business_hours_sla: opts must be a table or nil, got " .. type(opts), 2)
  end
  for k in pairs(opts) do
    if k ~= "start" and k ~= "stop" and k ~= "utc_offset_hours" then
      error("hitl.business_hours_sla: unknown option " .. (type(k) == "string" and ("'" .. k .. "'") or tostring(k)) ..
            " (expected start, stop, utc_offset_hours)", 2)
    end
  end
  local start = hours_option(opts, "start", 9, 0, 24)
  local stop = hours_option(opts, "stop", 17, 0, 24)
  local offset = hours_option(opts, "utc_offset_hours", 0, -14, 14)
  if not (start < stop) then
    error("hitl.business_hours_sla: opts.start must be before opts.stop, got " .. start .. " and " .. stop, 2)
  end
  local open, close = start * MS_PER_HOUR, stop * MS_PER_HOUR
  local per_week = 5 * (close - open)
  local local_ms = now_ms + offset * MS_PER_HOUR           -- the wall clock where the reviewers are
  local day = local_ms // MS_PER_DAY                       -- days since 1970-01-01 (local)
  local t = local_ms - day * MS_PER_DAY                    -- milliseconds into that day
  local remaining = hours * MS_PER_HOUR
  while true do
    local weekday = (day + 3) % 7                          -- 0 = Monday ... 6 = Sunday
    if weekday == 0 and t == 0 and remaining > per_week then
      -- Whole weeks at once (keeps long deadlines cheap); never consume the last one here, so
      -- a deadline that ends on a Friday's closing time stays on that Friday.
      local weeks = remaining // per_week
      if weeks * per_week == remaining then weeks = weeks - 1 end
      day = day + 7 * weeks
      remaining = remaining - weeks * per_week
    end
    if weekday < 5 then
      if t < open then t = open end
      if t < close then
        local available = close - t
        if remaining <= available then
          return (day * MS_PER_DAY + t + remaining - local_ms) / 1000
        end
        remaining = remaining - available
      end
    end
    day, t = day + 1, 0
  end
end

-- ---- Escalation: the actions escalate(task, event) returns ----

local ACTIONS = { priority = true, reassign = true, notify = true, default = true }

--- Action: set the task's priority to `value` (a number in [0, 1]).
-- hitl.raise_priority(0.95)  --> { action = "priority", value = 0.95 }
function hitl.raise_priority(value)
  if type(value) ~= "number" or not (value >= 0 and value <= 1) then
    error("hitl.raise_priority: value must be a number in [0, 1], got " ..
          (type(value) == "number" and tostring(value) or type(value)), 2)
  end
  return { action = "priority", value = value }
end

--- Action: move the task to the reviewer pool (role) `pool`, e.g. "senior".
-- hitl.reassign("senior")  --> { action = "reassign", pool = "senior" }
function hitl.reassign(pool)
  if not is_tag(pool) then
    error("hitl.reassign: pool must be a non-empty string, got " .. tag_problem(pool), 2)
  end
  return { action = "reassign", pool = pool }
end

--- Action: notify the domain's operators about the task. Takes no arguments.
-- hitl.notify()  --> { action = "notify" }
function hitl.notify(...)
  if select("#", ...) > 0 then
    error("hitl.notify: takes no arguments (who is notified is the service's configuration)", 2)
  end
  return { action = "notify" }
end

--- Action: decide the task with the policy's default `label` (a non-empty string) instead of
-- waiting for a reviewer.
-- hitl.default_decision("bad")  --> { action = "default", label = "bad" }
function hitl.default_decision(label)
  if not is_tag(label) then
    error("hitl.default_decision: label must be a non-empty string, got " .. tag_problem(label), 2)
  end
  return { action = "default", label = label }
end

--- Several actions as the array escalate may return. nil and false arguments are skipped, so
-- conditional actions read naturally; when none is left the result is nil ("do nothing").
-- Every other argument must be an action table (from the constructors above).
-- return hitl.actions(hitl.notify(), event.kind == "breached" and hitl.reassign("senior"))
function hitl.actions(...)
  local out = {}
  for i = 1, select("#", ...) do
    local a = select(i, ...)
    if a ~= nil and a ~= false then
      if type(a) ~= "table" or not ACTIONS[a.action] then
        error("hitl.actions: argument " .. i .. " is not an action (use hitl.raise_priority, hitl.reassign, " ..
              "hitl.notify or hitl.default_decision), got " .. (type(a) == "table" and "a table without a valid action" or type(a)), 2)
      end
      out[#out + 1] = a
    end
  end
  if #out == 0 then return nil end
  return out
end

--- Training weight: 1 / (confidence + 0.01), for weight(sample). Weighs the cases the model was
-- unsure of up (0.55 -> 1.79, 0.99 -> 1.0). Not the default (1): on the reviewed slice alone it
-- can outweigh the base data and make candidates worse (docs/learning-loop.md, "Weights").
function hitl.inverse_confidence(sample)
  if type(sample) ~= "table" or type(sample.confidence) ~= "number" then
    error("hitl.inverse_confidence: sample.confidence must be a number, got " ..
          (type(sample) == "table" and type(sample.confidence) or type(sample)), 2)
  end
  return 1 / (sample.confidence + 0.01)
end

--- A retrain(stats) hook that asks for a training once `min_samples` new outcomes holding
-- `min_corrections` corrections are in since the last one; the reason says how many.
function hitl.retrain_after(min_samples, min_corrections)
  if type(min_samples) ~= "number" or type(min_corrections) ~= "number" then
    error("hitl.retrain_after: expected two numbers (samples, corrections), got " ..
          type(min_samples) .. ", " .. type(min_corrections), 2)
  end
  return function(stats)
    if stats.samples >= min_samples and stats.corrections >= min_corrections then
      return true, stats.samples .. " outcomes, " .. stats.corrections .. " corrections"
    end
    return false
  end
end

return hitl
