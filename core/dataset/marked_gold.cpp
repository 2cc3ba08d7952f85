#include "dataset/marked_gold.hpp"

#include "common/files.hpp"

#include <fstream>
#include <mutex>
#include <stdexcept>

namespace hitl::dataset {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
std::mutex g_append_mu;  // one writer at a time: the duplicate check and the append are one step
}

MarkedGold::MarkedGold(fs::path datasets_dir) : dir_(std::move(datasets_dir)) {}

fs::path MarkedGold::file(const std::string& domain) const { return dir_ / domain / "golden.jsonl"; }

std::vector<MarkedCase> MarkedGold::read(const std::string& domain, std::vector<std::string>* problems) const {
  std::vector<MarkedCase> out;
  std::error_code ec;
  if (!fs::exists(file(domain), ec)) return out;
  std::ifstream in(file(domain));
  if (!in) throw std::runtime_error("cannot read " + file(domain).string());
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
      if (problems) problems->push_back(file(domain).string() + ":" + std::to_string(n) + ": " + e.what());
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
  std::error_code ec;
  if (ids.empty() || !fs::exists(file(domain), ec)) return 0;
  const DirLock dir_lock(file(domain).parent_path());  // and against other processes
  std::ifstream in(file(domain), std::ios::binary);
  if (!in) return 0;
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
  in.close();
  if (removed) replace_file(file(domain), kept);
  return removed;
}

bool MarkedGold::mark(const std::string& domain, const MarkedCase& c) {
  std::lock_guard lock(g_append_mu);
  const DirLock dir_lock(file(domain).parent_path());  // and against other processes
  if (decision_ids(domain).count(c.decision_id)) return false;
  // A torn last line (a crash mid-append) must not swallow this one: start on a line of its own.
  bool needs_newline = false;
  {
    std::ifstream tail(file(domain), std::ios::binary | std::ios::ate);
    if (tail && tail.tellg() > 0) {
      tail.seekg(-1, std::ios::end);
      needs_newline = tail.get() != '\n';
    }
  }
  json j = {{"decision_id", c.decision_id}, {"input", c.input},         {"label", c.label},
            {"model_label", c.model_label}, {"model_confidence", c.model_confidence},
            {"reason", c.reason},           {"marked_by", c.marked_by}, {"marked_ms", c.marked_ms}};
  std::ofstream out(file(domain), std::ios::app | std::ios::binary);
  out << (needs_newline ? "\n" : "") << j.dump() << "\n";
  out.flush();
  if (!out) throw std::runtime_error("cannot append to " + file(domain).string());
  return true;
}

}  // namespace hitl::dataset
