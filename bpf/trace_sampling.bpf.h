/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The head sampling decision of a trace started here (OpenTelemetry consistent probability
 * sampling): the settings' threshold, or the process's own while an operator's on-demand rule
 * or adaptive sampling gives it one.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/settings.bpf.h"
#include "bpf/socket_trace.h"

#define ZT_RANDOMNESS_BITS 56

/* tgid -> rejection threshold of the traces that process starts. Written and deleted by
 * userspace only (sampling rules at run time); shared by the socket tracer and the Go probes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} process_sampling_thresholds SEC(".maps");

static __always_inline __u64 new_trace_threshold(void)
{
	if (!process_thresholds_in_use)
		return sampling_threshold;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *own = bpf_map_lookup_elem(&process_sampling_thresholds, &tgid);
	return own ? *own : sampling_threshold;
}

/* The sampled flag of a new trace whose id is `trace_id`, made by the current task. */
static __always_inline __u8 new_trace_flags(const __u8 *trace_id)
{
	__u64 randomness = 0;
	for (int i = 16 - ZT_RANDOMNESS_BITS / 8; i < 16; i++)
		randomness = randomness << 8 | trace_id[i];
	return randomness >= new_trace_threshold() ? ZT_TRACE_FLAG_SAMPLED : 0;
}
