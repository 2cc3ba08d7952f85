// Accuracy over all traffic (docs/report.md, 3c): the reviewed decisions are a census, the
// automatic ones are estimated from the audit samples of their policy version.
#include "common/statistics.hpp"
#include "common/task_state.hpp"
#include "report/fold.hpp"

namespace hitl::report::detail {

void EstimateFold::add(const sdk::DecisionRecord& d) {
  const bool flagged = service::is(d.status, service::DecisionState::pending_review);
  const bool audit = flagged && d.reason == kAuditReason;
  const auto truth = truth_of(d);
  if (audit || service::is(d.status, service::DecisionState::auto_approved)) {
    auto& s = by_policy_[d.policy_hash];
    ++s.automatic;
    if (audit && truth) {
      ++s.samples;
      s.model_right += d.label == *truth;
      s.capture.add(doubts_of({}, d.confidence), d.label != *truth);
    }
  } else if (flagged && truth) {
    ++reviewed_;
    reviewed_capture_.add(doubts_of({}, d.confidence), d.label != *truth);
    reviewed_model_right_ += d.label == *truth;
    reviewed_system_right_ += delivered_label(d) == *truth;
  } else {
    ++not_covered_;  // rejected, or flagged and no truth yet
  }
}

Estimates EstimateFold::result() const {
  Estimates e;
  e.reviewed = reviewed_;
  e.not_covered = not_covered_;
  // Each sample stands for automatic / samples decisions of its policy version: 1/p, with p the
  // share of them drawn. What an audit sample delivered is a person's label, but what it stands
  // for delivered the model's: on the automatic part the system is the model.
  statistics::WeightedCount sample;
  CaptureFold capture = reviewed_capture_;
  for (const auto& [_, s] : by_policy_) {
    if (s.samples == 0) {
      e.not_covered += s.automatic;
      continue;
    }
    e.automatic += s.automatic;
    e.samples += s.samples;
    const double w = static_cast<double>(s.automatic) / static_cast<double>(s.samples);
    for (std::int64_t i = 0; i < s.samples; ++i) sample.add(i < s.model_right, w);
    capture.merge(s.capture, w);
  }
  const auto p = statistics::proportion(sample);
  // Automatic traffic none of whose versions drew a sample (no audit_rate): the census alone
  // would pass the reviewed slice off as all traffic.
  const bool unsampled_only = e.automatic == 0 && e.not_covered > not_covered_;
  e.effective_samples = p.effective_rows;
  auto fill = [&](TrafficEstimate& t, std::int64_t census_right) {
    const auto est = statistics::census_plus_sample(static_cast<double>(e.reviewed), static_cast<double>(census_right),
                                                    static_cast<double>(e.automatic), p);
    if (!est || unsampled_only) return;
    t.accuracy = est->value;
    t.ci95_low = est->interval.low;
    t.ci95_high = est->interval.high;
  };
  if (!unsampled_only) e.capture = capture.curves();  // else it would be the reviewed slice's alone
  fill(e.model, reviewed_model_right_);
  fill(e.system, reviewed_system_right_);
  return e;
}

}  // namespace hitl::report::detail
