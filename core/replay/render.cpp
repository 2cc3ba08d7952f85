// The replay report as JSON, as a terminal table and as one self-contained HTML page (no script,
// no network: inline CSS and SVG). Every string from the data (ids, reasons, group values) is
// escaped in the page.
#include "replay/replay.hpp"

#include "common/html.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace hitl::replay {
using nlohmann::json;

namespace {

json rate(std::uint64_t n, std::uint64_t d) { return d ? json(static_cast<double>(n) / static_cast<double>(d)) : json(); }

json hours(const Side& s, const std::optional<double>& handle_seconds) {
  if (!handle_seconds) return json();
  return static_cast<double>(s.review) * *handle_seconds / 3600.0;
}

json side_json(const Side& s, const std::optional<double>& handle_seconds) {
  return {{"records", s.records},
          {"flagged", s.review + s.reject},
          {"review", s.review},
          {"reject", s.reject},
          {"flag_rate", rate(s.review + s.reject, s.records)},
          {"reasons", s.reasons},
          {"policy_errors", s.policy_errors},
          {"with_truth", s.with_truth},
          {"model_errors", s.model_errors},
          {"errors_caught", s.errors_caught},
          {"errors_missed", s.errors_missed},
          {"reviewer_hours", hours(s, handle_seconds)}};
}

struct ChangeRow {
  Route from, to;
  const Change* change;
};

// Routing changes with at least one record, the largest first.
std::vector<ChangeRow> change_rows(const Report& r) {
  std::vector<ChangeRow> rows;
  for (std::size_t a = 0; a < kRouteCount; ++a)
    for (std::size_t b = 0; b < kRouteCount; ++b)
      if (r.changes[a][b].count) rows.push_back({static_cast<Route>(a), static_cast<Route>(b), &r.changes[a][b]});
  std::stable_sort(rows.begin(), rows.end(), [](auto& x, auto& y) { return x.change->count > y.change->count; });
  return rows;
}

std::string percent(const json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v.get<double>() * 100.0);
  return buf;
}

std::string number(const json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  if (v.is_number_float())
    std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
  else
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v.get<std::uint64_t>()));
  return buf;
}

std::string row(const std::string& name, const std::string& a, const std::string& b) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-26s %12s %12s\n", name.c_str(), a.c_str(), b.c_str());
  return buf;
}

// Two horizontal bars per row (current, candidate), scaled to the largest value.
std::string bar_chart(const std::vector<std::pair<std::string, std::pair<double, double>>>& rows, bool as_percent) {
  double top = 0;
  for (auto& [_, v] : rows) top = std::max({top, v.first, v.second});
  if (top <= 0) top = 1;
  std::ostringstream o;
  const int h = 18, width = 420, label = 180;
  o << "<svg class=\"chart\" width=\"" << label + width + 80 << "\" height=\"" << rows.size() * (2 * h + 10) + 4
    << "\" role=\"img\">";
  int y = 2;
  for (auto& [name, v] : rows) {
    o << "<text x=\"0\" y=\"" << y + h + 4 << "\">" << escape_html(name) << "</text>";
    int k = 0;
    for (double x : {v.first, v.second}) {
      const int w = static_cast<int>(width * x / top);
      char text[32];
      std::snprintf(text, sizeof text, as_percent ? "%.1f%%" : "%.0f", as_percent ? x * 100 : x);
      o << "<rect class=\"" << (k ? "cand" : "curr") << "\" x=\"" << label << "\" y=\"" << y << "\" width=\"" << w
        << "\" height=\"" << h - 2 << "\"/><text x=\"" << label + w + 4 << "\" y=\"" << y + h - 5 << "\">" << text
        << "</text>";
      y += h;
      ++k;
    }
    y += 10;
  }
  o << "</svg>";
  return o.str();
}

}  // namespace

json to_json(const Report& r) {
  json changes = json::array();
  for (auto& c : change_rows(r))
    changes.push_back({{"from", route_name(c.from)}, {"to", route_name(c.to)}, {"count", c.change->count},
                       {"examples", c.change->examples}});
  json groups = json::array();
  for (auto& [name, sides] : r.groups)
    groups.push_back({{"group", name},
                      {"current", side_json(sides.first, r.handle_seconds)},
                      {"candidate", side_json(sides.second, r.handle_seconds)}});
  return {{"domain", r.domain},
          {"current_policy", r.current_name},
          {"candidate_policy", r.candidate_name},
          {"records", r.current.records},
          {"skipped", r.skipped},
          {"handle_seconds", r.handle_seconds ? json(*r.handle_seconds) : json()},
          {"current", side_json(r.current, r.handle_seconds)},
          {"candidate", side_json(r.candidate, r.handle_seconds)},
          {"routing_changes", changes},
          {"group_field", r.group_field},
          {"groups", groups}};
}

std::string to_text(const Report& r) {
  const json j = to_json(r);
  const json &a = j["current"], &b = j["candidate"];
  std::ostringstream o;
  o << "replay of " << r.candidate_name << " over " << r.current.records << " records of " << r.domain << " ("
    << r.skipped << " skipped)\n"
    << row("", "current", "candidate") << row("flag rate", percent(a["flag_rate"]), percent(b["flag_rate"]))
    << row("  review", number(a["review"]), number(b["review"])) << row("  reject", number(a["reject"]), number(b["reject"]))
    << row("model errors caught", number(a["errors_caught"]), number(b["errors_caught"]))
    << row("model errors missed", number(a["errors_missed"]), number(b["errors_missed"]))
    << "  (of " << r.current.model_errors << " model errors on " << r.current.with_truth << " records with a known truth)\n"
    << row("reviewer hours", number(a["reviewer_hours"]), number(b["reviewer_hours"]))
    << row("policy errors", number(a["policy_errors"]), number(b["policy_errors"])) << "flags by reason\n";
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> reasons;
  for (auto& [k, n] : r.current.reasons) reasons[k].first = n;
  for (auto& [k, n] : r.candidate.reasons) reasons[k].second = n;
  for (auto& [k, n] : reasons) o << row("  " + k, std::to_string(n.first), std::to_string(n.second));
  o << "routing changes\n";
  for (auto& c : change_rows(r)) {
    o << "  " << route_name(c.from) << " -> " << route_name(c.to) << ": " << c.change->count << "  e.g.";
    for (auto& id : c.change->examples) o << ' ' << id;
    o << '\n';
  }
  if (!r.group_field.empty()) o << "flag rate by " << r.group_field << "\n";
  for (auto& g : j["groups"])
    o << row("  " + g["group"].get<std::string>(), percent(g["current"]["flag_rate"]), percent(g["candidate"]["flag_rate"]));
  return o.str();
}

std::string to_html(const Report& r) {
  const json j = to_json(r);
  auto value = [](const json& v) { return v.is_null() ? 0.0 : v.get<double>(); };
  std::vector<std::pair<std::string, std::pair<double, double>>> flag{
      {"flag rate", {value(j["current"]["flag_rate"]), value(j["candidate"]["flag_rate"])}}};
  std::vector<std::pair<std::string, std::pair<double, double>>> errors{
      {"errors caught", {value(j["current"]["errors_caught"]), value(j["candidate"]["errors_caught"])}},
      {"errors missed", {value(j["current"]["errors_missed"]), value(j["candidate"]["errors_missed"])}}};
  std::map<std::string, std::pair<double, double>> reasons;
  for (auto& [k, n] : r.current.reasons) reasons[k].first = static_cast<double>(n);
  for (auto& [k, n] : r.candidate.reasons) reasons[k].second = static_cast<double>(n);
  std::vector<std::pair<std::string, std::pair<double, double>>> by_group;
  for (auto& g : j["groups"])
    by_group.push_back({g["group"].get<std::string>(), {value(g["current"]["flag_rate"]), value(g["candidate"]["flag_rate"])}});
  std::ostringstream o;
  o << "<!doctype html><html><head><meta charset=\"utf-8\"><title>replay " << escape_html(r.domain) << "</title><style>"
    << "body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
    << "td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}.curr{fill:#8a9bb0}.cand{fill:#d9822b}"
    << ".chart text{font-size:12px}.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}"
    << "</style></head><body><h1>Replay of " << escape_html(r.candidate_name) << "</h1><p>Domain "
    << escape_html(r.domain) << ", " << r.current.records << " records (" << r.skipped << " skipped), beside "
    << escape_html(r.current_name) << ".</p><p class=\"key\"><span style=\"background:#8a9bb0\"></span>current"
    << "<span style=\"background:#d9822b\"></span>candidate</p>"
    << "<h2>Flag rate</h2>" << bar_chart(flag, true) << "<h2>Model errors on records with a known truth</h2>"
    << bar_chart(errors, false) << "<h2>Flags by reason</h2>"
    << bar_chart({reasons.begin(), reasons.end()}, false) << "<h2>Routing changes</h2><table><tr><th>from</th><th>to</th>"
    << "<th>records</th><th>examples</th></tr>";
  for (auto& c : change_rows(r)) {
    o << "<tr><td>" << route_name(c.from) << "</td><td>" << route_name(c.to) << "</td><td>" << c.change->count << "</td><td>";
    for (auto& id : c.change->examples) o << escape_html(id) << ' ';
    o << "</td></tr>";
  }
  o << "</table>";
  if (!by_group.empty()) o << "<h2>Flag rate by " << escape_html(r.group_field) << "</h2>" << bar_chart(by_group, true);
  o << "<h2>Figures</h2><pre>" << escape_html(j.dump(2)) << "</pre></body></html>\n";
  return o.str();
}

}  // namespace hitl::replay
