#include "pg_find_batcher.hpp"

#include <map>

namespace hitl::storage_postgres {

sdk::Status FindBatcher::find(const std::string& domain, const std::vector<std::string>& ids, Found& out) {
  Ask me{domain, ids, out};
  std::unique_lock lock(mu_);
  waiting_.push_back(&me);
  while (!me.done) {
    if (reading_) {
      cv_.wait(lock);
      continue;
    }
    // Nobody reads: this thread reads for everyone waiting (its own ask among them, or not, when
    // more than kMaxIds wait: it then loops and reads again).
    reading_ = true;
    const std::vector<Ask*> batch = take_batch();
    lock.unlock();
    read_batch(batch);
    lock.lock();
    for (Ask* a : batch) a->done = true;
    reading_ = false;
    cv_.notify_all();
  }
  return me.status;
}

// The asks waiting longest, up to kMaxIds ids (at least one ask).
std::vector<FindBatcher::Ask*> FindBatcher::take_batch() {
  std::vector<Ask*> batch;
  std::size_t n = 0, taken = 0;
  for (; taken < waiting_.size(); ++taken) {
    n += waiting_[taken]->ids.size();
    if (taken > 0 && n > kMaxIds) break;
    batch.push_back(waiting_[taken]);
  }
  waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
  return batch;
}

// One read per domain over the asks' ids in order; each ask gets its own slice back. Never
// throws: the threads waiting on this one would wait for ever.
void FindBatcher::read_batch(const std::vector<Ask*>& batch) noexcept {
  try {
    read_grouped(batch);
  } catch (const std::exception& e) {
    for (Ask* a : batch) a->status = sdk::Status::Error(sdk::Code::internal, std::string("find_decisions failed: ") + e.what());
  }
}

void FindBatcher::read_grouped(const std::vector<Ask*>& batch) {
  if (batch.size() == 1) {
    batch[0]->status = read_(batch[0]->domain, batch[0]->ids, batch[0]->out);
    return;
  }
  std::map<std::string, std::vector<Ask*>> by_domain;
  for (Ask* a : batch) by_domain[a->domain].push_back(a);
  for (auto& [domain, asks] : by_domain) {
    std::vector<std::string> ids;
    for (const Ask* a : asks) ids.insert(ids.end(), a->ids.begin(), a->ids.end());
    Found found;
    const sdk::Status st = read_(domain, ids, found);
    std::size_t at = 0;
    const bool whole = found.size() == ids.size();
    for (Ask* a : asks) {
      a->status = st.ok() && !whole ? sdk::Status::Error(sdk::Code::internal, "find_decisions answered too few rows") : st;
      a->out.assign(a->ids.size(), std::nullopt);
      if (st.ok() && whole)
        for (std::size_t i = 0; i < a->ids.size(); ++i) a->out[i] = found[at + i];
      at += a->ids.size();
    }
  }
}

}  // namespace hitl::storage_postgres
