#pragma once
// Gold tasks: quality control with known answers, mixed into a domain's review queue.
//
// A domain's golden set is a JSON Lines file (config domains.<d>.gold_file), one case per line:
//   {"input": {...}, "prediction": {"label": "good", "confidence": 0.71}, "label": "bad",
//    "reason": "low_confidence"}
// `label` is the known answer; `prediction` is what the reviewer is shown as the model's answer
// (so a gold case can test whether reviewers catch a wrong model); `reason` is optional (by default
// the gold task takes the reason of the real task it arrives with). `meta` is optional too.
//
// When the policy's gold_rate is r, each new review task brings one gold task with it with
// chance r, picked at random from the set. It copies the real task's priority, deadline, skills
// and pool so its place in the queue gives nothing away, gets a fresh random decision id, and is
// answered once. Its answer scores the reviewer (gold accuracy) and is never a decision, feedback,
// webhook or report figure (see review/review.cpp and report/load.cpp).
#include <hitl/plugin_api.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace hitl::service {

struct GoldCase {
  nlohmann::json input;  // object
  nlohmann::json meta;   // object
  sdk::Prediction prediction;
  std::string label;   // the known answer
  std::string reason;  // "" = the real task's reason
  std::size_t line = 0;
};

struct GoldSet {
  std::filesystem::path file;
  std::vector<GoldCase> cases;
  bool empty() const { return cases.empty(); }
};

// Reads and checks a golden set: every line an object with an `input` object, a `prediction`
// with a label of the domain and a confidence in 0..1, and a `label` of the domain. Blank lines
// and lines starting with '#' are skipped. Throws std::runtime_error "<file>:<line>: <what>".
GoldSet load_gold_set(const std::filesystem::path& file, const std::vector<std::string>& labels);

// True with chance `rate` (thread-safe; each thread has its own generator).
// Seeds the calling thread's generator (`hitl simulate --seed`: the same gold draws and gold ids
// on every run); otherwise each thread starts from std::random_device.
void seed_generator(std::uint64_t seed);
bool draw(double rate);
// A uniformly random index below n (n > 0).
std::size_t pick(std::size_t n);
// A random UUID (version 4) string: gold decisions' ids look like any client's UUID ids.
std::string random_uuid();

}  // namespace hitl::service
