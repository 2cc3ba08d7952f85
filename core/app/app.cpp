#include "app/app.hpp"

#include "app/model_set.hpp"
#include "app/policy_reloader.hpp"
#include "app/shared_learning.hpp"
#include "app/slow_lane.hpp"
#include "cluster/cluster.hpp"
#include "common/file_store.hpp"
#include "dataset/dataset.hpp"
#include "domain/domains.hpp"
#include "governance/auth.hpp"
#include "governance/governance.hpp"
#include "ingest/pipeline.hpp"
#include "ingest/shadow_policy.hpp"
#include "ingest/signals.hpp"
#include "ingest/task_push.hpp"
#include "learning/retrain_worker.hpp"
#include "metrics/metrics.hpp"
#include "notify/notify.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"
#include "report/report.hpp"
#include "review/assignment.hpp"
#include "review/review.hpp"
#include "review/reviewers.hpp"
#include "store/writer.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace hitl::service {

namespace {
// hitl.calibrated learns from a final outcome; an audit sample stands for 1/p automatic decisions.
void calibrate_on(Signals& signals, const policy::PolicyEngine& policies, const sdk::DecisionRecord& d) {
  const double p = d.reason == report::kAuditReason ? policies.audit_rate(d.domain) : 1.0;
  if (p > 0) signals.labelled(d, 1.0 / p);
}

// A final human outcome is heard by the waiting clients and webhooks (notify/), by the
// learning loop, which may ask for a retraining (learning/retrain_worker.hpp), and by the other
// instances sharing the database (App::hear there).
FinalHooks final_outcome_hooks(Notifier& notifier, RetrainWorker& retrain, Signals& signals,
                               const policy::PolicyEngine& policies, cluster::Cluster& cluster) {
  FinalHooks hooks = notifier.hooks();
  hooks.on_final = [notify = std::move(hooks.on_final), &retrain, &signals, &policies, &cluster](const sdk::DecisionRecord& d) {
    if (notify) notify(d);
    retrain.outcome(d);
    calibrate_on(signals, policies, d);
    cluster.publish({cluster::EventKind::final_outcome, d.domain, d.id, false});
  };
  return hooks;
}
}  // namespace

App::App(config::ServiceConfig cfg, plugin::LoadedPlugins plugins) : cfg_(std::move(cfg)) {
  load_plugins(std::move(plugins));
  open_storage_and_queue();
  load_models();
  load_policies();
  build_ingest();
  build_review();
  build_admin();
  warn_unused_settings();
}

App::~App() {
  // Slow routes in flight read storage and write through the writer: they finish first.
  slow_lane_.reset();
  // A training in progress finishes first (it writes through the writer and reads storage).
  retrain_.reset();
  // Claims on the claim lane submit through the writer: they are done first (a claim the
  // writer's drain continues then runs on the writer thread).
  if (review_) review_->stop_claim_lane();
  // The writer drains before the storage and queue it writes to go away.
  writer_.reset();
}

void App::load_plugins(plugin::LoadedPlugins loaded) {
  for (auto& dir : cfg_.plugin_dirs)
    if (!std::filesystem::is_directory(dir))
      throw std::runtime_error(cfg_.file.string() + ": plugin_dirs: not a directory: " + dir.string());
  if (!loaded.registry || loaded.dirs != cfg_.plugin_dirs) loaded = plugin::load_plugin_dirs(cfg_.plugin_dirs);
  for (auto& e : loaded.refused) spdlog::error("plugin refused: {}", e);
  registry_ = std::move(loaded.registry);
}

void App::open_storage_and_queue() {
  storage_ = registry_->create_storage(cfg_.storage.plugin, cfg_.storage.config_json);
  queue_ = registry_->create_queue(cfg_.queue.plugin, cfg_.queue.config_json);
  // A replica for the reports: opened as any storage (it must be at this hitl's schema version;
  // an up-to-date PostgreSQL opens read-only, so a hot standby does), written to never.
  if (!cfg_.reports_storage.plugin.empty())
    reports_storage_ = registry_->create_storage(cfg_.reports_storage.plugin, cfg_.reports_storage.config_json);
  cluster_ = cluster::open(cfg_.storage.plugin, cfg_.storage.config_json);
  if (!cluster_->shared()) return;
  shared_learning_ = std::make_unique<SharedLearning>(cfg_, storage_, cluster_);
  shared_learning_->install_live();  // before the models load: they start on the live version
}

void App::load_models() { models_ = std::make_unique<ModelSet>(cfg_.models, *registry_); }

void App::load_policies() {
  std::vector<policy::DomainPolicy> policies;
  std::vector<std::string> domain_names;
  for (auto& [name, d] : cfg_.domains) {
    policies.push_back({name, d.policy});
    domain_names.push_back(name);
  }
  metrics_ = std::make_unique<Metrics>(domain_names);
  std::vector<Signals::DomainSetup> signal_domains;
  for (auto& [name, d] : cfg_.domains) signal_domains.push_back({name, d.stats_segment, metrics_->domain(name)});
  signals_ = std::make_unique<Signals>(signal_domains, queue_.get());
  // A swapped-in model rescored on recent rows: hitl.threshold_for_rate follows it at once.
  models_->on_swap([this](const std::string& model, sdk::Model& fresh) {
    for (auto& [name, d] : cfg_.domains)
      if (d.model == model)
        spdlog::info("domain {}: threshold_for_rate recalibrated on {} recent rows for {}", name,
                     signals_->recalibrate(name, fresh), fresh.version());
  });
  policy::Limits limits;
  limits.instruction_budget = cfg_.policy_instruction_budget;
  limits.memory_bytes = cfg_.policy_memory_mb << 20;
  limits.deadline_ms = cfg_.policy_deadline_ms;
  policies_ = std::make_unique<policy::PolicyEngine>(policies, cfg_.script_lib_dir, limits, signals_.get());
  std::vector<policy::DomainPolicy> shadows;
  for (auto& [name, d] : cfg_.domains)
    if (!d.shadow_policy.empty()) shadows.push_back({name, d.shadow_policy});
  if (!shadows.empty())
    shadow_policies_ = std::make_unique<policy::PolicyEngine>(shadows, cfg_.script_lib_dir, limits, signals_.get());
  shadow_policy_ = std::make_unique<ShadowPolicy>(shadow_policies_.get(), *metrics_);
}

void App::build_ingest() {
  // New review tasks reach the queue right after their commit, in one push per group commit.
  writer_ = std::make_unique<Writer>(storage_, cfg_.writer_max_batch, TaskPush(*queue_, *metrics_, cfg_.queue.plugin));
  domains_ = std::make_unique<Domains>(cfg_.domains);
  pipeline_ = std::make_unique<Pipeline>(*domains_, models_->slots(), *policies_, *shadow_policy_, *signals_,
                                         *storage_, *writer_, *metrics_);
  // find_decisions came with storage interface 1.2 (as renew() with queue 1.1, build_review).
  const auto storage_api = plugin::api_of(storage_);
  pipeline_->set_storage_finds(!storage_api || storage_api->minor >= 2);
  policy_reloader_ = std::make_unique<PolicyReloader>(cfg_, *policies_, shadow_policies_.get(), *metrics_, *writer_);
}

void App::build_review() {
  auto commit = [w = writer_.get()](sdk::WriteBatch& b) { return w->submit_sync(b); };
  reviewers_ = std::make_unique<ReviewerDirectory>(*storage_, commit);
  assignment_ = std::make_unique<Assignment>(*storage_, *reviewers_, *policies_);
  notifier_ = std::make_unique<Notifier>(cfg_, *storage_, *writer_);
  notifier_->follow(cluster_->leadership());
  // Trainings: asked after final outcomes and on a timer once `hitl serve` starts the worker. A
  // promotion swaps the model in here at once, and in the other instances at their event.
  // Its jobs: in memory alone; among instances, in the database (learning/retrain_jobs.hpp).
  retrain_ = std::make_unique<RetrainWorker>(RetrainWorker::Deps{
      cfg_, *registry_, *storage_, *policies_, *metrics_, commit,
      [this] {
        reload_models();
        cluster_->publish({cluster::EventKind::model_promoted, "", "", false});
      },
      shared_learning_ ? shared_learning_->retrain_job_files() : memory_store(),
      [this] { cluster_->publish({cluster::EventKind::retrain_requested, "", "", false}); }});
  retrain_->follow(cluster_->leadership());
  review_ = std::make_unique<ReviewService>(*storage_, *queue_, *writer_, *domains_, *metrics_, *reviewers_,
                                            *assignment_, *policies_,
                                            final_outcome_hooks(*notifier_, *retrain_, *signals_, *policies_, *cluster_));
  // renew() came with queue interface 1.1: an older queue plugin's vtable has no such slot.
  const auto queue_api = plugin::api_of(queue_);
  review_->set_queue_renews(!queue_api || queue_api->minor >= 1);
  review_->set_step_threads(cfg_.writer_step_threads);
  if (cfg_.writer_step_threads > 0)
    spdlog::info("claim and submit steps run on {} step threads (writer.step_threads)", cfg_.writer_step_threads);
}

void App::build_admin() {
  tokens_ = std::make_unique<TokenService>(storage_);
  governance_ = std::make_unique<Governance>(
      *storage_, [w = writer_.get()](sdk::WriteBatch& b) { return w->submit_sync(b); },
      [dir = cfg_.datasets_dir](const std::string& d, const std::set<std::string>& ids) { return dataset::forget(dir, d, ids); },
      [r = retrain_.get(), c = cluster_.get()](const sdk::DecisionRecord& d, bool first) {
        r->truth(d, first);
        c->publish({cluster::EventKind::ground_truth, d.domain, d.id, first});
      });
  slow_lane_ = std::make_unique<SlowLane>(cfg_.slow_threads);  // started by `hitl serve`
}

// Settings the policy makes useless: said at the start rather than discovered in production.
void App::warn_unused_settings() const {
  for (const auto& [name, d] : *domains_) {
    if (!d.judge_name.empty() && !policies_->has_judge(name))
      spdlog::warn("domain {}: judge_model {} is set but the policy has no judge(p, verdict) hook: hitl.judge() cases go to review (judge_error)",
                   name, d.judge_name);
    const double gold_rate = policies_->gold_rate(name);
    if (gold_rate > 0 && !d.gold)
      spdlog::warn("domain {}: the policy sets gold_rate = {} but the domain has no gold_file: no gold tasks", name, gold_rate);
    if (gold_rate <= 0 && d.gold)
      spdlog::warn("domain {}: gold_file {} is set but the policy's gold_rate is 0: no gold tasks", name,
                   cfg_.domains.at(name).gold_file.string());
  }
}

std::shared_ptr<sdk::Model> App::model(const std::string& name) const { return models_->live(name); }

std::size_t App::reload_models() {
  if (shared_learning_) shared_learning_->install_live();  // a version another instance promoted
  return models_->reload_changed(*metrics_, *writer_);
}

void App::tokens_changed() {
  tokens_->forget_cached();
  cluster_->publish({cluster::EventKind::tokens_changed, "", "", false});
}

void App::hear(const cluster::Event& e) noexcept {
  try {
    if (e.kind == cluster::EventKind::model_promoted) {
      reload_models();
      return;
    }
    if (e.kind == cluster::EventKind::tokens_changed) {
      tokens_->forget_cached();
      return;
    }
    if (e.kind == cluster::EventKind::retrain_requested) {
      retrain_->jobs_changed();
      return;
    }
    std::optional<sdk::DecisionRecord> d;
    if (auto st = storage_->get_decision(e.domain, e.id, d); !st.ok() || !d) {
      if (!st.ok()) spdlog::warn("cluster event: cannot read decision domain={} id={}: {}", e.domain, e.id, st.message);
      return;  // an event naming no stored decision changes nothing
    }
    if (e.kind == cluster::EventKind::ground_truth) {
      if (!d->truth_label.empty()) retrain_->truth(*d, e.first);
    } else if (!d->final_outcome.empty()) {  // else not final: nothing to hear
      notifier_->on_final(*d);
      retrain_->outcome(*d);
      calibrate_on(*signals_, *policies_, *d);
    }
  } catch (const std::exception& ex) {
    spdlog::error("cluster event domain={} id={}: {}", e.domain, e.id, ex.what());
  }
}

}  // namespace hitl::service
