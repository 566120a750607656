#include <fcntl.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "userspace/export/batch_span_processor.h"
#include "userspace/export/console_exporter.h"
#include "userspace/export/export_pipeline.h"
#include "userspace/export/jsonl_exporter.h"

namespace ztrace::exporter {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

spans::Span make_server_span() {
  spans::Span span;
  span.trace_id = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                   0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  span.span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  span.parent_span_id = {0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8};
  span.name = "GET /hello";
  span.kind = spans::SpanKind::kServer;
  span.start_time_unix_nano = 1'700'000'000'000'000'000ULL;
  span.end_time_unix_nano = 1'700'000'000'001'234'567ULL;
  span.status_code = spans::StatusCode::kError;
  span.status_message = "boom";
  span.set("http.request.method", std::string("GET"));
  span.set("url.path", std::string("/hello"));
  span.set("http.response.status_code", int64_t{200});
  span.set("sampled.ratio", 0.25);
  span.set("http.route.known", true);
  auto resource = std::make_shared<spans::Resource>();
  resource->attributes = {{"service.name", std::string("python3")},
                          {"process.pid", int64_t{1234}},
                          {"host.name", std::string("node-7")}};
  span.resource = resource;
  return span;
}

spans::Span make_root_client_span() {
  spans::Span span;
  span.trace_id = spans::random_trace_id();
  span.span_id = spans::random_span_id();
  span.name = "SELECT";
  span.kind = spans::SpanKind::kClient;
  span.start_time_unix_nano = 10;
  span.end_time_unix_nano = 5;  // clock skew: never a negative duration
  return span;
}

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("ztrace-" + std::to_string(getpid()) + "-" + name);
}

// What is logged while it lives (the default logger is swapped for one writing here).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return stream_.str(); }
  size_t count(std::string_view needle) const {
    const std::string all = text();
    size_t n = 0;
    for (size_t at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1)) ++n;
    return n;
  }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

// Writes to a pipe nobody reads fail with EPIPE (and raise no SIGPIPE) while it lives.
class ClosedPipe {
 public:
  ClosedPipe() : previous_sigpipe_(std::signal(SIGPIPE, SIG_IGN)) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    ::close(fds[0]);
    out_ = fdopen(fds[1], "w");
    REQUIRE(out_ != nullptr);
  }
  ~ClosedPipe() {
    std::fclose(out_);
    std::signal(SIGPIPE, previous_sigpipe_);
  }
  FILE* out() const { return out_; }

 private:
  void (*previous_sigpipe_)(int);
  FILE* out_ = nullptr;
};

// Lines of a file, and whether each is a JSON object.
std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
bool is_json_object(const std::string& line) {
  return nlohmann::json::accept(line) && nlohmann::json::parse(line).is_object();
}

std::string read_all(FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string content;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) content.append(buffer, n);
  return content;
}

// ---------------------------------------------------------------- JSONL

TEST_CASE("JSONL lines follow the documented schema", "[export]") {
  const fs::path path = temp_path("spans.jsonl");
  fs::remove(path);
  std::string error;
  auto exporter = JsonlExporter::open(path.string(), &error);
  REQUIRE(exporter != nullptr);
  CHECK(error.empty());
  CHECK(exporter->name() == "jsonl");
  const std::vector<spans::Span> batch = {make_server_span(), make_root_client_span()};
  CHECK(exporter->export_spans(batch).accepted == 2);

  // Flushed per batch: readable before the exporter closes the file.
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 2);

  const auto server = nlohmann::json::parse(lines[0]);
  CHECK(server.size() == 10);
  CHECK(server["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(server["span_id"] == "00f067aa0ba902b7");
  CHECK(server["parent_span_id"] == "53995c3f42cd8ad8");
  CHECK(server["name"] == "GET /hello");
  CHECK(server["kind"] == "SERVER");
  REQUIRE(server["start_time_unix_nano"].is_number_unsigned());
  CHECK(server["start_time_unix_nano"].get<uint64_t>() == 1'700'000'000'000'000'000ULL);
  CHECK(server["end_time_unix_nano"].get<uint64_t>() == 1'700'000'000'001'234'567ULL);
  CHECK(server["status"] == nlohmann::json({{"code", "ERROR"}, {"message", "boom"}}));
  const auto& attributes = server["attributes"];
  CHECK(attributes.size() == 5);
  CHECK(attributes["http.request.method"] == "GET");
  CHECK(attributes["url.path"] == "/hello");
  REQUIRE(attributes["http.response.status_code"].is_number_integer());
  CHECK(attributes["http.response.status_code"] == 200);
  REQUIRE(attributes["sampled.ratio"].is_number_float());
  CHECK(attributes["sampled.ratio"] == 0.25);
  REQUIRE(attributes["http.route.known"].is_boolean());
  CHECK(attributes["http.route.known"] == true);
  CHECK(server["resource"] ==
        nlohmann::json(
            {{"service.name", "python3"}, {"process.pid", 1234}, {"host.name", "node-7"}}));
  // Schema order in the text, for people reading the file.
  CHECK(lines[0].rfind("{\"trace_id\":", 0) == 0);

  const auto client = nlohmann::json::parse(lines[1]);
  CHECK(client["parent_span_id"] == "");
  CHECK(client["kind"] == "CLIENT");
  CHECK(client["status"] == nlohmann::json({{"code", "UNSET"}, {"message", ""}}));
  CHECK(client["attributes"] == nlohmann::json::object());
  CHECK(client["resource"] == nlohmann::json::object());
  CHECK(client["trace_id"].get<std::string>().size() == 32);

  exporter.reset();
  fs::remove(path);
}

TEST_CASE("JSONL survives invalid UTF-8 from captured traffic", "[export]") {
  spans::Span span = make_root_client_span();
  span.name = std::string("GET /\xff\xfe", 7);
  span.set("db.query.text", std::string("select '\xc3'", 10));
  const std::string line = JsonlExporter::format_line(span);
  const auto parsed = nlohmann::json::parse(line);
  CHECK(parsed["name"] == "GET /\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("JSONL writes span links, and no links key for spans without", "[export]") {
  spans::Span span = make_root_client_span();
  CHECK_FALSE(nlohmann::json::parse(JsonlExporter::format_line(span)).contains("links"));
  spans::SpanLink link;
  link.trace_id.fill(0xab);
  link.span_id.fill(0x01);
  span.links = {link, link};
  const auto parsed = nlohmann::json::parse(JsonlExporter::format_line(span));
  REQUIRE(parsed["links"].size() == 2);
  std::string abab;
  for (int i = 0; i < 16; ++i) abab += "ab";
  CHECK(parsed["links"][1]["trace_id"] == abab);
  CHECK(parsed["links"][0]["span_id"] == "0101010101010101");
}

TEST_CASE("JSONL escapes what JSON needs and keeps a key's last value", "[export]") {
  spans::Span span = make_root_client_span();
  span.name =
      std::string("a\"b\\c\n\t\x01\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80", 21);
  span.set("http.response.status_code", int64_t{500});
  span.set("http.response.status_code", int64_t{200});
  span.set("ratio", 1.0);
  span.set("nan", std::nan(""));
  const std::string line = JsonlExporter::format_line(span);
  const auto parsed = nlohmann::json::parse(line);
  // Valid UTF-8 (é, €, 😀) stays; a surrogate's encoding (ED A0 80) is not UTF-8: 3 × U+FFFD.
  CHECK(parsed["name"] ==
        "a\"b\\c\n\t\x01\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(line.find("\\u0001") != std::string::npos);
  CHECK(parsed["attributes"]["http.response.status_code"] == 200);
  // The first value is gone (not just overwritten in the parse): the random ids may hold "500".
  CHECK(line.find("\"http.response.status_code\":500") == std::string::npos);
  CHECK(line.find("\"http.response.status_code\":200") != std::string::npos);
  REQUIRE(parsed["attributes"]["ratio"].is_number_float());
  CHECK(parsed["attributes"]["ratio"] == 1.0);
  CHECK(parsed["attributes"]["nan"].is_null());
}

TEST_CASE("JSONL open failure is reported, not thrown", "[export]") {
  std::string error;
  const std::string path = temp_path("no-such-dir").string() + "/spans.jsonl";
  auto exporter = JsonlExporter::open(path, &error);
  CHECK(exporter == nullptr);
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("No such file or directory") != std::string::npos);
}

// Regular files over this size refuse writes (EFBIG, SIGXFSZ ignored) while it lives: a
// full disk without filling one.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t max_bytes) : previous_sigxfsz_(std::signal(SIGXFSZ, SIG_IGN)) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &previous_) == 0);
    rlimit limit = previous_;
    limit.rlim_cur = max_bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &previous_);
    std::signal(SIGXFSZ, previous_sigxfsz_);
  }

 private:
  rlimit previous_{};
  void (*previous_sigxfsz_)(int);
};

TEST_CASE("JSONL: a write that fails part-way leaves whole lines, counted and logged", "[export]") {
  const fs::path path = temp_path("full.jsonl");
  fs::remove(path);
  std::string error;
  auto exporter = JsonlExporter::open(path.string(), &error);
  REQUIRE(exporter != nullptr);
  const std::vector<spans::Span> batch(20, make_server_span());
  const size_t line_bytes = JsonlExporter::format_line(batch[0]).size() + 1;
  REQUIRE(exporter->export_spans(batch).accepted == 20);

  LogCapture log;
  {
    // Room for two lines and a half: the write stops in the middle of the third.
    FileSizeLimit limit(20 * line_bytes + 2 * line_bytes + line_bytes / 2);
    for (int attempt = 0; attempt < 3; ++attempt) {
      const ExportResult result = exporter->export_spans(batch);
      CHECK(result.accepted == (attempt == 0 ? 2 : 0));
      CHECK(result.write_failed == (attempt == 0 ? 18 : 20));
      CHECK(fs::file_size(path) == 22 * line_bytes);  // no fragment left behind
    }
  }
  CHECK(log.count("JSONL output " + path.string() + ": write failed (File too large)") == 1);
  CHECK(log.count("spans lost") == 1);  // rate-limited: the next failures wait

  // Space again: the next lines follow whole lines.
  REQUIRE(exporter->export_spans(batch).accepted == 20);
  const std::vector<std::string> lines = lines_of(path);
  CHECK(lines.size() == 42);
  for (const std::string& line : lines) CHECK(is_json_object(line));
  exporter.reset();
  fs::remove(path);
}

TEST_CASE("JSONL: where a fragment cannot be cut (a pipe), the next line starts fresh",
          "[export]") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
  const int capacity = fcntl(fds[1], F_SETPIPE_SZ, 4096);
  REQUIRE(capacity > 0);
  JsonlExporter exporter(fds[1], true, "test pipe");
  const std::vector<spans::Span> batch(2 * static_cast<size_t>(capacity) / 300 + 4,
                                       make_server_span());
  const size_t line_bytes = JsonlExporter::format_line(batch[0]).size() + 1;
  LogCapture log;
  const ExportResult full = exporter.export_spans(batch);  // the pipe takes `capacity` bytes
  CHECK(full.accepted == static_cast<size_t>(capacity) / line_bytes);
  CHECK(full.accepted + full.write_failed == batch.size());
  CHECK(log.count("JSONL output test pipe: write failed") == 1);
  CHECK(log.count("the next line starts on a fresh line") == 1);

  std::string received(static_cast<size_t>(capacity), '\0');
  REQUIRE(read(fds[0], received.data(), received.size()) == capacity);
  REQUIRE(exporter.export_spans(std::span(batch).first(2)).accepted == 2);
  char more[8192];
  const ssize_t n = read(fds[0], more, sizeof(more));
  REQUIRE(n > 0);
  received.append(more, static_cast<size_t>(n));
  ::close(fds[0]);

  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = received.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(received.substr(start, end - start));
  }
  // Whole lines, the fragment ended by a line feed of its own, then whole lines again.
  REQUIRE(lines.size() == full.accepted + 3);
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO("line " << i);
    CHECK(is_json_object(lines[i]) == (i != full.accepted));
  }
}

// ---------------------------------------------------------------- console

TEST_CASE("console line", "[export]") {
  CHECK(ConsoleExporter::format_line(make_server_span()) ==
        "SERVER GET /hello 200 ERROR (boom)  1.234ms  python3[1234]  "
        "trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 parent=53995c3f42cd8ad8");

  spans::Span span = make_server_span();
  span.name = "GET";
  span.status_code = spans::StatusCode::kUnset;
  span.parent_span_id = {};
  span.end_time_unix_nano = span.start_time_unix_nano + 2'500'000'000ULL;
  CHECK(ConsoleExporter::format_line(span) ==
        "SERVER GET /hello 200  2500.000ms  python3[1234]  "
        "trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 parent=-");

  const spans::Span client = make_root_client_span();
  const std::string line = ConsoleExporter::format_line(client);
  CHECK(line.rfind("CLIENT SELECT  0.000ms  unknown_service  trace=", 0) == 0);
  CHECK(line.ends_with(" parent=-"));
}

TEST_CASE("console exporter writes one line per span", "[export]") {
  FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  ConsoleExporter exporter(out);
  CHECK(exporter.name() == "console");
  const std::vector<spans::Span> batch = {make_server_span(), make_root_client_span()};
  CHECK(exporter.export_spans(batch).accepted == 2);
  const std::string content = read_all(out);
  CHECK(content == ConsoleExporter::format_line(batch[0]) + "\n" +
                       ConsoleExporter::format_line(batch[1]) + "\n");
  std::fclose(out);
}

TEST_CASE("console write failures are counted and logged, rate-limited", "[export]") {
  ClosedPipe pipe;
  LogCapture log;
  ConsoleExporter exporter(pipe.out());
  const std::vector<spans::Span> batch = {make_server_span(), make_root_client_span()};
  for (int attempt = 0; attempt < 3; ++attempt) {
    const ExportResult result = exporter.export_spans(batch);
    CHECK(result.accepted == 0);
    CHECK(result.write_failed == 2);
  }
  CHECK(log.count("console output: write failed (Broken pipe): 2 spans lost") == 1);
}

// ---------------------------------------------------------------- batch processor

// Records span names; optionally blocks every call until released.
class RecordingExporter final : public SpanExporter {
 public:
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    bool gate_open = true;
    std::vector<std::string> names;
    std::vector<size_t> batch_sizes;
    int flushes = 0;
    std::chrono::milliseconds delay_per_batch{0};
    bool fail = false;

    void open_gate() {
      {
        std::lock_guard lock(mutex);
        gate_open = true;
      }
      changed.notify_all();
    }
    size_t exported() {
      std::lock_guard lock(mutex);
      return names.size();
    }
    int flush_count() {
      std::lock_guard lock(mutex);
      return flushes;
    }
    // Waits until the worker has flushed (it ends with that), up to 2 s.
    bool wait_for_flush() {
      std::unique_lock lock(mutex);
      return changed.wait_for(lock, std::chrono::seconds(2), [&] { return flushes > 0; });
    }
  };

  explicit RecordingExporter(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  std::string_view name() const noexcept override { return "recording"; }

  ExportResult export_spans(std::span<const spans::Span> batch) noexcept override {
    std::unique_lock lock(shared_->mutex);
    shared_->changed.wait(lock, [&] { return shared_->gate_open; });
    const auto delay = shared_->delay_per_batch;
    lock.unlock();
    std::this_thread::sleep_for(delay);
    lock.lock();
    for (const auto& span : batch) shared_->names.push_back(span.name);
    shared_->batch_sizes.push_back(batch.size());
    shared_->changed.notify_all();
    if (shared_->fail) return {.write_failed = batch.size()};
    return ExportResult::all_accepted(batch.size());
  }

  void flush() noexcept override {
    {
      std::lock_guard lock(shared_->mutex);
      ++shared_->flushes;
    }
    shared_->changed.notify_all();
  }

 private:
  std::shared_ptr<Shared> shared_;
};

spans::Span named_span(int i) {
  spans::Span span;
  span.name = "span-" + std::to_string(i);
  return span;
}

std::unique_ptr<BatchSpanProcessor> batch_processor(
    const std::shared_ptr<RecordingExporter::Shared>& shared, BatchOptions options = {}) {
  return std::make_unique<BatchSpanProcessor>(std::make_unique<RecordingExporter>(shared), options);
}

std::chrono::steady_clock::time_point in(milliseconds delay) {
  return std::chrono::steady_clock::now() + delay;
}

TEST_CASE("batch processor drops and counts when the queue is full", "[export]") {
  auto shared = std::make_shared<RecordingExporter::Shared>();
  shared->gate_open = false;  // a stuck backend
  auto processor = batch_processor(
      shared, {.max_queue_spans = 64, .max_batch_spans = 16, .batch_delay = milliseconds(10)});

  // Spans the worker already holds still count against the bound.
  for (int i = 0; i < 64; ++i) CHECK(processor->on_span(named_span(i)) == ExportOutcome::kSuccess);
  std::this_thread::sleep_for(milliseconds(50));  // the worker takes a batch and blocks
  const auto submit_started = std::chrono::steady_clock::now();
  for (int i = 64; i < 74; ++i) {
    CHECK(processor->on_span(named_span(i)) == ExportOutcome::kPermanent);
  }
  CHECK(std::chrono::steady_clock::now() - submit_started < milliseconds(50));  // never blocks
  CHECK(processor->stats().spans_queued == 64);
  CHECK(processor->stats().spans_dropped_queue_full == 10);
  CHECK(shared->exported() == 0);

  shared->open_gate();
  const auto shutdown_started = std::chrono::steady_clock::now();
  CHECK(processor->shutdown(in(milliseconds(2000))));
  CHECK(std::chrono::steady_clock::now() - shutdown_started < milliseconds(2000));
  CHECK(processor->stats().output.accepted == 64);
  CHECK(processor->stats().export_failures == 0);
  CHECK(processor->stats().spans_dropped_shutdown == 0);
  std::lock_guard lock(shared->mutex);
  REQUIRE(shared->names.size() == 64);
  for (int i = 0; i < 64; ++i) CHECK(shared->names[i] == "span-" + std::to_string(i));  // FIFO
  for (size_t size : shared->batch_sizes) CHECK(size <= 16);
  CHECK(shared->flushes == 1);
}

TEST_CASE("batch processor exports a partial batch after the delay", "[export]") {
  auto shared = std::make_shared<RecordingExporter::Shared>();
  auto processor = batch_processor(shared, {.batch_delay = milliseconds(20)});
  CHECK(processor->on_span(named_span(1)) == ExportOutcome::kSuccess);
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(2000);
  // The worker counts the batch after the exporter returns: wait for both.
  while ((shared->exported() == 0 || processor->stats().output.accepted == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  CHECK(shared->exported() == 1);
  CHECK(processor->stats().output.accepted == 1);
  CHECK(shared->flush_count() == 0);  // flush is for shutdown
}

TEST_CASE("batch processor shutdown exports everything; failed batches are counted", "[export]") {
  auto shared = std::make_shared<RecordingExporter::Shared>();
  shared->fail = true;
  // Only shutdown can push these out promptly.
  auto processor =
      batch_processor(shared, {.max_batch_spans = 1000, .batch_delay = milliseconds(10'000)});
  for (int i = 0; i < 250; ++i) CHECK(processor->on_span(named_span(i)) == ExportOutcome::kSuccess);
  CHECK(shared->exported() == 0);
  CHECK(processor->shutdown(in(milliseconds(1000))));
  CHECK(shared->exported() == 250);
  CHECK(shared->batch_sizes == std::vector<size_t>{250});
  CHECK(shared->flush_count() == 1);
  // The exporter failed the batch: those spans are counted lost to the write, not accepted.
  CHECK(processor->stats().output.accepted == 0);
  CHECK(processor->stats().output.write_failed == 250);
  CHECK(processor->stats().export_failures == 1);
  CHECK(processor->on_span(named_span(999)) == ExportOutcome::kCancelled);
  CHECK(processor->stats().spans_dropped_shutdown == 1);
  CHECK(processor->shutdown(in(milliseconds(10))));  // idempotent
}

TEST_CASE("batch processor shutdown keeps its deadline with a slow exporter", "[export]") {
  auto shared = std::make_shared<RecordingExporter::Shared>();
  shared->delay_per_batch = milliseconds(100);
  auto processor =
      batch_processor(shared, {.max_batch_spans = 10, .batch_delay = milliseconds(10'000)});
  for (int i = 0; i < 100; ++i) CHECK(processor->on_span(named_span(i)) == ExportOutcome::kSuccess);
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(processor->shutdown(in(milliseconds(250))));  // a batch is in flight then
  CHECK(std::chrono::steady_clock::now() - started < milliseconds(450));
  // The batch in flight completes; everything after it is dropped, not exported late.
  REQUIRE(shared->wait_for_flush());
  const BatchStats& stats = processor->stats();
  CHECK(stats.output.accepted + stats.spans_dropped_shutdown == 100);
  CHECK(stats.output.accepted == shared->exported());
  CHECK(stats.output.accepted >= 10);
  CHECK(stats.output.accepted <= 40);
  CHECK(stats.spans_dropped_shutdown >= 60);
  processor.reset();
}

TEST_CASE("batch processor shutdown returns at the deadline when an exporter hangs", "[export]") {
  auto shared = std::make_shared<RecordingExporter::Shared>();
  shared->gate_open = false;
  auto processor = batch_processor(shared, {.batch_delay = milliseconds(1)});
  CHECK(processor->on_span(named_span(1)) == ExportOutcome::kSuccess);
  std::this_thread::sleep_for(milliseconds(30));  // the worker is now stuck in the exporter
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(processor->shutdown(in(milliseconds(100))));
  CHECK(std::chrono::steady_clock::now() - started < milliseconds(300));
  processor.reset();    // the detached worker keeps the exporter alive
  shared->open_gate();  // let it finish
  REQUIRE(shared->wait_for_flush());
  CHECK(shared->exported() == 1);
  CHECK(shared->flush_count() == 1);
}

// ---------------------------------------------------------------- fan-out

TEST_CASE("export pipeline hands every span to every processor and shuts them all down",
          "[export]") {
  auto first = std::make_shared<RecordingExporter::Shared>();
  auto second = std::make_shared<RecordingExporter::Shared>();
  std::vector<std::unique_ptr<SpanProcessor>> processors;
  processors.push_back(batch_processor(first, {.batch_delay = milliseconds(10'000)}));
  processors.push_back(batch_processor(second, {.batch_delay = milliseconds(10'000)}));
  ExportPipeline pipeline(std::move(processors));
  for (int i = 0; i < 250; ++i) pipeline.submit(named_span(i));
  CHECK(first->exported() == 0);
  CHECK(pipeline.shutdown(milliseconds(1000)));
  CHECK(first->exported() == 250);
  CHECK(second->exported() == 250);
  CHECK(first->names.front() == "span-0");  // a copy, not a moved-from span
  CHECK(second->names.back() == "span-249");
  CHECK(first->flush_count() == 1);
  CHECK(second->flush_count() == 1);
  const ExportStats stats = pipeline.stats();
  REQUIRE(stats.processors.size() == 2);
  CHECK(stats.processors[0].name == "recording");
  const auto exported =
      std::find_if(stats.processors[1].counters.begin(), stats.processors[1].counters.end(),
                   [](const auto& counter) { return counter.first == "accepted"; });
  REQUIRE(exported != stats.processors[1].counters.end());
  CHECK(exported->second == 250);
  CHECK(stats.spans_handed == 250);
  // After shutdown: dropped and counted by each processor.
  pipeline.submit(named_span(999));
  CHECK(pipeline.shutdown(milliseconds(10)));  // idempotent
}

TEST_CASE("export pipeline: a reload's processors take the next spans; the old ones flush",
          "[export]") {
  auto old_output = std::make_shared<RecordingExporter::Shared>();
  auto new_output = std::make_shared<RecordingExporter::Shared>();
  std::vector<std::unique_ptr<SpanProcessor>> processors;
  processors.push_back(batch_processor(old_output, {.batch_delay = milliseconds(10'000)}));
  ExportPipeline pipeline(std::move(processors));
  for (int i = 0; i < 10; ++i) pipeline.submit(named_span(i));

  std::vector<std::unique_ptr<SpanProcessor>> replacement;
  replacement.push_back(batch_processor(new_output, {.batch_delay = milliseconds(10'000)}));
  pipeline.offer(std::move(replacement));
  pipeline.submit(named_span(10));  // not taken yet: still the old output's
  // Not taken: nothing to shut down yet.
  CHECK_FALSE(pipeline.shut_down_replaced(milliseconds(10), milliseconds(10)));
  std::thread pipeline_thread([&] {
    std::this_thread::sleep_for(milliseconds(50));
    pipeline.take_offer();
    for (int i = 11; i < 20; ++i) pipeline.submit(named_span(i));
  });
  CHECK(pipeline.shut_down_replaced(milliseconds(2000), milliseconds(2000)));
  pipeline_thread.join();
  CHECK(old_output->exported() == 11);  // flushed by shut_down_replaced, before the deadline
  CHECK(old_output->names.back() == "span-10");
  CHECK(new_output->exported() == 0);  // still batching
  CHECK(pipeline.shutdown(milliseconds(1000)));
  CHECK(new_output->exported() == 9);
  CHECK(new_output->names.front() == "span-11");
}

TEST_CASE("export pipeline counts per output: a failing output hides nothing another wrote",
          "[export]") {
  // Issue 21 item 7: `exported` read 16,672 while the JSONL file held 40,200 spans.
  const fs::path path = temp_path("outputs.jsonl");
  fs::remove(path);
  ClosedPipe pipe;
  LogCapture log;
  std::string error;
  auto jsonl = JsonlExporter::open(path.string(), &error);
  REQUIRE(jsonl != nullptr);
  const BatchOptions options{.max_batch_spans = 16};
  std::vector<std::unique_ptr<SpanProcessor>> processors;
  processors.push_back(
      std::make_unique<BatchSpanProcessor>(std::make_unique<ConsoleExporter>(pipe.out()), options));
  processors.push_back(std::make_unique<BatchSpanProcessor>(std::move(jsonl), options));
  ExportPipeline pipeline(std::move(processors));
  for (int i = 0; i < 100; ++i) pipeline.submit(named_span(i));
  REQUIRE(pipeline.shutdown(milliseconds(2000)));

  const ExportStats stats = pipeline.stats();
  CHECK(stats.spans_handed == 100);
  REQUIRE(stats.processors.size() == 2);
  CHECK(stats.processors[0].name == "console");
  CHECK(stats.processors[0].counter("accepted") == 0);
  CHECK(stats.processors[0].counter("write_failed") == 100);
  CHECK(stats.processors[1].name == "jsonl");
  CHECK(stats.processors[1].counter("accepted") == 100);
  CHECK(stats.processors[1].counter("write_failed") == 0);
  CHECK(lines_of(path).size() == 100);
  fs::remove(path);
}

}  // namespace
}  // namespace ztrace::exporter
