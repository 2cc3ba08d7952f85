#include "app/app.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "dataset/dataset.hpp"
#include "common/files.hpp"
#include "data/feature_stats.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"
#include "review/assignment.hpp"
#include "governance/auth.hpp"
#include "review/reviewers.hpp"
#include "governance/governance.hpp"
#include "metrics/metrics.hpp"
#include "notify/notify.hpp"
#include "ingest/pipeline.hpp"
#include "learning/retrain_worker.hpp"
#include "review/review.hpp"
#include "ingest/signals.hpp"
#include "app/slow_lane.hpp"
#include "store/writer.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace hitl::service {

namespace {
// The artifact's training feature statistics (p.ood), null when it has no sidecar. Throws
// std::runtime_error naming the sidecar when it is malformed.
// Statistics recorded for another artifact (the artifact was replaced without its sidecar) are
// not used: p.ood is nil rather than measured against another model's training data.
std::shared_ptr<const data::FeatureStats> load_stats(const std::filesystem::path& artifact) {
  auto stats = data::load_feature_stats(artifact);
  if (!stats) return nullptr;
  if (!data::feature_stats_match(*stats, read_whole_file(artifact))) {
    spdlog::warn("{} describes another artifact than {} (its artifact_sha256 differs): p.ood is nil for this model",
                 data::feature_stats_path(artifact).string(), artifact.string());
    return nullptr;
  }
  return std::make_shared<const data::FeatureStats>(std::move(*stats));
}
}  // namespace

App::App(config::ServiceConfig cfg) : cfg_(std::move(cfg)) {
  registry_ = std::make_unique<plugin::Registry>();
  for (auto& dir : cfg_.plugin_dirs) {
    if (!std::filesystem::is_directory(dir))
      throw std::runtime_error(cfg_.file.string() + ": plugin_dirs: not a directory: " + dir.string());
    std::vector<std::string> errors;
    registry_->load_directory(dir, errors);
    for (auto& e : errors) spdlog::error("plugin refused: {}", e);
  }
  storage_ = registry_->create_storage(cfg_.storage.plugin, cfg_.storage.config_json);
  queue_ = registry_->create_queue(cfg_.queue.plugin, cfg_.queue.config_json);
  for (auto& [name, m] : cfg_.models) {
    ArtifactStamp stamp;
    auto mc = nlohmann::json::parse(m.ref.config_json, nullptr, false);
    if (mc.is_object() && mc.contains("artifact") && mc["artifact"].is_string()) {
      stamp.path = mc["artifact"].get<std::string>();
      std::error_code ec;
      stamp.mtime = std::filesystem::last_write_time(stamp.path, ec);
      stamp.size = std::filesystem::file_size(stamp.path, ec);
    }
    // A malformed sidecar stops the start with its path, like a malformed artifact.
    auto stats = stamp.path.empty() ? nullptr : load_stats(stamp.path);
    models_[name] = std::make_shared<ModelSlot>(registry_->create_model(m.ref.plugin, m.ref.config_json), std::move(stats));
    artifact_stamps_[name] = stamp;
  }

  std::vector<policy::DomainPolicy> policies;
  std::vector<std::string> domain_names;
  for (auto& [name, d] : cfg_.domains) {
    policies.push_back({name, d.policy});
    domain_names.push_back(name);
  }
  policy::Limits limits;
  limits.instruction_budget = cfg_.policy_instruction_budget;
  limits.memory_bytes = cfg_.policy_memory_mb << 20;
  limits.deadline_ms = cfg_.policy_deadline_ms;
  policies_ = std::make_unique<policy::PolicyEngine>(policies, cfg_.script_lib_dir, limits);
  metrics_ = std::make_unique<Metrics>(domain_names);

  // New review tasks reach the queue right after their commit, in one push per group commit.
  sdk::Queue* queue = queue_.get();
  Metrics* metrics = metrics_.get();
  const std::string queue_plugin = cfg_.queue.plugin;
  writer_ = std::make_unique<Writer>(storage_, cfg_.writer_max_batch, [queue, metrics, queue_plugin](sdk::WriteBatch& b) {
    std::vector<sdk::QueueItem> items;
    for (auto& nd : b.decisions)
      if (nd.task && !nd.duplicate && nd.task->task_id)
        items.push_back({nd.task->task_id, nd.task->domain, nd.task->priority, nd.task->deadline_ms, nd.task->created_ms});
    if (items.empty()) return;
    auto st = queue->push(items);
    // Not lost: the tasks are in storage and requeue_open_tasks() pushes them at the next start.
    if (!st.ok()) {
      metrics->plugin_error("queue", queue_plugin);
      spdlog::error("queue push of {} tasks failed: {}", items.size(), st.message);
    }
  });

  std::map<std::string, DomainRuntime> runtimes;
  for (auto& [name, d] : cfg_.domains) {
    DomainRuntime rt;
    rt.name = name;
    rt.labels = d.labels;
    rt.model_name = d.model;
    if (!d.model.empty()) rt.model = models_.at(d.model);
    for (auto& member : d.ensemble) rt.ensemble.emplace_back(member, models_.at(member));
    rt.judge_name = d.judge_model;
    if (!d.judge_model.empty()) rt.judge = models_.at(d.judge_model);
    if (!d.judge_model.empty() && !policies_->has_judge(name))
      spdlog::warn("domain {}: judge_model {} is set but the policy has no judge(p, verdict) hook: hitl.judge() cases go to review (judge_error)",
                   name, d.judge_model);
    rt.shadow_name = d.shadow_model;
    if (!d.shadow_model.empty()) rt.shadow = models_.at(d.shadow_model);
    rt.lease_ms = d.lease_seconds * 1000;
    rt.sla_seconds = d.sla_seconds;
    rt.sensitive = d.sensitive;
    rt.redactor = Redactor(d.sensitive);
    rt.fatigue_max_consecutive = d.fatigue_max_consecutive;
    rt.fatigue_max_per_hour = d.fatigue_max_per_hour;
    rt.sla_at_risk_fraction = d.sla_at_risk_fraction;
    rt.webhook_url = d.webhook_url;
    if (!d.gold_file.empty()) rt.gold = std::make_shared<const GoldSet>(load_gold_set(d.gold_file, d.labels));
    const double gold_rate = policies_->gold_rate(name);
    if (gold_rate > 0 && !rt.gold)
      spdlog::warn("domain {}: the policy sets gold_rate = {} but the domain has no gold_file: no gold tasks", name, gold_rate);
    if (gold_rate <= 0 && rt.gold)
      spdlog::warn("domain {}: gold_file {} is set but the policy's gold_rate is 0: no gold tasks", name, d.gold_file.string());
    runtimes[name] = std::move(rt);
  }
  pipeline_ = std::make_unique<Pipeline>(std::move(runtimes), *policies_, *storage_, *writer_, *metrics_);
  std::vector<Signals::DomainSetup> signal_domains;
  for (auto& [name, d] : cfg_.domains) signal_domains.push_back({name, d.stats_segment, metrics_->domain(name)});
  signals_ = std::make_unique<Signals>(signal_domains, queue_.get());
  pipeline_->set_signals(signals_.get());
  policies_->set_signals(signals_.get());
  reviewers_ = std::make_unique<ReviewerDirectory>(*storage_, [w = writer_.get()](sdk::WriteBatch& b) { return w->submit_sync(b); });
  assignment_ = std::make_unique<Assignment>(*storage_, *reviewers_, *policies_);
  review_ = std::make_unique<ReviewService>(*storage_, *queue_, *writer_, *pipeline_, *metrics_, *reviewers_,
                                            *assignment_, *policies_);
  // renew() came with queue interface 1.1: an older queue plugin's vtable has no such slot.
  const auto queue_api = plugin::api_of(queue_);
  review_->set_queue_renews(!queue_api || queue_api->minor >= 1);
  tokens_ = std::make_unique<TokenService>(storage_);
  governance_ = std::make_unique<Governance>(
      *storage_, [w = writer_.get()](sdk::WriteBatch& b) { return w->submit_sync(b); },
      [dir = cfg_.datasets_dir](const std::string& d, const std::set<std::string>& ids) { return dataset::forget(dir, d, ids); });
  notifier_ = std::make_unique<Notifier>(cfg_, *storage_, *writer_);
  // Trainings: asked after final outcomes and on a timer once `hitl serve` starts the worker.
  retrain_ = std::make_unique<RetrainWorker>(RetrainWorker::Deps{
      cfg_, *registry_, *storage_, *policies_, *metrics_,
      [w = writer_.get()](sdk::WriteBatch& b) { return w->submit_sync(b); }, [this] { reload_models(); }});
  auto hooks = notifier_->hooks();
  hooks.on_final = [notify = std::move(hooks.on_final), rw = retrain_.get()](const sdk::DecisionRecord& d) {
    if (notify) notify(d);
    rw->outcome(d);
  };
  review_->set_final_hooks(std::move(hooks));
  slow_lane_ = std::make_unique<SlowLane>(cfg_.slow_threads);  // started by `hitl serve`
}

App::~App() {
  // Slow routes in flight read storage and write through the writer: they finish first.
  slow_lane_.reset();
  // A training in progress finishes first (it writes through the writer and reads storage).
  retrain_.reset();
  // The writer drains before the storage and queue it writes to go away.
  writer_.reset();
}

std::shared_ptr<sdk::Model> App::model(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second->get();
}

std::size_t App::reload_models() {
  std::lock_guard lock(reload_mu_);
  std::size_t swapped = 0;
  for (auto& [name, stamp] : artifact_stamps_) {
    if (stamp.path.empty()) continue;
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(stamp.path, ec);
    if (ec) continue;  // being replaced right now, or gone: the current model stays
    const auto size = std::filesystem::file_size(stamp.path, ec);
    if (ec || (mtime == stamp.mtime && size == stamp.size)) continue;
    stamp.mtime = mtime;  // tried once per change: a broken file is not retried until it changes again
    stamp.size = size;
    const auto& m = cfg_.models.at(name);
    auto& slot = *models_.at(name);
    const auto current = slot.get();
    const std::string before = current ? current->version() : "";
    std::shared_ptr<sdk::Model> fresh;
    std::shared_ptr<const data::FeatureStats> stats;
    try {
      // The sidecar is written before the artifact (hitl train), so it is in place by now.
      stats = load_stats(stamp.path);
      fresh = registry_->create_model(m.ref.plugin, m.ref.config_json);
    } catch (const std::exception& e) {
      metrics_->plugin_error("model", name);
      spdlog::error("model {}: the changed artifact {} does not load, keeping {}: {}", name, stamp.path.string(), before,
                    e.what());
      continue;
    }
    slot.set(fresh, stats);  // model and statistics swap together
    ++swapped;
    spdlog::info("model {} reloaded from {}: {} -> {}", name, stamp.path.string(), before, fresh->version());
    sdk::WriteBatch batch;
    batch.audit.push_back(audit::make_record(
        now_ms(), audit::kSystemActor, "model.loaded", "", audit::Entity::model, name,
        nlohmann::json{{"from_version", before}, {"to_version", fresh->version()}, {"artifact", stamp.path.string()}}.dump()));
    if (auto st = writer_->submit_sync(batch); !st.ok()) spdlog::warn("model {}: cannot audit the reload: {}", name, st.message);
  }
  return swapped;
}

}  // namespace hitl::service
