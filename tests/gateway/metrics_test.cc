#include "gateway/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace autoseal::gateway {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistogramsInTextFormat) {
  Metrics metrics;
  metrics.GetCounter("gateway_requests_total", "Requests.", {{"site", "blog"}, {"code", "2xx"}})
      ->Add(3);
  metrics.GetGauge("gateway_open_connections", "Open connections.")->Set(7);
  Histogram* h = metrics.GetHistogram("gateway_request_duration_seconds", "Latency.", {0.01, 0.1},
                                      {{"site", "blog"}});
  h->Observe(0.005);
  h->Observe(0.05);
  h->Observe(5);
  std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE gateway_requests_total counter\n"
                      "gateway_requests_total{site=\"blog\",code=\"2xx\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gateway_open_connections 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gateway_request_duration_seconds_bucket{site=\"blog\",le=\"0.01\"} 1\n"
                      "gateway_request_duration_seconds_bucket{site=\"blog\",le=\"0.1\"} 2\n"
                      "gateway_request_duration_seconds_bucket{site=\"blog\",le=\"+Inf\"} 3\n"
                      "gateway_request_duration_seconds_sum{site=\"blog\"} 5.055\n"
                      "gateway_request_duration_seconds_count{site=\"blog\"} 3\n"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, SameLabelsGiveTheSameSeries) {
  Metrics metrics;
  Counter* a = metrics.GetCounter("x_total", "X.", {{"site", "a"}});
  Counter* b = metrics.GetCounter("x_total", "X.", {{"site", "a"}});
  Counter* c = metrics.GetCounter("x_total", "X.", {{"site", "c"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(MetricsTest, EscapesLabelValues) {
  Metrics metrics;
  metrics.GetGauge("g", "Help with \\ and\nnewline.", {{"site", "a\"b\\c\nd"}})->Set(1.5);
  std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("# HELP g Help with \\\\ and\\nnewline.\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{site=\"a\\\"b\\\\c\\nd\"} 1.5\n"), std::string::npos) << text;
}

TEST(MetricsTest, RemovedSeriesAreNoLongerRenderedButStayUsable) {
  Metrics metrics;
  Counter* gone = metrics.GetCounter("r_total", "R.", {{"site", "old"}, {"code", "2xx"}});
  metrics.GetCounter("r_total", "R.", {{"site", "older"}})->Add(1);
  metrics.RemoveSeries("r_total", "site", "old");
  gone->Add(1);  // still valid memory
  std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(text.find("site=\"old\""), std::string::npos) << text;
  EXPECT_NE(text.find("r_total{site=\"older\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Metrics metrics;
  Counter* counter = metrics.GetCounter("c_total", "C.");
  Histogram* h = metrics.GetHistogram("h", "H.", DefaultLatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter->Add();
        h->Observe(0.002);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter->Value(), 40000u);
  EXPECT_EQ(h->Count(), 40000u);
}

}  // namespace
}  // namespace autoseal::gateway
