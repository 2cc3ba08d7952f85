#pragma once
// A strict checker for the Prometheus text exposition format, version 0.0.4, for tests: what
// `GET /metrics` serves must be accepted by Prometheus (and by `promtool check metrics`).
//
// Written as a small hand-made parser, independent of the code that renders metrics, so a bug in
// the renderer cannot hide itself in the checker.
#include <map>
#include <string>
#include <vector>

namespace hitl::testing {

// Every problem found, each starting with "line N: " (1-based); empty means valid. Checks:
// - each line is blank, "# HELP name docstring", "# TYPE name counter|gauge|histogram|summary|
//   untyped", another "#" comment, or a sample "name[{labels}] value [timestamp]"; tokens are
//   separated by blanks or tabs, but (as Prometheus's parser requires) nothing may follow the
//   type, the value or the timestamp, not even a blank; "#HELP" counts as HELP, as in Prometheus;
//   a HELP or TYPE line without a name is an error (Prometheus would take it for a comment);
// - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting with
//   "__" and not repeated in one sample; label values double-quoted, UTF-8, escapes only \\ \" \n;
//   HELP text escapes only \\ \n;
// - values parse as Go floats (as Prometheus's parser reads them: decimal, Inf/+Inf/-Inf/NaN, no
//   hex, no underscores), timestamps as int64 milliseconds;
// - per family: at most one HELP and one TYPE, TYPE before the first sample, all of its lines
//   contiguous; no duplicate series (name + label set);
// - counters: family name ends in _total, values >= 0;
// - histograms: only name_bucket (with a float "le" label), name_sum, name_count; per label set
//   the buckets in increasing le order with non-decreasing counts, a le="+Inf" bucket, _count
//   equal to it, and a _sum;
// - summaries: name{quantile=...} samples, name_sum, name_count;
// - the text ends with a newline.
std::vector<std::string> check_prometheus_text(const std::string& text);

// Value of every well-formed sample line (malformed lines are skipped), keyed canonically:
// `name` without labels, else `name{a="x",b="y"}` with labels sorted by name and values escaped
// as in the format (\\, \", \n). Timestamps are dropped.
std::map<std::string, double> parse_samples(const std::string& text);

// The canonical key parse_samples uses, for tests building expected keys:
// series_key("m", {{"b","y"},{"a","x"}}) == R"(m{a="x",b="y"})".
std::string series_key(const std::string& name, std::map<std::string, std::string> labels);

}  // namespace hitl::testing
