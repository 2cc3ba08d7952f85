// model-logreg: text columns as hashed words (the "hashing trick"): no vocabulary to store, a
// fixed number of slots whatever the text, and words never seen in training land in slots the
// weights already cover.
#include "logreg.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace hitl::logreg {

namespace {

constexpr std::size_t kMinTokenChars = 2;
// A text longer than this is cut: a field is bounded by the service's limits anyway, and the
// first 64 KiB say what the text is about.
constexpr std::size_t kMaxTextBytes = 64 * 1024;

// FNV-1a 32-bit, continued from `h`: cheap, stable across builds and platforms (the artifact
// depends on it).
std::uint32_t fnv1a(std::string_view s, std::uint32_t h = 2166136261u) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

bool word_char(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (word.size() >= kMinTokenChars) words.push_back(word);
    word.clear();
  };
  for (unsigned char c : text.substr(0, kMaxTextBytes)) {
    if (word_char(c)) word.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    else flush();
  }
  flush();
  return words;
}

}  // namespace

void hash_text(std::string_view text, std::uint32_t buckets, std::uint32_t first_slot, SparseRow& out) {
  if (buckets == 0) return;
  const std::vector<std::string> words = words_of(text);
  std::map<std::uint32_t, double> counts;  // ordered: the row's slots come out sorted
  for (std::size_t i = 0; i < words.size(); ++i) {
    counts[fnv1a(words[i]) % buckets] += 1.0;
    if (i + 1 < words.size()) counts[fnv1a(words[i + 1], fnv1a(words[i] + " ")) % buckets] += 1.0;
  }
  double norm = 0.0;
  for (const auto& [slot, n] : counts) norm += n * n;
  if (norm == 0.0) return;
  norm = std::sqrt(norm);
  for (const auto& [slot, n] : counts) out.emplace_back(first_slot + slot, n / norm);
}

}  // namespace hitl::logreg
