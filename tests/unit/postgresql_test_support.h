#pragma once

// PostgreSQL protocol 3.0 messages as bytes, for the parser's tests (PostgreSQL docs §55.7).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ztrace::postgresql::test {

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
inline std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
inline std::string cstr(std::string_view s) { return std::string(s) + '\0'; }

inline std::string msg(char type, std::string_view body) {
  return type + be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

// Frontend
inline std::string startup(std::string_view user, std::string_view database) {
  std::string params = cstr("user") + cstr(user);
  if (!database.empty()) params += cstr("database") + cstr(database);
  params += '\0';
  return be32(static_cast<uint32_t>(params.size() + 8)) + be32(196608) + params;
}
inline std::string ssl_request() { return be32(8) + be32(80877103); }
inline std::string gssenc_request() { return be32(8) + be32(80877104); }
inline std::string cancel_request() { return be32(16) + be32(80877102) + be32(7) + be32(9); }
inline std::string query(std::string_view text) { return msg('Q', cstr(text)); }
inline std::string parse(std::string_view name, std::string_view text, uint16_t params = 0) {
  std::string body = cstr(name) + cstr(text) + be16(params);
  for (uint16_t i = 0; i < params; ++i) body += be32(23);
  return msg('P', body);
}
inline std::string bind(std::string_view portal, std::string_view statement,
                        std::vector<std::string> values = {}) {
  std::string body = cstr(portal) + cstr(statement) + be16(0) + be16(values.size());
  for (const auto& v : values) body += be32(v.size()) + v;
  return msg('B', body + be16(0));
}
inline std::string describe(char what, std::string_view name) {
  return msg('D', std::string(1, what) + cstr(name));
}
inline std::string execute(std::string_view portal) { return msg('E', cstr(portal) + be32(0)); }
inline std::string close(char what, std::string_view name) {
  return msg('C', std::string(1, what) + cstr(name));
}
inline std::string sync() { return msg('S', ""); }
inline std::string flush() { return msg('H', ""); }
inline std::string terminate() { return msg('X', ""); }
inline std::string password(std::string_view secret) { return msg('p', cstr(secret)); }
inline std::string copy_data(std::string_view data) { return msg('d', data); }
inline std::string copy_done() { return msg('c', ""); }
inline std::string function_call(uint32_t oid) {
  return msg('F', be32(oid) + be16(0) + be16(1) + be32(1) + "x" + be16(0));
}

// Backend
inline std::string auth_ok() { return msg('R', be32(0)); }
inline std::string auth_cleartext() { return msg('R', be32(3)); }
inline std::string parameter_status(std::string_view k, std::string_view v) {
  return msg('S', cstr(k) + cstr(v));
}
inline std::string backend_key() { return msg('K', be32(42) + be32(4242)); }
inline std::string ready(char status = 'I') { return msg('Z', std::string(1, status)); }
inline std::string row_description(uint16_t columns = 1) {
  std::string body = be16(columns);
  for (uint16_t i = 0; i < columns; ++i) {
    body += cstr("c") + be32(0) + be16(0) + be32(23) + be16(4) + be32(0xffffffff) + be16(0);
  }
  return msg('T', body);
}
inline std::string data_row(std::string_view value) {
  return msg('D', be16(1) + be32(value.size()) + std::string(value));
}
inline std::string command_complete(std::string_view tag) { return msg('C', cstr(tag)); }
inline std::string error_response(std::string_view sqlstate, std::string_view message) {
  return msg('E', "SERROR" + std::string(1, '\0') + "VERROR" + std::string(1, '\0') + "C" +
                      cstr(sqlstate) + "M" + cstr(message) + '\0');
}
inline std::string notice(std::string_view message) {
  return msg('N',
             "SNOTICE" + std::string(1, '\0') + "C" + cstr("00000") + "M" + cstr(message) + '\0');
}
inline std::string notification(std::string_view channel, std::string_view payload) {
  return msg('A', be32(77) + cstr(channel) + cstr(payload));
}
inline std::string parse_complete() { return msg('1', ""); }
inline std::string bind_complete() { return msg('2', ""); }
inline std::string close_complete() { return msg('3', ""); }
inline std::string no_data() { return msg('n', ""); }
inline std::string parameter_description() { return msg('t', be16(1) + be32(23)); }
inline std::string empty_query() { return msg('I', ""); }
inline std::string portal_suspended() { return msg('s', ""); }
inline std::string copy_in_response() { return msg('G', std::string(1, '\0') + be16(1) + be16(0)); }
inline std::string copy_out_response() {
  return msg('H', std::string(1, '\0') + be16(1) + be16(0));
}
inline std::string function_result() { return msg('V', be32(1) + "1"); }

// The backend's answer to a successful startup.
inline std::string startup_answer() {
  return auth_ok() + parameter_status("server_version", "15.0") + backend_key() + ready();
}

}  // namespace ztrace::postgresql::test
