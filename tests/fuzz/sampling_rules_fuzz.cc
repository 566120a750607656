// libFuzzer target for the bodies of the control API's rule requests (POST
// /api/tracing/enable and /disable) and the rule book they drive.
//
// Checked on every input: no crash or sanitizer report; a body either parses or gives a
// reason; an accepted request keeps its documented bounds (rate in [0, 1], a duration of at
// most 24h, a non-empty selector); the book never holds more than its limit, and disabling
// what was enabled empties it.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "userspace/sampling/sampling_rules.h"

namespace {

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "sampling_rules_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ztrace::sampling;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string error;
  RuleBook book;
  if (auto enable = parse_enable_request(body, &error)) {
    require(enable->rate >= 0 && enable->rate <= 1, "rate out of [0, 1]");
    require(enable->duration_ns > 0 && enable->duration_ns <= kMaxRuleDurationNs,
            "duration out of bounds");
    require(!enable->selector.empty(), "empty selector accepted");
    for (size_t i = 0; i <= RuleBook::kMaxRules; ++i) book.add(*enable, i, &error);
    require(book.rules().size() == RuleBook::kMaxRules, "book over its limit");
    require(!rule_json(book.rules().front(), 0).empty(), "no JSON for a rule");
    require(book.remove({.selector = enable->selector}).size() == RuleBook::kMaxRules,
            "disable by selector left rules");
  } else {
    require(!error.empty(), "refused with no reason");
  }
  error.clear();
  if (auto disable = parse_disable_request(body, &error)) {
    require(disable->id || !disable->selector.empty(), "disable with nothing to match");
    book.remove(*disable);
  } else {
    require(!error.empty(), "refused with no reason");
  }
  return 0;
}
