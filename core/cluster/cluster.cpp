#include "cluster/cluster.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <stdexcept>

namespace hitl::cluster {

using nlohmann::json;

namespace {
constexpr const char* kKindNames[] = {"final_outcome", "ground_truth", "model_promoted", "tokens_changed",
                                      "retrain_requested"};

// The kinds that name a decision.
bool names_decision(EventKind k) { return k == EventKind::final_outcome || k == EventKind::ground_truth; }

std::optional<EventKind> kind_named(const std::string& name) {
  for (std::size_t i = 0; i < std::size(kKindNames); ++i)
    if (name == kKindNames[i]) return static_cast<EventKind>(i);
  return std::nullopt;
}

// Named mutexes of this process (an instance alone). Each lives as long as the set, which every
// hold keeps alive.
class LocalLocks : public std::enable_shared_from_this<LocalLocks> {
 public:
  std::shared_ptr<void> lock(const std::string& name) {
    std::mutex* m = nullptr;
    {
      std::lock_guard guard(mu_);
      auto& slot = named_[name];
      if (!slot) slot = std::make_unique<std::mutex>();
      m = slot.get();
    }
    m->lock();
    return std::shared_ptr<void>(m, [keep = shared_from_this()](std::mutex* held) { held->unlock(); });
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> named_;
};

class Alone final : public Cluster {
 public:
  bool refresh() noexcept override { return false; }
  void publish(const Event&) noexcept override {}
  void listen(std::function<void(const Event&)>) override {}
  void stop() noexcept override {}
  bool shared() const noexcept override { return false; }
  bool alone_at_start() noexcept override { return true; }
  void joined() noexcept override {}
  std::shared_ptr<void> lock(const std::string& name) override { return locks_->lock(name); }

 private:
  std::shared_ptr<LocalLocks> locks_ = std::make_shared<LocalLocks>();
};
}  // namespace

#ifdef HITL_CLUSTER_POSTGRES
std::unique_ptr<Cluster> open_postgres(const std::string& storage_config_json);  // cluster_postgres.cpp
#endif

std::string encode(const Event& e, const std::string& from, std::uint64_t seq) {
  json j = {{"from", from}, {"kind", kKindNames[static_cast<std::size_t>(e.kind)]}};
  if (seq) j["seq"] = seq;
  if (names_decision(e.kind)) j.update({{"domain", e.domain}, {"id", e.id}});
  if (e.kind == EventKind::ground_truth) j["first"] = e.first;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<Received> decode(std::string_view payload) {
  const json j = json::parse(payload, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto text = [&j](const char* key) -> std::optional<std::string> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto from = text("from"), kind_name = text("kind");
  if (!from || !kind_name) return std::nullopt;
  const auto kind = kind_named(*kind_name);
  if (!kind) return std::nullopt;
  Received r{*from, Event{*kind, {}, {}, false}};
  if (!names_decision(*kind)) return r;
  const auto domain = text("domain"), id = text("id");
  if (!domain || !id || domain->empty() || id->empty()) return std::nullopt;
  r.event.domain = *domain;
  r.event.id = *id;
  if (*kind == EventKind::ground_truth) {
    auto it = j.find("first");
    if (it == j.end() || !it->is_boolean()) return std::nullopt;
    r.event.first = it->get<bool>();
  }
  return r;
}

std::unique_ptr<Cluster> alone() { return std::make_unique<Alone>(); }

std::unique_ptr<Cluster> open(const std::string& storage_plugin, const std::string& storage_config_json) {
  if (storage_plugin != "postgres") return alone();
#ifdef HITL_CLUSTER_POSTGRES
  return open_postgres(storage_config_json);
#else
  (void)storage_config_json;
  throw std::runtime_error("storage \"postgres\": this hitl was built without PostgreSQL (HITL_WITH_POSTGRES=OFF)");
#endif
}

}  // namespace hitl::cluster
