#include "policy/policy_cases.hpp"

#include "common/clock.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <set>
#include <stdexcept>

namespace hitl::policy {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kTolerance = 1e-9;  // priority and sla compare as numbers, not bit patterns

const std::set<std::string> kRecordFields = {"name", "input", "prediction", "meta", "predictions", "ood",
                                             "signals", "now", "candidates", "expect"};
const std::set<std::string> kRecordExpect = {"verdict", "reason", "skills", "pool", "priority", "sla",
                                             "reviewers_needed", "assign", "policy_error"};

[[noreturn]] void bad_case(const std::string& source, const std::string& why) {
  throw PolicyError(source + ": " + why);
}

void only_fields(const json& obj, const std::set<std::string>& known, const std::string& what,
                 const std::string& source) {
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!known.count(it.key())) bad_case(source, "unknown field \"" + it.key() + "\" in " + what);
}

CaseKind kind_of(const json& c, const std::string& source) {
  if (c.contains("retrain")) {
    only_fields(c, {"name", "retrain", "expect"}, "a retrain case", source);
    return CaseKind::retrain;
  }
  if (c.contains("promote")) {
    only_fields(c, {"name", "promote", "expect"}, "a promote case", source);
    return CaseKind::promote;
  }
  only_fields(c, kRecordFields, "a record case", source);
  if (!c.contains("input") || !c["input"].is_object()) bad_case(source, "\"input\" must be an object");
  if (!c.contains("prediction") || !c["prediction"].is_object())
    bad_case(source, "\"prediction\" must be an object {label, confidence, scores}");
  return CaseKind::record;
}

PolicyCase parse_case(const std::string& line, const std::string& source) {
  json c = json::parse(line, nullptr, false);
  if (c.is_discarded() || !c.is_object()) bad_case(source, "not a JSON object");
  PolicyCase out;
  out.source = source;
  if (!c.contains("name") || !c["name"].is_string() || c["name"].get<std::string>().empty())
    bad_case(source, "\"name\" must be a non-empty string");
  out.name = c["name"].get<std::string>();
  out.kind = kind_of(c, source);
  if (!c.contains("expect") || !c["expect"].is_object() || c["expect"].empty())
    bad_case(source, "\"expect\" must be an object with at least one expectation");
  out.expect = c["expect"];
  if (out.kind == CaseKind::record) only_fields(out.expect, kRecordExpect, "\"expect\"", source);
  if (out.kind == CaseKind::retrain) only_fields(out.expect, {"retrain", "reason"}, "\"expect\"", source);
  if (out.kind == CaseKind::promote) only_fields(out.expect, {"promote", "reason"}, "\"expect\"", source);
  out.spec = std::move(c);
  return out;
}

void load_file(const fs::path& file, std::vector<PolicyCase>& out) {
  std::ifstream in(file);
  if (!in) throw PolicyError(file.string() + ": cannot read the case file");
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    out.push_back(parse_case(line, file.string() + ":" + std::to_string(n)));
  }
}

// --- the record's views, as the pipeline builds them --------------------------------------------

PredictionView prediction_of(const json& j, const std::string& source) {
  try {
    return prediction_view_of(j);
  } catch (const std::invalid_argument& e) {
    bad_case(source, e.what());
  }
}

CandidateView candidate_of(const json& j, const std::string& source) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) bad_case(source, "a candidate needs an \"id\"");
  CandidateView c;
  c.id = j["id"].get<std::string>();
  c.name = j.value("name", c.id);
  c.roles = j.value("roles", std::vector<std::string>{"reviewer"});
  c.skills = j.value("skills", std::vector<std::string>{});
  c.load = j.value("load", std::int64_t{0});
  c.capacity = j.value("capacity", std::int64_t{1});
  c.cost_per_hour = j.value("cost_per_hour", 0.0);
  if (j.contains("gold_accuracy")) c.gold_accuracy = j["gold_accuracy"].get<double>();
  c.gold_answers = j.value("gold_answers", std::int64_t{0});
  if (j.contains("agreement")) c.agreement = j["agreement"].get<double>();
  c.consecutive = j.value("consecutive", std::int64_t{0});
  c.last_hour = j.value("last_hour", std::int64_t{0});
  return c;
}

// hitl.stats() answers the case's "signals" for every window and segment.
class CaseSignals final : public SignalSource {
 public:
  explicit CaseSignals(const json& s) {
    f_.predictions = s.value("predictions", std::uint64_t{0});
    f_.flagged = s.value("flagged", std::uint64_t{0});
    f_.rejected = s.value("rejected", std::uint64_t{0});
    f_.errors = s.value("errors", std::uint64_t{0});
    f_.reviews = s.value("reviews", std::uint64_t{0});
    f_.open_tasks = s.value("open_tasks", std::int64_t{0});
  }
  StatsStatus window(const std::string&, const std::string*, std::int64_t window_seconds, std::int64_t,
                     WindowFigures& out) const noexcept override {
    out = f_;
    out.window_seconds = window_seconds;
    return StatsStatus::ok;
  }
  std::int64_t max_window_seconds() const noexcept override { return 86400; }

 private:
  WindowFigures f_;
};

// For the duration of one case: the case's clock ("now") and signals, on the engine only (a
// running service tests a reloaded policy while its own clock goes on), reset afterwards.
class CaseScope {
 public:
  CaseScope(PolicyEngine& engine, const json& spec, const std::string& source) : engine_(engine) {
    if (spec.contains("now")) {
      std::optional<std::int64_t> at;
      if (spec["now"].is_number_integer()) at = spec["now"].get<std::int64_t>();
      if (spec["now"].is_string()) at = parse_time_ms(spec["now"].get<std::string>());
      if (!at) bad_case(source, "\"now\" must be epoch ms or a UTC date-time like 2026-12-02T14:30:00Z");
      engine_.set_clock_offset_ms(*at - now_ms());
    }
    if (spec.contains("signals")) signals_.emplace(spec["signals"]);
    engine_.set_signals(signals_ ? &*signals_ : nullptr);
  }
  ~CaseScope() {
    engine_.set_signals(nullptr);
    engine_.set_clock_offset_ms(0);
  }
  CaseScope(const CaseScope&) = delete;
  CaseScope& operator=(const CaseScope&) = delete;

 private:
  PolicyEngine& engine_;
  std::optional<CaseSignals> signals_;
};

const char* action_name(const Verdict& v) {
  if (v.judge) return "judge";
  switch (v.action) {
    case Action::auto_approve: return "auto";
    case Action::reject: return "reject";
    case Action::review: break;
  }
  return "review";
}

struct RecordViews {
  json meta;
  PredictionView prediction;
  std::vector<PredictionView> predictions;
  std::optional<OodView> ood;
};

RecordViews views_of(const json& spec, const std::string& source) {
  RecordViews r;
  r.meta = spec.value("meta", json());
  r.prediction = prediction_of(spec.at("prediction"), source);
  if (spec.contains("predictions")) {
    if (!spec["predictions"].is_array()) bad_case(source, "\"predictions\" must be an array");
    for (const auto& p : spec["predictions"]) r.predictions.push_back(prediction_of(p, source));
  }
  if (spec.contains("ood")) {
    OodView o;
    o.score = spec["ood"].value("score", 0.0);
    for (auto& [k, z] : spec["ood"].value("furthest", json::object()).items()) o.furthest.emplace_back(k, z.get<double>());
    r.ood = std::move(o);
  }
  return r;
}

// The review-side hooks of a flagged record: priority, sla, reviewers_needed, assign.
void add_review_answers(PolicyEngine& engine, const std::string& domain, const json& spec, const RecordViews& r,
                        const Verdict& v, json& out) {
  const json& input = spec.at("input");
  TaskView task{&domain, &v.reason, &input, &r.meta, &r.prediction};
  const double priority = engine.priority(domain, task);
  out["priority"] = priority;
  task.priority = &priority;
  bool failed = false;
  auto sla = engine.sla_seconds(domain, task, failed);
  out["sla"] = sla ? json(*sla) : json();  // null: the domain's configured default applies
  WorkflowTaskView wt{task, 0, v.skills, v.pool, 0, 0, 1};
  out["reviewers_needed"] = engine.reviewers_needed(domain, wt);
  if (!spec.contains("candidates")) return;
  std::vector<CandidateView> candidates;
  for (const auto& c : spec["candidates"]) candidates.push_back(candidate_of(c, "candidates"));
  bool assign_failed = false;
  auto order = engine.assign(domain, wt, candidates, assign_failed);
  out["assign"] = order ? json(*order) : json();
}

// --- comparing answers with expectations ---------------------------------------------------------

// The order differences are listed in: the verdict first, then what follows from it.
const char* const kExpectOrder[] = {"verdict", "reason", "skills", "pool", "policy_error", "priority", "sla",
                                    "reviewers_needed", "assign", "retrain", "promote"};

std::string shown(const json& v) {
  if (v.is_null()) return "nothing";
  if (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>() && std::fabs(v.get<double>()) < 1e15)
    return std::to_string(static_cast<long long>(v.get<double>()));
  return v.dump();
}

bool same_number(const json& want, const json& got) {
  return want.is_number() && got.is_number() && std::fabs(want.get<double>() - got.get<double>()) <= kTolerance;
}

// Whether `got` meets `want`: equal JSON, numbers within kTolerance, or a [lo, hi] range for priority.
bool meets(const std::string& key, const json& want, const json& got) {
  if (key == "priority" && want.is_array() && want.size() == 2 && got.is_number())
    return got.get<double>() >= want[0].get<double>() - kTolerance &&
           got.get<double>() <= want[1].get<double>() + kTolerance;
  if (want.is_number()) return same_number(want, got);
  return want == got;
}

void compare(const json& expect, const json& got, CaseResult& r) {
  for (const std::string key : kExpectOrder) {
    if (!expect.contains(key)) continue;
    const json& want = expect[key];
    const json actual = got.contains(key) ? got[key] : json();
    if (meets(key, want, actual)) continue;
    const std::string wanted = (key == "priority" && want.is_array() ? "within " : "") + shown(want);
    r.differences.push_back(key + ": expected " + wanted + ", got " + shown(actual));
  }
  if (!r.differences.empty() && got.value("policy_error", false))
    r.differences.push_back("policy error: " + got.value("error", std::string()));
}

json yes_no_answer(PolicyEngine& engine, const std::string& domain, const PolicyCase& c) {
  std::string reason;
  bool failed = false;
  const bool retrain = c.kind == CaseKind::retrain;
  const json& arg = c.spec.at(retrain ? "retrain" : "promote");
  auto answer = retrain ? engine.retrain(domain, arg, reason, failed) : engine.promote(domain, arg, reason, failed);
  json got;
  got[retrain ? "retrain" : "promote"] = answer ? json(*answer) : json();
  got["reason"] = reason;
  if (failed) got["policy_error"] = true;
  return got;
}

}  // namespace

PredictionView prediction_view_of(const json& j) {
  if (!j.is_object() || !j.contains("label") || !j["label"].is_string())
    throw std::invalid_argument("prediction.label must be a string");
  PredictionView v;
  v.label = j["label"].get<std::string>();
  v.confidence = j.value("confidence", 0.0);
  if (j.contains("scores")) {
    if (!j["scores"].is_object()) throw std::invalid_argument("prediction.scores must be an object of numbers");
    for (auto it = j["scores"].begin(); it != j["scores"].end(); ++it) {
      if (!it->is_number()) throw std::invalid_argument("prediction.scores." + it.key() + " must be a number");
      v.scores.emplace_back(it.key(), it->get<double>());
    }
  }
  v.model = j.value("model", std::string("client"));
  v.version = j.value("version", std::string());
  return v;
}

std::vector<PolicyCase> load_cases(const fs::path& path) {
  std::vector<PolicyCase> out;
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && e.path().extension() == ".jsonl") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) load_file(f, out);
  } else {
    load_file(path, out);
  }
  return out;
}

fs::path default_cases_path(const fs::path& policy_file) {
  const fs::path dir = policy_file.parent_path(), stem = policy_file.stem();
  for (const fs::path& p : {dir / (stem.string() + ".cases.jsonl"), dir / (stem.string() + "_cases")})
    if (fs::exists(p)) return p;
  return {};
}

json evaluate_record(PolicyEngine& engine, const std::string& domain, const json& spec) {
  const std::string source = spec.value("name", std::string("record"));
  CaseScope scope(engine, spec, source);
  RecordViews r = views_of(spec, source);
  FlagInput in{&domain, &spec.at("input"), &r.meta, &r.prediction};
  if (!r.predictions.empty()) in.predictions = &r.predictions;
  if (r.ood) in.ood = &*r.ood;
  Verdict v = engine.flag(domain, in);
  json out = {{"verdict", action_name(v)}, {"reason", v.reason}, {"skills", v.skills}, {"pool", v.pool},
              {"policy_error", v.policy_error}};
  if (v.policy_error) out["error"] = v.error;
  if (v.action == Action::review && !v.judge) add_review_answers(engine, domain, spec, r, v, out);
  return out;
}

CaseResult run_case(PolicyEngine& engine, const std::string& domain, const PolicyCase& c) {
  CaseResult r{c.name, c.source, false, {}};
  try {
    json got = c.kind == CaseKind::record ? evaluate_record(engine, domain, c.spec) : yes_no_answer(engine, domain, c);
    compare(c.expect, got, r);
  } catch (const std::exception& e) {
    r.differences.push_back(std::string("the case could not run: ") + e.what());
  }
  r.passed = r.differences.empty();
  return r;
}

}  // namespace hitl::policy
