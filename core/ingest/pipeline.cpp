#include "ingest/pipeline.hpp"

#include "report/report.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "common/json_text.hpp"
#include "data/feature_stats.hpp"
#include "data/records.hpp"
#include "policy/policy_engine.hpp"
#include "metrics/metrics.hpp"
#include "domain/redaction.hpp"
#include "common/service_error.hpp"
#include "ingest/shadow_policy.hpp"
#include "ingest/signals.hpp"
#include "store/writer.hpp"
#include "common/task_state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace hitl::service {
using nlohmann::json;

namespace {
// The stored prediction: {"confidence", "contributions" (when there are any), "label", "scores"},
// written as text (common/json_text.hpp), in the key order a tree would dump.
std::string prediction_text(const sdk::Prediction& p) {
  JsonText w;
  w.begin_object().field("confidence", p.confidence);
  if (!p.contributions.empty()) {
    w.key("contributions").begin_object();
    for (auto& [k, v] : p.contributions) w.field(k, v);
    w.end_object();
  }
  w.field("label", p.label).key("scores").begin_object();
  for (auto& [k, v] : p.scores) w.field(k, v);
  w.end_object().end_object();
  return w.take();
}

// Step 0 of ingest: the stored decision of each record's id, if there is one. In one read when
// the storage plugin has find_decisions (storage 1.2: `by_ids`), else one read per id.
std::vector<std::optional<sdk::DecisionRecord>> find_existing(sdk::Storage& storage, const std::string& domain,
                                                              const std::vector<IngestRecord>& records, bool by_ids) {
  std::vector<std::optional<sdk::DecisionRecord>> existing(records.size());
  if (by_ids) {
    std::vector<std::string> ids;
    ids.reserve(records.size());
    for (const auto& r : records) ids.push_back(r.id);
    auto st = storage.find_decisions(domain, ids, existing);
    if (st.ok() && existing.size() == records.size()) return existing;
    if (st.code != sdk::Code::invalid_argument) {
      if (st.ok()) st.message = "find_decisions answered " + std::to_string(existing.size()) + " for " + std::to_string(ids.size()) + " ids";
      throw ServiceError(503, "storage_unavailable", "cannot read decisions: " + st.message);
    }
    existing.assign(records.size(), std::nullopt);  // the plugin does not have it: one id at a time
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto st = storage.get_decision(domain, records[i].id, existing[i]);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", "cannot read decisions: " + st.message);
  }
  return existing;
}

// The decision.created detail: `rule` is the policy reason that fired ("" when it auto-approved);
// the input is covered by its hash only (see input_hash), so its payload can be erased. Written as
// text, keys in sorted order (the bytes a tree's dump gave): one is written per decision.
struct CreationNotes {
  const std::string& policy_version;
  const std::string& ensemble_error;
  const std::vector<policy::PredictionView>& all;
  const std::optional<policy::OodView>& ood;
  const json& judge_note;
  double audit_p = 0;
};

std::string creation_detail(const sdk::NewDecision& nd, const policy::Verdict& verdict, const CreationNotes& n) {
  const auto& d = nd.decision;
  JsonText w;
  w.begin_object();
  if (n.audit_p > 0) w.key("audit_sample").begin_object().field("p", n.audit_p).end_object();
  w.field("confidence", d.confidence);
  if (nd.task && nd.task->deadline_ms) w.field("deadline_ms", nd.task->deadline_ms);
  if (!n.all.empty()) {
    w.key("ensemble").begin_array();
    for (std::size_t k = 1; k < n.all.size(); ++k)
      w.begin_object().field("confidence", n.all[k].confidence).field("label", n.all[k].label)
          .field("model", n.all[k].model).field("version", n.all[k].version).end_object();
    w.end_array();
  }
  if (!n.ensemble_error.empty()) w.field("ensemble_error", n.ensemble_error);
  w.field("input_hash", d.input_hash);
  if (!n.judge_note.is_null()) w.key("judge").raw(n.judge_note.dump(-1, ' ', false, json::error_handler_t::replace));
  w.field("label", d.label).field("model_version", d.model_version);
  if (n.ood) w.field("ood_score", n.ood->score);
  if (verdict.policy_error) w.field("policy_error", verdict.error);
  w.field("policy_hash", d.policy_hash).field("policy_version", n.policy_version);
  w.field("review_task", nd.task.has_value()).field("rule", d.reason).field("status", d.status);
  return w.end_object().take();
}

}  // namespace

// What the policy saw of one record and what it answered.
struct Pipeline::Judgement {
  policy::PredictionView view;              // p: the primary model's or the client's prediction
  std::vector<policy::PredictionView> all;  // p.predictions: the primary and the ensemble members
  std::optional<policy::OodView> ood;       // p.ood
  policy::Verdict verdict;
  json judge_note;  // the judge step's audit detail, when there was one
  std::optional<policy::Verdict> shadow;  // the shadow policy's flag(p), when it ran and answered
  double audit_p = 0;  // > 0: an auto verdict sent to review as an audit sample, drawn with this probability
  std::uint64_t record = policy::next_record_key();  // the policy hooks of this record share its p.input
};

// The policy's hash and version and the primary's version, the same for every decision of a batch.
struct Pipeline::Provenance {
  std::string policy_hash;
  std::string policy_version;
  std::string model_version;  // "" when the domain has no model
};

// One ingest call's records on their way through the steps, with what each step found out
// (indexes are the records' input order).
struct Pipeline::Batch {
  const DomainSettings& dom;
  const DomainModels& models;
  std::vector<IngestRecord> records;
  const std::string& actor;
  std::int64_t now;
  DomainCounters* counters;  // may be null
  std::vector<std::optional<sdk::DecisionRecord>> existing;  // the stored decision of a repeated id
  LiveModel live;  // the primary and its feature statistics, one for the whole batch
  std::vector<std::optional<sdk::Record>> rows;  // what the models and p.ood read
  std::vector<std::string> row_errors;           // why a record has no row
  std::vector<char> scored, model_failed;        // by the primary model
  std::vector<std::vector<policy::PredictionView>> members;  // the ensemble members' predictions
  std::vector<std::string> ensemble_errors;                  // why a record has none ("" = fine)

  std::size_t size() const { return records.size(); }
};

json result_to_json(const IngestResult& r) {
  json j = {{"id", r.id},       {"status", r.status},       {"reason", r.reason},
            {"label", r.label}, {"confidence", r.confidence}, {"priority", r.priority}};
  j["task_id"] = r.task_id ? json(r.task_id) : json(nullptr);
  if (r.duplicate) j["duplicate"] = true;
  return j;
}

// A gold case from the domain's set, dressed as a task like `real` (same priority, deadline,
// skills, pool and, unless the case names one, reason) with a fresh UUID as its decision id.
void Pipeline::add_gold_task(const DomainSettings& dom, const sdk::TaskRecord& real, const std::string& policy_hash,
                             const std::string& model_version, std::int64_t now, sdk::WriteBatch& out) const {
  const GoldCase& c = dom.gold->cases[pick(dom.gold->cases.size())];
  sdk::NewDecision nd;
  auto& d = nd.decision;
  d.domain = dom.name;
  d.id = random_uuid();
  d.status = name(DecisionState::pending_review);
  d.reason = c.reason.empty() ? real.reason : c.reason;
  d.priority = real.priority;
  d.label = c.prediction.label;
  d.confidence = c.prediction.confidence;
  d.input_json = c.input.dump();
  d.input_hash = sha256_hex(d.input_json);
  d.prediction_json = prediction_text(c.prediction);
  d.meta_json = c.meta.dump();
  d.model_version = model_version;
  d.policy_hash = policy_hash;
  d.created_ms = now;
  sdk::TaskRecord t = real;
  t.decision_id = d.id;
  t.reason = d.reason;
  // reviews_required stays as the real task's so the task list gives nothing away; a gold task
  // is still finished by one answer (review/review.cpp).
  t.gold = true;
  t.gold_label = c.label;
  t.origin = "";  // nobody submitted it: every reviewer of the domain may get it
  nd.task = std::move(t);
  nd.audit.push_back(audit::make_record(
      now, audit::kSystemActor, "gold.created", dom.name, audit::Entity::decision, d.id,
      json({{"gold_file", dom.gold->file.filename().string()}, {"line", c.line}, {"known_label", c.label},
            {"shown_label", d.label}, {"with_decision", real.decision_id}, {"input_hash", d.input_hash}})
          .dump()));
  out.decisions.push_back(std::move(nd));
}

policy::Verdict Pipeline::run_judge(const DomainSettings& dom, const IngestRecord& rec, const policy::FlagInput& in,
                                    const std::string& reason, json& note, DomainCounters* counters) const {
  note = json{{"reason", reason}};
  policy::Verdict fail;  // review: a case the judge step could not screen goes to a person
  fail.action = policy::Action::review;
  fail.reason = "judge_error";
  auto failed = [&](const std::string& why) {
    note["error"] = why;
    fail.error = why;
    return fail;
  };
  const auto& judge = models_.at(dom.name).judge;
  const auto model = judge ? judge->get() : nullptr;
  if (!model) {
    if (counters) counters->policy_errors++;  // the policy asked for a step the domain does not have
    return failed("flag returned hitl.judge(...) but domain " + dom.name + " has no judge_model");
  }
  std::vector<sdk::Record> row(1);
  std::vector<sdk::Prediction> preds;
  std::string error;
  try {
    row[0] = data::record_from_json(rec.input);
    auto st = model->predict(row, preds);
    if (!st.ok()) error = st.message;
    else if (preds.size() != 1) error = "returned " + std::to_string(preds.size()) + " predictions for 1 row";
  } catch (const std::exception& e) {
    error = std::string("input cannot be judged: ") + e.what();
  }
  if (!error.empty()) {
    if (counters) counters->model_errors++;
    metrics_.plugin_error("model", dom.judge_name);
    spdlog::warn("judge model failed domain={} decision={} model={} (failing closed to review): {}", dom.name, rec.id,
                 dom.judge_name, error);
    return failed("judge model " + dom.judge_name + ": " + error);
  }
  policy::JudgeView jv;
  jv.prediction = policy::PredictionView{preds[0].label, preds[0].confidence, preds[0].scores, dom.judge_name, model->version()};
  jv.reason = reason;
  note["model"] = dom.judge_name;
  note["version"] = jv.prediction.version;
  note["label"] = jv.prediction.label;
  note["confidence"] = jv.prediction.confidence;
  policy::Verdict v = policies_.judge(dom.name, in, jv);
  if (v.policy_error) {
    if (counters) counters->policy_errors++;
    note["error"] = v.error;
  }
  note["verdict"] = v.action == policy::Action::auto_approve ? "auto" : v.action == policy::Action::reject ? "reject" : "review";
  return v;
}

Pipeline::Pipeline(const Domains& domains, const ModelSlots& models, policy::PolicyEngine& policies, ShadowPolicy& shadow,
                   Signals& signals, sdk::Storage& storage, Writer& writer, Metrics& metrics)
    : domains_(domains), policies_(policies), shadow_(shadow), signals_(signals), storage_(storage), writer_(writer),
      metrics_(metrics) {
  auto slot = [&models](const DomainSettings& d, const std::string& name) -> std::shared_ptr<ModelSlot> {
    if (name.empty()) return nullptr;
    auto it = models.find(name);
    if (it == models.end()) throw std::runtime_error("domain " + d.name + ": no model named \"" + name + "\"");
    return it->second;
  };
  for (const auto& [name, d] : domains_) {
    DomainModels m{slot(d, d.model_name), {}, slot(d, d.judge_name), slot(d, d.shadow_name)};
    for (const auto& member : d.ensemble) m.ensemble.emplace_back(member, slot(d, member));
    models_.emplace(name, std::move(m));
  }
}

// Step 1a: the records to score are those sent without a prediction (repeated ids excepted).
// Throws 422 when the domain has no model: not a model failure but a client mistake, nothing
// could ever score such a record.
std::vector<std::size_t> Pipeline::records_to_score(const Batch& b) const {
  std::vector<std::size_t> to_score;
  for (std::size_t i = 0; i < b.size(); ++i)
    if (!b.records[i].has_prediction && !b.existing[i]) to_score.push_back(i);
  if (!to_score.empty() && !b.live.model)
    throw ServiceError(422, "invalid_field",
                       "prediction: missing for record \"" + b.records[to_score[0]].id + "\", and domain \"" +
                           b.dom.name + "\" has no model to score it",
                       "prediction");
  return to_score;
}

// Step 1b: rows for the models and p.ood, converted once per new record. A record to score whose
// input is not a flat record is the client's mistake (422); for the others the row only feeds
// the ensemble and p.ood, which then fail closed or stay nil.
void Pipeline::parse_rows(Batch& b) const {
  const bool rows_for_all = !b.dom.ensemble.empty() || b.live.stats;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.existing[i] || (b.records[i].has_prediction && !rows_for_all)) continue;
    try {
      b.rows[i] = data::record_from_json(b.records[i].input);
    } catch (const std::exception& e) {
      if (!b.records[i].has_prediction) throw ServiceError(422, "invalid_field", std::string("input: ") + e.what(), "input");
      b.row_errors[i] = e.what();
    }
  }
}

// Step 1c: the domain's model scores the records sent without a prediction, in one batch. A
// failure, or a label outside the domain's set (a model is a plugin), fails closed: those records
// go to review with reason model_error.
void Pipeline::score_primary(Batch& b, const std::vector<std::size_t>& to_score) const {
  const auto& dom = b.dom;
  std::vector<sdk::Record> batch_rows;
  batch_rows.reserve(to_score.size());
  for (auto i : to_score) batch_rows.push_back(*b.rows[i]);
  std::vector<sdk::Prediction> preds;
  std::string error;
  auto st = b.live.model->predict(batch_rows, preds);
  if (!st.ok()) error = st.message;
  else if (preds.size() != batch_rows.size())
    error = "model returned " + std::to_string(preds.size()) + " predictions for " + std::to_string(batch_rows.size()) + " rows";
  if (!error.empty()) {
    spdlog::warn("model failed domain={} decision={} model={} records={} (failing closed to review): {}", dom.name,
                 b.records[to_score[0]].id, dom.model_name, to_score.size(), error);
    for (auto i : to_score) b.model_failed[i] = 1;
    if (b.counters) b.counters->model_errors += to_score.size();
    metrics_.plugin_error("model", dom.model_name);
    return;
  }
  for (std::size_t k = 0; k < to_score.size(); ++k) {
    const std::size_t i = to_score[k];
    if (!dom.has_label(preds[k].label)) {
      spdlog::warn("model returned a label outside the domain's labels domain={} decision={} model={} "
                   "(failing closed to review)", dom.name, b.records[i].id, dom.model_name);
      b.model_failed[i] = 1;
      if (b.counters) b.counters->model_errors++;
      metrics_.plugin_error("model", dom.model_name);
      continue;
    }
    b.records[i].prediction = std::move(preds[k]);
    b.records[i].has_prediction = true;
    b.scored[i] = 1;
  }
}

// Step 1d: ensemble members score every new record the primary did not fail on; a member's
// failure sends its records to review (ensemble_error), never to the policy.
void Pipeline::score_ensemble(Batch& b) const {
  std::vector<sdk::Record> batch;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.existing[i] || b.model_failed[i]) continue;
    if (!b.rows[i]) {
      b.ensemble_errors[i] = "input cannot be scored by the ensemble: " + b.row_errors[i];
      continue;
    }
    batch.push_back(*b.rows[i]);
    which.push_back(i);
  }
  for (const auto& [name, slot] : b.models.ensemble) {
    if (batch.empty()) break;
    const auto m = slot->get();
    std::vector<sdk::Prediction> preds;
    std::string error;
    if (!m) {
      error = "not loaded";
    } else {
      auto st = m->predict(batch, preds);
      if (!st.ok()) error = st.message;
      else if (preds.size() != batch.size())
        error = "returned " + std::to_string(preds.size()) + " predictions for " + std::to_string(batch.size()) + " rows";
    }
    if (!error.empty()) {
      spdlog::warn("ensemble member failed domain={} model={} records={} (failing closed to review): {}", b.dom.name,
                   name, batch.size(), error);
      metrics_.plugin_error("model", name);
      for (auto i : which)
        if (b.ensemble_errors[i].empty()) {
          b.ensemble_errors[i] = "ensemble member " + name + ": " + error;
          if (b.counters) b.counters->model_errors++;
        }
      continue;
    }
    const std::string version = m->version();
    for (std::size_t k = 0; k < which.size(); ++k) {
      auto& p = preds[k];
      b.members[which[k]].push_back(policy::PredictionView{std::move(p.label), p.confidence, std::move(p.scores), name, version});
    }
  }
}

// Step 1e, shadow mode: a candidate scores the same new records; only its agreement with the
// prediction each decision uses is counted. It never changes a decision, and its failures only
// count.
void Pipeline::score_shadow(const Batch& b) const {
  const auto shadow = b.models.shadow->get();
  DomainCounters* counters = b.counters;
  std::vector<sdk::Record> rows;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.existing[i] || !b.records[i].has_prediction) continue;  // a model failure has nothing to agree with
    try {
      rows.push_back(data::record_from_json(b.records[i].input));
      which.push_back(i);
    } catch (const std::exception&) {
      // An input the shadow cannot read is the shadow's problem only.
      if (counters) counters->shadow_errors++;
    }
  }
  if (rows.empty() || !shadow) return;
  std::vector<sdk::Prediction> preds;
  auto st = shadow->predict(rows, preds);
  if (!st.ok() || preds.size() != rows.size()) {
    if (counters) counters->shadow_errors += rows.size();
    metrics_.plugin_error("model", b.dom.shadow_name);
    spdlog::warn("shadow model failed domain={} model={} records={}: {}", b.dom.name, b.dom.shadow_name, rows.size(),
                 st.ok() ? "wrong number of predictions" : st.message);
    return;
  }
  if (!counters) return;
  for (std::size_t k = 0; k < which.size(); ++k) {
    counters->shadow_predictions++;
    if (preds[k].label == b.records[which[k]].prediction.label) counters->shadow_agreements++;
  }
}

// Step 1: the models score the batch (the judge model comes later, on the cases flag sends to it).
void Pipeline::score(Batch& b) const {
  const auto to_score = records_to_score(b);
  parse_rows(b);
  if (!to_score.empty()) score_primary(b, to_score);
  if (!b.models.ensemble.empty()) score_ensemble(b);
  if (b.models.shadow) score_shadow(b);
}

// Step 2a, for one new record: what the policy sees (p, p.predictions, p.ood) and its verdict.
// A model or ensemble failure goes to review without asking the policy; a case flag sends to
// hitl.judge(reason) goes through the judge step.
Pipeline::Judgement Pipeline::judge_record(Batch& b, std::size_t i, const Provenance& prov) const {
  const auto& rec = b.records[i];
  Judgement j;
  j.view.label = rec.prediction.label;
  j.view.confidence = rec.prediction.confidence;
  j.view.scores = rec.prediction.scores;
  j.view.model = b.scored[i] ? b.dom.model_name : "client";  // as p.predictions[1] names it
  if (b.scored[i]) j.view.version = prov.model_version;
  if (!b.dom.ensemble.empty() && b.ensemble_errors[i].empty() && !b.model_failed[i]) {
    j.all.reserve(1 + b.members[i].size());
    j.all.push_back(j.view);
    for (auto& m : b.members[i]) j.all.push_back(std::move(m));
  }
  if (b.live.stats && b.rows[i]) {
    auto o = data::ood_score(*b.live.stats, *b.rows[i]);
    j.ood = policy::OodView{o.score, std::move(o.furthest)};
  }
  if (b.model_failed[i]) {
    j.verdict.action = policy::Action::review;
    j.verdict.reason = "model_error";
  } else if (!b.ensemble_errors[i].empty()) {
    j.verdict.action = policy::Action::review;
    j.verdict.reason = "ensemble_error";
  } else {
    policy::FlagInput in{&b.dom.name, &rec.input, &rec.meta, &j.view};
    in.record = j.record;
    if (!j.all.empty()) in.predictions = &j.all;
    if (j.ood) in.ood = &*j.ood;
    std::vector<std::string> sensitive_values;
    if (!b.dom.redactor.empty()) {
      sensitive_values = b.dom.redactor.values(rec.input, rec.meta);
      in.redact = &sensitive_values;
    }
    j.verdict = policies_.flag(b.dom.name, in);
    if (j.verdict.policy_error && b.counters) b.counters->policy_errors++;
    if (shadow_.runs(b.dom.name)) j.shadow = shadow_.flag(b.dom.name, in);  // no effect on j.verdict
    if (j.verdict.judge) j.verdict = run_judge(b.dom, rec, in, j.verdict.reason, j.judge_note, b.counters);
    draw_audit_sample(b.dom.name, j);
  }
  return j;
}

// Step 2a': an automatic verdict goes to review as an audit sample with the policy's audit_rate:
// a random share of what the model decided alone, which the learning loop can judge it on
// without the bias of the reviewed (unsure) slice. The probability is recorded with it.
void Pipeline::draw_audit_sample(const std::string& domain, Judgement& j) const {
  if (j.verdict.action != policy::Action::auto_approve || j.verdict.policy_error) return;
  const double p = policies_.audit_rate(domain);
  if (!(p > 0) || !draw(p)) return;
  j.verdict.action = policy::Action::review;
  j.verdict.reason = std::string(report::kAuditReason);
  j.audit_p = p;
}

// Step 2b: the record counts in hitl.stats() now, before the commit, so the next record's
// flag(p) (even in this batch) sees it.
void Pipeline::count_outcome(const Batch& b, std::size_t i, const Judgement& j) const {
  Signals::Outcome o;
  o.flagged = j.verdict.action == policy::Action::review;
  o.rejected = j.verdict.action == policy::Action::reject;
  o.error = b.model_failed[i] || !b.ensemble_errors[i].empty() || j.verdict.policy_error || j.judge_note.contains("error");
  const auto& rec = b.records[i];
  if (!b.model_failed[i] && !rec.prediction.label.empty()) {  // a prediction the policy saw
    o.confidence = j.view.confidence;
    o.model_version = &j.view.version;
    if (b.scored[i] && b.rows[i]) o.row = &*b.rows[i];
  }
  signals_.record(b.dom.name, signals_.segment_of(b.dom.name, rec.input, rec.meta), o, b.now);
}

// Step 2c: the decision row of one new record, its review task when the verdict is review (with a
// gold task drawn into `gold` at the policy's gold_rate), and its decision.created audit record.
sdk::NewDecision Pipeline::decision_of(const Batch& b, std::size_t i, Judgement j, const Provenance& prov,
                                       sdk::WriteBatch& gold) const {
  const auto& rec = b.records[i];
  sdk::NewDecision nd;
  auto& d = nd.decision;
  d.domain = b.dom.name;
  d.id = rec.id;
  d.reason = j.verdict.reason;
  d.label = rec.prediction.label;
  d.confidence = rec.prediction.confidence;
  d.input_json = rec.input.dump();
  // The audit trail records this hash, never the input: the payload can then be erased
  // (hitl erase, retention) and the chain still verifies.
  d.input_hash = sha256_hex(d.input_json);
  d.prediction_json = b.model_failed[i] ? "{}" : prediction_text(rec.prediction);
  d.meta_json = rec.meta.dump();
  d.model_version = b.scored[i] ? prov.model_version : "";
  d.policy_hash = prov.policy_hash;
  d.created_ms = b.now;
  switch (j.verdict.action) {
    case policy::Action::auto_approve: d.status = name(DecisionState::auto_approved); break;
    case policy::Action::reject: d.status = name(DecisionState::rejected); break;
    case policy::Action::review:
      d.status = name(DecisionState::pending_review);
      nd.task = review_task(b.dom, rec, j, b.actor, b.now, d, b.counters);
      if (j.audit_p > 0) d.priority = nd.task->priority = 0;  // after every real review
      if (b.dom.gold && draw(policies_.gold_rate(b.dom.name)))
        add_gold_task(b.dom, *nd.task, prov.policy_hash, d.model_version, b.now, gold);
      break;
  }
  if (j.shadow) {
    const policy::TaskView live_task{&b.dom.name, &d.reason, &rec.input, &rec.meta, &j.view, &d.priority};
    shadow_.compare(b.dom.name, j.verdict, nd.task ? &live_task : nullptr, *j.shadow);
  }
  const CreationNotes notes{prov.policy_version, b.ensemble_errors[i], j.all, j.ood, j.judge_note, j.audit_p};
  nd.audit.push_back(  // written only if this decision is stored (not a duplicate)
      audit::make_record(b.now, b.actor, "decision.created", b.dom.name, audit::Entity::decision, rec.id,
                         creation_detail(nd, j.verdict, notes)));
  return nd;
}

// Step 2: a verdict and a decision row for each record, in input order; a repeated id keeps its
// stored decision and gets no new audit record. Gold tasks go after the real records, so the
// results (input order) are the first records.size().
sdk::WriteBatch Pipeline::decide(Batch& b) const {
  // One policy generation for the whole batch, even when a reload swaps it meanwhile
  // (app/policy_reloader.hpp): the hash every decision records is the policy that decided it.
  const policy::PolicyEngine::Pin live_policy(policies_, b.dom.name);
  std::optional<policy::PolicyEngine::Pin> shadow_policy;
  if (shadow_.runs(b.dom.name)) shadow_policy.emplace(*shadow_.engine(), b.dom.name);
  const Provenance prov{policies_.policy_hash(b.dom.name), policies_.policy_version(b.dom.name),
                        b.live.model ? b.live.model->version() : ""};
  sdk::WriteBatch batch, gold;
  batch.decisions.reserve(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.existing[i]) {  // answered by storage as a duplicate
      sdk::NewDecision nd;
      nd.decision = *b.existing[i];
      batch.decisions.push_back(std::move(nd));
      continue;
    }
    Judgement j = judge_record(b, i, prov);
    count_outcome(b, i, j);
    batch.decisions.push_back(decision_of(b, i, std::move(j), prov, gold));
  }
  for (auto& g : gold.decisions) batch.decisions.push_back(std::move(g));
  return batch;
}

// Step 0: the batch with the domain's settings and models; the open task count hitl.stats()
// reports is refreshed (at most once a second).
Pipeline::Batch Pipeline::open_batch(const std::string& domain_name, std::vector<IngestRecord>&& records,
                                     const std::string& actor) const {
  const DomainSettings& dom = domains_.require(domain_name);
  const std::int64_t now = now_ms();
  signals_.refresh_open_tasks(domain_name, now);
  Batch b{dom, models_.at(domain_name), std::move(records), actor, now, metrics_.domain(domain_name)};
  const std::size_t n = b.size();
  b.rows.resize(n);
  b.row_errors.resize(n);
  b.scored.assign(n, 0);
  b.model_failed.assign(n, 0);
  b.members.resize(n);
  b.ensemble_errors.resize(n);
  return b;
}

// Step 0b: a batch of repeated ids only is answered from storage at once.
bool Pipeline::answer_repeated(const Batch& b, Done& done) const {
  if (!std::all_of(b.existing.begin(), b.existing.end(), [](const auto& e) { return e.has_value(); })) return false;
  std::vector<IngestResult> results;
  for (auto& e : b.existing) {
    results.push_back({e->id, e->status, e->reason, e->task_id, e->priority, e->label, e->confidence, true});
    if (b.counters) {
      b.counters->predictions++;
      b.counters->duplicates++;
    }
  }
  done(sdk::Status::Ok(), results);
  return true;
}

// What ingest answers once the batch is committed (input order, gold tasks left out), counted.
std::vector<IngestResult> Pipeline::results_of(sdk::WriteBatch& committed, DomainCounters* counters) const {
  std::vector<IngestResult> results;
  results.reserve(committed.decisions.size());
  for (auto& nd : committed.decisions) {
    if (nd.task && nd.task->gold) continue;  // quality control, not the client's record
    auto& d = nd.decision;
    spdlog::debug("decision domain={} decision={} task={} status={} reason={} duplicate={}", d.domain, d.id, d.task_id,
                  d.status, d.reason, nd.duplicate);
    if (counters) {
      counters->predictions++;
      if (nd.duplicate) counters->duplicates++;
      else if (is(d.status, DecisionState::auto_approved)) counters->auto_approved++;
      else if (is(d.status, DecisionState::rejected)) counters->rejected++;
      else counters->pending_review++;
      if (!nd.duplicate && d.reason == report::kAuditReason && is(d.status, DecisionState::pending_review))
        counters->audit_drawn++;
    }
    if (!nd.duplicate && is(d.status, DecisionState::pending_review)) metrics_.flagged(d.domain, d.reason, d.priority);
    results.push_back({d.id, d.status, d.reason, d.task_id, d.priority, d.label, d.confidence, nd.duplicate});
  }
  return results;
}

// The review task of a flagged record: the policy's priority, SLA (else the domain's default)
// and reviewers needed; `d` gets the priority. The submitting account never reviews it.
sdk::TaskRecord Pipeline::review_task(const DomainSettings& dom, const IngestRecord& rec, const Judgement& j,
                                      const std::string& actor, std::int64_t now, sdk::DecisionRecord& d,
                                      DomainCounters* counters) const {
  const policy::Verdict& verdict = j.verdict;
  policy::TaskView tv{&dom.name, &d.reason, &rec.input, &rec.meta, &j.view};
  tv.record = j.record;
  d.priority = policies_.priority(dom.name, tv);
  tv.priority = &d.priority;
  bool sla_failed = false;
  auto sla = policies_.sla_seconds(dom.name, tv, sla_failed);
  if (sla_failed && counters) counters->policy_errors++;
  std::int64_t deadline = 0;
  if (sla) {
    if (*sla > 0) deadline = now + static_cast<std::int64_t>(*sla * 1000.0);
  } else if (dom.sla_seconds > 0) {
    deadline = now + dom.sla_seconds * 1000;
  }
  sdk::TaskRecord t;
  t.domain = dom.name;
  t.decision_id = rec.id;
  t.status = name(TaskState::pending);
  t.priority = d.priority;
  t.reason = d.reason;
  t.deadline_ms = deadline;
  for (auto& sk : verdict.skills) t.skills += (t.skills.empty() ? "" : ",") + sk;
  t.pool = verdict.pool;
  t.origin = actor;  // four-eyes: this account never reviews the case
  policy::WorkflowTaskView wv{tv, 0, verdict.skills, verdict.pool, deadline, 0, 1};
  t.reviews_required = policies_.reviewers_needed(dom.name, wv);
  t.created_ms = t.updated_ms = now;
  return t;
}

void Pipeline::ingest(const std::string& domain_name, std::vector<IngestRecord>&& records,
                      const std::string& actor, Done done) {
  Batch b = open_batch(domain_name, std::move(records), actor);
  // 0. Repeated ids are answered from storage without scoring or auditing them again. (Two
  //    concurrent first submissions of one id both get here; storage then keeps the first,
  //    answers the second with it and writes the second's creation record nowhere.)
  b.existing = find_existing(storage_, domain_name, b.records, storage_finds_);
  if (answer_repeated(b, done)) return;
  // 1. Score: one primary model (and its feature statistics) for the whole batch, even if a
  //    promotion swaps the slot meanwhile; then the ensemble and the shadow.
  if (b.models.primary) b.live = b.models.primary->live();
  score(b);
  // 2. Decide: the policy's verdict (and the judge's), the decision rows, review and gold tasks.
  sdk::WriteBatch batch = decide(b);
  // 3. Write (group commit on the writer thread, whose after-commit step pushes the new review
  //    tasks to the queue: ingest/task_push.hpp); 4. reply from what was stored, so a repeated
  //    id returns the original decision.
  writer_.submit(std::move(batch), [done = std::move(done), counters = b.counters, this](const sdk::Status& st,
                                                                                         sdk::WriteBatch& committed) {
    std::vector<IngestResult> results;
    if (st.ok()) results = results_of(committed, counters);
    done(st, results);
  });
}

}  // namespace hitl::service
