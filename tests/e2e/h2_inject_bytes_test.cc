// HTTP/2 injection never corrupts a connection: a raw client (peers/python/raw_h2.py) writes
// frames in shapes that test how the kernel follows them (several HEADERS per write, frames
// across iovecs and writes, padding and priority, CONTINUATION, the application's own
// traceparent raw and Huffman-coded, a write ending inside a frame header, trailers, DATA
// payloads that look like HEADERS frames or HTTP/1 requests, each starting a write); the
// server records every byte. What it received must be what the client sent, frame for frame,
// except that the HEADERS frame opening a stream may carry one more field at the end of its
// header block, `traceparent` as an HPACK literal without indexing, its frame length grown
// by exactly that field; and which streams got one is exactly what the rules say.
#include <catch2/catch_test_macros.hpp>
#include <map>
#include <regex>

#include "tests/e2e/grpc_peers.h"
#include "tests/e2e/harness.h"

namespace ztrace::e2e {
namespace {

constexpr size_t kFieldBytes = 69;
constexpr uint8_t kHeaders = 1, kPadded = 0x8, kPriority = 0x20;

struct Frame {
  uint32_t length = 0;
  uint8_t type = 0, flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

// The frames of a connection's bytes after the preface; nullopt if they do not parse whole.
std::optional<std::vector<Frame>> frames_of(const std::string& bytes) {
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (bytes.compare(0, preface.size(), preface) != 0) return std::nullopt;
  std::vector<Frame> frames;
  size_t pos = preface.size();
  while (pos < bytes.size()) {
    if (pos + 9 > bytes.size()) return std::nullopt;
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data() + pos);
    Frame f;
    f.length = uint32_t{b[0]} << 16 | uint32_t{b[1]} << 8 | b[2];
    f.type = b[3];
    f.flags = b[4];
    f.stream =
        (uint32_t{b[5]} << 24 | uint32_t{b[6]} << 16 | uint32_t{b[7]} << 8 | b[8]) & 0x7fffffff;
    if (pos + 9 + f.length > bytes.size()) return std::nullopt;
    f.payload = bytes.substr(pos + 9, f.length);
    frames.push_back(std::move(f));
    pos += 9 + f.length;
  }
  return frames;
}

// Where a HEADERS frame's padding starts (the field goes right before it).
size_t block_end(const Frame& f) {
  const size_t pad = (f.flags & kPadded) ? static_cast<uint8_t>(f.payload[0]) : 0;
  return f.payload.size() - pad;
}

// CHECKs received == sent plus fields; returns the streams that got one.
std::vector<uint32_t> injected_streams(const std::string& sent, const std::string& received) {
  std::vector<uint32_t> streams;
  auto s = frames_of(sent);
  auto r = frames_of(received);
  REQUIRE(s);
  REQUIRE(r);
  REQUIRE(s->size() == r->size());
  static const std::regex field("\\x00\\x0btraceparent\\x3700-[0-9a-f]{32}-[0-9a-f]{16}-0[01]",
                                std::regex::ECMAScript);
  for (size_t i = 0; i < s->size(); ++i) {
    const Frame& a = (*s)[i];
    const Frame& b = (*r)[i];
    INFO("frame " << i << " type " << int{a.type} << " stream " << a.stream);
    CHECK(b.type == a.type);
    CHECK(b.flags == a.flags);
    CHECK(b.stream == a.stream);
    if (b.payload == a.payload) continue;
    REQUIRE(a.type == kHeaders);
    REQUIRE(b.length == a.length + kFieldBytes);
    const size_t end = block_end(a);
    CHECK(b.payload.substr(0, end) == a.payload.substr(0, end));
    CHECK(std::regex_match(b.payload.substr(end, kFieldBytes), field));
    CHECK(b.payload.substr(end + kFieldBytes) == a.payload.substr(end));
    streams.push_back(a.stream);
  }
  return streams;
}

}  // namespace

TEST_CASE(
    "h2 injection: the server receives the client's frames plus exactly one traceparent "
    "field per new stream, where the rules allow one",
    "[e2e][http2][inject]") {
  ZTRACE_E2E_REQUIRE_ROOT();
  const int port = reserve_port(24553);
  const auto dir = fresh_dir("h2_inject_bytes");
  const fs::path wire = dir / "wire";
  fs::create_directories(wire);
  const fs::path script = peers_dir() / "python" / "raw_h2.py";
  Process server = start_grpc_server(
      dir, "raw-h2-server", port,
      {python3().string(), script.string(), "server", std::to_string(port), wire.string()});
  Agent agent(dir, {.ports = {port}});
  CommandResult c = run_command(
      dir, {python3().string(), script.string(), "client", std::to_string(port), wire.string()},
      60s);
  ZTRACE_E2E_REQUIRE_PEER(c.exit_code == 0, c.describe);
  agent.stop();
  INFO("agent log:\n" << agent.log_tail());

  // Per scenario (raw_h2.py), the streams that must carry a field.
  const std::map<std::string, std::vector<uint32_t>> expected = {
      {"single", {1, 3}},
      {"multi", {1, 3, 5}},
      {"iovecs", {1, 3, 5}},
      {"mid_frame", {1, 3}},
      {"padded", {1, 3}},
      {"continuation", {}},              // never after a header block the kernel cannot
                                         // scan whole
      {"own_raw", {1}},                  // the application's own from stream 3 on
      {"own_huffman", {}},               // the same, Huffman-coded name
      {"header_split", {1}},             // framing not followed across a split frame header
      {"trailers", {1}},                 // HEADERS on an open stream are trailers
      {"data_like_headers", {1, 3, 5}},  // DATA payloads that look like HEADERS or HTTP/1
  };
  std::istringstream lines(c.out);
  std::string line;
  size_t scenarios = 0;
  size_t total = 0;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string index, name;
    words >> index >> name;
    INFO("scenario " << name);
    REQUIRE(expected.count(name) == 1);
    const std::string sent = read_file(wire / (index + ".sent"));
    const std::string received = read_file(wire / (index + ".recv"));
    CHECK(injected_streams(sent, received) == expected.at(name));
    total += expected.at(name).size();
    ++scenarios;
  }
  CHECK(scenarios == expected.size());
  CHECK(agent.log().find("injection: done=" + std::to_string(total) + " ") != std::string::npos);
}

}  // namespace ztrace::e2e
