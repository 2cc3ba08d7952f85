// bench-http: serves a fixed 2-byte JSON reply and measures requests/s with wrk when it is on PATH.
//
//   bench-http [--threads N] [--seconds S] [--connections C] [--serve-only]
//
// Without wrk (or with --serve-only) it prints the port and serves for S seconds so any load
// generator can be pointed at it; it always prints how many requests the server answered.
#include "http/server.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

bool have_wrk() { return std::system("command -v wrk >/dev/null 2>&1") == 0; }

int run(int argc, char** argv) {
  int threads = 2, seconds = 5, connections = 64;
  bool serve_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) throw std::invalid_argument(a + ": missing value");
      return std::stoi(argv[++i]);
    };
    if (a == "--threads") threads = next();
    else if (a == "--seconds") seconds = next();
    else if (a == "--connections") connections = next();
    else if (a == "--serve-only") serve_only = true;
    else throw std::invalid_argument("unknown argument: " + a);
  }

  std::atomic<std::uint64_t> served{0};
  hitl::http::ServerOptions o;
  o.port = 0;
  o.threads = threads;
  hitl::http::Server server(o, [&](hitl::http::Request&&, hitl::http::Respond respond) {
    served.fetch_add(1, std::memory_order_relaxed);
    hitl::http::Response r;
    r.body = "{}";
    respond(std::move(r));
  });
  server.start();
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  std::cout << "bench-http: " << threads << " io threads, listening on " << url << std::endl;

  auto t0 = std::chrono::steady_clock::now();
  if (!serve_only && have_wrk()) {
    std::string cmd = "wrk -t2 -c" + std::to_string(connections) + " -d" + std::to_string(seconds) +
                      "s --latency " + url;
    std::cout << "$ " << cmd << std::endl;
    if (std::system(cmd.c_str()) != 0) std::cerr << "wrk failed" << std::endl;
  } else {
    if (!serve_only) std::cout << "wrk not found: serving for " << seconds << " s" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  server.stop();
  std::uint64_t n = served.load();
  std::printf("server answered %llu requests in %.2f s (%.0f req/s)\n", static_cast<unsigned long long>(n),
              elapsed, n / elapsed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench-http: " << e.what() << std::endl;
    return 2;
  }
}
