#pragma once
// JSON text written straight into a string, for the texts stored with every ingested decision
// (its prediction and its decision.created audit detail): building an nlohmann tree for each and
// dumping it was ~5 % of `hitl ingest`'s CPU (docs/performance.md). What it writes parses to what
// the tree would have dumped: keys in the order written (callers write them in the tree's sorted
// order, so the bytes match too), numbers as the shortest text that reads back as the same double
// (non-finite ones as null, as nlohmann writes them), strings escaped as JSON requires, with each
// invalid UTF-8 byte replaced by U+FFFD (where a tree's dump would throw).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hitl {

class JsonText {
 public:
  JsonText& begin_object();
  JsonText& end_object();
  JsonText& begin_array();
  JsonText& end_array();
  JsonText& key(std::string_view k);
  JsonText& value(std::string_view s);
  JsonText& value(const std::string& s) { return value(std::string_view(s)); }
  JsonText& value(const char* s) { return value(std::string_view(s)); }
  JsonText& value(double x);
  JsonText& value(std::int64_t x);
  JsonText& value(bool b);
  // Text that is already one JSON value (e.g. a tree's dump), written as it is.
  JsonText& raw(std::string_view json);
  template <class T>
  JsonText& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  // The text written so far; the writer is empty afterwards.
  std::string take();

 private:
  void before_value();
  void string(std::string_view s);
  JsonText& open(char bracket);   // { or [ as a value
  JsonText& close(char bracket);  // } or ]

  std::string out_;
  std::vector<char> first_;  // per open object or array: no element written yet
  bool after_key_ = false;
};

}  // namespace hitl
