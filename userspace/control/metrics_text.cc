#include "userspace/control/metrics_text.h"

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

MetricsText& MetricsText::sample(std::string_view name, double value, const Labels& labels) {
  if (!families_.count(std::string(name))) {
    throw std::logic_error("sample of an undeclared family: " + std::string(name));
  }
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (!valid_label_name(labels[i].first)) {
        throw std::logic_error("bad label name: " + labels[i].first);
      }
      if (i > 0) text_ += ',';
      text_ += labels[i].first;
      text_ += "=\"";
      append_escaped(text_, labels[i].second, true);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += number(value);
  text_ += '\n';
  return *this;
}

}  // namespace ztrace::control
