// The strict Prometheus text-format checker itself (tests/support/prometheus_text.*): valid
// expositions pass, and every rule has a text that breaks it and is rejected naming the line.
#include "support/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

using hitl::testing::check_prometheus_text;
using hitl::testing::parse_samples;
using hitl::testing::series_key;

namespace {

// The checker finds a problem on line `line` whose message contains `fragment`.
void require_rejected(const std::string& text, int line, const std::string& fragment) {
  const auto problems = check_prometheus_text(text);
  INFO("text:\n" << text);
  CAPTURE(problems);
  const std::string prefix = "line " + std::to_string(line) + ": ";
  bool found = false;
  for (auto& p : problems)
    if (p.rfind(prefix, 0) == 0 && p.find(fragment) != std::string::npos) found = true;
  REQUIRE(found);
}

void require_valid(const std::string& text) {
  const auto problems = check_prometheus_text(text);
  INFO("text:\n" << text);
  CAPTURE(problems);
  REQUIRE(problems.empty());
}

}  // namespace

// Valid texts, also used by test_metrics.cpp to cross-check the checker against promtool.
extern const std::vector<std::string> kValidExpositions;
const std::vector<std::string> kValidExpositions = {
    // counter and gauge with HELP and TYPE, a label-less series
    "# HELP http_requests_total Requests handled.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{method=\"post\",code=\"200\"} 1027\n"
    "http_requests_total{method=\"post\",code=\"400\"} 3\n"
    "# HELP temperature_celsius Current temperature.\n"
    "# TYPE temperature_celsius gauge\n"
    "temperature_celsius -3.5\n",
    // a histogram with two label sets
    "# HELP request_duration_seconds Request latency.\n"
    "# TYPE request_duration_seconds histogram\n"
    "request_duration_seconds_bucket{path=\"/a\",le=\"0.05\"} 24054\n"
    "request_duration_seconds_bucket{path=\"/a\",le=\"0.1\"} 33444\n"
    "request_duration_seconds_bucket{path=\"/a\",le=\"1\"} 100392\n"
    "request_duration_seconds_bucket{path=\"/a\",le=\"+Inf\"} 144320\n"
    "request_duration_seconds_sum{path=\"/a\"} 53423\n"
    "request_duration_seconds_count{path=\"/a\"} 144320\n"
    "request_duration_seconds_bucket{path=\"/b\",le=\"0.05\"} 0\n"
    "request_duration_seconds_bucket{path=\"/b\",le=\"+Inf\"} 0\n"
    "request_duration_seconds_sum{path=\"/b\"} 0\n"
    "request_duration_seconds_count{path=\"/b\"} 0\n",
    // escapes in label values and HELP text, special float values, timestamps, exponents
    "# HELP weird_values A gauge with odd values; HELP escapes: \\\\ and \\n.\n"
    "# TYPE weird_values gauge\n"
    "weird_values{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
    "weird_values{case=\"plus_inf\"} +Inf\n"
    "weird_values{case=\"minus_inf\"} -Inf\n"
    "weird_values{case=\"nan\"} NaN\n"
    "weird_values{case=\"inf\"} Inf\n"
    "weird_values{case=\"exp\"} -1.5E-3 1395066363000\n"
    "weird_values{case=\"dot\"} .5 -1\n"
    "weird_values{case=\"utf8 \xc3\xa9\xe2\x82\xac\"} 1.\n",
    // untyped samples without HELP or TYPE, comments, blank lines, blanks and tabs between tokens,
    // a trailing comma and an empty label set
    "# just a comment\n"
    "\n"
    "#no blank after the hash: also a comment\n"
    "metric_without_timestamp_and_labels 12.47\n"
    "  spaced_metric\t{ a = \"1\" , b=\"2\", }\t 7\n"
    "   \t\n"
    "  # an indented comment\n"
    "empty_labels{} 3\n"
    "colon:name:ok 4\n"
    "# TYPE explicit_untyped untyped\n"
    "explicit_untyped 5\n",
    // a summary
    "# HELP rpc_duration_seconds RPC latency.\n"
    "# TYPE rpc_duration_seconds summary\n"
    "rpc_duration_seconds{quantile=\"0.01\"} 3102\n"
    "rpc_duration_seconds{quantile=\"0.5\"} 4773\n"
    "rpc_duration_seconds{quantile=\"0.99\"} 76656\n"
    "rpc_duration_seconds_sum 1.7560473e+07\n"
    "rpc_duration_seconds_count 2693\n",
    // HELP after the family's samples, TYPE without HELP, a family with no samples
    "# TYPE late_help_total counter\n"
    "late_help_total 0\n"
    "# HELP late_help_total Documented after its sample.\n"
    "# HELP never_sampled A family with no samples.\n"
    "# TYPE never_sampled gauge\n",
};

TEST_CASE("checker: valid expositions have no problems", "[prometheus_text]") {
  for (auto& text : kValidExpositions) require_valid(text);
  require_valid("");  // nothing exposed at all
}

TEST_CASE("checker: parse_samples keys series canonically and reads values", "[prometheus_text]") {
  auto s = parse_samples(kValidExpositions[0] + kValidExpositions[2]);
  CHECK(s.at(R"(http_requests_total{code="200",method="post"})") == 1027);
  CHECK(s.at("temperature_celsius") == -3.5);
  CHECK(s.at(R"(weird_values{error="Cannot find file:\n\"FILE.TXT\"",path="C:\\DIR\\FILE.TXT"})") == 1.458255915e9);
  CHECK(std::isinf(s.at(R"(weird_values{case="plus_inf"})")));
  CHECK(s.at(R"(weird_values{case="minus_inf"})") < 0);
  CHECK(std::isnan(s.at(R"(weird_values{case="nan"})")));
  CHECK(s.at(R"(weird_values{case="exp"})") == -1.5e-3);
  CHECK(s.at(R"(weird_values{case="dot"})") == 0.5);
  CHECK(series_key("m", {{"b", "y"}, {"a", "x\"\\\n"}}) == R"(m{a="x\"\\\n",b="y"})");
  CHECK(series_key("m", {}) == "m");
  // Malformed lines are skipped, not guessed at.
  auto t = parse_samples("good 1\nbad{a=x} 2\nalso_bad 0x10\n");
  CHECK(t.size() == 1);
  CHECK(t.at("good") == 1);
}

TEST_CASE("checker: line syntax", "[prometheus_text]") {
  require_rejected("ok 1\n!!! 1\n", 2, "expected a metric name");
  require_rejected("# HELP\n", 1, "without a metric name");
  require_rejected("# TYPE\n", 1, "without a metric name");
  require_rejected("# TYPE m\n", 1, "without a type");
  require_rejected("# TYPE m_total counter extra\n", 1, "unexpected text after the type");
  require_rejected("# TYPE m Counter\nm 1\n", 1, "unknown type");
  require_rejected("# TYPE m histogramm\n", 1, "unknown type");
  require_rejected("# HELP m bad escape \\t here\n", 1, "invalid escape");
  require_rejected("m\n", 1, "no value");
  require_rejected("m{a=\"1\"}\n", 1, "no value");
  require_rejected("m 1 2 3\n", 1, "unexpected text after the timestamp");
  require_rejected("m 1 1.5\n", 1, "timestamp");
  require_rejected("m 1 \n", 1, "trailing blank after the value");
  require_rejected("m 1\t\n", 1, "trailing blank after the value");
  require_rejected("m 1 5 \n", 1, "unexpected text after the timestamp");
  require_rejected("# TYPE m_total counter \nm_total 1\n", 1, "unexpected text after the type");
  require_rejected("#HELP m a\n#  HELP m b\nm 1\n", 2, "second HELP");  // "#HELP" is HELP for Prometheus
  require_rejected("m 1 99999999999999999999\n", 1, "timestamp");
}

TEST_CASE("checker: metric and label names", "[prometheus_text]") {
  require_rejected("1abc 1\n", 1, "invalid metric name");
  require_rejected("my-metric 1\n", 1, "invalid character '-'");
  require_rejected("# TYPE my-metric gauge\n", 1, "invalid metric name");
  require_rejected("# HELP 9lives x\n", 1, "invalid metric name");
  require_rejected("m{1a=\"x\"} 1\n", 1, "invalid label name");
  require_rejected("m{a-b=\"x\"} 1\n", 1, "expected '='");
  require_rejected("m{a:b=\"x\"} 1\n", 1, "expected '='");  // ':' is for metric names only
  require_rejected("m{__name__=\"x\"} 1\n", 1, "reserved");
  require_rejected("m{__x=\"x\"} 1\n", 1, "reserved");
  require_rejected("m{a=\"1\",a=\"2\"} 1\n", 1, "repeated");
  require_rejected("m{,} 1\n", 1, "expected a label name");
}

TEST_CASE("checker: label values", "[prometheus_text]") {
  require_rejected("m{a=x} 1\n", 1, "double-quoted");
  require_rejected("m{a='x'} 1\n", 1, "double-quoted");
  require_rejected("m{a=\"x\\t\"} 1\n", 1, "invalid escape");
  require_rejected("m{a=\"x\\\"} 1\n", 1, "unterminated label value");
  require_rejected("m{a=\"x\" 1\n", 1, "expected ',' or '}'");
  require_rejected("m{a=\"x\", 1\n", 1, "invalid label name");
  require_rejected("m{a=\"\xff\"} 1\n", 1, "UTF-8");
  require_rejected("m{a=\"\xc0\xaf\"} 1\n", 1, "UTF-8");  // overlong '/'
  require_rejected("m{a=\"x\"\n", 1, "unterminated label set");
}

TEST_CASE("checker: values are Go floats", "[prometheus_text]") {
  for (const char* bad : {"1,5", "0x10", "0x1p3", "1_000", "1e400", "+NaN", "-nan", "infinit", "abc", "1e", ".", "--1",
                          "1.2.3", "1\r"}) {
    INFO(bad);
    require_rejected(std::string("m ") + bad + "\n", 1, "is not a float");
  }
  require_valid("a 1e-400\nb INFINITY\nc -infinity\nd nan\ne +5\nf 1.e5\n");
}

TEST_CASE("checker: HELP and TYPE once per family, TYPE first", "[prometheus_text]") {
  require_rejected("# HELP m a\n# HELP m b\nm 1\n", 2, "second HELP");
  require_rejected("# TYPE m gauge\n# TYPE m gauge\nm 1\n", 2, "second TYPE");
  require_rejected("m 1\n# TYPE m gauge\n", 2, "after its first sample (line 1)");
  // h_bucket before TYPE h is an untyped family of its own, so TYPE h comes after another family.
  require_rejected("# HELP h x\nh_bucket{le=\"+Inf\"} 1\n# TYPE h histogram\n", 3, "not contiguous");
}

TEST_CASE("checker: families are contiguous", "[prometheus_text]") {
  require_rejected("# TYPE a gauge\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 2\n", 5, "not contiguous");
  require_rejected("a 1\nb 1\n# HELP a late\n", 3, "not contiguous");
  require_rejected(
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nother 1\nh_sum 1\n", 5, "not contiguous");
  // Comments and blank lines inside a family do not split it.
  require_valid("# TYPE a gauge\na{x=\"1\"} 1\n# a comment\n\na{x=\"2\"} 2\n");
}

TEST_CASE("checker: no duplicate series", "[prometheus_text]") {
  require_rejected("m 1\nm 2\n", 2, "duplicate series m (first at line 1)");
  require_rejected("m{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 2\n", 2, "duplicate series");
  require_rejected("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                   3, "not above the previous");
}

TEST_CASE("checker: counters", "[prometheus_text]") {
  require_rejected("# TYPE requests counter\nrequests 1\n", 1, "must be named *_total");
  require_rejected("# TYPE requests_total counter\nrequests_total -1\n", 2, "must be >= 0");
  require_rejected("# TYPE requests_total counter\nrequests_total NaN\n", 2, "must be >= 0");
  require_rejected("# TYPE requests_total counter\nrequests_total{a=\"x\"} 0\nrequests_total{a=\"y\"} -Inf\n", 3, "must be >= 0");
  require_valid("# TYPE requests_total counter\nrequests_total 0\nrequests_total{a=\"x\"} +Inf\n");
}

TEST_CASE("checker: histograms", "[prometheus_text]") {
  const std::string head = "# HELP h Latency.\n# TYPE h histogram\n";
  // bucket without le
  require_rejected(head + "h_bucket 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", 3, "no le label");
  // le not a float
  require_rejected(head + "h_bucket{le=\"fast\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", 3, "is not a float");
  // not cumulative
  require_rejected(head + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 4\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 5\n", 4,
                   "buckets are cumulative");
  // le decreasing
  require_rejected(head + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", 4,
                   "increasing le order");
  // +Inf not last
  require_rejected(head + "h_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", 4, "increasing le order");
  // no +Inf bucket (reported at the label set's first line)
  require_rejected(head + "h_bucket{a=\"x\",le=\"1\"} 1\nh_sum{a=\"x\"} 1\nh_count{a=\"x\"} 1\n", 3, "no le=\"+Inf\" bucket");
  // _count differs from +Inf
  require_rejected(head + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", 6, "differs from its le=\"+Inf\"");
  // no _count, no _sum
  require_rejected(head + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\n", 3, "has no h_count");
  require_rejected(head + "h_bucket{le=\"+Inf\"} 2\nh_count 2\n", 3, "has no h_sum");
  // one label set is fine, the other misses its +Inf bucket
  require_rejected(head +
                       "h_bucket{a=\"x\",le=\"+Inf\"} 2\nh_sum{a=\"x\"} 1\nh_count{a=\"x\"} 2\n"
                       "h_bucket{a=\"y\",le=\"1\"} 2\nh_sum{a=\"y\"} 1\nh_count{a=\"y\"} 2\n",
                   6, "h{a=\"y\"} has no le=\"+Inf\"");
  // a bare sample in a histogram family; negative counts
  require_rejected(head + "h 1\n", 3, "must be h_bucket, h_sum or h_count");
  require_rejected(head + "h_bucket{le=\"+Inf\"} -1\nh_sum 1\nh_count -1\n", 3, "must be >= 0");
}

TEST_CASE("checker: summaries", "[prometheus_text]") {
  require_rejected("# TYPE s summary\ns 1\ns_sum 1\ns_count 1\n", 2, "no quantile label");
  require_rejected("# TYPE s summary\ns{quantile=\"2\"} 1\ns_sum 1\ns_count 1\n", 2, "not a float in [0, 1]");
}

TEST_CASE("checker: the text ends with a newline", "[prometheus_text]") {
  require_rejected("a 1\nb 2", 2, "does not end with a newline");
  require_rejected("# HELP a x", 1, "does not end with a newline");
}
