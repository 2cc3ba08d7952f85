#pragma once
// The model registry of the learning loop, on disk under the config's registry_dir:
//   <dir>/<domain>/<domain>-m<N>.json       a model version's manifest (immutable)
//   <dir>/<domain>/<domain>-m<N>.artifact   its artifact, as the model plugin wrote it
//   <dir>/<domain>/live.json                which version is live (absent: the configured file)
//   <dir>/<domain>/history.jsonl            every promotion and rollback, appended
//   <dir>/<domain>/<domain>-m0.*            the configured artifact as it was before the first
//                                           promotion (kept then, so it can be rolled back to)
// Promotion copies the version's artifact over the domain model's configured `artifact` path by
// rename (a reader sees the old file or the new one, never half of either); a running service
// picks it up within about 2 s (App::reload_models).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl { class FileStore; }

namespace hitl::registry {

struct ModelVersion {
  std::string id, domain, model;   // model = the config's models.<name>
  std::string plugin, plugin_version;
  std::string artifact_sha256;
  std::string dataset, split;      // the dataset version and split it was trained on
  std::string base_data;           // the domain's retrain.base_data file mixed in ("" = none)
  std::size_t base_rows = 0;       // rows of it
  std::string parent;              // the version live when it was trained ("" = the configured artifact)
  std::string policy_hash;
  nlohmann::json train_metrics = nlohmann::json::object();
  std::string trigger;             // who or what asked for it, e.g. "cli:alice", "policy", "admin:root"
  nlohmann::json trigger_stats;    // the retrain(stats) the trigger saw (null = none)
  std::int64_t created_ms = 0;
};

struct Live {
  std::string id;        // "" = nothing promoted yet
  std::string previous;  // the version live before ("" = the configured artifact)
  std::int64_t since_ms = 0;
  std::string by, reason;
};

nlohmann::json to_json(const ModelVersion& v);
nlohmann::json to_json(const Live& l);

// What a model plugin reports as version() for an artifact file: the model_version decisions
// carry. "" when it cannot tell.
using ArtifactVersion = std::function<std::string(const std::filesystem::path& artifact)>;

class Registry {
 public:
  // `version_of` names the configured artifact's version when the first promotion keeps it as
  // m0, so decisions made before that promotion map to a version; without it m0's is "".
  explicit Registry(std::filesystem::path dir, ArtifactVersion version_of = {});

  // Records a new version with `artifact_text`; fills id and artifact_sha256. Never overwrites.
  ModelVersion add(ModelVersion v, const std::string& artifact_text);
  // Records the training statistics sidecar (data/feature_stats.hpp's JSON) of version `id`.
  void add_sidecar(const std::string& domain, const std::string& id, const std::string& sidecar_json);
  std::vector<ModelVersion> list(const std::string& domain) const;  // oldest first
  std::optional<ModelVersion> find(const std::string& domain, const std::string& id) const;
  // A file of this machine holding version `id`'s artifact (to load it as a candidate), with its
  // sidecar beside it. Throws when it is missing or its stored bytes were altered.
  std::filesystem::path artifact_path(const std::string& domain, const std::string& id) const;
  Live live(const std::string& domain) const;
  // Makes `id` live: its artifact (checked against its hash) replaces `artifact_path` atomically,
  // live.json and the history record it. Throws std::runtime_error (unknown id, altered artifact,
  // I/O). Returns the new Live.
  Live promote(const std::string& domain, const std::string& id, const std::filesystem::path& artifact_path,
               std::int64_t now_ms, const std::string& by, const std::string& reason);
  // Makes the version live before the current one live again (throws when there is none).
  Live rollback(const std::string& domain, const std::filesystem::path& artifact_path, std::int64_t now_ms,
                const std::string& by, const std::string& reason);
  std::vector<nlohmann::json> history(const std::string& domain) const;
  // Makes `artifact_path` (this instance's configured artifact) hold the live version's artifact
  // and sidecar when it holds other bytes: what an instance does when another one promoted.
  // Returns whether it changed the file. Throws, leaving the file as it was, when the live
  // version's artifact is missing or does not match its recorded hash.
  bool install_live(const std::string& domain, const std::filesystem::path& artifact_path);

 private:
  Live promote_locked(const std::string& domain, const std::string& id, const std::filesystem::path& artifact_path,
                      std::int64_t now_ms, const std::string& by, const std::string& reason);
  ModelVersion keep_configured(const std::string& domain, const std::vector<ModelVersion>& versions,
                               const ModelVersion& first_promoted, const std::filesystem::path& artifact_path,
                               std::int64_t now_ms) const;
  // Version `v`'s artifact, checked against its recorded hash (throws when missing or altered).
  std::string checked_artifact(const ModelVersion& v) const;
  // Replaces `artifact_path` with `artifact` of version `v`, its sidecar first.
  void install(const ModelVersion& v, const std::string& artifact, const std::filesystem::path& artifact_path) const;
  std::shared_ptr<FileStore> files_;
  ArtifactVersion version_of_;
};

}  // namespace hitl::registry
