-- hitl service config for the customer_churn example (see ../../docs/operations.md for every option).
-- Relative paths resolve against this file's folder; env("NAME", default) reads the environment.
return {
  listen = env("HITL_LISTEN", "127.0.0.1:8080"),

  storage = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  queue   = { plugin = "sqlite", config = { path = env("HITL_DB", "var/hitl.db") } },
  datasets_dir = "var/datasets",
  registry_dir = "var/registry",

  models = {
    -- Gradient-boosted trees trained on the first fifth of the data (data/base.csv) by:
    --   hitl train --config hitl.lua --domain customer_churn --data data/base.csv --label churn
    -- It leaves out the base holdout (retrain.base_holdout_fraction of data/base.csv, kept for
    -- evaluations), and says so. The other four fifths (data/stream.csv) are the traffic the
    -- simulation streams.
    churn_xgb = { plugin = "xgboost", config = { artifact = "model/churn_xgb.json" } },
  },

  domains = {
    customer_churn = {
      policy = "policy.lua",
      model = "churn_xgb",
      labels = { "No", "Yes" },
      lease_seconds = 600,
      -- A retention offer is decided within a working day unless the policy's sla() says otherwise.
      sla_seconds = 8 * 3600,
      -- Bias metrics by tenure band (months); what an hour of review and a prediction cost.
      report = { group = "tenure", bands = { 12, 24, 48 } },
      cost = { reviewer_per_hour = 35, per_prediction = 0.0005 },
      -- The learning loop learns from the base data plus the reviewed cases.
      retrain = { base_data = "data/base.csv", base_label = "churn" },
    },
  },
}
