#pragma once
// Lua 5.4 policy engine: one compiled policy per domain, one lua_State per worker thread per
// domain, sandboxed, with an instruction budget and a memory cap per call.
//
// A policy file returns a table with `flag(p)` (required) and optionally `priority(task)`,
// `sla(task)` and a `version` string.
// Any error, timeout, memory overrun or bad return value fails closed: the verdict is
// review with reason "policy_error" (counted and logged). docs/policy.md lists every guard.
#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hitl::policy {

namespace detail { struct Domain; }

class PolicyError : public std::runtime_error {  // load-time problems: "<file>: <reason>"
 public:
  using std::runtime_error::runtime_error;
};

struct Limits {
  std::uint64_t instruction_budget = 1'000'000;  // per call; exceeded -> policy_error
  std::size_t memory_bytes = 32u << 20;           // per lua_State
  // Wall-clock limit of one call (a second guard beside the budget); exceeded -> policy_error.
  std::int64_t deadline_ms = 1000;
};

struct PredictionView {
  std::string label;
  double confidence = 0.0;
  std::vector<std::pair<std::string, double>> scores;
  // Only in p.predictions (ensembles): the model (key of `models`, or "client") and its version.
  std::string model, version;
};

// p.ood: how far the input lies from the model's training data (data/feature_stats.hpp).
struct OodView {
  double score = 0;
  std::vector<std::pair<std::string, double>> furthest;  // feature -> z, largest first
};

// Rolling figures of one domain (or one segment of it) over a window, for hitl.stats().
struct WindowFigures {
  std::int64_t window_seconds = 0;
  std::uint64_t predictions = 0, flagged = 0, rejected = 0, errors = 0, reviews = 0;
  std::int64_t open_tasks = 0;
};

enum class StatsStatus { ok, unknown_domain, bad_window, no_segment_field };

// Where hitl.stats() reads from (ingest/signals.hpp in the service). Called from policy calls on
// every worker thread: implementations must be thread-safe, cheap and must not throw.
class SignalSource {
 public:
  virtual ~SignalSource();
  // `segment` null: the whole domain. `window_seconds` in 1..max_window_seconds().
  virtual StatsStatus window(const std::string& domain, const std::string* segment, std::int64_t window_seconds,
                             std::int64_t now_ms, WindowFigures& out) const noexcept = 0;
  virtual std::int64_t max_window_seconds() const noexcept = 0;
  // hitl.threshold_for_rate(rate): the confidence below which `rate` of the domain's recent
  // predictions fall; nullopt when there are too few (the default: a source without them).
  virtual std::optional<double> threshold_for_rate(const std::string& domain, double rate) const noexcept;
  // hitl.calibrated(p): the chance the live model's label is right at `confidence`, from the
  // domain's labelled outcomes; nullopt when too few fell near it (the default: none).
  virtual std::optional<double> calibrated(const std::string& domain, double confidence) const noexcept;
};

// What `flag(p)` sees: p.input, p.prediction, p.meta, p.domain.
struct FlagInput {
  const std::string* domain = nullptr;
  const nlohmann::json* input = nullptr;  // JSON object
  const nlohmann::json* meta = nullptr;   // JSON object or null
  const PredictionView* prediction = nullptr;
  // Values of the record's sensitive fields: replaced by "[redacted]" in an error message before
  // it is logged or returned (a policy may quote them: error("income " .. p.input.Income)).
  const std::vector<std::string>* redact = nullptr;
  // p.predictions: every ensemble member's output, the primary first (null: p.predictions is
  // just { p.prediction }). p.ood: null leaves p.ood nil (the model has no feature statistics).
  const std::vector<PredictionView>* predictions = nullptr;
  const OodView* ood = nullptr;
  // Names the record (unique in the process, see next_record_key()): the hooks of one record
  // then share one p.input / task.input table, built once. 0 = build it for this call alone.
  std::uint64_t record = 0;
};

// A fresh FlagInput::record / TaskView::record value (never 0, never repeated in the process).
std::uint64_t next_record_key() noexcept;

enum class Action { auto_approve, review, reject };

struct Verdict {
  Action action = Action::review;
  // flag returned hitl.judge(reason): action is review (so a caller without a judge step fails
  // closed) and the host should run the judge model, then judge(p, verdict).
  bool judge = false;
  std::string reason;        // "" for auto; "policy_error" when the policy failed
  std::vector<std::string> skills;  // review opts: skills a reviewer needs
  std::string pool;                 // review opts: the reviewer role that alone may take it
  bool policy_error = false;
  std::string error;         // the error text when policy_error
};

// The `verdict` judge(p, verdict) sees: the judge model's prediction (model, version, label,
// confidence, scores) and the reason flag gave to hitl.judge(reason).
struct JudgeView {
  PredictionView prediction;
  std::string reason;
};

// What `priority(task)` and `sla(task)` see: task.reason, task.domain, task.input,
// task.prediction, task.meta, and for sla(task) also task.priority.
struct TaskView {
  const std::string* domain = nullptr;
  const std::string* reason = nullptr;
  const nlohmann::json* input = nullptr;
  const nlohmann::json* meta = nullptr;
  const PredictionView* prediction = nullptr;
  const double* priority = nullptr;  // set once priority() has run
  std::uint64_t record = 0;          // as FlagInput::record
};

// The review workflow hooks (assign, escalate, reviewers_needed) see this `task`.
struct WorkflowTaskView {
  TaskView base;  // domain, reason, input, meta, prediction, priority
  std::int64_t task_id = 0;
  std::vector<std::string> skills;
  std::string pool;
  std::int64_t deadline_ms = 0;
  std::int64_t reviews_done = 0;
  std::int64_t reviews_required = 1;
};

// One reviewer as assign(task, candidates) sees it.
struct CandidateView {
  std::string id, name;
  std::vector<std::string> roles, skills;
  std::int64_t load = 0, capacity = 1;
  double cost_per_hour = 0;
  std::optional<double> gold_accuracy;  // none until the reviewer answered a gold task
  std::int64_t gold_answers = 0;
  std::optional<double> agreement;      // share of consensus rounds where they agreed
  std::int64_t consecutive = 0;         // tasks of this domain in a row
  std::int64_t last_hour = 0;           // tasks of this domain in the last hour
};

struct EscalationEvent {
  std::string kind;  // at_risk | breached
  std::int64_t now_ms = 0;
  std::int64_t deadline_ms = 0;
};

struct EscalationAction {
  std::string action;  // priority | reassign | notify | default
  double value = 0;    // priority
  std::string pool;    // reassign
  std::string label;   // default
};

// One feedback sample (a final human outcome, core/dataset) as weight(sample) sees it.
struct SampleView {
  std::string domain, decision_id;
  const nlohmann::json* input = nullptr;
  std::string final_label, model_label, outcome;
  double confidence = 0;  // the model's confidence in model_label
  std::vector<std::string> tags, reviewers;
  std::int64_t created_ms = 0;
};

struct DomainPolicy {
  std::string domain;
  std::filesystem::path file;
};

class PolicyEngine {
  struct Impl;  // policy_engine.cpp

 public:
  // `lib_dir` is scripts/lib (where `require "hitl"` resolves). Loads and checks every policy:
  // it compiles, returns a table, `flag` is a function, `priority` if present is a function.
  // Throws PolicyError naming the file on the first bad policy. `signals` answers hitl.stats()
  // (null: hitl.stats() raises, failing closed); it must outlive the engine's use.
  PolicyEngine(std::vector<DomainPolicy> policies, std::filesystem::path lib_dir, Limits limits = {},
               const SignalSource* signals = nullptr);
  ~PolicyEngine();
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;

  bool has_domain(const std::string& domain) const;

  // Holds the generation of `domain`'s policy in force now for every call this thread makes
  // through the engine until the Pin goes: a batch is decided, hashed and audited by one policy
  // even when replace() swaps it meanwhile. Pins nest; destroy them in reverse order on the
  // thread that made them (a scoped local). An unknown domain pins nothing.
  class Pin {
   public:
    Pin(const PolicyEngine& engine, const std::string& domain);
    ~Pin();
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;

   private:
    friend struct PolicyEngine::Impl;
    const void* engine_;
    std::shared_ptr<detail::Domain> domain_;
    const Pin* prev_;
  };

  // A separate engine holding `file` compiled as `domain`'s policy with this engine's library
  // folder and limits, and no signals (a case run gives its own). Throws PolicyError.
  std::unique_ptr<PolicyEngine> candidate(const std::string& domain, const std::filesystem::path& file) const;
  // Swaps `candidate`'s policy for `domain` in, atomically: calls already running finish on the
  // generation they started with, later calls use the new one. The candidate engine gives its
  // policy up (it must not be used for `domain` afterwards). Returns the hash of the policy
  // replaced. Throws PolicyError when either engine has no such domain.
  std::string replace(const std::string& domain, PolicyEngine& candidate);
  // Shifts what hitl.now() and hitl.stats() see as now, for this engine only (a test case's
  // "now"): the service clock of every other part stays as it is.
  void set_clock_offset_ms(std::int64_t offset) noexcept;
  std::filesystem::path policy_file(const std::string& domain) const;  // empty: unknown domain
  // For shutdown: every running policy call stops at its next instruction (or pattern-matching
  // step) and fails closed with "service stopping", and so does every later call. Thread-safe.
  void interrupt() noexcept;
  // Replaces the source of hitl.stats() (tests); set it before the first policy call.
  void set_signals(const SignalSource* signals) noexcept;
  // Thread-safe: each calling thread uses its own lua_State for the domain.
  Verdict flag(const std::string& domain, const FlagInput& in) noexcept;
  // judge(p, verdict) after flag returned hitl.judge(reason) and the judge model answered: the
  // final verdict (auto, review or reject). Without the hook, on an error or a bad return
  // (including hitl.judge again): review "judge_error" with policy_error set (counted, logged).
  Verdict judge(const std::string& domain, const FlagInput& in, const JudgeView& verdict) noexcept;
  bool has_judge(const std::string& domain) const;
  // Default when the policy has no priority(): 0.5. On error: 1.0 (most urgent) + counted.
  double priority(const std::string& domain, const TaskView& task) noexcept;

  // sla(task): seconds until the review is due, 0 when sla() returned nil (no deadline), nullopt
  // when the policy has no sla(). On an error: nullopt with `failed` set (counted and logged); the
  // caller applies the domain's configured default in both nullopt cases, so a broken sla()
  // never leaves a case without its default deadline.
  std::optional<double> sla_seconds(const std::string& domain, const TaskView& task, bool& failed) noexcept;

  std::string policy_hash(const std::string& domain) const;  // sha256 of the file content
  // The policy table's `version` field (e.g. "2026-11-03"), "" when it sets none.
  std::string policy_version(const std::string& domain) const;

  // reviewers_needed(task): 1..5 distinct reviewers who must agree; 1 without the hook or on an
  // error (counted). Values outside 1..5 are an error.
  std::int64_t reviewers_needed(const std::string& domain, const WorkflowTaskView& task) noexcept;
  // assign(task, candidates): reviewer ids in preference order (only ids among the candidates are
  // kept), or nullopt for the default order (no hook, the hook returned nil, or it failed: `failed`).
  std::optional<std::vector<std::string>> assign(const std::string& domain, const WorkflowTaskView& task,
                                                 const std::vector<CandidateView>& candidates, bool& failed) noexcept;
  // escalate(task, event): the actions to apply; none without the hook or on an error (`failed`).
  std::vector<EscalationAction> escalate(const std::string& domain, const WorkflowTaskView& task,
                                         const EscalationEvent& event, bool& failed) noexcept;
  // weight(sample): the sample's training weight, a finite number >= 0. Without the hook, or on
  // an error or a bad value (`failed`, counted and logged), default_weight().
  double weight(const std::string& domain, const SampleView& sample, bool& failed) noexcept;
  // 1: every sample as much as a row of the base data. Weighting uncertain cases up (the old
  // default 1 / (confidence + 0.01), now hitl.inverse_confidence) gave the reviewed slice about two
  // thirds of the training mass and made promoted models worse (issue 18); a policy opts in.
  static double default_weight() noexcept;
  bool has_weight(const std::string& domain) const;
  // promote(eval): whether a candidate model should replace the live one. `eval` is the JSON of
  // `hitl model evaluate` (live and candidate metrics, golden set, groups). nullopt without the
  // hook; on an error or a bad return: false with `failed` set (fail closed: the live model
  // stays). `reason` gets the hook's optional second return value.
  std::optional<bool> promote(const std::string& domain, const nlohmann::json& eval, std::string& reason,
                              bool& failed) noexcept;
  // retrain(stats): whether to train a new candidate now. `stats` is the retrain worker's JSON
  // (samples and corrections since the last training, flag rates, reviewer disagreement, time
  // since training). nullopt without the hook; on an error or a bad return: false with `failed`
  // set (counted and logged: a broken hook never trains in a loop). `reason` as for promote.
  std::optional<bool> retrain(const std::string& domain, const nlohmann::json& stats, std::string& reason,
                              bool& failed) noexcept;
  bool has_retrain(const std::string& domain) const;
  bool has_assign(const std::string& domain) const;
  bool has_escalate(const std::string& domain) const;
  double gold_rate(const std::string& domain) const;          // 0 without gold_rate
  double audit_rate(const std::string& domain) const;         // 0 without audit_rate
  double min_gold_accuracy(const std::string& domain) const;  // 0 without min_gold_accuracy
  std::uint64_t error_count(const std::string& domain) const;

  // Loads and checks one file without a service (for `hitl policy check`). Throws PolicyError.
  static void check_file(const std::filesystem::path& file, const std::filesystem::path& lib_dir,
                         Limits limits = {});

 private:
  std::optional<bool> yes_no(const std::string& domain, bool retrain, const nlohmann::json& arg, std::string& reason,
                             bool& failed) noexcept;
  Verdict verdict_of(const std::string& domain, const FlagInput& in, const char* hook, void* call,
                     const char* fail_reason) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hitl::policy
