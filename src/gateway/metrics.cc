#include "gateway/metrics.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace autoseal::gateway {
namespace {

// Prometheus data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*.
bool IsMetricName(std::string_view s, bool label) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

// Text format escaping: label values escape backslash, double quote and newline; HELP text
// escapes backslash and newline.
void AppendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// The label set as rendered inside braces, without them: a="b",c="d" (in the order given).
std::string LabelKey(const MetricLabels& labels) {
  std::string key;
  for (const auto& [name, value] : labels) {
    CHECK_MSG(IsMetricName(name, true), "invalid metric label name");
    if (!key.empty()) key += ',';
    key += name;
    key += "=\"";
    AppendEscaped(key, value, true);
    key += '"';
  }
  return key;
}

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    out += buf;
  } else {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    out += buf;
  }
}

void AppendSeries(std::string& out, std::string_view name, std::string_view suffix,
                  std::string_view labels, std::string_view extra_label) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra_label.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra_label.empty()) out += ',';
    out += extra_label;
    out += '}';
  }
  out += ' ';
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Metrics::Family& Metrics::FamilyFor(std::string_view name, std::string_view help, Kind kind) {
  CHECK_MSG(IsMetricName(name, false), "invalid metric name");
  auto it = families_.find(name);
  if (it == families_.end()) {
    it =
        families_.emplace(std::string(name), Family{kind, std::string(help), {}, {}, {}, {}}).first;
  }
  CHECK_MSG(it->second.kind == kind, "metric registered with another type");
  return it->second;
}

Counter* Metrics::GetCounter(std::string_view name, std::string_view help,
                             const MetricLabels& labels) {
  std::string key = LabelKey(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FamilyFor(name, help, Kind::kCounter);
  auto& slot = family.counters[key];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Metrics::GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::string key = LabelKey(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FamilyFor(name, help, Kind::kGauge);
  auto& slot = family.gauges[key];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Metrics::GetHistogram(std::string_view name, std::string_view help,
                                 const std::vector<double>& upper_bounds,
                                 const MetricLabels& labels) {
  std::string key = LabelKey(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FamilyFor(name, help, Kind::kHistogram);
  if (family.histograms.empty() && family.bounds.empty()) family.bounds = upper_bounds;
  auto& slot = family.histograms[key];
  if (!slot) slot = std::make_unique<Histogram>(family.bounds);
  return slot.get();
}

void Metrics::RemoveSeries(std::string_view name, std::string_view label, std::string_view value) {
  std::string needle = std::string(label) + "=\"";
  AppendEscaped(needle, value, true);
  needle += '"';
  auto matches = [&](const std::string& key) {
    // Label keys are name="value" pairs joined by commas; match a whole pair.
    size_t pos = 0;
    while ((pos = key.find(needle, pos)) != std::string::npos) {
      bool starts = pos == 0 || key[pos - 1] == ',';
      bool ends = pos + needle.size() == key.size() || key[pos + needle.size()] == ',';
      if (starts && ends) return true;
      pos += needle.size();
    }
    return false;
  };
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  auto retire = [&](auto& series) {
    for (auto s = series.begin(); s != series.end();) {
      if (matches(s->first)) {
        retired_.push_back(std::shared_ptr<void>(std::move(s->second)));
        s = series.erase(s);
      } else {
        ++s;
      }
    }
  };
  retire(it->second.counters);
  retire(it->second.gauges);
  retire(it->second.histograms);
}

std::string Metrics::RenderPrometheus() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    switch (family.kind) {
      case Kind::kCounter:
        out += " counter\n";
        for (const auto& [labels, counter] : family.counters) {
          AppendSeries(out, name, "", labels, "");
          AppendNumber(out, static_cast<double>(counter->Value()));
          out += '\n';
        }
        break;
      case Kind::kGauge:
        out += " gauge\n";
        for (const auto& [labels, gauge] : family.gauges) {
          AppendSeries(out, name, "", labels, "");
          AppendNumber(out, gauge->Value());
          out += '\n';
        }
        break;
      case Kind::kHistogram:
        out += " histogram\n";
        for (const auto& [labels, histogram] : family.histograms) {
          uint64_t cumulative = 0;
          const auto& bounds = histogram->upper_bounds();
          for (size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += histogram->BucketCount(i);
            std::string le = "le=\"";
            if (i == bounds.size()) {
              le += "+Inf";
            } else {
              AppendNumber(le, bounds[i]);
            }
            le += '"';
            AppendSeries(out, name, "_bucket", labels, le);
            AppendNumber(out, static_cast<double>(cumulative));
            out += '\n';
          }
          AppendSeries(out, name, "_sum", labels, "");
          AppendNumber(out, histogram->Sum());
          out += '\n';
          // The count is the +Inf bucket's cumulative value, so the two always agree.
          AppendSeries(out, name, "_count", labels, "");
          AppendNumber(out, static_cast<double>(cumulative));
          out += '\n';
        }
        break;
    }
  }
  return out;
}

}  // namespace autoseal::gateway
