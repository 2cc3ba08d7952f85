// bench-model-xgboost: trains model-xgboost on credit_data.csv (binary; 80/20 split by row index,
// as bench-model-logreg does) and hpc_data.csv (4 classes; rows are ordered by class, so a
// seeded shuffle first) and prints training time, held-out accuracy / AUC and predict
// throughput on a 10k-row batch. Usage: bench-model-xgboost [config JSON]
#include <hitl/plugin_api.hpp>

#include "data/records.hpp"
#include "support/model_datasets.hpp"
#include "support/model_eval.hpp"

#include <boost/dll/import.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>

namespace sdk = hitl::sdk;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using hitl::test::auc;
using hitl::test::seconds_since;

namespace {

// Fisher-Yates with mt19937 (whose output the standard fixes), so every platform agrees.
void shuffle(sdk::Dataset& ds, unsigned seed) {
  std::mt19937 rng(seed);
  for (std::size_t i = ds.rows.size(); i > 1; --i) {
    const std::size_t j = rng() % i;
    std::swap(ds.rows[i - 1], ds.rows[j]);
    std::swap(ds.labels[i - 1], ds.labels[j]);
  }
}

struct Failure {
  std::string what;
};
void ok(const sdk::Status& st, const char* what) {
  if (!st.ok()) throw Failure{std::string(what) + ": " + st.message};
}

void held_out(const sdk::PluginDescriptor* d, const std::string& config, const char* name, const sdk::Dataset& ds,
              const std::string& positive) {
  const std::size_t cut = ds.rows.size() * 8 / 10;
  sdk::Dataset train{{ds.rows.begin(), ds.rows.begin() + cut}, {ds.labels.begin(), ds.labels.begin() + cut}, {}};
  std::unique_ptr<sdk::Model> m;
  ok(d->create_model(config.c_str(), m), "create");
  sdk::TrainResult r;
  auto t0 = Clock::now();
  ok(m->train(train, r), "train");
  const double train_s = seconds_since(t0);
  std::vector<sdk::Record> test(ds.rows.begin() + cut, ds.rows.end());
  std::vector<sdk::Prediction> p;
  ok(m->predict(test, p), "predict");
  double correct = 0;
  std::vector<double> p_pos;
  std::vector<bool> is_pos;
  std::map<std::string, double> counts;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const std::string& truth = ds.labels[cut + i];
    correct += p[i].label == truth;
    counts[truth] += 1;
    for (const auto& [c, s] : p[i].scores)
      if (c == positive) p_pos.push_back(s);
    is_pos.push_back(truth == positive);
  }
  double majority = 0;
  for (const auto& [c, k] : counts) majority = std::max(majority, k / p.size());
  std::printf("%s: train %zu rows in %.1f ms, metrics %s\n", name, cut, train_s * 1e3, r.metrics_json.c_str());
  std::printf("%s held-out (%zu rows): accuracy %.4f (majority class %.4f), AUC of \"%s\" vs rest %.4f\n", name,
              p.size(), correct / p.size(), majority, positive.c_str(), auc(p_pos, is_pos));
}

// 5-fold cross-validation after a seeded shuffle: steadier than one split (one 891-row
// hold-out moves AUC by about +-0.01).
void cross_validate(const sdk::PluginDescriptor* d, const std::string& config, sdk::Dataset ds) {
  shuffle(ds, 1);
  const std::size_t folds = 5;
  double sum_auc = 0, sum_acc = 0;
  for (std::size_t f = 0; f < folds; ++f) {
    sdk::Dataset train;
    std::vector<sdk::Record> test;
    std::vector<std::string> truth;
    for (std::size_t i = 0; i < ds.rows.size(); ++i) {
      if (i % folds == f) {
        test.push_back(ds.rows[i]);
        truth.push_back(ds.labels[i]);
      } else {
        train.rows.push_back(ds.rows[i]);
        train.labels.push_back(ds.labels[i]);
      }
    }
    std::unique_ptr<sdk::Model> m;
    ok(d->create_model(config.c_str(), m), "create");
    sdk::TrainResult r;
    ok(m->train(train, r), "train");
    std::vector<sdk::Prediction> p;
    ok(m->predict(test, p), "predict");
    std::vector<double> p_bad;
    std::vector<bool> is_bad;
    double correct = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      correct += p[i].label == truth[i];
      p_bad.push_back(p[i].scores[0].second);  // classes are sorted: "bad" first
      is_bad.push_back(truth[i] == "bad");
    }
    sum_auc += auc(p_bad, is_bad);
    sum_acc += correct / p.size();
  }
  std::printf("credit_data 5-fold CV (seeded shuffle): accuracy %.4f, AUC %.4f\n", sum_acc / folds, sum_auc / folds);
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string config = argc > 1 ? argv[1] : "{}";
  auto entry = boost::dll::import_alias<const sdk::PluginDescriptor*()>(fs::path(HITL_PLUGIN_DIR "/model-xgboost.so"),
                                                                         HITL_PLUGIN_ENTRY_SYMBOL);
  const sdk::PluginDescriptor* d = entry();

  auto credit = hitl::test::credit_data();
  auto hpc = hitl::data::to_dataset(
      hitl::data::read_csv(HITL_SOURCE_DIR "/plugins/model-xgboost/tests/data/hpc_data.csv"), "class");
  shuffle(hpc, 42);
  held_out(d, config, "credit_data", credit, "bad");
  held_out(d, config, "hpc_data", hpc, "VF");
  cross_validate(d, config, credit);

  std::unique_ptr<sdk::Model> m;
  ok(d->create_model(config.c_str(), m), "create");
  sdk::TrainResult r;
  auto t0 = Clock::now();
  ok(m->train(credit, r), "train");
  std::printf("credit_data full: train %zu rows in %.1f ms, version %s, artifact %zu bytes\n", credit.rows.size(),
              seconds_since(t0) * 1e3, m->version().c_str(), r.artifact_json.size());

  const std::vector<sdk::Record> batch = hitl::test::cycled(credit.rows, 10000);
  std::vector<sdk::Prediction> out;
  const double best = hitl::test::best_seconds(5, [&] { ok(m->predict(batch, out), "predict"); });
  std::printf("predict (config %s): 10000-row batch in %.2f ms (best of 5) = %.0f rows/s\n", config.c_str(),
              best * 1e3, batch.size() / best);
  {  // two threads sharing the model, 5000 rows each per round
    std::vector<sdk::Record> half(batch.begin(), batch.begin() + 5000);
    const double best2 = hitl::test::best_seconds(3, [&] {
      std::thread other([&] {
        std::vector<sdk::Prediction> o;
        ok(m->predict(half, o), "predict");
      });
      std::vector<sdk::Prediction> o;
      ok(m->predict(half, o), "predict");
      other.join();
    });
    std::printf("predict: 2 threads x 5000 rows in %.2f ms = %.0f rows/s\n", best2 * 1e3, 10000 / best2);
  }
  const double single = hitl::test::best_seconds(3, [&] {
    for (int i = 0; i < 1000; ++i) ok(m->predict({credit.rows[i]}, out), "predict");
  }) / 1000;
  std::printf("predict: one row per call %.1f us = %.0f calls/s\n", single * 1e6, 1 / single);
  return 0;
} catch (const Failure& f) {
  std::fprintf(stderr, "bench-model-xgboost: %s\n", f.what.c_str());
  return 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench-model-xgboost: %s\n", e.what());
  return 1;
}
