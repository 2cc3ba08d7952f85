#pragma once
// The ingest pipeline, shared by HTTP and `hitl ingest`:
//   validate -> model predict (when the client sent no prediction) -> policy flag -> priority
//   -> writer (group commit of decision + task + audit) -> queue push -> reply.
// Model and policy run on the calling thread; only storage writes go to the writer thread.
#include <hitl/plugin_api.hpp>

#include "service/gold.hpp"
#include "service/redaction.hpp"

#include <nlohmann/json.hpp>

#include <mutex>  // records carry JSON by value; only service files include this

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl::policy { class PolicyEngine; }

namespace hitl::service {

class Writer;
class Metrics;
struct DomainCounters;

// The live model of one `models.<name>`, swappable while requests run (App::reload_models). A
// batch takes one reference and both scores and records its version with it, so no request is
// scored by half of a swap.
class ModelSlot {
 public:
  explicit ModelSlot(std::shared_ptr<sdk::Model> m) : model_(std::move(m)) {}
  std::shared_ptr<sdk::Model> get() const {
    std::lock_guard lock(mu_);
    return model_;
  }
  void set(std::shared_ptr<sdk::Model> m) {
    std::lock_guard lock(mu_);
    model_ = std::move(m);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<sdk::Model> model_;
};

struct DomainRuntime {
  std::string name;
  std::vector<std::string> labels;
  std::shared_ptr<ModelSlot> model;  // null: clients must send predictions
  std::shared_ptr<ModelSlot> shadow;  // scores every record for the agreement metrics only (null = none)
  std::string shadow_name;
  std::string model_name;
  std::int64_t lease_ms = 300000;
  std::int64_t sla_seconds = 0;         // default review deadline (0 = none)
  std::vector<std::string> sensitive;   // fields masked for reviewers (see service/redaction.hpp)
  Redactor redactor;                    // built from `sensitive` once, used on the ingest path
  std::int64_t fatigue_max_consecutive = 0;
  std::int64_t fatigue_max_per_hour = 0;
  double sla_at_risk_fraction = 0.8;
  std::string webhook_url;  // escalation "notify" deliveries go here too
  std::shared_ptr<const GoldSet> gold;  // golden set for gold tasks (null = none)
};

struct IngestRecord {
  std::string id;
  nlohmann::json input;  // object
  nlohmann::json meta;   // object (empty when absent)
  bool has_prediction = false;
  sdk::Prediction prediction;
};

struct IngestResult {
  std::string id;
  std::string status;  // auto_approved | pending_review | rejected
  std::string reason;
  std::int64_t task_id = 0;
  double priority = 0.0;
  std::string label;
  double confidence = 0.0;
  bool duplicate = false;
};

// Parses one record object; throws ServiceError(422, field = `where` + ".key") on bad shape.
IngestRecord parse_record(const nlohmann::json& obj, const std::string& where);
nlohmann::json result_to_json(const IngestResult& r);

class Pipeline {
 public:
  using Done = std::function<void(const sdk::Status&, std::vector<IngestResult>&)>;

  Pipeline(std::map<std::string, DomainRuntime> domains, policy::PolicyEngine& policies,
           sdk::Storage& storage, Writer& writer, Metrics& metrics);

  const DomainRuntime* domain(const std::string& name) const;
  // Scores, flags and submits `records` (all of one domain, which must exist). `done` runs on the
  // writer thread once the decisions are committed (results in input order), or with the error.
  void ingest(const std::string& domain, std::vector<IngestRecord>&& records,
              const std::string& actor, Done done);

 private:
  void score_shadow(const DomainRuntime& dom, const std::vector<IngestRecord>& records,
                    const std::vector<std::optional<sdk::DecisionRecord>>& existing, DomainCounters* counters) const;
  void add_gold_task(const DomainRuntime& dom, const sdk::TaskRecord& real, const std::string& policy_hash,
                     const std::string& model_version, std::int64_t now, sdk::WriteBatch& out) const;

  std::map<std::string, DomainRuntime> domains_;
  policy::PolicyEngine& policies_;
  sdk::Storage& storage_;
  Writer& writer_;
  Metrics& metrics_;
};

}  // namespace hitl::service
