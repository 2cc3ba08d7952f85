// Judging a run's model swaps on the records that followed them (promotions.hpp).
#include "simulate/promotions.hpp"

#include "app/app.hpp"
#include "common/statistics.hpp"
#include "dataset/dataset.hpp"
#include "learning/compare.hpp"
#include "registry/registry.hpp"

#include <algorithm>
#include <stdexcept>

namespace hitl::simulate {

std::vector<Stretch> stretches(const std::vector<std::string>& versions) {
  std::vector<Stretch> out;
  for (std::size_t i = 0; i < versions.size(); ++i) {
    if (out.empty() || out.back().version != versions[i]) out.push_back({versions[i], i, 0});
    ++out.back().count;
  }
  return out;
}

JudgedSwap judge_swap(const std::vector<bool>& from_right, const std::vector<bool>& to_right) {
  if (from_right.size() != to_right.size()) throw std::invalid_argument("judge_swap: the two models answered different records");
  JudgedSwap j;
  j.records = to_right.size();
  std::size_t from_hits = 0, to_hits = 0;
  for (std::size_t i = 0; i < j.records; ++i) {
    from_hits += from_right[i];
    to_hits += to_right[i];
    j.to_only_right += to_right[i] && !from_right[i];
    j.from_only_right += from_right[i] && !to_right[i];
  }
  if (j.records) {
    j.from_accuracy = double(from_hits) / double(j.records);
    j.to_accuracy = double(to_hits) / double(j.records);
  }
  // "Worse" is the replaced model's way: the discordant records it alone got right.
  j.p_value = statistics::mcnemar_mid_p(j.from_only_right, j.to_only_right).p_value;
  j.worse_beyond_noise = j.p_value < 1.0 - kJudgeConfidence;
  return j;
}

namespace {

// The registry version a model_version belongs to (the newest, should two share one), or null.
const registry::ModelVersion* version_named(const std::vector<registry::ModelVersion>& list, const std::string& v) {
  for (auto it = list.rbegin(); it != list.rend(); ++it)
    if (!v.empty() && it->plugin_version == v) return &*it;
  return nullptr;
}

// Whether the model in registry version `from` was right on the records of `s`.
std::vector<bool> right_with(service::App& app, const std::string& domain, const registry::Registry& reg,
                             const registry::ModelVersion& from, const Stretch& s, const std::vector<LabelledRow>& rows) {
  const auto& cfg = app.config();
  const auto& dom = cfg.domains.at(domain);
  const learning::Scorer scorer(app.plugins(), cfg.models.at(dom.model), reg.artifact_path(domain, from.id).string(),
                                dom, "");
  if (scorer.version() != from.plugin_version)
    throw std::runtime_error("its artifact loads as " + scorer.version() + ", not " + from.plugin_version);
  std::vector<dataset::Sample> samples(s.count);
  for (std::size_t i = 0; i < s.count; ++i) samples[i].input = rows[s.first + i].input;
  const auto predictions = scorer.predict(samples);
  std::vector<bool> right(s.count);
  for (std::size_t i = 0; i < s.count; ++i) right[i] = predictions[i].label == rows[s.first + i].truth;
  return right;
}

JudgedSwap judge_one(service::App& app, const std::string& domain, const registry::Registry& reg,
                     const std::vector<registry::ModelVersion>& list, const Stretch& before, const Stretch& after,
                     const std::vector<LabelledRow>& rows, const std::vector<std::string>& labels) {
  std::vector<bool> to_right(after.count);
  for (std::size_t i = 0; i < after.count; ++i) to_right[i] = labels[after.first + i] == rows[after.first + i].truth;
  const auto* from = version_named(list, before.version);
  JudgedSwap j;
  try {
    if (!from) throw std::runtime_error("no registry version has model_version " + before.version);
    j = judge_swap(right_with(app, domain, reg, *from, after, rows), to_right);
  } catch (const std::exception& e) {
    j.records = after.count;
    j.not_judged = e.what();
  }
  j.from_version = before.version;
  j.to_version = after.version;
  if (from) j.from_id = from->id;
  if (const auto* to = version_named(list, after.version)) j.to_id = to->id;
  j.first_record = after.first;
  return j;
}

}  // namespace

std::vector<JudgedSwap> judge_swaps(service::App& app, const std::string& domain, const std::vector<LabelledRow>& rows,
                                    const std::vector<std::string>& versions, const std::vector<std::string>& labels) {
  const auto parts = stretches(versions);
  if (parts.size() < 2) return {};
  const registry::Registry reg(app.config().registry_dir);
  const auto list = reg.list(domain);
  std::vector<JudgedSwap> out;
  for (std::size_t k = 1; k < parts.size(); ++k) {
    out.push_back(judge_one(app, domain, reg, list, parts[k - 1], parts[k], rows, labels));
    out.back().rollback = std::any_of(parts.begin(), parts.begin() + std::ptrdiff_t(k - 1),
                                      [&](const Stretch& s) { return s.version == parts[k].version; });
  }
  return out;
}

}  // namespace hitl::simulate
