#pragma once
// Instances sharing one database (cluster/cluster.hpp) share the learning loop's files too: the
// model registry and the dataset folders become the storage's named blobs (common/file_store.hpp:
// `registry/...` and `datasets/...`), each folder of this instance its cache. A version trained or
// promoted on one instance is then listed everywhere, and each instance installs the live
// version into its own configured artifact path, where its models load from.
// Made once, at start, only when the instance shares its database; with plain SQLite there is
// none and the folders stay the store. The folders' locks are the cluster's (cluster/cluster.hpp),
// so two instances never take one registry version number.
#include "config/service_config.hpp"
#include "common/file_store.hpp"

#include <hitl/plugin_api.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hitl::cluster { class Cluster; }

namespace hitl::service {

class SharedLearning {
 public:
  // Binds cfg.registry_dir and cfg.datasets_dir to `storage`'s blobs. Throws std::runtime_error
  // when the storage plugin is older than storage 1.3 (it has no blobs: the instances would each
  // keep a registry of their own, silently apart).
  // `cluster` (kept alive by the bindings) locks their folders across the instances.
  SharedLearning(const config::ServiceConfig& cfg, const std::shared_ptr<sdk::Storage>& storage,
                 std::shared_ptr<cluster::Cluster> cluster);
  ~SharedLearning();  // the folders are folders again
  SharedLearning(const SharedLearning&) = delete;
  SharedLearning& operator=(const SharedLearning&) = delete;

  // Installs the live version of every domain whose live version changed since the last look
  // (after a model_promoted event, at start, and at each model reload poll). Returns how many
  // artifact files it replaced. Never throws: a version that cannot be installed (its blob
  // missing or altered, the database away) is logged in one line, once, and the model in place
  // keeps scoring; it is tried again at the next look.
  std::size_t install_live() noexcept;

  // Where the retrain jobs are kept: the blobs `retrain-jobs/...`, locked like the folders
  // (learning/retrain_jobs.hpp).
  std::shared_ptr<FileStore> retrain_job_files() const;

 private:
  const config::ServiceConfig& cfg_;
  std::weak_ptr<sdk::Storage> storage_;
  Locker locker_;
  std::mutex mu_;
  std::map<std::string, std::string> installed_;  // domain -> the live version its artifact holds
  std::map<std::string, std::string> refused_;    // domain -> the live version last refused (logged)
};

}  // namespace hitl::service
