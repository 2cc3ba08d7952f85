// Where replayed records come from: stored decisions of a window (paged, payload read once per
// page), a JSON Lines file, and the reviewers' measured handle time.
#include "replay/sources.hpp"

#include "report/paging.hpp"

#include <fstream>
#include <stdexcept>

namespace hitl::replay {
using nlohmann::json;

void replay_stored(sdk::Storage& storage, const std::string& domain, report::Window window, Replay& replay,
                   const Progress& progress) {
  auto filter = report::detail::window_filter(domain, window, /*with_payload=*/true, 1000);
  std::uint64_t seen = 0;
  report::detail::each_decision(storage, filter, [&](sdk::DecisionRecord& d) {
    if (d.erased_ms != 0) {
      replay.skip();  // the payload is gone: nothing to run a policy on
    } else {
      try {
        replay.add(record_of_decision(d));
      } catch (const std::exception&) {
        replay.skip();
      }
    }
    if (progress && ++seen % 1000 == 0) progress(seen);
  });
  if (progress) progress(seen);
}

std::uint64_t replay_file(const std::filesystem::path& file, Replay& replay, const Progress& progress) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot read");
  std::string line;
  std::uint64_t seen = 0, bad = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      replay.add(record_of_line(json::parse(line)));
    } catch (const std::exception&) {
      replay.skip();
      ++bad;
    }
    if (progress && ++seen % 1000 == 0) progress(seen);
  }
  if (progress) progress(seen);
  return bad;
}

std::optional<double> measured_handle_seconds(sdk::Storage& storage, const std::string& domain, report::Window window) {
  sdk::ReviewFilter rf;
  rf.domain = domain;
  rf.from_ms = window.from_ms;
  rf.to_ms = window.to_ms;
  double total_ms = 0;
  std::uint64_t n = 0;
  report::detail::each_review(storage, rf, [&](sdk::ReviewRecord& r) {
    if (r.started_ms <= 0 || r.created_ms < r.started_ms) return;  // no lease start recorded
    total_ms += static_cast<double>(r.created_ms - r.started_ms);
    ++n;
  });
  if (n == 0) return std::nullopt;
  return total_ms / static_cast<double>(n) / 1000.0;
}

}  // namespace hitl::replay
