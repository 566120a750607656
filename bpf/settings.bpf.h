/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Settings of the object that includes this, in one header, so that every header that reads
 * one includes it and stands alone; an object that does not set one keeps its default.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bpf/socket_trace.h"

/* Written by userspace before load (.rodata). */
const volatile __u32 agent_tgid = 0;       /* never traced */
const volatile __u8 trace_all_processes = 1; /* else only tgids in traced_pids */
const volatile __u8 filter_by_port = 0;    /* only connections with a port in traced_ports */
const volatile __u32 max_pieces_per_call = 4;
const volatile __u32 traceparent_scan_bytes = 2048; /* of a request head, for its traceparent */
const volatile __u8 inject_enabled = 0;             /* queue traceparent headers for sk_msg */

/* Written by userspace at run time (.bss, memory-mapped): switching the tracing mode or the
 * sampling ratio needs no reload. */
__u8 capture_paused = 0; /* mode "off": no data syscall is followed, no connection noted */
/* Head sampling of the traces started here (OpenTelemetry consistent probability sampling):
 * a new trace is sampled when its id's last 56 bits, its randomness, are at or above this
 * threshold. 0: every trace; 1 << 56: none. An incoming traceparent's flag always stands. */
__u64 sampling_threshold = 0;
/* Set while any process has its own threshold (trace_sampling.bpf.h): until then no new trace
 * pays for the lookup. */
__u8 process_thresholds_in_use = 0;
