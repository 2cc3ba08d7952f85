#pragma once
// The Lua side of the policy engine: what each hook call pushes into the policy's state and how
// it reads the result back (policy_calls.cpp). Every function runs inside lua_pcall (protected
// mode): no C++ object with a destructor lives in these frames, results leave as plain fields.
// Internal to core/policy: policy_engine.cpp runs these through the sandbox.
#include "policy/policy_engine.hpp"

#include <lua.hpp>

#include <string>
#include <vector>

namespace hitl::policy::calls {

enum ActionCode : int { kNone = 0, kAuto, kReview, kReject, kJudge };

struct InitCall {
  const char* code;
  std::size_t size;
  const char* chunkname;
  const char* mode;        // "t" for the file itself, "b" for our own precompiled copy
  std::string* dump_out;   // when set, receives the precompiled chunk
  bool has_priority;
  bool has_sla = false;
  std::string version;     // the policy table's `version` string, "" when absent
  bool has_assign = false, has_escalate = false, has_reviewers_needed = false, has_weight = false, has_promote = false;
  bool has_retrain = false;
  bool has_judge = false;
  double gold_rate = 0, min_gold_accuracy = 0, audit_rate = 0;
};

int init_policy(lua_State* L);

// Results leave a Lua frame as one string of fields separated by kSep (records by kRecordSep):
// no C++ object with a destructor may live in a frame Lua can unwind.
constexpr char kSep = '\x1f';
constexpr char kRecordSep = '\x1e';
// Longest string a hook may return in a field (reason, pool, skill, reviewer id, escalation
// action/pool/label), and in the free-text reason of promote/retrain (docs/policy.md, Budgets).
constexpr std::size_t kMaxFieldBytes = 256;
constexpr std::size_t kMaxReasonBytes = 1024;

struct FlagCall {
  const FlagInput* in;
  int action = kNone;
};

int read_verdict(lua_State* L, FlagCall* c, const char* hook);
int call_flag(lua_State* L);

struct JudgeCall {
  FlagCall flag;
  const JudgeView* judge;
};

int call_judge(lua_State* L);

struct PriorityCall {
  const TaskView* task;
  double value = 0.5;
};

int call_priority(lua_State* L);

struct SlaCall {
  const TaskView* task;
  double seconds = 0;  // 0 = no deadline
};

int call_sla(lua_State* L);

struct NeededCall {
  const WorkflowTaskView* task;
  lua_Integer value = 1;
};

int call_reviewers_needed(lua_State* L);

struct WeightCall {
  const SampleView* sample;
  double value = 0;
};

int call_weight(lua_State* L);

struct PromoteCall {
  const nlohmann::json* eval;
  bool promote = false;
};

int call_yes_no(lua_State* L, const char* hook, const char* arg);
int call_promote(lua_State* L);
int call_retrain(lua_State* L);

struct AssignCall {
  const WorkflowTaskView* task;
  const std::vector<CandidateView>* candidates;
};

int call_assign(lua_State* L);

struct EscalateCall {
  const WorkflowTaskView* task;
  const EscalationEvent* event;
};

int call_escalate(lua_State* L);
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace hitl::policy::calls
