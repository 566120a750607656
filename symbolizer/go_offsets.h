#pragma once

// Struct member offsets the Go probes read through pointers (the BPF side gets them as
// constants at load time). Source of truth, in order: the binary's own DWARF (libdw), else the
// checked-in table for the binary's Go minor version (tools/go_offsets/ regenerates it from
// DWARF of reference builds). Offsets are stable within a Go minor version.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "symbolizer/go_buildinfo.h"
#include "symbolizer/result.h"

namespace ztrace::symbolizer {

enum class GoField : uint8_t {
  kGGoid,                    // runtime.g.goid: goroutine id from the g in R14
  kRequestMethod,            // net/http.Request.Method (string)
  kRequestUrl,               // net/http.Request.URL (*url.URL)
  kRequestHost,              // net/http.Request.Host (string)
  kRequestHeader,            // net/http.Request.Header (map)
  kRequestCtx,               // net/http.Request.ctx (context.Context)
  kUrlPath,                  // net/url.URL.Path (string)
  kUrlHost,                  // net/url.URL.Host (string)
  kResponseStatusCode,       // net/http.Response.StatusCode (int): client side
  kServerResponseStatus,     // net/http.response.status (int): what the handler wrote
  kServerResponseConn,       // net/http.response.conn (*http.conn)
  kServerConnRwc,            // net/http.conn.rwc (net.Conn): the accepted socket (or *tls.Conn)
  kTlsConnConn,              // crypto/tls.Conn.conn (net.Conn): the socket under TLS
  kNetConnFd,                // net.conn.fd (*netFD): embedded first in *net.TCPConn
  kNetFdPfd,                 // net.netFD.pfd (poll.FD)
  kPollFdSysfd,              // internal/poll.FD.Sysfd (int): the file descriptor
  kTransportRequestRequest,  // net/http.transportRequest.Request (*Request, embedded)
  // gRPC: grpc-go and the golang.org/x/net/http2 framer it reads with.
  kH2MetaFrameHeaders,         // http2.MetaHeadersFrame.HeadersFrame (*HeadersFrame, embedded)
  kH2MetaFrameFields,          // http2.MetaHeadersFrame.Fields ([]hpack.HeaderField)
  kH2HeadersFrameHeader,       // http2.HeadersFrame.FrameHeader (embedded)
  kH2FrameHeaderStreamId,      // http2.FrameHeader.StreamID (uint32)
  kGrpcStreamId,               // grpc/internal/transport.Stream.id (uint32)
  kGrpcHeaderFrameHf,          // transport.headerFrame.hf ([]hpack.HeaderField)
  kGrpcHeaderFrameInitStream,  // transport.headerFrame.initStream (func, client side only)
  // net/http's HTTP/2 server (its bundled copy of x/net/http2).
  kHttp2MetaFrameHeaders,           // net/http.http2MetaHeadersFrame.http2HeadersFrame
  kHttp2MetaFrameFields,            // net/http.http2MetaHeadersFrame.Fields
  kHttp2HeadersFrameHeader,         // net/http.http2HeadersFrame.http2FrameHeader
  kHttp2FrameHeaderStreamId,        // net/http.http2FrameHeader.StreamID
  kHttp2ServerConnConn,             // net/http.http2serverConn.conn (net.Conn)
  kHttp2ResponseWriterRws,          // net/http.http2responseWriter.rws
  kHttp2ResponseWriterStateStream,  // net/http.http2responseWriterState.stream
  kHttp2StreamId,                   // net/http.http2stream.id (uint32)
  kCount,
};
constexpr size_t kGoFieldCount = static_cast<size_t>(GoField::kCount);

struct GoFieldName {
  std::string_view struct_name;  // as in DWARF: import path + "." + type name
  std::string_view member;
  // Offset of a library struct whose layout has not changed in the versions its probes are
  // for (used without DWARF); -1 for the standard library's, which the tables cover.
  int64_t stable_offset = -1;
};
// Indexed by GoField.
extern const std::array<GoFieldName, kGoFieldCount> kGoFieldNames;

struct GoOffsets {
  std::array<int64_t, kGoFieldCount> offset{};  // -1: unknown
  std::string source;                           // "dwarf" or "table go1.NN"
  int64_t get(GoField f) const { return offset[static_cast<size_t>(f)]; }
  // Names of unknown fields, comma separated ("" when all known); `standard_library_only`
  // leaves out library fields (absent from programs that do not link the library).
  std::string missing(bool standard_library_only = false) const;
};

// Member offsets from the DWARF of `path` (libdw). Fails without DWARF; fields of types the
// binary does not contain are -1 (e.g. crypto/tls in a program without TLS).
Result<GoOffsets> go_offsets_from_dwarf(const std::string& path);
// The checked-in table of Go `minor` (1.minor), with the stable library layouts. Fails for
// versions outside the tables.
Result<GoOffsets> go_offsets_from_table(const GoVersion& version);
// DWARF first, table second; the reason says both why DWARF and the table did not apply.
Result<GoOffsets> resolve_go_offsets(const std::string& path, const GoBuildInfo& info);
// The Go minor versions the table covers.
std::vector<int> go_offsets_table_minors();

}  // namespace ztrace::symbolizer
