/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ABI between bpf/go_probes.bpf.c and userspace (probes/go). The Go probes emit
 * struct zt_data_event (socket_trace.h) into socket_trace's ring buffer: the plaintext of
 * crypto/tls reads and writes becomes one more stream that the HTTP parser reads like a
 * plaintext socket. Fixed-width types, explicit padding.
 */
#pragma once

#include "bpf/socket_trace.h"

/* zt_data_event.syscall of TLS plaintext captured in a Go process. */
#define ZT_SYS_GO_TLS 64
/* Set in zt_data_event.generation of TLS plaintext: the same socket's ciphertext (seen by the
 * syscall hooks with the plain generation) and its plaintext are two connections to
 * userspace. */
#define ZT_GO_TLS_GENERATION_BIT (1ULL << 63)
/* Bytes captured per crypto/tls Read/Write call (whole pieces of ZT_PIECE_BYTES). */
#define ZT_GO_MAX_PIECES 4

/* Where an http2.MetaHeadersFrame's parts are: x/net/http2's (grpc-go) and net/http's bundled
 * copy share the layout, their offsets come from different types. */
struct zt_h2_meta_frame {
	__u64 headers_frame; /* the embedded *HeadersFrame */
	__u64 fields;        /* Fields []hpack.HeaderField */
	__u64 stream_id;     /* HeadersFrame: FrameHeader.StreamID (uint32) */
};

/* Value of `go_processes` (key: tgid): struct member offsets of the process's Go binary
 * (symbolizer: DWARF or the per-version table). */
struct zt_go_offsets {
	__u64 tls_conn_conn;  /* crypto/tls.Conn.conn: net.Conn interface {itab, data} */
	__u64 net_conn_fd;    /* net.conn.fd (*netFD); *net.TCPConn embeds net.conn first */
	__u64 netfd_pfd;      /* net.netFD.pfd (internal/poll.FD) */
	__u64 pollfd_sysfd;   /* internal/poll.FD.Sysfd (int) */
	__u64 g_goid;         /* runtime.g.goid */
	__u64 transport_request_request; /* net/http.transportRequest.Request (*Request) */
	/* gRPC (grpc-go and golang.org/x/net/http2) */
	struct zt_h2_meta_frame grpc_meta_frame;
	__u64 grpc_stream_id;        /* grpc/internal/transport.Stream.id (uint32) */
	__u64 grpc_header_frame_hf;  /* transport.headerFrame.hf ([]hpack.HeaderField) */
	__u64 grpc_header_frame_init_stream; /* transport.headerFrame.initStream (client side) */
	/* net/http's HTTP/2 server (its bundled copy of x/net/http2) */
	struct zt_h2_meta_frame http2_meta_frame;
	__u64 http2_server_conn_conn;   /* http2serverConn.conn (net.Conn) */
	__u64 http2_response_writer_rws; /* http2responseWriter.rws (*http2responseWriterState) */
	__u64 http2_response_writer_state_stream; /* http2responseWriterState.stream */
	__u64 http2_stream_id;          /* http2stream.id (uint32) */
};

/* The attach cookie of go_tls_read_data: the register holding the bytes read at its site
 * (0: RAX, the return value at a RET; others at a copy-length site inside Read). Same order as
 * symbolizer::Reg. */
enum zt_go_reg {
	ZT_GO_REG_RAX = 0, ZT_GO_REG_RBX, ZT_GO_REG_RCX, ZT_GO_REG_RDX, ZT_GO_REG_RSI,
	ZT_GO_REG_RDI, ZT_GO_REG_R8, ZT_GO_REG_R9, ZT_GO_REG_R10, ZT_GO_REG_R11,
};

/* Counters in the per-CPU `go_counters` array. */
enum zt_go_counter {
	ZT_GO_TLS_EVENTS = 0,      /* plaintext pieces emitted */
	ZT_GO_RINGBUF_FULL = 1,    /* a plaintext piece was lost */
	ZT_GO_NOT_A_SOCKET = 2,    /* the tls.Conn's fd is not a traced TCP socket */
	ZT_GO_READ_UNMATCHED = 3,  /* a Read returned without its entry being seen */
	ZT_GO_CALL_IN_REQUEST = 4, /* a client call (HTTP, gRPC) made by a goroutine serving a request */
	ZT_GO_CALL_OUTSIDE_REQUEST = 5, /* one made by any other goroutine: no parent */
	ZT_GO_H2_STREAMS = 6,      /* HTTP/2 server streams (gRPC, net/http) given a context */
	ZT_GO_H2_NO_CONNECTION = 7, /* stream headers whose connection is unknown: no context */
	ZT_GO_SARAMA_SENDS = 8,     /* sarama SendMessage calls by a goroutine serving a request */
	ZT_GO_COUNTER_COUNT = 9,
};
