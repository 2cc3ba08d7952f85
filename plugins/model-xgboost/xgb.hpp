#pragma once
// model-xgboost internals: the feature encoding, a small RAII layer over the libxgboost C API,
// and the artifact format. Only this plugin includes it; the host sees the sdk::Model interface.
//
// Encoding: every input column becomes one or more float "slots" of a dense row.
//   numeric      -> 1 slot, the value as float; missing -> NaN (XGBoost learns a default
//                   direction for missing values at every split)
//   categorical  -> one 0/1 slot per category seen in training (sorted); a missing value sets
//                   all of them to NaN, an unseen category sets all of them to 0
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hitl::xgb {

// Thrown for unusable input (training data, a record, an artifact) and for XGBoost failures;
// the plugin turns it into a Status at the interface boundary.
class XgbError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Feature {
  std::string name;
  bool categorical = false;
  std::vector<std::string> categories;  // categorical only, sorted, unique
  std::uint32_t slot = 0;               // first slot, set by Encoding::layout()
  std::uint32_t width = 0;              // slot count, set by Encoding::layout()
};

struct Encoding {
  std::vector<Feature> features;
  std::uint32_t slots = 0;
  std::unordered_map<std::string, std::size_t> feature_index;

  void layout();  // assigns slots and builds feature_index; call after filling `features`
  // Writes one record into `out` (`slots` floats); throws XgbError naming the field.
  void encode(const sdk::Record& record, float* out) const;
  std::vector<std::string> slot_names() const;  // e.g. "Income", "Home=rent"
  std::vector<std::size_t> slot_features() const;  // feature index of each slot
};

// Learns the encoding from training rows (columns in order of first appearance; a column whose
// present values are all numbers is numeric, any other is categorical; never-present columns
// are dropped). Throws XgbError when no column has a value.
Encoding learn_encoding(const std::vector<sdk::Record>& rows);

struct Hyper {
  int num_round = 100;
  int max_depth = 4;
  double eta = 0.1;
  int nthread = 1;
  std::int64_t seed = 0;
};

// Owns a BoosterHandle. Every C API failure throws XgbError with XGBGetLastError's text.
class Booster {
 public:
  Booster();
  ~Booster();
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  void set_param(const std::string& name, const std::string& value);
  // Replaces the booster with one trained for num_round rounds on dense rows x
  // (rows x cols, NaN = missing) with `params`.
  void train(const std::vector<float>& x, std::size_t rows, std::size_t cols, const std::vector<float>& labels,
             const std::vector<float>& weights, const std::vector<std::pair<std::string, std::string>>& params,
             int num_round);
  std::string save_json() const;             // XGBoosterSaveModelToBuffer, format json
  void load_json(const std::string& model);  // XGBoosterLoadModelFromBuffer
  std::size_t num_features() const;
  // Runs XGBoosterPredictFromDMatrix with `type` (0 = value, 2 = contributions) on dense rows;
  // returns the flat result and its shape. Not thread-safe: the caller serialises calls.
  std::vector<float> predict(const std::vector<float>& x, std::size_t rows, std::size_t cols, int type,
                             std::vector<std::uint64_t>& shape) const;

 private:
  void* handle_ = nullptr;  // BoosterHandle
};

// A trained model: classes, encoding and booster, plus what is derived once for scoring.
struct Trained {
  std::vector<std::string> classes;  // sorted; index = XGBoost class id
  Encoding encoding;
  Hyper hyper;                       // what the model was trained with (informational)
  std::string metrics_json;          // training metrics (informational)
  std::size_t rows = 0;              // training rows (informational)
  std::unique_ptr<Booster> booster;
  std::vector<double> contribution_bias;  // per XGBoost output group: the contributions' bias

  bool binary() const { return classes.size() == 2; }
  std::size_t groups() const { return binary() ? 1 : classes.size(); }  // XGBoost outputs per row
  // Reads the contribution bias from a prediction and checks the booster's shape against
  // the classes and encoding; throws XgbError on a mismatch.
  void finish(int nthread);
};

// Validates the data, learns the encoding and trains. Throws XgbError for unusable data.
Trained train(const sdk::Dataset& data, const Hyper& hyper);

std::string to_json(const Trained& model);                     // the artifact text
Trained from_json(const std::string& artifact, int nthread);  // throws XgbError naming the field

}  // namespace hitl::xgb
