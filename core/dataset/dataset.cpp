#include "dataset/dataset.hpp"
#include "dataset/marked_gold.hpp"

#include "common/file_store.hpp"
#include "common/files.hpp"
#include "common/hash.hpp"
#include "report/report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace hitl::dataset {
using nlohmann::json;
namespace fs = std::filesystem;

json sample_json(const Sample& s) {
  json j = {{"decision_id", s.decision_id}, {"input", s.input},       {"label", s.label},
          {"model_label", s.model_label}, {"model_confidence", s.model_confidence},
          {"outcome", s.outcome},         {"reviewers", s.reviewers}, {"tags", s.tags},
          {"weight", s.weight},           {"created_ms", s.created_ms}};
  if (s.audit_p > 0) j["audit_p"] = s.audit_p;
  return j;
}

Sample sample_from_json(const json& j) {
  Sample s;
  try {
    s.decision_id = j.at("decision_id").get<std::string>();
    s.input = j.at("input");
    if (!s.input.is_object()) throw std::runtime_error("input: expected an object");
    s.label = j.at("label").get<std::string>();
    s.model_label = j.at("model_label").get<std::string>();
    s.model_confidence = j.at("model_confidence").get<double>();
    s.outcome = j.at("outcome").get<std::string>();
    s.reviewers = j.at("reviewers").get<std::vector<std::string>>();
    s.tags = j.at("tags").get<std::vector<std::string>>();
    s.weight = j.at("weight").get<double>();
    s.created_ms = j.at("created_ms").get<std::int64_t>();
    s.audit_p = j.value("audit_p", 0.0);
    if (!(s.audit_p >= 0 && s.audit_p <= 1)) throw std::runtime_error("audit_p: expected a number in [0, 1]");
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("bad sample: ") + e.what());
  }
  return s;
}

namespace {
Sample make_sample(const std::string& id, json input, const std::string& label, const std::string& model_label,
                   double confidence, const std::string& outcome, std::int64_t created_ms) {
  Sample s;
  s.decision_id = id;
  s.input = std::move(input);
  s.label = label;
  s.model_label = model_label;
  s.model_confidence = confidence;
  s.outcome = outcome;
  s.created_ms = created_ms;
  return s;
}

// The chance the decision was drawn as an audit sample: audit_sample.p of its decision.created
// record. 1 when it cannot be read (the sample then counts once, as a truth does).
double audit_probability(sdk::Storage& storage, const std::string& domain, const std::string& decision_id) {
  sdk::AuditFilter filter;
  filter.domain = domain;
  filter.entity_id = decision_id;
  filter.limit = 50;
  std::vector<sdk::AuditRecord> records;
  if (auto st = storage.list_audit(filter, records); !st.ok()) throw std::runtime_error("cannot read the audit trail: " + st.message);
  for (const auto& a : records) {
    if (a.action != "decision.created" || a.entity != "decision") continue;
    const json detail = json::parse(a.detail_json, nullptr, false);
    const json* p = detail.is_object() && detail.contains("audit_sample") && detail["audit_sample"].is_object()
                        ? &detail["audit_sample"]["p"] : nullptr;
    if (p && p->is_number() && p->get<double>() > 0 && p->get<double>() <= 1) return p->get<double>();
  }
  return 1;
}

// Decisions nobody reviewed whose truth was reported (an auto-approved loan that defaulted):
// the only feedback from outside the flagged slice of the traffic. Their time is the report's.
void add_reported_truths(sdk::Storage& storage, const std::string& domain, const std::vector<sdk::DecisionRecord>& decisions,
                         const std::unordered_map<std::string, std::size_t>& reviewed, const std::set<std::string>& gold_ids,
                         CollectStats& st, std::vector<Sample>& out) {
  for (const auto& d : decisions) {
    if (d.truth_label.empty() || reviewed.count(d.id)) continue;
    std::optional<sdk::DecisionRecord> full;
    if (auto s = storage.get_decision(domain, d.id, full); !s.ok()) throw std::runtime_error("cannot read decision " + d.id + ": " + s.message);
    json input = full ? json::parse(full->input_json, nullptr, false) : json();
    if (!full || full->erased_ms != 0 || !input.is_object() || input.empty()) {
      ++st.erased;
      continue;
    }
    Sample s = make_sample(d.id, std::move(input), d.truth_label, d.label, d.confidence, "truth", d.truth_ms);
    s.tags = {"reported-truth", d.truth_label == d.label ? "confirmed" : "production-failure"};
    if (gold_ids.count(s.decision_id)) s.tags.push_back("gold");
    ++st.reported_truths;
    out.push_back(std::move(s));
  }
}
}  // namespace

std::vector<Sample> collect(sdk::Storage& storage, const std::string& domain, policy::PolicyEngine& policies,
                            CollectStats* stats, const std::set<std::string>& gold_ids) {
  CollectStats local;
  CollectStats& st = stats ? *stats : local;
  std::vector<sdk::FeedbackRecord> rows;
  if (auto s = storage.list_feedback(domain, rows); !s.ok()) throw std::runtime_error("cannot read feedback: " + s.message);
  std::stable_sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.created_ms < b.created_ms; });
  // The newest outcome of each decision wins (a send-back replaces the final label).
  std::unordered_map<std::string, std::size_t> latest;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto [it, fresh] = latest.try_emplace(rows[i].decision_id, i);
    if (!fresh) {
      it->second = i;
      ++st.superseded;
    }
  }
  // The domain's decisions (reason, erasure) and reviews (who answered), read in pages once
  // rather than once per sample; gold tasks are already left out by the report's loader.
  const report::Facts facts = report::load_facts(storage, domain, report::Window{}, /*with_payload=*/false);
  std::unordered_map<std::string, const sdk::DecisionRecord*> decisions;
  for (const auto& d : facts.decisions) decisions.emplace(d.id, &d);
  std::unordered_map<std::string, std::vector<std::string>> reviewers;  // in submission order, each once
  for (const auto& r : facts.reviews) {
    auto& who = reviewers[r.decision_id];
    if (std::find(who.begin(), who.end(), r.reviewer) == who.end()) who.push_back(r.reviewer);
  }
  std::vector<Sample> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& f = rows[i];
    if (latest.at(f.decision_id) != i) continue;
    auto dit = decisions.find(f.decision_id);
    const sdk::DecisionRecord* d = dit == decisions.end() ? nullptr : dit->second;
    json input = json::parse(f.input_json, nullptr, false);
    if ((d && d->erased_ms != 0) || !input.is_object() || input.empty()) {
      ++st.erased;
      continue;
    }
    Sample s = make_sample(f.decision_id, std::move(input), f.final_label, f.model_label, f.model_confidence,
                           f.outcome, f.created_ms);
    if (auto r = reviewers.find(f.decision_id); r != reviewers.end()) s.reviewers = r->second;
    s.tags.push_back(s.label == s.model_label ? "confirmed" : "user-correction");
    bool failure = d && (d->reason == "model_error" || d->reason == "policy_error");
    // A truth the client reported later (the loan did default) is the label to learn; when it
    // contradicts the human answer, the decision failed in production despite the review.
    if (d && !d->truth_label.empty()) {
      s.tags.push_back("reported-truth");
      failure = failure || d->truth_label != s.label;
      s.label = d->truth_label;
    }
    if (failure) s.tags.push_back("production-failure");
    if (gold_ids.count(s.decision_id)) s.tags.push_back("gold");
    if (d && d->reason == report::kAuditReason) {
      s.tags.push_back("audit");
      s.audit_p = audit_probability(storage, domain, s.decision_id);
    }
    out.push_back(std::move(s));
  }
  add_reported_truths(storage, domain, facts.decisions, latest, gold_ids, st, out);
  std::stable_sort(out.begin(), out.end(), [](const Sample& a, const Sample& b) { return a.created_ms < b.created_ms; });
  for (auto& s : out) {
    policy::SampleView view{domain, s.decision_id, &s.input, s.label, s.model_label, s.outcome,
                            s.model_confidence, s.tags, s.reviewers, s.created_ms};
    bool failed = false;
    s.weight = policies.weight(domain, view, failed);
    if (failed) ++st.weight_failures;
  }
  return out;
}

bool has_tag(const Sample& s, const std::string& tag) {
  return std::find(s.tags.begin(), s.tags.end(), tag) != s.tags.end();
}

json version_json(const Version& v) {
  return {{"id", v.id},
          {"domain", v.domain},
          {"parent", v.parent.empty() ? json(nullptr) : json(v.parent)},
          {"created_ms", v.created_ms},
          {"from_ms", v.from_ms},
          {"to_ms", v.to_ms},
          {"rows", v.rows},
          {"new_rows", v.new_rows},
          {"labels", v.labels},
          {"tags", v.tags},
          {"content_hash", v.content_hash},
          {"policy_hash", v.policy_hash},
          {"created_by", v.created_by},
          {"erased_rows", v.erased_rows}};
}

namespace {

// The manifest's figures of `rows`: count, per label, per tag, time range.
void summarize(Version& v, const std::vector<Sample>& rows) {
  v.rows = rows.size();
  v.labels.clear();
  v.tags.clear();
  v.from_ms = v.to_ms = 0;
  for (auto& s : rows) {
    v.labels[s.label]++;
    for (auto& t : s.tags) v.tags[t]++;
    v.from_ms = v.from_ms ? std::min(v.from_ms, s.created_ms) : s.created_ms;
    v.to_ms = std::max(v.to_ms, s.created_ms);
  }
}

Version version_from_json(const json& j) {
  Version v;
  v.id = j.at("id").get<std::string>();
  v.domain = j.at("domain").get<std::string>();
  v.parent = j.at("parent").is_null() ? "" : j.at("parent").get<std::string>();
  v.created_ms = j.at("created_ms").get<std::int64_t>();
  v.from_ms = j.at("from_ms").get<std::int64_t>();
  v.to_ms = j.at("to_ms").get<std::int64_t>();
  v.rows = j.at("rows").get<std::size_t>();
  v.new_rows = j.at("new_rows").get<std::size_t>();
  v.labels = j.at("labels").get<std::map<std::string, std::size_t>>();
  v.tags = j.at("tags").get<std::map<std::string, std::size_t>>();
  v.content_hash = j.at("content_hash").get<std::string>();
  v.policy_hash = j.at("policy_hash").get<std::string>();
  v.created_by = j.at("created_by").get<std::string>();
  v.erased_rows = j.value("erased_rows", std::size_t{0});  // absent before erasure reached versions
  return v;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_value(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return csv_field(v.get<std::string>());
  return csv_field(v.dump());
}

}  // namespace

namespace {
// Names inside the store (common/file_store.hpp): "<domain>/<id>.jsonl" and ".json".
std::string samples_of(const Version& v) { return v.domain + "/" + v.id + ".jsonl"; }
std::string manifest_of(const Version& v) { return v.domain + "/" + v.id + ".json"; }
}  // namespace

Split parse_split(const std::string& s) {
  if (s == "all") return Split::all;
  if (s == "train") return Split::train;
  if (s == "holdout") return Split::holdout;
  throw std::invalid_argument("split must be all, train or holdout, got \"" + s + "\"");
}

Store::Store(fs::path dir) : files_(file_store_at(dir)) {}

std::vector<Version> Store::list(const std::string& domain) const {
  std::vector<Version> out;
  static const std::regex manifest(R"((.+)-v([0-9]+)\.json)");
  for (const auto& dom : domain.empty() ? files_->list("") : std::vector<std::string>{domain})
    for (const auto& name : files_->list(dom)) {
      if (!std::regex_match(name, manifest)) continue;
      const std::string rel = dom + "/" + name;
      auto j = json::parse(files_->read(rel).value_or(""), nullptr, false);
      if (j.is_discarded()) throw std::runtime_error(files_->describe(rel) + ": not a valid manifest");
      try {
        out.push_back(version_from_json(j));
      } catch (const json::exception& e) {
        throw std::runtime_error(files_->describe(rel) + ": not a valid manifest: " + e.what());
      }
      // The sort below reads the version number from the id: it must be the file's.
      if (out.back().id + ".json" != name || out.back().domain != dom)
        throw std::runtime_error(files_->describe(rel) + ": not a valid manifest: its id or domain does not match the file");
    }
  auto number = [](const Version& v) { return std::stoll(v.id.substr(v.id.rfind("-v") + 2)); };
  std::sort(out.begin(), out.end(), [&](const Version& a, const Version& b) {
    return a.domain != b.domain ? a.domain < b.domain : number(a) < number(b);
  });
  return out;
}

std::optional<Version> Store::find(const std::string& id) const {
  for (auto& v : list())
    if (v.id == id) return v;
  return std::nullopt;
}

Version Store::require(const std::string& id, const std::string& domain) const {
  auto v = find(id);
  if (!v) throw std::runtime_error("no dataset version \"" + id + "\" (see hitl dataset list)");
  if (!domain.empty() && v->domain != domain) throw std::runtime_error(v->id + " is of domain \"" + v->domain + "\"");
  return *v;
}

std::size_t Store::erase(const std::string& domain, const std::set<std::string>& ids) {
  std::size_t removed = 0;
  if (ids.empty() || files_->list(domain).empty()) return 0;
  const auto lock = files_->lock(domain);
  for (auto v : list(domain)) {
    auto rows = read(v);
    const auto before = rows.size();
    std::erase_if(rows, [&](const Sample& s) { return ids.count(s.decision_id) > 0; });
    if (rows.size() == before) continue;
    std::string text;
    for (auto& s : rows) text += sample_json(s).dump() + "\n";
    v.erased_rows += before - rows.size();
    removed += before - rows.size();
    summarize(v, rows);
    v.new_rows = std::min(v.new_rows, v.rows);
    v.content_hash = sha256_hex(text);
    // Samples first, manifest last: a crash between leaves a hash mismatch that read() reports,
    // never the erased payload.
    files_->replace(samples_of(v), text);
    files_->replace(manifest_of(v), version_json(v).dump(2) + "\n");
  }
  return removed;
}

std::size_t forget(const fs::path& datasets_dir, const std::string& domain, const std::set<std::string>& ids) {
  return Store(datasets_dir).erase(domain, ids) + MarkedGold(datasets_dir).erase(domain, ids);
}

std::vector<Sample> Store::read(const Version& v) const {
  const auto found = files_->read(samples_of(v));
  if (!found) throw std::runtime_error("dataset " + v.id + ": its samples are missing (" + files_->describe(samples_of(v)) + ")");
  const std::string& text = *found;
  if (sha256_hex(text) != v.content_hash)
    throw std::runtime_error("dataset " + v.id + ": the samples file does not match its content hash (altered on disk)");
  std::vector<Sample> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(sample_from_json(json::parse(line)));
  return rows;
}

Version Store::snapshot(const std::string& domain, const std::vector<Sample>& samples, std::int64_t now_ms,
                        const std::string& policy_hash, const std::string& created_by, bool& created) {
  created = false;
  std::string text;
  for (auto& s : samples) text += sample_json(s).dump() + "\n";
  const std::string hash = sha256_hex(text);
  const auto lock = files_->lock(domain);  // the next id is the folder's: one writer at a time
  auto versions = list(domain);
  std::optional<Version> parent;
  if (!versions.empty()) parent = versions.back();
  if (parent && parent->content_hash == hash) return *parent;

  Version v;
  v.domain = domain;
  v.id = domain + "-v" + std::to_string(versions.size() + 1);
  v.parent = parent ? parent->id : "";
  v.created_ms = now_ms;
  v.content_hash = hash;
  v.policy_hash = policy_hash;
  v.created_by = created_by;
  std::set<std::string> before;
  if (parent)
    for (auto& s : read(*parent)) before.insert(s.decision_id + "\n" + std::to_string(s.created_ms));
  for (auto& s : samples)
    if (!before.count(s.decision_id + "\n" + std::to_string(s.created_ms))) ++v.new_rows;
  summarize(v, samples);
  // A samples file without its manifest is what a crash between the two writes leaves: the
  // version never existed (the manifest is written last), so the orphan gives way.
  if (!files_->read(manifest_of(v))) files_->remove(samples_of(v));
  files_->write_new(samples_of(v), text);
  files_->write_new(manifest_of(v), version_json(v).dump(2) + "\n");
  created = true;
  return v;
}

std::vector<Sample> Store::split(std::vector<Sample> rows, Split which, double holdout_fraction) {
  if (which == Split::all) return rows;
  if (!(holdout_fraction >= 0 && holdout_fraction <= 1))
    throw std::invalid_argument("holdout fraction must be in [0, 1]");
  std::stable_sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.created_ms < b.created_ms; });
  const auto holdout = static_cast<std::size_t>(std::llround(holdout_fraction * static_cast<double>(rows.size())));
  const auto cut = rows.begin() + static_cast<std::ptrdiff_t>(rows.size() - holdout);
  return which == Split::train ? std::vector<Sample>(rows.begin(), cut) : std::vector<Sample>(cut, rows.end());
}

void Store::write_csv(const std::vector<Sample>& rows, std::ostream& out) {
  std::set<std::string> columns;
  for (auto& s : rows)
    for (auto& [k, _] : s.input.items()) columns.insert(k);
  out << "decision_id";
  for (auto& c : columns) out << ',' << csv_field(c);
  out << ",label,model_label,model_confidence,outcome,tags,weight,created_ms\n";
  for (auto& s : rows) {
    out << csv_field(s.decision_id);
    for (auto& c : columns) {
      auto it = s.input.find(c);
      out << ',' << (it == s.input.end() ? std::string() : csv_value(*it));
    }
    std::string tags;
    for (auto& t : s.tags) tags += (tags.empty() ? "" : ";") + t;
    out << ',' << csv_field(s.label) << ',' << csv_field(s.model_label) << ',' << json(s.model_confidence).dump() << ','
        << csv_field(s.outcome) << ',' << csv_field(tags) << ',' << json(s.weight).dump() << ',' << s.created_ms << '\n';
  }
}

void Store::write_jsonl(const std::vector<Sample>& rows, std::ostream& out) {
  for (auto& s : rows) out << sample_json(s).dump() << '\n';
}

}  // namespace hitl::dataset
