#pragma once
// Training feature statistics of a model artifact, kept next to it in `<artifact>.features.json`,
// and the out-of-distribution score of one input against them (p.ood in policies; see
// docs/policy.md, "Out-of-distribution inputs").
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hitl::data {

struct NumericStats {
  std::uint64_t count = 0;  // rows with a value
  double mean = 0, std = 0, min = 0, max = 0;  // std: sample standard deviation (n - 1)
};

struct CategoricalStats {
  std::uint64_t count = 0;                       // rows with a value
  std::map<std::string, std::uint64_t> values;   // value -> rows, the kMaxCategories most frequent
  std::uint64_t other = 0;                       // rows whose value was dropped by the cap
};

// A column is numeric when every value it has is a number; otherwise categorical (booleans are
// "true"/"false", numbers in a mixed column are their text).
// What a training left out of its domain's base data (learning/training.hpp, in_base_holdout):
// every row of the base holdout at `fraction`, `rows` of them in `file` (its name, for people).
// It lets an evaluation trust the base holdout for this model: a model trained on those rows
// would be judged on what it memorised.
struct BaseHoldoutLeftOut {
  double fraction = 0;
  std::uint64_t rows = 0;
  std::string file;
};

struct FeatureStats {
  static constexpr std::size_t kMaxCategories = 1000;
  std::uint64_t rows = 0;
  // SHA-256 (hex) of the artifact these statistics describe; "" = not recorded. An artifact
  // replaced without its sidecar (a promotion from elsewhere) then no longer matches.
  std::string artifact_sha256;
  std::map<std::string, NumericStats> numeric;
  std::map<std::string, CategoricalStats> categorical;
  // Absent: the training left nothing out, or did not say (a model of unknown lineage).
  std::optional<BaseHoldoutLeftOut> base_holdout_left_out;
};

FeatureStats compute_feature_stats(const std::vector<sdk::Record>& rows);

std::filesystem::path feature_stats_path(const std::filesystem::path& artifact);  // artifact + ".features.json"
// Atomic write (temporary file + rename): a service reloading the model never reads half a file.
void save_feature_stats(const FeatureStats& stats, const std::filesystem::path& artifact);
// nullopt when there is no sidecar; throws std::runtime_error "<sidecar path>: <reason>" when it
// is malformed.
std::optional<FeatureStats> load_feature_stats(const std::filesystem::path& artifact);

// False when the statistics name an artifact hash and `artifact_text` (the artifact's content)
// has another: they were computed for a different model and must not be used.
bool feature_stats_match(const FeatureStats& stats, const std::string& artifact_text);

std::string feature_stats_to_json(const FeatureStats& stats);
FeatureStats feature_stats_from_json(const std::string& text);  // throws std::runtime_error

// How unusual a row is against the training statistics. Each compared feature gets a z:
//   numeric      |x - mean| / std, capped at kMaxZ (a constant column: 0 when equal, else kMaxZ);
//   categorical  sqrt(2 ln(1 / f)) with f = (rows with the value + 0.5) / (count + 1): the z at
//                which a normal density falls by the same factor, so a value seen in half the rows
//                gives 1.18, one never seen in 4,454 rows 4.26;
//   wrong type   (a string where the column is numeric, ...) the never-seen value's z.
// score is the largest z (0 when nothing could be compared); rms is the root mean square of all
// of them. Missing values and features the model was not trained on are not compared.
struct OodScore {
  static constexpr double kMaxZ = 1000.0;
  double score = 0;
  std::vector<std::pair<std::string, double>> furthest;  // up to top_n (feature, z), largest z first
  double rms = 0;
  std::size_t compared = 0;  // features compared
};
OodScore ood_score(const FeatureStats& stats, const sdk::Record& row, std::size_t top_n = 3);

}  // namespace hitl::data
