// model-logreg: feature encoding, scoring and training (softmax regression, L2, full-batch
// restarted Nesterov-accelerated gradient descent; no randomness anywhere).
#include "logreg.hpp"

#include <hitl/feature_values.hpp>
#include <hitl/training_set.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace hitl::logreg {

using sdk::features::category_text;
using sdk::features::is_missing;

namespace {

// The encoded training set in compressed sparse row form.
struct Design {
  std::vector<std::size_t> offsets{0};
  std::vector<std::uint32_t> index;
  std::vector<double> value;
  std::size_t rows() const { return offsets.size() - 1; }
};

struct Problem {
  const Design& x;
  const std::vector<std::uint32_t>& y;  // class index per row
  const std::vector<double>& w;         // sample weight per row
  double total_weight;
  std::size_t dims, classes;
  double l2;
};

// Mean weighted log loss + (l2 / 2) |W|^2 at theta = [W (dims*K), bias (K)], and its gradient.
double loss_and_gradient(const Problem& p, const std::vector<double>& theta, std::vector<double>& grad) {
  const std::size_t K = p.classes, bias_at = p.dims * K;
  std::fill(grad.begin(), grad.end(), 0.0);
  std::vector<double> logits(K), g(K);
  double loss = 0.0;
  for (std::size_t i = 0; i < p.x.rows(); ++i) {
    const double wi = p.w[i];
    if (wi == 0.0) continue;
    std::copy_n(theta.begin() + bias_at, K, logits.begin());
    for (std::size_t n = p.x.offsets[i]; n < p.x.offsets[i + 1]; ++n) {
      const double* wj = &theta[p.x.index[n] * K];
      for (std::size_t k = 0; k < K; ++k) logits[k] += wj[k] * p.x.value[n];
    }
    const double m = *std::max_element(logits.begin(), logits.end());
    double s = 0.0;
    for (std::size_t k = 0; k < K; ++k) s += g[k] = std::exp(logits[k] - m);
    loss += wi * (m + std::log(s) - logits[p.y[i]]);
    const double scale = wi / s;  // g becomes w_i * (p_k - [k == y_i])
    for (std::size_t k = 0; k < K; ++k) g[k] *= scale;
    g[p.y[i]] -= wi;
    for (std::size_t n = p.x.offsets[i]; n < p.x.offsets[i + 1]; ++n) {
      double* gj = &grad[p.x.index[n] * K];
      for (std::size_t k = 0; k < K; ++k) gj[k] += g[k] * p.x.value[n];
    }
    for (std::size_t k = 0; k < K; ++k) grad[bias_at + k] += g[k];
  }
  const double inv = 1.0 / p.total_weight;
  double penalty = 0.0;
  for (std::size_t j = 0; j < grad.size(); ++j) {
    grad[j] *= inv;
    if (j < bias_at) {  // the bias is not penalised
      grad[j] += p.l2 * theta[j];
      penalty += theta[j] * theta[j];
    }
  }
  return loss * inv + 0.5 * p.l2 * penalty;
}

// Minimises the loss by full-batch gradient descent with Nesterov momentum, which converges far
// faster than plain steps on correlated or one-hot data. Momentum is restarted whenever the
// loss goes up (the "function scheme" of O'Donoghue & Candes), so accepted losses only fall;
// when even a plain gradient step raises the loss the step is too long for this data, so it
// is halved: a too-large learning_rate slows training down but cannot make it diverge.
std::vector<double> minimise(const Problem& p, std::vector<double> x, const Hyper& h, TrainReport& report) {
  const std::size_t n = x.size();
  std::vector<double> y = x, y_prev = x, grad(n), grad_prev(n);
  double step = h.learning_rate, t = 1.0, f_prev = std::numeric_limits<double>::infinity();
  bool plain = true;  // y is a plain gradient step (no momentum) from y_prev
  int quiet = 0;      // consecutive accepted steps with a negligible loss change
  for (int epoch = 1; epoch <= h.epochs; ++epoch) {
    report.epochs_run = epoch;
    const double f = loss_and_gradient(p, y, grad);
    if (!std::isfinite(f) || f > f_prev + 1e-12 * (1.0 + std::fabs(f_prev))) {
      if (plain) {  // the step itself overshot: shorten it, from the last accepted point
        step *= 0.5;
        for (std::size_t j = 0; j < n; ++j) x[j] = y_prev[j] - step * grad_prev[j];
      }             // else momentum overshot: drop it, keep the plain step from y_prev
      y = x;
      t = 1.0;
      plain = true;
      quiet = 0;
      continue;
    }
    quiet = f_prev - f <= 1e-9 + 1e-7 * std::fabs(f) ? quiet + 1 : 0;
    f_prev = f;
    y_prev = y;
    grad_prev = grad;
    if (quiet >= 3) {
      report.converged = true;
      break;
    }
    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
    const double beta = (t - 1.0) / t_next;
    for (std::size_t j = 0; j < n; ++j) {
      const double x_new = y[j] - step * grad[j];
      y[j] = x_new + beta * (x_new - x[j]);
      x[j] = x_new;
    }
    t = t_next;
    plain = beta == 0.0;
  }
  // The last evaluated point that was accepted is the best one seen.
  return y_prev;
}

// The features the training rows carry: every column with a value; text for the columns the
// text_columns option names, categorical when any value is text (its categories sorted),
// numeric otherwise, standardized by its weighted mean and standard deviation (West's update).
std::vector<Feature> learn_features(const std::vector<sdk::Record>& rows, const std::vector<double>& w, const Hyper& h) {
  const auto columns = sdk::training::scan_columns(rows);
  const auto categories = sdk::training::categories(rows, columns);
  struct Moments {
    double sum_w = 0.0, mean = 0.0, m2 = 0.0;
  };
  std::vector<Moments> moments(columns.list.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (const auto& [name, value] : rows[i]) {
      const std::size_t c = columns.index.at(name);
      if (columns.list[c].any_text || is_missing(&value) || !(w[i] > 0.0)) continue;
      Moments& s = moments[c];
      const double x = std::get<double>(value);
      s.sum_w += w[i];
      const double delta = x - s.mean;
      s.mean += delta * w[i] / s.sum_w;
      s.m2 += w[i] * delta * (x - s.mean);
    }
  std::vector<Feature> features;
  for (std::size_t c = 0; c < columns.list.size(); ++c) {
    const sdk::training::Column& column = columns.list[c];
    if (column.present == 0) continue;  // never has a value: carries no information
    Feature f;
    f.name = column.name;
    const bool text = std::find(h.text_columns.begin(), h.text_columns.end(), column.name) != h.text_columns.end();
    f.kind = text ? FeatureKind::text : column.any_text ? FeatureKind::categorical : FeatureKind::numeric;
    f.has_missing = column.present < rows.size();
    if (f.kind == FeatureKind::text) {
      f.buckets = static_cast<std::uint32_t>(h.text_buckets);
    } else if (f.kind == FeatureKind::categorical) {
      f.categories.assign(categories[c].begin(), categories[c].end());
    } else if (moments[c].sum_w > 0.0) {
      f.mean = moments[c].mean;
      const double sd = std::sqrt(std::max(0.0, moments[c].m2 / moments[c].sum_w));
      // A constant column standardizes to 0 everywhere; std 1 avoids dividing by ~0.
      f.std = sd > 1e-12 * std::max(1.0, std::fabs(f.mean)) ? sd : 1.0;
    }
    features.push_back(std::move(f));
  }
  return features;
}

Design encode_rows(const Params& p, const std::vector<sdk::Record>& rows) {
  Design x;
  SparseRow row;
  for (const auto& r : rows) {
    p.encode(r, row);
    for (const auto& [j, v] : row) {
      x.index.push_back(j);
      x.value.push_back(v);
    }
    x.offsets.push_back(x.index.size());
  }
  return x;
}

// Training-set metrics (weighted like the objective; equal to plain ones without weights).
void report_fit(Params& p, const Design& x, const sdk::training::Labelled& t) {
  std::vector<double> logits, probs;
  double correct = 0.0, log_loss = 0.0;
  for (std::size_t i = 0; i < x.rows(); ++i) {
    SparseRow r(x.offsets[i + 1] - x.offsets[i]);
    for (std::size_t m = 0; m < r.size(); ++m) r[m] = {x.index[x.offsets[i] + m], x.value[x.offsets[i] + m]};
    p.probabilities(r, logits, probs);
    const auto best = static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    if (best == t.class_of[i]) correct += t.weights[i];
    log_loss -= t.weights[i] * std::log(std::max(probs[t.class_of[i]], 1e-15));
  }
  p.report.rows = x.rows();
  p.report.accuracy = correct / t.total_weight;
  p.report.log_loss = log_loss / t.total_weight;
}

}  // namespace

void Params::layout() {
  dims = sdk::features::lay_out(features, feature_index, [](const Feature& f) {
    switch (f.kind) {
      case FeatureKind::text: return f.buckets;
      case FeatureKind::categorical: return static_cast<std::uint32_t>(f.categories.size());
      case FeatureKind::numeric: break;
    }
    return f.has_missing ? 2u : 1u;
  });
}

void Params::encode(const sdk::Record& record, SparseRow& out) const {
  out.clear();
  const std::vector<const sdk::Value*> values = sdk::features::known_values(record, feature_index, features.size());
  for (std::size_t i = 0; i < features.size(); ++i) {
    const Feature& f = features[i];
    const sdk::Value* v = values[i];
    if (f.kind == FeatureKind::text) {
      if (!is_missing(v)) hash_text(category_text(*v), f.buckets, f.slot, out);
      continue;
    }
    if (f.kind == FeatureKind::categorical) {
      if (is_missing(v)) continue;
      const auto at = sdk::features::category_position(f.categories, category_text(*v));
      if (at >= 0) out.emplace_back(f.slot + static_cast<std::uint32_t>(at), 1.0);
      continue;
    }
    const auto numeric = sdk::features::numeric_value(v, f.name);
    if (numeric.kind == sdk::features::NumericKind::invalid) throw LogregError(numeric.error);
    const double x = numeric.value;
    if (numeric.kind == sdk::features::NumericKind::missing) {
      if (f.has_missing) out.emplace_back(f.slot + 1, 1.0);  // standardized value 0 = the mean
    } else {
      out.emplace_back(f.slot, (x - f.mean) / f.std);
    }
  }
}

void Params::probabilities(const SparseRow& row, std::vector<double>& logits, std::vector<double>& probs) const {
  const std::size_t K = classes.size();
  logits.assign(bias.begin(), bias.end());
  for (const auto& [j, x] : row)
    for (std::size_t k = 0; k < K; ++k) logits[k] += weights[j * K + k] * x;
  const double m = *std::max_element(logits.begin(), logits.end());
  probs.resize(K);
  double s = 0.0;
  for (std::size_t k = 0; k < K; ++k) s += probs[k] = std::exp(logits[k] - m);
  for (double& p : probs) p /= s;
}

std::vector<std::string> Params::slot_names() const {
  std::vector<std::string> names;
  names.reserve(dims);
  for (const auto& f : features) {
    if (f.kind == FeatureKind::text) {
      for (std::uint32_t b = 0; b < f.buckets; ++b) names.push_back(f.name + "#" + std::to_string(b));
    } else if (f.kind == FeatureKind::categorical) {
      for (const auto& c : f.categories) names.push_back(f.name + "=" + c);
    } else {
      names.push_back(f.name);
      if (f.has_missing) names.push_back(f.name + ":missing");
    }
  }
  return names;
}

Params train(const sdk::Dataset& data, const Hyper& hyper) {
  sdk::training::Labelled t;
  if (auto error = sdk::training::check(data, t)) throw LogregError(*error);
  Params p;
  p.hyper = hyper;
  p.classes = t.classes;
  p.features = learn_features(data.rows, t.weights, hyper);
  p.layout();
  const Design x = encode_rows(p, data.rows);

  const std::size_t K = p.classes.size();
  std::vector<double> theta(p.dims * K + K, 0.0);
  // Start the bias at the log class priors: the best model that ignores the features.
  std::vector<double> prior(K, 0.0);
  for (std::size_t i = 0; i < data.rows.size(); ++i) prior[t.class_of[i]] += t.weights[i];
  for (std::size_t k = 0; k < K; ++k) theta[p.dims * K + k] = std::log(std::max(prior[k] / t.total_weight, 1e-9));

  Problem problem{x, t.class_of, t.weights, t.total_weight, p.dims, K, hyper.l2};
  theta = minimise(problem, std::move(theta), hyper, p.report);
  p.weights.assign(theta.begin(), theta.begin() + p.dims * K);
  p.bias.assign(theta.begin() + p.dims * K, theta.end());
  report_fit(p, x, t);
  return p;
}

}  // namespace hitl::logreg
