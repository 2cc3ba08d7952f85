#pragma once
// The figures of a finished run (figures.cpp): what the simulated instance stored, scored
// against the true label of every record, plus what only the event loop saw (RunLog).
#include "simulate/simulate.hpp"

#include <hitl/plugin_api.hpp>

namespace hitl::simulate {

struct RunLog {
  std::int64_t start_ms = 0, end_ms = 0;
  std::vector<StepSample> samples;  // one per step of the series, in order
  std::int64_t gold_answers = 0, gold_right = 0, lost_answers = 0;
  std::int64_t open_at_end = 0;
  nlohmann::json jobs;  // the retrain worker's jobs at the end (RetrainWorker::status), newest first  // tasks ready or leased when no reviewer could take more
};

// `first` holds the first model's prediction of every row (the baseline a promotion must beat).
Result score(service::App& app, const Options& o, const std::vector<LabelledRow>& rows,
             const std::vector<sdk::Prediction>& first, const RunLog& log);

}  // namespace hitl::simulate
