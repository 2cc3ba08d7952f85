// Measuring a model plugin, shared by its tests and benchmarks: AUC and predict throughput.
// Header-only and without Catch2, so a benchmark can include it too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <numeric>
#include <vector>

namespace hitl::test {

// The probability that a random positive outranks a random negative (ties count half).
inline double auc(const std::vector<double>& score_pos, const std::vector<bool>& is_pos) {
  std::vector<std::size_t> idx(score_pos.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](auto a, auto b) { return score_pos[a] < score_pos[b]; });
  double rank_sum = 0, pos = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j < idx.size() && score_pos[idx[j]] == score_pos[idx[i]]) ++j;
    const double mid_rank = (i + 1 + j) / 2.0;  // average 1-based rank of the tie group
    for (std::size_t t = i; t < j; ++t)
      if (is_pos[idx[t]]) { rank_sum += mid_rank; ++pos; }
    i = j;
  }
  const double neg = static_cast<double>(idx.size()) - pos;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// `n` rows, cycling through `rows` (a batch for throughput figures).
template <class Row>
std::vector<Row> cycled(const std::vector<Row>& rows, std::size_t n) {
  std::vector<Row> out;
  out.reserve(n);
  for (std::size_t i = 0; out.size() < n; ++i) out.push_back(rows[i % rows.size()]);
  return out;
}

// The fastest of `reps` runs of `run`, in seconds: the least disturbed one on a shared machine.
template <class Run>
double best_seconds(int reps, Run run) {
  double best = 1e9;
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace hitl::test
