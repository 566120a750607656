/* SPDX-License-Identifier: GPL-2.0 */
/* A call's bytes into the ring buffer as data events: pieces of ZT_PIECE_BYTES, assembled in
 * a per-CPU scratch (too big for the stack). */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/event_output.bpf.h"
#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"

/* Walk state of one call's bytes across its buffer or iovecs. */
struct io_walk {
	__u64 iov_array;  /* 0 for a plain buffer */
	__u64 iov_count;
	__u64 iov_index;
	__u64 cursor;     /* user address of the next byte */
	__u64 iov_left;   /* bytes left in the current buffer */
	__u64 to_capture; /* bytes still to copy within the capture budget */
	__u64 call_offset; /* position of the next piece within the call */
	__u64 filled;      /* bytes of the piece being assembled in event.data */
	__u64 last_sent;
};

/* A data event is assembled here (too big for the stack), then copied into the ring with
 * its exact size. The walk state lives here too, not on the stack: the verifier does not
 * track values in map memory, so loop iterations do not multiply its states. */
struct data_scratch {
	struct zt_data_event event;
	/* Room past event.data: a copy at a masked offset into the piece, and header parsing
	 * at a masked position, may reach this far in the verifier's eyes. */
	__u8 tail[ZT_PIECE_BYTES];
	struct io_walk walk;
	/* Bytes of the call's plain buffer, from its start, that the request head scans already
	 * read into event.data (http1_linking.bpf.h): the walk does not read them again. Set
	 * for the call being emitted only (0 otherwise). */
	__u32 head_in_data;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");

static __always_inline void submit_piece(struct data_scratch *s, __u32 length, __u32 call_offset,
					 __u8 flags)
{
	struct zt_data_event *e = &s->event;
	length &= (2 * ZT_PIECE_BYTES - 1);
	if (length > ZT_PIECE_BYTES)
		length = ZT_PIECE_BYTES;
	e->captured_bytes = length;
	e->call_offset = call_offset;
	e->flags = flags;
	if (bpf_ringbuf_output(&events, e, offsetof(struct zt_data_event, data) + length,
			       ring_flags()))
		count_drop(ZT_DROP_DATA_RINGBUF_FULL);
}

/*
 * Copies the call's bytes, up to the capture budget, into the ring as pieces of ZT_PIECE_BYTES
 * (the last one shorter), small iovecs packed together: grpc++ writes one iovec per header
 * field. One step either moves to the next iovec or copies what fits of the current one. The
 * last piece carries ZT_DATA_LAST_PIECE; if the walk stops early (unreadable memory, too many
 * iovecs) that piece still tells userspace the call ended, and the rest is a gap.
 */
static __always_inline long walk_step(struct data_scratch *s, struct io_walk *w)
{
	if (w->to_capture == 0)
		return 1;
	if (w->iov_left == 0) {
		if (!w->iov_array || w->iov_index >= w->iov_count || w->iov_index >= ZT_MAX_IOVECS)
			return 1;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(void *)(w->iov_array + w->iov_index * sizeof(struct iovec))))
			return 1;
		w->iov_index++;
		w->cursor = (__u64)iov.iov_base;
		w->iov_left = iov.iov_len < w->to_capture ? iov.iov_len : w->to_capture;
		return 0;
	}
	__u64 room = ZT_PIECE_BYTES - w->filled;
	__u32 n = w->iov_left < room ? w->iov_left : room;
	__u32 at = w->filled & (ZT_PIECE_BYTES - 1);
	n &= 2 * ZT_PIECE_BYTES - 1;
	if (n > ZT_PIECE_BYTES || bpf_probe_read_user(s->event.data + at, n, (void *)w->cursor))
		return 1; /* unreadable user memory: the rest becomes a gap */
	w->filled += n;
	w->cursor += n;
	w->iov_left -= n;
	w->to_capture -= n;
	if (w->to_capture == 0) {
		submit_piece(s, w->filled, w->call_offset, ZT_DATA_LAST_PIECE);
		w->last_sent = 1;
		return 1;
	}
	if (w->filled == ZT_PIECE_BYTES) {
		submit_piece(s, ZT_PIECE_BYTES, w->call_offset, 0);
		s->event.trace.origin = ZT_CTX_NONE; /* the context rides on the first piece only */
		w->call_offset += ZT_PIECE_BYTES;
		w->filled = 0;
	}
	return 0;
}

/* Starts a plain buffer's walk past the `ready` bytes of its start already in event.data:
 * one read of user memory fewer for a request head (the head scan read it). */
static __always_inline void walk_skip_ready(struct io_walk *w, __u32 ready)
{
	if (!ready || ready > w->to_capture || ready > ZT_PIECE_BYTES)
		return;
	w->filled = ready;
	w->cursor += ready;
	w->iov_left -= ready;
	w->to_capture -= ready; /* a piece filled up is sent by the next walk step */
}

/* bpf_loop callback: one walk step on this CPU's scratch. */
static long walk_step_callback(__u32 index, void *unused)
{
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	return s ? walk_step(s, &s->walk) : 1;
}

/* Steps of a walk: each completes an iovec or a piece. Without bpf_loop (before 5.17) the
 * verifier takes a bounded loop of far fewer. */
#define WALK_STEPS (2 * ZT_MAX_IOVECS + ZT_MAX_PIECES_PER_CALL)
#define WALK_STEPS_WITHOUT_LOOP 48

/* A global (not inlined) function: the verifier checks it once, on its own, instead of once
 * for every distinct state the request classification before it can leave. */
__noinline int emit_call(struct data_scratch *s)
{
	if (!s)
		return 0;
	struct io_walk *w = &s->walk;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop)) {
		bpf_loop(WALK_STEPS, walk_step_callback, NULL, 0);
	} else {
		for (int i = 0; i < WALK_STEPS_WITHOUT_LOOP; i++) {
			if (walk_step(s, w))
				break;
		}
	}
	if (!w->last_sent)
		submit_piece(s, w->filled, w->call_offset, ZT_DATA_LAST_PIECE);
	return 0;
}
