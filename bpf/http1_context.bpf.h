/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP/1.x trace context in the kernel, shared by the programs that see request bytes
 * (socket_trace.bpf.c at the syscall layer, go_probes.bpf.c for Go's TLS plaintext): request
 * starts, W3C traceparent headers (Trace Context §3.2), ids, and whether a request a server
 * read is still unanswered.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/goroutine_maps.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/trace_sampling.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"

/* A request is unanswered while its connection has not started as many responses. */
static __always_inline bool request_unanswered(__u32 tgid, __s32 fd, __u64 generation,
					       __u32 request_number)
{
	struct zt_conn_key key = { .tgid = tgid, .fd = fd };
	struct zt_conn_info *conn = bpf_map_lookup_elem(&conns, &key);
	return conn && conn->generation == generation && conn->responses_started < request_number;
}

#define METHOD4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

/* First bytes of an HTTP/1.x request line (RFC 9110 methods). */
static __always_inline bool is_request_start(__u32 first4)
{
	switch (first4) {
	case METHOD4('G', 'E', 'T', ' '):
	case METHOD4('P', 'O', 'S', 'T'):
	case METHOD4('P', 'U', 'T', ' '):
	case METHOD4('D', 'E', 'L', 'E'):
	case METHOD4('H', 'E', 'A', 'D'):
	case METHOD4('P', 'A', 'T', 'C'):
	case METHOD4('O', 'P', 'T', 'I'):
	case METHOD4('C', 'O', 'N', 'N'):
	case METHOD4('T', 'R', 'A', 'C'):
		return true;
	}
	return false;
}

static __always_inline void random_bytes(__u8 *dst, int n)
{
	for (int i = 0; i < n; i += 4) {
		__u32 r = bpf_get_prandom_u32();
		__builtin_memcpy(dst + i, &r, 4);
	}
}

/* 1 + the value of a lowercase hex digit (W3C: lowercase only), 0 for any other byte. A
 * table, not comparisons: each branch would leave the verifier a state of its own per digit
 * of a trace id (2^32 paths through decode_hex_id). */
static const __u8 hex_digit_plus_one[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static __always_inline int hex_value(__u8 c)
{
	return (int)hex_digit_plus_one[c] - 1;
}

/* Decodes 2*n lowercase hex digits at data[pos] (data: ZT_PIECE_BYTES); false on a bad digit
 * or an all-zero id. */
static __always_inline bool decode_hex_id(const __u8 *data, __u32 pos, __u8 *dst, int n)
{
	__u8 any = 0;
	for (int i = 0; i < n; i++) {
		int hi = hex_value(data[(pos + 2 * i) & (ZT_PIECE_BYTES - 1)]);
		int lo = hex_value(data[(pos + 2 * i + 1) & (ZT_PIECE_BYTES - 1)]);
		if (hi < 0 || lo < 0)
			return false;
		dst[i] = hi << 4 | lo;
		any |= dst[i];
	}
	return any != 0;
}

#define TRACEPARENT_VALUE_BYTES 55 /* 00-<32 hex>-<16 hex>-<2 hex> */
#define HAS_NEWLINE(w)                                                                        \
	((((w) ^ 0x0a0a0a0a0a0a0a0aULL) - 0x0101010101010101ULL) & ~((w) ^ 0x0a0a0a0a0a0a0a0aULL) & \
	 0x8080808080808080ULL)

#define TRACEPARENT_SCAN_MAX_BYTES 2048
#define LOWER8(w) ((w) | 0x2020202020202020ULL)

struct traceparent_scan {
	const __u8 *data; /* request head bytes (map value) */
	__u32 len;
	__u32 pos;         /* next byte to look at */
	int value_pos;     /* result: position of the header's value, or one of: */
	__u32 line_end;    /* result: position after the first LF (the request line), 0: none */
};
#define TRACEPARENT_ABSENT -1   /* the header block ended without one */
#define TRACEPARENT_UNKNOWN -2  /* the data ended before the header block did */
/* Steps of a scan: each moves past 8 bytes or past one line feed. */
#define TRACEPARENT_SCAN_STEPS (TRACEPARENT_SCAN_MAX_BYTES / 2)

/* bpf_loop callback: from `pos`, skips 8 bytes without a line feed, or goes to the line after
 * the first line feed among them and looks for `traceparent:` there (name case-insensitive,
 * compared as two words). One line feed per call: a loop over a word's bytes would leave the
 * verifier a path per subset of them. Returns 1 to stop the loop. */
static long scan_traceparent_step(__u32 index, void *arg)
{
	struct traceparent_scan *scan = arg;
	const __u8 *data = scan->data;
	__u32 off = scan->pos & (TRACEPARENT_SCAN_MAX_BYTES - 1);
	if (off + 8 > scan->len)
		return 1;
	__u64 word;
	__builtin_memcpy(&word, &data[off], 8);
	__u64 newlines = HAS_NEWLINE(word); /* exact in its lowest flag, 0x80 of the byte */
	if (!newlines) {
		scan->pos = off + 8;
		return 0;
	}
	/* Index of the first line feed: its flag times 0x0102..08 puts 8 - index in the top byte. */
	__u64 first = (newlines & -newlines) >> 7;
	__u32 index_in_word = ((first * 0x0102030405060708ULL) >> 56) - 1;
	__u32 line = (off + index_in_word + 1) & (TRACEPARENT_SCAN_MAX_BYTES - 1);
	scan->pos = line;
	if (!scan->line_end)
		scan->line_end = line;
	if (line >= scan->len)
		return 1;
	if (data[line] == '\r') {
		scan->value_pos = TRACEPARENT_ABSENT;
		return 1;
	}
	if (line + 12 + TRACEPARENT_VALUE_BYTES > scan->len)
		return 1; /* no room left for the header in this data */
	__u64 head;
	__u32 tail;
	__builtin_memcpy(&head, &data[line], 8);
	__builtin_memcpy(&tail, &data[line + 8], 4);
	if (LOWER8(head) == *(const __u64 *)"tracepar" &&
	    (tail | 0x20202020) == *(const __u32 *)"ent:") {
		scan->value_pos = line + 12;
		return 1;
	}
	return 0;
}

/* Position in data[0..len) of the value of a `traceparent:` header line, or
 * TRACEPARENT_ABSENT / TRACEPARENT_UNKNOWN; *line_end (optional) gets the position after the
 * first LF, which ends the request line (0: not in the data). Needs bpf_loop (5.17+): a plain
 * bounded loop this long is too much for the verifier. Without it the kernel does not read
 * incoming headers (userspace still does, for the server span) and does not inject. */
static __always_inline int find_traceparent(const __u8 *data, __u32 len, __u32 *line_end)
{
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
		return TRACEPARENT_ABSENT;
	struct traceparent_scan scan = { .data = data, .value_pos = TRACEPARENT_UNKNOWN };
	scan.len = len < traceparent_scan_bytes ? len : traceparent_scan_bytes;
	if (scan.len > TRACEPARENT_SCAN_MAX_BYTES)
		scan.len = TRACEPARENT_SCAN_MAX_BYTES;
	bpf_loop(TRACEPARENT_SCAN_STEPS, scan_traceparent_step, &scan, 0);
	if (line_end)
		*line_end = scan.line_end;
	return scan.value_pos;
}

/* Parses the traceparent value at data[pos] into ctx; false when malformed (W3C Trace Context
 * §3.2: version 00, lowercase hex, non-zero ids). */
static __always_inline bool parse_traceparent(const __u8 *data, __u32 pos, __u32 len,
					      struct zt_trace_context *ctx)
{
	if (data[pos & (ZT_PIECE_BYTES - 1)] == ' ')
		pos++;
	pos &= ZT_PIECE_BYTES - 1;
	if (pos + TRACEPARENT_VALUE_BYTES > len)
		return false;
	if (data[pos] != '0' || data[pos + 1] != '0' || data[pos + 2] != '-' ||
	    data[pos + 35] != '-' || data[pos + 52] != '-')
		return false;
	__u8 after = pos + TRACEPARENT_VALUE_BYTES < len ? data[pos + TRACEPARENT_VALUE_BYTES] : '\r';
	if (after != '\r' && after != ' ' && after != '\t')
		return false;
	__u8 flags;
	if (!decode_hex_id(data, pos + 3, ctx->trace_id, 16) ||
	    !decode_hex_id(data, pos + 36, ctx->parent_span_id, 8))
		return false;
	int hi = hex_value(data[pos + 53]), lo = hex_value(data[pos + 54]);
	if (hi < 0 || lo < 0)
		return false;
	flags = hi << 4 | lo;
	ctx->trace_flags = flags;
	return true;
}

/* True when the n (1-4) bytes of `bytes` begin a request line. */
static __always_inline bool is_request_start_prefix(__u32 bytes, __u32 n)
{
	static const __u32 starts[] = {
		METHOD4('G', 'E', 'T', ' '), METHOD4('P', 'O', 'S', 'T'), METHOD4('P', 'U', 'T', ' '),
		METHOD4('D', 'E', 'L', 'E'), METHOD4('H', 'E', 'A', 'D'), METHOD4('P', 'A', 'T', 'C'),
		METHOD4('O', 'P', 'T', 'I'), METHOD4('C', 'O', 'N', 'N'), METHOD4('T', 'R', 'A', 'C'),
	};
	__u32 mask = n >= 4 ? 0xffffffffu : (1u << (8 * n)) - 1;
	for (__u32 i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		if ((starts[i] & mask) == (bytes & mask))
			return true;
	}
	return false;
}

/* The context of a request a server received: the trace of the traceparent value at
 * data[value] when it is valid (value < 0: none), else a new one; a new span id. */
static __always_inline void server_context(const __u8 *data, int value, __u32 len,
					   struct zt_trace_context *ctx)
{
	if (value >= 0 && parse_traceparent(data, value, len, ctx)) {
		ctx->origin = ZT_CTX_SERVER_HEADER;
	} else {
		random_bytes(ctx->trace_id, 16);
		__builtin_memset(ctx->parent_span_id, 0, 8);
		ctx->trace_flags = new_trace_flags(ctx->trace_id);
		ctx->origin = value >= 0 ? ZT_CTX_SERVER_BAD_HEADER : ZT_CTX_SERVER_NEW;
	}
	random_bytes(ctx->span_id, 8);
}

/* The context of a request head a server read (head[0..len)): the incoming traceparent's
 * trace when it is valid, else a new one; a new span id. Returns what find_traceparent found
 * (TRACEPARENT_UNKNOWN: the head goes on beyond `head`); *line_end (optional) as there. */
static __always_inline int server_context_of_head(const __u8 *head, __u32 len,
						  struct zt_trace_context *ctx, __u32 *line_end)
{
	int value = find_traceparent(head, len, line_end);
	server_context(head, value, len, ctx);
	return value;
}

/* Is the served request still being served? An HTTP/2 stream's entries are deleted when it
 * ends; an HTTP/1 request is answered once its connection started that many responses. */
static __always_inline bool served_request_open(__u32 tgid, const struct served_request *r)
{
	return r->is_stream || request_unanswered(tgid, r->fd, r->generation, r->request_number);
}

/* The parent the net/http probes handed to goroutine g for the request it writes (taken: it
 * is for this request only). Returns false when there is none; *origin then says whether it
 * was stale. */
static __always_inline bool parent_by_goroutine(__u32 tgid, __u64 g, struct served_request *out,
						__u8 *origin)
{
	struct goroutine_key key = { .tgid = tgid, .g = g };
	struct goroutine_client_parent *handed = bpf_map_lookup_elem(&goroutine_client_parents, &key);
	if (!handed)
		return false;
	*out = handed->parent;
	bpf_map_delete_elem(&goroutine_client_parents, &key);
	if (!served_request_open(tgid, out)) {
		*origin = ZT_CTX_CLIENT_STALE;
		return false;
	}
	*origin = ZT_CTX_CLIENT_GOROUTINE;
	return true;
}

/* A request head split across reads: a server that reads a byte ahead (Go's net/http, while
 * its handler runs) takes the next request's first byte in one read and the rest in the next.
 * A short read (1-4 bytes) that can begin a method, when a request may begin (every one read
 * was answered), is kept with its connection; the next read completes the method or drops it.
 */
enum split_head_result {
	SPLIT_HEAD_NONE,      /* not part of a split head: handle the read as usual */
	SPLIT_HEAD_KEPT,      /* a short read that may begin a request: kept, nothing else to do */
	SPLIT_HEAD_COMPLETED, /* this read completes a request start kept before */
};
struct split_head {
	__u8 prefix[4];       /* COMPLETED: the bytes of the request kept from the previous read */
	__u32 prefix_len;
};

/* One read of `ret` bytes at user address `first`; *kept_len and kept[4] are the connection's
 * state (0: nothing kept). */
static __always_inline enum split_head_result split_head_step(__u8 *kept_len, __u8 *kept,
							      __u64 first, long ret,
							      bool may_begin,
							      struct split_head *out)
{
	if (!first)
		return SPLIT_HEAD_NONE;
	if (!*kept_len) {
		__u32 n = ret & 7, bytes = 0;
		if (ret > 4 || !may_begin || n > 4 ||
		    bpf_probe_read_user(&bytes, n, (void *)first) ||
		    !is_request_start_prefix(bytes, n))
			return SPLIT_HEAD_NONE;
		*kept_len = n;
		__builtin_memcpy(kept, &bytes, 4);
		return SPLIT_HEAD_KEPT;
	}
	__u32 have = *kept_len, prefix = 0, rest = 0;
	__builtin_memcpy(&prefix, kept, 4);
	*kept_len = 0;
	if (have > 4 || ret < 4 - have || bpf_probe_read_user(&rest, 4, (void *)first))
		return SPLIT_HEAD_NONE;
	if (!is_request_start((__u32)((__u64)prefix | (__u64)rest << (8 * have))))
		return SPLIT_HEAD_NONE;
	__builtin_memcpy(out->prefix, &prefix, 4);
	out->prefix_len = have;
	return SPLIT_HEAD_COMPLETED;
}
