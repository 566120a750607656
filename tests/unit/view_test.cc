#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/unit/view_test_support.h"
#include "userspace/common/duration.h"
#include "userspace/view/span_line.h"
#include "userspace/view/trace_index.h"
#include "userspace/view/view_command.h"
#include "userspace/view/waterfall.h"
#include "userspace/view/web_view.h"

namespace fs = std::filesystem;
using namespace ztrace::view;
using ztrace::view_test::span_line;

namespace {

const fs::path kTestdata = fs::path(ZTRACE_TESTDATA_DIR) / "view";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct ViewRun {
  int exit_code;
  std::string out;
  std::string notes;
};

ViewRun view(ViewOptions options) {
  std::ostringstream out;
  std::ostringstream notes;
  const int code = run_view(options, out, notes);
  return {code, out.str(), notes.str()};
}

const std::string kTrace1 = "11111111111111111111111111111111";
const std::string kTrace2 = "22222222222222222222222222222222";

fs::path write_temp(const std::string& name, const std::string& content) {
  const fs::path path = fs::temp_directory_path() / ("ztrace-view-test-" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

}  // namespace

TEST_CASE(
    "view: a recorded curl -> nginx -> Java -> Go -> Node -> Python chain renders as one "
    "tree per request, exactly as expected") {
  ViewOptions options;
  options.files = {(kTestdata / "chain.jsonl").string()};
  const ViewRun run = view(options);
  CHECK(run.exit_code == 0);
  CHECK(run.out == read_file(kTestdata / "chain.txt"));
  CHECK(run.notes == "2 of 2 traces shown (24 spans read)\n");
}

TEST_CASE(
    "view: spans whose parent is missing hang under a marked row, never dropped; bad lines "
    "and a cut last line are noted") {
  const std::string file =
      span_line(kTrace1, "aaaaaaaaaaaaaaaa", "", "front", 0, 100) + "\n" + "not json\n" +
      span_line(kTrace1, "bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "middle", 10, 90) + "\n" +
      R"({"trace_id":"short"})"
      "\n" +
      span_line(kTrace1, "cccccccccccccccc", "ffffffffffffffff", "lost", 20, 30) + "\n" +
      // Parents that form a cycle: reached from no root, still shown.
      span_line(kTrace1, "dddddddddddddddd", "eeeeeeeeeeeeeeee", "loop", 40, 50) + "\n" +
      span_line(kTrace1, "eeeeeeeeeeeeeeee", "dddddddddddddddd", "loop", 40, 50) + "\n" +
      span_line(kTrace1, "9999999999999999", "", "cut", 0, 1).substr(0, 40);  // no line feed
  ViewOptions options;
  options.files = {write_temp("orphans.jsonl", file).string()};
  const ViewRun run = view(options);
  CHECK(run.exit_code == 0);
  INFO(run.out);
  CHECK(run.out.find("? parent not seen (ffffffffffffffff)") != std::string::npos);
  CHECK(run.out.find("└─ GET /cc") != std::string::npos);  // under the marker
  CHECK(run.out.find("└─ GET /bb") != std::string::npos);  // under its parent
  CHECK(run.out.find("↻ GET /dd") != std::string::npos);
  CHECK(run.out.find("5 spans") != std::string::npos);
  CHECK(run.notes.find("skipped 2 line(s) that are not spans (first: ") != std::string::npos);
  CHECK(run.notes.find("orphans.jsonl:2: not JSON)") != std::string::npos);
  CHECK(run.notes.find("1 file(s) end in a partial line") != std::string::npos);
}

TEST_CASE(
    "view: filters by service, errors, duration, trace id and time; --last keeps the latest") {
  const std::string file = span_line(kTrace1, "aaaaaaaaaaaaaaaa", "", "front", 0, 100) + "\n" +
                           span_line(kTrace2, "bbbbbbbbbbbbbbbb", "", "back", 200, 205, true) +
                           "\n";
  ViewOptions options;
  options.files = {write_temp("filters.jsonl", file).string()};
  const auto shows = [&](const ViewOptions& o, const std::string& trace) {
    return view(o).out.find("trace " + trace) != std::string::npos;
  };
  CHECK((shows(options, kTrace1) && shows(options, kTrace2)));
  ViewOptions by_service = options;
  by_service.filter.services = {"back"};
  CHECK((!shows(by_service, kTrace1) && shows(by_service, kTrace2)));
  ViewOptions errors = options;
  errors.filter.errors_only = true;
  CHECK((!shows(errors, kTrace1) && shows(errors, kTrace2)));
  ViewOptions slow = options;
  slow.filter.min_duration_ns = 50'000'000;
  CHECK((shows(slow, kTrace1) && !shows(slow, kTrace2)));
  ViewOptions one = options;
  one.filter.trace_id_prefix = "2222";
  CHECK((!shows(one, kTrace1) && shows(one, kTrace2)));
  ViewOptions later = options;
  later.filter.from_unix_ns = 1'800'000'000'000'000'000ULL + 150'000'000;
  CHECK((!shows(later, kTrace1) && shows(later, kTrace2)));
  ViewOptions last = options;
  last.last = 1;
  CHECK((!shows(last, kTrace1) && shows(last, kTrace2)));
  CHECK(view(errors).out.find("!ERR") != std::string::npos);
}

TEST_CASE("view: a missing file is a clear note and exit 1 when nothing could be read") {
  ViewOptions options;
  options.files = {"/nonexistent/spans.jsonl"};
  const ViewRun run = view(options);
  CHECK(run.exit_code == 1);
  CHECK(run.notes.find("note: cannot read /nonexistent/spans.jsonl: ") != std::string::npos);
}

TEST_CASE("view: durations and times on the command line") {
  CHECK(ztrace::parse_duration_ns("250ms", "ms") == 250'000'000u);
  CHECK(ztrace::parse_duration_ns("1.5s", "ms") == 1'500'000'000u);
  CHECK(ztrace::parse_duration_ns("800us", "ms") == 800'000u);
  CHECK(ztrace::parse_duration_ns("100", "ms") == 100'000'000u);
  CHECK_FALSE(ztrace::parse_duration_ns("fast", "ms").has_value());
  CHECK_FALSE(ztrace::parse_duration_ns("5 parsecs", "ms").has_value());
  CHECK(parse_time_unix_ns("2026-12-05T12:00:00Z") == 1796472000'000'000'000ULL);
  CHECK(parse_time_unix_ns("2026-12-05T12:00:00.25Z") == 1796472000'250'000'000ULL);
  CHECK(parse_time_unix_ns("1796472000") == 1796472000'000'000'000ULL);
  CHECK_FALSE(parse_time_unix_ns("yesterday").has_value());
  CHECK(format_time(1796472000'250'000'000ULL) == "2026-12-05T12:00:00.250Z");
  CHECK(format_duration(1'234'567) == "1.235 ms");
}

TEST_CASE(
    "view: the index keeps a fixed few bytes per span whatever the line length, and reads a "
    "trace's spans back from the file") {
  const auto write = [](const std::string& name, size_t attribute_bytes) {
    std::string file;
    for (int trace = 0; trace < 40; ++trace) {
      const std::string id =
          std::string(24, '0') + (trace < 10 ? "0000000" : "000000") + std::to_string(trace);
      for (int span = 0; span < 10; ++span) {
        std::string line = span_line(id, std::string(14, 'a') + std::to_string(10 + span),
                                     span ? std::string(14, 'a') + std::to_string(9 + span) : "",
                                     "service-" + std::to_string(span % 3), span, 100 - span);
        line.insert(line.find(R"("url.path")"),
                    R"("pad":")" + std::string(attribute_bytes, 'p') + R"(",)");
        file += line + "\n";
      }
    }
    return write_temp(name, file);
  };
  const fs::path short_lines = write("short.jsonl", 10);
  const fs::path long_lines = write("long.jsonl", 50'000);  // 20 MB
  TraceIndex short_index({short_lines.string()});
  short_index.build();
  TraceIndex long_index({long_lines.string()});
  long_index.build();
  REQUIRE(long_index.span_count() == 400);
  REQUIRE(long_index.trace_count() == 40);
  CHECK(long_index.memory_bytes() == short_index.memory_bytes());
  // 12 bytes a span and a trace record, with growth room: well under the README's bound.
  CHECK(long_index.memory_bytes() < 400 * 40 + 40 * 300 + 6'000);
  CHECK(long_index.summary(long_index.by_start()[0]).services ==
        std::vector<std::string>{"service-0", "service-1", "service-2"});

  // Overwrite one span's url.path in place: what load() returns comes from the file.
  {
    std::fstream file(long_lines, std::ios::binary | std::ios::in | std::ios::out);
    std::string text((std::istreambuf_iterator<char>(file)), {});
    const size_t at =
        text.find(R"("url.path":"/aa")", text.rfind("00000000000000000000000000000039"));
    REQUIRE(at != std::string::npos);
    file.seekp(static_cast<std::streamoff>(at + 13));  // after "url.path":"/
    file << "zz";
  }
  ReadProblems problems;
  const uint32_t last = long_index.by_start().back();
  CHECK(long_index.summary(last).trace_id == "00000000000000000000000000000039");
  const std::vector<ViewSpan> spans = long_index.load(last, &problems);
  REQUIRE(spans.size() == 10);
  CHECK(spans.back().detail == "/zz");
  CHECK(spans.front().detail == "/aa");
  CHECK_FALSE(problems.any());
  fs::remove(long_lines);
  fs::remove(short_lines);
}

TEST_CASE("view: a line longer than 16 MiB is skipped and noted, not held") {
  std::string file = span_line(kTrace1, "aaaaaaaaaaaaaaaa", "", "front", 0, 100) + "\n";
  file += std::string(17 << 20, 'x') + "\n";
  file += span_line(kTrace2, "bbbbbbbbbbbbbbbb", "", "back", 0, 100) + "\n";
  ViewOptions options;
  options.files = {write_temp("long-line.jsonl", file).string()};
  const ViewRun run = view(options);
  CHECK(run.notes.find("long-line.jsonl:2: longer than 16 MiB") != std::string::npos);
  CHECK(run.notes.find("2 of 2 traces shown") != std::string::npos);
}

TEST_CASE(
    "view web: the page is self-contained; the trace list searches; a trace's spans carry "
    "their attributes; the service map has an edge per service crossing") {
  WebView web({(kTestdata / "chain.jsonl").string()}, TraceFilter{});
  const WebReply page = web.get("", {});
  CHECK(page.status == 200);
  CHECK(page.content_type.starts_with("text/html"));
  // Nothing fetched from elsewhere: no URL with a host (but SVG's namespace name, which is
  // never fetched), no stylesheet or script or font file.
  std::string body = page.body;
  body.erase(body.find("http://www.w3.org/2000/svg"), 26);
  CHECK(body.find("http://") == std::string::npos);
  CHECK(body.find("https://") == std::string::npos);
  CHECK(body.find("url(") == body.find("url(#arrow)"));
  CHECK(page.body.find("@import") == std::string::npos);
  CHECK(page.body.find("<link") == std::string::npos);
  CHECK(page.body.find("src=") == std::string::npos);

  auto traces = nlohmann::json::parse(web.get("api/traces", {}).body);
  CHECK(traces["total"] == 2);
  REQUIRE(traces["traces"].size() == 2);
  CHECK(traces["traces"][0]["trace_id"] == "099631f5ba01f3ff0359acb7e20700c9");  // newest first
  traces = nlohmann::json::parse(web.get("api/traces", {{"q", "91b4"}}).body);
  CHECK(traces["matched"] == 1);
  traces = nlohmann::json::parse(web.get("api/traces", {{"q", "GOPEER"}}).body);
  CHECK(traces["matched"] == 2);
  traces = nlohmann::json::parse(web.get("api/traces", {{"q", "mysql"}}).body);
  CHECK(traces["matched"] == 0);

  const WebReply one = web.get("api/trace", {{"id", "91b42d7dabaf2f08a493cfbc303cdd2d"}});
  REQUIRE(one.status == 200);
  const auto trace = nlohmann::json::parse(one.body);
  REQUIRE(trace["spans"].size() == 12);
  CHECK(trace["spans"][0]["service"] == "curl");
  CHECK(trace["spans"][0]["parent_span_id"] == "");
  CHECK(trace["spans"][0]["attributes"]["url.path"] == "/chain/seq-1");
  CHECK(trace["spans"][11]["parent_span_id"] == trace["spans"][10]["span_id"]);
  CHECK(web.get("api/trace", {{"id", "nope"}}).status == 404);
  CHECK(web.get("api/other", {}).status == 404);

  const auto map = nlohmann::json::parse(web.get("api/service-map", {}).body);
  std::vector<std::string> edges;
  for (const auto& edge : map["edges"]) {
    edges.push_back(edge["client"].get<std::string>() + "->" + edge["server"].get<std::string>() +
                    " " + std::to_string(edge["calls"].get<int>()) + "/" +
                    std::to_string(edge["errors"].get<int>()));
  }
  CHECK(edges == std::vector<std::string>{"curl->nginx 2/0", "java->ztrace-e2e-gopeer 2/0",
                                          "nginx->java 2/0", "node->python3.11 2/0",
                                          "ztrace-e2e-gopeer->node 2/0"});
}

TEST_CASE("view web: the service map counts error calls on their edge") {
  const std::string file =
      span_line(kTrace1, "aaaaaaaaaaaaaaaa", "", "front", 0, 100) + "\n" +
      span_line(kTrace1, "bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "back", 10, 90, true) + "\n" +
      span_line(kTrace1, "cccccccccccccccc", "aaaaaaaaaaaaaaaa", "back", 10, 90) + "\n" +
      span_line(kTrace1, "dddddddddddddddd", "cccccccccccccccc", "back", 10, 90, true) + "\n";
  WebView web({write_temp("map.jsonl", file).string()}, TraceFilter{});
  const auto map = nlohmann::json::parse(web.get("api/service-map", {}).body);
  REQUIRE(map["edges"].size() == 1);
  CHECK(map["edges"][0]["calls"] == 2);
  CHECK(map["edges"][0]["errors"] == 1);
}
