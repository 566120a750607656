// Record batch reading cost per codec: CPU time per MB of (decompressed) records through
// summarize_records, the work the Kafka parser does for each Produce and Fetch partition.
//
//   build/bench/kafka_records_bench [MiB per codec]      (default 64)
//
// Batches of 500 records of 100 B of text (a log line's worth), the shape kcat sends.
// Then: heap held by 1,000 connection parsers after a produce and a fetch each, and with one
// 1 MB fetch response half received on each (the per-message bound, kMaxKeptBytes).

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "tests/unit/kafka_test_support.h"
#include "userspace/protocols/kafka/connection_parser.h"
#include "userspace/protocols/kafka/kept_bytes.h"
#include "userspace/protocols/kafka/records.h"

namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ztrace::kafka;
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  std::vector<testing::TestRecord> records;
  size_t raw_bytes = 0;
  for (int i = 0; i < 500; ++i) {
    char value[101];
    std::snprintf(value, sizeof value,
                  "2026-12-05T12:00:%02d order=%06d status=paid amount=%d.%02d "
                  "currency=EUR shop=berlin-%03d pad",
                  i % 60, i, i * 7, i % 100, i % 17);
    records.push_back({"key-" + std::to_string(i), value, {}});
    raw_bytes += records.back().value.size() + records.back().key.size();
  }
  std::printf(
      "| codec | batch bytes | records bytes | CPU ms per MB of records | MB/s per core |\n");
  std::printf("|---|---|---|---|---|\n");
  const char* names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  for (int codec = 0; codec <= 4; ++codec) {
    const std::string batch = testing::batch_v2(0, records, codec);
    const size_t rounds = std::max<size_t>(1, (mib << 20) / raw_bytes);
    RecordStats stats;
    uint64_t counted = 0;
    const double start = cpu_seconds();
    for (size_t i = 0; i < rounds; ++i) {
      RecordSummary summary;
      summarize_records(batch, {}, stats, summary);
      counted += summary.count;
    }
    const double seconds = cpu_seconds() - start;
    if (counted != rounds * records.size()) {
      std::fprintf(stderr, "codec %s: %llu records read of %zu\n", names[codec],
                   static_cast<unsigned long long>(counted), rounds * records.size());
      return 1;
    }
    const double mb = static_cast<double>(rounds * raw_bytes) / 1e6;
    std::printf("| %s | %zu | %zu | %.3f | %.0f |\n", names[codec], batch.size(), raw_bytes,
                seconds * 1e3 / mb, mb / seconds);
  }

  using testing::request;
  using testing::response;
  const std::string produce =
      request(0, 7, 1, "bench",
              testing::produce_request_body(7, {{"t", 0, testing::batch_v2(0, records, 4)}}));
  const std::string produced =
      response(0, 7, 1, testing::produce_response_body(7, {{"t", 0, ""}}, 0));
  const std::string fetch = request(1, 11, 2, "bench", "");
  const std::string fetched = response(
      1, 11, 2, testing::fetch_response_body(11, {{"t", 0, testing::batch_v2(0, records, 4)}}));
  const auto heap = [] { return mallinfo2().uordblks; };
  const size_t before = heap();
  std::vector<ConnectionParser> parsers;
  parsers.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    ConnectionParser& p = parsers.emplace_back(ztrace::Role::kClient, false);
    p.on_data(ztrace::Direction::kEgress, produce, 0, 1, true);
    p.on_data(ztrace::Direction::kIngress, produced, 0, 2, true);
    p.on_data(ztrace::Direction::kEgress, fetch, 0, 3, true);
    p.on_data(ztrace::Direction::kIngress, fetched, 0, 4, true);
    p.take_exchanges();
  }
  const size_t idle = heap() - before;
  const std::string half(512 * 1024, 'x');
  std::string big_head(4, '\0');
  const uint32_t size = 1u << 20;
  for (int i = 0; i < 4; ++i) big_head[i] = static_cast<char>(size >> (24 - 8 * i));
  big_head += std::string("\0\0\0\3", 4);  // the next fetch's correlation id
  for (ConnectionParser& p : parsers) {
    p.on_data(ztrace::Direction::kEgress, request(1, 11, 3, "bench", ""), 0, 5, true);
    p.on_data(ztrace::Direction::kIngress, big_head + half, 0, 6, true);
  }
  const size_t busy = heap() - before;
  uint64_t cut_short = 0;
  for (const ConnectionParser& p : parsers) cut_short += p.stats().over_memory;
  std::printf(
      "\n1,000 parsers: %zu KiB of heap after a produce and a fetch each (%zu B each); "
      "%zu MiB with half of a 1 MiB fetch response arrived on each (%zu MiB kept against the "
      "%zu MiB budget, %llu messages cut short).\n",
      idle / 1024, idle / 1000, busy >> 20, ztrace::kafka::kept_bytes_in_use() >> 20,
      ztrace::kafka::kKeptBytesBudget >> 20, static_cast<unsigned long long>(cut_short));
  return 0;
}
