// The turnaround histogram the streamed report keeps instead of every turnaround.
#include "report/fold.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using hitl::report::detail::TurnaroundHistogram;

TEST_CASE("turnaround percentiles are exact for distinct bins and within 0.1 % otherwise") {
  SECTION("values below 2048 ms and values far apart come back exactly") {
    TurnaroundHistogram h;
    for (std::int64_t ms : {5, 2047, 90'000, 600'000, -3'000, 2'000}) h.add(ms);
    CHECK(h.count() == 6);
    CHECK(h.percentile_s(50) == 2.0);  // rank 3 of -3, 0.005, 2.0, 2.047, 90, 600
    CHECK(h.percentile_s(1) == -3.0);
    CHECK(h.percentile_s(95) == 600.0);
    CHECK(h.max_s() == 600.0);
  }
  SECTION("a million random turnarounds: nearest-rank percentiles within 0.1 %, mean and max exact") {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(11.0, 1.5);  // median ~60 s, long tail
    std::vector<std::int64_t> all;
    TurnaroundHistogram h;
    long double sum = 0;
    for (int i = 0; i < 1'000'000; ++i) {
      const auto ms = static_cast<std::int64_t>(dist(rng));
      all.push_back(ms);
      h.add(ms);
      sum += ms;
    }
    std::sort(all.begin(), all.end());
    for (int p : {50, 95, 99}) {
      const auto rank = static_cast<std::size_t>((static_cast<std::int64_t>(p) * 1'000'000 + 99) / 100);
      const double exact = static_cast<double>(all[rank - 1]) / 1000.0;
      INFO("p" << p << " exact " << exact << " got " << h.percentile_s(p));
      CHECK(std::fabs(h.percentile_s(p) - exact) <= exact / 1024.0);
    }
    CHECK(h.max_s() == static_cast<double>(all.back()) / 1000.0);
    CHECK(h.mean_s() == Approx(static_cast<double>(sum / 1000.0L / 1'000'000)).epsilon(1e-12));
  }
}
