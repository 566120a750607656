#include "userspace/control/metrics_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ztrace::control {
namespace {

bool name_char(char c, bool first, bool colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return letter || (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon)) return false;
  }
  return true;
}

void append_escaped(std::string& out, std::string_view value, bool quote_too) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote_too && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

// The shortest text that reads back as the same double: le="0.1", not "0.10000000000000001".
std::string shortest(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

}  // namespace

bool valid_metric_name(std::string_view name) { return valid_name(name, true); }
bool valid_label_name(std::string_view name) {
  return valid_name(name, false) && !name.starts_with("__");
}

void MetricsText::family(std::string_view name, std::string_view help, std::string_view type) {
  if (!valid_metric_name(name)) throw std::logic_error("bad metric name: " + std::string(name));
  if (!families_.emplace(name).second) {
    throw std::logic_error("metric family declared twice: " + std::string(name));
  }
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

MetricsText& MetricsText::counter(std::string_view name, std::string_view help) {
  if (!name.ends_with("_total")) {
    throw std::logic_error("counter without _total: " + std::string(name));
  }
  family(name, help, "counter");
  return *this;
}

MetricsText& MetricsText::gauge(std::string_view name, std::string_view help) {
  family(name, help, "gauge");
  return *this;
}

MetricsText& MetricsText::histogram(std::string_view name, std::string_view help) {
  family(name, help, "histogram");
  histograms_.emplace(name);
  return *this;
}

MetricsText& MetricsText::sample(std::string_view name, double value, const Labels& labels) {
  if (!families_.count(std::string(name)) || histograms_.count(std::string(name))) {
    throw std::logic_error("sample of an undeclared family: " + std::string(name));
  }
  line(name, "", value, labels, nullptr);
  return *this;
}

MetricsText& MetricsText::histogram_sample(std::string_view name, std::span<const double> bounds,
                                           std::span<const uint64_t> counts, double sum,
                                           const Labels& labels) {
  if (!histograms_.count(std::string(name))) {
    throw std::logic_error("histogram sample of a family that is not one: " + std::string(name));
  }
  if (counts.size() != bounds.size() + 1) throw std::logic_error("histogram bucket count");
  uint64_t cumulative = 0;
  std::pair<std::string, std::string> le{"le", ""};
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += counts[i];
    le.second = i < bounds.size() ? shortest(bounds[i]) : "+Inf";
    line(name, "_bucket", static_cast<double>(cumulative), labels, &le);
  }
  line(name, "_sum", sum, labels, nullptr);
  line(name, "_count", static_cast<double>(cumulative), labels, nullptr);
  return *this;
}

void MetricsText::line(std::string_view name, std::string_view suffix, double value,
                       const Labels& labels, const std::pair<std::string, std::string>* extra) {
  text_ += name;
  text_ += suffix;
  if (!labels.empty() || extra) {
    text_ += '{';
    bool first = true;
    const auto label = [&](const std::pair<std::string, std::string>& one) {
      if (!valid_label_name(one.first)) throw std::logic_error("bad label name: " + one.first);
      if (!first) text_ += ',';
      first = false;
      text_ += one.first;
      text_ += "=\"";
      append_escaped(text_, one.second, true);
      text_ += '"';
    };
    for (const auto& one : labels) label(one);
    if (extra) label(*extra);
    text_ += '}';
  }
  text_ += ' ';
  text_ += number(value);
  text_ += '\n';
}

}  // namespace ztrace::control
