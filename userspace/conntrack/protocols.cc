#include "userspace/conntrack/protocols.h"

#include "userspace/protocols/http2/frame.h"

namespace ztrace::conntrack {

ProtocolParser make_protocol_parser(std::string_view first_chunk, Role role,
                                    bool joined_midstream) {
  if (http2::detect(first_chunk) == http2::ParseState::kSuccess) {
    return ProtocolParser(std::in_place_type<http2::ConnectionParser>, role, joined_midstream);
  }
  return ProtocolParser(std::in_place_type<http1::ConnectionParser>, role, joined_midstream);
}

}  // namespace ztrace::conntrack
