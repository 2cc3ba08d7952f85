// The data sets the model plugins' tests and benchmarks train on. Header-only, without Catch2;
// needs hitl_data (core/data) for the CSV reader.
#pragma once

#include <hitl/plugin_api.hpp>

#include "data/records.hpp"

#include <string>

namespace hitl::test {

// examples/credit_risk/data/credit_data.csv, labelled by its Status column ("good" / "bad").
inline sdk::Dataset credit_data(const std::string& csv = HITL_SOURCE_DIR "/examples/credit_risk/data/credit_data.csv") {
  return hitl::data::to_dataset(hitl::data::read_csv(csv), "Status");
}

// 40 rows a threshold on x separates ("neg" below 0, "pos" above), with a deterministic column
// "noise" that carries no signal.
inline sdk::Dataset separable_numeric() {
  sdk::Dataset ds;
  for (int i = -20; i <= 20; ++i) {
    if (i == 0) continue;
    ds.rows.push_back({{"x", i * 0.5}, {"noise", ((i + 20) * 7919 % 13) / 13.0}});
    ds.labels.push_back(i > 0 ? "pos" : "neg");
  }
  return ds;
}

}  // namespace hitl::test
