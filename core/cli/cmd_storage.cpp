// hitl storage copy: move a database's history (e.g. the embedded SQLite file) into an empty
// database of another storage plugin (e.g. PostgreSQL), through the SDK's Storage interface, a
// page at a time, one destination commit per page.
#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>

namespace hitl::cli {

namespace {

using sdk::Storage;
using sdk::WriteBatch;

constexpr const char* kCmd = "hitl storage copy";

void check(const sdk::Status& s, const std::string& what) {
  if (!s.ok()) throw std::runtime_error(what + ": " + s.message);
}

// Ids the destination assigns (task, review, delivery ids) must come out equal to the source's,
// or the records that name them (reviews, the audit trail) would point at other rows: refuse.
void require_same_id(std::int64_t source, std::int64_t copied, const char* what) {
  if (source != copied)
    throw std::runtime_error(std::string(what) + " " + std::to_string(source) + " became " + std::to_string(copied) +
                             " in the destination (the source's ids have a gap); nothing after it was copied");
}

struct Counts {
  std::int64_t decisions = 0, tasks = 0, reviews = 0, feedback = 0, reviewers = 0, deliveries = 0, audit = 0;
  std::int64_t rehashed = 0, tokens = 0, tokens_left = 0;
  std::int64_t tasked_seen = 0;  // decisions naming a task, met in the walk of decisions
};

// Refuses a destination holding any record: the copy keeps the source's ids and chain, which a
// database with rows of its own would break.
void require_empty(Storage& to, const std::set<std::string>& domains) {
  std::vector<sdk::TaskRecord> tasks;
  std::vector<sdk::AuditRecord> audit;
  std::vector<sdk::ReviewRecord> reviews;
  std::vector<sdk::DeliveryRecord> deliveries;
  std::vector<sdk::ReviewerRecord> reviewers;
  check(to.list_tasks(sdk::TaskFilter{.limit = 1}, tasks), "destination: list_tasks");
  check(to.list_audit(sdk::AuditFilter{.limit = 1}, audit), "destination: list_audit");
  check(to.list_reviews(sdk::ReviewFilter{.limit = 1}, reviews), "destination: list_reviews");
  check(to.list_deliveries(sdk::DeliveryFilter{.limit = 1}, deliveries), "destination: list_deliveries");
  check(to.list_reviewers(reviewers), "destination: list_reviewers");
  bool decisions = false;
  for (const auto& d : domains) {
    std::vector<sdk::DecisionRecord> rows;
    check(to.list_decisions(sdk::DecisionFilter{.domain = d, .with_payload = false, .limit = 1}, rows),
          "destination: list_decisions");
    decisions = decisions || !rows.empty();
  }
  if (!tasks.empty() || !audit.empty() || !reviews.empty() || !deliveries.empty() || !reviewers.empty() || decisions)
    fail(std::string(kCmd) + ": the destination database is not empty; copy only into a new, empty database");
}

// Decisions that opened a task, in task id order so the destination assigns the same task ids.
void copy_tasked_decisions(Storage& from, Storage& to, std::size_t page, std::set<std::string>& domains, Counts& n) {
  for (std::int64_t after = 0;;) {
    std::vector<sdk::TaskRecord> tasks;
    check(from.list_tasks(sdk::TaskFilter{.limit = page, .after_task_id = after}, tasks), "source: list_tasks");
    if (tasks.empty()) return;
    WriteBatch batch;
    for (auto& t : tasks) {
      std::optional<sdk::DecisionRecord> d;
      check(from.get_decision(t.domain, t.decision_id, d), "source: get_decision");
      if (!d) throw std::runtime_error("source task " + std::to_string(t.task_id) + " has no decision");
      domains.insert(t.domain);
      batch.decisions.push_back(sdk::NewDecision{.decision = std::move(*d), .task = t});
    }
    check(to.commit(batch), "destination: commit decisions");
    for (std::size_t i = 0; i < tasks.size(); ++i)
      require_same_id(tasks[i].task_id, batch.decisions[i].decision.task_id, "task");
    after = tasks.back().task_id;
    n.tasks += static_cast<std::int64_t>(tasks.size());
    n.decisions += static_cast<std::int64_t>(tasks.size());
  }
}

// The decisions without a task (auto-approved, rejected), domain by domain.
void copy_untasked_decisions(Storage& from, Storage& to, std::size_t page, const std::string& domain, Counts& n) {
  sdk::DecisionFilter f{.domain = domain, .limit = page};
  for (;;) {
    std::vector<sdk::DecisionRecord> rows;
    check(from.list_decisions(f, rows), "source: list_decisions");
    if (rows.empty()) return;
    f.after_created_ms = rows.back().created_ms;
    f.after_id = rows.back().id;
    WriteBatch batch;
    for (auto& d : rows)
      if (d.task_id == 0)
        batch.decisions.push_back(sdk::NewDecision{.decision = std::move(d)});
      else
        ++n.tasked_seen;
    n.decisions += static_cast<std::int64_t>(batch.decisions.size());
    if (!batch.empty()) check(to.commit(batch), "destination: commit decisions");
  }
}

// Pages of one part of the batch: `read(after, rows)` lists the source's rows after the cursor
// `cursor`, each page is committed as `part`, then `check_row(source, committed)` compares.
template <class Row, class Read, class CheckRow>
std::int64_t copy_pages(Storage& to, std::vector<Row> WriteBatch::*part, std::int64_t Row::*cursor, Read read,
                        CheckRow check_row) {
  std::int64_t copied = 0;
  for (std::int64_t after = 0;;) {
    std::vector<Row> rows;
    read(after, rows);
    if (rows.empty()) return copied;
    after = rows.back().*cursor;
    WriteBatch batch;
    batch.*part = rows;
    check(to.commit(batch), "destination: commit");
    for (std::size_t i = 0; i < rows.size(); ++i) check_row(rows[i], (batch.*part)[i]);
    copied += static_cast<std::int64_t>(rows.size());
  }
}

void copy_reviews(Storage& from, Storage& to, std::size_t page, Counts& n) {
  using sdk::ReviewRecord;
  n.reviews = copy_pages(
      to, &WriteBatch::reviews, &ReviewRecord::review_id,
      [&](std::int64_t after, std::vector<ReviewRecord>& rows) {
        check(from.list_reviews(sdk::ReviewFilter{.after_review_id = after, .limit = page}, rows), "source: list_reviews");
      },
      [](const ReviewRecord& a, const ReviewRecord& b) { require_same_id(a.review_id, b.review_id, "review"); });
}

void copy_deliveries(Storage& from, Storage& to, std::size_t page, Counts& n) {
  using sdk::DeliveryRecord;
  n.deliveries = copy_pages(
      to, &WriteBatch::deliveries, &DeliveryRecord::delivery_id,
      [&](std::int64_t after, std::vector<DeliveryRecord>& rows) {
        check(from.list_deliveries(sdk::DeliveryFilter{.after_delivery_id = after, .limit = page}, rows),
              "source: list_deliveries");
      },
      [](const DeliveryRecord& a, const DeliveryRecord& b) { require_same_id(a.delivery_id, b.delivery_id, "delivery"); });
}

// Feedback and reviewers have no paged read in the Storage interface: one domain's feedback and
// the reviewer list are read whole (both grow with people and reviews, not with predictions).
void copy_feedback_and_reviewers(Storage& from, Storage& to, const std::set<std::string>& domains, Counts& n) {
  for (const auto& d : domains) {
    WriteBatch batch;
    check(from.list_feedback(d, batch.feedback), "source: list_feedback");
    n.feedback += static_cast<std::int64_t>(batch.feedback.size());
    if (!batch.empty()) check(to.commit(batch), "destination: commit feedback");
  }
  WriteBatch batch;
  check(from.list_reviewers(batch.reviewers), "source: list_reviewers");
  n.reviewers = static_cast<std::int64_t>(batch.reviewers.size());
  if (!batch.empty()) check(to.commit(batch), "destination: commit reviewers");
}

// The destination recomputes seq, prev_hash and hash (the SDK's rule: storage chains on insert).
// A source without gaps gets the same seq and so the same hashes; a gap (a removed record)
// renumbers what follows, which is counted as rehashed and reported.
void copy_audit(Storage& from, Storage& to, std::size_t page, Counts& n) {
  using sdk::AuditRecord;
  n.audit = copy_pages(
      to, &WriteBatch::audit, &AuditRecord::seq,
      [&](std::int64_t after, std::vector<AuditRecord>& rows) {
        check(from.list_audit(sdk::AuditFilter{.after_seq = after, .limit = page}, rows), "source: list_audit");
      },
      [&](const AuditRecord& a, const AuditRecord& b) { n.rehashed += a.hash != b.hash ? 1 : 0; });
}

// Whether the host may call a method added in storage minor `minor` on `s` (plugin_registry.hpp).
bool has_minor(const std::shared_ptr<Storage>& s, std::uint32_t minor) {
  const auto api = plugin::api_of(s);
  return !api || api->minor >= minor;
}

// One exported token as the destination takes it back, in one commit_tokens batch: the live row
// with its expiry (so its secret authenticates as before), then for a revoked one the revocation
// row at its time (the storage records revoked_ms from it). One batch: the revoked token is
// never live on the destination, even between two commits.
void add_token(const sdk::TokenExport& t, WriteBatch& batch, std::vector<sdk::TokenExpiry>& expiries,
               std::vector<sdk::TokenUse>& uses) {
  sdk::TokenRecord live = t.token;
  live.revoked = false;
  batch.tokens.push_back(live);
  expiries.push_back({t.token.hash, t.expires_ms});
  if (t.token.revoked || t.revoked_ms > 0) {
    sdk::TokenRecord revocation = t.token;
    revocation.revoked = true;
    revocation.created_ms = t.revoked_ms > 0 ? t.revoked_ms : t.token.created_ms;
    batch.tokens.push_back(revocation);
  }
  if (t.last_used_ms > 0) uses.push_back({t.token.name, t.last_used_ms});
}

// Tokens move when the source exports them (storage 1.3), `page` at a time. A source without the
// export keeps today's answer: they are counted and left behind. A destination without the token
// life cycle (storage 1.0) is refused: a token must never be usable without its expiry.
void copy_tokens(const std::shared_ptr<Storage>& from, const std::shared_ptr<Storage>& to, std::size_t page,
                 Counts& n) {
  if (!has_minor(from, 3)) {
    std::vector<sdk::TokenInfo> infos;
    if (has_minor(from, 1) && from->list_tokens(infos).ok()) n.tokens_left = static_cast<std::int64_t>(infos.size());
    return;
  }
  std::vector<sdk::TokenExport> tokens;
  check(from->export_tokens(tokens), "source: export_tokens");
  if (!tokens.empty() && !has_minor(to, 1))
    throw std::runtime_error("the destination's storage plugin has no token life cycle (storage 1.0): it cannot keep a "
                             "token's expiry, so no token was copied");
  for (std::size_t first = 0; first < tokens.size(); first += page) {
    WriteBatch batch;
    std::vector<sdk::TokenExpiry> expiries;
    std::vector<sdk::TokenUse> uses;
    for (std::size_t i = first; i < std::min(tokens.size(), first + page); ++i) add_token(tokens[i], batch, expiries, uses);
    check(to->commit_tokens(batch, expiries), "destination: commit_tokens");
    if (!uses.empty()) check(to->record_token_uses(uses), "destination: record_token_uses");
  }
  n.tokens = static_cast<std::int64_t>(tokens.size());
}

// The copy itself is an audited event on the destination, after the copied trail.
void record_copy(Storage& to, const std::string& source, const Counts& n) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  WriteBatch batch;
  batch.audit.push_back(sdk::AuditRecord{
      .ts_ms = now, .actor = cli_actor(), .action = "storage.copied", .entity = "storage", .entity_id = source,
      .detail_json = "{\"decisions\":" + std::to_string(n.decisions) + ",\"audit\":" + std::to_string(n.audit) +
                     ",\"tokens\":" + std::to_string(n.tokens) +
                     ",\"rehashed\":" + std::to_string(n.rehashed) + "}"});
  check(to.commit(batch), "destination: commit the storage.copied record");
}

void run_copy(const std::string& from_config, const std::string& to_config, std::size_t page) {
  auto a = open_configured_storage(from_config);
  auto b = open_configured_storage(to_config);
  std::set<std::string> domains;
  for (const auto& [name, d] : a->cfg.domains) domains.insert(name);
  require_empty(*b->storage, domains);
  Counts n;
  copy_tasked_decisions(*a->storage, *b->storage, page, domains, n);
  for (const auto& d : domains) copy_untasked_decisions(*a->storage, *b->storage, page, d, n);
  // A decision naming a task the source does not hold was in neither walk: say so, never drop it.
  if (n.tasked_seen != n.tasks)
    throw std::runtime_error(std::to_string(n.tasked_seen) + " decisions name a task but " + std::to_string(n.tasks) +
                             " tasks were copied: the source has decisions whose task row is missing");
  copy_reviews(*a->storage, *b->storage, page, n);
  copy_feedback_and_reviewers(*a->storage, *b->storage, domains, n);
  copy_deliveries(*a->storage, *b->storage, page, n);
  copy_audit(*a->storage, *b->storage, page, n);
  copy_tokens(a->storage, b->storage, page, n);
  record_copy(*b->storage, from_config, n);
  std::cout << "copied " << n.decisions << " decisions, " << n.tasks << " tasks, " << n.reviews << " reviews, "
            << n.feedback << " feedback, " << n.reviewers << " reviewers, " << n.deliveries << " deliveries, "
            << n.audit << " audit records (" << n.rehashed << " rehashed), " << n.tokens << " tokens";
  if (n.tokens_left > 0)
    std::cout << "; " << n.tokens_left << " tokens not copied (the source's storage plugin predates storage 1.3 and "
              << "cannot export them): create new ones on the destination";
  std::cout << std::endl;
}

}  // namespace

void add_storage(CLI::App& root) {
  auto* storage = root.add_subcommand("storage", "Storage maintenance");
  storage->require_subcommand(1);
  struct O { std::string from, to; std::size_t page = 1000; };
  auto o = std::make_shared<O>();
  auto* copy = storage->add_subcommand(
      "copy", "Copy every record of one config's storage into the empty storage of another (e.g. SQLite to PostgreSQL)");
  copy->add_option("--from", o->from, "Config file (Lua) of the source")->required()->check(CLI::ExistingFile);
  copy->add_option("--to", o->to, "Config file (Lua) of the empty destination")->required()->check(CLI::ExistingFile);
  copy->add_option("--page", o->page, "Records read and committed per step")->check(CLI::Range(1, 100000));
  copy->callback([o] {
    try {
      run_copy(o->from, o->to, o->page);
    } catch (const CLI::Error&) {
      throw;  // fail() already said why
    } catch (const std::exception& e) {
      fail(std::string(kCmd) + ": " + e.what());
    }
  });
}

}  // namespace hitl::cli
