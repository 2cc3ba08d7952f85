// model-http, loaded from the built .so with Boost.DLL as the host loads it, against a real
// hitl::http::Server on loopback playing the model server (and a counting TCP proxy where
// the number of connections matters).
#include <hitl/plugin_api.hpp>

#include "http/server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>
#include "support/plugin_testing.hpp"
#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

using nlohmann::json;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace sdk = hitl::sdk;
using tcp = net::ip::tcp;
using hitl::http::Request;
using hitl::http::Respond;
using hitl::http::Response;

namespace {

const sdk::PluginDescriptor& plugin() { return hitl::test::plugin_descriptor("model-http.so"); }

std::unique_ptr<sdk::Model> make_model(const json& config) {
  std::unique_ptr<sdk::Model> m;
  auto st = plugin().create_model(config.dump().c_str(), m);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(m);
  return m;
}

std::string create_error(const std::string& config_text) {
  return hitl::test::model_create_error(plugin(), config_text);
}

Response json_reply(const json& body, int status = 200) {
  Response r;
  r.status = status;
  r.body = body.dump();
  return r;
}

// The json protocol's reference answer: label by the sign of "x", scores derived from x so a
// test can tell which instance an answer belongs to.
Response echo_json(const Request& req) {
  json preds = json::array();
  const json doc = json::parse(req.body);
  for (const auto& inst : doc.at("instances")) {
    const double x = inst.at("x").get<double>();
    const double pos = 0.5 + x / 100.0;
    preds.push_back({{"label", x > 0 ? "pos" : "neg"}, {"scores", {{"neg", 1 - pos}, {"pos", pos}}}});
  }
  return json_reply({{"predictions", preds}});
}

// A model server on 127.0.0.1: records every request, answers with `handler` (by request
// index, 0-based), optionally after a delay (answered from a separate thread).
class FakeServer {
 public:
  using Handler = std::function<Response(const Request&, int index)>;

  explicit FakeServer(Handler handler = [](const Request& r, int) { return echo_json(r); })
      : handler_(std::move(handler)), server_(options(), [this](Request&& r, Respond respond) { on_request(std::move(r), std::move(respond)); }) {
    server_.start();
  }
  ~FakeServer() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    server_.stop();
    for (auto& t : delayed_) t.join();
  }

  std::uint16_t port() const { return server_.port(); }
  std::string url(const std::string& path = "/predict") const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
  void stop() { server_.stop(); }
  void set_delay_ms(int ms) { delay_ms_ = ms; }

  int count() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(requests_.size());
  }
  Request request(int i) const {
    std::lock_guard lock(mu_);
    return requests_.at(static_cast<std::size_t>(i));
  }

 private:
  static hitl::http::ServerOptions options() {
    hitl::http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 2;
    return o;
  }

  void on_request(Request&& r, Respond respond) {
    int index = 0;
    {
      std::lock_guard lock(mu_);
      index = static_cast<int>(requests_.size());
      requests_.push_back(r);
    }
    Response reply = handler_(r, index);
    const int delay = delay_ms_.load();
    if (delay <= 0) return respond(std::move(reply));
    std::lock_guard lock(mu_);
    delayed_.emplace_back([this, delay, respond = std::move(respond), reply = std::move(reply)]() mutable {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(delay), [this] { return closing_; });
      lock.unlock();
      respond(std::move(reply));  // dropped by the server when stopped, or by the client when gone
    });
  }

  Handler handler_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  std::vector<Request> requests_;
  std::vector<std::thread> delayed_;
  std::atomic<int> delay_ms_{0};
  hitl::http::Server server_;  // last: stopped before the members its handler uses go away
};

// A TCP proxy in front of a server that counts the connections clients open, and can cut
// them all (as a server closing idle keep-alive connections would).
class CountingProxy {
 public:
  explicit CountingProxy(std::uint16_t upstream_port)
      : upstream_(net::ip::make_address("127.0.0.1"), upstream_port),
        acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~CountingProxy() {
    stopping_ = true;
    {  // wake the blocking accept with one last connection
      tcp::socket s(ioc_);
      boost::system::error_code ec;
      s.connect(acceptor_.local_endpoint(), ec);
    }
    accept_thread_.join();
    drop_all();
    std::vector<std::thread> pumps;
    {
      std::lock_guard lock(mu_);
      pumps.swap(pumps_);
    }
    for (auto& t : pumps) t.join();
  }

  std::string url(const std::string& path = "/predict") const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }
  int accepted() const { return accepted_.load(); }

  void drop_all() {
    std::lock_guard lock(mu_);
    for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);  // wakes both pumps
  }

 private:
  void accept_loop() {
    for (;;) {
      auto down = std::make_shared<tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*down, ec);
      if (stopping_ || ec) return;
      ++accepted_;
      auto up = std::make_shared<tcp::socket>(ioc_);
      up->connect(upstream_, ec);
      if (ec) continue;
      std::lock_guard lock(mu_);
      sockets_.push_back(down);
      sockets_.push_back(up);
      pumps_.emplace_back([down, up] { pump(*down, *up); });
      pumps_.emplace_back([down, up] { pump(*up, *down); });
    }
  }

  static void pump(tcp::socket& from, tcp::socket& to) {
    char buf[16384];
    boost::system::error_code ec;
    for (;;) {
      const std::size_t n = from.read_some(net::buffer(buf), ec);
      if (ec || net::write(to, net::buffer(buf, n), ec) != n || ec) break;
    }
    ::shutdown(from.native_handle(), SHUT_RDWR);
    ::shutdown(to.native_handle(), SHUT_RDWR);
  }

  net::io_context ioc_;
  tcp::endpoint upstream_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> pumps_;
  std::thread accept_thread_;
};

std::vector<sdk::Record> three_records() {
  return {{{"x", 10.0}, {"city", std::string("Oslo")}},
          {{"x", -20.0}, {"city", sdk::Value{}}, {"vip", true}},
          {{"x", 30.0}}};
}

using hitl::test::predict_ok;

sdk::Status predict_status(sdk::Model& m, const std::vector<sdk::Record>& rows = {{{"x", 1.0}}}) {
  std::vector<sdk::Prediction> out;
  return m.predict(rows, out);
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

json base_config(const std::string& url) {
  return {{"url", url}, {"backoff_ms", 1}};
}

}  // namespace

TEST_CASE("the .so exports a model descriptor named http with documented options") {
  auto names = hitl::test::check_model_descriptor(plugin(), "http");
  CHECK(names == std::vector<std::string>{"url", "protocol", "model", "features", "classes", "missing_value",
                                          "input_name", "output_name", "timeout_ms", "retries", "backoff_ms",
                                          "breaker_failures", "breaker_cooldown_ms", "headers", "version"});
}

TEST_CASE("json protocol: a batch of 3 is sent as instances and predictions come back in order") {
  FakeServer server;
  auto config = base_config(server.url("/predict?v=2"));
  config["headers"] = {{"Authorization", "Bearer s3cret"}};
  config["classes"] = {"neg", "pos"};
  auto m = make_model(config);
  CHECK_FALSE(m->can_train());
  CHECK(m->version() == "http-" + server.url("/predict?v=2"));

  auto p = predict_ok(*m, three_records());
  CHECK(p[0].label == "pos");
  CHECK(p[0].confidence == Approx(0.6));  // no "confidence": the score of its label
  REQUIRE(p[0].scores.size() == 2);
  CHECK(p[0].scores[0].first == "neg");
  CHECK(p[0].scores[0].second == Approx(0.4));
  CHECK(p[1].label == "neg");
  CHECK(p[1].confidence == Approx(0.7));
  CHECK(p[2].label == "pos");
  CHECK(p[2].confidence == Approx(0.8));

  REQUIRE(server.count() == 1);
  const Request req = server.request(0);
  CHECK(req.method == "POST");
  CHECK(req.target == "/predict?v=2");
  CHECK(req.header("content-type") == "application/json");
  CHECK(req.header("authorization") == "Bearer s3cret");
  CHECK(json::parse(req.body) == json::parse(R"({"instances":[
      {"x":10.0,"city":"Oslo"},
      {"x":-20.0,"city":null,"vip":true},
      {"x":30.0}]})"));

  // `features` narrows (and orders) what is sent; absent fields become null.
  config["features"] = {"x", "vip"};
  config["version"] = "fraud-2024-06";
  auto narrowed = make_model(config);
  CHECK(narrowed->version() == "fraud-2024-06");
  predict_ok(*narrowed, three_records());
  CHECK(json::parse(server.request(1).body) ==
        json::parse(R"({"instances":[{"x":10.0,"vip":null},{"x":-20.0,"vip":true},{"x":30.0,"vip":null}]})"));
}

TEST_CASE("json protocol: an explicit confidence wins and scores are optional") {
  FakeServer server([](const Request&, int) {
    return json_reply({{"predictions", {{{"label", "spam"}, {"confidence", 0.93}},
                                        {{"label", "ham"}, {"confidence", 0.51}, {"scores", {{"ham", 0.6}, {"spam", 0.4}}}}}}});
  });
  auto m = make_model(base_config(server.url()));
  auto p = predict_ok(*m, {{{"x", 1.0}}, {{"x", 2.0}}});
  CHECK(p[0].label == "spam");
  CHECK(p[0].confidence == 0.93);
  CHECK(p[0].scores.empty());
  CHECK(p[1].confidence == 0.51);
  CHECK(p[1].scores.size() == 2);
}

TEST_CASE("kserve-v2: one FP64 tensor [n, k] in feature order, output columns map to classes") {
  FakeServer server([](const Request&, int) {
    return json_reply({{"model_name", "credit"},
                       {"outputs", {{{"name", "probabilities"}, {"shape", {3, 2}}, {"datatype", "FP64"},
                                     {"data", {{0.25, 0.75}, {0.9, 0.1}, {0.5, 0.5}}}}}}});
  });
  auto config = base_config("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  config["protocol"] = "kserve-v2";
  config["model"] = "credit";
  config["features"] = {"income", "age", "vip"};
  config["classes"] = {"bad", "good"};
  config["missing_value"] = -1;
  auto m = make_model(config);
  CHECK(m->version() == "http-credit");

  std::vector<sdk::Record> rows = {
      {{"age", 41.0}, {"income", 5200.5}, {"vip", true}},
      {{"income", std::string("130")}, {"vip", false}},            // age absent -> missing_value
      {{"vip", sdk::Value{}}, {"age", std::nan("")}, {"income", std::string("")}}};  // all missing
  auto p = predict_ok(*m, rows);
  CHECK(p[0].label == "good");
  CHECK(p[0].confidence == 0.75);
  CHECK(p[0].scores == std::vector<std::pair<std::string, double>>{{"bad", 0.25}, {"good", 0.75}});
  CHECK(p[1].label == "bad");
  CHECK(p[1].confidence == 0.9);
  CHECK(p[2].label == "bad");  // a tie goes to the first class
  CHECK(p[2].confidence == 0.5);

  REQUIRE(server.count() == 1);
  const Request req = server.request(0);
  CHECK(req.target == "/v2/models/credit/infer");
  const json body = json::parse(req.body);
  REQUIRE(body.at("inputs").size() == 1);
  const json& input = body["inputs"][0];
  CHECK(input.at("name") == "input");
  CHECK(input.at("datatype") == "FP64");
  CHECK(input.at("shape") == json::array({3, 3}));
  CHECK(input.at("data") == json::parse("[5200.5, 41, 1,  130, -1, 0,  -1, -1, -1]"));

  // A url ending with /infer is used as it is; a flat output and a named output work too.
  FakeServer flat([](const Request&, int) {
    return json_reply({{"outputs", {{{"name", "logits"}, {"shape", {1, 2}}, {"data", {3.0, -1.0}}},
                                    {{"name", "probs"}, {"shape", {1, 2}}, {"data", {0.2, 0.8}}}}}});
  });
  config["url"] = flat.url("/custom/path/infer");
  config["output_name"] = "probs";
  config["input_name"] = "features";
  auto named = make_model(config);
  auto q = predict_ok(*named, {{{"income", 1.0}}});
  CHECK(q[0].label == "good");
  CHECK(q[0].confidence == 0.8);
  CHECK(flat.request(0).target == "/custom/path/infer");
  CHECK(json::parse(flat.request(0).body)["inputs"][0]["name"] == "features");
}

TEST_CASE("kserve-v2: a non-numeric feature is refused before anything is sent") {
  FakeServer server;
  auto config = base_config(server.url("/v2/models/m/infer"));
  config["protocol"] = "kserve-v2";
  config["features"] = {"a"};
  config["classes"] = {"x", "y"};
  auto m = make_model(config);
  auto st = predict_status(*m, {{{"a", 1.0}}, {{"a", std::string("abc")}}});
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK(st.message == "model-http: row 2, field \"a\": \"abc\" is not a number (kserve-v2 sends an FP64 tensor)");
  CHECK(server.count() == 0);
}

TEST_CASE("keep-alive: many predicts share one connection, a closed one is reopened transparently") {
  FakeServer server;
  CountingProxy proxy(server.port());
  auto config = base_config(proxy.url());
  config["retries"] = 0;  // the reconnect below must not rely on a retry
  auto m = make_model(config);
  for (int i = 0; i < 20; ++i) predict_ok(*m, {{{"x", static_cast<double>(i)}}});
  CHECK(server.count() == 20);
  CHECK(proxy.accepted() == 1);

  proxy.drop_all();  // like a server closing idle keep-alive connections
  auto p = predict_ok(*m, {{{"x", 7.0}}});
  CHECK(p[0].confidence == Approx(0.57));
  CHECK(proxy.accepted() == 2);
  CHECK(server.count() == 21);
}

TEST_CASE("concurrent predicts each get their own answers") {
  FakeServer server;
  auto m = make_model(base_config(server.url()));
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const double x = t * 10 + i * 0.25;
        std::vector<sdk::Prediction> out;
        if (!m->predict({{{"x", x}}}, out).ok() || out.size() != 1) {
          ++failures;
          continue;
        }
        if (std::abs(out[0].scores[1].second - (0.5 + x / 100.0)) > 1e-9) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  CHECK(server.count() == 100);
}

TEST_CASE("HTTP 5xx is retried with backoff, exhausted retries report the last error") {
  FakeServer server([](const Request& r, int i) {
    return i < 2 ? json_reply({{"error", "warming up"}}, 503) : echo_json(r);
  });
  auto config = base_config(server.url());
  config["retries"] = 2;
  auto m = make_model(config);
  auto p = predict_ok(*m, {{{"x", 5.0}}});
  CHECK(p[0].label == "pos");
  CHECK(server.count() == 3);

  FakeServer down([](const Request&, int) { return json_reply({{"error", "boom"}}, 500); });
  config["url"] = down.url();
  config["retries"] = 1;
  auto m2 = make_model(config);
  auto st = predict_status(*m2);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK(st.message == "model-http: POST " + down.url() + ": HTTP 500: {\"error\":\"boom\"} (after 2 attempts)");
  CHECK(down.count() == 2);
}

TEST_CASE("HTTP 4xx is not retried and does not open the circuit") {
  FakeServer server([](const Request&, int) { return json_reply({{"error", "no such model"}}, 404); });
  auto config = base_config(server.url());
  config["retries"] = 3;
  config["breaker_failures"] = 2;
  auto m = make_model(config);
  for (int i = 0; i < 4; ++i) {
    auto st = predict_status(*m);
    CHECK(st.code == sdk::Code::internal);
    CHECK(st.message == "model-http: POST " + server.url() + ": HTTP 404 (not retried): {\"error\":\"no such model\"}");
  }
  CHECK(server.count() == 4);  // one request per call, none refused by the breaker
}

TEST_CASE("a reply slower than timeout_ms fails with unavailable, the next call is not confused by it") {
  FakeServer server;
  auto config = base_config(server.url());
  config["timeout_ms"] = 150;
  config["retries"] = 0;
  auto m = make_model(config);
  server.set_delay_ms(1500);
  auto st = predict_status(*m, {{{"x", 1.0}}});
  CHECK(st.code == sdk::Code::unavailable);
  CHECK(st.message == "model-http: POST " + server.url() + ": timed out after 150 ms (during read)");

  server.set_delay_ms(0);
  auto p = predict_ok(*m, {{{"x", 40.0}}});  // a fresh connection: not the late reply for x = 1
  CHECK(p[0].confidence == Approx(0.9));
  CHECK(server.count() == 2);
}

TEST_CASE("a refused connection fails with unavailable after the retries") {
  std::string url;
  {
    FakeServer gone;
    url = gone.url();
  }  // stopped: nothing listens on its port any more
  auto config = base_config(url);
  config["retries"] = 1;
  auto m = make_model(config);
  auto st = predict_status(*m);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK(st.message == "model-http: POST " + url + ": connect: Connection refused (after 2 attempts)");
}

TEST_CASE("malformed responses are failures and are not retried") {
  std::string reply;
  FakeServer server([&reply](const Request&, int) {
    Response r;
    r.body = reply;
    return r;
  });
  auto config = base_config(server.url());
  config["retries"] = 2;
  config["breaker_failures"] = 0;
  config["classes"] = {"neg", "pos"};
  auto m = make_model(config);
  const std::string prefix = "model-http: malformed response: ";
  auto check = [&](const std::string& body, const std::string& message) {
    reply = body;
    const int before = server.count();
    auto st = predict_status(*m, three_records());
    CHECK(st.code == sdk::Code::internal);
    CHECK(st.message == prefix + message);
    CHECK(server.count() == before + 1);
  };
  check("<html>oops</html>", "body is not JSON (starts with \"<html>oops</html>\")");
  check(R"({"predictions":[{"label":"pos","confidence":0.9},{"label":"neg","confidence":0.8}]})",
        "2 predictions for 3 instances");
  check(R"({"outputs":[]})", "no \"predictions\" array");
  check(R"({"predictions":)" + std::string(100000, '[') + std::string(100000, ']') + "}",
        "body nests arrays and objects deeper than 64 levels");
  const std::string ok = R"({"label":"pos","confidence":0.9})";
  check(R"({"predictions":[)" + ok + "," + ok + R"(,{"label":7,"confidence":0.9}]})",
        "prediction 3: \"label\" missing or not a non-empty string");
  check(R"({"predictions":[)" + ok + "," + ok + R"(,{"label":"pos","confidence":1.5}]})",
        "prediction 3: \"confidence\" is not a probability in [0, 1]: 1.5");
  check(R"({"predictions":[)" + ok + "," + ok + R"(,{"label":"pos","confidence":"high"}]})",
        "prediction 3: \"confidence\" is not a probability in [0, 1]: \"high\"");
  check(R"({"predictions":[)" + ok + "," + ok + R"(,{"label":"pos","scores":{"neg":0.2}}]})",
        "prediction 3: no \"confidence\" and no score for its label \"pos\"");
  check(R"({"predictions":[)" + ok + "," + ok + R"(,{"label":"maybe","confidence":0.5}]})",
        "prediction 3: label \"maybe\" is not one of the configured classes");

  auto kconfig = base_config(server.url("/v2/models/m/infer"));
  kconfig["protocol"] = "kserve-v2";
  kconfig["features"] = {"x"};
  kconfig["classes"] = {"neg", "pos"};
  m = make_model(kconfig);
  check(R"({"outputs":[{"name":"p","shape":[3,3],"data":[0,0,1,0,0,1,0,0,1]}]})",
        "output shape is [3,3], expected [3,2] (rows, classes)");
  check(R"({"outputs":[{"name":"p","shape":[3,2],"data":[0.1,0.9,0.2,0.8]}]})", "output has 4 values, expected 6");
  check(R"({"outputs":[{"name":"p","shape":[3,2],"data":[0.1,0.9,0.2,0.8,0.3,"x"]}]})",
        "output \"data\" is not an array of numbers");
  check(R"({"outputs":[{"name":"p","shape":[3,2],"data":[0.1,0.9,0.2,0.8,-3,4]}]})",
        "row 3: score -3.0 for class \"neg\" is not a probability in [0, 1]");
}

TEST_CASE("the circuit breaker opens after N failed calls, fails fast, then a trial call recovers it") {
  std::atomic<bool> healthy{false};
  FakeServer server([&healthy](const Request& r, int) {
    return healthy ? echo_json(r) : json_reply({{"error", "overloaded"}}, 500);
  });
  auto config = base_config(server.url());
  config["retries"] = 0;
  config["breaker_failures"] = 3;
  config["breaker_cooldown_ms"] = 200;
  auto m = make_model(config);
  for (int i = 0; i < 3; ++i) CHECK(contains(predict_status(*m).message, "HTTP 500"));
  CHECK(server.count() == 3);

  auto st = predict_status(*m);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK(contains(st.message, "model-http: circuit open (3 consecutive failures); next trial call in "));
  CHECK(contains(st.message, "; last error: model-http: POST " + server.url() + ": HTTP 500"));
  CHECK(server.count() == 3);  // failed fast: the server was not contacted

  // Wait out the cooldown (calls while open do not reach the server): the trial call fails
  // and the circuit opens again at once.
  auto wait_for_trial = [&] {
    sdk::Status s;
    for (int i = 0; i < 500; ++i) {
      s = predict_status(*m);
      if (!contains(s.message, "circuit open")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return s;
  };
  st = wait_for_trial();
  CHECK(contains(st.message, "HTTP 500"));
  CHECK(server.count() == 4);
  CHECK(contains(predict_status(*m).message, "circuit open"));
  CHECK(server.count() == 4);

  healthy = true;
  st = wait_for_trial();
  CHECK(st.ok());
  CHECK(server.count() == 5);  // the call after the cooldown contacted the server
  predict_ok(*m, {{{"x", 1.0}}});
  CHECK(server.count() == 6);  // closed again
}

TEST_CASE("bad configs are refused with a message naming the key") {
  CHECK(create_error("{}") == "model-http: config key \"url\" is required (e.g. \"http://127.0.0.1:8501/infer\")");
  CHECK(create_error("not json").rfind("model-http: config is not valid JSON: ", 0) == 0);
  CHECK(create_error("[1]") == "model-http: config must be a JSON object, got array");
  CHECK(create_error(R"({"url":"https://models.example/infer"})") ==
        "model-http: config key \"url\": \"https://models.example/infer\" https is not supported (no TLS in this "
        "plugin): use http://, e.g. to a TLS-terminating sidecar on localhost");
  CHECK(create_error(R"({"url":"ftp://x/"})") == "model-http: config key \"url\": \"ftp://x/\" scheme \"ftp\" is not supported: use http://");
  CHECK(create_error(R"({"url":"http://h:99999/"})") ==
        "model-http: config key \"url\": \"http://h:99999/\" port \"99999\" is not a number from 1 to 65535");
  CHECK(create_error(R"({"url":"http:///x"})") == "model-http: config key \"url\": \"http:///x\" has no host");
  CHECK(create_error(R"({"url":"http://h/","colour":"red"})").rfind("model-http: unknown config key \"colour\" (known: url, ", 0) == 0);
  CHECK(create_error(R"({"url":"http://h/","timeout_ms":"fast"})") ==
        "model-http: config key \"timeout_ms\": expected an integer from 1 to 600000, got \"fast\"");
  CHECK(create_error(R"({"url":"http://h/","retries":-1})") ==
        "model-http: config key \"retries\": expected an integer from 0 to 10, got -1");
  CHECK(create_error(R"({"url":"http://h/","protocol":"grpc"})") ==
        "model-http: config key \"protocol\": expected \"json\" or \"kserve-v2\", got \"grpc\"");
  CHECK(create_error(R"({"url":"http://h/","features":["a",1]})") ==
        "model-http: config key \"features\": expected an array of non-empty strings, got [\"a\",1]");
  CHECK(create_error(R"({"url":"http://h/","classes":["a","a"]})") ==
        "model-http: config key \"classes\": \"a\" is listed twice");
  CHECK(create_error(R"({"url":"http://h/","missing_value":"0"})") ==
        "model-http: config key \"missing_value\": expected a finite number, got \"0\"");
  CHECK(create_error(R"({"url":"http://h/","headers":{"X-Key":5}})") ==
        "model-http: config key \"headers\": header \"X-Key\" must be a string, got 5");
  CHECK(create_error(R"({"url":"http://h/","headers":{"X-Key":"a\r\nInjected: 1"}})") ==
        "model-http: config key \"headers\": header \"X-Key\" contains a line break");
  CHECK(create_error(R"({"url":"http://h/","headers":{"Content-Length":"3"}})") ==
        "model-http: config key \"headers\": header \"Content-Length\" is set by the plugin and cannot be overridden");
  CHECK(create_error(R"({"url":"http://h/","protocol":"kserve-v2","features":["a"],"classes":["x"]})") ==
        "model-http: config key \"model\" is required for protocol kserve-v2 (or give a url ending with /infer)");
  CHECK(create_error(R"({"url":"http://h/","protocol":"kserve-v2","model":"m","classes":["x"]})") ==
        "model-http: config key \"features\" is required for protocol kserve-v2 (the tensor's columns, in order)");
  CHECK(create_error(R"({"url":"http://h/v2/models/m/infer","protocol":"kserve-v2","features":["a"]})") ==
        "model-http: config key \"classes\" is required for protocol kserve-v2 (the output tensor's columns, in order)");
  CHECK(create_error(R"({"url":"http://h/","model":"a/b"})") ==
        "model-http: config key \"model\": expected a model name without '/', '?', '#', '%' or spaces, got \"a/b\"");
}
