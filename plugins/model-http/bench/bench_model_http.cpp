// Prints model-http throughput over loopback keep-alive against a hitl::http::Server that
// answers every batch with a precomputed reply (so the figures are the client's and the
// transport's cost, not a model's). Not a test.
#include <hitl/plugin_api.hpp>

#include "http/server.hpp"

#include <boost/dll/import.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace sdk = hitl::sdk;

namespace {

std::string json_reply(std::size_t n) {
  std::string s = R"({"predictions":[)";
  for (std::size_t i = 0; i < n; ++i)
    s += std::string(i ? "," : "") + R"({"label":"good","confidence":0.8,"scores":{"bad":0.2,"good":0.8}})";
  return s + "]}";
}

std::string kserve_reply(std::size_t n) {
  std::string s = R"({"outputs":[{"name":"p","shape":[)" + std::to_string(n) + R"(,2],"datatype":"FP64","data":[)";
  for (std::size_t i = 0; i < n; ++i) s += std::string(i ? "," : "") + "0.2,0.8";
  return s + "]}]}";
}

void run(const sdk::PluginDescriptor& d, const char* name, const std::string& protocol, std::size_t batch,
         int threads, double seconds) {
  const std::string reply = protocol == "json" ? json_reply(batch) : kserve_reply(batch);
  hitl::http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  hitl::http::Server server(o, [&reply](hitl::http::Request&&, hitl::http::Respond respond) {
    hitl::http::Response r;
    r.body = reply;
    respond(std::move(r));
  });
  server.start();
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v2/models/m/infer";
  const std::string config = R"({"url":")" + url + R"(","protocol":")" + protocol +
                             R"(","features":["Income","Age","Amount","Seniority"],"classes":["bad","good"]})";
  std::unique_ptr<sdk::Model> model;
  if (auto st = d.create_model(config.c_str(), model); !st.ok()) {
    std::fprintf(stderr, "create: %s\n", st.message.c_str());
    std::exit(1);
  }
  std::vector<sdk::Record> rows(batch, sdk::Record{{"Income", 130.0}, {"Age", 41.0}, {"Amount", 800.0},
                                                   {"Seniority", 9.0}, {"Home", std::string("owner")}});
  std::vector<long> calls(threads, 0);
  std::atomic<bool> failed{false};
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::vector<sdk::Prediction> out;
      while (std::chrono::steady_clock::now() < end) {
        if (!model->predict(rows, out).ok()) failed = true;
        ++calls[t];
      }
    });
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long total = 0;
  for (long c : calls) total += c;
  std::printf("%-28s batch %4zu, %d client thread(s): %8.0f calls/s, %9.0f records/s, %6.1f us/call%s\n", name, batch,
              threads, total / elapsed, total * batch / elapsed, elapsed * 1e6 * threads / total,
              failed ? "  (SOME CALLS FAILED)" : "");
}

}  // namespace

int main() {
  auto entry = boost::dll::import_alias<const sdk::PluginDescriptor*()>(
      std::filesystem::path(HITL_PLUGIN_DIR "/model-http.so"), HITL_PLUGIN_ENTRY_SYMBOL);
  const auto& d = *entry();
  run(d, "json", "json", 1, 1, 2.0);
  run(d, "json", "json", 100, 1, 2.0);
  run(d, "kserve-v2", "kserve-v2", 1, 1, 2.0);
  run(d, "kserve-v2", "kserve-v2", 100, 1, 2.0);
  run(d, "json (2 threads, 2 conns)", "json", 1, 2, 2.0);
  return 0;
}
