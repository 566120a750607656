#pragma once

// PostgreSQL wire protocol 3.0 (PostgreSQL docs, "Frontend/Backend Protocol", §55.7 Message
// Formats): message framing and the checks that recognise a connection. No state.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ztrace::postgresql {

// Codes in the second word of the untyped messages a frontend opens a connection with.
inline constexpr uint32_t kProtocol3 = 196608;  // 3.0 StartupMessage
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr uint32_t kCancelRequestCode = 80877102;

// PostgreSQL refuses any message over 1 GB (PQ_LARGE_MESSAGE_LIMIT): past that, not ours.
inline constexpr uint32_t kMaxMessageLength = 0x3fffffff;
// A startup packet longer than this is refused by the server (MAX_STARTUP_PACKET_LENGTH).
inline constexpr uint32_t kMaxStartupLength = 10000;

enum class ParseState : uint8_t { kSuccess, kNeedsMoreData, kInvalid };

inline uint32_t read_u32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}
inline uint16_t read_u16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] << 8 | b[1]);
}

// Message types the frontend sends, and those the backend sends (the same letter may mean
// different messages in the two directions).
bool is_frontend_type(char type);
bool is_backend_type(char type);

// One typed message: type byte, then a length that counts itself but not the type.
struct Message {
  char type = 0;
  std::string_view body;  // the bytes after the length
};

// The typed message at the start of `bytes` (for `frontend` or backend types): kSuccess and
// `consumed` when it is whole, kNeedsMoreData for any proper prefix of a valid message,
// kInvalid for an unknown type or a length out of bounds.
ParseState parse_message(std::string_view bytes, bool frontend, Message& out, size_t& consumed);

// What an untyped first message of a frontend is.
enum class StartupKind : uint8_t { kStartup, kSslRequest, kGssEncRequest, kCancelRequest };
struct Startup {
  StartupKind kind = StartupKind::kStartup;
  std::string_view user;      // StartupMessage parameters (views into the input)
  std::string_view database;  // defaults to the user, as the server does
};
// The untyped message at the start of `bytes`, as parse_message.
ParseState parse_startup(std::string_view bytes, Startup& out, size_t& consumed);

// A connection opens with a StartupMessage, SSLRequest, GSSENCRequest or CancelRequest.
bool is_connection_start(std::string_view first_bytes);

// Strict: `bytes` (the first captured bytes of a syscall) are one or more whole frontend
// messages, each well-formed in its body too, and nothing else. For connections the agent
// joined late: HTTP, TLS and random bytes fail it.
bool is_frontend_sequence(std::string_view bytes);

// A C string at `pos` in `body`: advances `pos` past its NUL; false when there is none.
bool read_cstring(std::string_view body, size_t& pos, std::string_view& out);

}  // namespace ztrace::postgresql
