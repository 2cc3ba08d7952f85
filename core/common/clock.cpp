#include "common/clock.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace hitl {
namespace {
std::atomic<std::int64_t> g_offset{0};
std::atomic<bool> g_frozen{false};
std::atomic<std::int64_t> g_frozen_ms{0};
}

std::int64_t now_ms() noexcept {
  using namespace std::chrono;
  if (g_frozen.load(std::memory_order_acquire)) return g_frozen_ms.load(std::memory_order_relaxed);
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() +
         g_offset.load(std::memory_order_relaxed);
}

void set_clock_offset_ms(std::int64_t offset) noexcept { g_offset.store(offset); }
std::int64_t clock_offset_ms() noexcept { return g_offset.load(); }

void freeze_clock_ms(std::optional<std::int64_t> ms) noexcept {
  if (ms) g_frozen_ms.store(*ms, std::memory_order_relaxed);
  g_frozen.store(ms.has_value(), std::memory_order_release);
}

std::optional<std::int64_t> parse_time_ms(std::string_view t) {
  if (t.empty()) return std::nullopt;
  if (t.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
    return v;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail[4] = {0};
  const std::string text(t);
  int used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10) return std::nullopt;
  if (text.size() > 10) {
    int n = std::sscanf(text.c_str() + 10, "T%2d:%2d:%2d%3s", &h, &mi, &s, tail);
    if (n == 2) {  // no seconds: "THH:MMZ"
      if (std::sscanf(text.c_str() + 10, "T%2d:%2d%3s", &h, &mi, tail) != 3) return std::nullopt;
      s = 0;
    } else if (n != 4) {
      return std::nullopt;
    }
    if (std::string(tail) != "Z") return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t secs = timegm(&tm);
  if (tm.tm_mday != d) return std::nullopt;  // 2026-02-31 normalised into March: refuse it
  return static_cast<std::int64_t>(secs) * 1000;
}

std::string format_time_ms(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace hitl
