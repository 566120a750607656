#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "tests/unit/view_test_support.h"
#include "userspace/view/span_line.h"
#include "userspace/view/trace_browser.h"

using namespace ztrace::view;
using ztrace::view_test::span_line;

namespace {

ViewSpan span(const std::string& trace, const std::string& id, const std::string& parent,
              const std::string& service, uint64_t start_ms, uint64_t end_ms) {
  ViewSpan parsed;
  std::string error;
  REQUIRE(
      parse_span_line(span_line(trace, id, parent, service, start_ms, end_ms), &parsed, &error));
  return parsed;
}

// Two traces: "1": a -> (b -> c), d; "2": e alone.
std::vector<std::vector<ViewSpan>> two_traces() {
  const std::string t1(32, '1');
  const std::string t2(32, '2');
  return {{span(t1, std::string(16, 'a'), "", "front", 0, 100),
           span(t1, std::string(16, 'b'), std::string(16, 'a'), "middle", 10, 60),
           span(t1, std::string(16, 'c'), std::string(16, 'b'), "back", 20, 50),
           span(t1, std::string(16, 'd'), std::string(16, 'a'), "cache", 70, 90)},
          {span(t2, std::string(16, 'e'), "", "front", 200, 210)}};
}

TraceSource source_of(const std::vector<std::vector<ViewSpan>>& traces) {
  return {.count = traces.size(),
          .summary =
              [&traces](size_t i) {
                TraceSummary summary;
                for (const auto& s : traces[i]) summary.add(s);
                return summary;
              },
          .load = [&traces](size_t i) { return traces[i]; }};
}

// The screen's lines without the "clear to the end of the line" each ends in.
std::vector<std::string> lines_of(const std::string& screen) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t end; (end = screen.find("\x1b[K", begin)) != std::string::npos; begin = end + 5) {
    lines.push_back(screen.substr(begin, end - begin));
    if (screen.compare(end + 3, 2, "\r\n") != 0) break;
  }
  return lines;
}

bool has(const std::string& line, const std::string& part) {
  return line.find(part) != std::string::npos;
}

constexpr char kReverse[] = "\x1b[7m";

}  // namespace

TEST_CASE("view browser: pick a trace from the list, fold and unfold subtrees, go back, quit") {
  const auto traces = two_traces();
  TraceBrowser browser(source_of(traces), WaterfallOptions{});
  auto screen = lines_of(browser.screen(10, 200));
  REQUIRE(screen.size() == 10);
  CHECK(has(screen[0], "2 traces"));
  CHECK((has(screen[1], kReverse) && has(screen[1], std::string(32, '1'))));
  CHECK((!has(screen[2], kReverse) && has(screen[2], std::string(32, '2'))));
  CHECK(has(screen[9], "Enter: open"));

  CHECK(browser.handle({Key::kEnter}, 8));
  CHECK(browser.in_trace());
  screen = lines_of(browser.screen(10, 200));
  CHECK(has(screen[0], "trace " + std::string(32, '1') + "  4 spans"));
  CHECK((has(screen[1], kReverse) && has(screen[1], "▾ GET /aa")));
  CHECK(has(screen[2], "▾ ├─ GET /bb"));
  CHECK(has(screen[3], "  │  └─ GET /cc"));
  CHECK(has(screen[4], "  └─ GET /dd"));

  // Fold b: c is hidden, d moves up.
  browser.handle({Key::kDown}, 8);
  browser.handle({Key::kEnter}, 8);
  screen = lines_of(browser.screen(10, 200));
  CHECK((has(screen[2], kReverse) && has(screen[2], "▸ ├─ GET /bb")));
  CHECK(has(screen[3], "└─ GET /dd"));
  // Right unfolds, Left folds, a leaf does not fold.
  browser.handle({Key::kRight}, 8);
  CHECK(has(lines_of(browser.screen(10, 200))[3], "└─ GET /cc"));
  browser.handle({Key::kUp}, 8);
  browser.handle({Key::kLeft}, 8);
  screen = lines_of(browser.screen(10, 200));
  CHECK(has(screen[1], "▸ GET /aa"));
  CHECK(screen[2].find_first_not_of(' ') == std::string::npos);  // all folded under a
  browser.handle({Key::kSpace}, 8);
  browser.handle({Key::kEnd}, 8);
  browser.handle({Key::kEnter}, 8);  // d has no children
  CHECK(has(lines_of(browser.screen(10, 200))[4], "  └─ GET /dd"));

  // Back to the list, where the cursor was; the second trace.
  browser.handle({Key::kEscape}, 8);
  CHECK_FALSE(browser.in_trace());
  browser.handle({Key::kChar, 'j'}, 8);
  browser.handle({Key::kChar, 'l'}, 8);
  CHECK(has(lines_of(browser.screen(10, 200))[0], "trace " + std::string(32, '2') + "  1 span"));
  CHECK_FALSE(browser.handle({Key::kChar, 'q'}, 8));
}

TEST_CASE("view browser: scrolling keeps the cursor on the screen; lines are cut to the width") {
  std::vector<std::vector<ViewSpan>> traces;
  for (int i = 0; i < 30; ++i) {
    const std::string id = std::to_string(10 + i);
    traces.push_back({span(std::string(30, '0') + id, std::string(14, 'a') + id, "", "s" + id,
                           i * 10, i * 10 + 5)});
  }
  TraceBrowser browser(source_of(traces), WaterfallOptions{});
  browser.handle({Key::kPageDown}, 5);
  browser.handle({Key::kPageDown}, 5);
  auto screen = lines_of(browser.screen(7, 200));  // 5 body rows
  REQUIRE(screen.size() == 7);
  CHECK((has(screen[5], kReverse) && has(screen[5], "0000000018")));  // 8 rows down
  CHECK(has(screen[1], "0000000014"));
  for (const auto& line : lines_of(browser.screen(7, 60))) {
    CHECK(columns(line) <= 60 + 8);  // plus the reverse video's escapes
  }
  browser.handle({Key::kHome}, 5);
  CHECK(has(lines_of(browser.screen(7, 200))[1], kReverse));
  browser.handle({Key::kEnd}, 5);
  CHECK(has(lines_of(browser.screen(7, 200))[5], "0000000039"));
}

TEST_CASE("view browser: an empty list says so and still quits") {
  std::vector<std::vector<ViewSpan>> none;
  TraceBrowser browser(source_of(none), WaterfallOptions{});
  CHECK(has(lines_of(browser.screen(5, 80))[1], "(no trace matches)"));
  browser.handle({Key::kEnter}, 3);
  CHECK_FALSE(browser.in_trace());
  CHECK_FALSE(browser.handle({Key::kClosed}, 3));
}
