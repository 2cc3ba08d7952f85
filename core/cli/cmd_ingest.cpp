// hitl ingest: the ingest pipeline in batch, from a JSONL or CSV file.
#include "cli/common.hpp"
#include "data/records.hpp"
#include "service/app.hpp"
#include "service/client_json.hpp"
#include "service/ingest_body.hpp"
#include "service/pipeline.hpp"
#include "service/service_error.hpp"

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
struct IngestOptions {
  std::string config, domain, file;
  std::size_t chunk = 1000;
};

struct Totals {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  std::size_t auto_approved = 0, pending = 0, rejected = 0, duplicates = 0, failed = 0;
};

int ingest(const IngestOptions& o) {
  auto cfg = load(o.config);
  setup_logging(cfg.log_level == "info" ? "warn" : cfg.log_level, cfg.log_format);
  if (!cfg.domains.count(o.domain)) {
    std::cerr << "hitl ingest: unknown domain \"" << o.domain << "\" (config has:";
    for (auto& [d, _] : cfg.domains) std::cerr << " " << d;
    std::cerr << ")\n";
    return 2;
  }
  const service::IngestLimits limits{cfg.max_json_depth, cfg.max_batch_records, cfg.domains.at(o.domain).labels};
  service::App app(std::move(cfg));
  Totals t;
  std::size_t total = 0, bad = 0;
  auto start = std::chrono::steady_clock::now();

  auto submit = [&](std::vector<service::IngestRecord>&& chunk) {
    if (chunk.empty()) return;
    std::size_t n = chunk.size();
    {
      std::unique_lock lock(t.mu);
      t.cv.wait(lock, [&] { return t.in_flight < 8; });  // bounded memory: a few chunks in flight
      t.in_flight++;
    }
    try {
      app.pipeline().ingest(o.domain, std::move(chunk), "cli:ingest",
          [&t, n](const sdk::Status& st, std::vector<service::IngestResult>& results) {
            std::lock_guard lock(t.mu);
            if (!st.ok()) {
              t.failed += n;
              spdlog::error("a chunk of {} records was not stored: {}", n, st.message);
            }
            for (auto& r : results) {
              if (r.duplicate) t.duplicates++;
              else if (r.status == "auto_approved") t.auto_approved++;
              else if (r.status == "rejected") t.rejected++;
              else t.pending++;
            }
            t.in_flight--;
            t.cv.notify_all();
          });
    } catch (const std::exception& e) {
      std::lock_guard lock(t.mu);
      t.failed += n;
      t.in_flight--;
      std::cerr << "hitl ingest: chunk refused: " << e.what() << "\n";
    }
  };

  std::vector<service::IngestRecord> chunk;
  chunk.reserve(o.chunk);
  const std::string ext = fs::path(o.file).extension().string();
  if (ext == ".csv") {
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
      ++total;
      try {  // the same rules as a JSON line: a valid id, text that is UTF-8
        service::check_client_text(r.id, "id", service::kMaxIdChars);
        (void)r.input.dump();
      } catch (const std::exception& e) {
        ++bad;
        std::cerr << o.file << ": row " << i + 1 << ": skipped: " << e.what() << "\n";
        continue;
      }
      chunk.push_back(std::move(r));
      if (chunk.size() >= o.chunk) { submit(std::move(chunk)); chunk.clear(); }
    }
  } else {
    std::ifstream in(o.file);
    if (!in) throw std::runtime_error(o.file + ": cannot open");
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (service::blank_line(line)) continue;
      ++total;
      try {
        chunk.push_back(service::parse_record_line(line, "", limits));
      } catch (const std::exception& e) {
        ++bad;
        std::cerr << o.file << ":" << line_no << ": skipped: " << e.what() << "\n";
        continue;
      }
      if (chunk.size() >= o.chunk) { submit(std::move(chunk)); chunk.clear(); }
    }
  }
  submit(std::move(chunk));
  {
    std::unique_lock lock(t.mu);
    t.cv.wait(lock, [&] { return t.in_flight == 0; });
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("ingested %zu records in %.3f s (%.0f records/s): %zu auto_approved, %zu pending_review, "
              "%zu rejected, %zu duplicates, %zu invalid, %zu failed\n",
              total, secs, total / (secs > 0 ? secs : 1e-9), t.auto_approved, t.pending, t.rejected,
              t.duplicates, bad, t.failed);
  return (bad || t.failed) ? 1 : 0;
}
}  // namespace

void add_ingest(CLI::App& root) {
  auto o = std::make_shared<IngestOptions>();
  auto* cmd = root.add_subcommand("ingest", "Run a JSONL or CSV file through the ingest pipeline in batch");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->domain, "Domain the records belong to")->required();
  cmd->add_option("--chunk", o->chunk, "Records per pipeline batch")->check(CLI::Range(1, 100000));
  cmd->add_option("file", o->file, "FILE.jsonl (one {id,input,prediction?,meta?} per line) or FILE.csv "
                                   "(header row; an `id` column is used as the id)")
      ->required()->check(CLI::ExistingFile);
  cmd->callback([o] {
    int rc = ingest(*o);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace hitl::cli
