// hitl ingest: the ingest pipeline in batch, from a JSONL or CSV file.
#include "cli/common.hpp"
#include "data/records.hpp"
#include "app/app.hpp"
#include "data/client_json.hpp"
#include "ingest/ingest_body.hpp"
#include "ingest/pipeline.hpp"
#include "common/service_error.hpp"
#include "common/task_state.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>

namespace hitl::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// Records per chunk: what the pipeline parses and decides together. The writer merges the chunks
// waiting for it into one transaction (group commit, up to kGroupRows rows), so a chunk's size is
// not a transaction's: while one group commits, the next chunks are decided and wait, and the
// next group takes them all. Small chunks keep a chunk's JSON trees in the CPU caches from parse
// to decision (10k-record chunks, ~50 MB of trees, were decided from memory: the main thread
// used 2.8 s of CPU for 200k records against 2.5 s with 1k), and the first chunk's deciding and
// the last group's commit, which nothing overlaps, stay short (docs/performance.md).
constexpr std::size_t kDefaultChunk = 1000;
// Chunks submitted and not yet committed: bounds the memory held (~5 KB a record in flight)
// while giving the writer enough to merge into large transactions.
constexpr std::size_t kChunksInFlight = 16;
// The writer's group limit in rows for `hitl ingest` (a decision is 2-3 rows: itself, its audit
// record, its task): large transactions pay the per-commit costs (the audit chain's head, the
// index pages each commit rewrites) once per ~10k records. `writer.max_batch` is sized for the
// service's latency; a batch load raises it to at least this.
constexpr std::size_t kGroupRows = 30000;

struct IngestOptions {
  std::string config, domain, file;
  std::size_t chunk = kDefaultChunk;
};

struct Totals {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  std::size_t auto_approved = 0, pending = 0, rejected = 0, duplicates = 0, failed = 0;
};

// Collects records into chunks and runs each through the pipeline, kChunksInFlight at a time
// (bounded memory); finish() waits for the last commit.
class ChunkSink {
 public:
  ChunkSink(service::App& app, const IngestOptions& o) : app_(app), o_(o) { chunk_.reserve(o.chunk); }

  void add(service::IngestRecord&& r) {
    chunk_.push_back(std::move(r));
    if (chunk_.size() >= o_.chunk) submit();
  }

  const Totals& finish() {
    submit();
    std::unique_lock lock(t_.mu);
    t_.cv.wait(lock, [&] { return t_.in_flight == 0; });
    return t_;
  }

 private:
  void submit() {
    if (chunk_.empty()) return;
    const std::size_t n = chunk_.size();
    {
      std::unique_lock lock(t_.mu);
      t_.cv.wait(lock, [&] { return t_.in_flight < kChunksInFlight; });
      t_.in_flight++;
    }
    try {
      app_.pipeline().ingest(o_.domain, std::move(chunk_), "cli:ingest",
                             [this, n](const sdk::Status& st, std::vector<service::IngestResult>& results) {
                               count(st, n, results);
                             });
    } catch (const std::exception& e) {
      std::lock_guard lock(t_.mu);
      t_.failed += n;
      t_.in_flight--;
      std::cerr << "hitl ingest: chunk refused: " << e.what() << "\n";
    }
    chunk_.clear();
  }

  void count(const sdk::Status& st, std::size_t n, const std::vector<service::IngestResult>& results) {
    std::lock_guard lock(t_.mu);
    if (!st.ok()) {
      t_.failed += n;
      spdlog::error("a chunk of {} records was not stored: {}", n, st.message);
    }
    for (auto& r : results) {
      if (r.duplicate) t_.duplicates++;
      else if (service::is(r.status, service::DecisionState::auto_approved)) t_.auto_approved++;
      else if (service::is(r.status, service::DecisionState::rejected)) t_.rejected++;
      else t_.pending++;
    }
    t_.in_flight--;
    t_.cv.notify_all();
  }

  service::App& app_;
  const IngestOptions& o_;
  Totals t_;
  std::vector<service::IngestRecord> chunk_;
};

struct ReadCounts {
  std::size_t total = 0, bad = 0;
};

// A CSV row as a record: its `id` column (or file:row) as the id, the rest as input; checked by
// the same rules as a JSON line (a valid id, text that is UTF-8).
void read_csv_records(const IngestOptions& o, ChunkSink& sink, ReadCounts& n) {
  auto table = data::read_csv(o.file);
  const std::string stem = fs::path(o.file).stem().string();
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    service::IngestRecord r;
    r.input = data::record_to_json(table.rows[i]);
    r.meta = json::object();
    if (auto it = r.input.find("id"); it != r.input.end()) {
      r.id = it->is_string() ? it->get<std::string>() : it->dump();
      r.input.erase(it);
    } else {
      r.id = stem + ":" + std::to_string(i + 1);
    }
    ++n.total;
    try {
      service::check_client_text(r.id, "id", service::kMaxIdChars);
      (void)r.input.dump();
    } catch (const std::exception& e) {
      ++n.bad;
      std::cerr << o.file << ": row " << i + 1 << ": skipped: " << e.what() << "\n";
      continue;
    }
    sink.add(std::move(r));
  }
}

void read_jsonl_records(const IngestOptions& o, const service::IngestLimits& limits, ChunkSink& sink, ReadCounts& n) {
  std::ifstream in(o.file);
  if (!in) throw std::runtime_error(o.file + ": cannot open");
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (service::blank_line(line)) continue;
    ++n.total;
    try {
      sink.add(service::parse_record_line(line, "", limits));
    } catch (const std::exception& e) {
      ++n.bad;
      std::cerr << o.file << ":" << line_no << ": skipped: " << e.what() << "\n";
    }
  }
}

int ingest(const IngestOptions& o) {
  auto [cfg, plugins] = load_with_plugins(o.config);
  setup_logging(cfg.log_level == "info" ? "warn" : cfg.log_level, cfg.log_format);
  if (!cfg.domains.count(o.domain)) {
    std::cerr << "hitl ingest: unknown domain \"" << o.domain << "\" (config has:";
    for (auto& [d, _] : cfg.domains) std::cerr << " " << d;
    std::cerr << ")\n";
    return 2;
  }
  cfg.writer_max_batch = std::max<std::size_t>(cfg.writer_max_batch, kGroupRows);
  service::App app(std::move(cfg), std::move(plugins));
  const auto& settings = app.config();
  const service::IngestLimits limits{settings.max_json_depth, settings.max_batch_records,
                                     settings.domains.at(o.domain).labels};
  const auto start = std::chrono::steady_clock::now();
  ChunkSink sink(app, o);
  ReadCounts n;
  if (fs::path(o.file).extension() == ".csv") read_csv_records(o, sink, n);
  else read_jsonl_records(o, limits, sink, n);
  const Totals& t = sink.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("ingested %zu records in %.3f s (%.0f records/s): %zu auto_approved, %zu pending_review, "
              "%zu rejected, %zu duplicates, %zu invalid, %zu failed\n",
              n.total, secs, n.total / (secs > 0 ? secs : 1e-9), t.auto_approved, t.pending, t.rejected,
              t.duplicates, n.bad, t.failed);
  return (n.bad || t.failed) ? 1 : 0;
}
}  // namespace

void add_ingest(CLI::App& root) {
  auto o = std::make_shared<IngestOptions>();
  auto* cmd = root.add_subcommand("ingest", "Run a JSONL or CSV file through the ingest pipeline in batch");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->domain, "Domain the records belong to")->required();
  cmd->add_option("--chunk", o->chunk, "Records per pipeline batch (one transaction each)")->check(CLI::Range(1, 100000));
  cmd->add_option("file", o->file, "FILE.jsonl (one {id,input,prediction?,meta?} per line) or FILE.csv "
                                   "(header row; an `id` column is used as the id)")
      ->required()->check(CLI::ExistingFile);
  cmd->callback([o] {
    int rc = ingest(*o);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace hitl::cli
