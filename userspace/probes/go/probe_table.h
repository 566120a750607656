#pragma once

// What the Go probes attach to, as data: library -> symbol -> BPF program, where in the
// function, whether the library's probes make sense without it, and the Go versions it is
// valid for. A library's probes are attached all or nothing: when a required symbol is
// missing, none of them is (a Read without a Write would give half streams).

#include <span>
#include <string_view>

#include "userspace/symbolizer/go_buildinfo.h"
#include "userspace/symbolizer/go_offsets.h"

namespace ztrace::probes::go {

enum class ProbeAt : uint8_t {
  kEntry,    // the symbolizer's cheapest valid site near the entry
  kReturns,  // every RET instruction (never a uretprobe on Go)
  // The length test after the function's copy into the caller's buffer (cheap), else kReturns.
  kCopyLengthOrReturns,
};

struct GoProbeSpec {
  std::string_view library;  // import path of the package the symbol belongs to
  std::string_view symbol;   // as in the pclntab
  std::string_view program;  // BPF program in bpf/go_probes.bpf.c
  ProbeAt at;
  bool required;
  symbolizer::GoVersion min_go;  // inclusive
  symbolizer::GoVersion max_go;  // inclusive
};

// Register ABI (arguments in registers, g in R14) since Go 1.17 on amd64.
inline constexpr symbolizer::GoVersion kRegabiGo{1, 17, 0};
inline constexpr symbolizer::GoVersion kAnyLaterGo{1, 999, 0};

inline constexpr GoProbeSpec kGoProbes[] = {
    {"crypto/tls", "crypto/tls.(*Conn).Write", "go_tls_write", ProbeAt::kEntry, true, kRegabiGo,
     kAnyLaterGo},
    {"crypto/tls", "crypto/tls.(*Conn).Read", "go_tls_read_enter", ProbeAt::kEntry, true, kRegabiGo,
     kAnyLaterGo},
    {"crypto/tls", "crypto/tls.(*Conn).Read", "go_tls_read_data", ProbeAt::kCopyLengthOrReturns,
     true, kRegabiGo, kAnyLaterGo},
    // The hand-off of an outgoing request to the goroutine that writes it (linking).
    {"net/http", "net/http.(*persistConn).roundTrip", "go_http_round_trip", ProbeAt::kEntry, true,
     kRegabiGo, kAnyLaterGo},
    {"net/http", "net/http.(*Request).write", "go_http_request_write", ProbeAt::kEntry, true,
     kRegabiGo, kAnyLaterGo},
};

// Struct members each library's probes read.
struct LibraryFields {
  std::string_view library;
  std::span<const symbolizer::GoField> fields;
};
inline constexpr symbolizer::GoField kTlsFields[] = {
    symbolizer::GoField::kTlsConnConn, symbolizer::GoField::kNetConnFd,
    symbolizer::GoField::kNetFdPfd, symbolizer::GoField::kPollFdSysfd};
inline constexpr symbolizer::GoField kNetHttpFields[] = {
    symbolizer::GoField::kTransportRequestRequest};
inline constexpr LibraryFields kLibraryFields[] = {{"crypto/tls", kTlsFields},
                                                   {"net/http", kNetHttpFields}};

}  // namespace ztrace::probes::go
