#pragma once
// The learning loop's data: every final human outcome of a domain becomes a feedback sample
// (input, final label, model label and confidence, reviewers, tags, weight), and samples are
// frozen into dataset versions: immutable snapshots with an id, a parent, a time range, row
// counts and a content hash. A version is never rewritten; a new snapshot is a new version.
//
// On disk, under the configured datasets dir:
//   <dir>/<domain>/<id>.jsonl   the samples, one JSON object per line, oldest first
//   <dir>/<domain>/<id>.json    the manifest (written last: a version without one does not exist)
// Ids are "<domain>-v<N>", N counting from 1 per domain. When instances share one database these
// are the storage's blobs `datasets/<domain>/<file>` instead (common/file_store.hpp).
#include <hitl/plugin_api.hpp>

#include "policy/policy_engine.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace hitl { class FileStore; }

namespace hitl::dataset {

struct Sample {
  std::string decision_id;
  nlohmann::json input;  // object
  std::string label;     // the final human label
  std::string model_label;
  double model_confidence = 0;
  std::string outcome;  // approve | reject | correct | default, or truth (a reported truth, no review)
  std::vector<std::string> reviewers;
  // user-correction (the human label differs from the model's), confirmed (the label is the
  // model's), reported-truth (the label is a truth the client reported later), production-failure
  // (the model or the policy failed on the case, or a reported truth contradicts the decision),
  // gold (a case reviewers marked golden), audit (an automatic decision sent to review at random
  // by the policy's audit_rate: a measurement of the traffic, never trained on)
  std::vector<std::string> tags;
  double weight = 1;
  // An audit sample's chance of being drawn (audit_sample.p of its decision.created record): its
  // evaluation weight is 1 / audit_p. 0 for any other sample.
  double audit_p = 0;
  std::int64_t created_ms = 0;  // when the outcome became final
};

nlohmann::json sample_json(const Sample& s);
Sample sample_from_json(const nlohmann::json& j);  // throws std::runtime_error naming the field

struct CollectStats {
  std::size_t erased = 0;          // outcomes whose payload was erased: left out
  std::size_t superseded = 0;      // older outcomes of a decision reviewed again
  std::size_t weight_failures = 0; // weight() errors (the default weight was used)
  std::size_t reported_truths = 0; // samples from truths reported for decisions nobody reviewed
};

// The domain's samples, oldest first: the latest final outcome of each decision (a case sent
// back and reviewed again counts once, with its newest label), weighted by the policy's
// weight(sample) (default 1). Audit samples are tagged "audit", with their audit_p read from
// their decision.created audit record (one indexed read each). Samples of `gold_ids` (decisions reviewers
// marked golden, dataset/marked_gold.hpp) are tagged "gold". Throws std::runtime_error on
// storage errors.
std::vector<Sample> collect(sdk::Storage& storage, const std::string& domain, policy::PolicyEngine& policies,
                            CollectStats* stats = nullptr, const std::set<std::string>& gold_ids = {});
// Removes the decisions `ids` from every learning-loop copy under `datasets_dir`: the dataset
// versions and the marked golden cases of `domain` (called after a payload erasure). Returns the
// samples and cases removed. Throws std::runtime_error on I/O errors.
std::size_t forget(const std::filesystem::path& datasets_dir, const std::string& domain, const std::set<std::string>& ids);

// True when the sample carries `tag`.
bool has_tag(const Sample& s, const std::string& tag);

struct Version {
  std::string id, domain, parent;  // parent "" for a domain's first version
  std::int64_t created_ms = 0;
  std::int64_t from_ms = 0, to_ms = 0;  // created_ms of the oldest and newest sample
  std::size_t rows = 0;
  std::size_t new_rows = 0;  // rows not in the parent
  std::map<std::string, std::size_t> labels, tags;
  std::string content_hash;  // sha256 of the samples file
  std::string policy_hash;   // the policy whose weight() weighed the samples
  std::string created_by;
  std::size_t erased_rows = 0;  // samples removed since (payload erasure: the one rewrite a version gets)
};

nlohmann::json version_json(const Version& v);

enum class Split { all, train, holdout };
Split parse_split(const std::string& s);  // all | train | holdout; throws std::invalid_argument

class Store {
 public:
  explicit Store(std::filesystem::path dir);

  // Freezes `samples` as the domain's next version. When they are exactly the newest version's
  // rows (same content hash) nothing is written and that version is returned with `created`
  // false. Throws std::runtime_error on I/O errors; never overwrites an existing file.
  Version snapshot(const std::string& domain, const std::vector<Sample>& samples, std::int64_t now_ms,
                   const std::string& policy_hash, const std::string& created_by, bool& created);
  std::vector<Version> list(const std::string& domain = "") const;  // by domain, then version
  std::optional<Version> find(const std::string& id) const;
  // find(), or std::runtime_error naming what is wrong: no such version, or (with `domain`) a
  // version of another domain.
  Version require(const std::string& id, const std::string& domain = "") const;
  // The version's samples, checked against its content hash (throws on a mismatch: the
  // snapshot was altered on disk).
  std::vector<Sample> read(const Version& v) const;
  // Time split: the newest `holdout_fraction` of the rows (by created_ms) are the holdout, the
  // rest the training rows, so feedback never leaks into the evaluation of a model it trained.
  static std::vector<Sample> split(std::vector<Sample> rows, Split which, double holdout_fraction);
  // Payload erasure reaches the copies: every version of `domain` holding a sample of `ids` is
  // rewritten without it (manifest counts, time range and content hash updated, erased_rows
  // counted). The only way a version changes. Returns how many samples were removed.
  std::size_t erase(const std::string& domain, const std::set<std::string>& ids);
  // CSV: decision_id, the input's columns (union over rows, sorted), label, model_label,
  // model_confidence, outcome, tags (";"-joined), weight, created_ms. JSONL: one sample per line.
  static void write_csv(const std::vector<Sample>& rows, std::ostream& out);
  static void write_jsonl(const std::vector<Sample>& rows, std::ostream& out);

 private:
  std::shared_ptr<FileStore> files_;
};

}  // namespace hitl::dataset
