-- hitl service config for the credit_risk example (see ../../docs/operations.md for every option).
-- Relative paths resolve against this file's folder; env("NAME", default) reads the environment.
return {
  listen = env("HITL_LISTEN", "127.0.0.1:8080"),

  -- Embedded default: decisions, tasks, reviews, audit and the review queue in one SQLite file.
  storage = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  queue   = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },

  -- Dataset versions and the model registry, next to the database.
  datasets_dir = "var/datasets",
  registry_dir = "var/registry",

  models = {
    -- Logistic regression trained on data/credit_train.csv (the first 1,500 rows of credit_data.csv;
    -- data/credit_stream.csv, the rest, is what `hitl simulate` streams), all but the 281 rows of
    -- its base holdout (kept for evaluations; hitl train leaves them out and says so), by:
    --   hitl train --config hitl.lua --domain credit_risk --data data/credit_train.csv --label Status
    credit_logreg = { plugin = "logreg", config = { artifact = "model/credit_logreg.json" } },
  },

  domains = {
    credit_risk = {
      policy = "policy.lua",
      model = "credit_logreg",
      labels = { "good", "bad" },
      lease_seconds = 600,
      -- Reviews are due within two hours unless the policy's sla() says otherwise.
      sla_seconds = 7200,
      -- Bias metrics by age band; what an hour of review and a prediction cost (report).
      report = { group = "Age", bands = { 30, 45, 60 } },
      cost = { reviewer_per_hour = 40, per_prediction = 0.0005 },
      -- Payloads of decided cases are erased after seven years.
      retention_days = 2555,
      -- Known cases mixed into the review queue at the policy's gold_rate, to score reviewers.
      gold_file = "gold.jsonl",
      -- The learning loop: the policy's retrain(stats) asks for trainings; each learns from the
      -- model's own training data plus the reviewed cases, and replaces model/credit_logreg.json
      -- only when the policy's promote(eval) (or the default rule) prefers it.
      retrain = { base_data = "data/credit_train.csv", base_label = "Status" },
    },
  },
}
