#pragma once

// A small metrics registry for the gateway: counters, gauges and histograms with labels,
// rendered in the Prometheus text exposition format (version 0.0.4) for the admin listener's
// /metrics. Series are resolved once (a registry lookup under a mutex) and then updated through
// the returned pointer with relaxed atomics only, so the per-request path takes no lock.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace autoseal::gateway {

// Label name/value pairs of one series, e.g. {{"site", "blog"}, {"code", "2xx"}}.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Thread-safe; Add is one relaxed atomic add.
class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (open connections, seconds until expiry). Thread-safe.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending) plus their sum and count,
// as Prometheus histograms are. Thread-safe; Observe is a short scan and two relaxed adds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // The non-cumulative count of bucket i (i == upper_bounds().size() is +Inf).
  uint64_t BucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default latency buckets in seconds (1 ms .. 10 s).
std::vector<double> DefaultLatencyBuckets();

// Families of series by metric name. Getting a series creates it on first use and returns the
// same pointer afterwards; pointers stay valid for the registry's lifetime. Thread-safe.
// A name registered as one kind and asked for as another, or an invalid metric or label name,
// is a programming error (CHECK).
class Metrics {
 public:
  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  Counter* GetCounter(std::string_view name, std::string_view help,
                      const MetricLabels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  // upper_bounds are used when the series is created (the family's first series fixes them).
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& upper_bounds, const MetricLabels& labels = {});
  // Stops rendering every series of name whose labels include label="value" (a site removed on
  // reload); their pointers stay valid (updates to them are simply no longer shown).
  void RemoveSeries(std::string_view name, std::string_view label, std::string_view value);

  // Renders every family in the text exposition format, families and series sorted by name and
  // labels. Content type: "text/plain; version=0.0.4; charset=utf-8".
  std::string RenderPrometheus() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<double> bounds;
    // Keyed by the rendered label set ({a="b",c="d"}); unique_ptr keeps the pointers stable.
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& FamilyFor(std::string_view name, std::string_view help, Kind kind);

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<void>> retired_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace autoseal::gateway
