#pragma once
// The ingest pipeline, shared by HTTP (api/api.cpp) and `hitl ingest` (cli/cmd_ingest.cpp). The
// records come parsed and checked (ingest/ingest_body.hpp); Pipeline::ingest then runs, in order
// (ingest/pipeline.cpp):
//   0. find existing: a repeated id is answered with its stored decision, not scored again;
//   1. score: the primary model (records sent without a prediction), the ensemble members and
//      the shadow model; a model failure fails closed to review;
//   2. decide: p (with p.predictions, p.ood) to the policy's flag(p), the judge step for cases it
//      sends to hitl.judge(); the decision row; for a review verdict the review task (priority,
//      SLA, reviewers needed) and perhaps a gold task; the decision.created audit record;
//   3. write: one group commit on the writer thread, after which the new review tasks go to the
//      queue (ingest/task_push.hpp);
//   4. reply: the results as stored, in input order.
// Models and policy run on the calling thread; only storage writes go to the writer thread.
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
#include <string_view>
#include <vector>

namespace hitl::policy { class PolicyEngine; struct PredictionView; struct FlagInput; struct Verdict; }
namespace hitl::data { struct FeatureStats; }

namespace hitl::service {

class Writer;
class Metrics;
class Signals;
class ShadowPolicy;
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
  // `shadow` runs each domain's shadow policy beside `policies` (ingest/shadow_policy.hpp).
  Pipeline(const Domains& domains, const ModelSlots& models, policy::PolicyEngine& policies, ShadowPolicy& shadow,
           Signals& signals, sdk::Storage& storage, Writer& writer, Metrics& metrics);

  // Scores, flags and submits `records` (all of one domain, which must exist). `done` runs on the
  // writer thread once the decisions are committed (results in input order), or with the error.
  void ingest(const std::string& domain, std::vector<IngestRecord>&& records,
              const std::string& actor, Done done);
  // Whether the storage plugin has find_decisions (storage interface 1.2: an older plugin's
  // vtable has no such slot); App sets it from the plugin. Without it, one read per record.
  void set_storage_finds(bool finds) { storage_finds_ = finds; }

 private:
  // Defined in ingest/pipeline.cpp: one call's records on their way through the steps, what the
  // policy saw of one record and answered, and the versions every decision of a batch records.
  struct Batch;
  struct Judgement;
  struct Provenance;

  // The steps of ingest(), in order.
  Batch open_batch(const std::string& domain, std::vector<IngestRecord>&& records, const std::string& actor) const;
  bool answer_repeated(const Batch& b, Done& done) const;
  void score(Batch& b) const;
  std::vector<std::size_t> records_to_score(const Batch& b) const;
  void parse_rows(Batch& b) const;
  void score_primary(Batch& b, const std::vector<std::size_t>& to_score) const;
  void score_ensemble(Batch& b) const;
  void score_shadow(const Batch& b) const;
  sdk::WriteBatch decide(Batch& b) const;
  Judgement judge_record(Batch& b, std::size_t i, const Provenance& prov) const;
  // The judge step of a case flag sent to hitl.judge(reason): the judge model, then the policy's
  // judge(p, verdict). Any failure: review judge_error, counted. `note` gets the audit detail.
  policy::Verdict run_judge(const DomainSettings& dom, const IngestRecord& rec, const policy::FlagInput& in,
                            const std::string& reason, nlohmann::json& note, DomainCounters* counters) const;
  void draw_audit_sample(const std::string& domain, Judgement& j) const;
  void count_outcome(const Batch& b, std::size_t i, const Judgement& j) const;
  sdk::NewDecision decision_of(const Batch& b, std::size_t i, Judgement j, const Provenance& prov,
                               sdk::WriteBatch& gold) const;
  sdk::TaskRecord review_task(const DomainSettings& dom, const IngestRecord& rec, const Judgement& j,
                              const std::string& actor, std::int64_t now, sdk::DecisionRecord& d,
                              DomainCounters* counters) const;
  void add_gold_task(const DomainSettings& dom, const sdk::TaskRecord& real, const std::string& policy_hash,
                     const std::string& model_version, std::int64_t now, sdk::WriteBatch& out) const;
  std::vector<IngestResult> results_of(sdk::WriteBatch& committed, DomainCounters* counters) const;

  const Domains& domains_;
  std::map<std::string, DomainModels> models_;  // by domain name
  policy::PolicyEngine& policies_;
  ShadowPolicy& shadow_;
  Signals& signals_;
  sdk::Storage& storage_;
  bool storage_finds_ = false;
  Writer& writer_;
  Metrics& metrics_;
};

}  // namespace hitl::service
