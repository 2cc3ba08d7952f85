// GET /v1/domains/{d}/report/series?from&to&bucket (admin): the operating metrics per time step,
// for the console's charts, with the model and policy changes of the window as events.
#include "api/handlers.hpp"
#include "api/ui_routes.hpp"

#include "audit/audit_chain.hpp"
#include "common/clock.hpp"
#include "report/series.hpp"
#include "api/api_body.hpp"
#include "app/app.hpp"
#include "governance/report_service.hpp"
#include "governance/auth.hpp"
#include "policy/policy_engine.hpp"
#include "common/service_error.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace hitl::ui {
using nlohmann::json;
using service::ServiceError;

namespace {

constexpr std::int64_t kMinBucketMs = 60'000;
constexpr std::int64_t kDefaultSpanMs = 86'400'000;
constexpr std::size_t kDefaultBuckets = 48;
constexpr std::size_t kMaxEvents = 500;

std::string param(const http::Request& req, const char* name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

// "90", "90s", "15m", "1h", "1d": a whole number of seconds, minutes, hours or days.
std::optional<std::int64_t> parse_bucket_ms(std::string_view s) {
  static const std::pair<char, std::int64_t> kUnits[] = {{'s', 1000}, {'m', 60'000}, {'h', 3'600'000}, {'d', 86'400'000}};
  std::int64_t unit = 1000;
  if (!s.empty())
    for (auto [c, ms] : kUnits)
      if (s.back() == c) {
        unit = ms;
        s.remove_suffix(1);
        break;
      }
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || n <= 0 || n > 366 * 86'400'000LL / unit) return std::nullopt;
  return n * unit;
}

struct SeriesQuery {
  report::Window window;
  std::int64_t bucket_ms = 0;
};

SeriesQuery parse_query(const http::Request& req, std::int64_t now) {
  SeriesQuery q;
  q.window.to_ms = now + 1;  // the window's end is exclusive: "up to now" includes this millisecond
  for (auto [name, out] : {std::pair<const char*, std::int64_t*>{"from", &q.window.from_ms}, {"to", &q.window.to_ms}}) {
    const std::string v = param(req, name);
    if (v.empty()) continue;
    auto t = parse_time_ms(v);
    if (!t || *t <= 0)
      throw ServiceError(422, "invalid_field", std::string(name) + ": expected milliseconds since the epoch, "
                         "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got \"" + v + "\"", name);
    *out = *t;
  }
  if (!q.window.from_ms) q.window.from_ms = q.window.to_ms - kDefaultSpanMs;
  if (q.window.to_ms <= q.window.from_ms) throw ServiceError(422, "invalid_field", "to must be after from", "to");
  const std::int64_t span = q.window.to_ms - q.window.from_ms;
  if (const std::string b = param(req, "bucket"); !b.empty()) {
    auto ms = parse_bucket_ms(b);
    if (!ms || *ms < kMinBucketMs)
      throw ServiceError(422, "invalid_field", "bucket: expected a duration of at least 60s (90s, 15m, 1h, 1d), got \"" + b + "\"", "bucket");
    q.bucket_ms = *ms;
  } else {  // about 48 steps, in whole minutes
    q.bucket_ms = std::max<std::int64_t>(kMinBucketMs, (span / kDefaultBuckets + kMinBucketMs - 1) / kMinBucketMs * kMinBucketMs);
  }
  if ((span + q.bucket_ms - 1) / q.bucket_ms > static_cast<std::int64_t>(report::kMaxSeriesSteps))
    throw ServiceError(422, "invalid_field", "bucket: more than " + std::to_string(report::kMaxSeriesSteps) +
                       " buckets in the window: use a larger bucket", "bucket");
  return q;
}

bool marker(const sdk::AuditRecord& a) {
  return a.action == "model.promoted" || a.action == "model.rolled_back" || a.action == "policy.changed" ||
         a.action == "policy.loaded";
}

// The first page of the domain's audit records after `after_seq`.
std::vector<sdk::AuditRecord> audit_page(sdk::Storage& storage, const std::string& domain, std::int64_t after_seq,
                                         std::size_t limit) {
  sdk::AuditFilter f;
  f.domain = domain;
  f.after_seq = after_seq;
  f.limit = limit;
  std::vector<sdk::AuditRecord> out;
  if (auto st = storage.list_audit(f, out); !st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  return out;
}

// Model promotions / rollbacks and policy changes of the domain in the window. Records are in
// seq order with growing timestamps, so the window's first record is found by bisection on seq
// (a few reads), and only the window's records are read after it.
json events_of(sdk::Storage& storage, const std::string& domain, report::Window w) {
  std::int64_t lo = 0, hi = audit::chain_head(storage).seq;
  while (lo < hi) {  // the smallest after_seq whose next record is in or past the window
    const std::int64_t mid = lo + (hi - lo) / 2;
    auto page = audit_page(storage, domain, mid, 1);
    if (page.empty() || page[0].ts_ms >= w.from_ms) hi = mid;
    else lo = page[0].seq;
  }
  json events = json::array();
  for (std::int64_t after = lo;;) {
    auto page = audit_page(storage, domain, after, 1000);
    if (page.empty()) break;
    for (auto& a : page) {
      if (a.ts_ms >= w.to_ms) return events;
      if (marker(a) && events.size() < kMaxEvents) {
        auto detail = json::parse(a.detail_json, nullptr, false);
        if (!detail.is_object()) detail = json::object();
        std::string summary = a.action.rfind("policy.", 0) == 0 ? "policy " + detail.value("to", std::string()).substr(0, 12)
                                                            : "model " + a.entity_id;
        events.push_back({{"ts_ms", a.ts_ms}, {"action", a.action}, {"actor", a.actor}, {"summary", summary}});
      }
    }
    after = page.back().seq;
  }
  return events;
}


}  // namespace

void report_series(RouteCall& c) {
  service::App& app = c.app;
  const std::string domain = domain_of(app, c.params[0], c.who);
  const std::int64_t now = now_ms();
  const SeriesQuery q = parse_query(c.req, now);
  const auto& cfg = app.config().domains.at(domain);
  json body;
  try {
    body = report::to_json(report::build_series(app.report_storage(), domain, service::report_settings_of(cfg), q.window, q.bucket_ms, now));
  } catch (const std::invalid_argument& e) {
    throw ServiceError(422, "invalid_field", e.what(), "bucket");
  } catch (const std::exception& e) {
    throw ServiceError(503, "storage_unavailable", std::string("report series: ") + e.what());
  }
  body["events"] = events_of(app.report_storage(), domain, q.window);
  body["policy_hash"] = app.policies().policy_hash(domain);
  body["group_attribute"] = cfg.report_group;
  body["generated_ms"] = now;
  c.respond(service::reply(body));
}

}  // namespace hitl::ui
