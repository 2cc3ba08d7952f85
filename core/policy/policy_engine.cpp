#include "policy/policy_engine.hpp"

#include "common/hash.hpp"
#include "common/redact_text.hpp"
#include "common/utf8.hpp"
#include "policy/lua_sandbox.hpp"
#include "policy/lua_values.hpp"
#include "policy/policy_calls.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace hitl::policy {
namespace fs = std::filesystem;

std::uint64_t next_record_key() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}
using namespace detail;
using namespace calls;

namespace {

// ---- C++ side ----

std::atomic<std::uint64_t> g_next_generation{1};

// A policy's error text goes into the decision's audit record and the client's logs: it may quote
// input bytes (error(string.sub(p.input.name, 1, 1))) or be megabytes long, so it is made valid
// UTF-8 and cut, after redaction (so the cut never leaves half a sensitive value unredacted).
constexpr std::size_t kMaxErrorBytes = 1024;

std::string error_text(const std::string& failure) { return utf8_text(failure, kMaxErrorBytes); }

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string read_policy_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw PolicyError(file.string() + ": file not found");
  if (!fs::is_regular_file(file, ec)) throw PolicyError(file.string() + ": not a regular file");
  std::ifstream f(file, std::ios::binary);
  if (!f) throw PolicyError(file.string() + ": cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw PolicyError(file.string() + ": read error");
  return std::move(ss).str();
}

}  // namespace

namespace detail {
// The per-thread state of one domain. Owned by the Domain, used only by its thread.
struct Slot {
  std::unique_ptr<SandboxState> state;
};

// One compiled generation of a domain's policy. A reload builds a new Domain and swaps it in
// whole; a call pins the generation it started with (shared_ptr), so it never sees half a swap.
struct Domain {
  Domain(std::string name_, fs::path file_, const fs::path& lib_dir)
      : name(std::move(name_)), file(std::move(file_)), display(file.string()),
        chunkname("@" + file.filename().string()), modules(lib_dir, file.parent_path()) {}

  // Keys the thread-local slot cache: a new generation (or one adopted from a candidate engine)
  // gets a fresh id, so a cache entry never reaches a freed generation at a reused address.
  std::uint64_t id = g_next_generation.fetch_add(1);
  std::string name;
  fs::path file;
  std::string display;    // the path as given, for PolicyError messages
  std::string chunkname;  // "@policy.lua": runtime errors read "policy.lua:12: ..."
  std::string hash;
  std::string bytecode;  // compiled once at load; every state loads this, never the file
  bool has_priority = false;
  bool has_sla = false;
  std::string version;
  bool has_assign = false, has_escalate = false, has_reviewers_needed = false, has_weight = false, has_promote = false;
  bool has_retrain = false;
  bool has_judge = false;
  double gold_rate = 0, min_gold_accuracy = 0, audit_rate = 0;
  ModuleResolver modules;
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> next_log_ms{0};
  std::atomic<std::uint64_t> suppressed_logs{0};

  std::shared_mutex slots_mu;
  std::unordered_map<std::thread::id, std::unique_ptr<Slot>> slots;

  // "<file>: <reason>", folding a leading "policy.lua:<line>:" into the full path.
  PolicyError load_error(const std::string& msg) const {
    const std::string short_name = chunkname.substr(1) + ":";
    if (msg.rfind(short_name, 0) == 0) return PolicyError(display + ":" + msg.substr(short_name.size()));
    return PolicyError(display + ": " + msg);
  }
};
}  // namespace detail

namespace {
// The innermost PolicyEngine::Pin of this thread; each links to the one it hides.
thread_local const PolicyEngine::Pin* t_pin_top = nullptr;
}  // namespace

struct PolicyEngine::Impl {
  Limits limits;
  fs::path lib_dir;
  // The set of domains is fixed at construction; each one's generation is swapped by replace().
  std::unordered_map<std::string, std::unique_ptr<std::atomic<std::shared_ptr<Domain>>>> domains;
  std::atomic<const SignalSource*> signals{nullptr};  // hitl.stats(); read by every state
  std::atomic<bool> interrupted{false};               // interrupt(); read by every state's guards
  std::atomic<std::int64_t> clock_offset{0};          // hitl.now() and hitl.stats() of case runs

  // The generation a call uses: the one this thread pinned (PolicyEngine::Pin), else the one in
  // force now. Null for an unknown domain.
  std::shared_ptr<Domain> find(const std::string& name) const {
    for (const Pin* p = t_pin_top; p; p = p->prev_)
      if (p->engine_ == this && p->domain_->name == name) return p->domain_;
    auto it = domains.find(name);
    return it == domains.end() ? nullptr : it->second->load(std::memory_order_acquire);
  }

  // A fresh state running the policy. From the file text at load (dump_out set), from the
  // precompiled chunk afterwards. Throws PolicyError.
  std::unique_ptr<SandboxState> make_state(Domain& d, const std::string* source, std::string* dump_out,
                                           Domain* shape = nullptr) const {
    std::unique_ptr<SandboxState> s;
    try {
      s = std::make_unique<SandboxState>(d.modules, d.name, limits.instruction_budget, limits.memory_bytes,
                                         std::chrono::milliseconds(limits.deadline_ms));
    } catch (const std::exception& e) {
      throw d.load_error(e.what());
    }
    s->context().signals = &signals;
    s->context().interrupted = &interrupted;
    s->context().clock_offset = &clock_offset;
    lua_State* L = s->L();
    StackGuard guard(L);
    const std::string& code = source ? *source : d.bytecode;
    InitCall call{code.data(), code.size(), d.chunkname.c_str(), source ? "t" : "b", dump_out, false};
    s->begin_call();
    const int status = protected_call(L, init_policy, &call);
    bool broken = false;
    std::string failure = call_failure(*s, status, broken);
    if (!failure.empty()) throw d.load_error(failure);
    if (shape) {
      shape->has_priority = call.has_priority;
      shape->has_sla = call.has_sla;
      shape->version = call.version;
      shape->has_assign = call.has_assign;
      shape->has_escalate = call.has_escalate;
      shape->has_reviewers_needed = call.has_reviewers_needed;
      shape->has_weight = call.has_weight;
      shape->has_promote = call.has_promote;
      shape->has_retrain = call.has_retrain;
      shape->has_judge = call.has_judge;
      shape->gold_rate = call.gold_rate;
      shape->min_gold_accuracy = call.min_gold_accuracy;
      shape->audit_rate = call.audit_rate;
    }
    return s;
  }

  void load(Domain& d) {
    const std::string source = read_policy_file(d.file);
    d.hash = sha256_hex(source);
    std::string bytecode;
    make_state(d, &source, &bytecode, &d);
    d.bytecode = std::move(bytecode);
  }

  // This thread's slot for `d`: a small thread_local cache in front of the generation's registry.
  // Entries carry the generation's id, so entries of a freed generation never match.
  Slot& slot_for(Domain& d) {
    struct Entry {
      std::uint64_t generation = 0;
      const Domain* domain = nullptr;
      Slot* slot = nullptr;
    };
    thread_local std::array<Entry, 8> cache{};
    thread_local std::size_t next = 0;
    for (auto& e : cache)
      if (e.generation == d.id && e.domain == &d) return *e.slot;
    const auto me = std::this_thread::get_id();
    Slot* slot = nullptr;
    {
      std::shared_lock lock(d.slots_mu);
      auto it = d.slots.find(me);
      if (it != d.slots.end()) slot = it->second.get();
    }
    if (!slot) {
      std::unique_lock lock(d.slots_mu);
      auto& p = d.slots[me];
      if (!p) p = std::make_unique<Slot>();
      slot = p.get();
    }
    cache[next] = Entry{d.id, &d, slot};
    next = (next + 1) % cache.size();
    return *slot;
  }

  // Counts the failure and logs it, at most once a second per domain.
  void report(Domain& d, const char* entry, const std::string& error) {
    d.errors.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t now = steady_ms();
    std::int64_t due = d.next_log_ms.load(std::memory_order_relaxed);
    if (now >= due && d.next_log_ms.compare_exchange_strong(due, now + 1000)) {
      const auto skipped = d.suppressed_logs.exchange(0);
      spdlog::warn("policy {} failed for domain {} (failing closed): {}{}", entry, d.name, error,
                   skipped ? fmt::format(" ({} similar messages suppressed)", skipped) : std::string());
    } else {
      d.suppressed_logs.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // Runs one entry point on this thread's state. Returns "" or the failure text. When the call
  // succeeds and left a string on top, it is copied to `result_string`.
  // `got_result` (when given) says whether the call left a string result (nil leaves none).
  std::string run(Domain& d, lua_CFunction fn, void* call, std::string* result_string, bool* got_result = nullptr) {
    // A call shorter than one hook interval would never see the interrupt: refuse it up front.
    if (interrupted.load(std::memory_order_relaxed)) return stop_message(Stop::interrupted);
    Slot& slot = slot_for(d);
    if (!slot.state) {
      try {
        slot.state = make_state(d, nullptr, nullptr);
      } catch (const std::exception& e) {
        return e.what();
      }
    }
    bool broken = false;
    std::string failure;
    {
      lua_State* L = slot.state->L();
      StackGuard guard(L);
      slot.state->begin_call();
      const int status = protected_call(L, fn, call);
      failure = call_failure(*slot.state, status, broken);
      if (failure.empty() && result_string && lua_type(L, -1) == LUA_TSTRING) {
        std::size_t n = 0;
        const char* r = lua_tolstring(L, -1, &n);  // never allocates for a string
        result_string->assign(r, n);
        if (got_result) *got_result = true;
      }
    }
    if (broken) slot.state.reset();  // a memory or budget failure may leave the state half-updated
    return failure;
  }
};

PolicyEngine::PolicyEngine(std::vector<DomainPolicy> policies, fs::path lib_dir, Limits limits,
                           const SignalSource* signals)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->signals.store(signals, std::memory_order_release);
  impl_->lib_dir = std::move(lib_dir);
  for (auto& p : policies) {
    if (impl_->domains.count(p.domain))
      throw PolicyError(p.file.string() + ": domain \"" + p.domain + "\" has more than one policy");
    auto d = std::make_shared<Domain>(p.domain, p.file, impl_->lib_dir);
    impl_->load(*d);
    impl_->domains.emplace(p.domain, std::make_unique<std::atomic<std::shared_ptr<Domain>>>(std::move(d)));
  }
}

PolicyEngine::~PolicyEngine() = default;

PolicyEngine::Pin::Pin(const PolicyEngine& engine, const std::string& domain)
    : engine_(engine.impl_.get()), domain_(engine.impl_->find(domain)), prev_(t_pin_top) {
  t_pin_top = this;
}

PolicyEngine::Pin::~Pin() { t_pin_top = prev_; }

std::unique_ptr<PolicyEngine> PolicyEngine::candidate(const std::string& domain, const fs::path& file) const {
  return std::make_unique<PolicyEngine>(std::vector<DomainPolicy>{{domain, file}}, impl_->lib_dir, impl_->limits);
}

std::string PolicyEngine::replace(const std::string& domain, PolicyEngine& candidate) {
  auto live = impl_->domains.find(domain);
  auto cand = candidate.impl_->domains.find(domain);
  if (live == impl_->domains.end() || cand == candidate.impl_->domains.end())
    throw PolicyError("no policy for domain \"" + domain + "\" to replace");
  std::shared_ptr<Domain> fresh = cand->second->exchange(nullptr);
  if (!fresh) throw PolicyError("the candidate for domain \"" + domain + "\" was already used");
  // The candidate's states point at the candidate engine's signals and interrupt flag: this
  // engine's threads build their own. A new id keeps the candidate thread's cache entries away.
  {
    std::unique_lock lock(fresh->slots_mu);
    fresh->slots.clear();
  }
  fresh->id = g_next_generation.fetch_add(1);
  const std::shared_ptr<Domain> old = live->second->load(std::memory_order_acquire);
  fresh->errors.store(old->errors.load(std::memory_order_relaxed), std::memory_order_relaxed);
  live->second->store(fresh, std::memory_order_release);
  return old->hash;  // the old generation goes when the last call that pinned it returns
}

void PolicyEngine::set_clock_offset_ms(std::int64_t offset) noexcept {
  impl_->clock_offset.store(offset, std::memory_order_relaxed);
}

SignalSource::~SignalSource() = default;
std::optional<double> SignalSource::threshold_for_rate(const std::string&, double) const noexcept { return std::nullopt; }
std::optional<double> SignalSource::calibrated(const std::string&, double) const noexcept { return std::nullopt; }

void PolicyEngine::set_signals(const SignalSource* signals) noexcept { impl_->signals.store(signals, std::memory_order_release); }

bool PolicyEngine::has_domain(const std::string& domain) const { return impl_->find(domain) != nullptr; }

void PolicyEngine::interrupt() noexcept { impl_->interrupted.store(true, std::memory_order_relaxed); }

// Runs flag (call_flag) or judge (call_judge) and turns the result into a Verdict. Every failure
// gives review with `fail_reason` (policy_error, judge_error), counted and logged.
Verdict PolicyEngine::verdict_of(const std::string& domain, const FlagInput& in, const char* hook, void* call_data,
                                 const char* fail_reason) noexcept {
  Verdict v;  // review by default: every failure path below fails closed
  v.action = Action::review;
  v.reason = fail_reason;
  v.policy_error = true;
  const auto d = impl_->find(domain);
  if (!d) {
    v.error = "no policy for domain \"" + domain + "\"";
    return v;
  }
  const bool judging = std::strcmp(hook, "judge") == 0;
  try {
    FlagCall& call = judging ? static_cast<JudgeCall*>(call_data)->flag : *static_cast<FlagCall*>(call_data);
    std::string reason;
    std::string failure;
    if (judging && !d->has_judge) failure = "flag returned hitl.judge(...) but the policy has no judge(p, verdict) hook";
    else failure = impl_->run(*d, judging ? call_judge : call_flag, call_data, &reason);
    if (failure.empty() && call.action == kNone) failure = std::string(hook) + " returned no verdict";
    if (!failure.empty() && in.redact) failure = redact_values(std::move(failure), *in.redact);
    if (!failure.empty()) failure = error_text(failure);
    if (!failure.empty()) {
      impl_->report(*d, hook, failure);
      v.error = std::move(failure);
      return v;
    }
    v.policy_error = false;
    v.error.clear();
    if (call.action == kAuto) {
      v.action = Action::auto_approve;
      v.reason.clear();
    } else {
      v.action = call.action == kReject ? Action::reject : Action::review;
      v.judge = call.action == kJudge;  // still a review: a caller that does not judge fails closed
      // reason SEP pool [SEP skill]... (see read_verdict)
      const std::vector<std::string> fields = split(reason, kSep);
      v.reason = fields[0];
      if (fields.size() > 1) v.pool = fields[1];
      for (std::size_t i = 2; i < fields.size(); ++i) v.skills.push_back(fields[i]);
    }
    return v;
  } catch (const std::exception& e) {
    v.error = e.what();
  } catch (...) {
    v.error = "unknown error";
  }
  try {
    impl_->report(*d, hook, v.error);
  } catch (...) {
  }
  return v;
}

Verdict PolicyEngine::flag(const std::string& domain, const FlagInput& in) noexcept {
  FlagCall call{&in};
  return verdict_of(domain, in, "flag", &call, "policy_error");
}

Verdict PolicyEngine::judge(const std::string& domain, const FlagInput& in, const JudgeView& verdict) noexcept {
  JudgeCall call{FlagCall{&in}, &verdict};
  return verdict_of(domain, in, "judge", &call, "judge_error");
}

bool PolicyEngine::has_judge(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d && d->has_judge;
}

double PolicyEngine::priority(const std::string& domain, const TaskView& task) noexcept {
  const auto d = impl_->find(domain);
  if (!d) return 1.0;
  if (!d->has_priority) return 0.5;
  try {
    PriorityCall call{&task};
    const std::string failure = impl_->run(*d, call_priority, &call, nullptr);
    if (!failure.empty()) {
      impl_->report(*d, "priority", failure);
      return 1.0;
    }
    return std::clamp(call.value, 0.0, 1.0);
  } catch (const std::exception& e) {
    try {
      impl_->report(*d, "priority", e.what());
    } catch (...) {
    }
  } catch (...) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
  }
  return 1.0;
}

std::optional<double> PolicyEngine::sla_seconds(const std::string& domain, const TaskView& task, bool& failed) noexcept {
  failed = false;
  const auto d = impl_->find(domain);
  if (!d || !d->has_sla) return std::nullopt;
  try {
    SlaCall call{&task};
    const std::string failure = impl_->run(*d, call_sla, &call, nullptr);
    if (!failure.empty()) {
      impl_->report(*d, "sla", failure);
      failed = true;
      return std::nullopt;
    }
    return call.seconds;  // 0 when sla() returned nil: no deadline
  } catch (const std::exception& e) {
    try {
      impl_->report(*d, "sla", e.what());
    } catch (...) {
    }
  } catch (...) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
  }
  failed = true;
  return std::nullopt;
}

std::int64_t PolicyEngine::reviewers_needed(const std::string& domain, const WorkflowTaskView& task) noexcept {
  const auto d = impl_->find(domain);
  if (!d || !d->has_reviewers_needed) return 1;
  try {
    NeededCall call{&task};
    const std::string failure = impl_->run(*d, call_reviewers_needed, &call, nullptr);
    if (failure.empty()) return call.value;
    impl_->report(*d, "reviewers_needed", failure);
  } catch (const std::exception& e) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
  }
  return 1;
}

std::optional<std::vector<std::string>> PolicyEngine::assign(const std::string& domain, const WorkflowTaskView& task,
                                                             const std::vector<CandidateView>& candidates,
                                                             bool& failed) noexcept {
  failed = false;
  const auto d = impl_->find(domain);
  if (!d || !d->has_assign) return std::nullopt;
  try {
    AssignCall call{&task, &candidates};
    std::string result;
    bool got = false;
    const std::string failure = impl_->run(*d, call_assign, &call, &result, &got);
    if (!failure.empty()) {
      impl_->report(*d, "assign", failure);
      failed = true;
      return std::nullopt;
    }
    if (!got) return std::nullopt;  // nil: the default order
    std::vector<std::string> ids;
    for (auto& id : split(result, kSep)) {
      if (id.empty()) continue;
      // Only real candidates: a policy cannot hand a task to someone who is not eligible.
      bool known = false;
      for (const auto& c : candidates) known = known || c.id == id;
      bool seen = false;
      for (const auto& x : ids) seen = seen || x == id;
      if (known && !seen) ids.push_back(id);
    }
    return ids;
  } catch (const std::exception&) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
  }
  failed = true;
  return std::nullopt;
}

std::vector<EscalationAction> PolicyEngine::escalate(const std::string& domain, const WorkflowTaskView& task,
                                                     const EscalationEvent& event, bool& failed) noexcept {
  failed = false;
  std::vector<EscalationAction> out;
  const auto d = impl_->find(domain);
  if (!d || !d->has_escalate) return out;
  try {
    EscalateCall call{&task, &event};
    std::string result;
    bool got = false;
    const std::string failure = impl_->run(*d, call_escalate, &call, &result, &got);
    if (!failure.empty()) {
      impl_->report(*d, "escalate", failure);
      failed = true;
      return out;
    }
    if (!got) return out;
    for (auto& rec : split(result, kRecordSep)) {
      auto f = split(rec, kSep);
      if (f.size() != 4) continue;
      EscalationAction a;
      a.action = f[0];
      if (a.action == "priority") a.value = std::strtod(f[1].c_str(), nullptr);
      a.pool = f[2];
      a.label = f[3];
      out.push_back(std::move(a));
    }
    return out;
  } catch (const std::exception&) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
  }
  failed = true;
  out.clear();
  return out;
}

double PolicyEngine::default_weight() noexcept { return 1.0; }

double PolicyEngine::weight(const std::string& domain, const SampleView& sample, bool& failed) noexcept {
  failed = false;
  const auto d = impl_->find(domain);
  if (!d || !d->has_weight) return default_weight();
  try {
    WeightCall call{&sample};
    const std::string failure = impl_->run(*d, call_weight, &call, nullptr);
    if (failure.empty()) return call.value;
    impl_->report(*d, "weight", failure);
  } catch (const std::exception&) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
  }
  failed = true;
  return default_weight();
}

std::optional<bool> PolicyEngine::yes_no(const std::string& domain, bool retrain, const nlohmann::json& arg,
                                         std::string& reason, bool& failed) noexcept {
  failed = false;
  const auto d = impl_->find(domain);
  if (!d || !(retrain ? d->has_retrain : d->has_promote)) return std::nullopt;
  const char* hook = retrain ? "retrain" : "promote";
  try {
    PromoteCall call{&arg};
    std::string why;
    const std::string failure = impl_->run(*d, retrain ? call_retrain : call_promote, &call, &why);
    if (failure.empty()) {
      reason = why;
      return call.promote;
    }
    impl_->report(*d, hook, failure);
    reason = std::string(hook) + "() failed: " + error_text(failure);
  } catch (const std::exception& e) {
    d->errors.fetch_add(1, std::memory_order_relaxed);
    reason = std::string(hook) + "() failed: " + e.what();
  }
  failed = true;
  return false;
}

std::optional<bool> PolicyEngine::promote(const std::string& domain, const nlohmann::json& eval, std::string& reason,
                                          bool& failed) noexcept {
  return yes_no(domain, false, eval, reason, failed);
}

std::optional<bool> PolicyEngine::retrain(const std::string& domain, const nlohmann::json& stats, std::string& reason,
                                          bool& failed) noexcept {
  return yes_no(domain, true, stats, reason, failed);
}

bool PolicyEngine::has_retrain(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d && d->has_retrain;
}

bool PolicyEngine::has_weight(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d && d->has_weight;
}

bool PolicyEngine::has_assign(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d && d->has_assign;
}
bool PolicyEngine::has_escalate(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d && d->has_escalate;
}
double PolicyEngine::gold_rate(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->gold_rate : 0;
}
double PolicyEngine::audit_rate(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->audit_rate : 0;
}
double PolicyEngine::min_gold_accuracy(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->min_gold_accuracy : 0;
}

std::string PolicyEngine::policy_version(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->version : std::string();
}

fs::path PolicyEngine::policy_file(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->file : fs::path();
}

std::string PolicyEngine::policy_hash(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->hash : std::string();
}

std::uint64_t PolicyEngine::error_count(const std::string& domain) const {
  const auto d = impl_->find(domain);
  return d ? d->errors.load(std::memory_order_relaxed) : 0;
}

void PolicyEngine::check_file(const fs::path& file, const fs::path& lib_dir, Limits limits) {
  PolicyEngine engine({DomainPolicy{"check", file}}, lib_dir, limits);
}

}  // namespace hitl::policy
