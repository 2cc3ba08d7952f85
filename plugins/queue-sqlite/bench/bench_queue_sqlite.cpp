// Throughput of the real queue-sqlite.so on a real file (not a test: prints figures only).
//   push:        items/s, batches of 1000 items per push (one transaction each)
//   claim + ack: pairs/s with 1 and with 4 threads sharing one queue object
// Usage: bench-queue-sqlite [db-folder]   (default: a fresh folder under the temp dir)
#include <hitl/plugin_api.hpp>

#include <boost/dll/import.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace hitl::sdk;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Process CPU time (user + system, all threads): printed next to wall-clock rates because on a
// shared build machine the wall figures mostly measure how much CPU the benchmark was given.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

struct Rate {
  double per_second;   // wall clock
  double cpu_us_each;  // CPU microseconds per item or pair
};

template <class F>
Rate measure(int n, F&& run) {
  const double c0 = cpu_seconds();
  const auto t0 = Clock::now();
  run();
  return Rate{n / seconds_since(t0), (cpu_seconds() - c0) * 1e6 / n};
}

void check(const Status& st, const char* what) {
  if (!st.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, st.message.c_str());
    std::exit(1);
  }
}

// Pushes `n` items (ids from `first`) into `domain` in batches of 1000.
Rate push_items(Queue& q, const std::string& domain, std::int64_t first, int n) {
  std::vector<QueueItem> batch;
  return measure(n, [&] {
    for (int i = 0; i < n; i += 1000) {
      batch.clear();
      for (int j = i; j < std::min(n, i + 1000); ++j) {
        const std::int64_t id = first + j;
        batch.push_back(QueueItem{id, domain, static_cast<double>(id % 10), (id % 4) ? 0 : 1'800'000'000'000 + id, id});
      }
      check(q.push(batch), "push");
    }
  });
}

// Threads claim and ack until the domain is empty.
Rate claim_ack(Queue& q, const std::string& domain, int threads, int expected) {
  std::atomic<int> done{0};
  Rate rate = measure(expected, [&] {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const std::string me = "reviewer-" + std::to_string(t);
        for (;;) {
          std::optional<Lease> lease;
          check(q.claim(domain, me, 1000, 600000, lease), "claim");
          if (!lease) return;
          check(q.ack(lease->task_id, me, 1000), "ack");
          ++done;
        }
      });
    }
    for (auto& th : pool) th.join();
  });
  if (done != expected) {
    std::fprintf(stderr, "acked %d of %d items\n", done.load(), expected);
    std::exit(1);
  }
  return rate;
}

void print(const char* what, Rate r, const char* unit, int n) {
  std::printf("%-24s %9.0f %s/s  %7.1f CPU us each  (%d)\n", what, r.per_second, unit, r.cpu_us_each, n);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path dir = argc > 1 ? fs::path(argv[1])
                                : fs::temp_directory_path() / ("hitl-queue-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string db = (dir / "bench.db").string();

  auto entry = boost::dll::import_alias<const PluginDescriptor*()>(
      boost::dll::fs::path(HITL_PLUGIN_DIR "/queue-sqlite.so"), HITL_PLUGIN_ENTRY_SYMBOL);
  const PluginDescriptor* d = entry();
  std::unique_ptr<Queue> q;
  check(d->create_queue(("{\"path\":\"" + db + "\"}").c_str(), q), "create_queue");

  constexpr int kPush = 200'000;
  constexpr int kPairs = 20'000;
  std::printf("queue-sqlite bench, database %s (WAL, synchronous=NORMAL)\n", db.c_str());
  // The push figure is measured into a domain nobody claims, so the claim runs below see a
  // table that already holds kPush other rows (the index must skip other domains cheaply).
  print("push (batches of 1000)", push_items(*q, "backlog", 1, kPush), "items", kPush);
  push_items(*q, "one", 1'000'000, kPairs);
  print("claim+ack, 1 thread", claim_ack(*q, "one", 1, kPairs), "pairs", kPairs);
  push_items(*q, "four", 2'000'000, kPairs);
  print("claim+ack, 4 threads", claim_ack(*q, "four", 4, kPairs), "pairs", kPairs);

  q.reset();
  fs::remove_all(dir);
  return 0;
}
