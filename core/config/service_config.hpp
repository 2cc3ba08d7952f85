#pragma once
// The service configuration: one Lua file returning a declarative table, validated at start.
// Every error names the file, the key and what was expected, e.g.
//   "hitl.lua: domains.credit_risk.policy: expected a string (path), got number".
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hitl::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PluginRef {
  std::string plugin;       // plugin name within its kind, e.g. "sqlite"
  std::string config_json;  // the plugin's own options as a JSON object
};

struct ModelConfig {
  std::string name;
  PluginRef ref;
};

struct DomainConfig {
  std::string name;
  std::filesystem::path policy;  // absolute
  // Cases a changed policy must pass before a running service swaps it in (absolute; empty: the
  // default beside the policy, policy::default_cases_path).
  std::filesystem::path policy_cases;
  std::filesystem::path shadow_policy;  // absolute; run beside the live policy with no effect; empty = none
  std::string model;             // "" = clients must send predictions
  std::vector<std::string> labels;
  std::int64_t lease_seconds = 300;
  std::int64_t sla_seconds = 0;         // 0 = no deadline unless the policy's sla() gives one
  std::vector<std::string> sensitive;   // "Income", "meta.email": masked for reviewers, exports, logs
  std::int64_t retention_days = 0;      // 0 = keep payloads
  std::string report_group;             // bias metrics attribute, "" = none
  std::vector<double> report_bands;     // ascending cut points for a numeric attribute
  double cost_reviewer_per_hour = 0;
  double cost_per_prediction = 0;
  // The review workflow.
  std::int64_t max_open_tasks = 0;        // backpressure: past it ingest answers 429; 0 = no limit
  std::string webhook_url;                // "" = no webhook
  std::string webhook_secret;             // HMAC-SHA256 key of the signature header
  std::int64_t webhook_max_attempts = 8;
  std::int64_t webhook_timeout_ms = 5000;
  std::int64_t fatigue_max_consecutive = 0;  // consecutive tasks of this domain per reviewer; 0 = none
  std::int64_t fatigue_max_per_hour = 0;     // tasks of this domain per reviewer per hour; 0 = none
  double sla_at_risk_fraction = 0.8;      // a task is at risk once this share of its SLA has passed
  std::filesystem::path gold_file;        // golden set (JSON Lines) for gold tasks; empty = none
  std::string shadow_model;               // key of `models` scored alongside, never decides; "" = none
  // The learning loop's retraining (core/learning, learning/retrain_worker).
  std::filesystem::path retrain_base_data;       // labelled CSV mixed into every training; empty = none
  std::string retrain_base_label = "label";
  std::int64_t retrain_check_seconds = 60;       // retrain(stats) on a timer too; 0 = after outcomes only
  std::int64_t retrain_min_interval_seconds = 300;
  double retrain_holdout_fraction = 0.2;
  bool retrain_promote = true;
  // Honest evaluation (docs/learning-loop.md, "The promotion rule" and "The live guard").
  double retrain_base_holdout_fraction = 0.2;    // base rows never trained on, judged on; 0 = none
  double retrain_promote_confidence = 0.95;      // the default rule's paired test
  double retrain_promote_tolerance = 0.01;       // how much worse a guard may get
  std::int64_t retrain_guard_min_samples = 200;  // audit samples per model before the live guard acts; 0 = off
  // Flagging signals (docs/policy.md, "Signals").
  std::string stats_segment;              // input field or meta.<field> keying hitl.stats(w, segment); "" = none
  // Further models (keys of `models`) scoring every record for p.predictions, in config order.
  // Never the primary: `model`, or the first of `ensemble` when `model` is not set, is moved there.
  std::vector<std::string> ensemble;
  std::string judge_model;                // key of `models` run on cases flag sends to hitl.judge(); "" = none
};

struct ServiceConfig {
  std::filesystem::path file;      // absolute path of the config file
  std::filesystem::path base_dir;  // its folder: relative paths resolve against it
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  int http_threads = 2;
  std::size_t max_body_bytes = 8u << 20;
  std::size_t max_batch_records = 10000;
  int max_json_depth = 64;              // deepest nesting of any JSON a client sends; deeper gets 422
  int max_connections = 1024;           // open HTTP connections; past it new ones get 503 and close
  int header_timeout_seconds = 10;      // time a connection has to send a complete request header
  int idle_timeout_seconds = 60;        // keep-alive connections idle longer are closed
  int slow_threads = 2;                 // threads for slow routes (reports, exports, listings)
  std::vector<std::filesystem::path> plugin_dirs;
  std::filesystem::path script_lib_dir;
  std::filesystem::path datasets_dir;  // dataset versions (core/dataset); default <config dir>/datasets
  std::filesystem::path registry_dir;  // model registry (core/registry); default <config dir>/registry
  std::uint64_t policy_instruction_budget = 1'000'000;
  std::size_t policy_memory_mb = 32;
  std::int64_t policy_deadline_ms = 1000;  // wall-clock limit of one policy call (second guard)
  std::int64_t policy_watch_seconds = 2;   // how often hitl serve looks for changed policy files; 0 = never
  std::size_t writer_max_batch = 2000;
  int writer_step_threads = 0;  // claim and submit steps: 0 = on the writer thread (review/step_pool.hpp)
  std::string log_level = "info";
  std::string log_format = "text";
  std::int64_t audit_head_log_seconds = 300;
  std::int64_t max_wait_seconds = 60;  // longest ?wait= a client may ask for
  PluginRef storage;
  // Where the reports read (GET .../report, .../report/series, /v1/me/figures): a read replica of
  // `storage` (a PostgreSQL hot standby). Empty plugin: the reports read `storage` itself.
  PluginRef reports_storage;
  PluginRef queue;
  std::map<std::string, ModelConfig> models;
  std::map<std::string, DomainConfig> domains;
};

// One documented option (fluent-bit style): feeds validation, error messages and the docs.
struct OptionDoc {
  std::string key;  // dotted, "*" for a map entry, e.g. "domains.*.policy"
  std::string type;
  std::string default_value;
  std::string description;
};
const std::vector<OptionDoc>& option_docs();

// "HOST:PORT" -> (host, port 0..65535); throws ConfigError saying what was expected.
// Shared by the `listen` option and `hitl serve --listen`.
std::pair<std::string, std::uint16_t> parse_listen(const std::string& listen);

// The options a plugin declares as paths ("type": "path" in its config_doc), given the
// config's plugin_dirs, the plugin's kind ("storage", "queue", "model") and name. Only the
// plugin knows which of its options name files: plugin::PathOptionCatalog answers from the
// descriptors; an empty answer (unknown plugin) leaves its config as written.
using PathOptionsOf = std::function<std::vector<std::string>(
    const std::vector<std::filesystem::path>& plugin_dirs, std::string_view kind, const std::string& plugin)>;

// Loads and validates `file`. `default_plugin_dir` and `default_script_lib_dir` are used when the
// file does not set plugin_dirs / script_lib_dir (the hitl binary passes <exe>/../lib/hitl and
// <exe>/../share/hitl/lua). In each plugin's config, a relative string given for an option the
// plugin declares as a path (`path_options`) is resolved against the config file's folder, so a
// config works from any working directory. Throws ConfigError.
ServiceConfig load_config(const std::filesystem::path& file,
                          const std::filesystem::path& default_plugin_dir,
                          const std::filesystem::path& default_script_lib_dir,
                          const PathOptionsOf& path_options);

}  // namespace hitl::config
