#pragma once

// What the OpenSSL probes attach to, as data: the four plaintext calls of libssl (1.1.1,
// 3.x) and of executables that link OpenSSL statically with its symbols (node).

#include <string_view>

namespace ztrace::probes::openssl {

struct SslProbeSpec {
  std::string_view symbol;
  bool write;         // plaintext leaves the process (else it arrives)
  bool count_in_rcx;  // the _ex functions: the count is stored at their 4th argument
  bool required;      // without it the image is not probed (1.1.0 has no _ex functions)
};

inline constexpr SslProbeSpec kSslProbes[] = {
    {"SSL_read", false, false, true},
    {"SSL_write", true, false, true},
    {"SSL_read_ex", false, true, false},
    {"SSL_write_ex", true, true, false},
};

// Symbols that tell the struct layout the probes read (bpf/openssl_probes.h zt_ssl_layout).
inline constexpr std::string_view kSince3_0 = "SSL_CTX_new_ex";
inline constexpr std::string_view kSince3_2 = "SSL_new_stream";  // SSL objects became handles
inline constexpr std::string_view kSince1_1_1 = "SSL_read_ex";

}  // namespace ztrace::probes::openssl
