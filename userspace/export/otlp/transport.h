#pragma once

// One OTLP export request over the wire, and what came back, classified as the OTLP
// specification says ("OTLP/gRPC Response", "OTLP/HTTP Response", "Failures"): success
// (possibly partial), retryable (with the server's delay hint), or permanent. Transports
// keep their connection between requests; send() is called from one thread at a time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "userspace/export/exporter.h"
#include "userspace/export/otlp/otlp_config.h"
#include "userspace/export/otlp/otlp_encoder.h"

namespace ztrace::otlp {

// A batch encoded once and sent as many times as retries need.
struct EncodedBatch {
  std::string serialized;  // an ExportTraceServiceRequest
  size_t spans = 0;
  // Filled by a transport on first use when it sends something else than `serialized`
  // (gzip for OTLP/HTTP), reused by retries.
  std::string body;
  bool body_ready = false;
};

using exporter::ExportOutcome;

struct SendResult {
  ExportOutcome outcome = ExportOutcome::kPermanent;
  // Partial success (kSuccess only): spans the server refused, and its explanation.
  int64_t rejected_spans = 0;
  std::string partial_success_message;
  std::optional<std::chrono::milliseconds> retry_after;  // the server's hint (kRetryable)
  std::string error;                                     // human readable, for the log
  std::string error_kind;  // short and stable ("HTTP 503", "gRPC UNAVAILABLE", "TLS", ...)
  uint64_t bytes_sent = 0;
  uint64_t bytes_uncompressed = 0;
};

class Transport {
 public:
  virtual ~Transport();
  // At most `timeout` (connection included). Never throws.
  virtual SendResult send(EncodedBatch& batch, std::chrono::milliseconds timeout) noexcept = 0;
  // Any thread: makes the send in progress, and every later one until reset_cancel(), end
  // with kCancelled as soon as possible.
  virtual void cancel() noexcept = 0;
  virtual void reset_cancel() noexcept = 0;
  // "OTLP/HTTP https://collector:4318/v1/traces" for logs.
  virtual std::string describe() const = 0;
};

// The transport `options` ask for. nullptr and `*error` when it cannot be set up (unreadable
// certificate file, bad endpoint).
std::unique_ptr<Transport> make_transport(const OtlpOptions& options, std::string* error);

// Transports themselves (make_transport picks one).
std::unique_ptr<Transport> make_http_transport(const OtlpOptions& options, std::string* error);
std::unique_ptr<Transport> make_grpc_transport(const OtlpOptions& options, std::string* error);

// gzip (RFC 1952) of `data`. False on a zlib failure.
bool gzip_compress(std::string_view data, std::string* out, int level = 6);

// The same with zlib's state (~270 KiB) kept from call to call.
class GzipCompressor {
 public:
  explicit GzipCompressor(int level);
  ~GzipCompressor();
  GzipCompressor(const GzipCompressor&) = delete;
  GzipCompressor& operator=(const GzipCompressor&) = delete;
  bool compress(std::string_view data, std::string* out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The contents of a (certificate) file. False with `*error` set when it cannot be read.
bool read_whole_file(const std::string& path, std::string* out, std::string* error);

// google.rpc.Status bytes (an OTLP error body, gRPC's status details): its message, and the
// delay of a google.rpc.RetryInfo among its details. Without a generated copy of those types:
// their few fields are read from protobuf's UnknownFieldSet.
struct RpcStatusDetails {
  std::string message;
  std::optional<std::chrono::milliseconds> retry_delay;
};
RpcStatusDetails parse_rpc_status(const std::string& bytes);

}  // namespace ztrace::otlp
