// bench-model-logreg: trains model-logreg on examples/credit_risk/data/credit_data.csv and
// prints training time, held-out accuracy / AUC (80/20 split by row index) and predict
// throughput on a 10k-row batch. Usage: bench-model-logreg [plugin.so] [credit_data.csv] [config JSON]
#include <hitl/plugin_api.hpp>

#include "data/records.hpp"
#include "support/model_eval.hpp"

#include <boost/dll/import.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace sdk = hitl::sdk;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using hitl::test::auc;
using hitl::test::seconds_since;

namespace {

int fail(const std::string& what, const sdk::Status& st) {
  std::fprintf(stderr, "bench-model-logreg: %s: %s\n", what.c_str(), st.message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) try {
  // An empty argument keeps the default, so a config can be given without the paths.
  auto arg = [&](int i) { return argc > i && argv[i][0] != '\0'; };
  const fs::path so = arg(1) ? fs::path(argv[1]) : fs::path(HITL_PLUGIN_DIR "/model-logreg.so");
  const fs::path csv = arg(2) ? fs::path(argv[2]) : fs::path(HITL_SOURCE_DIR "/examples/credit_risk/data/credit_data.csv");
  const std::string config = arg(3) ? argv[3] : "{}";
  auto entry = boost::dll::import_alias<const sdk::PluginDescriptor*()>(fs::absolute(so), HITL_PLUGIN_ENTRY_SYMBOL);
  const sdk::PluginDescriptor* d = entry();

  auto t0 = Clock::now();
  auto ds = hitl::data::to_dataset(hitl::data::read_csv(csv), "Status");
  std::printf("read %zu rows from %s in %.1f ms\n", ds.rows.size(), csv.c_str(), seconds_since(t0) * 1e3);

  const std::size_t cut = ds.rows.size() * 8 / 10;
  sdk::Dataset train{{ds.rows.begin(), ds.rows.begin() + cut}, {ds.labels.begin(), ds.labels.begin() + cut}, {}};
  {
    std::unique_ptr<sdk::Model> m;
    if (auto st = d->create_model(config.c_str(), m); !st.ok()) return fail("create", st);
    sdk::TrainResult r;
    t0 = Clock::now();
    if (auto st = m->train(train, r); !st.ok()) return fail("train", st);
    const double train_s = seconds_since(t0);
    std::vector<sdk::Record> test(ds.rows.begin() + cut, ds.rows.end());
    std::vector<sdk::Prediction> p;
    if (auto st = m->predict(test, p); !st.ok()) return fail("predict", st);
    double correct = 0, good = 0;
    std::vector<double> p_bad;
    std::vector<bool> is_bad;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const std::string& truth = ds.labels[cut + i];
      correct += p[i].label == truth;
      good += truth == "good";
      p_bad.push_back(p[i].scores[0].first == "bad" ? p[i].scores[0].second : p[i].scores[1].second);
      is_bad.push_back(truth == "bad");
    }
    std::printf("80/20 split by row index: train %zu rows in %.1f ms, metrics %s\n", cut, train_s * 1e3,
                r.metrics_json.c_str());
    std::printf("held-out (%zu rows): accuracy %.4f (majority class %.4f), AUC %.4f\n", p.size(),
                correct / p.size(), std::max(good, p.size() - good) / p.size(), auc(p_bad, is_bad));
  }

  std::unique_ptr<sdk::Model> m;
  if (auto st = d->create_model(config.c_str(), m); !st.ok()) return fail("create", st);
  sdk::TrainResult r;
  t0 = Clock::now();
  if (auto st = m->train(ds, r); !st.ok()) return fail("train", st);
  std::printf("full data: train %zu rows in %.1f ms, version %s, metrics %s\n", ds.rows.size(),
              seconds_since(t0) * 1e3, m->version().c_str(), r.metrics_json.c_str());

  const std::vector<sdk::Record> batch = hitl::test::cycled(ds.rows, 10000);
  std::vector<sdk::Prediction> out;
  const double best = hitl::test::best_seconds(5, [&] {
    if (auto st = m->predict(batch, out); !st.ok()) throw std::runtime_error("predict: " + st.message);
  });
  std::printf("predict: 10000-row batch in %.2f ms (best of 5) = %.0f rows/s (with contributions)\n", best * 1e3,
              batch.size() / best);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench-model-logreg: %s\n", e.what());
  return 1;
}
