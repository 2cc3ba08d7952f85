// model-http: config parsing and validation. Every error names the offending key.
#include "config.hpp"

#include <hitl/json_config.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace hitl::model_http {

using nlohmann::json;
using sdk::Code;
using sdk::Status;

const char* const kConfigDoc = R"json([
  {"name":"url","type":"string","default":null,"description":"required; http://host[:port][/path] of the model server (https is not supported: put a TLS sidecar or proxy on localhost)"},
  {"name":"protocol","type":"string","default":"json","description":"json: POST {url} with {\"instances\":[...]}; kserve-v2: POST {url}/v2/models/{model}/infer (url used as-is when it ends with /infer) with one FP64 tensor of shape [n, len(features)]"},
  {"name":"model","type":"string","default":null,"description":"model name on the server; required for kserve-v2 unless url ends with /infer"},
  {"name":"features","type":"array of strings","default":[],"description":"record fields sent, in this order; required for kserve-v2 (tensor columns); for json, empty = send whole records"},
  {"name":"classes","type":"array of strings","default":[],"description":"kserve-v2: required, names of the output tensor's columns; json: when set, predicted labels must be one of them"},
  {"name":"missing_value","type":"number","default":0,"description":"kserve-v2: value sent for a missing (absent, null, empty or NaN) feature"},
  {"name":"input_name","type":"string","default":"input","description":"kserve-v2: name of the input tensor"},
  {"name":"output_name","type":"string","default":null,"description":"kserve-v2: name of the output tensor holding class probabilities; absent = the first output"},
  {"name":"timeout_ms","type":"integer","default":2000,"description":"per attempt: connect + write + read, 1..600000"},
  {"name":"retries","type":"integer","default":2,"description":"extra attempts after a connection error, timeout or HTTP 5xx (never after 4xx), 0..10"},
  {"name":"backoff_ms","type":"integer","default":50,"description":"wait before retry r (1-based): backoff_ms * 2^(r-1), 0..60000"},
  {"name":"breaker_failures","type":"integer","default":5,"description":"consecutive failed predict calls that open the circuit breaker; 0 = no breaker"},
  {"name":"breaker_cooldown_ms","type":"integer","default":10000,"description":"how long an open breaker fails calls fast before one trial call is let through, 1..3600000"},
  {"name":"headers","type":"object of strings","default":{},"description":"extra request headers, e.g. {\"Authorization\": \"Bearer ...\"} (take secrets from the environment in the service config)"},
  {"name":"version","type":"string","default":null,"description":"what version() reports (recorded with each decision); absent = \"http-\" + model (or the url when there is no model)"}
])json";

namespace {

Status invalid(std::string msg) { return Status::Error(Code::invalid_argument, "model-http: " + std::move(msg)); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool has_ctl(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 32 || c == 127; });
}

// http://host[:port][/path][?query]; returns "" or what is wrong.
std::string parse_url(const std::string& url, Endpoint& ep) {
  if (url.empty()) return "must not be empty";
  if (has_ctl(url) || url.find(' ') != std::string::npos) return "contains spaces or control characters";
  const std::string scheme_end = "://";
  const auto s = url.find(scheme_end);
  if (s == std::string::npos) return "must start with http://";
  const std::string scheme = lower(url.substr(0, s));
  if (scheme == "https") return "https is not supported (no TLS in this plugin): use http://, e.g. to a TLS-terminating sidecar on localhost";
  if (scheme != "http") return "scheme \"" + scheme + "\" is not supported: use http://";
  std::string rest = url.substr(s + scheme_end.size());
  const auto path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  std::string target = path_at == std::string::npos ? "/" : rest.substr(path_at);
  if (target.find('#') != std::string::npos) return "must not contain a fragment (#)";
  if (target[0] == '?') target = "/" + target;
  if (authority.find('@') != std::string::npos) return "must not contain user:password@ (use the headers option)";
  std::string host, port;
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) return "unterminated [IPv6] host";
    host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return "unexpected text after ]";
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) return "has no host";
  if (port.empty()) {
    port = "80";
  } else {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
      return "port \"" + port + "\" is not a number from 1 to 65535";
  }
  ep.host = host;
  ep.port = port;
  ep.target = target;
  ep.host_header = authority;
  ep.display = url;
  return {};
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

namespace cfgs = sdk::json_config;

// Extra request headers: valid names and single-line values, none the plugin sets itself.
cfgs::OptionReader headers_option(std::vector<std::pair<std::string, std::string>>& out) {
  return [&out](const std::string& key, const json& v) -> std::optional<std::string> {
    if (!v.is_object()) return cfgs::wrong_value(key, "an object of header name -> string value", v);
    for (auto h = v.begin(); h != v.end(); ++h) {
      const std::string name = h.key();
      const std::string lname = lower(name);
      if (name.empty() || has_ctl(name) || name.find_first_of(" \t:()<>@,;\\\"/[]?={}") != std::string::npos)
        return "config key \"headers\": \"" + name + "\" is not a valid header name";
      if (!h.value().is_string())
        return "config key \"headers\": header \"" + name + "\" must be a string, got " + h.value().dump();
      const std::string value = h.value().get<std::string>();
      if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos)
        return "config key \"headers\": header \"" + name + "\" contains a line break";
      if (lname == "content-length" || lname == "transfer-encoding" || lname == "connection" || lname == "content-type")
        return "config key \"headers\": header \"" + name + "\" is set by the plugin and cannot be overridden";
      out.emplace_back(name, value);
    }
    return std::nullopt;
  };
}

// The url as written into `url`, parsed into `ep`.
cfgs::OptionReader url_option(std::string& url, Endpoint& ep) {
  return [&url, &ep](const std::string& key, const json& v) -> std::optional<std::string> {
    if (!v.is_string()) return cfgs::wrong_value(key, "a string (http://host:port/path)", v);
    url = v.get<std::string>();
    if (auto problem = parse_url(url, ep); !problem.empty()) return "config key \"url\": \"" + url + "\" " + problem;
    return std::nullopt;
  };
}

// The model's name on the server: it becomes a path segment of the infer URL.
cfgs::OptionReader model_option(std::string& model) {
  return [&model, text = cfgs::string_option(model)](const std::string& key, const json& v) -> std::optional<std::string> {
    if (auto error = text(key, v)) return error;
    if (model.find_first_of("/?#% ") != std::string::npos || has_ctl(model))
      return cfgs::wrong_value(key, "a model name without '/', '?', '#', '%' or spaces", v);
    return std::nullopt;
  };
}

cfgs::OptionReader finite_number_option(double& dst) {
  return [&dst](const std::string& key, const json& v) -> std::optional<std::string> {
    if (!v.is_number() || !std::isfinite(v.get<double>())) return cfgs::wrong_value(key, "a finite number", v);
    dst = v.get<double>();
    return std::nullopt;
  };
}

// Every key of the config into `c` (the url as written into `url`).
std::optional<std::string> read_keys(const char* config_json, Config& c, std::string& url) {
  return cfgs::read_config(
      config_json, {{"url", url_option(url, c.endpoint)},
            {"protocol", cfgs::choice_option(c.protocol, {{"json", Protocol::json}, {"kserve-v2", Protocol::kserve_v2}})},
            {"model", model_option(c.model)},
            {"features", cfgs::string_list_option(c.features)},
            {"classes", cfgs::string_list_option(c.classes)},
            {"missing_value", finite_number_option(c.missing_value)},
            {"input_name", cfgs::string_option(c.input_name)},
            {"output_name", cfgs::string_option(c.output_name)},
            {"timeout_ms", cfgs::integer_option(c.timeout_ms, 1, 600000)},
            {"retries", cfgs::integer_option(c.retries, 0, 10)},
            {"backoff_ms", cfgs::integer_option(c.backoff_ms, 0, 60000)},
            {"breaker_failures", cfgs::integer_option(c.breaker_failures, 0, 1000000)},
            {"breaker_cooldown_ms", cfgs::integer_option(c.breaker_cooldown_ms, 1, 3600000)},
            {"headers", headers_option(c.headers)},
            {"version", cfgs::string_option(c.version)}});
}

// kserve-v2 needs the model's infer path (unless the url names it), the features and the classes.
Status check_kserve(Config& c) {
  const bool explicit_infer = ends_with(c.endpoint.target, "/infer");
  if (!explicit_infer) {
    if (c.model.empty())
      return invalid("config key \"model\" is required for protocol kserve-v2 (or give a url ending with /infer)");
    std::string base = c.endpoint.target;
    if (base.find('?') != std::string::npos)
      return invalid("config key \"url\": a query string needs the full .../infer path for protocol kserve-v2");
    while (!base.empty() && base.back() == '/') base.pop_back();
    c.endpoint.target = base + "/v2/models/" + c.model + "/infer";
  }
  if (c.features.empty()) return invalid("config key \"features\" is required for protocol kserve-v2 (the tensor's columns, in order)");
  if (c.classes.empty()) return invalid("config key \"classes\" is required for protocol kserve-v2 (the output tensor's columns, in order)");
  return Status::Ok();
}

}  // namespace

Status parse_config(const char* config_json, Config& out) {
  Config c;
  std::string url;  // as written; parse_url refuses an empty one, so empty = no url key
  if (auto error = read_keys(config_json, c, url)) return invalid(*error);
  if (url.empty()) return invalid("config key \"url\" is required (e.g. \"http://127.0.0.1:8501/infer\")");
  if (c.protocol == Protocol::kserve_v2)
    if (auto st = check_kserve(c); !st.ok()) return st;
  if (c.version.empty()) c.version = "http-" + (c.model.empty() ? url : c.model);
  out = std::move(c);
  return Status::Ok();
}

}  // namespace hitl::model_http
