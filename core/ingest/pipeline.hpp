#pragma once
// The ingest pipeline, shared by HTTP and `hitl ingest`:
//   validate -> model predict (when the client sent no prediction) -> policy flag -> priority
//   -> writer (group commit of decision + task + audit) -> queue push -> reply.
// Model and policy run on the calling thread; only storage writes go to the writer thread.
#include <hitl/plugin_api.hpp>

#include "dataset/gold.hpp"
#include "ingest/ingest_body.hpp"
#include "ingest/redaction.hpp"

#include <nlohmann/json.hpp>

#include <mutex>  // records carry JSON by value; only service files include this

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl::policy { class PolicyEngine; struct PredictionView; struct FlagInput; struct Verdict; }
namespace hitl::data { struct FeatureStats; }

namespace hitl::service {

class Writer;
class Metrics;
class Signals;
struct DomainCounters;

// The live model of one `models.<name>` with the feature statistics of its training data (the
// artifact's `.features.json` sidecar; null when it has none), swappable while requests run
// (App::reload_models). A batch takes one LiveModel and scores, computes p.ood and records the
// version with it, so no request sees half of a swap (a new model with the old statistics).
struct LiveModel {
  std::shared_ptr<sdk::Model> model;
  std::shared_ptr<const data::FeatureStats> stats;
};

class ModelSlot {
 public:
  explicit ModelSlot(std::shared_ptr<sdk::Model> m, std::shared_ptr<const data::FeatureStats> stats = nullptr)
      : live_{std::move(m), std::move(stats)} {}
  std::shared_ptr<sdk::Model> get() const {
    std::lock_guard lock(mu_);
    return live_.model;
  }
  LiveModel live() const {
    std::lock_guard lock(mu_);
    return live_;
  }
  void set(std::shared_ptr<sdk::Model> m, std::shared_ptr<const data::FeatureStats> stats = nullptr) {
    std::lock_guard lock(mu_);
    live_ = LiveModel{std::move(m), std::move(stats)};
  }

 private:
  mutable std::mutex mu_;
  LiveModel live_;
};

struct DomainRuntime {
  std::string name;
  std::vector<std::string> labels;
  std::shared_ptr<ModelSlot> model;  // null: clients must send predictions
  std::shared_ptr<ModelSlot> shadow;  // scores every record for the agreement metrics only (null = none)
  std::string shadow_name;
  std::string model_name;
  // Further models scoring every record for p.predictions (domains.<d>.ensemble), in order.
  std::vector<std::pair<std::string, std::shared_ptr<ModelSlot>>> ensemble;
  std::shared_ptr<ModelSlot> judge;  // domains.<d>.judge_model (null = none)
  std::string judge_name;
  std::int64_t lease_ms = 300000;
  std::int64_t sla_seconds = 0;         // default review deadline (0 = none)
  std::vector<std::string> sensitive;   // fields masked for reviewers (see ingest/redaction.hpp)
  Redactor redactor;                    // built from `sensitive` once, used on the ingest path
  std::int64_t fatigue_max_consecutive = 0;
  std::int64_t fatigue_max_per_hour = 0;
  double sla_at_risk_fraction = 0.8;
  std::string webhook_url;  // escalation "notify" deliveries go here too
  std::shared_ptr<const GoldSet> gold;  // golden set for gold tasks (null = none)
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

nlohmann::json result_to_json(const IngestResult& r);

class Pipeline {
 public:
  using Done = std::function<void(const sdk::Status&, std::vector<IngestResult>&)>;

  Pipeline(std::map<std::string, DomainRuntime> domains, policy::PolicyEngine& policies,
           sdk::Storage& storage, Writer& writer, Metrics& metrics);

  const DomainRuntime* domain(const std::string& name) const;
  // Where the rolling figures of hitl.stats() are counted (ingest/signals.hpp); null = nowhere.
  void set_signals(Signals* signals) { signals_ = signals; }
  // Scores, flags and submits `records` (all of one domain, which must exist). `done` runs on the
  // writer thread once the decisions are committed (results in input order), or with the error.
  void ingest(const std::string& domain, std::vector<IngestRecord>&& records,
              const std::string& actor, Done done);

 private:
  void score_ensemble(const DomainRuntime& dom, const std::vector<std::optional<sdk::Record>>& rows,
                      const std::vector<std::string>& row_errors,
                      const std::vector<std::optional<sdk::DecisionRecord>>& existing, const std::vector<char>& model_failed,
                      std::vector<std::vector<policy::PredictionView>>& members, std::vector<std::string>& errors,
                      DomainCounters* counters) const;
  // The judge step of a case flag sent to hitl.judge(reason): the judge model, then the policy's
  // judge(p, verdict). Any failure: review judge_error, counted. `note` gets the audit detail.
  policy::Verdict run_judge(const DomainRuntime& dom, const IngestRecord& rec, const policy::FlagInput& in,
                            const std::string& reason, nlohmann::json& note, DomainCounters* counters) const;
  void score_primary(const DomainRuntime& dom, sdk::Model& model, const std::vector<std::size_t>& to_score,
                     const std::vector<std::optional<sdk::Record>>& rows, std::vector<IngestRecord>& records,
                     std::vector<char>& scored, std::vector<char>& model_failed, DomainCounters* counters) const;
  sdk::TaskRecord review_task(const DomainRuntime& dom, const IngestRecord& rec, const policy::PredictionView& view,
                              const policy::Verdict& verdict, const std::string& actor, std::int64_t now,
                              sdk::DecisionRecord& d, DomainCounters* counters) const;
  std::vector<IngestResult> results_of(sdk::WriteBatch& committed, DomainCounters* counters) const;
  void score_shadow(const DomainRuntime& dom, const std::vector<IngestRecord>& records,
                    const std::vector<std::optional<sdk::DecisionRecord>>& existing, DomainCounters* counters) const;
  void add_gold_task(const DomainRuntime& dom, const sdk::TaskRecord& real, const std::string& policy_hash,
                     const std::string& model_version, std::int64_t now, sdk::WriteBatch& out) const;

  std::map<std::string, DomainRuntime> domains_;
  policy::PolicyEngine& policies_;
  sdk::Storage& storage_;
  Writer& writer_;
  Metrics& metrics_;
  Signals* signals_ = nullptr;
};

}  // namespace hitl::service
