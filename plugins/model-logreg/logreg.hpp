#pragma once
// model-logreg internals: the fitted model (Params), feature encoding, training and the
// artifact format. Only this plugin includes it; the host sees the sdk::Model interface.
//
// Encoding: every input column becomes one or more "slots" of a sparse design vector.
//   numeric      -> 1 slot, (x - mean) / std; missing -> 0 (the training mean), plus one
//                   0/1 "missing" slot when the column had missing values in training
//   categorical  -> one 0/1 slot per category seen in training (sorted); missing or an
//                   unseen category sets none of them
//   text         -> `buckets` slots (a column named in the text_columns option): its words and
//                   pairs of neighbouring words hashed into them, counts scaled to unit length
// The model is softmax regression over those slots: logit_k = bias_k + sum_j w[j][k] * x_j.
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hitl::logreg {

enum class FeatureKind { numeric, categorical, text };
// The most hashed slots a text column may have (the text_buckets option's upper bound).
inline constexpr std::uint32_t kMaxTextBuckets = 1u << 20;

struct Feature {
  std::string name;
  FeatureKind kind = FeatureKind::numeric;
  double mean = 0.0;  // numeric only
  double std = 1.0;   // numeric only, > 0
  bool has_missing = false;
  std::vector<std::string> categories;  // categorical only, sorted, unique
  std::uint32_t buckets = 0;            // text only: hashed slots
  // Derived by Params::layout(): first slot and slot count in the design vector.
  std::uint32_t slot = 0;
  std::uint32_t width = 0;
};

struct Hyper {
  double l2 = 1e-3;
  int epochs = 300;
  double learning_rate = 1.0;
  std::vector<std::string> text_columns;  // columns encoded as hashed words (FeatureKind::text)
  int text_buckets = 4096;
};

struct TrainReport {
  std::size_t rows = 0;
  int epochs_run = 0;
  bool converged = false;
  double accuracy = 0.0;
  double log_loss = 0.0;
};

// Thrown by encode() for input it cannot use and by from_json() for a bad artifact.
class LogregError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Sparse design row: (slot, value) pairs.
using SparseRow = std::vector<std::pair<std::uint32_t, double>>;

// Appends the hashed words of `text` to `out`: lower-cased runs of ASCII letters and digits (two
// characters or more) and each pair of neighbouring ones, each counted in slot first_slot +
// hash % buckets, the counts scaled to unit length so a long text weighs as much as a short one.
void hash_text(std::string_view text, std::uint32_t buckets, std::uint32_t first_slot, SparseRow& out);

struct Params {
  std::vector<std::string> classes;
  std::vector<Feature> features;
  std::uint32_t dims = 0;
  std::vector<double> weights;  // dims * classes, slot-major: weights[j * K + k]
  std::vector<double> bias;     // one per class
  std::unordered_map<std::string, std::size_t> feature_index;
  Hyper hyper;         // what the artifact was trained with (informational)
  TrainReport report;  // ditto

  std::size_t num_classes() const { return classes.size(); }
  // Assigns slots and builds feature_index; call after filling `features`.
  void layout();
  // Encodes one record; throws LogregError naming the field for a value of the wrong type.
  void encode(const sdk::Record& record, SparseRow& out) const;
  // Class probabilities for one encoded row, into `probs` (size K); returns the logits too.
  void probabilities(const SparseRow& row, std::vector<double>& logits, std::vector<double>& probs) const;
  // Human-readable slot names, e.g. "Income", "Income:missing", "Home=rent".
  std::vector<std::string> slot_names() const;
};

// Learns the encoding from the data and fits the weights. Throws LogregError for unusable data.
Params train(const sdk::Dataset& data, const Hyper& hyper);

std::string to_json(const Params& params);       // the artifact text
Params from_json(const std::string& artifact);    // throws LogregError naming the bad field

}  // namespace hitl::logreg
