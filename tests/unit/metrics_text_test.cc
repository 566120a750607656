#include "userspace/control/metrics_text.h"

#include <catch2/catch_test_macros.hpp>
#include <stdexcept>

using ztrace::control::MetricsText;

TEST_CASE(
    "metrics text: families with HELP and TYPE, labels escaped, numbers as Prometheus "
    "reads them") {
  MetricsText m;
  m.counter("ztrace_things_total", "Things\nseen")
      .sample("ztrace_things_total", 3, {{"kind", "a\"b\\c\nd"}})
      .sample("ztrace_things_total", 12345678901234.0);
  m.gauge("ztrace_ratio", "A ratio").sample("ztrace_ratio", 0.1);
  CHECK(m.text() ==
        "# HELP ztrace_things_total Things\\nseen\n"
        "# TYPE ztrace_things_total counter\n"
        "ztrace_things_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n"
        "ztrace_things_total 12345678901234\n"
        "# HELP ztrace_ratio A ratio\n"
        "# TYPE ztrace_ratio gauge\n"
        "ztrace_ratio 0.10000000000000001\n");
}

TEST_CASE("metrics text: what Prometheus would reject is a programming error, caught at once") {
  MetricsText m;
  CHECK_THROWS_AS(m.counter("ztrace_things", "no _total"), std::logic_error);
  CHECK_THROWS_AS(m.gauge("9lives", "bad name"), std::logic_error);
  m.gauge("ztrace_ok", "fine");
  CHECK_THROWS_AS(m.gauge("ztrace_ok", "again"), std::logic_error);
  CHECK_THROWS_AS(m.sample("ztrace_undeclared", 1), std::logic_error);
  CHECK_THROWS_AS(m.sample("ztrace_ok", 1, {{"__reserved", "x"}}), std::logic_error);
  CHECK_THROWS_AS(m.sample("ztrace_ok", 1, {{"bad-label", "x"}}), std::logic_error);
}
