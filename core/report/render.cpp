// Rendering a Report: the JSON body of GET /v1/domains/{d}/report and the plain-text table of
// `hitl report`. Both show undefined figures as such (null, "-") rather than as 0, so an empty
// window is never mistaken for a perfect one.
#include "report/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace hitl::report {

namespace {

using nlohmann::json;

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json bound(std::int64_t ms) { return ms != 0 ? json(ms) : json(nullptr); }  // 0 = unbounded

json accuracy_json(const Accuracy& a) {
  return {{"cases", a.cases},
          {"reviewed_cases", a.reviewed_cases},
          {"reported_truths", a.reported_truths},
          {"final_accuracy", opt(a.final_accuracy)},
          {"model_accuracy", opt(a.model_accuracy)},
          {"gain", opt(a.gain)}};
}

json groups_json(const BiasSide& side) {
  json g = json::object();
  for (const auto& s : side.groups)
    g[s.name] = {{"predictions", s.predictions}, {"flagged", s.flagged},         {"flag_rate", opt(s.flag_rate)},
                 {"cases", s.cases},             {"model_errors", s.model_errors}, {"error_rate", opt(s.error_rate)}};
  return g;
}

json bias_json(const Bias& b) {
  json out{{"attribute", b.attribute},
           {"bands", b.bands},
           {"groups", groups_json(b.current)},
           {"flag_rate_disparity", opt(b.current.flag_rate_disparity)},
           {"error_rate_disparity", opt(b.current.error_rate_disparity)},
           {"baseline", nullptr},
           {"drift", {{"flag_rate_disparity", opt(b.flag_rate_drift)}, {"error_rate_disparity", opt(b.error_rate_drift)}}}};
  if (b.baseline && b.baseline_window)
    out["baseline"] = {{"from_ms", bound(b.baseline_window->from_ms)},
                       {"to_ms", bound(b.baseline_window->to_ms)},
                       {"groups", groups_json(*b.baseline)},
                       {"flag_rate_disparity", opt(b.baseline->flag_rate_disparity)},
                       {"error_rate_disparity", opt(b.baseline->error_rate_disparity)}};
  return out;
}

// ---- table helpers ----

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(const Rate& r) { return r ? fmt("%.1f%%", *r * 100.0) : "-"; }
std::string points(const Rate& r) { return r ? fmt("%+.1f pp", *r * 100.0) : "-"; }  // a difference of rates
std::string secs(const std::optional<double>& s) { return s ? fmt("%.1fs", *s) : "-"; }
// Small unit costs (a fraction of a cent per prediction) would vanish at two decimals.
std::string money(double v) { return std::fabs(v) >= 0.1 || v == 0.0 ? fmt("%.2f", v) : fmt("%.3g", v); }
std::string money(const Rate& v) { return v ? money(*v) : "-"; }
std::string num(std::int64_t n) { return std::to_string(n); }

std::string utc(std::int64_t ms) {
  if (ms == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Rows of cells printed with aligned columns, two spaces between, indented under a section
// title: figures right-aligned, and the first column left-aligned when it holds names.
class Table {
 public:
  explicit Table(bool names_first = true) : names_first_(names_first) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print(std::ostringstream& out, const std::string& indent = "  ") const {
    std::vector<std::size_t> width;
    for (const auto& r : rows_)
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (width.size() <= i) width.push_back(0);
        width[i] = std::max(width[i], r[i].size());
      }
    for (const auto& r : rows_) {
      std::string line = indent;
      for (std::size_t i = 0; i < r.size(); ++i) {
        const std::string pad(width[i] - r[i].size(), ' ');
        if (i == 0 && names_first_) line += r[i] + pad;
        else if (i == 0) line += pad + r[i];
        else line += "  " + pad + r[i];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << '\n';
    }
  }

 private:
  bool names_first_;
  std::vector<std::vector<std::string>> rows_;
};

void bias_table(std::ostringstream& out, const BiasSide& side) {
  Table t;
  t.row({"group", "predictions", "flagged", "flag rate", "cases", "model errors", "error rate"});
  for (const auto& g : side.groups)
    t.row({g.name, num(g.predictions), num(g.flagged), pct(g.flag_rate), num(g.cases), num(g.model_errors), pct(g.error_rate)});
  t.print(out, "    ");
}

// The audit samples' estimate, under the accuracy table, when there are any.
void print_audit(std::ostream& out, const AuditEstimate& a) {
  if (!a.model_accuracy) return;
  out << "  audit samples: the model alone on automatic traffic " << pct(a.model_accuracy) << " (95% "
      << pct(a.ci95_low) << " - " << pct(a.ci95_high) << ", " << a.samples << " samples)\n";
}

json traffic_json(const TrafficEstimate& t) {
  return {{"accuracy", opt(t.accuracy)},
          {"ci95", t.accuracy ? json::array({*t.ci95_low, *t.ci95_high}) : json(nullptr)}};
}

json estimates_json(const Estimates& e) {
  return {{"capture", to_json(e.capture)},{"model", traffic_json(e.model)},     {"system", traffic_json(e.system)},
          {"reviewed", e.reviewed},             {"automatic", e.automatic},
          {"samples", e.samples},               {"effective_samples", e.effective_samples},
          {"not_covered", e.not_covered}};
}

void print_estimates(std::ostringstream& out, const Estimates& e) {
  out << "\nEstimated accuracy over all traffic (" << e.reviewed << " reviewed counted, " << e.automatic
      << " automatic estimated from " << e.samples << " audit samples, " << e.not_covered << " not covered)\n";
  Table t(false);
  t.row({"who", "accuracy", "95% low", "95% high"});
  for (const auto& [who, est] : {std::pair{"model alone", &e.model}, std::pair{"system", &e.system}})
    t.row({who, pct(est->accuracy), pct(est->ci95_low), pct(est->ci95_high)});
  t.print(out);
  for (const auto& c : e.capture) {
    out << "  model errors caught reviewing the most doubtful by " << name(c.signal) << ":";
    for (const auto& p : c.points) out << " " << pct(p.review_rate) << " -> " << pct(p.capture) << ";";
    out << "\n";
  }
}

// Section 3: agreement on the reviewed slice, then the estimates over all traffic.
void print_accuracy(std::ostringstream& out, const Report& r) {
  out << "\nAgreement on reviewed cases (the reviewed slice, not accuracy over all traffic)\n";
  Table acc(false);
  acc.row({"cases", "reviewed", "reported truths", "final accuracy", "model accuracy", "gain"});
  const auto& a = r.accuracy;
  acc.row({num(a.cases), num(a.reviewed_cases), num(a.reported_truths), pct(a.final_accuracy), pct(a.model_accuracy),
           points(a.gain)});
  acc.print(out);
  print_audit(out, r.audit);
  print_estimates(out, r.estimated);
}

}  // namespace

// 6. One row per version, its id under `key` ("policy_hash" or "model_version").
json versions_json(const std::vector<VersionRow>& rows, const char* key) {
  json out = json::array();
  for (const auto& v : rows)
    out.push_back({{key, v.version},
                   {"first_ms", v.first_ms},
                   {"last_ms", v.last_ms},
                   {"predictions", v.predictions},
                   {"flagged", v.flagged},
                   {"flag_rate", opt(v.flag_rate)},
                   {"accuracy", accuracy_json(v.accuracy)}});
  return out;
}

nlohmann::json to_json(const Report& r) {
  json reasons = json::object();
  for (const auto& rc : r.flag_reasons) reasons[rc.reason] = {{"count", rc.count}, {"rate", opt(rc.rate)}};
  const auto& ta = r.turnaround;
  const json policies = versions_json(r.by_policy, "policy_hash"), models = versions_json(r.by_model, "model_version");
  const auto& c = r.cost;
  return {{"domain", r.domain},
          {"from_ms", bound(r.window.from_ms)},
          {"to_ms", bound(r.window.to_ms)},
          {"generated_ms", r.generated_ms},
          {"predictions", r.predictions},
          {"auto_approved", r.auto_approved},
          {"flagged", r.flagged},
          {"rejected", r.rejected},
          {"flag_rate", opt(r.flag_rate)},
          {"flag_reasons", reasons},
          {"turnaround",
           {{"completed", ta.completed},
            {"mean_s", opt(ta.mean_s)},
            {"p50_s", opt(ta.p50_s)},
            {"p95_s", opt(ta.p95_s)},
            {"max_s", opt(ta.max_s)},
            {"sla",
             {{"with_deadline", ta.sla.with_deadline},
              {"met", ta.sla.met},
              {"breached", ta.sla.breached},
              {"compliance", opt(ta.sla.compliance)},
              {"open_breached", ta.sla.open_breached}}}}},
          {"accuracy", accuracy_json(r.accuracy)},
          {"audit",
           {{"samples", r.audit.samples},
            {"model_right", r.audit.model_right},
            {"model_accuracy", opt(r.audit.model_accuracy)},
            {"ci95", r.audit.model_accuracy ? json::array({*r.audit.ci95_low, *r.audit.ci95_high}) : json(nullptr)}}},
          {"estimated_accuracy", estimates_json(r.estimated)},
          {"bias", r.bias ? bias_json(*r.bias) : json(nullptr)},
          {"cost",
           {{"reviews", c.reviews},
            {"reviewer_seconds", c.reviewer_seconds},
            {"reviewer_cost", c.reviewer_cost},
            {"system_cost", c.system_cost},
            {"corrections", c.corrections},
            {"cost_per_correction", opt(c.cost_per_correction)},
            {"reviews_without_start", c.reviews_without_start}}},
          {"by_policy", policies},
          {"by_model", models}};
}

// 6. The rows of versions_json as a table, the id cut to `width` characters.
Table versions_table(const std::vector<VersionRow>& rows, const std::string& heading, std::size_t width) {
  Table t;
  t.row({heading, "first", "last", "predictions", "flagged", "flag rate", "cases", "final acc", "model acc", "gain"});
  for (const auto& v : rows)
    t.row({v.version.substr(0, width), utc(v.first_ms), utc(v.last_ms), num(v.predictions), num(v.flagged),
           pct(v.flag_rate), num(v.accuracy.cases), pct(v.accuracy.final_accuracy), pct(v.accuracy.model_accuracy),
           points(v.accuracy.gain)});
  return t;
}

std::string to_table(const Report& r) {
  std::ostringstream out;
  out << "Report for domain " << r.domain << ": decisions created from " << utc(r.window.from_ms) << " to "
      << utc(r.window.to_ms) << " (generated " << utc(r.generated_ms) << ")\n\n";

  out << "Flag rate\n";
  Table flags;
  flags.row({"predictions", num(r.predictions), ""});
  flags.row({"auto approved", num(r.auto_approved), ""});
  flags.row({"flagged for review", num(r.flagged), pct(r.flag_rate)});
  flags.row({"rejected", num(r.rejected), ""});
  for (const auto& rc : r.flag_reasons) flags.row({"  reason " + rc.reason, num(rc.count), pct(rc.rate)});
  flags.print(out);

  const auto& ta = r.turnaround;
  out << "\nReview turnaround (completed tasks)\n";
  Table turn(false);
  turn.row({"completed", "mean", "p50", "p95", "max"});
  turn.row({num(ta.completed), secs(ta.mean_s), secs(ta.p50_s), secs(ta.p95_s), secs(ta.max_s)});
  turn.print(out);
  out << "  SLA\n";
  Table sla;
  sla.row({"completed with a deadline", num(ta.sla.with_deadline)});
  sla.row({"met", num(ta.sla.met)});
  sla.row({"breached", num(ta.sla.breached)});
  sla.row({"compliance", pct(ta.sla.compliance)});
  sla.row({"open tasks past deadline", num(ta.sla.open_breached)});
  sla.print(out, "    ");

  print_accuracy(out, r);

  out << "\nBias score drift";
  if (!r.bias) {
    out << ": no group attribute configured\n";
  } else {
    const auto& b = *r.bias;
    out << " by " << b.attribute << "\n  current window\n";
    bias_table(out, b.current);
    if (b.baseline && b.baseline_window) {
      out << "  baseline window " << utc(b.baseline_window->from_ms) << " to " << utc(b.baseline_window->to_ms) << "\n";
      bias_table(out, *b.baseline);
    }
    Table d;
    d.row({"disparity (max - min)", "current", "baseline", "drift"});
    d.row({"flag rate", points(b.current.flag_rate_disparity),
           b.baseline ? points(b.baseline->flag_rate_disparity) : "-", points(b.flag_rate_drift)});
    d.row({"model error rate", points(b.current.error_rate_disparity),
           b.baseline ? points(b.baseline->error_rate_disparity) : "-", points(b.error_rate_drift)});
    d.print(out);
  }

  const auto& c = r.cost;
  out << "\nCost per corrected prediction\n";
  Table cost;
  cost.row({"reviews", num(c.reviews)});
  cost.row({"reviewer time", fmt("%.1fs", c.reviewer_seconds)});
  cost.row({"reviews without a start time", num(c.reviews_without_start)});
  cost.row({"reviewer cost", money(c.reviewer_cost)});
  cost.row({"system cost", money(c.system_cost)});
  cost.row({"corrections", num(c.corrections)});
  cost.row({"cost per correction", money(c.cost_per_correction)});
  cost.print(out);

  out << "\nBy policy version\n";
  versions_table(r.by_policy, "policy", 12).print(out);
  out << "\nBy model version\n";
  versions_table(r.by_model, "model", 28).print(out);
  return out.str();
}

}  // namespace hitl::report
