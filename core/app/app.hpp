#pragma once
// The assembled service: plugins, storage, queue, models, policies, writer, domains, pipeline,
// review, tokens and metrics, built from a validated ServiceConfig, each part given what it uses
// in its constructor. Used by `hitl serve`, `hitl ingest`
// and `hitl token create`.
#include "config/service_config.hpp"
#include "plugin/plugin_registry.hpp"

#include <hitl/plugin_api.hpp>

#include <memory>
#include <string>

namespace hitl::policy { class PolicyEngine; }
namespace hitl::cluster { class Cluster; struct Event; }

namespace hitl::service {

class Writer;
class Pipeline;
class ReviewService;
class TokenService;
class Metrics;
class Governance;
class Notifier;
class ReviewerDirectory;
class Assignment;
class ModelSet;
class Domains;
class RetrainWorker;
class Signals;
class SlowLane;
class ShadowPolicy;
class PolicyReloader;
class SharedLearning;

class App {
 public:
  // Throws std::runtime_error (ConfigError, PluginError, PolicyError) with a one-line reason.
  // `plugins`: the config's plugin_dirs as the config loader already loaded them (each file is
  // opened once); empty or for other folders, App loads them itself.
  explicit App(config::ServiceConfig cfg, plugin::LoadedPlugins plugins = {});
  ~App();

  const config::ServiceConfig& config() const { return cfg_; }
  const Domains& domains() const { return *domains_; }  // each domain's settings (domain/domains.hpp)
  sdk::Storage& storage() { return *storage_; }
  sdk::Queue& queue() { return *queue_; }
  Writer& writer() { return *writer_; }
  Pipeline& pipeline() { return *pipeline_; }
  ReviewService& review() { return *review_; }
  TokenService& tokens() { return *tokens_; }
  Metrics& metrics() { return *metrics_; }
  Governance& governance() { return *governance_; }
  Notifier& notifier() { return *notifier_; }  // long-poll waiters and webhooks (notify/notify.hpp)
  ReviewerDirectory& reviewers() { return *reviewers_; }
  Assignment& assignment() { return *assignment_; }
  policy::PolicyEngine& policies() { return *policies_; }
  // Policy changes without a restart (app/policy_reloader.hpp) and the shadow policies beside the
  // live ones (ingest/shadow_policy.hpp).
  PolicyReloader& policy_reloader() { return *policy_reloader_; }
  ShadowPolicy& shadow_policy() { return *shadow_policy_; }
  RetrainWorker& retrain() { return *retrain_; }  // the learning loop's trainings (learning/retrain_worker.hpp)
  SlowLane& slow_lane() { return *slow_lane_; }  // routes whose cost grows with the data (app/slow_lane.hpp)
  std::shared_ptr<sdk::Model> model(const std::string& name) const;  // the live one
  const plugin::Registry& plugins() const { return *registry_; }  // the loaded plugins, to load an artifact
  // The instances sharing this one's database: who leads, and the events between them
  // (cluster/cluster.hpp). Alone on any storage but PostgreSQL.
  cluster::Cluster& cluster() { return *cluster_; }
  // What another instance told this one: a final outcome or a ground truth (read again from
  // storage, then heard as if made here: waiters answered, learning counters moved), a
  // promoted model (reloaded now), a token change, or a retrain job queued (the leader's worker
  // reads the queued jobs now). Runs on the cluster's listening thread; never throws.
  void hear(const cluster::Event& e) noexcept;
  // A token was created or revoked here: this instance's token-check cache is dropped, and the
  // other instances' at their event, so the change holds at once everywhere.
  void tokens_changed();
  // Reloads every model one of whose path-typed options names a file that changed since it was
  // loaded (a `hitl model promote`, say); see ModelSet. Returns how many swapped.
  std::size_t reload_models();

 private:
  // The start, in order; each step uses only what the steps before it built.
  void load_plugins(plugin::LoadedPlugins loaded);
  void open_storage_and_queue();
  void load_models();
  void load_policies();  // with the rolling stats they read (hitl.stats) and the metrics behind them
  void build_ingest();   // writer, domains, pipeline
  void build_review();   // reviewers, assignment, notifier, retraining, review workflow
  void build_admin();    // tokens, governance, slow lane
  void warn_unused_settings() const;

  config::ServiceConfig cfg_;
  std::unique_ptr<plugin::Registry> registry_;
  std::shared_ptr<sdk::Storage> storage_;
  std::shared_ptr<sdk::Queue> queue_;
  std::shared_ptr<cluster::Cluster> cluster_;  // shared with the learning files' locks
  std::unique_ptr<SharedLearning> shared_learning_;  // null: alone, the learning files stay folders
  std::unique_ptr<ModelSet> models_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Signals> signals_;  // hitl.stats(): before the policies, which read it
  std::unique_ptr<policy::PolicyEngine> policies_;
  std::unique_ptr<policy::PolicyEngine> shadow_policies_;  // null: no domain has a shadow_policy
  std::unique_ptr<ShadowPolicy> shadow_policy_;
  std::unique_ptr<PolicyReloader> policy_reloader_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<Domains> domains_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ReviewerDirectory> reviewers_;
  std::unique_ptr<Assignment> assignment_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<RetrainWorker> retrain_;
  std::unique_ptr<ReviewService> review_;
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<Governance> governance_;
  std::unique_ptr<SlowLane> slow_lane_;  // stopped first in ~App: its jobs use everything above
};

}  // namespace hitl::service
