#pragma once
// The ingest pipeline, shared by HTTP and `hitl ingest`:
//   validate -> model predict (when the client sent no prediction) -> policy flag -> priority
//   -> writer (group commit of decision + task + audit) -> queue push -> reply.
// Model and policy run on the calling thread; only storage writes go to the writer thread.
#include <hitl/plugin_api.hpp>

#include "domain/domains.hpp"
#include "ingest/ingest_body.hpp"
#include "ingest/model_slot.hpp"

#include <nlohmann/json.hpp>

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

// The models that score one domain's records, resolved from its settings' model names.
struct DomainModels {
  std::shared_ptr<ModelSlot> primary;  // null: clients must send predictions
  std::vector<std::pair<std::string, std::shared_ptr<ModelSlot>>> ensemble;  // in config order
  std::shared_ptr<ModelSlot> judge;   // null = none
  std::shared_ptr<ModelSlot> shadow;  // null = none
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

  // `models` holds every model a domain names (the config loader checked the names); `signals`
  // is where the rolling figures of hitl.stats() are counted (ingest/signals.hpp); `writer`
  // commits the decisions, and its after-commit step pushes their review tasks to the queue
  // (ingest/task_push.hpp). All must outlive the pipeline.
  Pipeline(const Domains& domains, const ModelSlots& models, policy::PolicyEngine& policies, Signals& signals,
           sdk::Storage& storage, Writer& writer, Metrics& metrics);

  // Scores, flags and submits `records` (all of one domain, which must exist). `done` runs on the
  // writer thread once the decisions are committed (results in input order), or with the error.
  void ingest(const std::string& domain, std::vector<IngestRecord>&& records,
              const std::string& actor, Done done);

 private:
  void score_ensemble(const DomainSettings& dom, const std::vector<std::optional<sdk::Record>>& rows,
                      const std::vector<std::string>& row_errors,
                      const std::vector<std::optional<sdk::DecisionRecord>>& existing, const std::vector<char>& model_failed,
                      std::vector<std::vector<policy::PredictionView>>& members, std::vector<std::string>& errors,
                      DomainCounters* counters) const;
  // The judge step of a case flag sent to hitl.judge(reason): the judge model, then the policy's
  // judge(p, verdict). Any failure: review judge_error, counted. `note` gets the audit detail.
  policy::Verdict run_judge(const DomainSettings& dom, const IngestRecord& rec, const policy::FlagInput& in,
                            const std::string& reason, nlohmann::json& note, DomainCounters* counters) const;
  void score_primary(const DomainSettings& dom, sdk::Model& model, const std::vector<std::size_t>& to_score,
                     const std::vector<std::optional<sdk::Record>>& rows, std::vector<IngestRecord>& records,
                     std::vector<char>& scored, std::vector<char>& model_failed, DomainCounters* counters) const;
  sdk::TaskRecord review_task(const DomainSettings& dom, const IngestRecord& rec, const policy::PredictionView& view,
                              const policy::Verdict& verdict, const std::string& actor, std::int64_t now,
                              sdk::DecisionRecord& d, DomainCounters* counters) const;
  std::vector<IngestResult> results_of(sdk::WriteBatch& committed, DomainCounters* counters) const;
  void score_shadow(const DomainSettings& dom, const std::vector<IngestRecord>& records,
                    const std::vector<std::optional<sdk::DecisionRecord>>& existing, DomainCounters* counters) const;
  void add_gold_task(const DomainSettings& dom, const sdk::TaskRecord& real, const std::string& policy_hash,
                     const std::string& model_version, std::int64_t now, sdk::WriteBatch& out) const;

  const Domains& domains_;
  std::map<std::string, DomainModels> models_;  // by domain name
  policy::PolicyEngine& policies_;
  Signals& signals_;
  sdk::Storage& storage_;
  Writer& writer_;
  Metrics& metrics_;
};

}  // namespace hitl::service
