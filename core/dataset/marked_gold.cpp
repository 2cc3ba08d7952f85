#include "dataset/marked_gold.hpp"

#include "common/file_store.hpp"

#include <mutex>
#include <sstream>
#include <stdexcept>

namespace hitl::dataset {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
std::mutex g_append_mu;  // one writer at a time: the duplicate check and the append are one step
}

MarkedGold::MarkedGold(fs::path datasets_dir) : dir_(datasets_dir), files_(file_store_at(datasets_dir)) {}

fs::path MarkedGold::file(const std::string& domain) const { return dir_ / rel(domain); }

std::vector<MarkedCase> MarkedGold::read(const std::string& domain, std::vector<std::string>* problems) const {
  std::vector<MarkedCase> out;
  std::istringstream in(files_->read(rel(domain)).value_or(""));
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    try {
      if (!j.is_object()) throw std::runtime_error("not a JSON object");
      MarkedCase c;
      c.decision_id = j.at("decision_id").get<std::string>();
      c.input = j.at("input");
      if (!c.input.is_object()) throw std::runtime_error("input: expected an object");
      c.label = j.at("label").get<std::string>();
      c.model_label = j.value("model_label", "");
      c.model_confidence = j.value("model_confidence", 0.0);
      c.reason = j.value("reason", "");
      c.marked_by = j.value("marked_by", "");
      c.marked_ms = j.value("marked_ms", std::int64_t{0});
      out.push_back(std::move(c));
    } catch (const std::exception& e) {
      if (problems) problems->push_back(files_->describe(rel(domain)) + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  return out;
}

std::set<std::string> MarkedGold::decision_ids(const std::string& domain) const {
  std::set<std::string> ids;
  for (auto& c : read(domain)) ids.insert(c.decision_id);
  return ids;
}

std::size_t MarkedGold::erase(const std::string& domain, const std::set<std::string>& ids) {
  std::lock_guard lock(g_append_mu);
  if (ids.empty()) return 0;
  const auto dir_lock = files_->lock(domain);  // and against other processes
  const auto text = files_->read(rel(domain));
  if (!text) return 0;
  std::istringstream in(*text);
  std::string kept, line;
  std::size_t removed = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("decision_id") && j["decision_id"].is_string() &&
        ids.count(j["decision_id"].get<std::string>())) {
      ++removed;
      continue;
    }
    kept += line + "\n";
  }
  if (removed) files_->replace(rel(domain), kept);
  return removed;
}

bool MarkedGold::mark(const std::string& domain, const MarkedCase& c) {
  std::lock_guard lock(g_append_mu);
  const auto dir_lock = files_->lock(domain);  // and against other processes
  const std::string before = files_->read(rel(domain)).value_or("");
  if (decision_ids(domain).count(c.decision_id)) return false;
  // A torn last line (a crash mid-append) must not swallow this one: start on a line of its own.
  const bool needs_newline = !before.empty() && before.back() != '\n';
  json j = {{"decision_id", c.decision_id}, {"input", c.input},         {"label", c.label},
            {"model_label", c.model_label}, {"model_confidence", c.model_confidence},
            {"reason", c.reason},           {"marked_by", c.marked_by}, {"marked_ms", c.marked_ms}};
  files_->append(rel(domain), (needs_newline ? "\n" : "") + j.dump() + "\n");
  return true;
}

}  // namespace hitl::dataset
