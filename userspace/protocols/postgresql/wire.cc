#include "userspace/protocols/postgresql/wire.h"

#include <cstring>

namespace ztrace::postgresql {

bool is_frontend_type(char type) {
  switch (type) {
    case 'Q':
    case 'P':
    case 'B':
    case 'E':
    case 'D':
    case 'C':
    case 'H':
    case 'S':
    case 'F':
    case 'd':
    case 'c':
    case 'f':
    case 'X':
    case 'p':
      return true;
    default:
      return false;
  }
}

bool is_backend_type(char type) {
  switch (type) {
    case 'R':
    case 'K':
    case 'S':
    case 'Z':
    case 'T':
    case 'D':
    case 'C':
    case 'E':
    case 'N':
    case 'A':
    case 'G':
    case 'H':
    case 'W':
    case 'd':
    case 'c':
    case '1':
    case '2':
    case '3':
    case 'n':
    case 's':
    case 't':
    case 'I':
    case 'V':
    case 'v':
      return true;
    default:
      return false;
  }
}

ParseState parse_message(std::string_view bytes, bool frontend, Message& out, size_t& consumed) {
  if (bytes.empty()) return ParseState::kNeedsMoreData;
  const char type = bytes[0];
  if (!(frontend ? is_frontend_type(type) : is_backend_type(type))) return ParseState::kInvalid;
  if (bytes.size() < 5) return ParseState::kNeedsMoreData;
  const uint32_t length = read_u32(bytes.data() + 1);
  if (length < 4 || length > kMaxMessageLength) return ParseState::kInvalid;
  if (bytes.size() - 1 < length) return ParseState::kNeedsMoreData;
  out.type = type;
  out.body = bytes.substr(5, length - 4);
  consumed = size_t{length} + 1;
  return ParseState::kSuccess;
}

bool read_cstring(std::string_view body, size_t& pos, std::string_view& out) {
  if (pos > body.size()) return false;
  const size_t end = body.find('\0', pos);
  if (end == std::string_view::npos) return false;
  out = body.substr(pos, end - pos);
  pos = end + 1;
  return true;
}

ParseState parse_startup(std::string_view bytes, Startup& out, size_t& consumed) {
  if (bytes.size() < 8) {
    // A prefix of a valid length word (the first byte of any length <= 10000 is 0).
    if (!bytes.empty() && bytes[0] != 0) return ParseState::kInvalid;
    return ParseState::kNeedsMoreData;
  }
  const uint32_t length = read_u32(bytes.data());
  const uint32_t code = read_u32(bytes.data() + 4);
  out = Startup{};
  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    if (length != 8) return ParseState::kInvalid;
    out.kind = code == kSslRequestCode ? StartupKind::kSslRequest : StartupKind::kGssEncRequest;
    consumed = 8;
    return ParseState::kSuccess;
  }
  if (code == kCancelRequestCode) {
    if (length != 16) return ParseState::kInvalid;
    if (bytes.size() < 16) return ParseState::kNeedsMoreData;
    out.kind = StartupKind::kCancelRequest;
    consumed = 16;
    return ParseState::kSuccess;
  }
  if (code != kProtocol3 || length < 9 || length > kMaxStartupLength) return ParseState::kInvalid;
  if (bytes.size() < length) return ParseState::kNeedsMoreData;
  // Parameters: name\0value\0 pairs, then one \0 that ends the packet.
  const std::string_view params = bytes.substr(8, length - 8);
  size_t pos = 0;
  while (true) {
    std::string_view name, value;
    if (!read_cstring(params, pos, name)) return ParseState::kInvalid;
    if (name.empty()) break;
    if (!read_cstring(params, pos, value)) return ParseState::kInvalid;
    if (name == "user") out.user = value;
    if (name == "database") out.database = value;
  }
  if (pos != params.size()) return ParseState::kInvalid;
  if (out.database.empty()) out.database = out.user;
  out.kind = StartupKind::kStartup;
  consumed = length;
  return ParseState::kSuccess;
}

bool is_connection_start(std::string_view first_bytes) {
  Startup startup;
  size_t consumed = 0;
  if (first_bytes.size() < 8) return false;
  const ParseState state = parse_startup(first_bytes, startup, consumed);
  if (state == ParseState::kInvalid) return false;
  if (state == ParseState::kSuccess) return consumed == first_bytes.size();
  // A StartupMessage cut by the capture: its fixed header is enough to be sure.
  return read_u32(first_bytes.data() + 4) == kProtocol3;
}

namespace {

bool is_text(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

// Reads an int16 count and skips count * `each` bytes.
bool skip_array(std::string_view body, size_t& pos, size_t each) {
  if (body.size() - pos < 2) return false;
  const size_t count = read_u16(body.data() + pos);
  pos += 2;
  if ((body.size() - pos) / each < count) return false;
  pos += count * each;
  return true;
}

// Bind / FunctionCall arguments: an int16 count of (int32 length or -1, bytes).
bool skip_values(std::string_view body, size_t& pos) {
  if (body.size() - pos < 2) return false;
  const size_t count = read_u16(body.data() + pos);
  pos += 2;
  for (size_t i = 0; i < count; ++i) {
    if (body.size() - pos < 4) return false;
    const uint32_t length = read_u32(body.data() + pos);
    pos += 4;
    if (length == 0xffffffff) continue;
    if (body.size() - pos < length) return false;
    pos += length;
  }
  return true;
}

// The body of a frontend message that can appear on a connection in use is well-formed.
bool is_well_formed_frontend(const Message& m) {
  const std::string_view b = m.body;
  size_t pos = 0;
  std::string_view s1, s2;
  switch (m.type) {
    case 'Q':
      return read_cstring(b, pos, s1) && pos == b.size() && is_text(s1);
    case 'P':
      return read_cstring(b, pos, s1) && read_cstring(b, pos, s2) && is_text(s2) &&
             skip_array(b, pos, 4) && pos == b.size();
    case 'B':
      return read_cstring(b, pos, s1) && read_cstring(b, pos, s2) && skip_array(b, pos, 2) &&
             skip_values(b, pos) && skip_array(b, pos, 2) && pos == b.size();
    case 'E':
      return read_cstring(b, pos, s1) && b.size() - pos == 4;
    case 'D':
    case 'C':
      return !b.empty() && (b[0] == 'S' || b[0] == 'P') && read_cstring(b, ++pos, s1) &&
             pos == b.size();
    case 'H':
    case 'S':
    case 'X':
      return b.empty();
    case 'F':
      if (b.size() < 4) return false;
      pos = 4;
      return skip_array(b, pos, 2) && skip_values(b, pos) && b.size() - pos == 2;
    default:
      return false;  // copy data and password messages never open what we recognise
  }
}

}  // namespace

bool is_frontend_sequence(std::string_view bytes) {
  if (bytes.empty()) return false;
  // A request opens with a query, a parse, a bind (of a statement prepared before) or a call.
  if (bytes[0] != 'Q' && bytes[0] != 'P' && bytes[0] != 'B' && bytes[0] != 'F') return false;
  while (!bytes.empty()) {
    Message message;
    size_t consumed = 0;
    if (parse_message(bytes, true, message, consumed) != ParseState::kSuccess) return false;
    if (!is_well_formed_frontend(message)) return false;
    bytes.remove_prefix(consumed);
  }
  return true;
}

}  // namespace ztrace::postgresql
