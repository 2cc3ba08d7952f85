// bench-storage-sqlite: group-commit throughput of storage-sqlite.so, loaded as the host loads it.
//
//   bench-storage-sqlite [decisions=200000] [batch=1000] [synchronous=normal] [plugin.so]
//
// Each decision carries a ~150-byte input, its prediction and one audit record; 30% open a review
// task. Batches are built outside the timed region: the figure is the storage commit alone.
// With HITL_BENCH_PG_URL set, the same batches go to that (empty) PostgreSQL database through the
// plugin.so given (storage-postgres.so): `synchronous` is then ignored. HITL_BENCH_ID_PREFIX
// (default "req-") starts every decision id.
#include <hitl/plugin_api.hpp>

#include <boost/dll/import.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <time.h>
#include <unistd.h>

namespace sdk = hitl::sdk;
namespace fs = std::filesystem;

// CPU time of this thread: unlike wall time it does not grow when other processes share the cores.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  const long total = argc > 1 ? std::atol(argv[1]) : 200000;
  const long batch_size = argc > 2 ? std::atol(argv[2]) : 1000;
  const std::string synchronous = argc > 3 ? argv[3] : "normal";
  const std::string so = argc > 4 ? argv[4] : HITL_PLUGIN_DIR "/storage-sqlite.so";
  if (total <= 0 || batch_size <= 0) {
    std::fprintf(stderr, "usage: %s [decisions>0] [batch>0] [normal|full] [plugin.so]\n", argv[0]);
    return 2;
  }

  auto entry = boost::dll::import_alias<const sdk::PluginDescriptor*()>(boost::dll::fs::path(so),
                                                                        HITL_PLUGIN_ENTRY_SYMBOL);
  const fs::path dir = fs::temp_directory_path() / ("hitl-bench-storage-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string db = (dir / "bench.db").string();
  const char* pg_url = std::getenv("HITL_BENCH_PG_URL");
  // Several of these writing to one database at once (tests/bench/partition.sh) need ids of their own.
  const std::string id_prefix = std::getenv("HITL_BENCH_ID_PREFIX") ? std::getenv("HITL_BENCH_ID_PREFIX") : "req-";
  const std::string cfg = pg_url ? R"({"url":")" + std::string(pg_url) + R"("})"
                                 : R"({"path":")" + db + R"(","synchronous":")" + synchronous + R"("})";

  int rc = 0;
  {
    std::unique_ptr<sdk::Storage> storage;
    auto st = entry()->create_storage(cfg.c_str(), storage);
    if (!st.ok()) {
      std::fprintf(stderr, "open failed: %s\n", st.message.c_str());
      return 1;
    }
    using clock = std::chrono::steady_clock;
    clock::duration in_commit{};
    double commit_cpu = 0;
    long committed = 0, batches = 0, tasks = 0;
    const auto wall_start = clock::now();
    for (long base = 0; base < total && rc == 0; base += batch_size) {
      sdk::WriteBatch b;
      const long n = std::min(batch_size, total - base);
      b.decisions.reserve(n);
      b.audit.reserve(n);
      for (long i = base; i < base + n; ++i) {
        sdk::NewDecision nd;
        auto& d = nd.decision;
        d.domain = "credit";
        d.id = id_prefix + std::to_string(i);
        d.label = i % 7 ? "approve" : "reject";
        d.confidence = 0.5 + (i % 50) / 100.0;
        d.status = (i % 10) < 3 ? "pending_review" : "auto_approved";
        d.reason = (i % 10) < 3 ? "low_confidence" : "";
        d.priority = (i % 100) / 100.0;
        d.input_json = R"({"amount":)" + std::to_string(100 + i % 9000) +
                       R"(,"income":52000,"age":41,"country":"DE","channel":"web","tenure_months":27,"id":")" +
                       d.id + "\"}";
        d.prediction_json = R"({"label":")" + d.label + R"(","confidence":0.81,"scores":{"approve":0.81,"reject":0.19}})";
        d.meta_json = "{}";
        d.model_version = "logreg-3f2a";
        d.policy_hash = "9c1e";
        d.created_ms = 1700000000000 + i;
        if ((i % 10) < 3) {
          sdk::TaskRecord t;
          t.status = "pending";
          t.priority = d.priority;
          t.reason = d.reason;
          t.deadline_ms = d.created_ms + 3600000;
          t.created_ms = t.updated_ms = d.created_ms;
          nd.task = std::move(t);
        }
        b.audit.push_back({0, d.created_ms, "client", "decision.created", d.domain, "decision", d.id,
                           R"({"status":")" + d.status + R"(","prev_hash":"0f3a9c"})"});
        b.decisions.push_back(std::move(nd));
      }
      const auto t0 = clock::now();
      const double c0 = thread_cpu_seconds();
      st = storage->commit(b);
      commit_cpu += thread_cpu_seconds() - c0;
      in_commit += clock::now() - t0;
      if (!st.ok()) {
        std::fprintf(stderr, "commit failed: %s\n", st.message.c_str());
        rc = 1;
      }
      committed += n;
      batches++;
      for (auto& nd : b.decisions) tasks += nd.task && nd.task->task_id > 0;
    }
    const double wall = std::chrono::duration<double>(clock::now() - wall_start).count();
    const double commit_s = std::chrono::duration<double>(in_commit).count();
    std::printf("storage-%s bench: %ld decisions (+%ld audit, %ld tasks) in %ld batches of %ld, synchronous=%s\n",
                entry()->name, committed, committed, tasks, batches, batch_size, synchronous.c_str());
    std::printf("  commit time   %.3f s  -> %.0f decisions/s, %.1f batches/s, %.2f us/decision\n", commit_s,
                committed / commit_s, batches / commit_s, commit_s * 1e6 / committed);
    std::printf("  commit CPU    %.3f s  -> %.0f decisions/s per core (%.2f us/decision; wall/CPU = %.2f)\n",
                commit_cpu, committed / commit_cpu, commit_cpu * 1e6 / committed, commit_s / commit_cpu);
    std::printf("  wall (incl. building batches) %.3f s -> %.0f decisions/s\n", wall, committed / wall);

    // Read side, for orientation: point lookups on the read connection.
    const int lookups = 20000;
    const auto r0 = clock::now();
    std::optional<sdk::DecisionRecord> d;
    for (int i = 0; i < lookups; ++i) storage->get_decision("credit", "req-" + std::to_string((i * 7919L) % total), d);
    const double rs = std::chrono::duration<double>(clock::now() - r0).count();
    std::printf("  get_decision  %.0f lookups/s\n", lookups / rs);
  }
  std::error_code ec;
  std::printf("  database size %.1f MB\n", (fs::file_size(db, ec) + 0.0) / 1e6);
  fs::remove_all(dir, ec);
  return rc;
}
