#pragma once
// Each model swap of a run judged as issue 18 asks (docs/simulate.md, "Promotions judged"): on
// the records the new model decided while it was live, was it worse than the model it replaced?
// Both models answer the same records, so the test is McNemar's on the paired answers, one-sided
// (is the new one worse?), mid-p, at 95%.
#include "simulate/simulate.hpp"

#include <string>
#include <vector>

namespace hitl::service { class App; }

namespace hitl::simulate {

inline constexpr double kJudgeConfidence = 0.95;

// A run of consecutive records one model version decided.
struct Stretch {
  std::string version;
  std::size_t first = 0, count = 0;
};
// The stretches of `versions` (each record's model_version, in row order), in order.
std::vector<Stretch> stretches(const std::vector<std::string>& versions);

// One swap judged from who was right on each of its records: `from_right[i]` whether the model
// replaced was right on the i-th record the new one decided, `to_right[i]` whether the new one
// was. Pure; ids, rollback and first_record are left for the caller.
JudgedSwap judge_swap(const std::vector<bool>& from_right, const std::vector<bool>& to_right);

// Every swap of the run: each stretch after the first is scored again with the model of the
// stretch before it, loaded from the domain's registry (the version whose plugin_version is that
// model_version) through the domain's model plugin. `labels[i]` is the label the live model gave
// record i. A swap whose predecessor cannot be found or scored is reported with `not_judged`.
std::vector<JudgedSwap> judge_swaps(service::App& app, const std::string& domain, const std::vector<LabelledRow>& rows,
                                    const std::vector<std::string>& versions, const std::vector<std::string>& labels);

}  // namespace hitl::simulate
