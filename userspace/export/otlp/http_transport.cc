// OTLP/HTTP with libcurl: a mature client that brings connection reuse, TLS with CA file,
// client certificate and key (OpenSSL), proxies from the usual environment variables,
// Retry-After parsing (seconds or HTTP date) and abortable transfers. cpp-httplib, the other
// candidate, has none of the latter and blocks without a way to cancel a request.

#include <curl/curl.h>

#include <atomic>
#include <mutex>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "userspace/export/otlp/transport.h"

namespace ztrace::otlp {
namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;  // enough for any status; the rest is ignored
// zlib level 1: on span batches (repetitive keys and values) it keeps most of level 6's
// ratio at about twice the speed (bench/otlp_encode_bench).
constexpr int kGzipLevel = 1;

size_t collect_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body->size() < kMaxResponseBytes) {
    body->append(data, std::min(bytes, kMaxResponseBytes - body->size()));
  }
  return bytes;
}

int check_cancel(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

bool is_retryable(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:  // DNS may come back
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool is_tls_error(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return true;
    default:
      return false;
  }
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(const OtlpOptions& options) : options_(options) {}

  ~HttpTransport() override {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
    if (header_list_ != nullptr) curl_slist_free_all(header_list_);
  }

  bool init(std::string* error) {
    static std::once_flag global_init;
    std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (curl_ == nullptr) {
      *error = "libcurl: cannot create a handle";
      return false;
    }
    if (!options_.tls.ca_file.empty()) {
      std::string unused;
      if (!read_whole_file(options_.tls.ca_file, &unused, error)) return false;
    }
    if (!options_.tls.client_cert_file.empty()) {
      std::string unused;
      if (!read_whole_file(options_.tls.client_cert_file, &unused, error)) return false;
      if (!read_whole_file(options_.tls.client_key_file, &unused, error)) return false;
    }
    header_list_ = curl_slist_append(header_list_, "Content-Type: application/x-protobuf");
    // curl would wait up to 1 s for "100 Continue" before sending a body above 1 KiB.
    header_list_ = curl_slist_append(header_list_, "Expect:");
    if (options_.compression == Compression::kGzip) {
      header_list_ = curl_slist_append(header_list_, "Content-Encoding: gzip");
    }
    for (const auto& [key, value] : options_.headers) {
      header_list_ = curl_slist_append(header_list_, (key + ": " + value).c_str());
    }
    user_agent_ = "ztrace/" + options_.agent_version + " (OTLP/HTTP exporter)";

    curl_easy_setopt(curl_, CURLOPT_URL, options_.endpoint.c_str());
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, header_list_);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, user_agent_.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded program
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response_);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_buffer_);
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, check_cancel);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &cancelled_);
    curl_easy_setopt(curl_, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!options_.tls.ca_file.empty()) {
      curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.tls.ca_file.c_str());
    }
    if (!options_.tls.client_cert_file.empty()) {
      curl_easy_setopt(curl_, CURLOPT_SSLCERT, options_.tls.client_cert_file.c_str());
      curl_easy_setopt(curl_, CURLOPT_SSLKEY, options_.tls.client_key_file.c_str());
    }
    if (options_.tls.insecure_skip_verify) {
      curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return true;
  }

  SendResult send(EncodedBatch& batch, std::chrono::milliseconds timeout) noexcept override {
    SendResult result;
    const std::string* body = &batch.serialized;
    if (options_.compression == Compression::kGzip) {
      try {
        if (!batch.body_ready) {
          if (!gzip_.compress(batch.serialized, &batch.body)) {
            result.error = "gzip failed";
            result.error_kind = "encode";
            return result;
          }
          batch.body_ready = true;
        }
      } catch (...) {  // std::bad_alloc
        result.error = "out of memory while compressing";
        result.error_kind = "encode";
        return result;
      }
      body = &batch.body;
    }
    result.bytes_uncompressed = batch.serialized.size();

    if (cancelled_.load(std::memory_order_relaxed)) {
      result.outcome = ExportOutcome::kCancelled;
      return result;
    }
    response_.clear();
    error_buffer_[0] = '\0';
    const long timeout_ms = std::max<long>(static_cast<long>(timeout.count()), 1);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    const CURLcode code = curl_easy_perform(curl_);
    if (code != CURLE_OK) {
      if (code == CURLE_ABORTED_BY_CALLBACK) {
        result.outcome = ExportOutcome::kCancelled;
        return result;
      }
      const std::string detail =
          error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
      result.error = detail;
      if (is_tls_error(code)) {
        // A certificate that does not verify will not verify on the next try either.
        result.outcome = ExportOutcome::kPermanent;
        result.error_kind = "TLS";
        result.error = "TLS: " + detail;
      } else {
        result.outcome = is_retryable(code) ? ExportOutcome::kRetryable : ExportOutcome::kPermanent;
        result.error_kind = code == CURLE_COULDNT_CONNECT      ? "connect"
                            : code == CURLE_OPERATION_TIMEDOUT ? "timeout"
                                                               : curl_easy_strerror(code);
      }
      return result;
    }
    result.bytes_sent = body->size();
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      result.outcome = ExportOutcome::kSuccess;
      // OTLP/HTTP spec: the body is an ExportTraceServiceResponse; an empty one is valid.
      opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
      if (!response_.empty() && response.ParseFromString(response_) &&
          response.has_partial_success()) {
        result.rejected_spans = response.partial_success().rejected_spans();
        result.partial_success_message = response.partial_success().error_message();
      }
      return result;
    }
    result.error_kind = "HTTP " + std::to_string(status);
    // OTLP/HTTP spec: error bodies are a google.rpc.Status (protobuf); show its message, or
    // the start of a plain text body from a proxy.
    std::string message = parse_rpc_status(response_).message;
    if (message.empty()) message = response_.substr(0, 200);
    result.error = result.error_kind + (message.empty() ? "" : ": " + message);
    if (status == 429 || status == 502 || status == 503 || status == 504) {
      result.outcome = ExportOutcome::kRetryable;
      curl_off_t retry_after_s = 0;
      if (curl_easy_getinfo(curl_, CURLINFO_RETRY_AFTER, &retry_after_s) == CURLE_OK &&
          retry_after_s > 0) {
        result.retry_after = std::chrono::seconds(retry_after_s);
      }
    } else {
      result.outcome = ExportOutcome::kPermanent;
    }
    return result;
  }

  void cancel() noexcept override { cancelled_.store(true, std::memory_order_relaxed); }
  void reset_cancel() noexcept override { cancelled_.store(false, std::memory_order_relaxed); }
  std::string describe() const override { return "OTLP/HTTP " + options_.endpoint; }

 private:
  OtlpOptions options_;
  CURL* curl_ = nullptr;
  curl_slist* header_list_ = nullptr;
  std::string user_agent_;
  std::string response_;
  GzipCompressor gzip_{kGzipLevel};
  char error_buffer_[CURL_ERROR_SIZE] = {};
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const OtlpOptions& options, std::string* error) {
  auto transport = std::make_unique<HttpTransport>(options);
  std::string ignored;
  if (!transport->init(error != nullptr ? error : &ignored)) return nullptr;
  return transport;
}

}  // namespace ztrace::otlp
