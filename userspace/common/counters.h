#pragma once

// Counters name themselves: a counter struct's for_each(visit) calls visit(name, value) for each
// field, so the counters log line (and later /metrics) take their names from one place.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ztrace {

template <typename Counters>
concept NamedCounters = requires(const Counters& counters) {
  counters.for_each([](std::string_view /*name*/, uint64_t /*value*/) {});
};

// "group a=1 b=2; other c=3": one line of groups of named counters.
class CounterLine {
 public:
  explicit CounterLine(std::string_view prefix) : text_(prefix) {}

  template <NamedCounters Counters>
  CounterLine& add(std::string_view group, const Counters& counters) {
    begin_group(group);
    counters.for_each([this](std::string_view name, uint64_t value) { append(name, value); });
    return *this;
  }
  CounterLine& add(std::string_view group,
                   std::initializer_list<std::pair<std::string_view, uint64_t>> counters) {
    begin_group(group);
    for (const auto& [name, value] : counters) append(name, value);
    return *this;
  }

  const std::string& text() const { return text_; }

 private:
  // An empty group name: the group's counters follow the prefix (or the ';') directly.
  void begin_group(std::string_view group) {
    if (groups_++ > 0) text_ += ';';
    if (group.empty()) return;
    if (!text_.empty()) text_ += ' ';
    text_ += group;
  }
  void append(std::string_view name, uint64_t value) {
    text_ += ' ';
    text_ += name;
    text_ += '=';
    text_ += std::to_string(value);
  }

  std::string text_;
  int groups_ = 0;
};

}  // namespace ztrace
