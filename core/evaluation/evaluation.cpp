#include "evaluation/evaluation.hpp"

#include "common/statistics.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

namespace hitl::evaluation {
using nlohmann::json;

double probability(const sdk::Prediction& p, const std::string& label, std::size_t label_count) {
  if (!p.scores.empty()) {
    for (auto& [l, s] : p.scores)
      if (l == label) return s;
    return 0;
  }
  if (p.label == label) return p.confidence;
  return label_count > 1 ? (1 - p.confidence) / static_cast<double>(label_count - 1) : 0;
}

namespace {

// 1-based ranks of `v`, ties sharing their average rank.
std::vector<double> mid_ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
    for (std::size_t k = i; k < j; ++k) rank[order[k]] = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    i = j;
  }
  return rank;
}

double sample_variance(const std::vector<double>& v) {
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double sum = 0;
  for (double x : v) sum += (x - mean) * (x - mean);
  return sum / static_cast<double>(v.size() - 1);
}

struct Auc {
  double value = 0, low = 0, high = 1;
};

// Mann-Whitney U: the chance a random positive row outranks a random negative one (ties half),
// with DeLong's variance for its 95% interval: each positive's share of negatives below it and
// each negative's share of positives above it, from the ranks (no pairwise loop).
std::optional<Auc> auc(const std::vector<double>& score, const std::vector<bool>& positive) {
  std::vector<double> pos, neg;
  for (std::size_t i = 0; i < score.size(); ++i) (positive[i] ? pos : neg).push_back(score[i]);
  if (pos.empty() || neg.empty()) return std::nullopt;
  const auto all = mid_ranks(score), rank_pos = mid_ranks(pos), rank_neg = mid_ranks(neg);
  const double m = static_cast<double>(pos.size()), n = static_cast<double>(neg.size());
  std::vector<double> v10, v01;
  for (std::size_t i = 0, ip = 0, in = 0; i < score.size(); ++i) {
    if (positive[i]) v10.push_back((all[i] - rank_pos[ip++]) / n);
    else v01.push_back(1 - (all[i] - rank_neg[in++]) / m);
  }
  Auc a;
  a.value = std::accumulate(v10.begin(), v10.end(), 0.0) / m;
  if (pos.size() >= 2 && neg.size() >= 2) {
    const double se = std::sqrt(sample_variance(v10) / m + sample_variance(v01) / n);
    a.low = std::max(0.0, a.value - 1.96 * se);
    a.high = std::min(1.0, a.value + 1.96 * se);
  }
  return a;
}

Metrics metrics_of(const std::vector<std::size_t>& rows, const std::vector<sdk::Prediction>& pred,
                   const std::vector<std::string>& truth, const std::vector<std::string>& labels,
                   const std::string& positive, const std::vector<double>& weights) {
  Metrics m;
  m.rows = rows.size();
  m.weighted = !weights.empty();
  if (rows.empty()) return m;
  statistics::WeightedCount right;
  double loss = 0;
  constexpr int kBins = 10;
  double bin_conf[kBins] = {}, bin_acc[kBins] = {};
  std::vector<double> score;
  std::vector<bool> is_pos;
  for (auto i : rows) {
    const auto& p = pred[i];
    const double w = weights.empty() ? 1.0 : weights[i];
    const bool hit = p.label == truth[i];
    right.add(hit, w);
    const double pt = std::clamp(probability(p, truth[i], labels.size()), 1e-15, 1 - 1e-15);
    loss -= w * std::log(pt);
    const double conf = std::clamp(probability(p, p.label, labels.size()), 0.0, 1.0);
    const int b = std::min(kBins - 1, static_cast<int>(conf * kBins));
    bin_conf[b] += w * conf;
    bin_acc[b] += hit ? w : 0;
    score.push_back(probability(p, positive, labels.size()));
    is_pos.push_back(truth[i] == positive);
  }
  const auto share = statistics::proportion(right, 1.96);
  m.accuracy = share.estimate;
  m.accuracy_low = share.interval.low;
  m.accuracy_high = share.interval.high;
  m.effective_rows = share.effective_rows;
  m.log_loss = loss / right.weight;
  for (int b = 0; b < kBins; ++b) m.calibration_error += std::fabs(bin_acc[b] - bin_conf[b]) / right.weight;
  if (labels.size() == 2)
    if (const auto a = auc(score, is_pos)) {
      m.auc = a->value;
      m.auc_low = a->low;
      m.auc_high = a->high;
    }
  return m;
}

}  // namespace

Evaluation evaluate(const std::vector<sdk::Prediction>& predictions, const std::vector<std::string>& truth,
                    const std::vector<std::string>& labels, const std::string& positive,
                    const std::vector<json>& inputs, const report::GroupSpec& group, const std::vector<double>& weights) {
  if (predictions.size() != truth.size()) throw std::invalid_argument("evaluate: predictions and labels differ in number");
  if (!weights.empty() && weights.size() != truth.size()) throw std::invalid_argument("evaluate: weights and labels differ in number");
  for (double w : weights)
    if (!(w > 0) || std::isinf(w)) throw std::invalid_argument("evaluate: a weight is not a finite positive number");
  if (predictions.empty()) throw std::invalid_argument("evaluate: no rows to evaluate");
  if (std::find(labels.begin(), labels.end(), positive) == labels.end())
    throw std::invalid_argument("evaluate: positive label \"" + positive + "\" is not one of the domain's labels");
  Evaluation e;
  std::vector<std::size_t> all(predictions.size());
  std::iota(all.begin(), all.end(), 0);
  e.overall = metrics_of(all, predictions, truth, labels, positive, weights);
  if (!group.field.empty() && inputs.size() == predictions.size()) {
    e.group_field = group.field;
    std::map<std::string, std::vector<std::size_t>> by;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto it = inputs[i].is_object() ? inputs[i].find(group.field) : inputs[i].end();
      by[report::group_of_value(inputs[i].is_object() && it != inputs[i].end() ? &*it : nullptr, group)].push_back(i);
    }
    for (auto& [name, rows] : by) e.groups.push_back({name, metrics_of(rows, predictions, truth, labels, positive, weights)});
    // Bands in their numeric order (as the report lists them), "(missing)" last.
    const auto bands = report::band_names(group.bands);
    auto rank = [&](const std::string& g) -> std::size_t {
      auto it = std::find(bands.begin(), bands.end(), g);
      if (it != bands.end()) return static_cast<std::size_t>(it - bands.begin());
      return g == "(missing)" ? bands.size() + 1 : bands.size();
    };
    std::stable_sort(e.groups.begin(), e.groups.end(), [&](auto& a, auto& b) { return rank(a.group) < rank(b.group); });
  }
  return e;
}

json to_json(const Metrics& m) {
  json j = {{"rows", m.rows},
          {"accuracy", m.accuracy},
          {"accuracy_ci95", {m.accuracy_low, m.accuracy_high}},
          {"auc", m.auc ? json(*m.auc) : json(nullptr)},
          {"auc_ci95", m.auc ? json({m.auc_low, m.auc_high}) : json(nullptr)},
          {"log_loss", m.log_loss},
          {"calibration_error", m.calibration_error}};
  if (m.weighted) j["effective_rows"] = m.effective_rows;
  return j;
}

json to_json(const Evaluation& e) {
  json j = to_json(e.overall);
  if (!e.group_field.empty()) {
    json g = json::object();
    for (auto& x : e.groups) g[x.group] = to_json(x.metrics);
    j["groups"] = {{"field", e.group_field}, {"by_group", g}};
  }
  return j;
}

}  // namespace hitl::evaluation
