// SPDX-License-Identifier: GPL-2.0
/*
 * Go runtime and library probes (uprobes; never uretprobes: a Go stack moves and the
 * return trampoline would crash the process). Attached by probes/go at sites the
 * symbolizer chose: kernel-emulated instructions (~0.6 us instead of ~10 us): near the entry,
 * and for Read's result the length test after its copy (RET sites, single-stepped and ~60 us,
 * only when that pattern is missing).
 *
 * net/http.(*persistConn).roundTrip and (*Request).write: the hand-off of an outgoing request
 * from the goroutine serving a request to the one writing it (goroutine_maps.bpf.h).
 *
 * sarama's (*syncProducer).SendMessage: sarama writes the Produce request from its own
 * goroutines, so the goroutine that produces while serving a request hands that request and
 * the message's fingerprint to userspace, as the librdkafka probes do (rdkafka_probes.h).
 *
 * crypto/tls.(*Conn).Write/Read: the plaintext of Go HTTPS servers and clients. It is emitted
 * as zt_data_event pieces on the socket under the tls.Conn, with the socket's role and
 * tuple taken from socket_trace's `conns` and its own stream positions, so userspace parses
 * it exactly like plaintext captured at the syscall layer. Request heads get a trace context
 * as at the syscall layer (http1_context.bpf.h): a server's from its traceparent, recorded for
 * the goroutine that read it; a client's parent from the goroutine writing it. (The context
 * cannot be injected into TLS: the next hop sees no traceparent but the application's.)
 *
 * Go register ABI (amd64, Go >= 1.17): arguments in RAX, RBX, RCX, RDI, RSI, R8-R11; R14 is
 * the current g (goroutine), which identifies a call across its entry and return even when
 * the goroutine moves between threads.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/socket_trace.h"
#include "bpf/go_probes.h"
#include "bpf/rdkafka_probes.h" /* zt_kafka_produce_event */
#include "bpf/socket_maps.bpf.h"
#include "bpf/goroutine_maps.bpf.h"
#include "bpf/h2_preface.bpf.h"

#include "bpf/http1_context.bpf.h"
#include "bpf/settings.bpf.h" /* traceparent_scan_bytes: of a TLS request head */
#include "bpf/trace_sampling.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* key: socket and its generation (a reused fd starts another stream); value: stream positions
 * of its TLS plaintext. Written by the probes; entries of closed sockets age out (LRU). */
struct tls_stream_key {
	__u32 tgid;
	__s32 fd;
	__u64 generation;
};
struct tls_stream {
	__u64 bytes[2]; /* by enum zt_direction */
	__u8 head_prefix_len; /* a request head split across reads (http1_context.bpf.h) */
	__u8 head_prefix[4];
	__u8 h2_state; /* enum zt_h2_state of a server's plaintext: UNDECIDED, SERVER or NOT_H2 */
	__u8 pad[2];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_stream_key);
	__type(value, struct tls_stream);
} go_tls_streams SEC(".maps");

/* key: (tgid, g from R14); value: a Read's buffer and socket between its entry and return.
 * Written at entry, deleted at return (LRU: a goroutine that dies inside Read does not leak).
 * The g address alone is not unique across processes. */
struct tls_read {
	__u64 buf;
	__s32 fd;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct tls_read);
} go_tls_reads SEC(".maps");

/* key: enum zt_go_counter; value: count on this CPU. Read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_GO_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} go_counters SEC(".maps");

/* A piece is assembled here (too big for the stack), then copied into the ring; a request
 * head is looked at here first. */
struct go_scratch {
	struct zt_data_event event;
	__u8 guard[64]; /* header parsing reads a bounded distance past a masked offset */
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct go_scratch);
} go_scratch SEC(".maps");

#define WAKEUP_THRESHOLD_BYTES (256 * 1024) /* as socket_trace: batch the reader's wakeups */

static __always_inline void count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&go_counters, &counter);
	if (c)
		*c += 1;
}

/* tls.Conn -> net.Conn interface data (*net.TCPConn) -> netFD -> poll.FD.Sysfd */
static __always_inline int tls_conn_fd(const struct zt_go_offsets *o, __u64 tls_conn)
{
	__u64 tcp_conn = 0, netfd = 0;
	__s64 fd = -1;
	if (bpf_probe_read_user(&tcp_conn, sizeof(tcp_conn), (void *)(tls_conn + o->tls_conn_conn + 8)) ||
	    bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(tcp_conn + o->net_conn_fd)) ||
	    bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + o->netfd_pfd + o->pollfd_sysfd)))
		return -1;
	return fd >= 0 && fd < (1 << 30) ? (int)fd : -1;
}

/* The TLS plaintext stream of a traced socket: its `conns` entry and stream state (new for
 * each generation of the fd). False when the fd is not a traced socket. */
static __always_inline bool tls_stream_of(struct zt_conn_key *key, struct zt_conn_info **conn,
					  struct tls_stream **stream)
{
	*conn = bpf_map_lookup_elem(&conns, key);
	if (!*conn || !(*conn)->is_traced_socket) {
		count(ZT_GO_NOT_A_SOCKET);
		return false;
	}
	struct tls_stream_key stream_key = { .tgid = key->tgid,
					     .fd = key->fd,
					     .generation = (*conn)->generation };
	*stream = bpf_map_lookup_elem(&go_tls_streams, &stream_key);
	if (!*stream) {
		/* The first calls of both directions may get here at once (Go's HTTP/2 server
		 * writes its SETTINGS on one thread while it reads the client preface on another):
		 * BPF_NOEXIST keeps the entry the other made, whose position replacing it would
		 * lose (userspace would see lost bytes and an HTTP/2 connection out of sync). */
		struct tls_stream fresh = {};
		bpf_map_update_elem(&go_tls_streams, &stream_key, &fresh, BPF_NOEXIST);
		*stream = bpf_map_lookup_elem(&go_tls_streams, &stream_key);
	}
	return *stream != NULL;
}

/* Emits `len` plaintext bytes at user address `buf` as pieces on the socket `key`; the first
 * carries `trace` (origin ZT_CTX_NONE: no context, ids are made in userspace). */
static __always_inline void emit_plaintext(const struct zt_conn_key *key,
					   const struct zt_conn_info *conn, struct tls_stream *stream,
					   __u32 tid, __u8 direction, __u64 buf, __u64 len,
					   const struct zt_trace_context *trace)
{
	__u64 timestamp_ns = bpf_ktime_get_ns();
	__u64 stream_offset = stream->bytes[direction & 1];
	stream->bytes[direction & 1] += len;

	__u32 zero = 0;
	struct go_scratch *scratch = bpf_map_lookup_elem(&go_scratch, &zero);
	struct zt_data_event *e = scratch ? &scratch->event : NULL;
	if (!e)
		return;
	e->type = ZT_EVENT_DATA;
	e->direction = direction;
	e->role = conn->role;
	e->syscall = ZT_SYS_GO_TLS;
	e->pid = key->tgid;
	e->tid = tid;
	e->fd = key->fd;
	e->generation = conn->generation | ZT_GO_TLS_GENERATION_BIT;
	e->timestamp_ns = timestamp_ns;
	e->stream_offset = stream_offset;
	e->call_bytes = len;
	e->tuple = conn->tuple;
	e->trace = *trace;
	for (__u32 i = 0; i < ZT_GO_MAX_PIECES; i++) {
		__u64 at = (__u64)i * ZT_PIECE_BYTES;
		if (at >= len)
			break;
		__u32 n = len - at > ZT_PIECE_BYTES ? ZT_PIECE_BYTES : len - at;
		bool last = at + n >= len || i == ZT_GO_MAX_PIECES - 1;
		n &= (2 * ZT_PIECE_BYTES - 1);
		if (n > ZT_PIECE_BYTES)
			n = ZT_PIECE_BYTES;
		if (bpf_probe_read_user(e->data, n, (void *)(buf + at)))
			n = 0;
		e->captured_bytes = n;
		e->call_offset = at;
		e->flags = last ? ZT_DATA_LAST_PIECE : 0;
		__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_THRESHOLD_BYTES ?
				      BPF_RB_FORCE_WAKEUP :
				      BPF_RB_NO_WAKEUP;
		if (bpf_ringbuf_output(&events, e, offsetof(struct zt_data_event, data) + n, flags)) {
			count(ZT_GO_RINGBUF_FULL);
			break;
		}
		count(ZT_GO_TLS_EVENTS);
		if (last)
			break;
		e->trace.origin = ZT_CTX_NONE; /* the context rides on the first piece only */
	}
}

/* TLS plaintext a Go program writes: a client request gets its context (the parent the
 * net/http probes handed to this goroutine), a server's response start answers the request
 * it serves. */
static __always_inline void classify_tls_write(__u32 tgid, __u64 g, struct zt_conn_info *conn,
					       __u64 buf, __u64 len, struct zt_trace_context *trace)
{
	__u32 first4 = 0;
	if (len < 5 || bpf_probe_read_user(&first4, 4, (void *)buf))
		return;
	if (conn->role == ZT_ROLE_SERVER) {
		if (first4 == METHOD4('H', 'T', 'T', 'P') &&
		    conn->responses_started < conn->requests_read)
			conn->responses_started += 1;
		return;
	}
	if (!is_request_start(first4))
		return;
	struct served_request parent;
	__u8 origin = ZT_CTX_CLIENT_ROOT;
	if (parent_by_goroutine(tgid, g, &parent, &origin)) {
		__builtin_memcpy(trace->trace_id, parent.trace_id, 16);
		__builtin_memcpy(trace->parent_span_id, parent.span_id, 8);
		trace->trace_flags = parent.trace_flags;
	} else {
		random_bytes(trace->trace_id, 16);
		trace->trace_flags = new_trace_flags(trace->trace_id);
	}
	random_bytes(trace->span_id, 8);
	trace->origin = origin;
}

/* TLS plaintext of an HTTP/2 server (gRPC over TLS): the reading goroutine is recorded, as
 * socket_trace's note_h2_server_read does for plaintext sockets, with the generation of the
 * plaintext stream (the stream contexts name that connection). */
static __always_inline void note_tls_h2_read(const struct zt_conn_key *key, __u64 g,
					     const struct zt_conn_info *conn,
					     struct tls_stream *stream, __u64 buf, __u64 n)
{
	if (stream->h2_state == ZT_H2_UNDECIDED) {
		bool preface = stream->bytes[ZT_DIR_INGRESS] == 0 && h2_preface_at(buf, n);
		stream->h2_state = preface ? ZT_H2_SERVER : ZT_H2_NOT_H2;
	}
	if (stream->h2_state != ZT_H2_SERVER)
		return;
	struct h2_reader reader = { .fd = key->fd,
				    .traced = 1,
				    .generation = conn->generation | ZT_GO_TLS_GENERATION_BIT };
	note_h2_reader(key->tgid, g, &reader);
}

/* TLS plaintext a Go server reads: a request head gets its context (from its traceparent)
 * and becomes the request this goroutine serves. The connection's request and response
 * counters are the socket's (its ciphertext never looks like HTTP). */
static __always_inline void classify_tls_read(const struct zt_conn_key *key, __u64 g,
					      struct zt_conn_info *conn, struct tls_stream *stream,
					      __u64 buf, __u64 n, struct zt_trace_context *trace)
{
	if (conn->role != ZT_ROLE_SERVER)
		return;
	note_tls_h2_read(key, g, conn, stream, buf, n);
	if (stream->h2_state == ZT_H2_SERVER)
		return; /* frames, never an HTTP/1 request head */
	struct split_head split = {};
	enum split_head_result step =
		split_head_step(&stream->head_prefix_len, stream->head_prefix, buf, n,
				conn->responses_started == conn->requests_read, &split);
	if (step == SPLIT_HEAD_KEPT)
		return;
	__u32 first4 = 0;
	if (step == SPLIT_HEAD_NONE &&
	    (n < 5 || bpf_probe_read_user(&first4, 4, (void *)buf) || !is_request_start(first4)))
		return;
	__u32 zero = 0;
	struct go_scratch *scratch = bpf_map_lookup_elem(&go_scratch, &zero);
	struct zt_data_event *e = scratch ? &scratch->event : NULL;
	if (!e)
		return;
	__u32 head = n < traceparent_scan_bytes ? n : traceparent_scan_bytes;
	if (head > ZT_PIECE_BYTES)
		head = ZT_PIECE_BYTES;
	if (bpf_probe_read_user(e->data, head, (void *)buf))
		head = 0;
	/* A traceparent beyond `head` is still found by userspace, which corrects the trace. */
	server_context_of_head(e->data, head, trace, NULL);
	if (step == SPLIT_HEAD_COMPLETED)
		trace->flags = ZT_CTX_FLAG_BEGAN_IN_PREVIOUS_CALL;
	conn->requests_read += 1;
	struct served_request served = { .fd = key->fd,
					 .generation = conn->generation,
					 .request_number = conn->requests_read,
					 .trace_flags = trace->trace_flags };
	__builtin_memcpy(served.trace_id, trace->trace_id, 16);
	__builtin_memcpy(served.span_id, trace->span_id, 8);
	struct goroutine_key gk = { .tgid = key->tgid, .g = g };
	bpf_map_update_elem(&goroutine_requests, &gk, &served, BPF_ANY);
}

/* crypto/tls.(*Conn).Write(c *Conn, b []byte) (int, error): RAX = c, RBX = b.ptr, RCX = b.len.
 * At a site near the entry: the bytes are all there before they are encrypted. */
SEC("uprobe")
int go_tls_write(struct pt_regs *ctx)
{
	if (capture_paused)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	if (!o)
		return 0;
	__s64 len = (__s64)ctx->cx;
	if (len <= 0)
		return 0;
	int fd = tls_conn_fd(o, ctx->ax);
	if (fd < 0) {
		count(ZT_GO_NOT_A_SOCKET);
		return 0;
	}
	struct zt_conn_key key = { .tgid = tgid, .fd = fd };
	struct zt_conn_info *conn;
	struct tls_stream *stream;
	if (!tls_stream_of(&key, &conn, &stream))
		return 0;
	struct zt_trace_context trace = {};
	classify_tls_write(tgid, ctx->r14, conn, ctx->bx, len, &trace);
	emit_plaintext(&key, conn, stream, (__u32)pid_tgid, ZT_DIR_EGRESS, ctx->bx, len, &trace);
	return 0;
}

/* crypto/tls.(*Conn).Read(c *Conn, b []byte) (int, error), near the entry: remember where
 * the plaintext will be, keyed by goroutine. */
SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx)
{
	if (capture_paused)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	if (!o)
		return 0;
	struct tls_read r = { .buf = ctx->bx, .fd = tls_conn_fd(o, ctx->ax) };
	if (r.fd < 0) {
		count(ZT_GO_NOT_A_SOCKET);
		return 0;
	}
	struct goroutine_key g = { .tgid = tgid, .g = ctx->r14 };
	bpf_map_update_elem(&go_tls_reads, &g, &r, BPF_ANY);
	return 0;
}

/* Each case is its own load: merged into one ctx load at a computed offset the verifier
 * would refuse ("dereference of modified ctx ptr"); the empty asm keeps them apart. */
#define ZT_REG_CASE(id, field)                    \
	if (reg == id) {                          \
		__u64 v = ctx->field;             \
		asm volatile("" : "+r"(v));       \
		return v;                         \
	}
static __always_inline __u64 reg_value(struct pt_regs *ctx, __u64 reg)
{
	ZT_REG_CASE(ZT_GO_REG_RBX, bx)
	ZT_REG_CASE(ZT_GO_REG_RCX, cx)
	ZT_REG_CASE(ZT_GO_REG_RDX, dx)
	ZT_REG_CASE(ZT_GO_REG_RSI, si)
	ZT_REG_CASE(ZT_GO_REG_RDI, di)
	ZT_REG_CASE(ZT_GO_REG_R8, r8)
	ZT_REG_CASE(ZT_GO_REG_R9, r9)
	ZT_REG_CASE(ZT_GO_REG_R10, r10)
	ZT_REG_CASE(ZT_GO_REG_R11, r11)
	return ctx->ax;
}

/* Where Read's byte count is known: preferably the jcc after its copy into b (emulated,
 * cheap; the cookie names the register holding n), else every RET (n in RAX). */
SEC("uprobe")
int go_tls_read_data(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct goroutine_key g = { .tgid = pid_tgid >> 32, .g = ctx->r14 };
	struct tls_read *r = bpf_map_lookup_elem(&go_tls_reads, &g);
	if (!r) {
		if (bpf_map_lookup_elem(&go_processes, &g.tgid))
			count(ZT_GO_READ_UNMATCHED);
		return 0;
	}
	struct tls_read copy = *r;
	bpf_map_delete_elem(&go_tls_reads, &g);
	__s64 n = (__s64)reg_value(ctx, bpf_get_attach_cookie(ctx));
	if (n <= 0)
		return 0;
	struct zt_conn_key key = { .tgid = g.tgid, .fd = copy.fd };
	struct zt_conn_info *conn;
	struct tls_stream *stream;
	if (!tls_stream_of(&key, &conn, &stream))
		return 0;
	struct zt_trace_context trace = {};
	classify_tls_read(&key, g.g, conn, stream, copy.buf, n, &trace);
	emit_plaintext(&key, conn, stream, (__u32)pid_tgid, ZT_DIR_INGRESS, copy.buf, n, &trace);
	return 0;
}

/* key: (tgid, *http.Request); value: the request being served when it was sent. Written at
 * persistConn.roundTrip (the caller's goroutine), moved to goroutine_client_parents by
 * Request.write (the connection's writeLoop). LRU: requests that never get written age out,
 * and every roundTrip rewrites its request's entry, so a reused address never finds an old
 * one. */
struct outgoing_request_key {
	__u32 tgid;
	__u32 pad;
	__u64 request;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct outgoing_request_key);
	__type(value, struct served_request);
} go_outgoing_requests SEC(".maps");

/* net/http.(*persistConn).roundTrip(pc *persistConn, req *transportRequest): RAX = pc,
 * RBX = req, which embeds the *Request. Runs in the goroutine that makes the call. */
SEC("uprobe")
int go_http_round_trip(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	if (!o)
		return 0;
	struct outgoing_request_key out = { .tgid = tgid };
	if (bpf_probe_read_user(&out.request, sizeof(out.request),
				(void *)(ctx->bx + o->transport_request_request)) ||
	    !out.request)
		return 0;
	struct goroutine_key g = { .tgid = tgid, .g = ctx->r14 };
	struct served_request *served = bpf_map_lookup_elem(&goroutine_requests, &g);
	if (served) {
		bpf_map_update_elem(&go_outgoing_requests, &out, served, BPF_ANY);
		count(ZT_GO_CALL_IN_REQUEST);
	} else {
		bpf_map_delete_elem(&go_outgoing_requests, &out);
		count(ZT_GO_CALL_OUTSIDE_REQUEST);
	}
	return 0;
}

/* net/http.(*Request).write(r *Request, w io.Writer, ...): RAX = r. Runs in the goroutine
 * that writes the request (the connection's writeLoop for Transport requests). */
SEC("uprobe")
int go_http_request_write(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&go_processes, &tgid))
		return 0;
	struct outgoing_request_key out = { .tgid = tgid, .request = ctx->ax };
	struct goroutine_key g = { .tgid = tgid, .g = ctx->r14 };
	struct served_request *parent = bpf_map_lookup_elem(&go_outgoing_requests, &out);
	if (parent) {
		struct goroutine_client_parent handed = { .parent = *parent, .request = ctx->ax };
		bpf_map_update_elem(&goroutine_client_parents, &g, &handed, BPF_ANY);
		bpf_map_delete_elem(&go_outgoing_requests, &out);
		return 0;
	}
	/* No parent for this request: none handed earlier may stay for it. (A second hit for
	 * the same request, at a site the stack-growth path passes twice, keeps the hand-off.) */
	struct goroutine_client_parent *earlier = bpf_map_lookup_elem(&goroutine_client_parents, &g);
	if (earlier && earlier->request != ctx->ax)
		bpf_map_delete_elem(&goroutine_client_parents, &g);
	return 0;
}

/* ---- HTTP/2 servers (grpc-go, net/http): server streams and the calls their handlers make
 * (goroutine_maps.bpf.h) ---- */

/* hpack.HeaderField {Name, Value string; Sensitive bool} (golang.org/x/net/http2/hpack, and
 * its copy bundled in net/http): public API, unchanged since it was written. */
#define HPACK_FIELD_BYTES 40
#define H2_MAX_HEADER_FIELDS 64

/* key: (tgid, server connection object, stream id); value: the stream's context. Written where
 * its headers are decoded, taken by the goroutine that serves it. LRU: streams refused before
 * a handler runs age out. */
struct server_stream_key {
	__u32 tgid;
	__u32 stream_id;
	__u64 server_conn; /* grpc's *transport.http2Server, net/http's *http2serverConn */
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct server_stream_key);
	__type(value, struct served_request);
} h2_server_streams SEC(".maps");

/* key: (tgid, server connection object); value: its connection. grpc-go: written when the
 * goroutine that accepted the connection (and read its preface) handles the client's first
 * SETTINGS (the goroutine reading the connection later may find its first streams already
 * buffered). net/http: resolved from the object's TLS connection at its first stream. */
struct server_conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 server_conn;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct server_conn_key);
	__type(value, struct h2_reader);
} h2_server_conns SEC(".maps");

/* key: (tgid, address of a client stream's header fields); value: the request served by the
 * goroutine that opened the stream. Written when the stream's headers are queued, moved to
 * h2_stream_parents when the writer goroutine takes them. */
struct outgoing_headers_key {
	__u32 tgid;
	__u32 pad;
	__u64 fields;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct outgoing_headers_key);
	__type(value, struct served_request);
} grpc_outgoing_headers SEC(".maps");

/* The search of a header list for "traceparent": the list is copied in one read (most of
 * its fields are skipped by their name's length alone), then walked by bpf_loop. Per CPU:
 * too big for the stack. */
struct field_search {
	__u8 fields[H2_MAX_HEADER_FIELDS * HPACK_FIELD_BYTES];
	__u32 count;
	__u32 pad;
	__u64 value;     /* the value's address, 0 while not found */
	__u64 value_len;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct field_search);
} field_searches SEC(".maps");

struct hpack_field {
	__u64 name, name_len, value, value_len;
};

static long find_traceparent_field(__u32 index, void *arg)
{
	struct field_search *search = *(struct field_search **)arg;
	if (index >= search->count || index >= H2_MAX_HEADER_FIELDS)
		return 1;
	__u32 slot = index;
	asm volatile("" : "+r"(slot)); /* keeps the mask the verifier needs */
	slot &= H2_MAX_HEADER_FIELDS - 1;
	const struct hpack_field *field = (const void *)&search->fields[slot * HPACK_FIELD_BYTES];
	char name[11];
	/* HTTP/2 field names are lowercase (RFC 9113 8.2.1). */
	if (field->name_len != sizeof(name) ||
	    bpf_probe_read_user(name, sizeof(name), (void *)field->name) ||
	    __builtin_memcmp(name, "traceparent", sizeof(name)) != 0)
		return 0;
	search->value = field->value;
	search->value_len = field->value_len;
	return 1;
}

/* A server stream whose headers (the MetaHeadersFrame at `frame`, fields decoded: HPACK,
 * Huffman and all) arrived on `conn` of the server connection object `server_conn`: its SERVER
 * span's context, from its traceparent, is sent to userspace and kept for the goroutine that
 * will serve it (server_stream_served). */
static __always_inline void server_stream_started(__u32 tgid, const struct h2_reader *conn,
						  __u64 server_conn, __u64 frame,
						  const struct zt_h2_meta_frame *layout)
{
	__u64 headers_frame = 0;
	__u32 stream_id = 0;
	struct {
		__u64 ptr, len;
	} fields = {};
	if (bpf_probe_read_user(&headers_frame, sizeof(headers_frame),
				(void *)(frame + layout->headers_frame)) ||
	    bpf_probe_read_user(&stream_id, sizeof(stream_id),
				(void *)(headers_frame + layout->stream_id)) ||
	    bpf_probe_read_user(&fields, sizeof(fields), (void *)(frame + layout->fields)))
		return;

	__u32 zero = 0;
	struct go_scratch *scratch = bpf_map_lookup_elem(&go_scratch, &zero);
	struct field_search *search = bpf_map_lookup_elem(&field_searches, &zero);
	if (!scratch || !search)
		return;
	search->count = fields.len < H2_MAX_HEADER_FIELDS ? fields.len : H2_MAX_HEADER_FIELDS;
	search->value = 0;
	search->value_len = 0;
	__u32 bytes = search->count * HPACK_FIELD_BYTES;
	if (bytes > sizeof(search->fields))
		bytes = sizeof(search->fields);
	if (bpf_probe_read_user(search->fields, bytes, (void *)fields.ptr))
		return;
	bpf_loop(H2_MAX_HEADER_FIELDS, find_traceparent_field, &search, 0);
	int value = -1;
	__u64 value_len = search->value_len;
	if (search->value) {
		value = 0; /* present: malformed unless it parses */
		if (value_len == TRACEPARENT_VALUE_BYTES &&
		    bpf_probe_read_user(scratch->event.data, TRACEPARENT_VALUE_BYTES,
					(void *)search->value))
			value_len = 0;
	}
	struct zt_h2_stream_event ev = { .type = ZT_EVENT_H2_STREAM_CONTEXT,
					 .pid = tgid,
					 .fd = conn->fd,
					 .stream_id = stream_id,
					 .generation = conn->generation };
	server_context(scratch->event.data, value,
		       value_len == TRACEPARENT_VALUE_BYTES ? TRACEPARENT_VALUE_BYTES : 0, &ev.trace);
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_THRESHOLD_BYTES ?
			      BPF_RB_FORCE_WAKEUP :
			      BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), flags)) {
		count(ZT_GO_RINGBUF_FULL);
		return;
	}
	count(ZT_GO_H2_STREAMS);

	struct served_request served = { .trace_flags = ev.trace.trace_flags,
					 .is_stream = 1,
					 .fd = conn->fd,
					 .generation = conn->generation };
	__builtin_memcpy(served.trace_id, ev.trace.trace_id, 16);
	__builtin_memcpy(served.span_id, ev.trace.span_id, 8);
	struct server_stream_key key = { .tgid = tgid, .stream_id = stream_id,
					 .server_conn = server_conn };
	bpf_map_update_elem(&h2_server_streams, &key, &served, BPF_ANY);
}

/* The goroutine g starts serving stream `stream_id` of `server_conn`: its request now. (A miss
 * keeps what the goroutine had: the stack-growth path passes a site twice, and the first hit
 * took the stream.) */
static __always_inline void server_stream_served(__u32 tgid, __u64 g, __u64 server_conn,
						 __u32 stream_id)
{
	struct server_stream_key key = { .tgid = tgid, .stream_id = stream_id,
					 .server_conn = server_conn };
	struct served_request *served = bpf_map_lookup_elem(&h2_server_streams, &key);
	if (!served)
		return;
	struct goroutine_key gk = { .tgid = tgid, .g = g };
	bpf_map_update_elem(&goroutine_requests, &gk, served, BPF_ANY);
	bpf_map_delete_elem(&h2_server_streams, &key);
}

/* transport.(*http2Server).operateHeaders(t, frame *http2.MetaHeadersFrame, ...): RAX = t,
 * RBX = frame (grpc-go 1.60 added a ctx first: not probed, probe_table.h). Runs in the
 * goroutine that reads the connection. */
SEC("uprobe")
int go_grpc_server_headers(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	if (!o)
		return 0;
	struct server_conn_key key = { .tgid = tgid, .server_conn = ctx->ax };
	struct h2_reader *conn = bpf_map_lookup_elem(&h2_server_conns, &key);
	if (!conn) {
		struct goroutine_key reader_key = { .tgid = tgid, .g = ctx->r14 };
		conn = bpf_map_lookup_elem(&goroutine_h2_readers, &reader_key);
	}
	if (!conn) {
		count(ZT_GO_H2_NO_CONNECTION);
		return 0;
	}
	if (!conn->traced)
		return 0; /* not selected: nothing to link */
	server_stream_started(tgid, conn, ctx->ax, ctx->bx, &o->grpc_meta_frame);
	return 0;
}

/* transport.(*http2Server).handleSettings(t, f *http2.SettingsFrame): RAX = t. The first call
 * is in the goroutine that read the connection's preface (newHTTP2Server): the transport's
 * connection is the one that goroutine reads. */
SEC("uprobe")
int go_grpc_server_settings(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct goroutine_key reader_key = { .tgid = tgid, .g = ctx->r14 };
	struct h2_reader *reader = bpf_map_lookup_elem(&goroutine_h2_readers, &reader_key);
	if (!reader)
		return 0;
	struct server_conn_key key = { .tgid = tgid, .server_conn = ctx->ax };
	bpf_map_update_elem(&h2_server_conns, &key, reader, BPF_ANY);
	return 0;
}

/* grpc.(*Server).handleStream(s, t ServerTransport, stream *transport.Stream, ...): RCX = t's
 * data (*http2Server), RDI = stream. Runs in the goroutine that serves the stream. */
SEC("uprobe")
int go_grpc_handle_stream(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	__u32 stream_id = 0;
	if (!o || bpf_probe_read_user(&stream_id, sizeof(stream_id),
				      (void *)(ctx->di + o->grpc_stream_id)))
		return 0;
	server_stream_served(tgid, ctx->r14, ctx->cx, stream_id);
	return 0;
}

/* net/http.(*http2serverConn).processHeaders(sc, f *http2MetaHeadersFrame): RAX = sc, RBX = f.
 * Runs in the connection's serve goroutine (frames come from a reading goroutine over a
 * channel): the connection is sc.conn, a *tls.Conn (net/http serves HTTP/2 over TLS; h2c
 * wrappers are not followed), checked to be a socket whose TLS plaintext began with the
 * preface. */
SEC("uprobe")
int go_http2_server_headers(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	if (!o)
		return 0;
	struct server_conn_key key = { .tgid = tgid, .server_conn = ctx->ax };
	struct h2_reader *conn = bpf_map_lookup_elem(&h2_server_conns, &key);
	if (!conn) {
		__u64 tls_conn = 0;
		if (bpf_probe_read_user(&tls_conn, sizeof(tls_conn),
					(void *)(ctx->ax + o->http2_server_conn_conn + 8)))
			return 0;
		struct zt_conn_key socket = { .tgid = tgid, .fd = tls_conn_fd(o, tls_conn) };
		struct zt_conn_info *info = socket.fd >= 0 ? bpf_map_lookup_elem(&conns, &socket) : NULL;
		if (info && !info->is_traced_socket)
			return 0; /* not selected: nothing to link */
		struct tls_stream_key stream_key = { .tgid = tgid, .fd = socket.fd,
						     .generation = info ? info->generation : 0 };
		struct tls_stream *stream =
			info ? bpf_map_lookup_elem(&go_tls_streams, &stream_key) : NULL;
		if (!info || !stream || stream->h2_state != ZT_H2_SERVER) {
			count(ZT_GO_H2_NO_CONNECTION);
			return 0;
		}
		struct h2_reader found = { .fd = socket.fd,
					   .generation = info->generation | ZT_GO_TLS_GENERATION_BIT };
		bpf_map_update_elem(&h2_server_conns, &key, &found, BPF_ANY);
		conn = bpf_map_lookup_elem(&h2_server_conns, &key);
		if (!conn)
			return 0;
	}
	server_stream_started(tgid, conn, ctx->ax, ctx->bx, &o->http2_meta_frame);
	return 0;
}

/* net/http.(*http2serverConn).runHandler(sc, rw *http2responseWriter, req, handler): RAX = sc,
 * RBX = rw; the stream id is rw.rws.stream.id. The goroutine it starts in serves the stream. */
SEC("uprobe")
int go_http2_run_handler(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	__u64 state = 0, stream = 0;
	__u32 stream_id = 0;
	if (!o ||
	    bpf_probe_read_user(&state, sizeof(state),
				(void *)(ctx->bx + o->http2_response_writer_rws)) ||
	    bpf_probe_read_user(&stream, sizeof(stream),
				(void *)(state + o->http2_response_writer_state_stream)) ||
	    bpf_probe_read_user(&stream_id, sizeof(stream_id),
				(void *)(stream + o->http2_stream_id)))
		return 0;
	server_stream_served(tgid, ctx->r14, ctx->ax, stream_id);
	return 0;
}

/* The serving goroutine ends its stream (grpc-go's http2Server.WriteStatus, net/http's
 * http2responseWriter.handlerDone): its later calls have no parent. */
SEC("uprobe")
int go_h2_stream_done(struct pt_regs *ctx)
{
	struct goroutine_key g = { .tgid = bpf_get_current_pid_tgid() >> 32, .g = ctx->r14 };
	bpf_map_delete_elem(&goroutine_requests, &g);
	return 0;
}

/* transport.(*controlBuffer).executeAndPut(c, f, it cbItem): RBX = f, RDI = it's data. With a
 * check function and a client headerFrame (initStream set): a goroutine opening a client
 * stream queues its headers (http2Client.NewStream; put() passes no f). The stream id is
 * chosen under the buffer's lock inside, so the header fields' address is the key. */
SEC("uprobe")
int go_grpc_queue_headers(struct pt_regs *ctx)
{
	if (!ctx->bx)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct zt_go_offsets *o = bpf_map_lookup_elem(&go_processes, &tgid);
	if (!o)
		return 0;
	__u64 init_stream = 0;
	struct {
		__u64 ptr, len, cap;
	} hf = {};
	if (bpf_probe_read_user(&init_stream, sizeof(init_stream),
				(void *)(ctx->di + o->grpc_header_frame_init_stream)) ||
	    bpf_probe_read_user(&hf, sizeof(hf), (void *)(ctx->di + o->grpc_header_frame_hf)))
		return 0;
	/* Other items (window updates) also come with a check function. */
	if (!init_stream || !hf.ptr || !hf.len || hf.len > hf.cap || hf.cap > 4096)
		return 0;
	struct goroutine_key g = { .tgid = tgid, .g = ctx->r14 };
	struct served_request *served = bpf_map_lookup_elem(&goroutine_requests, &g);
	struct outgoing_headers_key key = { .tgid = tgid, .fields = hf.ptr };
	if (served) {
		bpf_map_update_elem(&grpc_outgoing_headers, &key, served, BPF_ANY);
		count(ZT_GO_CALL_IN_REQUEST);
	} else {
		bpf_map_delete_elem(&grpc_outgoing_headers, &key);
		count(ZT_GO_CALL_OUTSIDE_REQUEST);
	}
	return 0;
}

/* transport.(*loopyWriter).writeHeader(l, streamID uint32, endStream bool,
 * hf []hpack.HeaderField, onWrite): RBX = streamID, RDI = hf's address. Runs in the goroutine
 * that writes the connection, which now knows the stream id of queued headers. */
SEC("uprobe")
int go_grpc_write_header(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct outgoing_headers_key key = { .tgid = tgid, .fields = ctx->di };
	struct served_request *parent = bpf_map_lookup_elem(&grpc_outgoing_headers, &key);
	if (!parent)
		return 0;
	struct h2_stream_key stream = { .tgid = tgid, .stream_id = (__u32)ctx->bx, .g = ctx->r14 };
	bpf_map_update_elem(&h2_stream_parents, &stream, parent, BPF_ANY);
	bpf_map_delete_elem(&grpc_outgoing_headers, &key);
	return 0;
}

/* The first bytes of a Go string or []byte (both start with pointer, length) into dst. */
static __always_inline __u16 go_bytes_prefix(__u8 *dst, __u64 ptr, __u64 len)
{
	if (!ptr || !len)
		return 0;
	__u32 n = len < ZT_RDKAFKA_PREFIX_BYTES ? len : ZT_RDKAFKA_PREFIX_BYTES;
	if (bpf_probe_read_user(dst, n & (ZT_RDKAFKA_PREFIX_BYTES * 2 - 1), (void *)ptr))
		return 0;
	return n;
}

/* A sarama Encoder interface (itab, data) holding a StringEncoder or ByteEncoder: data points
 * at the string or slice header. *bytes: its length, ZT_RDKAFKA_ABSENT for a nil Encoder. */
static __always_inline __u16 go_encoder_prefix(__u8 *dst, __u64 itab, __u64 data, __u64 *bytes)
{
	__u64 header[2] = {};
	*bytes = ZT_RDKAFKA_ABSENT;
	if (!itab)
		return 0;
	if (!data || bpf_probe_read_user(header, sizeof(header), (void *)data))
		return 0xffff; /* unreadable: the event is dropped */
	*bytes = header[1];
	return go_bytes_prefix(dst, header[0], header[1]);
}

/* github.com/{Shopify,IBM}/sarama.(*syncProducer).SendMessage(sp, msg *ProducerMessage): RAX =
 * sp, RBX = msg, whose first fields are Topic string, Key Encoder, Value Encoder. */
SEC("uprobe")
int go_sarama_send_message(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&go_processes, &tgid))
		return 0;
	struct goroutine_key g = { .tgid = tgid, .g = ctx->r14 };
	struct served_request *served = bpf_map_lookup_elem(&goroutine_requests, &g);
	if (!served || !served_request_open(tgid, served)) {
		count(ZT_GO_CALL_OUTSIDE_REQUEST);
		return 0;
	}
	struct served_request parent = *served;
	__u64 msg[6] = {}; /* topic ptr, len; key itab, data; value itab, data */
	if (bpf_probe_read_user(msg, sizeof(msg), (void *)ctx->bx) || !msg[1] ||
	    msg[1] >= ZT_RDKAFKA_TOPIC_BYTES)
		return 0; /* a name this event cannot hold would match any topic's messages */
	struct zt_kafka_produce_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(ZT_GO_RINGBUF_FULL);
		return 0;
	}
	e->type = ZT_EVENT_KAFKA_PRODUCE_CALL;
	e->call = ZT_SARAMA_SEND_MESSAGE;
	e->trace_flags = parent.trace_flags;
	e->pad = 0;
	e->pid = tgid;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->pad2 = 0;
	e->pad3 = 0;
	e->timestamp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->trace_id, parent.trace_id, 16);
	__builtin_memcpy(e->parent_span_id, parent.span_id, 8);
	e->topic_bytes = msg[1];
	if (bpf_probe_read_user(e->topic, msg[1] & (ZT_RDKAFKA_TOPIC_BYTES - 1), (void *)msg[0])) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	e->key_captured = go_encoder_prefix(e->key, msg[2], msg[3], &e->key_bytes);
	e->value_captured = go_encoder_prefix(e->value, msg[4], msg[5], &e->value_bytes);
	bpf_ringbuf_submit(e, ring_flags());
	count(ZT_GO_SARAMA_SENDS);
	return 0;
}
