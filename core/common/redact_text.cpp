#include "common/redact_text.hpp"

namespace hitl {

std::string redact_values(std::string text, const std::vector<std::string>& values) {
  static const std::string mark = kRedactedMark;
  for (const auto& v : values) {
    if (v.empty()) continue;
    for (auto pos = text.find(v); pos != std::string::npos; pos = text.find(v, pos + mark.size()))
      text.replace(pos, v.size(), mark);
  }
  return text;
}

}  // namespace hitl
