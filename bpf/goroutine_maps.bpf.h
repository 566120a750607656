/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Linking by goroutine (Go processes): the maps socket_trace.bpf.c and go_probes.bpf.c share.
 * socket_trace owns them and go_probes reuses their fds, so both declare them identically.
 *
 * Go's goroutines move between threads, so a Go server's requests are followed by the g
 * (R14 in Go code, still there at the entry of a syscall Go makes). The goroutine that reads
 * a request head serves it (net/http's conn.serve runs the handler); its outgoing call is
 * handed to the connection's writeLoop goroutine, which the net/http probes follow:
 *   request head read by g1          -> goroutine_requests[g1]
 *   persistConn.roundTrip(req) in g1 -> (go_probes) parent of req
 *   Request.write(req) in g2         -> goroutine_client_parents[g2]
 *   write() of the request by g2     -> the client span's parent
 *
 * gRPC (grpc-go, HTTP/2): a connection's frames are read by one goroutine, each stream is
 * served by a goroutine of its own, and a connection's frames are written by its loopy
 * writer goroutine:
 *   read() on an HTTP/2 server socket by g1      -> goroutine_h2_readers[g1]
 *   http2Server.operateHeaders in g1             -> (go_probes) the stream's context
 *   Server.handleStream(stream) in g2            -> goroutine_requests[g2]
 *   controlBuffer.executeAndPut(headers) in g2   -> (go_probes) parent of the header fields
 *   loopyWriter.writeHeader(id, fields) in g3    -> h2_stream_parents[g3, id]
 *   write() of the stream's HEADERS by g3        -> the client span's parent
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/go_probes.h"
#include "bpf/socket_trace.h"

struct goroutine_key {
	__u32 tgid;
	__u32 pad;
	__u64 g; /* address of the runtime.g; unique in its process while the goroutine lives */
};

/* A request a server is serving, as the thread or goroutine that read its head knows it. */
struct served_request {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 trace_flags;
	/* An HTTP/2 stream: its end is seen by a probe (which deletes it), not by the
	 * connection's request and response counters. */
	__u8 is_stream;
	__u8 pad[2];
	__s32 fd;
	__u64 generation;
	__u32 request_number; /* the connection's requests_read once this one was read */
	__u32 pad2;
	__u64 line_hash;      /* key of its open_requests_by_line entry (0: none) */
};

/* key: tgid; value: offsets of its binary. Written by userspace (probes/go) when the Go
 * probes attach to a process, deleted at exit. A process without an entry is neither traced
 * by the Go probes nor linked by goroutine. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct zt_go_offsets);
} go_processes SEC(".maps");

/* key: (tgid, g); value: the request the goroutine serves. Written when it reads a request
 * head; LRU: goroutines that end age out, and a stale entry is recognised by its connection's
 * response counter. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct served_request);
} goroutine_requests SEC(".maps");

/* The parent of the request a goroutine is about to write. */
struct goroutine_client_parent {
	struct served_request parent;
	__u64 request; /* the *http.Request being written */
};

/* key: (tgid, g) of the goroutine writing a client request; value: its parent. Written by
 * go_probes at Request.write; taken (deleted) by socket_trace at the request's first write. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct goroutine_client_parent);
} goroutine_client_parents SEC(".maps");

/* The HTTP/2 server connection a goroutine reads (go_probes: the stream whose headers it
 * decodes arrived there). */
struct h2_reader {
	__s32 fd;
	__u8 traced; /* the socket is traced (selected by the port rules) */
	__u8 pad[3];
	__u64 generation; /* as in the connection's data events (TLS plaintext: with its bit) */
};

/* key: (tgid, g) of a goroutine that read an HTTP/2 server connection; value: that
 * connection. Written by socket_trace at each read (only when it changed), for untraced
 * sockets too (their streams are then skipped, not counted as unknown); LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct h2_reader);
} goroutine_h2_readers SEC(".maps");

/* Records that goroutine g of tgid reads the HTTP/2 server connection `reader` (written only
 * when that changed: a connection's reading goroutine reads it for its whole life). */
static __always_inline void note_h2_reader(__u32 tgid, __u64 g, const struct h2_reader *reader)
{
	struct goroutine_key key = { .tgid = tgid, .g = g };
	struct h2_reader *known = bpf_map_lookup_elem(&goroutine_h2_readers, &key);
	if (known && known->fd == reader->fd && known->generation == reader->generation)
		return;
	bpf_map_update_elem(&goroutine_h2_readers, &key, reader, BPF_ANY);
}

struct h2_stream_key {
	__u32 tgid;
	__u32 stream_id;
	__u64 g; /* the goroutine that writes the connection's frames */
};

/* key: (tgid, writer goroutine, client stream id); value: the parent of the stream's CLIENT
 * span. Written by go_probes when the writer takes the stream's header fields; taken by
 * socket_trace when the stream's HEADERS frame is written. LRU: streams whose HEADERS are
 * never seen age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct h2_stream_key);
	__type(value, struct served_request);
} h2_stream_parents SEC(".maps");

/* The goroutine (its g) of a Go process in a syscall, 0 for other processes. Go makes
 * syscalls from Go code (runtime/internal/syscall.Syscall6 is ABIInternal since Go 1.19),
 * where R14 holds g; the task's saved user registers still have it at the syscall. */
static __always_inline __u64 current_goroutine(__u32 tgid)
{
	if (!bpf_map_lookup_elem(&go_processes, &tgid))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 g = 0;
	if (!regs || bpf_probe_read_kernel(&g, sizeof(g), &regs->r14))
		return 0;
	return g;
}
