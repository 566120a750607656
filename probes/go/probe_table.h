#pragma once

// What the Go probes attach to, as data: library -> symbol -> BPF program, where in the
// function, whether the library's probes make sense without it, and the Go versions it is
// valid for. A library's probes are attached all or nothing: when a required symbol is
// missing, none of them is (a Read without a Write would give half streams).

#include <span>
#include <string_view>

#include "symbolizer/go_buildinfo.h"
#include "symbolizer/go_offsets.h"

namespace ztrace::probes::go {

enum class ProbeAt : uint8_t {
  kEntry,    // the symbolizer's cheapest valid site near the entry
  kReturns,  // every RET instruction (never a uretprobe on Go)
  // The length test after the function's copy into the caller's buffer (cheap), else kReturns.
  kCopyLengthOrReturns,
  // Where the argument in RBX is not nil (find_nonnil_site: hit only by those calls), else
  // kEntry (the program then skips the nil calls itself).
  kRbxNotNilOrEntry,
};

struct GoProbeSpec {
  std::string_view library;  // the group attached all or nothing (usually an import path)
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
    // grpc-go: a server stream's context where its headers are decoded, the goroutine that
    // serves it, and the hand-off of its calls' headers to the connection's writer.
    {"google.golang.org/grpc",
     "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders",
     "go_grpc_server_headers", ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"google.golang.org/grpc",
     "google.golang.org/grpc/internal/transport.(*http2Server).handleSettings",
     "go_grpc_server_settings", ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"google.golang.org/grpc", "google.golang.org/grpc.(*Server).handleStream",
     "go_grpc_handle_stream", ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"google.golang.org/grpc",
     "google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus", "go_h2_stream_done",
     ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"google.golang.org/grpc",
     "google.golang.org/grpc/internal/transport.(*controlBuffer).executeAndPut",
     "go_grpc_queue_headers", ProbeAt::kRbxNotNilOrEntry, true, kRegabiGo, kAnyLaterGo},
    {"google.golang.org/grpc",
     "google.golang.org/grpc/internal/transport.(*loopyWriter).writeHeader", "go_grpc_write_header",
     ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    // net/http's HTTP/2 server (Go HTTPS servers): the same for its streams.
    {"net/http HTTP/2 server", "net/http.(*http2serverConn).processHeaders",
     "go_http2_server_headers", ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"net/http HTTP/2 server", "net/http.(*http2serverConn).runHandler", "go_http2_run_handler",
     ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"net/http HTTP/2 server", "net/http.(*http2responseWriter).handlerDone", "go_h2_stream_done",
     ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    // sarama's SyncProducer: the request a handler serves, for the send its message leaves in
    // (written by sarama's own goroutines). The import path moved from Shopify to IBM (1.41).
    {"github.com/Shopify/sarama", "github.com/Shopify/sarama.(*syncProducer).SendMessage",
     "go_sarama_send_message", ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
    {"github.com/IBM/sarama", "github.com/IBM/sarama.(*syncProducer).SendMessage",
     "go_sarama_send_message", ProbeAt::kEntry, true, kRegabiGo, kAnyLaterGo},
};

// Libraries whose probes depend on the library's own version (argument order, struct
// layout): probed only within [min, max] of the module's version in the build info. A build
// without module versions (GOPATH mode, as Debian packages grpc-go) is probed.
struct LibraryModule {
  std::string_view library;
  std::string_view module;
  symbolizer::GoVersion min;  // inclusive
  symbolizer::GoVersion max;  // inclusive
};
// grpc-go 1.60 gave operateHeaders a ctx argument first (the frame moves register); later
// versions change handleStream's stream type.
inline constexpr LibraryModule kLibraryModules[] = {
    {"google.golang.org/grpc", "google.golang.org/grpc", {1, 33, 0}, {1, 59, 999}},
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
inline constexpr symbolizer::GoField kGrpcFields[] = {
    symbolizer::GoField::kH2MetaFrameHeaders,
    symbolizer::GoField::kH2MetaFrameFields,
    symbolizer::GoField::kH2HeadersFrameHeader,
    symbolizer::GoField::kH2FrameHeaderStreamId,
    symbolizer::GoField::kGrpcStreamId,
    symbolizer::GoField::kGrpcHeaderFrameHf,
    symbolizer::GoField::kGrpcHeaderFrameInitStream};
inline constexpr symbolizer::GoField kHttp2ServerFields[] = {
    symbolizer::GoField::kHttp2MetaFrameHeaders, symbolizer::GoField::kHttp2MetaFrameFields,
    symbolizer::GoField::kHttp2HeadersFrameHeader, symbolizer::GoField::kHttp2FrameHeaderStreamId,
    symbolizer::GoField::kHttp2ServerConnConn, symbolizer::GoField::kHttp2ResponseWriterRws,
    symbolizer::GoField::kHttp2ResponseWriterStateStream, symbolizer::GoField::kHttp2StreamId,
    // sc.conn is a *tls.Conn: its socket is found like the crypto/tls probes find it.
    symbolizer::GoField::kTlsConnConn, symbolizer::GoField::kNetConnFd,
    symbolizer::GoField::kNetFdPfd, symbolizer::GoField::kPollFdSysfd};
// sarama's probe reads only ProducerMessage's first fields (Topic, Key, Value), in that order
// since sarama's first release: no offsets to look up.
inline constexpr LibraryFields kLibraryFields[] = {{"crypto/tls", kTlsFields},
                                                   {"net/http", kNetHttpFields},
                                                   {"google.golang.org/grpc", kGrpcFields},
                                                   {"net/http HTTP/2 server", kHttp2ServerFields},
                                                   {"github.com/Shopify/sarama", {}},
                                                   {"github.com/IBM/sarama", {}}};

}  // namespace ztrace::probes::go
