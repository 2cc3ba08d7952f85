// The run as one self-contained HTML page: the closing table, then the time series as inline
// SVG line charts (flag rate, accuracy, AUC per model version, queue depth) and the JSON.
#include "simulate/simulate.hpp"

#include "common/html.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

namespace hitl::simulate {

namespace {

constexpr double kWidth = 680, kHeight = 180, kLeft = 48, kBottom = 24, kTop = 8;
constexpr const char* kColors[] = {"#3b6ea8", "#c2533d", "#4f9a5a", "#8a5ca8", "#b08a2e", "#4a9aa8"};

struct Line {
  std::string name;
  std::vector<std::pair<double, std::optional<double>>> points;  // (hours, value); none = a gap
};

struct Axis {
  double x_max = 1, y_min = 0, y_max = 1;
  bool percent = false;
};

std::string tick_label(double v, bool percent) {
  char buf[32];
  if (percent) std::snprintf(buf, sizeof buf, "%.0f%%", v * 100);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Polylines broken at gaps, so a version's AUC is drawn only where it was live.
void draw_line(std::ostringstream& o, const Line& l, const Axis& a, const char* color) {
  auto x = [&](double h) { return kLeft + h / a.x_max * (kWidth - kLeft - 8); };
  auto y = [&](double v) { return kTop + (1 - (v - a.y_min) / (a.y_max - a.y_min)) * (kHeight - kTop - kBottom); };
  std::string path;
  auto flush = [&] {
    if (!path.empty()) o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"" << path << "\"/>";
    path.clear();
  };
  for (auto& [h, v] : l.points) {
    if (!v) {
      flush();
      continue;
    }
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x(h), y(std::clamp(*v, a.y_min, a.y_max)));
    path += buf;
  }
  flush();
}

std::string chart(const std::string& title, const std::vector<Line>& lines, Axis a) {
  std::ostringstream o;
  o << "<h2>" << escape_html(title) << "</h2><svg class=\"chart\" width=\"" << kWidth << "\" height=\"" << kHeight << "\">";
  for (int i = 0; i <= 4; ++i) {
    const double v = a.y_min + (a.y_max - a.y_min) * i / 4;
    const double y = kTop + (1 - double(i) / 4) * (kHeight - kTop - kBottom);
    o << "<line x1=\"" << kLeft << "\" x2=\"" << kWidth - 8 << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" stroke=\"#ddd\"/><text x=\"2\" y=\"" << y + 4 << "\">" << tick_label(v, a.percent) << "</text>";
  }
  char hours[32];
  std::snprintf(hours, sizeof hours, "%.1f h", a.x_max);
  o << "<text x=\"" << kLeft << "\" y=\"" << kHeight - 4 << "\">0 h</text><text x=\"" << kWidth - 130 << "\" y=\""
    << kHeight - 4 << "\">" << hours << " (simulated)</text>";
  for (std::size_t i = 0; i < lines.size(); ++i) draw_line(o, lines[i], a, kColors[i % std::size(kColors)]);
  o << "</svg><p class=\"key\">";
  for (std::size_t i = 0; i < lines.size(); ++i)
    o << "<span style=\"background:" << kColors[i % std::size(kColors)] << "\"></span>" << escape_html(lines[i].name) << " ";
  o << "</p>";
  return o.str();
}

template <class F>
Line series_line(const Result& r, const std::string& name, F value) {
  Line l{name, {}};
  for (auto& p : r.series) l.points.emplace_back(p.hours, value(p));
  return l;
}

std::vector<Line> auc_lines(const Result& r) {
  std::vector<Line> lines;
  for (auto& v : r.versions)
    lines.push_back(series_line(r, v.model_version.empty() ? "(client)" : v.model_version, [&](const Point& p) {
      return p.model_version == v.model_version ? p.auc : std::nullopt;
    }));
  return lines;
}

}  // namespace

std::string to_html(const Result& r) {
  const double hours = std::max(r.series.empty() ? 1.0 : r.series.back().hours, 1e-3);
  double depth = 1;
  for (auto& p : r.series) depth = std::max(depth, double(p.queue_depth));
  std::ostringstream o;
  o << "<!doctype html><html><head><meta charset=\"utf-8\"><title>simulation " << escape_html(r.options.domain)
    << "</title><style>body{font:14px sans-serif;margin:2em;max-width:60em}pre{background:#f4f4f4;padding:1em;"
       "overflow:auto}.chart text{font:11px sans-serif;fill:#555}.key span{display:inline-block;width:1em;"
       "height:.6em;margin:0 .3em 0 1em}</style></head><body><h1>Simulation of "
    << escape_html(r.options.domain) << "</h1><pre>" << escape_html(to_text(r)) << "</pre>";
  o << chart("Flag rate", {series_line(r, "flag rate", [](const Point& p) { return std::optional(p.flag_rate); })},
             {hours, 0, 1, true});
  o << chart("Accuracy", {series_line(r, "system (auto + human)", [](const Point& p) { return std::optional(p.system_accuracy); }),
                          series_line(r, "model alone", [](const Point& p) { return std::optional(p.model_accuracy); })},
             {hours, 0.5, 1, true});
  o << chart("AUC per model version (\"" + r.positive + "\")", auc_lines(r), {hours, 0.5, 1, false});
  o << chart("Queue depth", {series_line(r, "tasks ready or leased", [](const Point& p) { return std::optional<double>(p.queue_depth); })},
             {hours, 0, depth, false});
  o << "<h2>Figures</h2><pre>" << escape_html(to_json(r).dump(2)) << "</pre></body></html>\n";
  return o.str();
}

}  // namespace hitl::simulate
