#pragma once
// PII redaction: the fields a domain marks `sensitive` are masked wherever a person or a file
// outside the audit path sees a payload: the reviewer's view of a task or decision, exports and
// log lines. Admins and the client that sent the record see it whole (they own it).
//
// A field is named as in the config: "Income" is input.Income, "meta.email" is meta.email.
// Masking replaces the value with the string "[redacted]" (the key stays, so a reviewer knows
// the field exists and was hidden on purpose) and drops the prediction's contributions for that
// field (a contribution is value * weight and would give the value away).
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace hitl::service {

inline constexpr const char* kRedacted = "[redacted]";  // = hitl::kRedactedMark

class Redactor {
 public:
  Redactor() = default;
  explicit Redactor(const std::vector<std::string>& sensitive);

  bool empty() const { return input_fields_.empty() && meta_fields_.empty(); }
  // Each masks in place; non-objects are left alone.
  void input(nlohmann::json& input) const;
  void meta(nlohmann::json& meta) const;
  void prediction(nlohmann::json& prediction) const;  // its "contributions" object
  // The sensitive values of one record as strings (numbers as JSON renders them), longest first,
  // for scrub(): a policy error message may quote a value ("income 52000 too low").
  std::vector<std::string> values(const nlohmann::json& input, const nlohmann::json& meta) const;
  // `text` with every occurrence of each value replaced by "[redacted]".
  static std::string scrub(std::string text, const std::vector<std::string>& values);

 private:
  std::vector<std::string> input_fields_;
  std::vector<std::string> meta_fields_;
};

}  // namespace hitl::service
