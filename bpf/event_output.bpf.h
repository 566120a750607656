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

static __always_inline void count_drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&drop_counters, &reason);
	if (count)
		*count += 1; /* per-CPU value: no atomic needed */
}
