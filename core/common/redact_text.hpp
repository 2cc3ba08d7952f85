#pragma once
// Replacing known sensitive values inside free text (error messages, comments): shared by the
// policy engine (a Lua error may quote an input value) and the service's Redactor.
#include <string>
#include <vector>

namespace hitl {

inline constexpr const char* kRedactedMark = "[redacted]";

// `text` with every occurrence of each non-empty value replaced by "[redacted]". Pass the values
// longest first so that a value containing another is replaced whole.
std::string redact_values(std::string text, const std::vector<std::string>& values);

}  // namespace hitl
