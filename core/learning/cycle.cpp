#include "learning/cycle.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "dataset/dataset.hpp"
#include "dataset/marked_gold.hpp"
#include "learning/compare.hpp"
#include "learning/training.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"
#include "registry/registry.hpp"

#include <stdexcept>

namespace hitl::learning {
using nlohmann::json;

namespace {

sdk::AuditRecord model_audit(std::int64_t ts, const std::string& actor, const std::string& action,
                             const std::string& domain, const std::string& id, const json& detail) {
  return audit::make_record(ts, actor, action, domain, audit::Entity::model, id, detail.dump());
}

void commit_audit(const CycleContext& ctx, sdk::AuditRecord a) {
  sdk::WriteBatch batch;
  const std::string action = a.action;
  batch.audit.push_back(std::move(a));
  if (auto st = ctx.commit(batch); !st.ok()) throw std::runtime_error("cannot audit " + action + ": " + st.message);
}

void audit(const CycleContext& ctx, const std::string& action, const std::string& domain, const std::string& id,
           const json& detail) {
  commit_audit(ctx, model_audit(now_ms(), ctx.actor, action, domain, id, detail));
}

json metric_or_null(const json& eval, const char* who, const char* metric) {
  if (!eval.contains(who)) return nullptr;
  return eval[who]["metrics"].value(metric, json());
}

// The outcomes of one cycle, frozen: the dataset version, its training rows, its reviewed
// holdout (the hard slice) and its audit set (docs/learning-loop.md, "Evaluate").
struct Frozen {
  std::string dataset_id;
  std::vector<dataset::Sample> train_rows, holdout, audit;
};

// 1. The outcomes, frozen as a dataset version (an unchanged set reuses the newest version).
Frozen freeze_outcomes(const CycleContext& ctx, const CycleRequest& req, const config::DomainConfig& dom,
                       CycleResult& r) {
  auto samples = dataset::collect(ctx.storage, req.domain, ctx.policies, nullptr,
                                  dataset::MarkedGold(ctx.cfg.datasets_dir).decision_ids(req.domain));
  if (samples.empty()) throw std::runtime_error("no feedback yet: domain \"" + req.domain + "\" has no final human outcomes");
  dataset::Store store(ctx.cfg.datasets_dir);
  const auto version = store.snapshot(req.domain, samples, now_ms(), ctx.policies.policy_hash(req.domain), ctx.actor,
                                      r.dataset_created);
  r.dataset_id = version.id;
  r.samples = samples.size();
  r.new_samples = version.new_rows;
  const double fraction = dom.retrain_holdout_fraction;
  auto holdout = dataset::Store::split(samples, dataset::Split::holdout, fraction);
  // Golden cases and audit samples are judged on, never learnt from (training_set skips them).
  Frozen f{version.id, dataset::Store::split(samples, dataset::Split::train, fraction), reviewed_rows(holdout),
           audit_rows(samples, holdout)};
  r.train_rows = f.train_rows.size();
  r.holdout_rows = f.holdout.size();
  r.audit_rows = f.audit.size();
  return f;
}

// 2. Train on the base data and the older feedback; register the candidate with its lineage.
// Returns the candidate's registry id.
std::string train_candidate(const CycleContext& ctx, const CycleRequest& req, const config::DomainConfig& dom,
                            const Frozen& frozen, sdk::Dataset base_train, CycleResult& r) {
  const TrainingSet set = training_set(std::move(base_train), frozen.train_rows);
  r.base_rows = set.base_rows;
  Trained trained;
  try {
    trained = train_model(ctx.plugins, ctx.cfg, req.domain, set.data);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("train: ") + e.what());
  }
  r.train_seconds = trained.seconds;
  r.candidate_version = trained.plugin_version;
  r.train_metrics = json::parse(trained.result.metrics_json, nullptr, false);
  if (!r.train_metrics.is_object()) r.train_metrics = json::object();
  Lineage lineage{frozen.dataset_id, "train", dom.retrain_base_data.string(), set.base_rows, req.trigger, req.trigger_stats, now_ms()};
  const auto mv = register_model(ctx.cfg, req.domain, trained, lineage);
  r.candidate_id = mv.id;
  audit(ctx, "model.trained", req.domain, mv.id,
        {{"dataset", frozen.dataset_id}, {"base_rows", set.base_rows}, {"train_rows", set.feedback_rows},
         {"trigger", req.trigger}, {"reason", req.reason}, {"version", trained.plugin_version},
         {"seconds", trained.seconds}});
  return mv.id;
}

// 3. Candidate and live model on the same newest rows and the golden set; the policy decides.
Promotion evaluate_candidate(const CycleContext& ctx, const CycleRequest& req, const config::DomainConfig& dom,
                             Frozen frozen, std::vector<dataset::Sample> base_holdout, const std::string& candidate,
                             CycleResult& r) {
  CompareRequest cmp;
  cmp.base_holdout = std::move(base_holdout);
  cmp.audit = std::move(frozen.audit);
  cmp.policies = &ctx.policies;
  cmp.rule = rule_options(dom);
  cmp.domain = &dom;
  cmp.model = &ctx.cfg.models.at(dom.model);
  cmp.rows = std::move(frozen.holdout);
  cmp.rows_from = frozen.dataset_id;
  cmp.split = "holdout";
  cmp.golden = golden_samples(ctx.cfg, req.domain, &cmp.golden_problems);
  cmp.golden_dropped = drop_golden_seen_by_live(ctx.cfg, req.domain, cmp.golden);
  cmp.candidate_artifact = registry::Registry(ctx.cfg.registry_dir).artifact_path(req.domain, candidate).string();
  cmp.candidate_id = candidate;
  Comparison c;
  try {
    c = compare(ctx.plugins, cmp);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("evaluate: ") + e.what());
  }
  r.eval = std::move(c.json);
  r.evaluated = true;
  const Promotion p = decide_promotion(ctx.policies, req.domain, r.eval, cmp.rule);
  r.decided_by = p.decided_by;
  r.decision = p.reason;
  audit(ctx, "model.evaluated", req.domain, candidate,
        {{"dataset", frozen.dataset_id}, {"rows", r.holdout_rows}, {"live_version", r.eval["live"]["version"]},
         {"live_auc", metric_or_null(r.eval, "live", "auc")}, {"candidate_auc", metric_or_null(r.eval, "candidate", "auc")},
         {"paired", r.eval.contains("unbiased") ? r.eval["unbiased"]["paired"] : json()},
         {"promote", p.promote}, {"decided_by", p.decided_by}, {"reason", p.reason}, {"failed", p.failed}});
  return p;
}

// 4. Atomic swap of the artifact the domain's model loads (a running service reloads it).
void promote_candidate(const CycleContext& ctx, const CycleRequest& req, const config::DomainConfig& dom,
                       const std::string& candidate, const Promotion& p, CycleResult& r) {
  if (auto others = shared_with(ctx.cfg, req.domain); !others.empty()) {
    r.decision = "not promoted: model \"" + dom.model + "\" is also used by " + others +
                 " (a model trained on this domain's feedback would change their scores too; give the domain a models entry of its own)";
    return;
  }
  const auto artifact = live_artifact(ctx.cfg, req.domain);
  auto live = registry::Registry(ctx.cfg.registry_dir, artifact_versions(ctx.plugins, ctx.cfg, req.domain))
                  .promote(req.domain, candidate, artifact, now_ms(), ctx.actor,
                           req.trigger + ": " + (p.reason.empty() ? p.decided_by : p.reason));
  r.promoted = true;
  // The swap is done: a failing audit write must not report it as a failed training (the live
  // model did change). The registry's history.jsonl has the promotion either way.
  try {
    commit_audit(ctx, swap_audit("model.promoted", req.domain, live, artifact, ctx.cfg.registry_dir));
  } catch (const std::exception& e) {
    r.audit_error = e.what();
  }
}

}  // namespace

sdk::AuditRecord swap_audit(const std::string& action, const std::string& domain, const registry::Live& live,
                            const std::filesystem::path& artifact, const std::filesystem::path& registry_dir) {
  return model_audit(live.since_ms, live.by, action, domain, live.id,
                     {{"previous", live.previous}, {"reason", live.reason}, {"artifact_path", artifact.string()},
                      {"registry", registry_dir.string()}});
}

json to_json(const CycleResult& r) {
  json j = {{"dataset", r.dataset_id},          {"dataset_created", r.dataset_created},
            {"samples", r.samples},             {"new_samples", r.new_samples},
            {"base_rows", r.base_rows},
            {"train_rows", r.train_rows},       {"holdout_rows", r.holdout_rows},
            {"base_holdout_rows", r.base_holdout_rows}, {"audit_rows", r.audit_rows},
            {"candidate", r.candidate_id},      {"candidate_version", r.candidate_version},
            {"train_seconds", r.train_seconds}, {"train_metrics", r.train_metrics},
            {"evaluated", r.evaluated},         {"promoted", r.promoted},
            {"decided_by", r.decided_by},       {"decision", r.decision}};
  if (!r.audit_error.empty()) j["audit_error"] = r.audit_error;
  if (r.evaluated) j["evaluation"] = r.eval;
  return j;
}

CycleResult run_cycle(const CycleContext& ctx, const CycleRequest& req) {
  auto dom_it = ctx.cfg.domains.find(req.domain);
  if (dom_it == ctx.cfg.domains.end()) throw std::runtime_error("no domain named \"" + req.domain + "\"");
  const auto& dom = dom_it->second;
  if (dom.model.empty()) throw std::runtime_error("domain \"" + req.domain + "\" has no model to train");
  CycleResult r;
  Frozen frozen = freeze_outcomes(ctx, req, dom, r);
  BaseData base;
  try {
    base = read_base_data(dom);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("retrain.base_data: ") + e.what());
  }
  r.base_holdout_rows = base.holdout.size();
  const std::string candidate = train_candidate(ctx, req, dom, frozen, std::move(base.train), r);
  if (!req.promote) {
    r.decision = "not evaluated: registered only (promotion off)";
    return r;
  }
  if (frozen.holdout.empty()) {
    r.decision = "not evaluated: " + frozen.dataset_id + " has no holdout rows yet";
    return r;
  }
  const Promotion p = evaluate_candidate(ctx, req, dom, std::move(frozen), std::move(base.holdout), candidate, r);
  if (p.promote) promote_candidate(ctx, req, dom, candidate, p, r);
  return r;
}

}  // namespace hitl::learning
