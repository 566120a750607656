/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP/2 traceparent injection, the syscall side (the sk_msg side is in inject.bpf.c).
 *
 * A client connection whose egress started with the HTTP/2 preface (RFC 9113 3.4) is followed
 * frame by frame: at the entry of each write the frame headers it contains are walked (the
 * frame that continues past the write's end is remembered), and every HEADERS frame that
 * opens a new client stream gets a traceparent field queued for sk_msg at the end of its
 * header block. The position state is committed at syscall exit, once the write is known to
 * have gone out whole. Anything that makes the framing or a header block unknown ends
 * injection on that connection for good: never injecting is always sound, a wrong offset
 * would corrupt the application's traffic.
 *
 * Never twice: an application that sends its own traceparent sends the name as a literal the
 * first time on the connection (raw or Huffman-coded); later it may reference its dynamic
 * table entry, which the kernel cannot resolve. So the first literal seen ends injection on
 * the connection.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/event_output.bpf.h"
#include "bpf/goroutine_maps.bpf.h"
#include "bpf/h2_preface.bpf.h"
#include "bpf/http1_context.bpf.h"
#include "bpf/http1_linking.bpf.h"
#include "bpf/settings.bpf.h"
#include "bpf/shared_maps.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"
#include "bpf/syscall_args.bpf.h"

#define H2_FRAME_HEADERS 0x1
#define H2_FLAG_END_HEADERS 0x4
#define H2_FLAG_PADDED 0x8
#define H2_FLAG_PRIORITY 0x20
/* SETTINGS_MAX_FRAME_SIZE's initial value (RFC 9113 6.5.2): a peer may allow more, but
 * staying within it is always valid. */
#define H2_DEFAULT_MAX_FRAME_BYTES 16384
#define H2_MAX_IOVECS 128
#define H2_MAX_FRAMES_PER_WRITE 1024
/* Header blocks are copied for the traceparent scan; a bigger one ends injection. Power of 2. */
#define H2_BLOCK_SCAN_BYTES 2048

/* "traceparent" as HPACK Huffman code (RFC 7541 Appendix B), padded with EOS bits. */
static const __u8 h2_traceparent_huffman[8] = { 0x4d, 0x83, 0x21, 0x6b, 0x1d, 0x85, 0xa9, 0x3f };

/* Hides a value's known range from the compiler, so that it cannot drop a mask the
 * verifier needs to see. */
#define h2_opaque(v) asm volatile("" : "+r"(v))

struct h2_iovec {
	__u64 base;
	__u64 len;
};

/* One copy out of the write's buffers (h2_copy). */
struct h2_copy {
	__u64 offset; /* call offset of the first byte */
	__u64 start;  /* call offset of iov[index]'s first byte */
	__u32 n;
	__u32 done;
	__u32 index;
	__u32 failed;
};

/* The walk of one write. In a per-CPU map: too big for the stack, and the verifier does not
 * track map values, so bpf_loop callbacks stay cheap to verify. */
struct h2_walk {
	struct h2_iovec iov[H2_MAX_IOVECS];
	__u32 iov_count;
	__u32 iov_index; /* copy cursor: the iovec holding call offset iov_start */
	__u64 iov_start;
	__u64 total; /* bytes of the write */
	__u64 pos;   /* call offset of the next frame header */
	__u64 pid_tgid;
	__u64 generation;
	__s32 fd;
	__u32 last_stream;
	__u64 g; /* the writing goroutine (Go processes, else 0) */
	__u8 state; /* enum zt_h2_state after this write */
	__u8 found; /* scan result */
	__u8 pad[6];
	__u64 scan_len;
	struct h2_copy copy;
	struct zt_h2_pending plan;
	struct zt_h2_stream_event event;
	__u8 buf[2 * H2_BLOCK_SCAN_BYTES];
};

/* bpf_loop's context must be on the stack: it points to the walk. */
struct h2_loop_ctx {
	struct h2_walk *w;
};

/* key: 0; value: the walk of the write this CPU is in. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h2_walk);
} h2_walks SEC(".maps");

/* bpf_loop callback: copies the next piece of w->copy (one iovec's part) into w->buf. */
static long h2_copy_piece(__u32 index, void *arg)
{
	struct h2_walk *w = ((struct h2_loop_ctx *)arg)->w;
	struct h2_copy *c = &w->copy;
	if (c->done >= c->n)
		return 1;
	__u32 slot = c->index;
	if (slot >= H2_MAX_IOVECS || slot >= w->iov_count) {
		c->failed = 1;
		return 1;
	}
	h2_opaque(slot);
	const struct h2_iovec *iov = &w->iov[slot & (H2_MAX_IOVECS - 1)];
	__u64 at = c->offset + c->done;
	__u64 end = c->start + iov->len;
	if (at >= end) {
		c->start = end;
		c->index++;
		return 0;
	}
	__u64 piece = end - at;
	if (piece > c->n - c->done)
		piece = c->n - c->done;
	if (piece >= H2_BLOCK_SCAN_BYTES) {
		c->failed = 1;
		return 1;
	}
	__u32 dst = c->done;
	__u32 size = piece;
	h2_opaque(dst);
	h2_opaque(size);
	dst &= H2_BLOCK_SCAN_BYTES - 1;
	size &= H2_BLOCK_SCAN_BYTES - 1;
	if (bpf_probe_read_user(&w->buf[dst], size, (void *)(iov->base + (at - c->start)))) {
		c->failed = 1;
		return 1;
	}
	c->done += size;
	return 0;
}

/* Copies n (< H2_BLOCK_SCAN_BYTES) bytes at call offset `offset` into w->buf, across iovecs
 * (a header block may be spread over many: grpc++ writes one iovec per header slice).
 * Offsets must not decrease between calls of one walk (the iovec cursor only moves on). */
static __always_inline bool h2_copy(struct h2_walk *w, __u64 offset, __u32 n)
{
	for (int i = 0; i < H2_MAX_IOVECS; i++) {
		__u32 index = w->iov_index;
		if (index >= H2_MAX_IOVECS || index >= w->iov_count)
			return false;
		h2_opaque(index);
		__u64 len = w->iov[index & (H2_MAX_IOVECS - 1)].len;
		if (offset < w->iov_start + len)
			break;
		w->iov_start += len;
		w->iov_index = index + 1;
	}
	struct h2_copy *c = &w->copy;
	c->offset = offset;
	c->n = n;
	c->done = 0;
	c->failed = 0;
	c->index = w->iov_index;
	c->start = w->iov_start;
	struct h2_loop_ctx ctx = { .w = w };
	bpf_loop(2 * H2_MAX_IOVECS, h2_copy_piece, &ctx, 0);
	return !c->failed && c->done >= n;
}

/* bpf_loop callback: does the traceparent name start at w->buf[index]? */
static long h2_scan_byte(__u32 index, void *arg)
{
	struct h2_walk *w = ((struct h2_loop_ctx *)arg)->w;
	__u32 i = index & (H2_BLOCK_SCAN_BYTES - 1);
	if (i >= w->scan_len)
		return 1;
	const __u8 *p = &w->buf[i];
	if (p[0] == 't' && i + 11 <= w->scan_len &&
	    __builtin_memcmp(p, "traceparent", 11) == 0) {
		w->found = 1;
		return 1;
	}
	if (p[0] == h2_traceparent_huffman[0] && i + 8 <= w->scan_len &&
	    __builtin_memcmp(p, h2_traceparent_huffman, 8) == 0) {
		w->found = 1;
		return 1;
	}
	return 0;
}

/* Does the header block [start, end) of the write carry the traceparent name as a literal?
 * A block that cannot be read whole stops injection (it might). */
static __always_inline bool h2_block_names_traceparent(struct h2_walk *w, __u64 start,
						       __u64 end, bool *unknown)
{
	*unknown = false;
	if (end == start)
		return false;
	if (end > w->total || end - start >= H2_BLOCK_SCAN_BYTES ||
	    !h2_copy(w, start, end - start)) {
		*unknown = true;
		return false;
	}
	w->scan_len = end - start;
	w->found = 0;
	struct h2_loop_ctx ctx = { .w = w };
	bpf_loop(H2_BLOCK_SCAN_BYTES, h2_scan_byte, &ctx, 0);
	return w->found;
}

/* The parent of a client stream grpc-go opened while serving a request, handed to the
 * goroutine writing the connection (goroutine_maps.bpf.h): taken, it is for this stream. */
static __always_inline bool h2_parent_by_stream(const struct h2_walk *w, __u32 stream_id,
						struct zt_trace_context *ctx)
{
	if (!w->g)
		return false;
	struct h2_stream_key key = { .tgid = w->pid_tgid >> 32, .stream_id = stream_id, .g = w->g };
	struct served_request *handed = bpf_map_lookup_elem(&h2_stream_parents, &key);
	if (!handed)
		return false;
	struct served_request parent = *handed;
	bpf_map_delete_elem(&h2_stream_parents, &key);
	if (!served_request_open(key.tgid, &parent))
		return false;
	__builtin_memcpy(ctx->trace_id, parent.trace_id, 16);
	__builtin_memcpy(ctx->parent_span_id, parent.span_id, 8);
	ctx->trace_flags = parent.trace_flags;
	random_bytes(ctx->span_id, 8);
	ctx->origin = ZT_CTX_CLIENT_GOROUTINE;
	return true;
}

/* A new client stream is opening: make its CLIENT span's context (the parent handed for the
 * stream, else the rules of an HTTP/1 request), tell userspace, and plan the insertion. */
static __always_inline void h2_plan_insertion(struct h2_walk *w, __u32 stream_id,
					      const __u8 *frame_header, __u64 frame_offset,
					      __u64 insert_offset)
{
	__u32 n = w->plan.count;
	if (n >= ZT_H2_MAX_INSERTIONS) {
		count_inject(ZT_INJECT_H2_TOO_MANY);
		return;
	}
	struct zt_h2_stream_event *ev = &w->event;
	ev->type = ZT_EVENT_H2_STREAM_CONTEXT;
	ev->pid = w->pid_tgid >> 32;
	ev->fd = w->fd;
	ev->stream_id = stream_id;
	ev->generation = w->generation;
	if (!h2_parent_by_stream(w, stream_id, &ev->trace))
		on_client_request(&ev->trace, w->pid_tgid, NULL, 0);

	struct zt_h2_insertion *ins = &w->plan.at[n & (ZT_H2_MAX_INSERTIONS - 1)];
	__builtin_memcpy(ins->trace_id, ev->trace.trace_id, 16);
	__builtin_memcpy(ins->span_id, ev->trace.span_id, 8);
	ins->trace_flags = ev->trace.trace_flags;
	__builtin_memcpy(ins->frame_header, frame_header, ZT_H2_FRAME_HEADER_BYTES);
	ins->frame_offset = frame_offset;
	ins->insert_offset = insert_offset;
	w->plan.count = n + 1;
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), ring_flags()))
		count_drop(ZT_DROP_CONTROL_RINGBUF_FULL);
}

/* A HEADERS frame at w->pos (header bytes in w->buf[0..9)). Returns false when injection on
 * the connection ends here. */
static __always_inline bool h2_on_headers(struct h2_walk *w, const __u8 *frame_header,
					  __u32 length, __u8 flags, __u32 stream_id)
{
	if (!(flags & H2_FLAG_END_HEADERS)) {
		/* The block goes on in CONTINUATION frames: not scanned, so never sure again. */
		count_inject(ZT_INJECT_H2_NO_END_HEADERS);
		w->state = ZT_H2_STOPPED;
		return false;
	}
	__u64 frame_offset = w->pos;
	__u64 start = frame_offset + ZT_H2_FRAME_HEADER_BYTES;
	__u64 end = start + length;
	if (flags & H2_FLAG_PADDED) {
		if (!h2_copy(w, start, 1)) {
			count_inject(ZT_INJECT_H2_LOST_FRAMING);
			w->state = ZT_H2_STOPPED;
			return false;
		}
		__u8 pad_length = w->buf[0];
		start += 1;
		end -= pad_length;
	}
	if (flags & H2_FLAG_PRIORITY)
		start += 5;
	if (end < start) {
		count_inject(ZT_INJECT_H2_LOST_FRAMING);
		w->state = ZT_H2_STOPPED;
		return false;
	}
	bool unknown = false;
	if (h2_block_names_traceparent(w, start, end, &unknown)) {
		count_inject(ZT_INJECT_HAD_HEADER);
		w->state = ZT_H2_OWN_CONTEXT;
		return false;
	}
	if (unknown) {
		count_inject(end > w->total ? ZT_INJECT_H2_LOST_FRAMING : ZT_INJECT_H2_TOO_BIG);
		w->state = ZT_H2_STOPPED;
		return false;
	}
	/* Client streams have odd ids, each new one above all before (RFC 9113 5.1.1); HEADERS
	 * on a known stream are trailers. */
	if (!(stream_id & 1) || stream_id <= w->last_stream)
		return true;
	w->last_stream = stream_id;
	if (length + ZT_H2_TRACEPARENT_FIELD_BYTES > H2_DEFAULT_MAX_FRAME_BYTES) {
		count_inject(ZT_INJECT_H2_TOO_BIG);
		return true;
	}
	h2_plan_insertion(w, stream_id, frame_header, frame_offset, end);
	return true;
}

/* bpf_loop callback: one frame of the write. */
static long h2_walk_frame(__u32 index, void *arg)
{
	struct h2_walk *w = ((struct h2_loop_ctx *)arg)->w;
	if (w->pos >= w->total)
		return 1;
	if (w->pos + ZT_H2_FRAME_HEADER_BYTES > w->total ||
	    !h2_copy(w, w->pos, ZT_H2_FRAME_HEADER_BYTES)) {
		/* The next write would start inside a frame header: not followed. */
		count_inject(ZT_INJECT_H2_LOST_FRAMING);
		w->state = ZT_H2_STOPPED;
		return 1;
	}
	__u8 header[ZT_H2_FRAME_HEADER_BYTES];
	__builtin_memcpy(header, w->buf, ZT_H2_FRAME_HEADER_BYTES);
	__u32 length = (__u32)header[0] << 16 | (__u32)header[1] << 8 | header[2];
	__u8 type = header[3];
	__u8 flags = header[4];
	__u32 stream_id = ((__u32)header[5] << 24 | (__u32)header[6] << 16 |
			   (__u32)header[7] << 8 | header[8]) & 0x7fffffff;
	if (type == H2_FRAME_HEADERS && !h2_on_headers(w, header, length, flags, stream_id))
		return 1;
	w->pos += ZT_H2_FRAME_HEADER_BYTES + length;
	return 0;
}

/* Loads the write's buffers into the walk. False when they cannot all be seen. */
static __always_inline bool h2_load_buffers(struct h2_walk *w, const struct syscall_args *args)
{
	if (!args->iovcnt) {
		w->iov[0].base = args->buf;
		w->iov[0].len = args->len;
		w->iov_count = 1;
		w->total = args->len;
		return true;
	}
	if (args->iovcnt > H2_MAX_IOVECS)
		return false;
	__u32 count = args->iovcnt;
	__u32 bytes = count * sizeof(struct h2_iovec);
	if (bytes > sizeof(w->iov) || bpf_probe_read_user(w->iov, bytes, (void *)args->buf))
		return false;
	w->iov_count = count;
	w->total = 0;
	for (int i = 0; i < H2_MAX_IOVECS; i++) {
		if (i >= count)
			break;
		w->total += w->iov[i].len;
	}
	return true;
}

/* Does the write look like HTTP/2 frames (a connection joined mid-way)? Only for counting. */
static __always_inline bool h2_looks_like_frame(const struct syscall_args *args)
{
	__u64 first = first_byte_address(args);
	__u8 header[ZT_H2_FRAME_HEADER_BYTES] = {};
	if (!first || bpf_probe_read_user(header, sizeof(header), (void *)first))
		return false;
	__u32 length = (__u32)header[0] << 16 | (__u32)header[1] << 8 | header[2];
	return length <= H2_DEFAULT_MAX_FRAME_BYTES && header[3] <= 9 && !(header[5] & 0x80);
}

/* The first egress bytes decide whether the connection is followed: only a client connection
 * whose preface the kernel saw. */
static __always_inline __u8 h2_first_write_state(const struct syscall_args *args,
						 struct zt_conn_info *info)
{
	if (info->bytes_sent == 0 && info->role == ZT_ROLE_CLIENT &&
	    /* an iovec's length is not at hand: a short first one fails the comparison */
	    h2_preface_at(first_byte_address(args),
			  args->iovcnt ? H2_PREFACE_LINE_BYTES : (__s64)args->len))
		return ZT_H2_TRACKING;
	if (h2_looks_like_frame(args))
		count_inject(ZT_INJECT_H2_JOINED_MIDWAY);
	return ZT_H2_NOT_H2;
}

/*
 * At the entry of a write on a client connection: queues the traceparent insertions of the
 * HEADERS frames it contains. Returns true when the connection is HTTP/2 (also when it is no
 * longer injected): its bytes are frames, never an HTTP/1 request.
 */
static __noinline bool h2_classify_write(struct syscall_args *args, __u64 pid_tgid,
					  struct zt_conn_info *info)
{
	/* A server's h2_state is its ingress's (note_h2_server_read): a gRPC server writes its
	 * SETTINGS before it reads the client's preface. */
	if (!inject_enabled || args->syscall == ZT_SYS_SENDFILE || info->role == ZT_ROLE_SERVER)
		return false;
	if (info->h2_state == ZT_H2_UNDECIDED) {
		info->h2_state = h2_first_write_state(args, info);
		info->h2_frame_left = H2_PREFACE_BYTES; /* the preface is no frame: skip it */
		info->h2_last_stream = 0;
	}
	if (info->h2_state == ZT_H2_NOT_H2)
		return false;
	if (info->h2_state != ZT_H2_TRACKING)
		return true;

	__u32 zero = 0;
	struct h2_walk *w = bpf_map_lookup_elem(&h2_walks, &zero);
	if (!w)
		return true;
	w->iov_index = 0;
	w->iov_start = 0;
	w->pid_tgid = pid_tgid;
	w->generation = info->generation;
	w->fd = args->fd;
	w->last_stream = info->h2_last_stream;
	w->g = current_goroutine(pid_tgid >> 32);
	w->state = ZT_H2_TRACKING;
	w->plan.count = 0;
	if (!h2_load_buffers(w, args)) {
		count_inject(ZT_INJECT_H2_LOST_FRAMING);
		info->h2_state = ZT_H2_STOPPED;
		return true;
	}
	w->pos = info->h2_frame_left;
	struct h2_loop_ctx ctx = { .w = w };
	bpf_loop(H2_MAX_FRAMES_PER_WRITE, h2_walk_frame, &ctx, 0);
	if (w->state == ZT_H2_TRACKING && w->pos < w->total) {
		count_inject(ZT_INJECT_H2_LOST_FRAMING); /* more frames than one walk takes */
		w->state = ZT_H2_STOPPED;
	}
	/* Committed at exit, when the write is known to have gone out whole. */
	args->h2_state_after = w->state;
	args->h2_frame_left_after = w->state == ZT_H2_TRACKING ? w->pos - w->total : 0;
	args->h2_last_stream_after = w->last_stream;
	args->h2_write_bytes = w->total;
	args->h2_walked = 1;
	if (w->plan.count == 0)
		return true;
	struct zt_inject_key key = {};
	inject_key_of(&info->tuple, &key);
	if (bpf_map_update_elem(&pending_h2_injections, &key, &w->plan, BPF_ANY) == 0)
		args->injection_pending |= INJECTION_PENDING_H2;
	return true;
}

/* At the exit of a write: sk_msg consumes the queued insertions; a leftover (the send never
 * reached sk_msg) must not reach a later message. */
static __always_inline void h2_forget_unconsumed(const struct syscall_args *args,
						 const struct zt_conn_info *info)
{
	if (!(args->injection_pending & INJECTION_PENDING_H2))
		return;
	struct zt_inject_key key = {};
	inject_key_of(&info->tuple, &key);
	if (bpf_map_delete_elem(&pending_h2_injections, &key) == 0)
		count_inject(ZT_INJECT_UNCONSUMED);
}

/* At the exit of a walked write: the frame position moves on by what was written. A partial
 * write leaves it inside the walk's plan, which is not followed further. */
static __always_inline void h2_commit_write(const struct syscall_args *args, long ret,
					    struct zt_conn_info *info)
{
	if (!args->h2_walked || info->h2_state != ZT_H2_TRACKING || ret < 0)
		return;
	if ((__u64)ret == args->h2_write_bytes) {
		info->h2_state = args->h2_state_after;
		info->h2_frame_left = args->h2_frame_left_after;
		info->h2_last_stream = args->h2_last_stream_after;
	} else if (ret > 0) {
		count_inject(ZT_INJECT_H2_LOST_FRAMING);
		info->h2_state = ZT_H2_STOPPED;
	}
}
