-- hitl service config for the hpc_jobs example (see ../../docs/operations.md for every option).
-- Relative paths resolve against this file's folder; env("NAME", default) reads the environment.
return {
  listen = env("HITL_LISTEN", "127.0.0.1:8080"),

  storage = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  queue   = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  datasets_dir = "var/datasets",
  registry_dir = "var/registry",

  models = {
    -- Gradient-boosted trees (four classes) trained on the first fifth of the shuffled data
    -- (data/base.csv) by:
    --   hitl train --config hitl.lua --domain hpc_jobs --data data/base.csv --label class
    -- It leaves out the base holdout (retrain.base_holdout_fraction of data/base.csv, kept for
    -- evaluations), and says so. The other four fifths (data/stream.csv) are the traffic the
    -- simulation streams.
    hpc_xgb = { plugin = "xgboost", config = { artifact = "model/hpc_xgb.json" } },
  },

  domains = {
    hpc_jobs = {
      policy = "policy.lua",
      model = "hpc_xgb",
      -- Run-time classes: very fast, fast, medium, long.
      labels = { "VF", "F", "M", "L" },
      lease_seconds = 600,
      -- A job waits for its queue assignment: reviews are due within 30 minutes.
      sla_seconds = 1800,
      report = { group = "protocol" },
      cost = { reviewer_per_hour = 60, per_prediction = 0.0002 },
      retrain = { base_data = "data/base.csv", base_label = "class" },
    },
  },
}
