// hitl plugin SDK: this one header is the whole plugin API.
//
// A plugin is a shared object that exports one Boost.DLL alias, `hitl_plugin_descriptor`,
// naming a function that returns a pointer to a PluginDescriptor (build it with
// model_descriptor(), queue_descriptor() or storage_descriptor() below).
//
// Versions (docs/plugin-sdk.md, "Versions and compatibility", is the full rule book):
//  * each interface -- model, queue, storage -- has its own major.minor version. A plugin
//    records the version of its own interface; the host loads it when the major is the host's
//    and the minor is not newer than the host's. So a storage change never makes a model
//    vendor rebuild, and a minor release never makes anyone rebuild;
//  * a minor only adds: a virtual method at the end of its class (the host calls it only on
//    plugins whose minor has it), a new struct (passed only to such new methods), a field at
//    the end of PluginDescriptor. An existing struct, method or enum value never changes
//    within a major: structs travel inside std::vector and std::optional, whose element size
//    both sides must agree on;
//  * HITL_SDK_ABI_VERSION is the descriptor's format (6 since per-interface versions; 1..5
//    versioned the whole API at once). It changes only if the descriptor's head changes;
//  * sdk/abi.lock records, per interface and version, the SHA-256 of that interface's
//    declarations (comments and spacing ignored), sdk/abi/ the declarations themselves; the
//    recorder refuses a minor that changed what the previous one had, and test-sdk fails when
//    a declaration changed without a version bump or a pinned size, offset or vtable slot moved.
//
// Rules for plugin authors:
//  * interface methods are noexcept and report failure through Status; no exception may
//    cross the boundary (the host does catch one thrown by a factory and refuses the plugin);
//  * objects a plugin creates are destroyed by the host through their virtual destructor
//    while the library is still loaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

// The descriptor format. Keep it first in PluginDescriptor; see above.
#define HITL_SDK_ABI_VERSION 6u
#define HITL_PLUGIN_ENTRY_SYMBOL "hitl_plugin_descriptor"

// One version per interface. A header edit that changes an interface's declarations bumps its
// minor (only additions, see above) or its major (anything else), then runs
//   cmake --build build --target sdk-update-abi-lock
#define HITL_SDK_MODEL_API_MAJOR 1u
#define HITL_SDK_MODEL_API_MINOR 0u
#define HITL_SDK_QUEUE_API_MAJOR 1u
#define HITL_SDK_QUEUE_API_MINOR 1u
#define HITL_SDK_STORAGE_API_MAJOR 1u
#define HITL_SDK_STORAGE_API_MINOR 3u

namespace hitl::sdk {

inline constexpr std::uint32_t kAbiVersion = HITL_SDK_ABI_VERSION;

struct ApiVersion {
  std::uint16_t major = 0;
  std::uint16_t minor = 0;
};

inline constexpr ApiVersion kModelApi{HITL_SDK_MODEL_API_MAJOR, HITL_SDK_MODEL_API_MINOR};
inline constexpr ApiVersion kQueueApi{HITL_SDK_QUEUE_API_MAJOR, HITL_SDK_QUEUE_API_MINOR};
inline constexpr ApiVersion kStorageApi{HITL_SDK_STORAGE_API_MAJOR, HITL_SDK_STORAGE_API_MINOR};

// The lines "// @abi-section: <name>" split the declarations below into what each version
// covers: `common` belongs to every interface (a change there is a major bump of all three and
// of HITL_SDK_ABI_VERSION), the others to their interface alone.

// @abi-section: common
// ---------------------------------------------------------------------------------------------
// Status: the only way an interface method reports failure.
enum class Code : std::uint8_t {
  ok = 0,
  invalid_argument,  // the caller passed something unusable
  not_found,
  conflict,          // a precondition on current state failed (lease lost, duplicate, ...)
  unavailable,       // a transient failure (busy database, remote down): may be retried
  internal,
};

struct Status {
  Code code = Code::ok;
  std::string message;

  bool ok() const noexcept { return code == Code::ok; }
  static Status Ok() { return {}; }
  static Status Error(Code c, std::string msg) { return Status{c, std::move(msg)}; }
};

// @abi-section: model
// ---------------------------------------------------------------------------------------------
// Data passed to models: a flat record of named feature values.
using Value = std::variant<std::monostate, double, std::string, bool>;  // monostate = missing
using Record = std::vector<std::pair<std::string, Value>>;

struct Prediction {
  std::string label;
  double confidence = 0.0;                                   // probability of `label`, 0..1
  std::vector<std::pair<std::string, double>> scores;        // per class, sums to ~1
  std::vector<std::pair<std::string, double>> contributions; // optional, per feature
};

struct Dataset {
  std::vector<Record> rows;
  std::vector<std::string> labels;  // one per row
  std::vector<double> weights;      // empty = all 1.0
};

struct TrainResult {
  std::string artifact_json;  // what the model's `artifact` config option loads back
  std::string metrics_json;   // a JSON object, e.g. {"accuracy":0.79,"log_loss":0.45}
};

// ---------------------------------------------------------------------------------------------
// The model interface. Model objects must be thread-safe.
class Model {
 public:
  virtual ~Model() = default;
  // Scores a batch; on success `out` has exactly one Prediction per input row.
  virtual Status predict(const std::vector<Record>& rows, std::vector<Prediction>& out) noexcept = 0;
  virtual bool can_train() const noexcept { return false; }
  virtual Status train(const Dataset& data, TrainResult& out) noexcept {
    (void)data; (void)out;
    return Status::Error(Code::invalid_argument, "this model does not support training");
  }
  // A short version string of the loaded artifact (e.g. its content hash).
  virtual std::string version() const noexcept = 0;
  // (new model methods go here, after every existing one; see "Growing an interface")
};


// sizeof of every struct the model interface passes, in the order they joined it: a minor
// appends, nothing is ever removed or reordered within a major. The descriptor carries this
// table so the host can tell a plugin built with other layouts (another C++ standard library
// ABI, a hand-edited header) from one it can talk to.
inline constexpr std::uint32_t kModelStructSizes[] = {
    sizeof(Status), sizeof(Value), sizeof(Record), sizeof(Prediction), sizeof(Dataset), sizeof(TrainResult),
};
inline constexpr const char* kModelStructNames[] = {
    "Status", "Value", "Record", "Prediction", "Dataset", "TrainResult",
};

// @abi-section: queue
// ---------------------------------------------------------------------------------------------
// Queue: dispatches ready review tasks. Highest priority first, then earliest deadline, then
// oldest. A claim takes a lease; a lease not acked before it expires makes the task ready again.
struct QueueItem {
  std::int64_t task_id = 0;
  std::string domain;
  double priority = 0.0;
  std::int64_t deadline_ms = 0;  // 0 = none
  std::int64_t created_ms = 0;
};

struct Lease {
  std::int64_t task_id = 0;
  std::string reviewer;
  std::int64_t expires_ms = 0;
};

struct QueueDepth {
  std::int64_t ready = 0;
  std::int64_t leased = 0;
};

// ---------------------------------------------------------------------------------------------
// The queue interface. Queue objects must be thread-safe.
class Queue {
 public:
  virtual ~Queue() = default;
  // Idempotent per task_id; pushing a queued task again updates its priority and deadline
  // (an escalation re-ranks it) and keeps its lease.
  virtual Status push(const std::vector<QueueItem>& items) noexcept = 0;
  virtual Status claim(const std::string& domain, const std::string& reviewer, std::int64_t now_ms,
                       std::int64_t lease_ms, std::optional<Lease>& out) noexcept = 0;
  // Removes a task leased by `reviewer` (Code::conflict when it is not, or the lease expired).
  virtual Status ack(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms) noexcept = 0;
  virtual Status release(std::int64_t task_id, const std::string& reviewer) noexcept = 0;
  // Makes every task whose lease expired before now_ms ready again and lists them.
  virtual Status expire(std::int64_t now_ms, std::vector<std::int64_t>& expired) noexcept = 0;
  virtual Status depth(const std::string& domain, std::int64_t now_ms, QueueDepth& out) noexcept = 0;
  // Since queue 1.1. Extends the live lease `reviewer` holds on `task_id` to now_ms + lease_ms and
  // sets `expires_ms`; Code::conflict when the task is not leased to them or the lease already
  // expired (it may be someone else's by now). The host calls it only on plugins of queue minor
  // >= 1; this default says the plugin cannot.
  virtual Status renew(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms, std::int64_t lease_ms,
                       std::int64_t& expires_ms) noexcept {
    (void)task_id; (void)reviewer; (void)now_ms; (void)lease_ms; (void)expires_ms;
    return Status::Error(Code::invalid_argument, "this queue plugin cannot renew leases");
  }
  // (new queue methods go here, after every existing one)
};


// See kModelStructSizes.
inline constexpr std::uint32_t kQueueStructSizes[] = {
    sizeof(Status), sizeof(QueueItem), sizeof(Lease), sizeof(QueueDepth),
};
inline constexpr const char* kQueueStructNames[] = {"Status", "QueueItem", "Lease", "QueueDepth"};

// @abi-section: storage
// ---------------------------------------------------------------------------------------------
// Records the storage plugin keeps. Times are milliseconds since the Unix epoch (UTC).
struct DecisionRecord {
  std::string domain;
  std::string id;            // client's id, unique per domain (idempotency key)
  std::string status;        // auto_approved | pending_review | rejected
  std::string reason;
  std::int64_t task_id = 0;  // 0 when no review task was created
  double priority = 0.0;
  std::string label;         // model (or client) label
  double confidence = 0.0;
  std::string input_json;
  std::string prediction_json;  // {"label","confidence","scores":{...}}
  std::string meta_json;        // client's meta object, "{}" when absent
  std::string model_version;    // "" when the client sent its own prediction
  std::string policy_hash;
  std::int64_t created_ms = 0;
  // Filled in once a human outcome is final.
  std::string final_label;
  std::string final_outcome;  // approve | reject | correct
  std::int64_t final_ms = 0;
  // Since ABI 3. The payload (input_json, meta_json, the prediction's contributions) can be
  // erased; input_hash (hex SHA-256 of input_json as first stored, set by the host) stays and is
  // what the audit trail records, so the hash chain still verifies after an erasure.
  std::string input_hash;
  std::int64_t erased_ms = 0;  // 0 = payload present
  // Ground truth learnt after the fact (e.g. the loan did default), reported by a client.
  std::string truth_label;     // "" = not reported
  std::int64_t truth_ms = 0;
};

struct TaskRecord {
  std::int64_t task_id = 0;
  std::string domain;
  std::string decision_id;
  std::string status;  // pending | assigned | completed | escalated | cancelled
  double priority = 0.0;
  std::string reason;
  std::string assignee;
  std::int64_t lease_expires_ms = 0;
  std::int64_t deadline_ms = 0;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  // Since ABI 4: the review workflow.
  std::string skills;            // comma separated skills a reviewer needs ("" = any)
  std::string pool;              // "" = any reviewer of the domain; else only reviewers with that role
  std::int64_t reviews_required = 1;  // consensus: distinct reviewers whose answers must agree
  std::int64_t reviews_done = 0;      // answers collected in the current round
  bool gold = false;             // a quality-control task with a known answer (never shown as such)
  std::string gold_label;
  std::string sla_state;         // "" | at_risk | breached
  std::int64_t escalations = 0;  // escalation events applied so far
  std::string preassigned;       // pushed to this reviewer: only they may claim it while set
  std::string origin;            // who submitted the prediction (four-eyes: never its reviewer)
};

// Changes to a task's workflow fields that are not a status transition (only set fields change).
struct TaskPatch {
  std::int64_t task_id = 0;
  std::optional<double> priority;
  std::optional<std::string> pool;
  std::optional<std::string> sla_state;
  std::optional<std::string> preassigned;
  std::optional<std::int64_t> reviews_done;
  std::optional<std::int64_t> escalations;
  std::optional<std::int64_t> deadline_ms;
};

// A person who reviews (since ABI 4). `id` is the reviewer's token name.
struct ReviewerRecord {
  std::string id;
  std::string name;
  std::string roles;    // comma separated: reviewer, senior, adjudicator, ...
  std::string domains;  // comma separated; "" = every domain
  std::string skills;   // comma separated
  std::int64_t capacity = 1;  // tasks held at once
  double cost_per_hour = 0.0;
  bool disabled = false;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// A webhook delivery, persisted so none is lost across a restart (since ABI 4).
struct DeliveryRecord {
  std::int64_t delivery_id = 0;  // assigned by storage
  std::string domain;
  std::string decision_id;
  std::string event;             // decision.final, task.escalated, ...
  std::string url;
  std::string payload_json;
  std::string status;            // pending | delivered | failed (gave up)
  std::int64_t attempts = 0;
  std::int64_t next_attempt_ms = 0;
  std::string last_error;
  std::int64_t created_ms = 0;
  std::int64_t delivered_ms = 0;
};

struct DeliveryUpdate {
  std::int64_t delivery_id = 0;
  std::string status;
  std::int64_t attempts = 0;
  std::int64_t next_attempt_ms = 0;
  std::string last_error;
  std::int64_t delivered_ms = 0;
};

struct ReviewRecord {
  std::int64_t review_id = 0;  // assigned by storage (ascending in insert order); since ABI 3
  std::int64_t task_id = 0;
  std::string domain;
  std::string decision_id;
  std::string reviewer;
  std::string outcome;  // approve | reject | correct
  std::string final_label;
  std::string comment;         // a payload: erasable like the decision's input
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;  // when the reviewer's lease began (work time = created - started)
};

struct FeedbackRecord {
  std::string domain;
  std::string decision_id;
  std::string input_json;
  std::string final_label;
  std::string model_label;
  double model_confidence = 0.0;
  std::string outcome;
  std::string reviewer;
  std::int64_t created_ms = 0;
};

// The audit trail is a hash chain (since ABI version 2). On insert, storage assigns `seq`
// (1, 2, 3, ... in insert order; never reused, even after the newest record was removed, so a
// removal stays visible as a gap) and sets
//   prev_hash = the `hash` of the newest stored record (seq - 1 in an intact trail), or
//               kAuditGenesisHash for the first record;
//   hash      = lowercase hex SHA-256 of the canonical serialisation:
//     F(seq) F(ts_ms) F(actor) F(action) F(domain) F(entity) F(entity_id) F(D) F(prev_hash)
//   where F(x) = <decimal byte length of x> ":" <x> ","  (a netstring, no separators between),
//   integers are written in decimal ASCII (a leading "-" when negative, no "+", no leading zeros),
//   strings are their bytes as stored (UTF-8, no normalisation), and
//   D = lowercase hex SHA-256 of the bytes of detail_json.
// Example: seq 1, ts_ms 1700000000000, actor "alice", action "review.submitted", domain
// "credit_risk", entity "task", entity_id "42", detail_json {"outcome":"correct","label":"bad"}
// serialises to
//   1:1,13:1700000000000,5:alice,16:review.submitted,11:credit_risk,4:task,2:42,
//   64:8bcf56be90c50228c9fe30240403141e2c996720e08d82c003558ee4614355b7,64:000...000,
// (one line, 64 zeros) whose hash is b3f009b43b0c0417f1a85a842e3c8e6a464332426fae9c612d227cb2b84fd8c3.
// A storage plugin must compute the chain inside the transaction that inserts the records, from
// the newest stored record, so records from every writer of the database form one chain.
inline constexpr const char* kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditRecord {
  std::int64_t seq = 0;  // assigned by storage on insert
  std::int64_t ts_ms = 0;
  std::string actor;     // token name, "system" or "policy"
  std::string action;    // decision.created, task.claimed, review.submitted, ...
  std::string domain;
  std::string entity;    // decision | task | token | ...
  std::string entity_id;
  std::string detail_json;
  // Filled in by storage on insert (ignored when given), returned by list_audit; see above.
  std::string prev_hash;  // hex SHA-256, 64 characters
  std::string hash;       // hex SHA-256, 64 characters
};

struct TokenRecord {
  std::string name;
  std::string role;     // admin | reviewer | client
  std::string domains;  // comma separated; "" = all (admin, client)
  std::string hash;     // hex SHA-256 of the secret; the secret itself is never stored
  std::int64_t created_ms = 0;
  bool revoked = false;
};

// A decision to insert; when it opens a review task, `task` is set (its task_id is assigned
// by storage). On return `duplicate` says the (domain, id) already existed, and `decision`
// (and `task_id`) then hold the stored original: that is how ingest stays idempotent.
// `audit` (since ABI 5) holds the records that describe this decision's creation: storage
// appends them to the chain (before WriteBatch::audit, in decision order) only when the
// decision is new, so the trail never records a creation that was not stored. Those of a
// duplicate are not written and keep seq 0.
struct NewDecision {
  DecisionRecord decision;
  std::optional<TaskRecord> task;
  bool duplicate = false;
  std::vector<AuditRecord> audit;  // since ABI 5
};

// A guarded task transition: applied only when the task's current status is one of
// `from` (comma separated); `applied` reports whether it was.
struct TaskUpdate {
  std::int64_t task_id = 0;
  std::string from;
  std::string to;
  std::string assignee;
  std::int64_t lease_expires_ms = 0;
  std::int64_t updated_ms = 0;
  bool applied = false;
};

struct FinalOutcome {
  std::string domain;
  std::string decision_id;
  std::string final_label;
  std::string final_outcome;
  std::int64_t final_ms = 0;
};

// Erases one decision's payload: its input_json and meta_json become "{}", the prediction loses
// its per-feature contributions, and the input and comments held by its feedback and review rows
// are blanked. input_hash, labels, times and the audit trail stay. `applied` reports whether the
// decision existed and was not erased already.
struct PayloadErasure {
  std::string domain;
  std::string decision_id;
  std::int64_t erased_ms = 0;
  bool applied = false;
};

// Sets a decision's truth_label / truth_ms (Code::not_found for an unknown decision).
struct GroundTruth {
  std::string domain;
  std::string decision_id;
  std::string label;
  std::int64_t reported_ms = 0;
};

// Everything in one WriteBatch commits in one transaction, or none of it does.
struct WriteBatch {
  std::vector<NewDecision> decisions;
  std::vector<TaskUpdate> task_updates;
  std::vector<ReviewRecord> reviews;
  std::vector<FeedbackRecord> feedback;
  std::vector<FinalOutcome> finals;
  std::vector<TokenRecord> tokens;
  std::vector<PayloadErasure> erasures;  // since ABI 3
  std::vector<GroundTruth> truths;       // since ABI 3
  std::vector<TaskPatch> task_patches;   // since ABI 4
  std::vector<ReviewerRecord> reviewers;  // upserted by id
  std::vector<DeliveryRecord> deliveries;  // inserted; delivery_id filled in on return
  std::vector<DeliveryUpdate> delivery_updates;
  std::vector<AuditRecord> audit;  // seq, prev_hash and hash filled in on return
  bool empty() const noexcept {
    return decisions.empty() && task_updates.empty() && reviews.empty() && feedback.empty() &&
           finals.empty() && tokens.empty() && erasures.empty() && truths.empty() && task_patches.empty() &&
           reviewers.empty() && deliveries.empty() && delivery_updates.empty() && audit.empty();
  }
};

// @abi-end
// The parts of a WriteBatch, listed once: the host's writer merges and splits batches by this
// list, and row_count / append visit it. These helpers never cross the plugin boundary (each side
// compiles its own copy, like hitl/audit_chain.hpp), so they stand outside the versioned sections
// and adding one is no interface change. A field added to WriteBatch (a major, see above) is added
// here too; the static_assert below fails until it is. (`empty()` above predates the list and
// stays as it is until that major.)
inline constexpr auto kWriteBatchParts = std::make_tuple(
    &WriteBatch::decisions, &WriteBatch::task_updates, &WriteBatch::reviews, &WriteBatch::feedback,
    &WriteBatch::finals, &WriteBatch::tokens, &WriteBatch::erasures, &WriteBatch::truths,
    &WriteBatch::task_patches, &WriteBatch::reviewers, &WriteBatch::deliveries,
    &WriteBatch::delivery_updates, &WriteBatch::audit);
inline constexpr std::size_t kWriteBatchPartCount = std::tuple_size_v<decltype(kWriteBatchParts)>;
static_assert(sizeof(WriteBatch) == kWriteBatchPartCount * sizeof(std::vector<int>),
              "every WriteBatch field is a vector listed in kWriteBatchParts");

// Calls f(&WriteBatch::<part>) for each part, in declaration order.
template <class F>
constexpr void for_each_part(F&& f) {
  std::apply([&](auto... part) { (f(part), ...); }, kWriteBatchParts);
}

// Rows in all parts together.
inline std::size_t row_count(const WriteBatch& batch) noexcept {
  std::size_t n = 0;
  for_each_part([&](auto part) { n += (batch.*part).size(); });
  return n;
}

// Moves every row of `from` to the end of the same part of `to`; `from` is left empty.
inline void append(WriteBatch& to, WriteBatch&& from) {
  for_each_part([&](auto part) {
    auto& rows = from.*part;
    (to.*part).insert((to.*part).end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
    rows.clear();
  });
}
// @abi-section: storage

// List filters. Times bound created_ms as [from_ms, to_ms); 0 = unbounded. Results come in
// ascending id order; `after_*` is the cursor (the last id of the previous page).
struct TaskFilter {
  std::string domain;  // "" = any
  std::string status;  // "" = any
  std::size_t limit = 1000;
  std::int64_t from_ms = 0;  // since ABI 3
  std::int64_t to_ms = 0;
  std::int64_t after_task_id = 0;
  std::string assignee;   // since ABI 4; "" = any
  std::string sla_state;  // "" = any
  double min_priority = 0.0;
};

struct DeliveryFilter {
  std::string status;          // "" = any
  std::int64_t due_before_ms = 0;  // > 0: next_attempt_ms <= this
  std::string decision_id;     // "" = any
  std::int64_t after_delivery_id = 0;
  std::size_t limit = 1000;
};

// Decisions in (created_ms, id) order; the cursor is the last (created_ms, id) seen.
struct DecisionFilter {
  std::string domain;  // required
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::int64_t after_created_ms = 0;
  std::string after_id;  // with after_created_ms: continue after this (created_ms, id)
  bool with_payload = true;     // false: input_json, meta_json, prediction_json left empty
  bool exclude_erased = false;  // true: only decisions whose payload is still present
  std::size_t limit = 1000;
};

struct ReviewFilter {
  std::int64_t task_id = 0;  // 0 = any
  std::string domain;        // "" = any
  std::string reviewer;      // "" = any (since ABI 4)
  std::string decision_id;   // "" = any (since ABI 4)
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::int64_t after_review_id = 0;
  std::size_t limit = 1000;
};

struct AuditFilter {
  std::string domain;     // "" = any
  std::string entity_id;  // "" = any
  std::int64_t after_seq = 0;
  std::size_t limit = 1000;
};

// Since storage 1.1: the token life cycle (docs/plugin-sdk.md, history). Times are milliseconds
// since the epoch, 0 = never / not set.
// A token as `hitl token list` shows it: never its hash.
struct TokenInfo {
  std::string name;
  std::string role;
  std::string domains;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t last_used_ms = 0;  // as last recorded (the host records at most once a minute)
  std::int64_t revoked_ms = 0;
};
// The expiry of a token of the same commit_tokens() call, by its TokenRecord's hash.
struct TokenExpiry {
  std::string hash;
  std::int64_t expires_ms = 0;
};
// A token was used at `used_ms`: storage keeps the latest time it was told, never an earlier one.
struct TokenUse {
  std::string name;
  std::int64_t used_ms = 0;
};

// Since storage 1.3: a token with its hash and life cycle, as `hitl storage copy` moves it to
// another database. The host never shows it to anyone (TokenInfo is what `hitl token list` shows).
struct TokenExport {
  TokenRecord token;              // with its hash and `revoked`
  std::int64_t expires_ms = 0;    // 0 = never
  std::int64_t last_used_ms = 0;
  std::int64_t revoked_ms = 0;    // 0 = not revoked
};
// Since storage 1.3: a named blob (a registry artifact, a dataset version, a job's state) kept in
// the database itself, so that every instance sharing the database sees it. Names are
// slash-separated paths of at most 512 bytes ("registry/credit_risk/m3.bin").
struct BlobInfo {
  std::string name;
  std::int64_t size = 0;        // bytes
  std::string sha256;           // hex SHA-256 of the bytes, computed by the plugin when stored
  std::int64_t updated_ms = 0;  // as passed to put_blob
};

// ---------------------------------------------------------------------------------------------
// The storage interface. The host serialises calls to one Storage object from its writer
// thread, but reads may come from any thread.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual Status commit(WriteBatch& batch) noexcept = 0;
  virtual Status get_decision(const std::string& domain, const std::string& id,
                              std::optional<DecisionRecord>& out) noexcept = 0;
  virtual Status get_task(std::int64_t task_id, std::optional<TaskRecord>& out) noexcept = 0;
  virtual Status list_tasks(const TaskFilter& filter, std::vector<TaskRecord>& out) noexcept = 0;
  virtual Status list_decisions(const DecisionFilter& filter, std::vector<DecisionRecord>& out) noexcept = 0;
  virtual Status list_reviews(const ReviewFilter& filter, std::vector<ReviewRecord>& out) noexcept = 0;
  virtual Status list_feedback(const std::string& domain, std::vector<FeedbackRecord>& out) noexcept = 0;
  virtual Status list_audit(const AuditFilter& filter, std::vector<AuditRecord>& out) noexcept = 0;
  virtual Status find_token(const std::string& hash, std::optional<TokenRecord>& out) noexcept = 0;
  virtual Status list_reviewers(std::vector<ReviewerRecord>& out) noexcept = 0;  // since ABI 4
  virtual Status list_deliveries(const DeliveryFilter& filter, std::vector<DeliveryRecord>& out) noexcept = 0;
  virtual Status schema_version(int& out) noexcept = 0;
  // Since storage 1.1 (the host calls them only on plugins of 1.1 or later; the defaults answer
  // Code::invalid_argument). commit_tokens commits `batch` as commit() does, with the expiry of
  // its tokens: a token must never be usable without the expiry it was created with.
  virtual Status commit_tokens(WriteBatch& batch, const std::vector<TokenExpiry>& expiries) noexcept {
    (void)batch, (void)expiries;
    return Status::Error(Code::invalid_argument, "this storage plugin has no token life cycle (storage 1.0)");
  }
  // The token of this hash with its life cycle (nullopt when no token has it).
  virtual Status find_token_info(const std::string& hash, std::optional<TokenInfo>& out) noexcept {
    (void)hash, (void)out;
    return Status::Error(Code::invalid_argument, "this storage plugin has no token life cycle (storage 1.0)");
  }
  // Every token by name, revoked ones included.
  virtual Status list_tokens(std::vector<TokenInfo>& out) noexcept {
    (void)out;
    return Status::Error(Code::invalid_argument, "this storage plugin has no token life cycle (storage 1.0)");
  }
  virtual Status record_token_uses(const std::vector<TokenUse>& uses) noexcept {
    (void)uses;
    return Status::Error(Code::invalid_argument, "this storage plugin has no token life cycle (storage 1.0)");
  }
  // Since storage 1.2 (the host calls it only on plugins of 1.2 or later; the default answers
  // Code::invalid_argument and the host then reads one id at a time with get_decision). The
  // stored decision of each of `ids` in `domain`, in the order of `ids` (nullopt where there is
  // none): ingest's repeated-id check in one read per batch, not one per record, which on a
  // database server is one round trip per record.
  virtual Status find_decisions(const std::string& domain, const std::vector<std::string>& ids,
                                std::vector<std::optional<DecisionRecord>>& out) noexcept {
    (void)domain, (void)ids, (void)out;
    return Status::Error(Code::invalid_argument, "this storage plugin cannot read decisions by ids (storage 1.1)");
  }
  // Since storage 1.3 (the host calls them only on plugins of 1.3 or later; the defaults answer
  // Code::invalid_argument). Every token with its hash and life cycle, in name order: what
  // `hitl storage copy` needs to move tokens, which find_token_info and list_tokens never show.
  // The destination takes them back with commit_tokens (and a revocation, when revoked_ms > 0).
  virtual Status export_tokens(std::vector<TokenExport>& out) noexcept {
    (void)out;
    return Status::Error(Code::invalid_argument, "this storage plugin cannot export tokens (storage 1.2)");
  }
  // Named blobs: put_blob creates or replaces `name` with `bytes` at once (a reader sees the old
  // bytes or the new, never a mix); it may be called from any thread, apart from the writer
  // thread's commits, and the plugin orders it with its own writes. get_blob answers nullopt for
  // a name never stored or deleted. list_blobs lists the names starting with `prefix`, in name
  // order, without their bytes. delete_blob of an absent name is Ok.
  virtual Status put_blob(const std::string& name, const std::string& bytes, std::int64_t updated_ms) noexcept {
    (void)name, (void)bytes, (void)updated_ms;
    return Status::Error(Code::invalid_argument, "this storage plugin has no blobs (storage 1.2)");
  }
  virtual Status get_blob(const std::string& name, std::optional<std::string>& out) noexcept {
    (void)name, (void)out;
    return Status::Error(Code::invalid_argument, "this storage plugin has no blobs (storage 1.2)");
  }
  virtual Status list_blobs(const std::string& prefix, std::vector<BlobInfo>& out) noexcept {
    (void)prefix, (void)out;
    return Status::Error(Code::invalid_argument, "this storage plugin has no blobs (storage 1.2)");
  }
  virtual Status delete_blob(const std::string& name) noexcept {
    (void)name;
    return Status::Error(Code::invalid_argument, "this storage plugin has no blobs (storage 1.2)");
  }
  // (new storage methods go here, after every existing one)
};


// See kModelStructSizes.
inline constexpr std::uint32_t kStorageStructSizes[] = {
    sizeof(Status),         sizeof(DecisionRecord), sizeof(TaskRecord),     sizeof(TaskPatch),
    sizeof(ReviewerRecord), sizeof(DeliveryRecord), sizeof(DeliveryUpdate), sizeof(ReviewRecord),
    sizeof(FeedbackRecord), sizeof(AuditRecord),    sizeof(TokenRecord),    sizeof(NewDecision),
    sizeof(TaskUpdate),     sizeof(FinalOutcome),   sizeof(PayloadErasure), sizeof(GroundTruth),
    sizeof(WriteBatch),     sizeof(TaskFilter),     sizeof(DeliveryFilter), sizeof(DecisionFilter),
    sizeof(ReviewFilter),   sizeof(AuditFilter),
    sizeof(TokenInfo),      sizeof(TokenExpiry),    sizeof(TokenUse),  // storage 1.1
    sizeof(TokenExport),    sizeof(BlobInfo),                              // storage 1.3
};
inline constexpr const char* kStorageStructNames[] = {
    "Status",         "DecisionRecord", "TaskRecord",     "TaskPatch",      "ReviewerRecord", "DeliveryRecord",
    "DeliveryUpdate", "ReviewRecord",   "FeedbackRecord", "AuditRecord",    "TokenRecord",    "NewDecision",
    "TaskUpdate",     "FinalOutcome",   "PayloadErasure", "GroundTruth",    "WriteBatch",     "TaskFilter",
    "DeliveryFilter", "DecisionFilter", "ReviewFilter",   "AuditFilter",
    "TokenInfo",      "TokenExpiry",    "TokenUse",  // storage 1.1
    "TokenExport",    "BlobInfo",                    // storage 1.3
};

// @abi-section: common
// ---------------------------------------------------------------------------------------------
// The descriptor a plugin exports. Factories receive the plugin's config as JSON text and may
// fail (returning a Status) or throw (the host catches, reports and refuses the plugin).
enum class PluginKind : std::uint32_t { model = 1, queue = 2, storage = 3 };

inline const char* kind_name(PluginKind k) noexcept {
  switch (k) {
    case PluginKind::model: return "model";
    case PluginKind::queue: return "queue";
    case PluginKind::storage: return "storage";
  }
  return "unknown";
}


using ModelFactory = Status (*)(const char* config_json, std::unique_ptr<Model>& out);
using QueueFactory = Status (*)(const char* config_json, std::unique_ptr<Queue>& out);
using StorageFactory = Status (*)(const char* config_json, std::unique_ptr<Storage>& out);

// Format 6. The host reads abi_version and struct_size first, then copies only struct_size
// bytes: fields added at the end by a later SDK are absent (zero) for plugins built before.
struct PluginDescriptor {
  std::uint32_t abi_version;  // must be first: HITL_SDK_ABI_VERSION (the descriptor format)
  std::uint32_t struct_size;  // must be second: sizeof(PluginDescriptor) as the plugin compiled it
  PluginKind kind;
  ApiVersion api;             // the version of `kind`'s interface the plugin was compiled against
  const char* name;           // unique per kind, e.g. "sqlite"
  const char* version;        // the plugin's own version, e.g. "1.0.0"
  const char* description;    // one line
  // JSON array of {"name","type","default","description"} options. "type" is one of string,
  // number, integer, boolean, array of string, object, or "path": a file or folder name, which
  // the host resolves against the folder of the config file that sets it (relative names only).
  const char* config_doc;
  // Exactly the factory matching `kind` is non-null.
  ModelFactory create_model;
  QueueFactory create_queue;
  StorageFactory create_storage;
  // sizeof of each struct of `kind`'s interface as the plugin compiled it (k<Kind>StructSizes).
  const std::uint32_t* struct_sizes;
  std::uint32_t struct_count;
  // (new descriptor fields go here; the host reads them only when struct_size covers them)
};

// The descriptor of a model / queue / storage plugin, with the versions and sizes of the header
// it is compiled with. A plugin returns a pointer to a static one:
//   static const auto d = hitl::sdk::model_descriptor("rules", "1.0.0", "...", kConfigDoc, &create);
constexpr PluginDescriptor model_descriptor(const char* name, const char* version, const char* description,
                                            const char* config_doc, ModelFactory factory) noexcept {
  return {kAbiVersion, sizeof(PluginDescriptor), PluginKind::model, kModelApi, name, version, description,
          config_doc, factory, nullptr, nullptr, kModelStructSizes,
          static_cast<std::uint32_t>(std::size(kModelStructSizes))};
}

constexpr PluginDescriptor queue_descriptor(const char* name, const char* version, const char* description,
                                            const char* config_doc, QueueFactory factory) noexcept {
  return {kAbiVersion, sizeof(PluginDescriptor), PluginKind::queue, kQueueApi, name, version, description,
          config_doc, nullptr, factory, nullptr, kQueueStructSizes,
          static_cast<std::uint32_t>(std::size(kQueueStructSizes))};
}

constexpr PluginDescriptor storage_descriptor(const char* name, const char* version, const char* description,
                                              const char* config_doc, StorageFactory factory) noexcept {
  return {kAbiVersion, sizeof(PluginDescriptor), PluginKind::storage, kStorageApi, name, version, description,
          config_doc, nullptr, nullptr, factory, kStorageStructSizes,
          static_cast<std::uint32_t>(std::size(kStorageStructSizes))};
}
// @abi-end

}  // namespace hitl::sdk

// Exports `fn` (a namespace-qualified function returning const hitl::sdk::PluginDescriptor*)
// as the plugin's entry point. Include <boost/dll/alias.hpp> before using it.
#define HITL_DECLARE_PLUGIN(fn) BOOST_DLL_ALIAS(fn, hitl_plugin_descriptor)
