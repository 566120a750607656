// OTLP/gRPC (grpc++): TraceService/Export called through a generic stub with the request
// bytes the exporter framed (the same bytes the generated stub would send), so a batch is
// serialized once whatever the protocol.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "userspace/export/otlp/transport.h"

namespace ztrace::otlp {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

std::string_view code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "OTHER";
  }
}

// OTLP spec, "OTLP/gRPC Throttling" and "Failures": these codes are transient.
// RESOURCE_EXHAUSTED is retryable only when the server says when (RetryInfo).
bool is_retryable(grpc::StatusCode code, bool has_retry_info) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return has_retry_info;
    default:
      return false;
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(const OtlpOptions& options) : options_(options) {}

  bool init(std::string* error) {
    ParsedUrl url;
    if (!parse_url(options_.endpoint, &url)) {
      *error = "bad OTLP/gRPC endpoint " + options_.endpoint;
      return false;
    }
    const int default_port = options_.use_tls ? 443 : 80;
    target_ = url.host + ":" + std::to_string(url.port != 0 ? url.port : default_port);

    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (!options_.use_tls) {
      credentials = grpc::InsecureChannelCredentials();
    } else {
      std::string roots, cert, key;
      if (!options_.tls.ca_file.empty() && !read_whole_file(options_.tls.ca_file, &roots, error)) {
        return false;
      }
      if (!options_.tls.client_cert_file.empty() &&
          (!read_whole_file(options_.tls.client_cert_file, &cert, error) ||
           !read_whole_file(options_.tls.client_key_file, &key, error))) {
        return false;
      }
      if (options_.tls.insecure_skip_verify) {
        namespace tls = grpc::experimental;
        tls::TlsChannelCredentialsOptions tls_options;
        std::vector<tls::IdentityKeyCertPair> identity;
        if (!cert.empty()) identity.push_back({key, cert});
        if (!roots.empty() || !identity.empty()) {
          tls_options.set_certificate_provider(
              std::make_shared<tls::StaticDataCertificateProvider>(roots, identity));
          if (!roots.empty()) tls_options.watch_root_certs();
          if (!identity.empty()) tls_options.watch_identity_key_cert_pairs();
        }
        tls_options.set_verify_server_certs(false);
        tls_options.set_check_call_host(false);
        tls_options.set_certificate_verifier(std::make_shared<tls::NoOpCertificateVerifier>());
        credentials = tls::TlsCredentials(tls_options);
      } else {
        grpc::SslCredentialsOptions ssl;
        ssl.pem_root_certs = roots;  // empty: gRPC's default roots
        ssl.pem_cert_chain = cert;
        ssl.pem_private_key = key;
        credentials = grpc::SslCredentials(ssl);
      }
    }
    if (!credentials) {
      *error = "gRPC: cannot create channel credentials for " + options_.endpoint;
      return false;
    }
    grpc::ChannelArguments args;
    // Reconnect soon after a collector comes back (gRPC's default backoff grows to 120 s).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    // Retries are ours (backoff, budget, counters): none hidden inside the channel.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING,
                   "ztrace/" + options_.agent_version + " (OTLP/gRPC exporter)");
    channel_ = grpc::CreateCustomChannel(target_, credentials, args);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    method_ = "/" + std::string(TraceService::service_full_name()) + "/Export";
    for (const auto& [key, value] : options_.headers) {
      metadata_.emplace_back(lower(key), value);  // gRPC metadata keys are lowercase
    }
    return true;
  }

  SendResult send(EncodedBatch& batch, std::chrono::milliseconds timeout) noexcept override {
    SendResult result;
    const uint64_t message_bytes = batch.serialized.size();
    result.bytes_uncompressed = message_bytes;

    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    if (options_.compression == Compression::kGzip) {
      context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    }
    for (const auto& [key, value] : metadata_) context.AddMetadata(key, value);
    {
      std::lock_guard lock(mutex_);
      if (cancelled_) {
        result.outcome = ExportOutcome::kCancelled;
        return result;
      }
      current_ = &context;
    }
    ExportTraceServiceResponse response;
    grpc::Status status;
    try {
      grpc::Slice slice(batch.serialized);
      grpc::ByteBuffer request(&slice, 1);
      grpc::ByteBuffer response_bytes;
      std::mutex done_mutex;
      std::condition_variable done_changed;
      bool done = false;
      stub_->UnaryCall(&context, method_, grpc::StubOptions(), &request, &response_bytes,
                       [&](grpc::Status call_status) {
                         std::lock_guard lock(done_mutex);
                         status = std::move(call_status);
                         done = true;
                         done_changed.notify_one();
                       });
      std::unique_lock lock(done_mutex);
      done_changed.wait(lock, [&] { return done; });  // the deadline bounds the call
      if (status.ok()) {
        std::vector<grpc::Slice> slices;
        std::string bytes;
        if (response_bytes.Dump(&slices).ok()) {
          for (const auto& s : slices)
            bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
        }
        response.ParseFromString(bytes);
      }
    } catch (...) {
      status = grpc::Status(grpc::StatusCode::INTERNAL, "exception in gRPC call");
    }
    bool was_cancelled = false;
    {
      std::lock_guard lock(mutex_);
      current_ = nullptr;
      was_cancelled = cancelled_;
    }
    if (status.ok()) {
      result.outcome = ExportOutcome::kSuccess;
      result.bytes_sent = message_bytes;
      if (response.has_partial_success()) {
        result.rejected_spans = response.partial_success().rejected_spans();
        result.partial_success_message = response.partial_success().error_message();
      }
      return result;
    }
    if (was_cancelled && status.error_code() == grpc::StatusCode::CANCELLED) {
      result.outcome = ExportOutcome::kCancelled;
      return result;
    }
    const RpcStatusDetails details = parse_rpc_status(status.error_details());
    result.error_kind = "gRPC " + std::string(code_name(status.error_code()));
    result.error = result.error_kind + ": " + status.error_message();
    result.retry_after = details.retry_delay;
    result.outcome = is_retryable(status.error_code(), details.retry_delay.has_value())
                         ? ExportOutcome::kRetryable
                         : ExportOutcome::kPermanent;
    // OpenSSL spells it "certificate verify failed", BoringSSL "CERTIFICATE_VERIFY_FAILED".
    const std::string message = lower(status.error_message());
    if (message.find("certificate verify failed") != std::string::npos ||
        message.find("certificate_verify_failed") != std::string::npos) {
      result.error_kind = "TLS";
      result.error = "TLS: server certificate not verified (" + status.error_message() + ")";
    }
    // A failed call sent its request only over a connection that is up: a refused or
    // unreachable endpoint gets nothing (the server's own error answers keep it up).
    result.bytes_sent = channel_->GetState(false) == GRPC_CHANNEL_READY ? message_bytes : 0;
    return result;
  }

  void cancel() noexcept override {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }

  void reset_cancel() noexcept override {
    std::lock_guard lock(mutex_);
    cancelled_ = false;
  }

  std::string describe() const override {
    return "OTLP/gRPC " + options_.endpoint + (options_.use_tls ? " (TLS)" : "");
  }

 private:
  OtlpOptions options_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::string method_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::mutex mutex_;
  grpc::ClientContext* current_ = nullptr;  // guarded by mutex_
  bool cancelled_ = false;                  // guarded by mutex_
};

}  // namespace

std::unique_ptr<Transport> make_grpc_transport(const OtlpOptions& options, std::string* error) {
  auto transport = std::make_unique<GrpcTransport>(options);
  std::string ignored;
  if (!transport->init(error != nullptr ? error : &ignored)) return nullptr;
  return transport;
}

}  // namespace ztrace::otlp
