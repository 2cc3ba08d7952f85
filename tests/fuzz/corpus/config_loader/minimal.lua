return {
  listen = "127.0.0.1:0",
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  domains = { d = { policy = "policy.lua", labels = { "yes", "no" }, sla_seconds = 60 } },
}
