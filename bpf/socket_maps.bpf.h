/* SPDX-License-Identifier: GPL-2.0 */
/* The maps every program that emits socket data declares: socket_trace.bpf.c owns them and
 * go_probes.bpf.c reuses their fds (userspace calls bpf_map__reuse_fd), so both objects must
 * declare them identically. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_trace.h"

/* Event stream to userspace. Size set by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Waking the reader for every event costs more than capturing it: wake it only once a batch
 * has accumulated (a quarter of the ring, at most WAKEUP_THRESHOLD_BYTES, so a small ring is
 * drained before it fills); the reader also polls on a short timeout, which bounds the
 * latency. */
#define WAKEUP_THRESHOLD_BYTES (256 * 1024)
static __always_inline __u64 ring_flags(void)
{
	__u64 threshold = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4;
	if (threshold > WAKEUP_THRESHOLD_BYTES)
		threshold = WAKEUP_THRESHOLD_BYTES;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= threshold ? BPF_RB_FORCE_WAKEUP :
									     BPF_RB_NO_WAKEUP;
}

/* key: (tgid, fd); value: what the fd is. Written on connect/accept and on the first I/O on
 * an fd, and rewritten when an I/O finds the fd refers to another file than cached (closed by
 * close_range or io_uring, then reused); deleted on close/dup2/dup3 and by userspace on
 * exec/exit. LRU bounds stale entries. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zt_conn_key);
	__type(value, struct zt_conn_info);
} conns SEC(".maps");
