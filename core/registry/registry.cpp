#include "registry/registry.hpp"

#include "common/file_store.hpp"
#include "common/files.hpp"
#include "common/hash.hpp"
#include "data/feature_stats.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace hitl::registry {
using nlohmann::json;
namespace fs = std::filesystem;

json to_json(const ModelVersion& v) {
  return {{"id", v.id},
          {"domain", v.domain},
          {"model", v.model},
          {"plugin", v.plugin},
          {"plugin_version", v.plugin_version},
          {"artifact_sha256", v.artifact_sha256},
          {"dataset", v.dataset},
          {"split", v.split},
          {"base_data", v.base_data.empty() ? json(nullptr) : json(v.base_data)},
          {"base_rows", v.base_rows},
          {"parent", v.parent.empty() ? json(nullptr) : json(v.parent)},
          {"policy_hash", v.policy_hash},
          {"train_metrics", v.train_metrics},
          {"trigger", v.trigger},
          {"trigger_stats", v.trigger_stats},
          {"created_ms", v.created_ms}};
}

json to_json(const Live& l) {
  return {{"id", l.id.empty() ? json(nullptr) : json(l.id)},
          {"previous", l.previous.empty() ? json(nullptr) : json(l.previous)},
          {"since_ms", l.since_ms},
          {"by", l.by},
          {"reason", l.reason}};
}

namespace {

std::string str_or_empty(const json& j, const char* k) {
  auto it = j.find(k);
  return it == j.end() || it->is_null() ? "" : it->get<std::string>();
}

ModelVersion version_from(const json& j) {
  ModelVersion v;
  v.id = j.at("id").get<std::string>();
  v.domain = j.at("domain").get<std::string>();
  v.model = j.at("model").get<std::string>();
  v.plugin = j.at("plugin").get<std::string>();
  v.plugin_version = j.at("plugin_version").get<std::string>();
  v.artifact_sha256 = j.at("artifact_sha256").get<std::string>();
  v.dataset = j.at("dataset").get<std::string>();
  v.split = j.at("split").get<std::string>();
  v.parent = str_or_empty(j, "parent");
  v.policy_hash = j.at("policy_hash").get<std::string>();
  v.train_metrics = j.at("train_metrics");
  v.trigger = j.at("trigger").get<std::string>();
  // Manifests written before retrain triggers have neither field.
  v.base_data = str_or_empty(j, "base_data");
  v.base_rows = j.value("base_rows", std::size_t{0});
  v.trigger_stats = j.value("trigger_stats", json());
  v.created_ms = j.at("created_ms").get<std::int64_t>();
  return v;
}

// Names inside the store (common/file_store.hpp): "<domain>/<file>".
std::string manifest_of(const std::string& domain, const std::string& id) { return domain + "/" + id + ".json"; }
std::string artifact_of(const std::string& domain, const std::string& id) { return domain + "/" + id + ".artifact"; }
std::string sidecar_of(const std::string& domain, const std::string& id) {
  return data::feature_stats_path(artifact_of(domain, id)).string();
}

// The sidecar `text` (none: nullopt) replaces the one beside `artifact`; none removes the one
// there, which described another artifact.
void place_sidecar(const std::optional<std::string>& text, const fs::path& artifact) {
  const fs::path dst = data::feature_stats_path(artifact);
  std::error_code ec;
  if (text) replace_file(dst, *text);
  else fs::remove(dst, ec);
}

std::optional<std::string> read_if_exists(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  return read_whole_file(file);
}

std::size_t number_of(const std::string& id) { return std::stoull(id.substr(id.rfind("-m") + 2)); }

}  // namespace

Registry::Registry(fs::path dir, ArtifactVersion version_of)
    : files_(file_store_at(dir)), version_of_(std::move(version_of)) {}

std::vector<ModelVersion> Registry::list(const std::string& domain) const {
  std::vector<ModelVersion> out;
  static const std::regex manifest(R"(.+-m[0-9]+\.json)");
  for (const auto& name : files_->list(domain)) {
    if (!std::regex_match(name, manifest)) continue;
    const std::string rel = domain + "/" + name;
    try {
      auto j = json::parse(files_->read(rel).value_or(""), nullptr, false);
      if (j.is_discarded()) throw std::runtime_error("not JSON");
      out.push_back(version_from(j));
      // The sort below reads the version number from the id: it must be the file's.
      if (out.back().id + ".json" != name || out.back().domain != domain)
        throw std::runtime_error("its id or domain does not match the file");
    } catch (const std::exception& e) {
      throw std::runtime_error(files_->describe(rel) + ": not a valid model manifest: " + e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return number_of(a.id) < number_of(b.id); });
  return out;
}

std::optional<ModelVersion> Registry::find(const std::string& domain, const std::string& id) const {
  for (auto& v : list(domain))
    if (v.id == id) return v;
  return std::nullopt;
}

fs::path Registry::artifact_path(const std::string& domain, const std::string& id) const {
  const fs::path artifact = files_->local(artifact_of(domain, id));
  if (files_->read(sidecar_of(domain, id))) files_->local(sidecar_of(domain, id));
  return artifact;
}

ModelVersion Registry::add(ModelVersion v, const std::string& artifact_text) {
  const auto lock = files_->lock(v.domain);  // the next id is the folder's: one writer at a time
  std::size_t next = 1;  // after the highest number (m0, the kept configured artifact, included)
  for (auto& existing : list(v.domain)) next = std::max(next, number_of(existing.id) + 1);
  v.id = v.domain + "-m" + std::to_string(next);
  v.artifact_sha256 = sha256_hex(artifact_text);
  // An artifact without its manifest is what a crash between the two writes leaves: the version
  // never existed (the manifest is written last), so the orphan gives way.
  if (!files_->read(manifest_of(v.domain, v.id))) files_->remove(artifact_of(v.domain, v.id));
  files_->write_new(artifact_of(v.domain, v.id), artifact_text);
  files_->write_new(manifest_of(v.domain, v.id), to_json(v).dump(2) + "\n");  // last: the version exists now
  return v;
}

void Registry::add_sidecar(const std::string& domain, const std::string& id, const std::string& sidecar_json) {
  files_->replace(sidecar_of(domain, id), sidecar_json);
}

Live Registry::live(const std::string& domain) const {
  Live l;
  const std::string rel = domain + "/live.json";
  const auto text = files_->read(rel);
  if (!text) return l;
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(files_->describe(rel) + ": not valid JSON");
  l.id = str_or_empty(j, "id");
  l.previous = str_or_empty(j, "previous");
  l.since_ms = j.value("since_ms", std::int64_t{0});
  l.by = str_or_empty(j, "by");
  l.reason = str_or_empty(j, "reason");
  return l;
}

Live Registry::promote(const std::string& domain, const std::string& id, const fs::path& artifact_path, std::int64_t now_ms,
                       const std::string& by, const std::string& reason) {
  const auto lock = files_->lock(domain);
  return promote_locked(domain, id, artifact_path, now_ms, by, reason);
}

Live Registry::promote_locked(const std::string& domain, const std::string& id, const fs::path& artifact_path,
                              std::int64_t now_ms, const std::string& by, const std::string& reason) {
  // The manifests, read once: the version to promote, whether m0 is kept, the oldest time.
  const std::vector<ModelVersion> versions = list(domain);
  const auto of_id = [&](const std::string& wanted) {
    return std::find_if(versions.begin(), versions.end(), [&](const ModelVersion& m) { return m.id == wanted; });
  };
  const auto v = of_id(id);
  if (v == versions.end())
    throw std::runtime_error("no model version \"" + id + "\" in domain \"" + domain + "\" (see hitl model list)");
  const std::string artifact = checked_artifact(*v);
  Live before = live(domain);
  if (before.id == id) throw std::runtime_error("model " + id + " is already live");
  // The first promotion replaces the configured file: keep it as version m0 so a rollback (of
  // an automatic promotion, say) can go back to it.
  std::error_code ec;
  if (before.id.empty() && fs::exists(artifact_path, ec) && of_id(domain + "-m0") == versions.end())
    before.id = keep_configured(domain, versions, *v, artifact_path, now_ms).id;
  install(*v, artifact, artifact_path);
  Live now{id, before.id, now_ms, by, reason};
  files_->replace(domain + "/live.json", to_json(now).dump(2) + "\n");
  json h = to_json(now);
  h["action"] = "promote";
  h["artifact_path"] = artifact_path.string();
  files_->append(domain + "/history.jsonl", h.dump() + "\n");
  return now;
}

std::string Registry::checked_artifact(const ModelVersion& v) const {
  const std::string rel = artifact_of(v.domain, v.id);
  const auto artifact = files_->read(rel);
  if (!artifact) throw std::runtime_error("model " + v.id + ": its artifact is missing (" + files_->describe(rel) + ")");
  if (sha256_hex(*artifact) != v.artifact_sha256)
    throw std::runtime_error("model " + v.id + ": the artifact does not match its recorded hash (altered on disk)");
  return *artifact;
}

void Registry::install(const ModelVersion& v, const std::string& artifact, const fs::path& artifact_path) const {
  // The training statistics first (a reloading service checks them against the artifact's hash).
  place_sidecar(files_->read(sidecar_of(v.domain, v.id)), artifact_path);
  replace_file(artifact_path, artifact);
}

bool Registry::install_live(const std::string& domain, const fs::path& artifact_path) {
  const Live l = live(domain);
  if (l.id.empty()) return false;
  const auto v = find(domain, l.id);
  if (!v) throw std::runtime_error("the live model " + l.id + " of domain \"" + domain + "\" has no manifest");
  const auto current = read_if_exists(artifact_path);
  if (current && sha256_hex(*current) == v->artifact_sha256) return false;
  install(*v, checked_artifact(*v), artifact_path);
  return true;
}

namespace {
// When `file` was last written, in ms since the epoch; max() when that cannot be read.
std::int64_t modified_ms(const fs::path& file) {
  std::error_code ec;
  const auto t = fs::last_write_time(file, ec);
  if (ec) return std::numeric_limits<std::int64_t>::max();
  const auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}
}  // namespace

// The configured artifact as version m0. Its time is the file's, and never after the first
// trained version's, so the list stays oldest first.
ModelVersion Registry::keep_configured(const std::string& domain, const std::vector<ModelVersion>& versions,
                                       const ModelVersion& first_promoted, const fs::path& artifact_path,
                                       std::int64_t now_ms) const {
  const std::string configured = read_whole_file(artifact_path);
  ModelVersion m0;
  m0.id = domain + "-m0";
  m0.domain = domain;
  m0.model = first_promoted.model;
  m0.plugin = first_promoted.plugin;
  m0.plugin_version = version_of_ ? version_of_(artifact_path) : std::string();
  m0.artifact_sha256 = sha256_hex(configured);
  m0.trigger = "configured artifact, kept at the first promotion";
  m0.created_ms = std::min(now_ms, modified_ms(artifact_path));
  for (const auto& existing : versions)
    if (existing.created_ms > 0) m0.created_ms = std::min(m0.created_ms, existing.created_ms);
  files_->write_new(artifact_of(domain, m0.id), configured);
  if (auto sidecar = read_if_exists(data::feature_stats_path(artifact_path))) files_->replace(sidecar_of(domain, m0.id), *sidecar);
  files_->write_new(manifest_of(domain, m0.id), to_json(m0).dump(2) + "\n");
  return m0;
}

Live Registry::rollback(const std::string& domain, const fs::path& artifact_path, std::int64_t now_ms,
                        const std::string& by, const std::string& reason) {
  const auto lock = files_->lock(domain);
  Live cur = live(domain);
  if (cur.id.empty()) throw std::runtime_error("domain \"" + domain + "\" has no promoted model to roll back");
  if (cur.previous.empty())
    throw std::runtime_error("model " + cur.id + " has no earlier version to roll back to");
  return promote_locked(domain, cur.previous, artifact_path, now_ms, by, reason.empty() ? "rollback from " + cur.id : reason);
}

std::vector<json> Registry::history(const std::string& domain) const {
  std::vector<json> out;
  std::istringstream in(files_->read(domain + "/history.jsonl").value_or(""));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

}  // namespace hitl::registry
