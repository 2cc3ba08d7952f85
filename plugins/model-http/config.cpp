// model-http: config parsing and validation. Every error names the offending key.
#include "config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

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

}  // namespace

Status parse_config(const char* config_json, Config& out) {
  json cfg;
  const std::string text = config_json ? config_json : "";
  if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
    try {
      cfg = json::parse(text);
    } catch (const json::parse_error& e) {
      return invalid(std::string("config is not valid JSON: ") + e.what());
    }
  }
  if (cfg.is_null()) cfg = json::object();
  if (!cfg.is_object()) return invalid(std::string("config must be a JSON object, got ") + cfg.type_name());

  Config c;
  std::string url;
  bool have_url = false;
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    auto wrong = [&](const std::string& want) {
      return invalid("config key \"" + key + "\": expected " + want + ", got " + v.dump());
    };
    auto integer = [&](int lo, int hi, int& dst) -> Status {
      const bool integral = v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
      if (!integral || v.get<double>() < lo || v.get<double>() > hi)
        return wrong("an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      dst = static_cast<int>(v.get<double>());
      return Status::Ok();
    };
    auto string_list = [&](std::vector<std::string>& dst) -> Status {
      if (!v.is_array()) return wrong("an array of non-empty strings");
      std::set<std::string> seen;
      for (const auto& e : v) {
        if (!e.is_string() || e.get<std::string>().empty()) return wrong("an array of non-empty strings");
        if (!seen.insert(e.get<std::string>()).second)
          return invalid("config key \"" + key + "\": \"" + e.get<std::string>() + "\" is listed twice");
        dst.push_back(e.get<std::string>());
      }
      return Status::Ok();
    };
    auto nonempty_string = [&](std::string& dst) -> Status {
      if (!v.is_string() || v.get<std::string>().empty()) return wrong("a non-empty string");
      dst = v.get<std::string>();
      return Status::Ok();
    };
    Status st;
    if (key == "url") {
      if (!v.is_string()) return wrong("a string (http://host:port/path)");
      url = v.get<std::string>();
      if (auto problem = parse_url(url, c.endpoint); !problem.empty())
        return invalid("config key \"url\": \"" + url + "\" " + problem);
      have_url = true;
    } else if (key == "protocol") {
      if (!v.is_string()) return wrong("\"json\" or \"kserve-v2\"");
      if (v == "json") c.protocol = Protocol::json;
      else if (v == "kserve-v2") c.protocol = Protocol::kserve_v2;
      else return wrong("\"json\" or \"kserve-v2\"");
    } else if (key == "model") {
      st = nonempty_string(c.model);
      if (st.ok() && (c.model.find_first_of("/?#% ") != std::string::npos || has_ctl(c.model)))
        return wrong("a model name without '/', '?', '#', '%' or spaces");
    } else if (key == "features") {
      st = string_list(c.features);
    } else if (key == "classes") {
      st = string_list(c.classes);
    } else if (key == "missing_value") {
      if (!v.is_number() || !std::isfinite(v.get<double>())) return wrong("a finite number");
      c.missing_value = v.get<double>();
    } else if (key == "input_name") {
      st = nonempty_string(c.input_name);
    } else if (key == "output_name") {
      st = nonempty_string(c.output_name);
    } else if (key == "timeout_ms") {
      st = integer(1, 600000, c.timeout_ms);
    } else if (key == "retries") {
      st = integer(0, 10, c.retries);
    } else if (key == "backoff_ms") {
      st = integer(0, 60000, c.backoff_ms);
    } else if (key == "breaker_failures") {
      st = integer(0, 1000000, c.breaker_failures);
    } else if (key == "breaker_cooldown_ms") {
      st = integer(1, 3600000, c.breaker_cooldown_ms);
    } else if (key == "headers") {
      if (!v.is_object()) return wrong("an object of header name -> string value");
      for (auto h = v.begin(); h != v.end(); ++h) {
        const std::string name = h.key();
        const std::string lname = lower(name);
        if (name.empty() || has_ctl(name) || name.find_first_of(" \t:()<>@,;\\\"/[]?={}") != std::string::npos)
          return invalid("config key \"headers\": \"" + name + "\" is not a valid header name");
        if (!h.value().is_string())
          return invalid("config key \"headers\": header \"" + name + "\" must be a string, got " + h.value().dump());
        const std::string value = h.value().get<std::string>();
        if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos)
          return invalid("config key \"headers\": header \"" + name + "\" contains a line break");
        if (lname == "content-length" || lname == "transfer-encoding" || lname == "connection" || lname == "content-type")
          return invalid("config key \"headers\": header \"" + name + "\" is set by the plugin and cannot be overridden");
        c.headers.emplace_back(name, value);
      }
    } else if (key == "version") {
      st = nonempty_string(c.version);
    } else {
      return invalid("unknown config key \"" + key +
                     "\" (known: url, protocol, model, features, classes, missing_value, input_name, output_name, "
                     "timeout_ms, retries, backoff_ms, breaker_failures, breaker_cooldown_ms, headers, version)");
    }
    if (!st.ok()) return st;
  }

  if (!have_url) return invalid("config key \"url\" is required (e.g. \"http://127.0.0.1:8501/infer\")");
  if (c.protocol == Protocol::kserve_v2) {
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
  }
  if (c.version.empty()) c.version = "http-" + (c.model.empty() ? url : c.model);
  out = std::move(c);
  return Status::Ok();
}

}  // namespace hitl::model_http
