// Record batch reading cost per codec: CPU time per MB of (decompressed) records through
// summarize_records, the work the Kafka parser does for each Produce and Fetch partition.
//
//   build/bench/kafka_records_bench [MiB per codec]      (default 64)
//
// Batches of 500 records of 100 B of text (a log line's worth), the shape kcat sends.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "tests/unit/kafka_test_support.h"
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
  return 0;
}
