#pragma once
// model-http configuration: parsed and validated once by the factory, immutable afterwards.
// No heavy headers here (nlohmann/json and Beast stay in the .cpp files).
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hitl::model_http {

enum class Protocol { json, kserve_v2 };

// http://host[:port][/path] split into what a request needs.
struct Endpoint {
  std::string host;    // as written, without IPv6 brackets
  std::string port;    // decimal, "80" when absent
  std::string target;  // request target: path (+ query), never empty
  std::string host_header;  // value of the Host header
  std::string display;      // the URL for messages
};

struct Config {
  Endpoint endpoint;
  Protocol protocol = Protocol::json;
  std::string model;
  std::vector<std::string> features;
  std::vector<std::string> classes;
  double missing_value = 0.0;
  std::string input_name = "input";  // kserve-v2 input tensor name
  std::string output_name;           // kserve-v2 output tensor to read; "" = the first one
  int timeout_ms = 2000;
  int retries = 2;
  int backoff_ms = 50;
  int breaker_failures = 5;  // 0 disables the breaker
  int breaker_cooldown_ms = 10000;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string version;  // what Model::version() returns
};

// The JSON array of {"name","type","default","description"} for PluginDescriptor::config_doc.
extern const char* const kConfigDoc;

// Parses the factory's config text; invalid_argument naming the key on any problem.
sdk::Status parse_config(const char* config_json, Config& out);

}  // namespace hitl::model_http
