// model-xgboost: the libxgboost C API behind RAII handles, and training.
#include "xgb.hpp"

#include <hitl/training_set.hpp>
#include <xgboost/c_api.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace hitl::xgb {

namespace {

// Every C API call goes through here: a non-zero return becomes XgbError with XGBoost's text
// (XGBGetLastError is per thread, so it belongs to this call).
// XGBoost's text starts with "[hh:mm:ss] file:line: " and ends with a stack trace: both go.
void check(int rc, const char* call) {
  if (rc == 0) return;
  std::string msg = XGBGetLastError();
  if (auto st = msg.find("\nStack trace:"); st != std::string::npos) msg.erase(st);
  if (msg.size() > 11 && msg[0] == '[' && msg[9] == ']' && msg[10] == ' ') msg.erase(0, 11);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  throw XgbError(std::string("XGBoost ") + call + ": " + msg);
}

class DMatrix {
 public:
  DMatrix(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    check(XGDMatrixCreateFromMat(x.data(), rows, cols, nan, &h_), "XGDMatrixCreateFromMat");
  }
  ~DMatrix() { XGDMatrixFree(h_); }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  DMatrixHandle get() const { return h_; }
  void set(const char* field, const std::vector<float>& v) {
    check(XGDMatrixSetFloatInfo(h_, field, v.data(), v.size()), "XGDMatrixSetFloatInfo");
  }

 private:
  DMatrixHandle h_ = nullptr;
};

}  // namespace

Booster::Booster() { check(XGBoosterCreate(nullptr, 0, &handle_), "XGBoosterCreate"); }

Booster::~Booster() { XGBoosterFree(handle_); }

void Booster::set_param(const std::string& name, const std::string& value) {
  check(XGBoosterSetParam(handle_, name.c_str(), value.c_str()), "XGBoosterSetParam");
}

void Booster::train(const std::vector<float>& x, std::size_t rows, std::size_t cols, const std::vector<float>& labels,
                    const std::vector<float>& weights, const std::vector<std::pair<std::string, std::string>>& params,
                    int num_round) {
  DMatrix d(x, rows, cols);
  d.set("label", labels);
  d.set("weight", weights);
  // A booster learns its feature count from the matrices it is created with.
  DMatrixHandle cache[] = {d.get()};
  BoosterHandle fresh = nullptr;
  check(XGBoosterCreate(cache, 1, &fresh), "XGBoosterCreate");
  XGBoosterFree(handle_);
  handle_ = fresh;
  for (const auto& [name, value] : params) set_param(name, value);
  for (int i = 0; i < num_round; ++i) check(XGBoosterUpdateOneIter(handle_, i, d.get()), "XGBoosterUpdateOneIter");
}

std::string Booster::save_json() const {
  bst_ulong len = 0;
  const char* buf = nullptr;
  check(XGBoosterSaveModelToBuffer(handle_, R"({"format":"json"})", &len, &buf), "XGBoosterSaveModelToBuffer");
  return std::string(buf, len);
}

void Booster::load_json(const std::string& model) {
  check(XGBoosterLoadModelFromBuffer(handle_, model.data(), model.size()), "XGBoosterLoadModelFromBuffer");
}

std::size_t Booster::num_features() const {
  bst_ulong n = 0;
  check(XGBoosterGetNumFeature(handle_, &n), "XGBoosterGetNumFeature");
  return n;
}

std::vector<float> Booster::predict(const std::vector<float>& x, std::size_t rows, std::size_t cols, int type,
                                    std::vector<std::uint64_t>& shape) const {
  DMatrix d(x, rows, cols);
  const std::string config = R"({"type":)" + std::to_string(type) +
                             R"(,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false})";
  const bst_ulong* out_shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  check(XGBoosterPredictFromDMatrix(handle_, d.get(), config.c_str(), &out_shape, &dim, &result),
        "XGBoosterPredictFromDMatrix");
  shape.assign(out_shape, out_shape + dim);
  std::size_t n = 1;
  for (auto s : shape) n *= s;
  return std::vector<float>(result, result + n);  // the buffer is reused by the next call
}

void Trained::finish(int nthread) {
  booster->set_param("nthread", std::to_string(nthread));
  if (booster->num_features() != encoding.slots)
    throw XgbError("booster: has " + std::to_string(booster->num_features()) + " features but the encoding has " +
                   std::to_string(encoding.slots) + " slots");
  // One all-missing row: checks the output shape against the classes and yields the bias
  // column of the contributions (the same for every row).
  std::vector<float> row(encoding.slots, std::numeric_limits<float>::quiet_NaN());
  std::vector<std::uint64_t> shape;
  auto probs = booster->predict(row, 1, encoding.slots, 0, shape);
  if (probs.size() != (binary() ? 1u : classes.size()))
    throw XgbError("booster: predicts " + std::to_string(probs.size()) + " outputs per row but there are " +
                   std::to_string(classes.size()) + " classes (expected " +
                   std::string(binary() ? "binary:logistic" : "multi:softprob") + ")");
  auto contrib = booster->predict(row, 1, encoding.slots, 2, shape);
  const std::size_t width = encoding.slots + 1;
  if (contrib.size() != groups() * width) throw XgbError("booster: unexpected contribution shape");
  contribution_bias.clear();
  for (std::size_t g = 0; g < groups(); ++g) contribution_bias.push_back(contrib[g * width + encoding.slots]);
}

namespace {

std::vector<float> encode_rows(const Encoding& encoding, const std::vector<sdk::Record>& rows) {
  const std::size_t cols = encoding.slots;
  std::vector<float> x(rows.size() * cols);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    try {
      encoding.encode(rows[i], &x[i * cols]);
    } catch (const XgbError& e) {
      throw XgbError("row " + std::to_string(i + 1) + ": " + e.what());
    }
  }
  return x;
}

// hist with no row/column sampling: the only randomness is the seed, fixed by config.
std::vector<std::pair<std::string, std::string>> booster_params(const Trained& m, const Hyper& hyper) {
  std::vector<std::pair<std::string, std::string>> params = {
      {"objective", m.binary() ? "binary:logistic" : "multi:softprob"},
      {"tree_method", "hist"},
      {"max_depth", std::to_string(hyper.max_depth)},
      {"eta", nlohmann::json(hyper.eta).dump()},
      {"seed", std::to_string(hyper.seed)},
      {"nthread", std::to_string(hyper.nthread)},
      {"verbosity", "1"}};  // warnings only
  if (!m.binary()) params.emplace_back("num_class", std::to_string(m.classes.size()));
  return params;
}

// Training-set metrics, weighted like the objective.
std::string fit_metrics(const Trained& m, const std::vector<float>& x, const std::vector<float>& y,
                        const std::vector<float>& w, double total_weight) {
  const std::size_t n = y.size(), K = m.classes.size();
  std::vector<std::uint64_t> shape;
  const auto p = m.booster->predict(x, n, m.encoding.slots, 0, shape);
  double correct = 0.0, log_loss = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t best;
    double p_true;
    if (m.binary()) {
      best = p[i] > 0.5f ? 1 : 0;
      p_true = y[i] == 1.0f ? p[i] : 1.0 - p[i];
    } else {
      best = static_cast<std::size_t>(std::max_element(&p[i * K], &p[i * K] + K) - &p[i * K]);
      p_true = p[i * K + static_cast<std::size_t>(y[i])];
    }
    if (best == static_cast<std::size_t>(y[i])) correct += w[i];
    log_loss -= w[i] * std::log(std::max(p_true, 1e-15));
  }
  return nlohmann::json{{"accuracy", correct / total_weight},
                        {"log_loss", log_loss / total_weight},
                        {"rows", n},
                        {"classes", K},
                        {"num_round", m.hyper.num_round}}
      .dump();
}

}  // namespace

Trained train(const sdk::Dataset& data, const Hyper& hyper) {
  sdk::training::Labelled t;
  if (auto error = sdk::training::check(data, t)) throw XgbError(*error);
  const std::size_t n = data.rows.size();
  // XGBoost weighs rows by floats: the metrics use the same floats.
  const std::vector<float> w(t.weights.begin(), t.weights.end());
  double total_weight = 0.0;
  for (float wi : w) total_weight += wi;
  if (total_weight <= 0.0) throw XgbError("every training row has weight 0");
  const std::vector<float> y(t.class_of.begin(), t.class_of.end());

  Trained m;
  m.hyper = hyper;
  m.rows = n;
  m.classes = t.classes;
  m.encoding = learn_encoding(data.rows);
  const std::vector<float> x = encode_rows(m.encoding, data.rows);
  m.booster = std::make_unique<Booster>();
  m.booster->train(x, n, m.encoding.slots, y, w, booster_params(m, hyper), hyper.num_round);
  m.metrics_json = fit_metrics(m, x, y, w, total_weight);
  // Score with a booster loaded from the artifact's form of the model, as a later load of the
  // artifact does: predictions right after training then equal those after a reload exactly,
  // and the training matrix the trained booster caches is freed.
  auto reloaded = std::make_unique<Booster>();
  reloaded->load_json(nlohmann::json::parse(m.booster->save_json()).dump());
  m.booster = std::move(reloaded);
  m.finish(hyper.nthread);
  return m;
}

}  // namespace hitl::xgb
