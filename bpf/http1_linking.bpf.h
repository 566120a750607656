/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel linking of HTTP/1.x requests (syscall layer): the trace context a request head
 * gets, and the parent of the client requests made while serving it.
 *
 * A thread that reads a request head serves that request until its connection starts an
 * answer: a client request the same thread writes meanwhile is its child. Threads seen
 * reading a second request while one is unanswered multiplex requests (event loops): their
 * client requests get no parent rather than a possibly wrong one. Processes whose threads do
 * not map to requests at all are not marked thread-linkable by userspace; Go processes are
 * linked by goroutine instead (goroutine_maps.bpf.h).
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/data_capture.bpf.h"
#include "bpf/goroutine_maps.bpf.h"
#include "bpf/http1_context.bpf.h"
#include "bpf/kafka_request.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/trace_sampling.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"
#include "bpf/syscall_args.bpf.h"
#include "bpf/thread_linking.bpf.h"

/* An unanswered request a process serves, found by its request line. */
struct line_key {
	__u32 tgid;
	__u32 pad;
	__u64 line_hash; /* FNV-1a of "METHOD target" */
};
struct open_request {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 trace_flags;
	__u8 ambiguous; /* two unanswered requests with this line: never matched */
	__u8 pad[2];
	__s32 fd;
	__u64 generation;
	__u32 request_number;
	__u32 pad2;
};

/* key: (tgid, request line hash); value: the latest request read with that line. Written when
 * a request head is read; LRU: answered requests age out (a stale one is recognised by its
 * connection's response counter). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct line_key);
	__type(value, struct open_request);
} open_requests_by_line SEC(".maps");

#define REQUEST_LINE_HASH_MAX_BYTES 256 /* a longer request line is not matched */
#define REQUEST_LINE_WORDS (REQUEST_LINE_HASH_MAX_BYTES / 8)
#define HTTP_VERSION_BYTES 9 /* " HTTP/1.1" ends the request line before its CRLF */
#define LINE_HASH_SEED 0xcbf29ce484222325ULL  /* FNV-1a's offset basis and prime, */
#define LINE_HASH_PRIME 0x100000001b3ULL      /* taken 8 bytes at a time */

/* The first bytes of a request head, as the request line hash takes them: a global function's
 * argument is checked against its type's size. Room for a word read at a masked offset. */
struct line_bytes {
	__u8 b[2 * REQUEST_LINE_HASH_MAX_BYTES + 8];
};

/* The 8 bytes at data[off] as a little-endian u64, those at or past len zero. */
static __always_inline __u64 line_word(const __u8 *data, __u32 off, __u32 len)
{
	__u64 w;
	__builtin_memcpy(&w, &data[off & (2 * REQUEST_LINE_HASH_MAX_BYTES - 1)], 8);
	if (off + 8 > len)
		w &= (1ULL << (8 * ((len - off) & 7))) - 1;
	return w;
}

/* Position after the first LF in data[0..len) within REQUEST_LINE_HASH_MAX_BYTES, 0: none. A
 * bounded loop over words: a request line takes a few steps. */
static __always_inline __u32 request_line_end(const __u8 *data, __u32 len)
{
	for (__u32 i = 0; i < REQUEST_LINE_WORDS; i++) {
		__u32 off = i * 8;
		if (off >= len)
			return 0;
		__u64 newlines = HAS_NEWLINE(line_word(data, off, len)); /* exact in its lowest flag */
		if (newlines) {
			__u64 first = (newlines & -newlines) >> 7;
			return off + ((first * 0x0102030405060708ULL) >> 56);
		}
	}
	return 0;
}

/* Where a request line begins and ends in the bytes a read or write brought. */
struct request_line {
	__u32 first4;   /* the line's first 4 bytes (some may come from a previous read) */
	__u32 rest;     /* position in the data of the line's 5th byte */
	__u32 line_end; /* position in the data after the line's LF, 0: not known yet */
};

/* Hash of "METHOD target" of the request line in data[0..len): its first 4 bytes, then the
 * bytes from its 5th up to the space before the HTTP version, 8 at a time, then their count.
 * Both sides (a request read, a request written) hash the same way, whatever the reads'
 * boundaries: the line's first 4 bytes are the only ones a split head (http1_context.bpf.h)
 * brings separately. 0 when there is no whole line with a version in the first
 * REQUEST_LINE_HASH_MAX_BYTES (a cut line is not matched). A global function: the verifier
 * checks its two bounded loops once, not again in every state of the write and read paths
 * that reach it (inlined, they took enter_write from 44k to 396k verified instructions). */
__noinline __u64 request_line_hash(const struct line_bytes *bytes, __u32 len,
				   const struct request_line *line)
{
	if (!bytes || !line)
		return 0;
	const __u8 *data = bytes->b;
	if (len > REQUEST_LINE_HASH_MAX_BYTES)
		len = REQUEST_LINE_HASH_MAX_BYTES;
	__u32 rest = line->rest;
	__u32 end = line->line_end;
	if (!end || end > len)
		end = request_line_end(data, len);
	if (!end || end > REQUEST_LINE_HASH_MAX_BYTES)
		return 0;
	end -= 1; /* the LF */
	if (end && data[(end - 1) & (REQUEST_LINE_HASH_MAX_BYTES - 1)] == '\r')
		end -= 1;
	if (end < rest + HTTP_VERSION_BYTES || rest > 4)
		return 0;
	end -= HTTP_VERSION_BYTES;
	__u64 version;
	__builtin_memcpy(&version, &data[end & (REQUEST_LINE_HASH_MAX_BYTES - 1)], 8);
	if ((version & 0xffffffffffffULL) != 0x2f5054544820ULL) /* " HTTP/" */
		return 0;
	__u64 hash = (LINE_HASH_SEED ^ line->first4) * LINE_HASH_PRIME;
	for (__u32 i = 0; i < REQUEST_LINE_WORDS; i++) {
		__u32 off = rest + i * 8;
		if (off >= end)
			break;
		hash = (hash ^ line_word(data, off, end)) * LINE_HASH_PRIME;
	}
	hash = (hash ^ (end - rest)) * LINE_HASH_PRIME;
	return hash ? hash : 1;
}

/* The request line of a head that starts in data[0..len) (the first 4 bytes there). */
static __always_inline struct request_line request_line_at_start(const __u8 *data, __u32 len)
{
	struct request_line line = { .rest = 4 };
	if (len >= 4)
		__builtin_memcpy(&line.first4, data, 4);
	return line;
}

/* The request line a server read starts, or continues when it completes a split head. */
static __always_inline struct request_line line_of_read(__u32 first4,
							const struct split_head *split)
{
	struct request_line line = { .first4 = first4, .rest = 4 };
	if (split && split->prefix_len && split->prefix_len <= 4) {
		__u32 have = split->prefix_len, prefix;
		__builtin_memcpy(&prefix, split->prefix, 4); /* bytes past prefix_len are 0 */
		line.first4 = (__u32)((__u64)prefix | (__u64)first4 << (8 * have));
		line.rest = 4 - have;
	}
	return line;
}

/* The read that brought a request head (the arguments of on_server_request). */
struct head_read {
	__u64 pid_tgid;
	struct request_line line; /* line_end is filled in by the traceparent scan */
	__u32 head_bytes;
	__s32 fd;
};

/* A request head was read on a server socket: start (or continue) its trace and make it the
 * thread's current request. The head's first bytes are already in s->event.data, after the
 * first bytes of its line read->line names (a head split across reads). A global function
 * (not inlined): the verifier checks it once on its own, not once per state the syscall's classification
 * reaches it with (which took the ingress programs near the verifier's 1M-instruction
 * limit). */
__noinline int on_server_request(struct data_scratch *s, struct zt_conn_info *info,
				 const struct head_read *read)
{
	if (!s || !info || !read)
		return 0;
	__u64 pid_tgid = read->pid_tgid;
	__u32 head_bytes = read->head_bytes;
	int fd = read->fd;
	struct request_line line = read->line;
	struct zt_trace_context *ctx = &s->event.trace;
	int value = server_context_of_head(s->event.data, head_bytes, ctx, &line.line_end);
	/* Some servers read a head in pieces: keep looking in the connection's next read. */
	info->head_pending = value == TRACEPARENT_UNKNOWN;

	info->requests_read += 1;
	struct line_key lkey = { .tgid = pid_tgid >> 32,
				 .line_hash = request_line_hash((const struct line_bytes *)s->event.data,
							       head_bytes, &line) };
	if (lkey.line_hash) {
		struct open_request open = {};
		struct open_request *same_line = bpf_map_lookup_elem(&open_requests_by_line, &lkey);
		if (same_line && request_unanswered(lkey.tgid, same_line->fd, same_line->generation,
						    same_line->request_number))
			open.ambiguous = 1;
		__builtin_memcpy(open.trace_id, ctx->trace_id, 16);
		__builtin_memcpy(open.span_id, ctx->span_id, 8);
		open.trace_flags = ctx->trace_flags;
		open.fd = fd;
		open.generation = info->generation;
		open.request_number = info->requests_read;
		bpf_map_update_elem(&open_requests_by_line, &lkey, &open, BPF_ANY);
	}

	struct served_request current = {};
	served_request_of(&current, ctx, fd, info);
	current.line_hash = lkey.line_hash;
	thread_serves(pid_tgid, &current);
	struct goroutine_key g = { .tgid = pid_tgid >> 32, .g = current_goroutine(pid_tgid >> 32) };
	if (g.g)
		bpf_map_update_elem(&goroutine_requests, &g, &current, BPF_ANY);
	return 0;
}

/* The next read of a request head that continued past its first read: a traceparent found
 * here still becomes the trace of the thread's request (before any child call is written). */
__noinline int on_server_head_continued(struct data_scratch *s, struct zt_conn_info *info,
					const struct head_read *read)
{
	if (!s || !info || !read)
		return 0;
	__u64 pid_tgid = read->pid_tgid;
	__u32 bytes = read->head_bytes;
	int fd = read->fd;
	info->head_pending = 0;
	struct zt_trace_context header = {};
	int value = find_traceparent(s->event.data, bytes, NULL);
	if (value < 0 && bytes >= 12 + TRACEPARENT_VALUE_BYTES) {
		/* the header may start this read: the scan only looks after line feeds */
		__u64 head;
		__u32 tail;
		__builtin_memcpy(&head, &s->event.data[0], 8);
		__builtin_memcpy(&tail, &s->event.data[8], 4);
		if (LOWER8(head) == *(const __u64 *)"tracepar" &&
		    (tail | 0x20202020) == *(const __u32 *)"ent:")
			value = 12;
	}
	if (value == TRACEPARENT_UNKNOWN)
		info->head_pending = 1;
	if (value < 0 || !parse_traceparent(s->event.data, value, bytes, &header))
		return 0;
	struct served_request *served = bpf_map_lookup_elem(&thread_requests, &pid_tgid);
	if (!served || served->fd != fd || served->generation != info->generation)
		return 0;
	__builtin_memcpy(served->trace_id, header.trace_id, 16);
	served->trace_flags = header.trace_flags;
	struct goroutine_key g = { .tgid = pid_tgid >> 32, .g = current_goroutine(pid_tgid >> 32) };
	struct served_request *by_goroutine = g.g ? bpf_map_lookup_elem(&goroutine_requests, &g) : NULL;
	if (by_goroutine && by_goroutine->fd == fd && by_goroutine->generation == info->generation) {
		__builtin_memcpy(by_goroutine->trace_id, header.trace_id, 16);
		by_goroutine->trace_flags = header.trace_flags;
	}
	struct line_key lkey = { .tgid = pid_tgid >> 32, .line_hash = served->line_hash };
	struct open_request *open = lkey.line_hash ?
		bpf_map_lookup_elem(&open_requests_by_line, &lkey) : NULL;
	if (open && open->fd == fd && open->generation == info->generation) {
		__builtin_memcpy(open->trace_id, header.trace_id, 16);
		open->trace_flags = header.trace_flags;
	}
	return 0;
}

/* The unanswered request of this process whose request line this client request repeats
 * (a proxy forwarding it), when exactly one has it. */
static __always_inline struct open_request *forwarded_request(__u32 tgid, const __u8 *head,
							      __u32 head_len)
{
	if (!head_len)
		return NULL;
	struct request_line line = request_line_at_start(head, head_len);
	struct line_key lkey = { .tgid = tgid };
	lkey.line_hash = request_line_hash((const struct line_bytes *)head, head_len, &line);
	if (!lkey.line_hash)
		return NULL;
	struct open_request *forwarded = bpf_map_lookup_elem(&open_requests_by_line, &lkey);
	if (forwarded && (forwarded->ambiguous ||
			  !request_unanswered(tgid, forwarded->fd, forwarded->generation,
					      forwarded->request_number)))
		return NULL;
	return forwarded;
}

/* A request head is being written on a client socket: its span's parent is the request the
 * thread (or, in Go, the goroutine) serves, or the one it forwards, when that can be known
 * for sure. When two rules name different requests there is no parent. */
static __always_inline void on_client_request(struct zt_trace_context *ctx, __u64 pid_tgid,
					      const __u8 *head, __u32 head_len)
{
	__u32 tgid = pid_tgid >> 32;
	__u8 origin;
	const struct served_request *in_process = parent_by_thread(pid_tgid, &origin);
	struct served_request by_goroutine;
	__u64 g = current_goroutine(tgid);
	if (g && parent_by_goroutine(tgid, g, &by_goroutine, &origin))
		in_process = &by_goroutine;
	struct open_request *forwarded = forwarded_request(tgid, head, head_len);
	if (forwarded && in_process &&
	    __builtin_memcmp(forwarded->span_id, in_process->span_id, 8) != 0) {
		forwarded = NULL;
		in_process = NULL;
		origin = ZT_CTX_CLIENT_AMBIGUOUS;
	}
	if (in_process) { /* origin: THREAD or GOROUTINE, also when the line agrees */
		__builtin_memcpy(ctx->trace_id, in_process->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, in_process->span_id, 8);
		ctx->trace_flags = in_process->trace_flags;
	} else if (forwarded) {
		__builtin_memcpy(ctx->trace_id, forwarded->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, forwarded->span_id, 8);
		ctx->trace_flags = forwarded->trace_flags;
		origin = ZT_CTX_CLIENT_LINE_MATCH;
	} else {
		random_bytes(ctx->trace_id, 16);
		__builtin_memset(ctx->parent_span_id, 0, 8);
		ctx->trace_flags = new_trace_flags(ctx->trace_id);
	}
	random_bytes(ctx->span_id, 8);
	ctx->origin = origin;
}

/* Sets s->event.trace for the call about to be emitted: request heads get a context, other
 * data none. A server response start marks the served request as answered. A request head
 * split across reads (http1_context.bpf.h) gets its context in the read that completes its
 * method. on_server_request has one call site: every copy of it is verified again. */
static __always_inline void classify_call(struct data_scratch *s, const struct syscall_args *args,
					  long ret, __u8 direction, __u64 pid_tgid,
					  struct zt_conn_info *info)
{
	struct zt_trace_context *ctx = &s->event.trace;
	ctx->origin = ZT_CTX_NONE;
	ctx->flags = 0;
	if (args->syscall == ZT_SYS_SENDFILE || ret <= 0)
		return;
	__u64 first = first_byte_address(args);
	struct split_head split = {};
	enum split_head_result step = SPLIT_HEAD_NONE;
	if (direction == ZT_DIR_INGRESS && (ret < 5 || info->head_prefix_len)) {
		bool may_begin = info->role == ZT_ROLE_SERVER &&
				 info->responses_started == info->requests_read;
		step = split_head_step(&info->head_prefix_len, info->head_prefix, first, ret,
				       may_begin, &split);
		if (step == SPLIT_HEAD_KEPT)
			return;
	}
	bool head_completed = step == SPLIT_HEAD_COMPLETED;
	if (ret < 5 && !head_completed)
		return;
	__u32 first4 = 0;
	if (!first || bpf_probe_read_user(&first4, 4, (void *)first))
		return;
	if (direction == ZT_DIR_EGRESS && args->trace.origin != ZT_CTX_NONE) {
		*ctx = args->trace; /* made at syscall entry, before sk_msg could inject it */
	} else if (head_completed || is_request_start(first4)) {
		if (direction == ZT_DIR_INGRESS) {
			/* Only the first iovec is scanned for the header (where heads are). */
			__u32 head = ret < traceparent_scan_bytes ? ret : traceparent_scan_bytes;
			if (head > ZT_PIECE_BYTES)
				head = ZT_PIECE_BYTES;
			if (bpf_probe_read_user(s->event.data, head, (void *)first))
				head = 0;
			s->head_in_data = head;
			struct head_read read = { .pid_tgid = pid_tgid, .head_bytes = head,
						  .fd = args->fd };
			read.line = line_of_read(first4, head_completed ? &split : NULL);
			on_server_request(s, info, &read);
			if (head_completed)
				ctx->flags = ZT_CTX_FLAG_BEGAN_IN_PREVIOUS_CALL;
		}
	} else if (direction == ZT_DIR_INGRESS && info->kafka_fetch_pending) {
		on_kafka_response_read(ctx, first, ret, pid_tgid, info, args->fd);
	} else if (direction == ZT_DIR_INGRESS && info->head_pending) {
		__u32 bytes = ret < traceparent_scan_bytes ? ret : traceparent_scan_bytes;
		if (bytes > ZT_PIECE_BYTES)
			bytes = ZT_PIECE_BYTES;
		if (bpf_probe_read_user(s->event.data, bytes, (void *)first) == 0)
		{
			s->head_in_data = bytes;
			struct head_read read = { .pid_tgid = pid_tgid, .head_bytes = bytes,
						  .fd = args->fd };
			on_server_head_continued(s, info, &read);
		}
		else
			info->head_pending = 0;
	} else if (direction == ZT_DIR_EGRESS && first4 == METHOD4('H', 'T', 'T', 'P') &&
		   info->responses_started < info->requests_read) {
		info->responses_started += 1;
	}
}
