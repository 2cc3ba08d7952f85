#include "ingest/pipeline.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "data/feature_stats.hpp"
#include "data/records.hpp"
#include "policy/policy_engine.hpp"
#include "metrics/metrics.hpp"
#include "ingest/redaction.hpp"
#include "common/service_error.hpp"
#include "ingest/signals.hpp"
#include "store/writer.hpp"
#include "store/task_state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace hitl::service {
using nlohmann::json;

namespace {
json prediction_json(const sdk::Prediction& p) {
  json scores = json::object();
  for (auto& [k, v] : p.scores) scores[k] = v;
  json out = {{"label", p.label}, {"confidence", p.confidence}, {"scores", std::move(scores)}};
  if (!p.contributions.empty()) {
    json c = json::object();
    for (auto& [k, v] : p.contributions) c[k] = v;
    out["contributions"] = std::move(c);
  }
  return out;
}

// Step 0 of ingest: the stored decision of each record's id, if there is one.
std::vector<std::optional<sdk::DecisionRecord>> find_existing(sdk::Storage& storage, const std::string& domain,
                                                              const std::vector<IngestRecord>& records) {
  std::vector<std::optional<sdk::DecisionRecord>> existing(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto st = storage.get_decision(domain, records[i].id, existing[i]);
    if (!st.ok()) throw ServiceError(503, "storage_unavailable", "cannot read decisions: " + st.message);
  }
  return existing;
}

// The decision.created detail: `rule` is the policy reason that fired ("" when it auto-approved);
// the input is covered by its hash only (see input_hash), so its payload can be erased.
json creation_detail(const sdk::NewDecision& nd, const policy::Verdict& verdict, const std::string& policy_version,
                     const std::string& ensemble_error, const std::vector<policy::PredictionView>& all,
                     const std::optional<policy::OodView>& ood, json judge_note) {
  const auto& d = nd.decision;
  json detail = {{"status", d.status}, {"rule", d.reason}, {"label", d.label},
                 {"confidence", d.confidence}, {"policy_hash", d.policy_hash},
                 {"policy_version", policy_version}, {"model_version", d.model_version},
                 {"input_hash", d.input_hash}, {"review_task", nd.task.has_value()}};
  if (nd.task && nd.task->deadline_ms) detail["deadline_ms"] = nd.task->deadline_ms;
  if (verdict.policy_error) detail["policy_error"] = verdict.error;
  if (!ensemble_error.empty()) detail["ensemble_error"] = ensemble_error;
  if (!all.empty()) {
    json e = json::array();
    for (std::size_t k = 1; k < all.size(); ++k)
      e.push_back({{"model", all[k].model}, {"version", all[k].version}, {"label", all[k].label},
                   {"confidence", all[k].confidence}});
    detail["ensemble"] = std::move(e);
  }
  if (ood) detail["ood_score"] = ood->score;
  if (!judge_note.is_null()) detail["judge"] = std::move(judge_note);
  return detail;
}
}  // namespace

json result_to_json(const IngestResult& r) {
  json j = {{"id", r.id},       {"status", r.status},       {"reason", r.reason},
            {"label", r.label}, {"confidence", r.confidence}, {"priority", r.priority}};
  j["task_id"] = r.task_id ? json(r.task_id) : json(nullptr);
  if (r.duplicate) j["duplicate"] = true;
  return j;
}

// A gold case from the domain's set, dressed as a task like `real` (same priority, deadline,
// skills, pool and, unless the case names one, reason) with a fresh UUID as its decision id.
void Pipeline::add_gold_task(const DomainRuntime& dom, const sdk::TaskRecord& real, const std::string& policy_hash,
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
  d.prediction_json = prediction_json(c.prediction).dump();
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

void Pipeline::score_shadow(const DomainRuntime& dom, const std::vector<IngestRecord>& records,
                            const std::vector<std::optional<sdk::DecisionRecord>>& existing, DomainCounters* counters) const {
  const auto shadow = dom.shadow->get();
  std::vector<sdk::Record> rows;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (existing[i] || !records[i].has_prediction) continue;  // a model failure has nothing to agree with
    try {
      rows.push_back(data::record_from_json(records[i].input));
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
    metrics_.plugin_error("model", dom.shadow_name);
    spdlog::warn("shadow model failed domain={} model={} records={}: {}", dom.name, dom.shadow_name, rows.size(),
                 st.ok() ? "wrong number of predictions" : st.message);
    return;
  }
  if (!counters) return;
  for (std::size_t k = 0; k < which.size(); ++k) {
    counters->shadow_predictions++;
    if (preds[k].label == records[which[k]].prediction.label) counters->shadow_agreements++;
  }
}

void Pipeline::score_ensemble(const DomainRuntime& dom, const std::vector<std::optional<sdk::Record>>& rows,
                              const std::vector<std::string>& row_errors,
                              const std::vector<std::optional<sdk::DecisionRecord>>& existing,
                              const std::vector<char>& model_failed,
                              std::vector<std::vector<policy::PredictionView>>& members,
                              std::vector<std::string>& errors, DomainCounters* counters) const {
  std::vector<sdk::Record> batch;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (existing[i] || model_failed[i]) continue;
    if (!rows[i]) {
      errors[i] = "input cannot be scored by the ensemble: " + row_errors[i];
      continue;
    }
    batch.push_back(*rows[i]);
    which.push_back(i);
  }
  for (const auto& [name, slot] : dom.ensemble) {
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
      spdlog::warn("ensemble member failed domain={} model={} records={} (failing closed to review): {}", dom.name, name,
                   batch.size(), error);
      metrics_.plugin_error("model", name);
      for (auto i : which)
        if (errors[i].empty()) {
          errors[i] = "ensemble member " + name + ": " + error;
          if (counters) counters->model_errors++;
        }
      continue;
    }
    const std::string version = m->version();
    for (std::size_t k = 0; k < which.size(); ++k) {
      auto& p = preds[k];
      members[which[k]].push_back(policy::PredictionView{std::move(p.label), p.confidence, std::move(p.scores), name, version});
    }
  }
}

policy::Verdict Pipeline::run_judge(const DomainRuntime& dom, const IngestRecord& rec, const policy::FlagInput& in,
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
  const auto model = dom.judge ? dom.judge->get() : nullptr;
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

Pipeline::Pipeline(std::map<std::string, DomainRuntime> domains, policy::PolicyEngine& policies,
                   sdk::Storage& storage, Writer& writer, Metrics& metrics)
    : domains_(std::move(domains)), policies_(policies), storage_(storage), writer_(writer), metrics_(metrics) {}

const DomainRuntime* Pipeline::domain(const std::string& name) const {
  auto it = domains_.find(name);
  return it == domains_.end() ? nullptr : &it->second;
}

// Step 1 of ingest: the domain's model scores the records sent without a prediction, in one
// batch. A failure, or a label outside the domain's set (a model is a plugin), fails closed:
// those records go to review with reason model_error.
void Pipeline::score_primary(const DomainRuntime& dom, sdk::Model& model, const std::vector<std::size_t>& to_score,
                             const std::vector<std::optional<sdk::Record>>& rows, std::vector<IngestRecord>& records,
                             std::vector<char>& scored, std::vector<char>& model_failed, DomainCounters* counters) const {
  std::vector<sdk::Record> batch_rows;
  batch_rows.reserve(to_score.size());
  for (auto i : to_score) batch_rows.push_back(*rows[i]);
  std::vector<sdk::Prediction> preds;
  std::string error;
  auto st = model.predict(batch_rows, preds);
  if (!st.ok()) error = st.message;
  else if (preds.size() != batch_rows.size())
    error = "model returned " + std::to_string(preds.size()) + " predictions for " + std::to_string(batch_rows.size()) + " rows";
  if (!error.empty()) {
    spdlog::warn("model failed domain={} decision={} model={} records={} (failing closed to review): {}", dom.name,
                 records[to_score[0]].id, dom.model_name, to_score.size(), error);
    for (auto i : to_score) model_failed[i] = 1;
    if (counters) counters->model_errors += to_score.size();
    metrics_.plugin_error("model", dom.model_name);
    return;
  }
  for (std::size_t k = 0; k < to_score.size(); ++k) {
    const std::size_t i = to_score[k];
    if (std::find(dom.labels.begin(), dom.labels.end(), preds[k].label) == dom.labels.end()) {
      spdlog::warn("model returned a label outside the domain's labels domain={} decision={} model={} "
                   "(failing closed to review)", dom.name, records[i].id, dom.model_name);
      model_failed[i] = 1;
      if (counters) counters->model_errors++;
      metrics_.plugin_error("model", dom.model_name);
      continue;
    }
    records[i].prediction = std::move(preds[k]);
    records[i].has_prediction = true;
    scored[i] = 1;
  }
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
    }
    if (!nd.duplicate && is(d.status, DecisionState::pending_review)) metrics_.flagged(d.domain, d.reason, d.priority);
    results.push_back({d.id, d.status, d.reason, d.task_id, d.priority, d.label, d.confidence, nd.duplicate});
  }
  return results;
}

// The review task of a flagged record: the policy's priority, SLA (else the domain's default)
// and reviewers needed; `d` gets the priority. The submitting account never reviews it.
sdk::TaskRecord Pipeline::review_task(const DomainRuntime& dom, const IngestRecord& rec, const policy::PredictionView& view,
                                      const policy::Verdict& verdict, const std::string& actor, std::int64_t now,
                                      sdk::DecisionRecord& d, DomainCounters* counters) const {
  policy::TaskView tv{&dom.name, &d.reason, &rec.input, &rec.meta, &view};
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
  const DomainRuntime* dom = domain(domain_name);
  if (!dom) throw ServiceError(404, "unknown_domain", "no domain named \"" + domain_name + "\"", "domain");
  DomainCounters* counters = metrics_.domain(domain_name);
  const std::int64_t now = now_ms();
  if (signals_) signals_->refresh_open_tasks(domain_name, now);

  // 0. Repeated ids are answered from storage without scoring or auditing them again. (Two
  //    concurrent first submissions of one id both get here; storage then keeps the first,
  //    answers the second with it and writes the second's creation record nowhere.)
  const auto existing = find_existing(storage_, domain_name, records);
  if (std::all_of(existing.begin(), existing.end(), [](const auto& e) { return e.has_value(); })) {
    std::vector<IngestResult> results;
    for (auto& e : existing) {
      results.push_back({e->id, e->status, e->reason, e->task_id, e->priority, e->label, e->confidence, true});
      if (counters) { counters->predictions++; counters->duplicates++; }
    }
    done(sdk::Status::Ok(), results);
    return;
  }

  // 1. Model: score the records that came without a prediction, in one batch. A model failure
  //    fails closed: those records go to review with reason model_error.
  std::vector<char> model_failed(records.size(), 0), scored(records.size(), 0);
  std::vector<std::size_t> to_score;
  for (std::size_t i = 0; i < records.size(); ++i)
    if (!records[i].has_prediction && !existing[i]) to_score.push_back(i);
  // One model (and its feature statistics) for the whole batch, even if a promotion swaps the
  // slot meanwhile.
  const LiveModel live = dom->model ? dom->model->live() : LiveModel{};
  const std::shared_ptr<sdk::Model>& model = live.model;
  if (!to_score.empty() && !model) {
    // Not a model failure but a client mistake: nothing could ever score this record.
    throw ServiceError(422, "invalid_field",
                       "prediction: missing for record \"" + records[to_score[0]].id + "\", and domain \"" +
                           domain_name + "\" has no model to score it",
                       "prediction");
  }
  // Rows for the models and p.ood, converted once per new record. A record to score whose input
  // is not a flat record is the client's mistake (422); for the others the row only feeds the
  // ensemble and p.ood, which then fail closed or stay nil.
  const bool rows_for_all = !dom->ensemble.empty() || live.stats;
  std::vector<std::optional<sdk::Record>> rows(records.size());
  std::vector<std::string> row_errors(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (existing[i] || (records[i].has_prediction && !rows_for_all)) continue;
    try {
      rows[i] = data::record_from_json(records[i].input);
    } catch (const std::exception& e) {
      if (!records[i].has_prediction) throw ServiceError(422, "invalid_field", std::string("input: ") + e.what(), "input");
      row_errors[i] = e.what();
    }
  }
  if (!to_score.empty()) score_primary(*dom, *model, to_score, rows, records, scored, model_failed, counters);

  // 1a. Ensemble members score every new record the primary did not fail on; a member's failure
  //     sends its records to review (ensemble_error), never to the policy.
  std::vector<std::vector<policy::PredictionView>> members(records.size());
  std::vector<std::string> ensemble_errors(records.size());
  if (!dom->ensemble.empty()) score_ensemble(*dom, rows, row_errors, existing, model_failed, members, ensemble_errors, counters);

  // 1b. Shadow mode: a candidate scores the same new records; only its agreement with the
  //     prediction each decision uses is counted. It never changes a decision, and its failures
  //     only count.
  if (dom->shadow) score_shadow(*dom, records, existing, counters);

  // 2. Policy and priority, then the decision rows.
  sdk::WriteBatch batch, gold;
  batch.decisions.reserve(records.size());
  const std::string policy_hash = policies_.policy_hash(domain_name);
  const std::string policy_version = policies_.policy_version(domain_name);
  const Redactor& redactor = dom->redactor;
  const std::string model_version = model ? model->version() : "";
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto& rec = records[i];
    if (existing[i]) {  // answered by storage as a duplicate; no new audit record
      sdk::NewDecision nd;
      nd.decision = *existing[i];
      batch.decisions.push_back(std::move(nd));
      continue;
    }
    policy::PredictionView view;
    view.label = rec.prediction.label;
    view.confidence = rec.prediction.confidence;
    view.scores = rec.prediction.scores;
    view.model = scored[i] ? dom->model_name : "client";  // as p.predictions[1] names it
    if (scored[i]) view.version = model_version;
    // p.predictions: the primary (the model, or the client's own prediction) and the members.
    std::vector<policy::PredictionView> all;
    if (!dom->ensemble.empty() && ensemble_errors[i].empty() && !model_failed[i]) {
      all.reserve(1 + members[i].size());
      all.push_back(view);
      for (auto& m : members[i]) all.push_back(std::move(m));
    }
    std::optional<policy::OodView> ood;
    if (live.stats && rows[i]) {
      auto o = data::ood_score(*live.stats, *rows[i]);
      ood = policy::OodView{o.score, std::move(o.furthest)};
    }
    policy::Verdict verdict;
    json judge_note;  // the judge step's audit detail, when there was one
    if (model_failed[i]) {
      verdict.action = policy::Action::review;
      verdict.reason = "model_error";
    } else if (!ensemble_errors[i].empty()) {
      verdict.action = policy::Action::review;
      verdict.reason = "ensemble_error";
    } else {
      policy::FlagInput in{&domain_name, &rec.input, &rec.meta, &view};
      if (!all.empty()) in.predictions = &all;
      if (ood) in.ood = &*ood;
      std::vector<std::string> sensitive_values;
      if (!redactor.empty()) {
        sensitive_values = redactor.values(rec.input, rec.meta);
        in.redact = &sensitive_values;
      }
      verdict = policies_.flag(domain_name, in);
      if (verdict.policy_error && counters) counters->policy_errors++;
      if (verdict.judge) verdict = run_judge(*dom, rec, in, verdict.reason, judge_note, counters);
    }
    if (signals_) {
      // Counted now, before the commit, so the next record's flag(p) (even in this batch) sees it.
      Signals::Outcome o;
      o.flagged = verdict.action == policy::Action::review;
      o.rejected = verdict.action == policy::Action::reject;
      o.error = model_failed[i] || !ensemble_errors[i].empty() || verdict.policy_error || judge_note.contains("error");
      signals_->record(domain_name, signals_->segment_of(domain_name, rec.input, rec.meta), o, now);
    }
    sdk::NewDecision nd;
    auto& d = nd.decision;
    d.domain = domain_name;
    d.id = rec.id;
    d.reason = verdict.reason;
    d.label = rec.prediction.label;
    d.confidence = rec.prediction.confidence;
    d.input_json = rec.input.dump();
    // The audit trail records this hash, never the input: the payload can then be erased
    // (hitl erase, retention) and the chain still verifies.
    d.input_hash = sha256_hex(d.input_json);
    d.prediction_json = model_failed[i] ? "{}" : prediction_json(rec.prediction).dump();
    d.meta_json = rec.meta.dump();
    d.model_version = scored[i] ? model_version : "";
    d.policy_hash = policy_hash;
    d.created_ms = now;
    switch (verdict.action) {
      case policy::Action::auto_approve: d.status = name(DecisionState::auto_approved); break;
      case policy::Action::reject: d.status = name(DecisionState::rejected); break;
      case policy::Action::review:
        d.status = name(DecisionState::pending_review);
        nd.task = review_task(*dom, rec, view, verdict, actor, now, d, counters);
        if (dom->gold && draw(policies_.gold_rate(domain_name)))
          add_gold_task(*dom, *nd.task, policy_hash, d.model_version, now, gold);
        break;
    }
    json detail = creation_detail(nd, verdict, policy_version, ensemble_errors[i], all, ood, std::move(judge_note));
    nd.audit.push_back(  // written only if this decision is stored (not a duplicate)
        audit::make_record(now, actor, "decision.created", domain_name, audit::Entity::decision, rec.id, detail.dump()));
    batch.decisions.push_back(std::move(nd));
  }

  // Gold tasks go after the real records, so results (input order) are the first records.size().
  for (auto& g : gold.decisions) batch.decisions.push_back(std::move(g));

  // 3. Commit (group commit on the writer thread); answer from what was stored, so a repeated
  //    id returns the original decision.
  writer_.submit(std::move(batch), [done = std::move(done), counters, this](const sdk::Status& st, sdk::WriteBatch& committed) {
    std::vector<IngestResult> results;
    if (st.ok()) results = results_of(committed, counters);
    done(st, results);
  });
}

}  // namespace hitl::service
