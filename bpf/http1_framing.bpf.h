/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP/1.x message boundaries of a client connection's egress, for traceparent injection
 * (included by socket_trace.bpf.c; the sk_msg side is in inject.bpf.c).
 *
 * A header may go only into a request the kernel knows starts at a message boundary: a
 * write that merely begins like a request may be the body of the one before (a body sent
 * after "100 Continue", or in a later write than its head). So the write hooks follow the
 * egress of every client connection whose connect() they saw, from its first byte: at a
 * boundary the request head must be whole in the write's first buffer, and its body length
 * follows from it (RFC 9112 §6.3: no Transfer-Encoding; Content-Length N, or none: 0). The
 * bytes really written (the syscall's result) are then counted down to the next boundary,
 * and the socket's TCP write_seq must move by nothing but the writes seen. Whatever leaves
 * the next boundary uncertain ends injection on the connection for good, counted by why:
 * once lost, a boundary cannot be found again for sure (a body may hold requests too).
 */
#pragma once

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

/* The scan of a head (bpf_loop context, on the stack). */
struct h1_head_scan {
	const __u8 *data; /* the write's first bytes (map value) */
	__u32 len;
	__u32 pos;          /* next byte to look at */
	__u32 line_end;     /* after the request line's LF; 0: not seen */
	__u32 head_end;     /* after the empty line that ends the head; 0: not seen */
	__u32 length_at;    /* after the last "Content-Length:" */
	__u8 length_lines;  /* Content-Length fields seen */
	__u8 flags;         /* H1_HEAD_* */
	__u8 pad[2];
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
		if (after == ':')
			scan->flags |= H1_HEAD_TRANSFER_ENCODING;
		else if (h1_blank(after))
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
	struct h1_head_scan *scan = arg;
	const __u8 *data = scan->data;
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

/* The parse of a Content-Length value: optional whitespace, digits, optional whitespace,
 * CR (bpf_loop context, on the stack). */
struct h1_length_parse {
	const __u8 *data;
	__u64 value;
	__u32 pos;
	__u32 len;
	__u32 digits;
	__u8 after_digits;
	__u8 ok;
	__u8 pad[2];
};

/* bpf_loop callback: one byte of the value. Returns 1 to stop. */
static long h1_length_step(__u32 index, void *arg)
{
	struct h1_length_parse *p = arg;
	if (p->pos >= p->len)
		return 1;
	__u8 c = p->data[p->pos & (H1_SCAN_BYTES - 1)];
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
	__u32 pad;
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
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
		return 0;
	const __u8 *data = s->event.data;
	struct h1_head_scan scan = { .data = data };
	scan.len = h->len < H1_SCAN_BYTES ? h->len : H1_SCAN_BYTES;
	bpf_loop(H1_SCAN_STEPS, h1_head_step, &scan, 0);
	h->line_end = scan.line_end;
	if (!scan.line_end) {
		/* A request line that goes on past the scanned bytes, or no HTTP/1 at all. */
		if (h->starts_like_request && !(scan.flags & H1_HEAD_UNCLEAR))
			h->stop = h->first_len > scan.len ? ZT_INJECT_H1_HEAD_TOO_LONG :
							    ZT_INJECT_H1_HEAD_SPLIT;
		return 0;
	}
	if (!h1_request_line(data, scan.line_end))
		return 0;
	if (scan.flags & H1_HEAD_UNCLEAR) {
		h->stop = ZT_INJECT_H1_UNCLEAR_HEAD;
		return 0;
	}
	if (!scan.head_end) {
		h->stop = h->first_len > scan.len ? ZT_INJECT_H1_HEAD_TOO_LONG :
						    ZT_INJECT_H1_HEAD_SPLIT;
		return 0;
	}
	h->head_bytes = scan.head_end;
	h->has_traceparent = !!(scan.flags & H1_HEAD_TRACEPARENT);
	__u64 body = 0;
	if (scan.length_lines > 1) {
		h->stop = ZT_INJECT_H1_BAD_LENGTH;
		return 0;
	}
	if (scan.length_lines && !(scan.flags & H1_HEAD_TRANSFER_ENCODING)) {
		struct h1_length_parse parse = { .data = data, .pos = scan.length_at,
						 .len = scan.head_end };
		bpf_loop(H1_LENGTH_STEPS, h1_length_step, &parse, 0);
		if (!parse.ok) {
			h->stop = ZT_INJECT_H1_BAD_LENGTH;
			return 0;
		}
		body = parse.value;
	}
	/* From here the head is a request's, whole and clear: a header may go in. */
	h->whole = 1;
	if (scan.flags & H1_HEAD_TRANSFER_ENCODING)
		h->stop = ZT_INJECT_H1_CHUNKED; /* chunked, or unknown: the body's end is not counted */
	else if ((scan.flags & H1_HEAD_UPGRADE) || __builtin_memcmp(data, "CONNECT ", 8) == 0)
		h->stop = ZT_INJECT_H1_UPGRADE; /* a tunnel or another protocol may follow */
	else
		h->stop = H1_FOLLOW;
	h->message_bytes = scan.head_end + body;
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
 * than the one the last write left means bytes went out that the hooks did not count. */
static __always_inline bool h1_boundaries_known(struct zt_conn_info *info)
{
	if (!inject_enabled || info->role != ZT_ROLE_CLIENT || info->h1_framing != ZT_H1_TRACKING)
		return false;
	__u32 seq = 0;
	if (!h1_write_seq(info, &seq) || seq != info->h1_next_seq) {
		h1_stop(info, ZT_INJECT_H1_UNSEEN_BYTES);
		return false;
	}
	return true;
}

/* The plan of a write: it is `left` bytes before its message's end, and its first
 * `head_bytes` are a head (a write that cuts it leaves it unknown). Committed at exit. */
static __always_inline void h1_plan(struct syscall_args *args, const struct zt_conn_info *info,
				    __u64 left, __u32 head_bytes)
{
	args->h1_planned = 1;
	args->h1_message_left = left;
	args->h1_head_bytes = head_bytes;
	args->h1_generation = info->generation;
}

/* At the exit of a planned write: the position moves on by what was really written. */
static __always_inline void h1_commit_write(const struct syscall_args *args, long ret,
					    struct zt_conn_info *info)
{
	if (!args->h1_planned || info->h1_framing != ZT_H1_TRACKING ||
	    info->generation != args->h1_generation)
		return;
	if (ret > 0) {
		if ((__u64)ret < args->h1_head_bytes) {
			h1_stop(info, ZT_INJECT_H1_PARTIAL_HEAD);
			return;
		}
		if ((__u64)ret > args->h1_message_left) {
			/* The next message starts inside this write: its head is not followed. */
			h1_stop(info, ZT_INJECT_H1_PIPELINED);
			return;
		}
		info->h1_message_left = args->h1_message_left - ret;
	}
	__u32 seq = 0;
	if (!h1_write_seq(info, &seq)) {
		h1_stop(info, ZT_INJECT_H1_UNSEEN_BYTES);
		return;
	}
	info->h1_next_seq = seq;
}
