-- hitl service config for the review_triage example (see ../../docs/operations.md for every option).
-- Relative paths resolve against this file's folder; env("NAME", default) reads the environment.
return {
  listen = env("HITL_LISTEN", "127.0.0.1:8080"),

  storage = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  queue   = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  datasets_dir = "var/datasets",
  registry_dir = "var/registry",

  models = {
    -- Logistic regression over the review's words: the text is hashed into 4096 slots (words and
    -- pairs of words), trained on the first fifth of the data (data/base.csv) by:
    --   hitl train --config hitl.lua --domain review_triage --data data/base.csv --label score
    -- It leaves out the base holdout (retrain.base_holdout_fraction of data/base.csv, kept for
    -- evaluations), and says so. The other four fifths (data/stream.csv) are the traffic the
    -- simulation streams.
    review_words = { plugin = "logreg", config = { artifact = "model/review_words.json",
                                                   text_columns = { "review" }, l2 = 0.0001 } },
  },

  domains = {
    review_triage = {
      policy = "policy.lua",
      model = "review_words",
      -- "great": a five-star review; "other": anything less.
      labels = { "great", "other" },
      lease_seconds = 300,
      -- Reviews are published or held within a day.
      sla_seconds = 24 * 3600,
      cost = { reviewer_per_hour = 25, per_prediction = 0.0001 },
      retrain = { base_data = "data/base.csv", base_label = "score" },
    },
  },
}
