#include <string_view>

#include "userspace/protocols/kafka/messages.h"
#include "userspace/protocols/kafka/protocol.h"

namespace ztrace::kafka {

bool detect(std::string_view first_bytes) {
  if (first_bytes.size() < 4 + 10) return false;  // size prefix + shortest request header
  const auto byte = [&](size_t i) { return uint32_t{static_cast<uint8_t>(first_bytes[i])}; };
  const uint32_t size = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
  if (size < 10 || size > ConnectionParser::kMaxMessageBytes) return false;
  // The header must parse within the message the prefix announces.
  const std::string_view message = first_bytes.substr(4, size);
  RequestHeader header;
  size_t body_offset = 0;
  return parse_request_header(message, header, body_offset) == HeaderParse::kOk;
}

}  // namespace ztrace::kafka
