#pragma once
// Golden cases marked by reviewers: hard cases with a final human label that someone flagged as
// worth keeping for every evaluation (POST /v1/domains/{d}/decisions/{id}/gold). They join the
// domain's configured gold_file in each candidate-versus-live comparison, and a dataset sample
// of a marked decision carries the tag "gold" and is left out of training and of the holdout, so
// no model is judged on a golden case it learnt from.
//
// On disk: <datasets_dir>/<domain>/golden.jsonl, one case per line, appended, never rewritten
// (when instances share one database: the blob datasets/<domain>/golden.jsonl, common/file_store.hpp).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace hitl { class FileStore; }

namespace hitl::dataset {

struct MarkedCase {
  std::string decision_id;
  nlohmann::json input;  // object
  std::string label;     // the final human label: the known answer
  std::string model_label;
  double model_confidence = 0;
  std::string reason, marked_by;
  std::int64_t marked_ms = 0;
};

class MarkedGold {
 public:
  explicit MarkedGold(std::filesystem::path datasets_dir);
  // Appends `c` unless its decision is already marked (false then: nothing written). Safe from
  // several threads of one process; throws std::runtime_error on I/O errors.
  bool mark(const std::string& domain, const MarkedCase& c);
  // Oldest first; none without the file. A malformed line (a torn write, a hand edit) is skipped,
  // and described in `problems` ("<file>:<line>: ...") when given: one bad line never takes the
  // golden set, or the learning loop reading it, down. Throws std::runtime_error only when the
  // file exists but cannot be read.
  std::vector<MarkedCase> read(const std::string& domain, std::vector<std::string>* problems = nullptr) const;
  std::set<std::string> decision_ids(const std::string& domain) const;
  // Rewrites the file without the cases of `ids` (payload erasure; the one rewrite it gets).
  // Returns how many were removed.
  std::size_t erase(const std::string& domain, const std::set<std::string>& ids);
  std::filesystem::path file(const std::string& domain) const;  // where it is in a folder store

 private:
  static std::string rel(const std::string& domain) { return domain + "/golden.jsonl"; }
  std::filesystem::path dir_;
  std::shared_ptr<FileStore> files_;
};

}  // namespace hitl::dataset
