#pragma once
// The nesting depth of JSON text, measured without parsing it: a flat scan with no recursion
// and no allocation, so a hostile document 60,000 levels deep is refused before any parser or
// recursive copy sees it. Every JSON a client sends goes through this first (data/json_input.hpp).
#include <cstddef>
#include <string_view>

namespace hitl {

// The deepest nesting of arrays and objects in `text` (0 for a scalar), counting only brackets
// outside strings. Stops scanning and returns a value above `limit` as soon as the depth passes
// `limit`. Malformed text gets a meaningless but finite answer; the parser refuses it next.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit) noexcept;

}  // namespace hitl
