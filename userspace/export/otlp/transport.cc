#include "userspace/export/otlp/transport.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ztrace::otlp {

Transport::~Transport() = default;

std::unique_ptr<Transport> make_transport(const OtlpOptions& options, std::string* error) {
  if (options.protocol == Protocol::kGrpc) return make_grpc_transport(options, error);
  return make_http_transport(options, error);
}

struct GzipCompressor::State {
  z_stream stream{};
  bool ready = false;
};

GzipCompressor::GzipCompressor(int level) : state_(std::make_unique<State>()) {
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  state_->ready =
      deflateInit2(&state_->stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipCompressor::~GzipCompressor() {
  if (state_->ready) deflateEnd(&state_->stream);
}

bool GzipCompressor::compress(std::string_view data, std::string* out) {
  if (!state_->ready) return false;
  z_stream& stream = state_->stream;
  if (deflateReset(&stream) != Z_OK) return false;
  out->resize(deflateBound(&stream, data.size()) + 32);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out->data());
  stream.avail_out = static_cast<uInt>(out->size());
  const int rc = deflate(&stream, Z_FINISH);
  out->resize(stream.total_out);
  return rc == Z_STREAM_END;
}

bool gzip_compress(std::string_view data, std::string* out, int level) {
  return GzipCompressor(level).compress(data, out);
}

bool read_whole_file(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error != nullptr) *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

RpcStatusDetails parse_rpc_status(const std::string& bytes) {
  // google/rpc/status.proto: Status { int32 code = 1; string message = 2;
  //   repeated google.protobuf.Any details = 3; }
  // google/rpc/error_details.proto: RetryInfo { google.protobuf.Duration retry_delay = 1; }
  RpcStatusDetails details;
  google::protobuf::UnknownFieldSet status;
  if (bytes.empty() || !status.ParseFromString(bytes)) return details;
  for (int i = 0; i < status.field_count(); ++i) {
    const google::protobuf::UnknownField& field = status.field(i);
    if (field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    if (field.number() == 2) {
      details.message = field.length_delimited();
    } else if (field.number() == 3) {
      google::protobuf::Any any;
      if (!any.ParseFromString(field.length_delimited())) continue;
      if (!any.type_url().ends_with("/google.rpc.RetryInfo")) continue;
      google::protobuf::UnknownFieldSet retry_info;
      if (!retry_info.ParseFromString(any.value())) continue;
      for (int k = 0; k < retry_info.field_count(); ++k) {
        const auto& delay_field = retry_info.field(k);
        if (delay_field.number() != 1 ||
            delay_field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
          continue;
        }
        google::protobuf::Duration duration;
        if (!duration.ParseFromString(delay_field.length_delimited())) continue;
        details.retry_delay =
            std::chrono::milliseconds(duration.seconds() * 1000 + duration.nanos() / 1'000'000);
      }
    }
  }
  return details;
}

}  // namespace ztrace::otlp
