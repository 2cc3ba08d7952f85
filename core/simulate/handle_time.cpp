#include "simulate/handle_time.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace hitl::simulate {

namespace {

constexpr double kMaxSeconds = 24 * 3600.0;

double parse_number(std::string_view text, std::string_view what) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v))
    throw std::invalid_argument("--handle-time: " + std::string(what) + " \"" + std::string(text) + "\" is not a number");
  return v;
}

// "45s", "2m", "1.5h", "30" (seconds).
double parse_duration(std::string_view text) {
  double unit = 1;
  if (!text.empty() && (text.back() == 's' || text.back() == 'm' || text.back() == 'h')) {
    unit = text.back() == 'h' ? 3600 : text.back() == 'm' ? 60 : 1;
    text.remove_suffix(1);
  }
  const double s = parse_number(text, "duration") * unit;
  if (!(s > 0) || s > kMaxSeconds) throw std::invalid_argument("--handle-time: a duration must be in (0, 24h]");
  return s;
}

}  // namespace

HandleTime parse_handle_time(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos)
    throw std::invalid_argument("--handle-time: expected KIND:DURATION[,SIGMA] (fixed:30s, lognormal:45s,0.5, exponential:40s)");
  const std::string_view kind = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  HandleTime h;
  if (kind == "lognormal") {
    const auto comma = rest.find(',');
    if (comma == std::string_view::npos) throw std::invalid_argument("--handle-time: lognormal needs MEDIAN,SIGMA");
    h.sigma = parse_number(rest.substr(comma + 1), "sigma");
    if (h.sigma < 0 || h.sigma > 3) throw std::invalid_argument("--handle-time: sigma must be in [0, 3]");
    rest = rest.substr(0, comma);
    h.kind = HandleTime::Kind::lognormal;
  } else if (kind == "fixed" || kind == "exponential") {
    h.kind = kind == "fixed" ? HandleTime::Kind::fixed : HandleTime::Kind::exponential;
    h.sigma = 0;
  } else {
    throw std::invalid_argument("--handle-time: unknown kind \"" + std::string(kind) + "\" (fixed, lognormal, exponential)");
  }
  h.seconds = parse_duration(rest);
  return h;
}

std::string to_string(const HandleTime& h) {
  char buf[64];
  switch (h.kind) {
    case HandleTime::Kind::fixed: std::snprintf(buf, sizeof buf, "fixed:%gs", h.seconds); break;
    case HandleTime::Kind::exponential: std::snprintf(buf, sizeof buf, "exponential:%gs", h.seconds); break;
    case HandleTime::Kind::lognormal: std::snprintf(buf, sizeof buf, "lognormal:%gs,%g", h.seconds, h.sigma); break;
  }
  return buf;
}

std::int64_t draw_ms(const HandleTime& h, std::mt19937_64& rng) {
  double s = h.seconds;
  if (h.kind == HandleTime::Kind::lognormal)
    s = std::lognormal_distribution<double>(std::log(h.seconds), h.sigma)(rng);
  else if (h.kind == HandleTime::Kind::exponential)
    s = std::exponential_distribution<double>(1.0 / h.seconds)(rng);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::min(s, kMaxSeconds) * 1000.0));
}

}  // namespace hitl::simulate
