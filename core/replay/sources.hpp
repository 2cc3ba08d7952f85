#pragma once
// The records a replay runs over, and the handle time its reviewer hours are projected from.
#include "replay/replay.hpp"

#include <hitl/plugin_api.hpp>

#include <filesystem>
#include <functional>
#include <optional>

namespace hitl::replay {

// Called with the number of records read so far (every 1000 and at the end), for a progress bar.
using Progress = std::function<void(std::uint64_t)>;

// The decisions of `domain` created in `window`, oldest first, each with its recorded routing.
// Erased payloads and unreadable records count as skipped.
void replay_stored(sdk::Storage& storage, const std::string& domain, report::Window window, Replay& replay,
                   const Progress& progress);
// One record per line: {id, input, prediction, meta, truth}. Returns how many lines were skipped.
std::uint64_t replay_file(const std::filesystem::path& file, Replay& replay, const Progress& progress);

// The mean time reviewers of `domain` spent on a review in `window` (lease start to answer), in
// seconds; none when no review recorded its start.
std::optional<double> measured_handle_seconds(sdk::Storage& storage, const std::string& domain, report::Window window);

}  // namespace hitl::replay
