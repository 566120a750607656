#pragma once

// The Prometheus text exposition format (version 0.0.4): one HELP and TYPE line per family,
// then its samples. Names and label names are checked against the format's grammar; label
// values are escaped.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ztrace::control {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
 public:
  // A family's samples follow its declaration; declaring a family twice is a programming
  // error (std::logic_error), as is a name outside [a-zA-Z_:][a-zA-Z0-9_:]*.
  MetricsText& counter(std::string_view name, std::string_view help);  // name ends in _total
  MetricsText& gauge(std::string_view name, std::string_view help);
  MetricsText& histogram(std::string_view name, std::string_view help);
  MetricsText& sample(std::string_view name, double value, const Labels& labels = {});
  // One histogram's series: name_bucket per bound (cumulative) and +Inf, name_sum, name_count.
  // `counts` are per bucket (not cumulative), one more than `bounds` (the last: above all).
  MetricsText& histogram_sample(std::string_view name, std::span<const double> bounds,
                                std::span<const uint64_t> counts, double sum,
                                const Labels& labels = {});

  const std::string& text() const { return text_; }

 private:
  void family(std::string_view name, std::string_view help, std::string_view type);
  void line(std::string_view name, std::string_view suffix, double value, const Labels& labels,
            const std::pair<std::string, std::string>* extra);

  std::string text_;
  std::unordered_set<std::string> families_;
  std::unordered_set<std::string> histograms_;
};

bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

}  // namespace ztrace::control
