/* SPDX-License-Identifier: GPL-2.0 */
/* Events into the ring buffer, and the count of every one that could not be sent. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_maps.bpf.h"
#include "bpf/socket_trace.h"

/* key: enum zt_drop_reason; value: count on this CPU. Written here, read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_DROP_REASON_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps");

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

static __always_inline void count_drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&drop_counters, &reason);
	if (count)
		*count += 1; /* per-CPU value: no atomic needed */
}
