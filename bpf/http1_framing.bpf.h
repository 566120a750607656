/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP/1.x message boundaries of a client connection's egress, for traceparent injection
 * (the syscall side; the sk_msg side is in inject.bpf.c).
 *
 * A header may go only into a request the kernel knows starts at a message boundary: a
 * write that merely begins like a request may be the body of the one before (a body sent
 * after "100 Continue", or in a later write than its head). So the write hooks follow the
 * egress of every client connection whose connect() they saw, from its first byte: at a
 * boundary the request head must be whole in the write's first buffer, and its body length
 * follows from it (RFC 9112 §6.3): Transfer-Encoding "chunked", Content-Length N, or none (0).
 * The bytes really written (the syscall's result) are then counted down to the next boundary
 * (a chunked body is walked chunk by chunk at syscall exit, its data skipped), and the
 * socket's TCP write_seq must move by nothing but the writes seen. Whatever leaves the next
 * boundary uncertain ends injection on the connection for good, counted by why: once lost, a
 * boundary cannot be found again for sure (a body may hold requests too).
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/data_capture.bpf.h"
#include "bpf/http1_context.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"
#include "bpf/syscall_args.bpf.h"

#define H1_SCAN_BYTES TRACEPARENT_SCAN_MAX_BYTES /* of a head; a power of 2 */
#define H1_SCAN_STEPS (H1_SCAN_BYTES / 2)        /* each passes 8 bytes or a line (>= 2) */
#define H1_LENGTH_STEPS 64                       /* bytes of a Content-Length value */
#define H1_LENGTH_MAX_DIGITS 15

#define H1_HEAD_TRACEPARENT 0x01
#define H1_HEAD_TRANSFER_ENCODING 0x02
#define H1_HEAD_UPGRADE 0x04
#define H1_HEAD_UNCLEAR 0x08

/* h1_head.stop when the boundary after the message is known. */
#define H1_FOLLOW 0xff

#define BYTES_01 0x0101010101010101ULL
#define BYTES_7F 0x7f7f7f7f7f7f7f7fULL

/* 0x80 in each byte of w that equals the byte repeated in `c8`, and nowhere else (the usual
 * zero-byte trick flags bytes above a match too; this one is exact in every byte). */
static __always_inline __u64 h1_bytes_equal(__u64 w, __u64 c8)
{
	__u64 x = w ^ c8;
	return ~(((x & BYTES_7F) + BYTES_7F) | x | BYTES_7F);
}

/* Case-insensitive match of a field name: `fold` has 0x20 in the bytes of letters (it makes
 * an uppercase letter lowercase and no other byte equal to a letter), `care` marks the
 * bytes compared. */
#define H1_NAME(w, want, fold, care) ((((w) | (fold)) & (care)) == ((want) & (care)))
#define H1_CONTENT_ 0x2d746e65746e6f63ULL   /* "content-" */
#define H1_LENGTH_ 0x003a6874676e656cULL    /* "length:" */
#define H1_TRANSFER 0x726566736e617274ULL   /* "transfer" */
#define H1_ENCODIN 0x6e69646f636e652dULL    /* "-encodin" */
#define H1_TRACEPAR 0x7261706563617274ULL   /* "tracepar" */
#define H1_ENT_COLON 0x3a746e65ULL          /* "ent:" */
#define H1_UPGRADE_ 0x3a65646172677075ULL   /* "upgrade:" */
#define H1_CHUNKED_CR 0x0d64656b6e756863ULL /* "chunked\r" */

/* The scan of a head. In a per-CPU map (h1_scratches), not on the stack: the verifier does
 * not track values in map memory, so the loop's iterations do not multiply its states. */
struct h1_head_scan {
	__u32 len;
	__u32 pos;          /* next byte to look at */
	__u32 line_end;     /* after the request line's LF; 0: not seen */
	__u32 head_end;     /* after the empty line that ends the head; 0: not seen */
	__u32 length_at;    /* after the last "Content-Length:" */
	__u32 coding_at;    /* after the last "Transfer-Encoding:" */
	__u8 length_lines;  /* Content-Length fields seen */
	__u8 coding_lines;  /* Transfer-Encoding fields seen */
	__u8 flags;         /* H1_HEAD_* */
	__u8 pad;
};

/* The parse of a Content-Length value: optional whitespace, digits, optional whitespace,
 * CR. */
struct h1_length_parse {
	__u64 value;
	__u32 pos;
	__u32 len;
	__u32 digits;
	__u8 after_digits;
	__u8 ok;
	__u8 pad[2];
};

struct h1_scratch {
	struct h1_head_scan scan;
	struct h1_length_parse length;
};

/* key: 0; value: the head scan of the write this CPU is at the entry of. Written and read
 * only within one program run (h1_frame_head); never deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h1_scratch);
} h1_scratches SEC(".maps");

/* bpf_loop context (on the stack, as bpf_loop wants): the head's bytes and the scan. */
struct h1_scan_ctx {
	const __u8 *data; /* the write's first bytes (map value) */
	struct h1_scratch *x;
};

static __always_inline bool h1_blank(__u8 c)
{
	return c == ' ' || c == '\t';
}

/* The header line at `line` (whole in the data when the head ends in it): the fields that
 * frame the message or carry a context. A framing field name followed by whitespace before
 * its colon is unclear: a server must reject it (RFC 9112 §5.1), a lenient one may not. */
static __always_inline void h1_check_field(struct h1_head_scan *scan, const __u8 *data,
					   __u32 line)
{
	__u64 w0, w1;
	__builtin_memcpy(&w0, &data[line], 8);
	__builtin_memcpy(&w1, &data[line + 8], 8);
	__u8 after;
	switch ((__u8)w0 | 0x20) {
	case 'c':
		if (!H1_NAME(w0, H1_CONTENT_, 0x0020202020202020ULL, ~0ULL) ||
		    !H1_NAME(w1, H1_LENGTH_, 0x0000202020202020ULL, 0x0000ffffffffffffULL))
			return;
		after = w1 >> 48;
		if (after == ':') {
			scan->length_lines++;
			scan->length_at = line + 15;
		} else if (h1_blank(after)) {
			scan->flags |= H1_HEAD_UNCLEAR;
		}
		return;
	case 't':
		if (H1_NAME(w0, H1_TRACEPAR, 0x2020202020202020ULL, ~0ULL) &&
		    H1_NAME(w1, H1_ENT_COLON, 0x00202020ULL, 0xffffffffULL)) {
			scan->flags |= H1_HEAD_TRACEPARENT;
			return;
		}
		if (!H1_NAME(w0, H1_TRANSFER, 0x2020202020202020ULL, ~0ULL) ||
		    !H1_NAME(w1, H1_ENCODIN, 0x2020202020202000ULL, ~0ULL) ||
		    (data[line + 16] | 0x20) != 'g')
			return;
		after = data[line + 17];
		if (after == ':') {
			scan->flags |= H1_HEAD_TRANSFER_ENCODING;
			scan->coding_lines++;
			scan->coding_at = line + 18;
		} else if (h1_blank(after))
			scan->flags |= H1_HEAD_UNCLEAR;
		return;
	case 'u':
		if (!H1_NAME(w0, H1_UPGRADE_, 0x0020202020202020ULL, 0x00ffffffffffffffULL))
			return;
		after = w0 >> 56;
		if (after == ':')
			scan->flags |= H1_HEAD_UPGRADE;
		else if (h1_blank(after))
			scan->flags |= H1_HEAD_UNCLEAR;
		return;
	}
}

/*
 * bpf_loop callback: from `pos`, passes 8 bytes without a line feed, or goes to the line
 * after the first line feed among them and looks at it. Every line must end in CRLF and no
 * other CR may occur: a server may take a bare CR or LF for a line end or not, so a head with
 * one has no certain meaning. A line that starts with CRLF ends the head; one that starts
 * with whitespace is obs-fold (RFC 9112 §5.2), unclear as well. Returns 1 to stop.
 */
static long h1_head_step(__u32 index, void *arg)
{
	const __u8 *data = ((struct h1_scan_ctx *)arg)->data;
	struct h1_head_scan *scan = &((struct h1_scan_ctx *)arg)->x->scan;
	__u32 off = scan->pos & (H1_SCAN_BYTES - 1);
	if (off >= scan->len)
		return 1;
	__u64 word;
	__builtin_memcpy(&word, &data[off], 8);
	if (off + 8 > scan->len) /* bytes past the data become 0: neither CR nor LF */
		word &= (1ULL << (8 * (scan->len - off))) - 1;
	__u64 cr = h1_bytes_equal(word, BYTES_01 * '\r');
	__u64 lf = h1_bytes_equal(word, BYTES_01 * '\n');
	if (!lf) {
		/* A CR needs the LF right after it: none in this word. The word's last byte may
		 * have it next, or the data ends there (the head is not whole then anyway). */
		__u32 valid = scan->len - off < 8 ? scan->len - off : 8;
		__u64 last_flag = 1ULL << (8 * valid - 1);
		if ((cr & ~last_flag) ||
		    ((cr & last_flag) && off + 8 < scan->len &&
		     data[(off + 8) & (H1_SCAN_BYTES - 1)] != '\n'))
			goto unclear;
		scan->pos = off + 8;
		return 0;
	}
	__u64 lf_flag = lf & -lf; /* the first LF's 0x80 */
	__u32 index_in_word = (((lf_flag >> 7) * 0x0102030405060708ULL) >> 56) - 1;
	/* Before it, exactly one CR: right before it. */
	if ((cr & ((lf_flag >> 7) - 1)) != (lf_flag >> 8))
		goto unclear;
	if (index_in_word == 0 &&
	    (off == 0 || data[(off - 1) & (H1_SCAN_BYTES - 1)] != '\r'))
		goto unclear;
	__u32 line = off + index_in_word + 1;
	if (!scan->line_end)
		scan->line_end = line;
	scan->pos = line;
	if (line >= scan->len)
		return 1; /* the data ends with this line: not the head's end */
	line &= H1_SCAN_BYTES - 1;
	__u8 c = data[line];
	if (c == '\r') {
		if (line + 1 >= scan->len)
			return 1;
		if (data[line + 1] != '\n')
			goto unclear;
		scan->head_end = line + 2;
		return 1;
	}
	if (h1_blank(c) || c == '\n')
		goto unclear;
	h1_check_field(scan, data, line);
	return scan->flags & H1_HEAD_UNCLEAR ? 1 : 0;
unclear:
	scan->flags |= H1_HEAD_UNCLEAR;
	return 1;
}

/* bpf_loop callback: one byte of the value. Returns 1 to stop. */
static long h1_length_step(__u32 index, void *arg)
{
	const __u8 *data = ((struct h1_scan_ctx *)arg)->data;
	struct h1_length_parse *p = &((struct h1_scan_ctx *)arg)->x->length;
	if (p->pos >= p->len)
		return 1;
	__u8 c = data[p->pos & (H1_SCAN_BYTES - 1)];
	p->pos++;
	if (h1_blank(c)) {
		p->after_digits = p->digits > 0;
		return 0;
	}
	if (c >= '0' && c <= '9') {
		if (p->after_digits || p->digits >= H1_LENGTH_MAX_DIGITS)
			return 1;
		p->digits++;
		p->value = p->value * 10 + (c - '0');
		return 0;
	}
	p->ok = c == '\r' && p->digits > 0;
	return 1;
}

/* What the request head at the start of a write says about its message. */
struct h1_head {
	__u32 len;           /* in: bytes of the write's first buffer in s->event.data */
	__u32 first_len;     /* in: bytes of the write's first buffer */
	__u8 starts_like_request; /* in: its first bytes are (the start of) a known method */
	__u8 stop;           /* out: why the boundary after it is unknown (zt_inject_outcome),
			      * or H1_FOLLOW */
	__u8 whole;          /* out: the head of an HTTP/1.x request, whole and clear */
	__u8 has_traceparent;
	__u8 chunked;        /* out (stop == H1_FOLLOW): a chunked body follows the head */
	__u8 pad[3];
	__u64 message_bytes; /* out (stop == H1_FOLLOW): head and body */
	__u32 head_bytes;    /* out: the head, its empty line included */
	__u32 line_end;      /* out: after the request line */
};

/* Is the first line "<method> <target> HTTP/1.x" (CRLF checked by the scan)? */
static __always_inline bool h1_request_line(const __u8 *data, __u32 line_end)
{
	if (line_end < 14 || line_end > H1_SCAN_BYTES)
		return false;
	__u32 at = (line_end - 11) & (H1_SCAN_BYTES - 1);
	__u64 version;
	__builtin_memcpy(&version, &data[at + 1], 8);
	return data[0] >= 'A' && data[0] <= 'Z' && data[at] == ' ' &&
	       (version == *(const __u64 *)"HTTP/1.1" || version == *(const __u64 *)"HTTP/1.0");
}

/*
 * The extent of the message a write starts, from its head in s->event.data[0..h->len).
 * A global function: verified once, on its own. Needs bpf_loop (5.17+); without it nothing
 * is known and nothing injected.
 */
__noinline int h1_frame_head(struct data_scratch *s, struct h1_head *h)
{
	if (!s || !h)
		return 0;
	h->stop = ZT_INJECT_H1_NOT_HTTP1;
	h->whole = 0;
	h->chunked = 0;
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
		return 0;
	__u32 zero = 0;
	struct h1_scratch *x = bpf_map_lookup_elem(&h1_scratches, &zero);
	if (!x)
		return 0;
	const __u8 *data = s->event.data;
	struct h1_scan_ctx ctx = { .data = data, .x = x };
	__builtin_memset(x, 0, sizeof(*x));
	struct h1_head_scan *scan = &x->scan;
	scan->len = h->len < H1_SCAN_BYTES ? h->len : H1_SCAN_BYTES;
	bpf_loop(H1_SCAN_STEPS, h1_head_step, &ctx, 0);
	h->line_end = scan->line_end;
	if (!scan->line_end) {
		/* A request line that goes on past the scanned bytes, or no HTTP/1 at all. */
		if (h->starts_like_request && !(scan->flags & H1_HEAD_UNCLEAR))
			h->stop = h->first_len > scan->len ? ZT_INJECT_H1_HEAD_TOO_LONG :
							     ZT_INJECT_H1_HEAD_SPLIT;
		return 0;
	}
	if (!h1_request_line(data, scan->line_end))
		return 0;
	if (scan->flags & H1_HEAD_UNCLEAR) {
		h->stop = ZT_INJECT_H1_UNCLEAR_HEAD;
		return 0;
	}
	if (!scan->head_end) {
		h->stop = h->first_len > scan->len ? ZT_INJECT_H1_HEAD_TOO_LONG :
						     ZT_INJECT_H1_HEAD_SPLIT;
		return 0;
	}
	h->head_bytes = scan->head_end;
	h->has_traceparent = !!(scan->flags & H1_HEAD_TRACEPARENT);
	__u64 body = 0;
	/* Both fields: Transfer-Encoding wins (RFC 9112 §6.3), yet servers differ about it. */
	if (scan->length_lines > 1 || (scan->length_lines && scan->coding_lines)) {
		h->stop = ZT_INJECT_H1_BAD_LENGTH;
		return 0;
	}
	if (scan->length_lines) {
		x->length.pos = scan->length_at;
		x->length.len = scan->head_end;
		bpf_loop(H1_LENGTH_STEPS, h1_length_step, &ctx, 0);
		if (!x->length.ok) {
			h->stop = ZT_INJECT_H1_BAD_LENGTH;
			return 0;
		}
		body = x->length.value;
	}
	/* From here the head is a request's, whole and clear: a header may go in. */
	h->whole = 1;
	h->message_bytes = scan->head_end + body;
	if ((scan->flags & H1_HEAD_UPGRADE) || __builtin_memcmp(data, "CONNECT ", 8) == 0) {
		h->stop = ZT_INJECT_H1_UPGRADE; /* a tunnel or another protocol may follow */
		return 0;
	}
	h->stop = H1_FOLLOW;
	if (!scan->coding_lines)
		return 0;
	/* "chunked" alone (any case, after at most one blank) is followed; another coding has no
	 * length, and an HTTP/1.0 message with the field has faulty framing (RFC 9112 §6.1). */
	__u32 at = scan->coding_at & (H1_SCAN_BYTES - 1);
	at += h1_blank(data[at]);
	__u64 value;
	__builtin_memcpy(&value, &data[at & (H1_SCAN_BYTES - 1)], 8);
	if (scan->coding_lines == 1 && at + 8 <= scan->head_end &&
	    data[(scan->line_end - 3) & (H1_SCAN_BYTES - 1)] == '1' &&
	    H1_NAME(value, H1_CHUNKED_CR, 0x0020202020202020ULL, ~0ULL))
		h->chunked = 1;
	else
		h->stop = ZT_INJECT_H1_CHUNKED;
	return 0;
}

/* Injection on the connection ends here for good, and why is counted (once). */
static __always_inline void h1_stop(struct zt_conn_info *info, __u32 reason)
{
	info->h1_framing = ZT_H1_STOPPED;
	count_inject(reason);
}

/* The socket's TCP write_seq: every byte queued on it moves it, whichever way it came. */
static __always_inline bool h1_write_seq(const struct zt_conn_info *info, __u32 *seq)
{
	struct tcp_sock *tp = (struct tcp_sock *)info->sock;
	return tp && bpf_core_read(seq, sizeof(*seq), &tp->write_seq) == 0;
}

/* At the entry of a write: are this client connection's boundaries known? A write_seq other
 * than the one the last write left means bytes went out that the hooks did not count; another
 * thread in a write on it means the two plans may not follow each other. */
static __always_inline bool h1_boundaries_known(struct zt_conn_info *info)
{
	if (!inject_enabled || info->role != ZT_ROLE_CLIENT || info->h1_framing != ZT_H1_TRACKING)
		return false;
	__u32 seq = 0;
	if (!h1_write_seq(info, &seq) || seq != info->h1_next_seq) {
		h1_stop(info, ZT_INJECT_H1_UNSEEN_BYTES);
		return false;
	}
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (info->h1_writer && info->h1_writer != tid) {
		h1_stop(info, ZT_INJECT_H1_CONCURRENT_WRITES);
		return false;
	}
	return true;
}

/* The plan of a write: it is `left` bytes before its message's end, and its first
 * `head_bytes` are a head (a write that cuts it leaves it unknown). Committed at exit. The
 * connection names the writing thread until then: two entries that both saw none are caught
 * at the exit of the first, whose thread is no longer named. */
static __always_inline void h1_plan(struct syscall_args *args, struct zt_conn_info *info,
				    __u64 left, __u32 head_bytes)
{
	args->h1_planned = 1;
	args->h1_message_left = left;
	args->h1_head_bytes = head_bytes;
	args->h1_generation = info->generation;
	info->h1_writer = (__u32)bpf_get_current_pid_tgid();
}

/* ---- chunked request bodies (RFC 9112 §7.1), followed at syscall exit ---- */

/* Where a chunked body's next byte is (zt_conn_info.h1_chunk_state). Every line ends in CRLF
 * exactly: a bare CR or LF, or anything else unexpected, ends injection on the connection. */
enum h1_chunk_state {
	H1_CHUNK_NONE = 0,     /* not in a chunked body */
	H1_CHUNK_SIZE,         /* in a chunk-size: its hex digits so far in h1_message_left */
	H1_CHUNK_EXT,          /* in a chunk extension, up to the line's CR */
	H1_CHUNK_SIZE_LF,      /* the size line's CR seen */
	H1_CHUNK_DATA,         /* h1_message_left bytes of chunk data to come, skipped */
	H1_CHUNK_DATA_CR,      /* the CRLF after the data */
	H1_CHUNK_DATA_LF,
	H1_CHUNK_TRAILER,      /* at a trailer line's start, or at the body's last CRLF */
	H1_CHUNK_TRAILER_LINE, /* in a trailer line */
	H1_CHUNK_TRAILER_LF,   /* a trailer line's CR seen */
	H1_CHUNK_END_LF,       /* the last CR seen: its LF ends the message */
};

#define H1_CHUNK_MAX_IOVECS 128 /* a power of 2 */
#define H1_CHUNK_STEPS 2048     /* one per framing byte or skipped run of data */
#define H1_CHUNK_WINDOW 16      /* bytes read from the application at once; a power of 2 */
#define H1_CHUNK_MAX_DIGITS 15

/* Hides a value's known range from the compiler, so that it keeps a mask the verifier needs. */
#define h1_opaque(v) asm volatile("" : "+r"(v))

/* The walk of one write's chunked bytes. In a per-CPU map: the buffers do not fit the stack,
 * and map values keep the bpf_loop callback cheap to verify. */
struct h1_chunk_walk {
	struct {
		__u64 base;
		__u64 len;
	} iov[H1_CHUNK_MAX_IOVECS];
	__u64 iov_count;
	__u64 iov_index;    /* the buffer that holds call offset iov_start and on */
	__u64 iov_start;
	__u64 pos;          /* call offset of the next byte */
	__u64 end;          /* bytes written */
	__u64 left;         /* as zt_conn_info.h1_message_left */
	__u64 window_start; /* call offset of window[0] */
	__u32 window_len;
	__u8 state;         /* enum h1_chunk_state */
	__u8 digits;
	__u8 failed;        /* the syntax is not followed for sure */
	__u8 pipelined;     /* the body ended before the write did */
	__u8 window[H1_CHUNK_WINDOW];
};

/* key: 0; value: the chunked walk of the write this CPU is at the exit of. Written and read
 * only within one program run (h1_walk_chunks); never deleted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h1_chunk_walk);
} h1_chunk_walks SEC(".maps");

/* bpf_loop's context must be on the stack: it points to the walk. */
struct h1_chunk_ctx {
	struct h1_chunk_walk *w;
};

/* The byte at w->pos, from the window or read into it; -1 when it cannot be read. */
static __always_inline int h1_chunk_byte(struct h1_chunk_walk *w)
{
	__u64 at = w->pos;
	if (at >= w->window_start && at < w->window_start + w->window_len)
		return w->window[(at - w->window_start) & (H1_CHUNK_WINDOW - 1)];
	__u64 len = 0;
	for (int i = 0; i < H1_CHUNK_MAX_IOVECS; i++) {
		__u64 index = w->iov_index;
		if (index >= w->iov_count || index >= H1_CHUNK_MAX_IOVECS)
			return -1;
		h1_opaque(index);
		len = w->iov[index & (H1_CHUNK_MAX_IOVECS - 1)].len;
		if (at < w->iov_start + len)
			break;
		w->iov_start += len;
		w->iov_index = index + 1;
	}
	__u64 index = w->iov_index;
	if (index >= H1_CHUNK_MAX_IOVECS || at < w->iov_start || at >= w->iov_start + len)
		return -1;
	h1_opaque(index);
	__u64 from = at - w->iov_start;
	__u32 n = len - from < H1_CHUNK_WINDOW ? len - from : H1_CHUNK_WINDOW;
	n &= 2 * H1_CHUNK_WINDOW - 1;
	if (n == 0 || n > H1_CHUNK_WINDOW ||
	    bpf_probe_read_user(w->window, n,
				(void *)(w->iov[index & (H1_CHUNK_MAX_IOVECS - 1)].base + from)))
		return -1;
	w->window_start = at;
	w->window_len = n;
	return w->window[0];
}

static __always_inline int h1_hex_value(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One framing byte `c`; false when it is not what the syntax allows there. */
static __always_inline bool h1_chunk_next(struct h1_chunk_walk *w, __u8 c)
{
	switch (w->state) {
	case H1_CHUNK_SIZE: {
		int v = h1_hex_value(c);
		if (v >= 0) {
			if (w->digits >= H1_CHUNK_MAX_DIGITS)
				return false;
			w->digits++;
			w->left = w->left << 4 | v;
			return true;
		}
		if (!w->digits)
			return false;
		if (c == '\r')
			w->state = H1_CHUNK_SIZE_LF;
		else if (c == ';' || h1_blank(c)) /* BWS and chunk-ext: skipped to the CR */
			w->state = H1_CHUNK_EXT;
		else
			return false;
		return true;
	}
	case H1_CHUNK_EXT:
		if (c == '\r')
			w->state = H1_CHUNK_SIZE_LF;
		return c != '\n';
	case H1_CHUNK_SIZE_LF:
		if (c != '\n')
			return false;
		w->state = w->left ? H1_CHUNK_DATA : H1_CHUNK_TRAILER; /* size 0: the last chunk */
		return true;
	case H1_CHUNK_DATA_CR:
		w->state = H1_CHUNK_DATA_LF;
		return c == '\r';
	case H1_CHUNK_DATA_LF:
		w->state = H1_CHUNK_SIZE;
		w->digits = 0;
		w->left = 0;
		return c == '\n';
	case H1_CHUNK_TRAILER:
		if (c == '\r') {
			w->state = H1_CHUNK_END_LF;
			return true;
		}
		w->state = H1_CHUNK_TRAILER_LINE;
		return c != '\n' && !h1_blank(c); /* obs-fold is unclear */
	case H1_CHUNK_TRAILER_LINE:
		if (c == '\r')
			w->state = H1_CHUNK_TRAILER_LF;
		return c != '\n';
	case H1_CHUNK_TRAILER_LF:
		w->state = H1_CHUNK_TRAILER;
		return c == '\n';
	case H1_CHUNK_END_LF:
		w->state = H1_CHUNK_NONE; /* the message ends after this byte */
		w->left = 0;
		return c == '\n';
	}
	return false;
}

/* bpf_loop callback: skips a run of chunk data, or takes one framing byte. Returns 1 to stop. */
static long h1_chunk_step(__u32 index, void *arg)
{
	struct h1_chunk_walk *w = ((struct h1_chunk_ctx *)arg)->w;
	if (w->pos >= w->end)
		return 1;
	if (w->state == H1_CHUNK_DATA) {
		__u64 n = w->end - w->pos < w->left ? w->end - w->pos : w->left;
		w->pos += n;
		w->left -= n;
		if (!w->left)
			w->state = H1_CHUNK_DATA_CR;
		return 0;
	}
	int c = h1_chunk_byte(w);
	if (c < 0 || !h1_chunk_next(w, c)) {
		w->failed = 1;
		return 1;
	}
	w->pos++;
	if (w->state != H1_CHUNK_NONE)
		return 0;
	w->pipelined = w->pos < w->end;
	return 1;
}

/* The chunked bytes of a write that went out: from its head's end (or its start) to the
 * bytes written. Where the body stands is committed to the connection, or injection on it
 * ends. A global function: verified once, on its own. */
__noinline int h1_walk_chunks(const struct syscall_args *args, struct zt_conn_info *info,
			      __u64 written)
{
	if (!args || !info)
		return 0;
	__u32 zero = 0;
	struct h1_chunk_walk *w = bpf_map_lookup_elem(&h1_chunk_walks, &zero);
	if (!w) {
		h1_stop(info, ZT_INJECT_H1_CHUNKED);
		return 0;
	}
	if (!args->iovcnt) {
		w->iov[0].base = args->buf;
		w->iov[0].len = written;
		w->iov_count = 1;
	} else {
		__u64 count = args->iovcnt;
		__u32 bytes = count * sizeof(w->iov[0]);
		if (count > H1_CHUNK_MAX_IOVECS || bytes > sizeof(w->iov) ||
		    bpf_probe_read_user(w->iov, bytes, (void *)args->buf)) {
			h1_stop(info, ZT_INJECT_H1_CHUNKED);
			return 0;
		}
		w->iov_count = count;
	}
	w->iov_index = 0;
	w->iov_start = 0;
	w->pos = args->h1_head_bytes;
	w->end = written;
	w->window_start = 0;
	w->window_len = 0;
	w->state = info->h1_chunk_state;
	w->digits = info->h1_chunk_digits;
	w->left = info->h1_message_left;
	w->failed = 0;
	w->pipelined = 0;
	struct h1_chunk_ctx ctx = { .w = w };
	bpf_loop(H1_CHUNK_STEPS, h1_chunk_step, &ctx, 0);
	if (w->pipelined) {
		h1_stop(info, ZT_INJECT_H1_PIPELINED);
	} else if (w->failed || w->pos < w->end) {
		h1_stop(info, ZT_INJECT_H1_CHUNKED);
	} else {
		info->h1_chunk_state = w->state;
		info->h1_chunk_digits = w->digits;
		info->h1_message_left = w->left;
	}
	return 0;
}

/* At the exit of a planned write (`args` taken from `inflight`): the position moves on by what
 * was really written. Not inlined: its locals stay off the frame of the exit program, which
 * the server-side request handling already fills. */
static __noinline void h1_commit_write(const struct syscall_args *args, long ret,
				       __u64 pid_tgid)
{
	struct zt_conn_key key = { .tgid = pid_tgid >> 32, .fd = args->fd };
	struct zt_conn_info *info = bpf_map_lookup_elem(&conns, &key);
	if (!info || !args->h1_planned || info->h1_framing != ZT_H1_TRACKING ||
	    info->generation != args->h1_generation)
		return;
	if (info->h1_writer != (__u32)bpf_get_current_pid_tgid()) {
		h1_stop(info, ZT_INJECT_H1_CONCURRENT_WRITES);
		return;
	}
	info->h1_writer = 0;
	if (ret > 0) {
		if (args->h1_unread) {
			h1_stop(info, ZT_INJECT_H1_NOT_HTTP1);
			return;
		}
		if ((__u64)ret < args->h1_head_bytes) {
			h1_stop(info, ZT_INJECT_H1_PARTIAL_HEAD);
			return;
		}
		if (args->h1_chunked) {
			if (args->h1_head_bytes) { /* the head of a chunked message: its body begins */
				info->h1_chunk_state = H1_CHUNK_SIZE;
				info->h1_chunk_digits = 0;
				info->h1_message_left = 0;
			}
			h1_walk_chunks(args, info, ret);
			if (info->h1_framing != ZT_H1_TRACKING)
				return;
		} else if ((__u64)ret > args->h1_message_left) {
			/* The next message starts inside this write: its head is not followed. */
			h1_stop(info, ZT_INJECT_H1_PIPELINED);
			return;
		} else {
			info->h1_message_left = args->h1_message_left - ret;
		}
	}
	__u32 seq = 0;
	if (!h1_write_seq(info, &seq)) {
		h1_stop(info, ZT_INJECT_H1_UNSEEN_BYTES);
		return;
	}
	info->h1_next_seq = seq;
}
