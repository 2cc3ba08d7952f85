#include "config/service_config.hpp"

#include "common/utf8.hpp"

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <tuple>

namespace hitl::config {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<OptionDoc>& option_docs() {
  static const std::vector<OptionDoc> docs = {
      {"listen", "string", "127.0.0.1:8080", "HOST:PORT the HTTP API listens on (--listen overrides)"},
      {"http_threads", "integer", "2 with the sqlite storage, else 8", "I/O threads serving HTTP (parse, model and policy run on them); over a network database each request's repeated-id check waits a round trip on one, and checks waiting together are read in one statement (docs/performance.md)"},
      {"max_body_bytes", "integer", "8388608", "largest accepted request body; larger gets 413"},
      {"max_batch_records", "integer", "10000", "most records in one predictions request"},
      {"max_json_depth", "integer", "64", "deepest nesting of arrays and objects in any JSON a client sends; deeper gets 422 too_deep"},
      {"max_connections", "integer", "1024", "open HTTP connections; past it the connection idle longest is closed to make room, or, when all are busy, the new one gets 503 too_many_connections"},
      {"header_timeout_seconds", "integer", "10", "time a connection has to send a complete request header (from connect or the last reply)"},
      {"idle_timeout_seconds", "integer", "60", "a request body or reply write stalled this long closes the connection"},
      {"slow_threads", "integer", "2", "threads that run slow routes (reports, exports, listings) off the I/O threads"},
      {"plugin_dirs", "array of strings", "<exe>/../lib/hitl", "folders whose *.so plugins are loaded"},
      {"script_lib_dir", "string", "<exe>/../share/hitl/lua", "policy standard library (require \"hitl\")"},
      {"datasets_dir", "string", "\"datasets\"", "where `hitl dataset snapshot` keeps the immutable dataset versions"},
      {"registry_dir", "string", "\"registry\"", "the model registry: trained versions, lineage, the live version and its history"},
      {"policy.instruction_budget", "integer", "1000000", "work per policy call (Lua instructions plus steps of C loops such as pattern matching) before it fails closed"},
      {"policy.memory_mb", "integer", "32", "memory cap of each policy Lua state"},
      {"policy.deadline_ms", "integer", "1000", "wall-clock limit of one policy call (second guard after the instruction budget); past it the call fails closed"},
      {"policy.watch_seconds", "integer", "2", "how often hitl serve looks at each policy file (size, mtime) to reload a changed one; 0 = only on SIGHUP and the admin route"},
      {"writer.max_batch", "integer", "2000", "most decisions group-committed in one transaction"},
      {"writer.step_threads", "integer", "0 with the sqlite queue, else 4", "threads that run the steps of claims and submits (the queue's lease or ack, the task's reads); 0 = the writer thread, between two group commits (fastest when queue and storage are one local SQLite file); over a network database each step is a round trip, run on these threads so reviewers' steps overlap (docs/performance.md)"},
      {"log.level", "string", "info", "trace | debug | info | warn | error"},
      {"log.format", "string", "text", "text | json"},
      {"storage.plugin", "string", "sqlite", "storage plugin name (kind storage)"},
      {"storage.config", "table", "{}", "options passed to the storage plugin as JSON"},
      {"reports_storage.plugin", "string", "(none: the reports read storage)", "a second storage opened for the reports' reads only (GET .../report, .../report/series, /v1/me/figures): a read replica of storage, e.g. postgres on a hot standby (docs/deploy.md)"},
      {"reports_storage.config", "table", "{}", "options passed to that storage plugin as JSON (its url is the replica's)"},
      {"queue.plugin", "string", "sqlite", "queue plugin name (kind queue)"},
      {"queue.config", "table", "{}", "options passed to the queue plugin as JSON"},
      {"models.*.plugin", "string", "(required)", "model plugin name (kind model)"},
      {"models.*.config", "table", "{}", "options passed to the model plugin as JSON"},
      {"domains.*.policy", "string", "(required)", "path of the domain's Lua policy"},
      {"domains.*.policy_cases", "string", "\"\"", "test cases (file or folder) a changed policy must pass before hitl serve swaps it in; \"\" = <stem>.cases.jsonl (else <stem>_cases/) beside the policy, if present"},
      {"domains.*.shadow_policy", "string", "\"\"", "candidate policy run beside the live one on every record, with no effect: routing differences counted (doubles policy time)"},
      {"domains.*.model", "string", "\"\"", "model (key of models) that scores inputs sent without a prediction"},
      {"domains.*.labels", "array of strings", "(required)", "the domain's label set; corrections must use one"},
      {"domains.*.lease_seconds", "integer", "300", "how long a claimed review task stays with its reviewer"},
      {"domains.*.sla_seconds", "integer", "0", "review deadline when the policy has no sla(task) or it fails; 0 = none"},
      {"domains.*.sensitive", "array of strings", "{}", "input fields (or meta.<field>) masked for reviewers, in exports and logs"},
      {"domains.*.retention_days", "integer", "0", "erase payloads of decisions older than this (open reviews excepted); 0 = keep"},
      {"domains.*.report.group", "string", "\"\"", "attribute for the bias metrics: an input field, or meta.<field>"},
      {"domains.*.report.bands", "array of numbers", "{}", "ascending cut points that band a numeric group attribute"},
      {"domains.*.cost.reviewer_per_hour", "number", "0", "reviewer cost per hour of review work (cost per correction)"},
      {"domains.*.cost.per_prediction", "number", "0", "system cost per prediction processed (cost per correction)"},
      {"audit.head_log_seconds", "integer", "300", "how often hitl serve logs the audit chain head (for anchoring)"},
      {"max_wait_seconds", "integer", "60", "longest ?wait= long-poll a client may ask for"},
      {"domains.*.max_open_tasks", "integer", "0", "open review tasks past which ingest answers 429 (Retry-After); 0 = no limit"},
      {"domains.*.webhook.url", "string", "\"\"", "POSTed each final decision (retried with backoff, persisted)"},
      {"domains.*.webhook.secret", "string", "\"\"", "HMAC-SHA256 key for the X-Hitl-Signature header (use env())"},
      {"domains.*.webhook.max_attempts", "integer", "8", "deliveries given up after this many failed attempts"},
      {"domains.*.webhook.timeout_ms", "integer", "5000", "time allowed for one delivery attempt"},
      {"domains.*.fatigue.max_consecutive", "integer", "0", "most consecutive tasks of this domain one reviewer gets; 0 = no limit"},
      {"domains.*.fatigue.max_per_hour", "integer", "0", "most tasks of this domain one reviewer completes per hour; 0 = no limit"},
      {"domains.*.sla_at_risk_fraction", "number", "0.8", "share of a task's SLA after which it is at risk (escalate event)"},
      {"domains.*.gold_file", "string", "\"\"", "golden set (JSON Lines of input, prediction, label) the policy's gold_rate draws from"},
      {"domains.*.retrain.base_data", "string", "\"\"", "labelled CSV every retraining also learns from (weight 1), e.g. the first model's training data"},
      {"domains.*.retrain.base_label", "string", "\"label\"", "the label column of retrain.base_data"},
      {"domains.*.retrain.check_seconds", "integer", "60", "how often the policy's retrain(stats) is also asked on a timer (0 = only after outcomes)"},
      {"domains.*.retrain.min_interval_seconds", "integer", "300", "least time between two trainings the policy triggers (manual ones are not held back)"},
      {"domains.*.retrain.holdout_fraction", "number", "0.2", "newest share of the feedback held out to evaluate the candidate on"},
      {"domains.*.retrain.promote", "boolean", "true", "after training, evaluate and let promote(eval) decide; false: register the candidate only"},
      {"domains.*.retrain.base_holdout_fraction", "number", "0.2", "share of retrain.base_data rows (chosen by a hash of each row) never trained on, to evaluate on; 0 = none"},
      {"domains.*.retrain.promote_confidence", "number", "0.95", "confidence the default promotion rule's paired test needs that the candidate is better (0.5 to 0.9999)"},
      {"domains.*.retrain.promote_tolerance", "number", "0.01", "how much worse than the live model the default rule lets a candidate be on a guard (golden set, a group, calibration)"},
      {"domains.*.retrain.guard_min_samples", "integer", "200", "audit samples (with a final outcome) a promoted model needs before the live guard judges it against its predecessor; 0 = no live guard"},
      {"domains.*.shadow_model", "string", "\"\"", "model (key of `models`) that also scores every record, for agreement metrics only"},
      // Flagging signals (docs/policy.md, "Signals").
      {"domains.*.ensemble", "array of strings", "{}", "models (keys of `models`) whose outputs p.predictions adds; the first is the primary when `model` is unset"},
      {"domains.*.judge_model", "string", "\"\"", "model (key of `models`) that screens the cases flag(p) hands to hitl.judge(reason) before judge(p, verdict)"},
      {"domains.*.stats_segment", "string", "\"\"", "input field, or meta.<field>, whose value is the segment of hitl.stats(window, segment)"},
  };
  return docs;
}

namespace {

struct Ctx {
  std::string file;  // for messages
  fs::path base;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ConfigError(file + ": " + key + ": " + what);
  }
};

std::string type_of(const json& v) {
  if (v.is_null()) return "nothing";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  return "a table";
}

// Lua value at the top of the stack -> JSON. Tables with keys 1..n become arrays.
json to_json(lua_State* L, int idx, const Ctx& ctx, const std::string& key, int depth = 0) {
  if (depth > 32) ctx.fail(key, "nested too deeply");
  // Each level pushes a key and a value: grow the stack first (writing past it corrupts the heap).
  if (!lua_checkstack(L, 4)) ctx.fail(key, "nested too deeply (Lua stack)");
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return static_cast<bool>(lua_toboolean(L, idx));
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return static_cast<std::int64_t>(lua_tointeger(L, idx));
      return lua_tonumber(L, idx);
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* text = lua_tolstring(L, idx, &len);
      if (!valid_utf8(std::string_view(text, len))) ctx.fail(key, "not valid UTF-8");
      return std::string(text, len);
    }
    case LUA_TTABLE: {
      // Raw access only: a metatable (__len, __index) must not run code here, outside any
      // protected call, where a Lua error would abort the process.
      auto n = static_cast<lua_Integer>(lua_rawlen(L, idx));
      std::size_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) { ++count; lua_pop(L, 1); }
      if (n > 0 && static_cast<std::size_t>(n) == count) {
        json arr = json::array();
        for (lua_Integer i = 1; i <= n; ++i) {
          lua_rawgeti(L, idx, i);
          arr.push_back(to_json(L, -1, ctx, key + "[" + std::to_string(i) + "]", depth + 1));
          lua_pop(L, 1);
        }
        return arr;
      }
      json obj = json::object();
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) ctx.fail(key, "table keys must be names (strings)");
        std::size_t len = 0;
        const char* text = lua_tolstring(L, -2, &len);
        std::string k(text, len);
        if (!valid_utf8(k)) ctx.fail(key, "a table key is not valid UTF-8");
        obj[k] = to_json(L, -1, ctx, key.empty() ? k : key + "." + k, depth + 1);
        lua_pop(L, 1);
      }
      return obj;
    }
    default:
      ctx.fail(key, std::string("expected plain data, got a ") + lua_typename(L, lua_type(L, idx)));
  }
}

// env("NAME", default): secrets and deployment values from the environment.
int lua_env(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  const char* v = std::getenv(name);
  if (v) lua_pushstring(L, v);
  else if (lua_gettop(L) >= 2) lua_pushvalue(L, 2);
  else lua_pushnil(L);
  return 1;
}

// The config file runs in a bounded Lua state: a file that loops or allocates without end is an
// error, not a hung or swapped-out start-up.
constexpr int kConfigHookEvery = 1000;
constexpr int kConfigMaxHooks = 100000;            // 100 million instructions
constexpr std::size_t kConfigMaxBytes = 64u << 20;  // 64 MiB

struct ConfigLimits {
  std::size_t used = 0;
  int hooks = 0;
};

void* bounded_alloc(void* ud, void* ptr, std::size_t old_size, std::size_t new_size) {
  auto* lim = static_cast<ConfigLimits*>(ud);
  if (!ptr) old_size = 0;  // old_size holds a type tag for new objects
  if (new_size == 0) {
    lim->used -= old_size;
    std::free(ptr);
    return nullptr;
  }
  if (new_size > old_size && lim->used - old_size + new_size > kConfigMaxBytes) return nullptr;
  void* p = std::realloc(ptr, new_size);
  if (p) lim->used = lim->used - old_size + new_size;
  return p;
}

void config_budget_hook(lua_State* L, lua_Debug*) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  if (++static_cast<ConfigLimits*>(ud)->hooks > kConfigMaxHooks) luaL_error(L, "the config file runs too long (endless loop?)");
}

json evaluate_file(const fs::path& file, const Ctx& ctx) {
  ConfigLimits limits;
  std::unique_ptr<lua_State, void (*)(lua_State*)> L(lua_newstate(bounded_alloc, &limits), lua_close);
  if (!L) throw ConfigError(ctx.file + ": cannot create a Lua state");
  lua_sethook(L.get(), config_budget_hook, LUA_MASKCOUNT, kConfigHookEvery);
  luaL_requiref(L.get(), "_G", luaopen_base, 1);
  luaL_requiref(L.get(), LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L.get(), LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L.get(), LUA_MATHLIBNAME, luaopen_math, 1);
  lua_settop(L.get(), 0);
  for (const char* unsafe : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
    lua_pushnil(L.get());
    lua_setglobal(L.get(), unsafe);
  }
  lua_register(L.get(), "env", lua_env);
  if (!fs::exists(file)) throw ConfigError(ctx.file + ": file not found");
  if (luaL_loadfilex(L.get(), file.c_str(), "t") != LUA_OK || lua_pcall(L.get(), 0, 1, 0) != LUA_OK) {
    const char* msg = lua_tostring(L.get(), -1);  // Lua prefixes file:line
    throw ConfigError(msg ? std::string(msg) : ctx.file + ": error object is not a string");
  }
  if (!lua_istable(L.get(), -1))
    throw ConfigError(ctx.file + ": the file must `return { ... }` a table, got " +
                      luaL_typename(L.get(), -1));
  lua_sethook(L.get(), nullptr, 0, 0);
  return to_json(L.get(), -1, ctx, "");
}

void check_keys(const json& obj, const std::set<std::string>& allowed, const std::string& where,
                const Ctx& ctx) {
  for (auto& [k, _] : obj.items()) {
    if (allowed.count(k)) continue;
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    ctx.fail(where.empty() ? k : where + "." + k, "unknown key (expected one of: " + list + ")");
  }
}

std::string key_of(const std::string& where, const std::string& k) {
  return where.empty() ? k : where + "." + k;
}

std::string get_string(const json& obj, const std::string& k, const std::string& where,
                       const Ctx& ctx, const std::string& def, bool required = false) {
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null()) {
    if (required) ctx.fail(key_of(where, k), "missing (expected a string)");
    return def;
  }
  if (!it->is_string()) ctx.fail(key_of(where, k), "expected a string, got " + type_of(*it));
  return it->get<std::string>();
}

std::int64_t get_int(const json& obj, const std::string& k, const std::string& where, const Ctx& ctx,
                     std::int64_t def, std::int64_t lo, std::int64_t hi) {
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_number_integer())
    ctx.fail(key_of(where, k), "expected an integer, got " + type_of(*it));
  auto v = it->get<std::int64_t>();
  if (v < lo || v > hi)
    ctx.fail(key_of(where, k), "expected an integer in " + std::to_string(lo) + ".." +
                                   std::to_string(hi) + ", got " + std::to_string(v));
  return v;
}

// A number inside [lo, hi]; `open_low` excludes lo itself (a share that must not be 0).
double get_number_in(const json& obj, const std::string& k, const std::string& where, const Ctx& ctx, double def,
                     double lo, double hi, bool open_low) {
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_number()) ctx.fail(key_of(where, k), "expected a number, got " + type_of(*it));
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi) || (open_low && v == lo)) {
    char range[64];
    std::snprintf(range, sizeof range, "%s%g, %g]", open_low ? "(" : "[", lo, hi);
    ctx.fail(key_of(where, k), std::string("expected a number in ") + range);
  }
  return v;
}

const json& get_table(const json& obj, const std::string& k, const std::string& where,
                      const Ctx& ctx) {
  static const json empty = json::object();
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null()) return empty;
  if (it->is_array() && it->empty()) return empty;  // {} in Lua is ambiguous
  if (!it->is_object()) ctx.fail(key_of(where, k), "expected a table, got " + type_of(*it));
  return *it;
}

std::vector<std::string> get_string_list(const json& obj, const std::string& k,
                                         const std::string& where, const Ctx& ctx) {
  std::vector<std::string> out;
  auto it = obj.find(k);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) ctx.fail(key_of(where, k), "expected a list of strings, got " + type_of(*it));
  for (std::size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string())
      ctx.fail(key_of(where, k) + "[" + std::to_string(i + 1) + "]",
               "expected a string, got " + type_of((*it)[i]));
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return (path.is_absolute() ? path : base / path).lexically_normal();
}

// Plugin configs are passed through as JSON, except that the options the plugin declares as
// paths are resolved against the config file's folder (see load_config). Which options those
// are is the plugin's to say, never a guess from the key's name.
PluginRef get_plugin_ref(const json& obj, const std::string& where, const Ctx& ctx, const std::string& default_plugin,
                         std::string_view kind, const std::vector<fs::path>& plugin_dirs,
                         const PathOptionsOf& path_options) {
  check_keys(obj, {"plugin", "config"}, where, ctx);
  PluginRef ref;
  ref.plugin = get_string(obj, "plugin", where, ctx, default_plugin, default_plugin.empty());
  json cfg = get_table(obj, "config", where, ctx);
  for (const auto& k : path_options(plugin_dirs, kind, ref.plugin)) {
    auto it = cfg.find(k);
    if (it != cfg.end() && it->is_string() && !it->get<std::string>().empty())
      *it = resolve(ctx.base, it->get<std::string>()).string();
  }
  ref.config_json = cfg.dump();
  return ref;
}

}  // namespace

std::pair<std::string, std::uint16_t> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw ConfigError("expected \"HOST:PORT\", got \"" + listen + "\"");
  const std::string port_text = listen.substr(colon + 1);
  try {
    std::size_t used = 0;
    int port = std::stoi(port_text, &used);
    if (used != port_text.size() || port < 0 || port > 65535) throw std::out_of_range("");
    return {listen.substr(0, colon), static_cast<std::uint16_t>(port)};
  } catch (const std::exception&) {
    throw ConfigError("expected a port 0..65535 after ':', got \"" + port_text + "\"");
  }
}

namespace {

// The top-level scalar options and folders.
void load_service_options(const json& root, const Ctx& ctx, const fs::path& default_plugin_dir,
                          const fs::path& default_script_lib_dir, ServiceConfig& cfg) {
  check_keys(root, {"listen", "http_threads", "max_body_bytes", "max_batch_records", "plugin_dirs",
                    "script_lib_dir", "datasets_dir", "registry_dir", "policy", "writer", "log", "storage", "reports_storage", "queue", "models",
                    "domains", "audit", "max_wait_seconds", "max_json_depth", "max_connections",
                    "header_timeout_seconds", "idle_timeout_seconds", "slow_threads"},
             "", ctx);

  try {
    std::tie(cfg.listen_host, cfg.listen_port) = parse_listen(get_string(root, "listen", "", ctx, "127.0.0.1:8080"));
  } catch (const ConfigError& e) {
    ctx.fail("listen", e.what());
  }
  cfg.max_body_bytes = get_int(root, "max_body_bytes", "", ctx, 8 << 20, 1024, 1ll << 31);
  cfg.max_batch_records = get_int(root, "max_batch_records", "", ctx, 10000, 1, 1000000);
  cfg.max_json_depth = static_cast<int>(get_int(root, "max_json_depth", "", ctx, 64, 2, 512));
  cfg.max_connections = static_cast<int>(get_int(root, "max_connections", "", ctx, 1024, 8, 1000000));
  cfg.header_timeout_seconds = static_cast<int>(get_int(root, "header_timeout_seconds", "", ctx, 10, 1, 3600));
  cfg.idle_timeout_seconds = static_cast<int>(get_int(root, "idle_timeout_seconds", "", ctx, 60, 1, 3600));
  cfg.slow_threads = static_cast<int>(get_int(root, "slow_threads", "", ctx, 2, 1, 64));

  for (auto& d : get_string_list(root, "plugin_dirs", "", ctx)) cfg.plugin_dirs.push_back(resolve(cfg.base_dir, d));
  if (cfg.plugin_dirs.empty()) cfg.plugin_dirs.push_back(default_plugin_dir);
  std::string lib = get_string(root, "script_lib_dir", "", ctx, "");
  cfg.script_lib_dir = lib.empty() ? default_script_lib_dir : resolve(cfg.base_dir, lib);
  cfg.datasets_dir = resolve(cfg.base_dir, get_string(root, "datasets_dir", "", ctx, "datasets"));
  cfg.registry_dir = resolve(cfg.base_dir, get_string(root, "registry_dir", "", ctx, "registry"));

}

// The policy, writer, log and audit tables.
void load_sections(const json& root, const Ctx& ctx, ServiceConfig& cfg) {
  const json& pol = get_table(root, "policy", "", ctx);
  check_keys(pol, {"instruction_budget", "memory_mb", "deadline_ms", "watch_seconds"}, "policy", ctx);
  cfg.policy_instruction_budget = get_int(pol, "instruction_budget", "policy", ctx, 1000000, 1000, 1ll << 40);
  cfg.policy_memory_mb = get_int(pol, "memory_mb", "policy", ctx, 32, 1, 4096);
  cfg.policy_deadline_ms = get_int(pol, "deadline_ms", "policy", ctx, 1000, 10, 600000);
  cfg.policy_watch_seconds = get_int(pol, "watch_seconds", "policy", ctx, 2, 0, 3600);

  const json& wr = get_table(root, "writer", "", ctx);
  check_keys(wr, {"max_batch", "step_threads"}, "writer", ctx);
  cfg.writer_max_batch = get_int(wr, "max_batch", "writer", ctx, 2000, 1, 100000);

  const json& log = get_table(root, "log", "", ctx);
  check_keys(log, {"level", "format"}, "log", ctx);
  cfg.log_level = get_string(log, "level", "log", ctx, "info");
  if (!std::set<std::string>{"trace", "debug", "info", "warn", "error"}.count(cfg.log_level))
    ctx.fail("log.level", "expected trace|debug|info|warn|error, got \"" + cfg.log_level + "\"");
  cfg.log_format = get_string(log, "format", "log", ctx, "text");
  if (cfg.log_format != "text" && cfg.log_format != "json")
    ctx.fail("log.format", "expected text|json, got \"" + cfg.log_format + "\"");

  const json& audit = get_table(root, "audit", "", ctx);
  check_keys(audit, {"head_log_seconds"}, "audit", ctx);
  cfg.audit_head_log_seconds = get_int(audit, "head_log_seconds", "audit", ctx, 300, 1, 7 * 24 * 3600);
  cfg.max_wait_seconds = get_int(root, "max_wait_seconds", "", ctx, 60, 1, 3600);

}

// Storage, queue and models: plugin references with their path options resolved.
void load_plugins(const json& root, const Ctx& ctx, const PathOptionsOf& path_options, ServiceConfig& cfg) {
  cfg.storage = get_plugin_ref(get_table(root, "storage", "", ctx), "storage", ctx, "sqlite", "storage",
                               cfg.plugin_dirs, path_options);
  cfg.queue = get_plugin_ref(get_table(root, "queue", "", ctx), "queue", ctx, "sqlite", "queue", cfg.plugin_dirs,
                             path_options);
  // The defaults follow the plugins: on SQLite a read or a queue call costs no round trip.
  cfg.http_threads = static_cast<int>(get_int(root, "http_threads", "", ctx, cfg.storage.plugin == "sqlite" ? 2 : 8, 1, 64));
  cfg.writer_step_threads = static_cast<int>(get_int(get_table(root, "writer", "", ctx), "step_threads", "writer", ctx,
                                                     cfg.queue.plugin == "sqlite" ? 0 : 4, 0, 64));
  if (root.contains("reports_storage"))
    cfg.reports_storage = get_plugin_ref(get_table(root, "reports_storage", "", ctx), "reports_storage", ctx, "",
                                         "storage", cfg.plugin_dirs, path_options);

  for (auto& [name, m] : get_table(root, "models", "", ctx).items()) {
    std::string where = "models." + name;
    if (!m.is_object()) ctx.fail(where, "expected a table {plugin=..., config={...}}, got " + type_of(m));
    cfg.models[name] = ModelConfig{name, get_plugin_ref(m, where, ctx, "", "model", cfg.plugin_dirs, path_options)};
  }

}

// A domain's primary model, ensemble, judge, shadow and stats segment.
void load_domain_models(const json& d, const std::string& where, const Ctx& ctx, const ServiceConfig& cfg,
                        DomainConfig& dc) {
  dc.model = get_string(d, "model", where, ctx, "");
  if (!dc.model.empty() && !cfg.models.count(dc.model))
    ctx.fail(where + ".model", "no model named \"" + dc.model + "\" in models");
  {
    // An ensemble: `model` (or its first member) is the primary, the rest add to p.predictions.
    const auto members = get_string_list(d, "ensemble", where, ctx);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < members.size(); ++i) {
      const std::string key = where + ".ensemble[" + std::to_string(i + 1) + "]";
      if (!cfg.models.count(members[i])) ctx.fail(key, "no model named \"" + members[i] + "\" in models");
      if (!seen.insert(members[i]).second) ctx.fail(key, "\"" + members[i] + "\" is listed twice");
      if (dc.model.empty()) dc.model = members[i];
      else if (members[i] != dc.model) dc.ensemble.push_back(members[i]);
    }
  }
  dc.judge_model = get_string(d, "judge_model", where, ctx, "");
  if (!dc.judge_model.empty() && !cfg.models.count(dc.judge_model))
    ctx.fail(where + ".judge_model", "no model named \"" + dc.judge_model + "\" in models");
  dc.shadow_model = get_string(d, "shadow_model", where, ctx, "");
  if (!dc.shadow_model.empty() && !cfg.models.count(dc.shadow_model))
    ctx.fail(where + ".shadow_model", "no model named \"" + dc.shadow_model + "\" in models");
  dc.stats_segment = get_string(d, "stats_segment", where, ctx, "");
  if (dc.stats_segment == "meta.")
    ctx.fail(where + ".stats_segment", "expected an input field or meta.<field>, got \"meta.\"");
}

// Labels, leases, SLA, sensitive fields, retention.
void load_domain_basics(const json& d, const std::string& where, const Ctx& ctx, DomainConfig& dc) {
  dc.labels = get_string_list(d, "labels", where, ctx);
  if (dc.labels.empty()) ctx.fail(where + ".labels", "missing (expected a list of labels)");
  dc.lease_seconds = get_int(d, "lease_seconds", where, ctx, 300, 1, 7 * 24 * 3600);
  dc.sla_seconds = get_int(d, "sla_seconds", where, ctx, 0, 0, 365ll * 24 * 3600);
  dc.sensitive = get_string_list(d, "sensitive", where, ctx);
  for (std::size_t i = 0; i < dc.sensitive.size(); ++i)
    if (dc.sensitive[i].empty() || dc.sensitive[i] == "meta.")
      ctx.fail(where + ".sensitive[" + std::to_string(i + 1) + "]", "expected a field name, got an empty one");
  dc.retention_days = get_int(d, "retention_days", where, ctx, 0, 0, 100 * 365);
}

void load_domain_report(const json& d, const std::string& where, const Ctx& ctx, DomainConfig& dc) {
  const json& report = get_table(d, "report", where, ctx);
  check_keys(report, {"group", "bands"}, where + ".report", ctx);
  dc.report_group = get_string(report, "group", where + ".report", ctx, "");
  if (auto it = report.find("bands"); it != report.end() && !it->is_null()) {
    if (!it->is_array()) ctx.fail(where + ".report.bands", "expected a list of numbers, got " + type_of(*it));
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& b = (*it)[i];
      if (!b.is_number()) ctx.fail(where + ".report.bands[" + std::to_string(i + 1) + "]", "expected a number, got " + type_of(b));
      double v = b.get<double>();
      if (!dc.report_bands.empty() && !(v > dc.report_bands.back()))
        ctx.fail(where + ".report.bands[" + std::to_string(i + 1) + "]", "cut points must be ascending");
      dc.report_bands.push_back(v);
    }
    if (!dc.report_bands.empty() && dc.report_group.empty())
      ctx.fail(where + ".report.bands", "set report.group too (which attribute to band)");
  }
}

// Backpressure, webhook, fatigue, at-risk share and the golden set.
void load_domain_workflow(const json& d, const std::string& where, const Ctx& ctx, const ServiceConfig& cfg,
                          DomainConfig& dc) {
  dc.max_open_tasks = get_int(d, "max_open_tasks", where, ctx, 0, 0, 1ll << 40);
  const json& hook = get_table(d, "webhook", where, ctx);
  check_keys(hook, {"url", "secret", "max_attempts", "timeout_ms"}, where + ".webhook", ctx);
  dc.webhook_url = get_string(hook, "url", where + ".webhook", ctx, "");
  if (!dc.webhook_url.empty() && dc.webhook_url.rfind("http://", 0) != 0)
    ctx.fail(where + ".webhook.url", "expected an http:// URL, got \"" + dc.webhook_url + "\"");
  dc.webhook_secret = get_string(hook, "secret", where + ".webhook", ctx, "");
  if (!dc.webhook_url.empty() && dc.webhook_secret.empty())
    ctx.fail(where + ".webhook.secret", "missing (receivers check the HMAC signature; e.g. secret = env(\"HOOK_SECRET\"))");
  dc.webhook_max_attempts = get_int(hook, "max_attempts", where + ".webhook", ctx, 8, 1, 1000);
  dc.webhook_timeout_ms = get_int(hook, "timeout_ms", where + ".webhook", ctx, 5000, 10, 600000);
  const json& fatigue = get_table(d, "fatigue", where, ctx);
  check_keys(fatigue, {"max_consecutive", "max_per_hour"}, where + ".fatigue", ctx);
  dc.fatigue_max_consecutive = get_int(fatigue, "max_consecutive", where + ".fatigue", ctx, 0, 0, 1000000);
  dc.fatigue_max_per_hour = get_int(fatigue, "max_per_hour", where + ".fatigue", ctx, 0, 0, 1000000);
  if (auto it = d.find("sla_at_risk_fraction"); it != d.end() && !it->is_null()) {
    if (!it->is_number()) ctx.fail(where + ".sla_at_risk_fraction", "expected a number, got " + type_of(*it));
    dc.sla_at_risk_fraction = it->get<double>();
    if (!(dc.sla_at_risk_fraction > 0 && dc.sla_at_risk_fraction <= 1))
      ctx.fail(where + ".sla_at_risk_fraction", "expected a number in (0, 1]");
  }
  if (auto gold = get_string(d, "gold_file", where, ctx, ""); !gold.empty()) {
    dc.gold_file = resolve(cfg.base_dir, gold);
    if (!fs::exists(dc.gold_file)) ctx.fail(where + ".gold_file", "file not found: " + dc.gold_file.string());
  }
}

// How a running service takes a changed policy: the cases that gate it, a shadow candidate.
void load_domain_policy_change(const json& d, const std::string& where, const Ctx& ctx, const ServiceConfig& cfg,
                               DomainConfig& dc) {
  for (auto [key, out] : {std::pair<const char*, fs::path*>{"policy_cases", &dc.policy_cases},
                          std::pair<const char*, fs::path*>{"shadow_policy", &dc.shadow_policy}}) {
    const std::string value = get_string(d, key, where, ctx, "");
    if (value.empty()) continue;
    *out = resolve(cfg.base_dir, value);
    if (!fs::exists(*out)) ctx.fail(where + "." + key, "file not found: " + out->string());
  }
}

void load_domain_cost(const json& d, const std::string& where, const Ctx& ctx, DomainConfig& dc) {
  const json& cost = get_table(d, "cost", where, ctx);
  check_keys(cost, {"reviewer_per_hour", "per_prediction"}, where + ".cost", ctx);
  for (auto [k, out] : {std::pair<const char*, double*>{"reviewer_per_hour", &dc.cost_reviewer_per_hour},
                        std::pair<const char*, double*>{"per_prediction", &dc.cost_per_prediction}}) {
    auto it = cost.find(k);
    if (it == cost.end() || it->is_null()) continue;
    if (!it->is_number()) ctx.fail(where + ".cost." + k, "expected a number, got " + type_of(*it));
    *out = it->get<double>();
    if (!(*out >= 0) || std::isinf(*out)) ctx.fail(where + ".cost." + k, "expected a non-negative number");
  }
}

void load_domain_retrain(const json& d, const std::string& where, const Ctx& ctx, const ServiceConfig& cfg,
                         DomainConfig& dc) {
  const json& retrain = get_table(d, "retrain", where, ctx);
  const std::string rw = where + ".retrain";
  check_keys(retrain, {"base_data", "base_label", "check_seconds", "min_interval_seconds", "holdout_fraction", "promote",
                       "base_holdout_fraction", "promote_confidence", "promote_tolerance", "guard_min_samples"},
             rw, ctx);
  if (auto base = get_string(retrain, "base_data", rw, ctx, ""); !base.empty()) {
    dc.retrain_base_data = resolve(cfg.base_dir, base);
    if (!fs::exists(dc.retrain_base_data)) ctx.fail(rw + ".base_data", "file not found: " + dc.retrain_base_data.string());
    if (dc.model.empty()) ctx.fail(rw + ".base_data", "the domain has no model to train");
  }
  dc.retrain_base_label = get_string(retrain, "base_label", rw, ctx, "label");
  if (dc.retrain_base_label.empty()) ctx.fail(rw + ".base_label", "expected a column name, got an empty one");
  dc.retrain_check_seconds = get_int(retrain, "check_seconds", rw, ctx, 60, 0, 7 * 24 * 3600);
  dc.retrain_min_interval_seconds = get_int(retrain, "min_interval_seconds", rw, ctx, 300, 0, 365ll * 24 * 3600);
  dc.retrain_holdout_fraction = get_number_in(retrain, "holdout_fraction", rw, ctx, 0.2, 0, 0.99, true);
  dc.retrain_base_holdout_fraction = get_number_in(retrain, "base_holdout_fraction", rw, ctx, 0.2, 0, 0.9, false);
  dc.retrain_promote_confidence = get_number_in(retrain, "promote_confidence", rw, ctx, 0.95, 0.5, 0.9999, false);
  dc.retrain_promote_tolerance = get_number_in(retrain, "promote_tolerance", rw, ctx, 0.01, 0, 1, false);
  dc.retrain_guard_min_samples = get_int(retrain, "guard_min_samples", rw, ctx, 200, 0, 1'000'000);
  if (auto it = retrain.find("promote"); it != retrain.end() && !it->is_null()) {
    if (!it->is_boolean()) ctx.fail(rw + ".promote", "expected true or false, got " + type_of(*it));
    dc.retrain_promote = it->get<bool>();
  }
}

}  // namespace

ServiceConfig load_config(const fs::path& file_in, const fs::path& default_plugin_dir,
                          const fs::path& default_script_lib_dir, const PathOptionsOf& path_options) {
  ServiceConfig cfg;
  cfg.file = fs::absolute(file_in).lexically_normal();
  cfg.base_dir = cfg.file.parent_path();
  Ctx ctx{file_in.string(), cfg.base_dir};
  const json root = evaluate_file(cfg.file, ctx);
  if (!root.is_object()) ctx.fail("(top level)", "expected a table of settings");

  load_service_options(root, ctx, default_plugin_dir, default_script_lib_dir, cfg);
  load_sections(root, ctx, cfg);
  load_plugins(root, ctx, path_options, cfg);
  const json& domains = get_table(root, "domains", "", ctx);
  if (domains.empty()) ctx.fail("domains", "missing (expected at least one domain)");
  for (auto& [name, d] : domains.items()) {
    std::string where = "domains." + name;
    if (!d.is_object()) ctx.fail(where, "expected a table, got " + type_of(d));
    check_keys(d, {"policy", "model", "labels", "lease_seconds", "sla_seconds", "sensitive", "retention_days",
                   "report", "cost", "max_open_tasks", "webhook", "fatigue", "sla_at_risk_fraction", "gold_file", "shadow_model",
                   "retrain", "stats_segment", "ensemble", "judge_model", "policy_cases", "shadow_policy"},
               where, ctx);
    DomainConfig dc;
    dc.name = name;
    dc.policy = resolve(cfg.base_dir, get_string(d, "policy", where, ctx, "", true));
    if (!fs::exists(dc.policy)) ctx.fail(where + ".policy", "file not found: " + dc.policy.string());
    load_domain_policy_change(d, where, ctx, cfg, dc);
    load_domain_models(d, where, ctx, cfg, dc);
    load_domain_basics(d, where, ctx, dc);
    load_domain_report(d, where, ctx, dc);
    load_domain_workflow(d, where, ctx, cfg, dc);
    load_domain_cost(d, where, ctx, dc);
    load_domain_retrain(d, where, ctx, cfg, dc);
    cfg.domains[name] = std::move(dc);
  }
  return cfg;
}

}  // namespace hitl::config
